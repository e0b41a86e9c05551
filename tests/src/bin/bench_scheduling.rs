//! Benchmark: the generation job planning a month of contact tasks for every
//! customer under the health-chain preset (claims, the plan of each
//! customer's tier and contacts, leaves, idempotent inserts), beside one
//! set-based INSERT of the same number of rows into a copy of the tasks
//! table in the same run; then the next-good-time query through gRPC under
//! load, beside a bare tonic health Check on the same server.
//! Run: `cargo run --release -p patron-suite-tests --bin bench-scheduling -- [customers] [replicas] [queries] [batch]`
//! (batch: customers per generation transaction, the job's own by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use patron_kit::auth::Authenticator;
use patron_kit::clock::{SharedClock, SystemClock};
use patron_kit::directory;
use patron_kit::runtime::CommonConfig;
use patron_kit::testing::{self, TestDatabase};
use patron_kit::{db, events};
use patron_proto::scheduling::v1 as pb;
use patron_proto::scheduling::v1::scheduling_service_client::SchedulingServiceClient;
use patron_scheduling::{self as scheduling, SchedulingConfig, generation_job, policy_source};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{what:<40} {:>7} calls  {:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let customers: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let replicas: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let queries: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let batch: i64 = args
        .get(4)
        .and_then(|a| a.parse().ok())
        .unwrap_or(generation_job::BATCH);

    let test_db = TestDatabase::create(&[scheduling::SCHEMA]).await;
    let db_config = db::DbConfig {
        max_connections: 8,
        ..test_db.service_config(scheduling::SCHEMA)
    };
    let pool = db::connect(&db_config)?;
    scheduling::migrate(&db_config).await?;
    events::install(&pool).await?;
    directory::install(&pool).await?;
    let preset = patron_presets::read(std::path::Path::new("health-chain"))?;
    let policies = policy_source::policies(pool.clone(), Some(&preset))
        .map_err(|e| anyhow::anyhow!("health-chain's [scheduling]: {e}"))?;
    let clock: SharedClock = Arc::new(SystemClock);

    // Customers as scheduling knows them from profile's and tiering's
    // events: a manager (500 of them), a unit, a tier, a planning row due
    // now, first seen over a year ago (settled, so cadence rules only).
    let seeding = Instant::now();
    for statement in [
        "INSERT INTO customer_facts (customer_id, account_manager, org_unit, org_unit_path, updated_at)
         SELECT md5(g::text)::uuid, 'manager-' || (g % 500), 'unit-' || (g % 20),
                ARRAY['company', 'unit-' || (g % 20)], now()
           FROM generate_series(1, $1) g",
        "INSERT INTO customer_tiers (customer_id, tier, changed_at)
         SELECT md5(g::text)::uuid, (ARRAY['A','B','C','D','E'])[1 + g % 5], now()
           FROM generate_series(1, $1) g",
        "INSERT INTO planning (customer_id, planned_until, planned_at, first_seen)
         SELECT md5(g::text)::uuid, DATE '1970-01-01', now(), current_date - 400
           FROM generate_series(1, $1) g",
    ] {
        sqlx::query(statement).bind(customers).execute(&pool).await?;
    }
    sqlx::query("ANALYZE").execute(&pool).await?;
    println!(
        "{customers} customers seeded in {:.1} s; {replicas} generating replicas, {batch} a batch, {} cores",
        seeding.elapsed().as_secs_f64(),
        std::thread::available_parallelism()?.get()
    );

    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..replicas {
        let (pool, policies, clock) = (pool.clone(), policies.clone(), clock.clone());
        workers.push(tokio::spawn(async move {
            generation_job::run_once(&pool, &policies, &clock, ZONE, batch).await
        }));
    }
    let mut planned = 0;
    for worker in workers {
        planned += worker.await??.planned;
    }
    let job_time = start.elapsed();
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&pool)
        .await?;
    println!(
        "generation job      {planned:>9} customers, {tasks:>9} tasks in {:>7.1} s  {:>8.0} tasks/s",
        job_time.as_secs_f64(),
        tasks as f64 / job_time.as_secs_f64()
    );

    // The same number of rows in one statement, into a copy of the table
    // with the same indexes.
    sqlx::query("CREATE TABLE bare_tasks (LIKE tasks INCLUDING ALL)")
        .execute(&pool)
        .await?;
    // One statement for every row: no statement timeout for it.
    let mut bare = pool.acquire().await?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *bare)
        .await?;
    let start = Instant::now();
    let inserted = sqlx::query(
        "INSERT INTO bare_tasks (id, customer_id, kind, rule_key, rule, role, channel, tier, assignee,
                                 due_date, planned_date, latest_date, created_at)
         SELECT gen_random_uuid(), md5((g % $2 + 1)::text)::uuid, 'cadence', 'visit-' || g, 'visit by manager',
                'manager', 'visit', 'A', 'manager-' || (g % 500), current_date + (g % 30)::int,
                current_date + (g % 30)::int, current_date + (g % 30)::int + 7, now()
           FROM generate_series(1, $1) g",
    )
    .bind(tasks)
    .bind(customers)
    .execute(&mut *bare)
    .await?
    .rows_affected();
    let bare_time = start.elapsed();
    println!(
        "set-based INSERT    {inserted:>9} rows                in {:>7.1} s  {:>8.0} rows/s   job / INSERT: {:.1}x",
        bare_time.as_secs_f64(),
        inserted as f64 / bare_time.as_secs_f64(),
        job_time.as_secs_f64() / bare_time.as_secs_f64()
    );

    // The next good time to call, through gRPC, from 32 clients.
    let auth = testing::auth_config();
    let cache = testing::cache_config();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let config = SchedulingConfig {
        common: CommonConfig {
            health_interval: Duration::from_secs(2),
            ..testing::common_config(addr, db_config.clone(), &cache, &auth, clock.clone())
        },
        preset: Some("health-chain".into()),
        consumer_name: "bench".into(),
        generation_poll: Duration::from_secs(3600),
        // Not asked: the queries are not for marketing.
        profile: scheduling::profile::ProfileConfig {
            url: "http://127.0.0.1:9".into(),
        },
        public_url: patron_suite_tests::SCHEDULING_PUBLIC_URL.into(),
    };
    tokio::spawn(scheduling::serve(config, listener, shutdown.clone()));
    let url = format!("http://{addr}");
    patron_suite_tests::wait_until_serving(&url).await;
    let token = Authenticator::new(&auth).mint(
        "bench",
        &["admin".into()],
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let channel = Channel::from_shared(url)?.connect().await?;

    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM planning ORDER BY customer_id LIMIT 10000")
            .fetch_all(&pool)
            .await?;
    let ids = Arc::new(ids);
    const CLIENTS: usize = 32;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let (channel, bearer, ids) = (channel.clone(), bearer.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = SchedulingServiceClient::new(channel);
            let mut latencies = Vec::new();
            for i in (worker..queries).step_by(CLIENTS) {
                let customer = format!("customers/{}", ids[i % ids.len()]);
                let mut request = tonic::Request::new(pb::GetNextContactTimeRequest {
                    customer,
                    channel: pb::ContactChannel::Phone as i32,
                    marketing: false,
                });
                request
                    .metadata_mut()
                    .insert("authorization", bearer.clone());
                let t0 = Instant::now();
                client
                    .get_next_contact_time(request)
                    .await
                    .expect("a next good time");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    report(
        "GetNextContactTime (gRPC, 32 clients)",
        latencies,
        start.elapsed(),
    );

    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
            let mut latencies = Vec::new();
            for _ in (worker..queries).step_by(CLIENTS) {
                let t0 = Instant::now();
                client
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .expect("healthy");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    report("health Check (same server)", latencies, start.elapsed());
    shutdown.cancel();
    Ok(())
}
