//! Benchmark: transactions recorded per second through gRPC (validation, the
//! idempotency check, the insert and its outbox event in one commit), beside a
//! plain single-row INSERT into the same PostgreSQL in the same run; p50/p99
//! latency of each; and the time from commit to the event being on the Redis
//! stream; and, with tiering consuming the events, the time from a
//! transaction's commit to the customer's tier being re-decided. Run: `cargo run --release -p patron-suite-tests --bin bench-transactions -- [count] [concurrency]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patron_customer_profile::{self as profile, ProfileConfig};
use patron_kit::auth::Authenticator;
use patron_kit::clock::SystemClock;
use patron_kit::runtime::CommonConfig;
use patron_kit::testing::{self, TestDatabase};
use patron_proto::common::v1::{EventEnvelope, Money};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use patron_tiering as tiering;
use prost::Message;
use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{what:<28} {:>6} ops  {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);

    let db = TestDatabase::create(&[profile::SCHEMA, tiering::SCHEMA]).await;
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
    let token = Authenticator::new(&auth).mint(
        "bench",
        &["admin".into()],
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let with_auth = |msg| {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert("authorization", bearer.clone());
        r
    };

    // 100 customers to record against.
    let mut customers = Vec::new();
    for i in 0..100 {
        let c = pb::Customer {
            kind: pb::CustomerKind::Person as i32,
            display_name: format!("Bench {i}"),
            ..Default::default()
        };
        let created = CustomerServiceClient::new(channel.clone())
            .create_customer(with_auth(pb::CreateCustomerRequest {
                customer: Some(c),
                request_id: String::new(),
            }))
            .await?
            .into_inner();
        customers.push(created.name);
    }
    let customers = Arc::new(customers);

    // Commit → stream latency: read the stream as the events arrive.
    let stream = patron_kit::events::stream_key(
        &cache.key_prefix,
        patron_kit::events::topics::PROFILE_TRANSACTIONS.name(),
    );
    let mut reader = redis::Client::open(cache.url.as_str())?
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await?;
    let expected = count;
    let watcher = tokio::spawn(async move {
        let mut lags = Vec::with_capacity(expected);
        let mut last = "$".to_string();
        while lags.len() < expected {
            let opts = StreamReadOptions::default().block(2000).count(1000);
            let reply: Option<StreamReadReply> = reader
                .xread_options(&[&stream], &[&last], &opts)
                .await
                .ok()
                .flatten();
            let Some(reply) = reply else { break };
            let now = chrono::Utc::now();
            for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                last = entry.id.clone();
                if let Some(redis::Value::BulkString(bytes)) = entry.map.get("envelope")
                    && let Ok(env) = EventEnvelope::decode(bytes.as_slice())
                    && let Some(at) = env
                        .occurred_at
                        .as_ref()
                        .and_then(patron_kit::timestamp::from_proto)
                {
                    lags.push((now - at).to_std().unwrap_or_default());
                }
            }
        }
        lags
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Transactions through gRPC.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let channel = channel.clone();
        let customers = customers.clone();
        let bearer = bearer.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = TransactionServiceClient::new(channel);
            let mut latencies = Vec::new();
            for i in (worker..count).step_by(concurrency) {
                let t = pb::Transaction {
                    external_id: format!("BENCH-{i}"),
                    kind: pb::TransactionKind::Purchase as i32,
                    occur_time: Some(patron_kit::timestamp::to_proto(chrono::Utc::now())),
                    product: "tea".into(),
                    quantity: "1".into(),
                    amount: Some(Money {
                        currency_code: "CNY".into(),
                        amount_minor: 12_800,
                    }),
                    ..Default::default()
                };
                let mut req = tonic::Request::new(pb::RecordTransactionRequest {
                    parent: customers[i % customers.len()].clone(),
                    transaction: Some(t),
                });
                req.metadata_mut().insert("authorization", bearer.clone());
                let t0 = Instant::now();
                client.record_transaction(req).await.expect("recorded");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut grpc_latencies = Vec::new();
    for t in tasks {
        grpc_latencies.extend(t.await?);
    }
    let grpc_elapsed = started.elapsed();
    let lags = watcher.await?;

    // Commit → tier decided: tiering marks each event processed in the
    // transaction that re-decides the customer; both times are the
    // database's (each transaction's start).
    let mut admin = db.admin_connection().await;
    let drain_started = Instant::now();
    loop {
        let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM tiering.processed_events")
            .fetch_one(&mut admin)
            .await?;
        if processed as usize >= count || drain_started.elapsed() > Duration::from_secs(300) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tier_lags: Vec<Duration> = sqlx::query_scalar::<_, f64>(
        "SELECT EXTRACT(epoch FROM (t.processed_at - o.created_at))::float8
           FROM tiering.processed_events t JOIN profile.outbox o USING (event_id)",
    )
    .fetch_all(&mut admin)
    .await?
    .into_iter()
    .map(|s| Duration::from_secs_f64(s.max(0.0)))
    .collect();

    // The bare datastore: one single-row INSERT per statement, same concurrency.
    let pool = patron_kit::db::connect(&patron_kit::db::DbConfig {
        max_connections: 20,
        ..db.service_config(profile::SCHEMA)
    })?;
    sqlx::query("CREATE TABLE bench_plain (id uuid PRIMARY KEY, customer text, amount bigint, at timestamptz)")
        .execute(&pool)
        .await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (worker..count).step_by(concurrency) {
                let t0 = Instant::now();
                sqlx::query("INSERT INTO bench_plain VALUES ($1, $2, $3, now())")
                    .bind(uuid::Uuid::now_v7())
                    .bind(format!("c{i}"))
                    .bind(12_800_i64)
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

    println!(
        "{count} operations, {concurrency} concurrent clients, one machine ({} cores)",
        std::thread::available_parallelism()?.get()
    );
    report("RecordTransaction (gRPC)", grpc_latencies, grpc_elapsed);
    report("plain INSERT (sqlx)", plain_latencies, plain_elapsed);
    if lags.is_empty() {
        println!("commit → stream: no events observed");
    } else {
        let mut sorted = lags.clone();
        sorted.sort();
        println!(
            "commit → stream ({} events)   p50 {:.2} ms  p99 {:.2} ms",
            sorted.len(),
            percentile(&sorted, 0.5).as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3
        );
    }
    if tier_lags.is_empty() {
        println!("commit → tier decided: no events processed");
    } else {
        let mut sorted = tier_lags;
        sorted.sort();
        println!(
            "commit → tier decided ({} events)   p50 {:.2} ms  p99 {:.2} ms",
            sorted.len(),
            percentile(&sorted, 0.5).as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3
        );
    }
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
