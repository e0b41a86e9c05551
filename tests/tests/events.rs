//! The outbox, its relay and consumer groups against real PostgreSQL and
//! Redis: every committed event reaches the stream once per change, survives
//! Redis being down, and is applied once by consumers even across a crash.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use patron_kit::events::{self, Consumer, ConsumerConfig, EventHandler};
use patron_kit::testing::{self, TestDatabase};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::CustomerCreated;
use redis::AsyncCommands;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "test.customers";

struct Fixture {
    _db: TestDatabase,
    pool: PgPool,
    prefix: String,
    redis_url: String,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create(&["profile"]).await;
    let pool = patron_kit::db::connect(&db.service_config("profile")).unwrap();
    events::install(&pool).await.unwrap();
    sqlx::query("CREATE TABLE effects (event_id uuid NOT NULL, customer text NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    Fixture {
        _db: db,
        pool,
        prefix: format!("patron-test-{}", testing::unique_suffix()),
        redis_url: testing::redis_url(),
    }
}

impl Fixture {
    /// Commits `n` events, one transaction each, as services do.
    async fn enqueue(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let mut tx = self.pool.begin().await.unwrap();
            let event = CustomerCreated {
                customer: format!("customers/{i}"),
                version: 1,
                ..Default::default()
            };
            let id = events::enqueue(&mut tx, TOPIC, &event.customer, &event, chrono::Utc::now())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            ids.push(id.to_string());
        }
        ids
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Event ids on the stream, in stream order.
    async fn published_ids(&self) -> Vec<String> {
        let mut redis = self.redis().await;
        let reply: redis::streams::StreamRangeReply = redis
            .xrange_all(events::stream_key(&self.prefix, TOPIC))
            .await
            .unwrap();
        reply
            .ids
            .iter()
            .map(|e| match e.map.get("event_id") {
                Some(redis::Value::BulkString(b)) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("no event id: {other:?}"),
            })
            .collect()
    }

    async fn unpublished(&self) -> i64 {
        unpublished(&self.pool).await
    }

    async fn effects(&self) -> (i64, i64) {
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM effects")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    fn consumer_config(&self, name: &str) -> ConsumerConfig {
        ConsumerConfig {
            redis_url: self.redis_url.clone(),
            stream_prefix: self.prefix.clone(),
            group: "effects".into(),
            consumer: name.into(),
            topics: vec![TOPIC.into()],
            batch_size: 10,
            block: Duration::from_millis(100),
            claim_idle: Duration::from_millis(300),
            max_failures: 5,
        }
    }
}

/// Records one effect row per event; optionally hangs (a consumer stuck or
/// about to be killed) once it has applied `hang_after` events.
struct RecordEffect {
    hang_after: Option<usize>,
    applied: AtomicUsize,
}

