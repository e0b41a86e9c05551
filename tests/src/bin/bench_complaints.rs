//! Benchmark: complaint intakes per second through gRPC on two complaint
//! instances sharing one database (each intake numbered in its month,
//! gap-free, under the month's serial row lock), beside a plain single-row
//! INSERT of a row of similar width into the same PostgreSQL in the same
//! run; p50/p99 latency of each, the ratio of the two rates, the process's
//! peak memory, and afterwards a check that the numbers are 1..count with no
//! gap. Run: `cargo run --release -p patron-suite-tests --bin bench-complaints -- [count]
//! [concurrency] [intake group] [customers]`; an intake group of 1 numbers each intake in
//! a transaction of its own, as before intakes were grouped.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use patron_complaint::{self as complaint, ComplaintConfig};
use patron_customer_profile::{self as profile, ProfileConfig};
use patron_kit::auth::Authenticator;
use patron_kit::clock::SystemClock;
use patron_kit::runtime::CommonConfig;
use patron_kit::testing::{self, TestDatabase};
use patron_proto::complaint::v1 as cpb;
use patron_proto::complaint::v1::complaint_service_client::ComplaintServiceClient;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Customers the intakes rotate over, unless the fourth argument says: a
/// company's key accounts number in the hundreds or thousands, and two
/// intakes of one customer in the same instant are rare (they queue on the
/// customer, for the repeat check).
const CUSTOMERS: usize = 1_000;
/// Each complaint instance's pool: the production default
/// (`PATRON_COMPLAINT_DATABASE_POOL_SIZE`).
const COMPLAINT_POOL: u32 = 10;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints one line; the rate.
fn report(what: &str, mut latencies: Vec<Duration>, elapsed: Duration) -> f64 {
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{what:<36} {:>6} ops  {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        latencies.len(),
        rate,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
    rate
}

fn intake(customer: &str, i: usize) -> cpb::Complaint {
    cpb::Complaint {
        customer: customer.to_owned(),
        channel: cpb::ComplaintChannel::Hotline as i32,
        demand: cpb::CustomerDemand::Exchange as i32,
        order_number: format!("SO-2026-{i:06}"),
        item: "coated steel 0.5 mm".into(),
        quantity: Some(cpb::Quantity {
            amount_milli: 2_500,
            unit: "t".into(),
            not_yet_determined: false,
        }),
        reason: "colour differs from the sample".into(),
        description: "the second batch is off-colour".into(),
        attachments: vec![cpb::Attachment {
            file_name: "batch2.jpg".into(),
            media_type: "image/jpeg".into(),
            size_bytes: 120_345,
            uri: "https://files.example.com/batch2.jpg".into(),
        }],
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let intake_group: usize = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(complaint::INTAKE_GROUP);
    let customer_count: usize = args
        .get(4)
        .and_then(|a| a.parse().ok())
        .unwrap_or(CUSTOMERS)
        .max(1);

    let db = TestDatabase::create(&[profile::SCHEMA, complaint::SCHEMA]).await;
    let auth = testing::auth_config();
    let cache = testing::cache_config();
    let shutdown = CancellationToken::new();
    // The production defaults where the tests' shorter ones would add work:
    // the relay's idle poll and the metrics' readings.
    let common = |listen, db| CommonConfig {
        health_interval: Duration::from_secs(2),
        relay_poll: Duration::from_millis(100),
        metrics: patron_kit::metrics::MetricsConfig::off(Duration::from_secs(15)),
        ..testing::common_config(listen, db, &cache, &auth, Arc::new(SystemClock))
    };

    // customer-profile, for the customers.
    let profile_listener = TcpListener::bind("127.0.0.1:0").await?;
    let profile_addr = profile_listener.local_addr()?;
    let profile_url = format!("http://{profile_addr}");
    tokio::spawn(profile::serve(
        ProfileConfig {
            common: common(profile_addr, db.service_config(profile::SCHEMA)),
            keys: testing::key_ring(),
            archive_prefix: "B".into(),
            review_period: Duration::from_secs(365 * 24 * 3600),
            manager_limit: 3,
        },
        profile_listener,
        shutdown.clone(),
    ));

    // Two complaint instances on one database, as two replicas run.
    let mut complaint_urls = Vec::new();
    for name in ["bench-1", "bench-2"] {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let config = ComplaintConfig {
            common: common(
                addr,
                patron_kit::db::DbConfig {
                    max_connections: COMPLAINT_POOL,
                    ..db.service_config(complaint::SCHEMA)
                },
            ),
            preset: Some("health-chain".into()),
            consumer_name: name.into(),
            deadline_poll: Duration::from_secs(1),
            profile: complaint::customers::ProfileConfig {
                url: profile_url.clone(),
            },
            intake_group,
        };
        tokio::spawn(complaint::serve(config, listener, shutdown.clone()));
        complaint_urls.push(format!("http://{addr}"));
    }
    patron_suite_tests::wait_until_serving(&profile_url).await;
    for url in &complaint_urls {
        patron_suite_tests::wait_until_serving(url).await;
    }

    let token = Authenticator::new(&auth).mint(
        "bench",
        &["admin".into()],
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;

    // The customers, and complaint's projection knowing every one of them
    // (so no intake asks profile).
    let profile_channel = Channel::from_shared(profile_url.clone())?.connect().await?;
    let mut customers = Vec::new();
    for i in 0..customer_count {
        let mut req = tonic::Request::new(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                kind: pb::CustomerKind::Person as i32,
                display_name: format!("Bench {i}"),
                ..Default::default()
            }),
            request_id: String::new(),
        });
        req.metadata_mut().insert("authorization", bearer.clone());
        let created = CustomerServiceClient::new(profile_channel.clone())
            .create_customer(req)
            .await?
            .into_inner();
        customers.push(created.name);
    }
    let customers = Arc::new(customers);
    let mut admin = db.admin_connection().await;
    let caught_up = Instant::now();
    loop {
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM profile.outbox o
              WHERE o.topic = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM complaint.processed_events p
                                 WHERE p.consumer_group = 'complaint' AND p.event_id = o.event_id)",
        )
        .bind(vec!["profile.customers", "profile.directory"])
        .fetch_one(&mut admin)
        .await?;
        if behind == 0 {
            break;
        }
        anyhow::ensure!(
            caught_up.elapsed() < Duration::from_secs(60),
            "complaint is still {behind} events behind profile after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Intakes through gRPC, alternating between the two instances.
    let mut channels = Vec::new();
    for url in &complaint_urls {
        channels.push(Channel::from_shared(url.clone())?.connect().await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let channels = channels.clone();
        let customers = customers.clone();
        let bearer = bearer.clone();
        tasks.push(tokio::spawn(async move {
            let mut clients: Vec<_> = channels
                .into_iter()
                .map(ComplaintServiceClient::new)
                .collect();
            let mut latencies = Vec::new();
            let mut refused = 0_usize;
            for i in (worker..count).step_by(concurrency) {
                let mut req = tonic::Request::new(cpb::CreateComplaintRequest {
                    complaint: Some(intake(&customers[i % customers.len()], i)),
                    request_id: uuid::Uuid::now_v7().to_string(),
                });
                req.metadata_mut().insert("authorization", bearer.clone());
                let client = &mut clients[i % 2];
                let t0 = Instant::now();
                match client.create_complaint(req).await {
                    Ok(_) => latencies.push(t0.elapsed()),
                    Err(status) => {
                        refused += 1;
                        eprintln!("intake {i} refused: {status}");
                    }
                }
            }
            (latencies, refused)
        }));
    }
    let mut intake_latencies = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (latencies, r) = t.await?;
        intake_latencies.extend(latencies);
        refused += r;
    }
    let intake_elapsed = started.elapsed();

    // The bare datastore: a row of similar width in a schema of its own in
    // the same database, one single-row INSERT per statement (autocommit),
    // from `concurrency` connections.
    sqlx::query("CREATE SCHEMA bench")
        .execute(&mut admin)
        .await?;
    sqlx::query(
        "CREATE TABLE bench.plain_complaints (
             id uuid PRIMARY KEY, customer_id uuid NOT NULL, channel text NOT NULL,
             order_number text NOT NULL, item text NOT NULL, quantity_milli bigint,
             quantity_unit text NOT NULL, demand text NOT NULL, reason text NOT NULL,
             description text NOT NULL, attachments jsonb NOT NULL, org_unit_path text[] NOT NULL,
             state text NOT NULL, received_at timestamptz NOT NULL)",
    )
    .execute(&mut admin)
    .await?;
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .connect_with(PgConnectOptions::from_str(&testing::admin_url())?.database(&db.name))
        .await?;
    let attachments = serde_json::json!([{"fileName": "batch2.jpg", "mediaType": "image/jpeg",
        "sizeBytes": "120345", "uri": "https://files.example.com/batch2.jpg"}]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let pool = pool.clone();
        let attachments = attachments.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (worker..count).step_by(concurrency) {
                let t0 = Instant::now();
                sqlx::query(
                    "INSERT INTO bench.plain_complaints VALUES
                         ($1, $2, 'hotline', $3, 'coated steel 0.5 mm', 2500, 't', 'exchange',
                          'colour differs from the sample', 'the second batch is off-colour', $4,
                          '{company}', 'received', now())",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(uuid::Uuid::now_v7())
                .bind(format!("SO-2026-{i:06}"))
                .bind(&attachments)
                .execute(&pool)
                .await
                .expect("inserted");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut plain_latencies = Vec::new();
    for t in tasks {
        plain_latencies.extend(t.await?);
    }
    let plain_elapsed = started.elapsed();

    // The ceiling of any numbering that takes one serial per transaction and
    // holds it until commit: the same hot row bumped by every statement
    // (autocommit), so the commits (and their WAL flushes) queue one by one.
    sqlx::query("CREATE TABLE bench.serials (month text PRIMARY KEY, last_serial bigint NOT NULL)")
        .execute(&mut admin)
        .await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in (worker..count).step_by(concurrency) {
                let t0 = Instant::now();
                let _: i64 = sqlx::query_scalar(
                    "INSERT INTO bench.serials VALUES ('2611', 1)
                     ON CONFLICT (month) DO UPDATE SET last_serial = serials.last_serial + 1
                     RETURNING last_serial",
                )
                .fetch_one(&pool)
                .await
                .expect("bumped");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut serial_latencies = Vec::new();
    for t in tasks {
        serial_latencies.extend(t.await?);
    }
    let serial_elapsed = started.elapsed();
    pool.close().await;

    println!(
        "{count} operations, {concurrency} concurrent clients, one machine ({} cores); \
         2 complaint instances (pool {COMPLAINT_POOL} each, intake groups of at most \
         {intake_group}), {customer_count} customers",
        std::thread::available_parallelism()?.get()
    );
    let intake_rate = report(
        "CreateComplaint (gRPC, 2 instances)",
        intake_latencies,
        intake_elapsed,
    );
    let plain_rate = report("plain INSERT (sqlx)", plain_latencies, plain_elapsed);
    report(
        "one hot serial row, bumped (sqlx)",
        serial_latencies,
        serial_elapsed,
    );
    println!(
        "intake rate / INSERT rate: {:.2} (goal: at least 0.50)",
        intake_rate / plain_rate
    );
    if refused > 0 {
        println!("{refused} intakes refused");
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!(
            "peak memory of this process (services + clients): {}",
            line.trim_start_matches("VmHWM:").trim()
        );
    }

    // The numbers: per month (the part before the dash), 1..n without a gap.
    let numbers: Vec<String> = sqlx::query_scalar("SELECT number FROM complaint.complaints")
        .fetch_all(&mut admin)
        .await?;
    let mut months: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for number in &numbers {
        let (month, serial) = number
            .split_once('-')
            .ok_or_else(|| anyhow::anyhow!("a number without a dash: {number}"))?;
        months
            .entry(month.to_owned())
            .or_default()
            .push(serial.parse()?);
    }
    let mut all_gap_free = numbers.len() == count - refused;
    for (month, mut serials) in months {
        serials.sort_unstable();
        let gap_free = serials.iter().zip(1_i64..).all(|(s, n)| *s == n);
        all_gap_free &= gap_free;
        println!(
            "month {month}: {} complaints, serials {}..{}, {}",
            serials.len(),
            serials.first().copied().unwrap_or(0),
            serials.last().copied().unwrap_or(0),
            if gap_free {
                "gap-free and unique"
            } else {
                "NOT gap-free"
            }
        );
    }
    println!(
        "numbering check: {} ({} complaints stored for {} intakes accepted)",
        if all_gap_free { "passed" } else { "FAILED" },
        numbers.len(),
        count - refused
    );
    shutdown.cancel();
    anyhow::ensure!(all_gap_free, "the numbers are not 1..n without a gap");
    Ok(())
}
