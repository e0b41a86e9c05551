//! Benchmark: transactions recorded per second through gRPC (validation, the
//! idempotency check, the insert and its outbox event in one commit), beside a
//! plain single-row INSERT into the same PostgreSQL in the same run; p50/p99
//! latency of each; and the time from a record's acknowledgement to its event
//! being on the Redis stream; and, with tiering consuming the events, the time from a
//! transaction's commit to the customer's tier being re-decided. Run: `cargo run --release -p patron-suite-tests --bin bench-transactions -- [count] [concurrency]`.

use std::sync::Arc;
use std::time::Duration;

use patron::bench::fixture::Caller;
use patron::bench::load::{Bound, Measured};
use patron::bench::{baseline, events, writes};
use patron_customer_profile::{self as profile, ProfileConfig};
use patron_kit::auth::Authenticator;
use patron_kit::clock::SystemClock;
use patron_kit::runtime::CommonConfig;
use patron_kit::testing::{self, TestDatabase};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_tiering as tiering;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The latency at fraction `p`, in milliseconds.
fn ms(measured: &Measured, p: f64) -> f64 {
    (measured.latencies.percentile(p)).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn report(what: &str, measured: &Measured) {
    println!(
        "{what:<28} {:>6} ops  {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} errors)",
        measured.latencies.len(),
        measured.per_second(),
        ms(measured, 0.50),
        ms(measured, 0.99),
        measured.errors,
    );
}

fn report_lags(what: &str, measured: &Measured) {
    if measured.latencies.is_empty() {
        println!("{what}: no events observed");
    } else {
        println!(
            "{what} ({} events, {} missing)   p50 {:.2} ms  p99 {:.2} ms",
            measured.latencies.len(),
            measured.errors,
            ms(measured, 0.5),
            ms(measured, 0.99)
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);

    let db = TestDatabase::create(&[profile::SCHEMA, tiering::SCHEMA]).await;
    let admin_url = testing::admin_url();
    let database_url = format!(
        "{}/{}",
        admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(s, _)| s),
        db.name
    );
    let auth = testing::auth_config();
    let cache = testing::cache_config();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let db_config = patron_kit::db::DbConfig {
        max_connections: 20,
        ..db.service_config(profile::SCHEMA)
    };
    let common = |listen, db| CommonConfig {
        health_interval: Duration::from_secs(2),
        relay_poll: Duration::from_millis(10),
        ..testing::common_config(listen, db, &cache, &auth, Arc::new(SystemClock))
    };
    let config = ProfileConfig {
        common: common(addr, db_config),
        keys: testing::key_ring(),
        archive_prefix: "B".into(),
        review_period: Duration::from_secs(365 * 24 * 3600),
        manager_limit: 3,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(profile::serve(config, listener, shutdown.clone()));
    let tiering_listener = TcpListener::bind("127.0.0.1:0").await?;
    tokio::spawn(tiering::serve(
        tiering::TieringConfig {
            common: common(
                tiering_listener.local_addr()?,
                db.service_config(tiering::SCHEMA),
            ),
            preset: Some("health-chain".into()),
            consumer_name: "bench".into(),
            sweep_pause: Duration::from_secs(3600),
        },
        tiering_listener,
        shutdown.clone(),
    ));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let admin = Caller::new(&Authenticator::new(&auth), "bench", "admin")?;

    // 100 customers to record against.
    let mut customers = Vec::new();
    for i in 0..100 {
        let c = pb::Customer {
            kind: pb::CustomerKind::Person as i32,
            display_name: format!("Bench {i}"),
            ..Default::default()
        };
        let created = CustomerServiceClient::new(channel.clone())
            .create_customer(admin.signed(pb::CreateCustomerRequest {
                customer: Some(c),
                request_id: String::new(),
            }))
            .await?
            .into_inner();
        customers.push(created.name);
    }

    // Acknowledgement → stream latency: read the stream as the events arrive.
    let stream = patron_kit::events::stream_key(
        &cache.key_prefix,
        patron_kit::events::topics::PROFILE_TRANSACTIONS.name(),
    );
    let watch = events::watch(&cache.url, stream).await?;

    // Transactions through gRPC.
    let (recorded, acks) = writes::record_transactions(
        &[channel],
        concurrency,
        &admin,
        Arc::new(customers),
        "B",
        Arc::new(SystemClock),
        Bound::Count(count),
    )
    .await;
    let (on_stream, event_ids) = watch.finish(&acks, Duration::from_secs(30)).await?;

    // Commit → tier decided: tiering marks each event processed in the
    // transaction that re-decides the customer; both times are the
    // database's (each transaction's start).
    let tiered = events::tier_decided(&database_url, &event_ids, Duration::from_secs(300)).await?;

    // The bare datastore: one single-row INSERT per statement, same concurrency.
    let scratch = baseline::Scratch::create(&database_url, "plain", concurrency).await?;
    let plain = scratch.insert_rows(concurrency, Bound::Count(count)).await;
    scratch.drop_table().await?;

    println!(
        "{count} operations, {concurrency} concurrent clients, one machine ({} cores)",
        std::thread::available_parallelism()?.get()
    );
    report("RecordTransaction (gRPC)", &recorded);
    report("plain INSERT (sqlx)", &plain);
    report_lags("ack → stream", &on_stream);
    report_lags("commit → tier decided", &tiered);
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!(
            "peak memory of this process (services + clients): {}",
            line.trim_start_matches("VmHWM:").trim()
        );
    }
    shutdown.cancel();
    Ok(())
}