impl EventHandler for RecordEffect {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let Some(limit) = self.hang_after
                && self.applied.load(Ordering::SeqCst) >= limit
            {
                futures::future::pending::<()>().await;
            }
            let created: CustomerCreated =
                events::payload(event).ok_or_else(|| anyhow::anyhow!("not a CustomerCreated"))?;
            sqlx::query("INSERT INTO effects (event_id, customer) VALUES ($1::uuid, $2)")
                .bind(&event.event_id)
                .bind(&created.customer)
                .execute(&mut *tx)
                .await?;
            self.applied.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn two_relays_publish_every_event_once_in_commit_order() {
    let f = fixture().await;
    // The relays run while the events are being committed, so they race
    // each other and the writer, not just a full outbox.
    let writing = CancellationToken::new();
    let mut relays = Vec::new();
    for _ in 0..2 {
        let pool = f.pool.clone();
        let prefix = f.prefix.clone();
        let writing = writing.clone();
        let mut conn = events::relay_connection(&f.redis_url).unwrap();
        relays.push(tokio::spawn(async move {
            let mut published = 0;
            loop {
                let done_writing = writing.is_cancelled();
                // Small batches so the two relays interleave.
                let n = events::relay_once(&pool, &mut conn, &prefix, 7)
                    .await
                    .unwrap();
                published += n;
                if n == 0 {
                    if done_writing && unpublished(&pool).await == 0 {
                        return published;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    let ids = f.enqueue(300).await;
    writing.cancel();
    let mut total = 0;
    for r in relays {
        total += r.await.unwrap();
    }
    assert_eq!(total, 300, "rows marked published");
    assert_eq!(f.unpublished().await, 0);
    assert_eq!(
        f.published_ids().await,
        ids,
        "each event once, in commit order"
    );
}

async fn unpublished(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn events_wait_while_redis_is_down_and_flow_when_it_returns() {
    let f = fixture().await;
    let ids = f.enqueue(12).await;

    let mut down = events::relay_connection("redis://127.0.0.1:1").unwrap();
    assert!(
        events::relay_once(&f.pool, &mut down, &f.prefix, 100)
            .await
            .is_err()
    );
    assert_eq!(
        f.unpublished().await,
        12,
        "nothing marked while Redis is down"
    );
    assert!(f.published_ids().await.is_empty());

    let shutdown = CancellationToken::new();
    let relay = events::spawn_relay(
        f.pool.clone(),
        events::RelayConfig {
            redis_url: f.redis_url.clone(),
            stream_prefix: f.prefix.clone(),
            batch_size: 5,
            idle_poll: Duration::from_millis(20),
            retention: events::Retention::default(),
        },
        shutdown.clone(),
    );
    wait_until("all events are published", async || {
        f.unpublished().await == 0
    })
    .await;
    shutdown.cancel();
    relay.await.unwrap();
    assert_eq!(f.published_ids().await, ids);
}

#[tokio::test]
async fn a_consumer_killed_mid_batch_is_resumed_without_loss_or_double_effect() {
    let f = fixture().await;
    f.enqueue(40).await;
    let mut conn = events::relay_connection(&f.redis_url).unwrap();
    while events::relay_once(&f.pool, &mut conn, &f.prefix, 100)
        .await
        .unwrap()
        > 0
    {}

    // Consumer A applies 15 events, then hangs inside the 16th; we kill it.
    // A batch commits whole (10 entries here): the first is in, the second
    // was cut off mid-way and left nothing.
    let handler_a = Arc::new(RecordEffect {
        hang_after: Some(15),
        applied: AtomicUsize::new(0),
    });
    let a = Consumer::connect(
        f.consumer_config("pod-a"),
        f.pool.clone(),
        handler_a.clone(),
    )
    .await
    .unwrap();
    let a_task = tokio::spawn(a.run(CancellationToken::new()));
    wait_until("A applied 15", async || {
        handler_a.applied.load(Ordering::SeqCst) == 15
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a_task.abort();
    assert_eq!(f.effects().await, (10, 10));

    // The relay publishes some events twice (a crash between XADD and commit).
    let mut redis = f.redis().await;
    let key = events::stream_key(&f.prefix, TOPIC);
    let first: redis::streams::StreamRangeReply =
        redis.xrange_count(&key, "-", "+", 3).await.unwrap();
    for entry in &first.ids {
        let fields: Vec<(String, Vec<u8>)> = entry
            .map
            .iter()
            .map(|(k, v)| match v {
                redis::Value::BulkString(b) => (k.clone(), b.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        let _: String = redis.xadd(&key, "*", &fields).await.unwrap();
    }

    // Consumer B takes over A's pending entries and reads the rest.
    let handler_b = Arc::new(RecordEffect {
        hang_after: None,
        applied: AtomicUsize::new(0),
    });
    let b = Consumer::connect(f.consumer_config("pod-b"), f.pool.clone(), handler_b)
        .await
        .unwrap();
    let stop_b = CancellationToken::new();
    let b_task = tokio::spawn(b.run(stop_b.clone()));
    // Done when the group has been handed every entry, the three copies
    // included, and every one is acknowledged.
    wait_until(
        "the group read and acknowledged all 43 entries",
        async || {
            let groups: redis::streams::StreamInfoGroupsReply =
                redis.xinfo_groups(&key).await.unwrap();
            let group = &groups.groups[0];
            group.lag == Some(0) && group.pending == 0
        },
    )
    .await;
    stop_b.cancel();
    b_task.await.unwrap().unwrap();

    assert_eq!(
        f.effects().await,
        (40, 40),
        "every event applied exactly once"
    );
    let pending: redis::streams::StreamPendingReply =
        redis.xpending(&key, "effects").await.unwrap();
    assert_eq!(pending.count(), 0, "everything acknowledged");
}

/// Applies every event but one, which always fails.
struct FailOne {
    poison: String,
}

impl EventHandler for FailOne {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let created: CustomerCreated =
                events::payload(event).ok_or_else(|| anyhow::anyhow!("not a CustomerCreated"))?;
            if created.customer == self.poison {
                anyhow::bail!("cannot apply {}", created.customer);
            }
            sqlx::query("INSERT INTO effects (event_id, customer) VALUES ($1::uuid, $2)")
                .bind(&event.event_id)
                .bind(&created.customer)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn an_entry_that_keeps_failing_holds_up_none_of_its_batch_and_is_dead_lettered() {
    let f = fixture().await;
    f.enqueue(25).await;
    let mut conn = events::relay_connection(&f.redis_url).unwrap();
    while events::relay_once(&f.pool, &mut conn, &f.prefix, 100)
        .await
        .unwrap()
        > 0
    {}
    let consumer = Consumer::connect(
        f.consumer_config("pod-a"),
        f.pool.clone(),
        Arc::new(FailOne {
            poison: "customers/13".into(),
        }),
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer.run(stop.clone()));
    wait_until("the 24 good events applied", async || {
        f.effects().await.0 == 24
    })
    .await;
    let mut redis = f.redis().await;
    let dead_key = format!("{}:dead", events::stream_key(&f.prefix, TOPIC));
    wait_until("the poison entry dead-lettered", async || {
        let len: usize = redis.xlen(&dead_key).await.unwrap_or(0);
        len == 1
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(f.effects().await, (24, 24));
    let pending: redis::streams::StreamPendingReply = redis
        .xpending(events::stream_key(&f.prefix, TOPIC), "effects")
        .await
        .unwrap();
    assert_eq!(pending.count(), 0, "everything acknowledged");
}
