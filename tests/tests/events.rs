//! The outbox, its relay and consumer groups against real PostgreSQL and
//! Redis: every committed event reaches the stream once per change, survives
//! Redis being down, and is applied once by consumers even across a crash.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use patron_kit::events::{self, Consumer, ConsumerConfig, EventHandler, dead_letters, upkeep};
use patron_kit::testing::{self, TestDatabase};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::CustomerCreated;
use redis::AsyncCommands;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// The topic the contract gives `CustomerCreated`, the event these tests send.
const TOPIC: &str = events::topics::PROFILE_CUSTOMERS.name();

struct Fixture {
    _db: TestDatabase,
    db_config: patron_kit::db::DbConfig,
    pool: PgPool,
    prefix: String,
    redis_url: String,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create(&["profile"]).await;
    let db_config = db.service_config("profile");
    let pool = patron_kit::db::connect(&db_config).unwrap();
    events::install(&pool).await.unwrap();
    sqlx::query("CREATE TABLE effects (event_id uuid NOT NULL, customer text NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    Fixture {
        _db: db,
        db_config,
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
            let id = events::enqueue(&mut tx, &event.customer, &event, chrono::Utc::now())
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

    /// Runs a consumer of group "effects" until `effects` events have
    /// effects, then stops it.
    async fn consume_until(&self, what: &str, effects: i64) {
        let consumer = Consumer::connect(
            self.consumer_config("pod-a"),
            self.pool.clone(),
            Arc::new(RecordEffect::new()),
        )
        .await
        .unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(consumer.run(stop.clone()));
        wait_until(what, async || self.effects().await.0 == effects).await;
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    /// Publishes everything waiting in the outbox.
    async fn publish_all(&self) {
        let mut conn = events::relay_connection(&self.redis_url).unwrap();
        while events::relay_once(&self.pool, &mut conn, &self.prefix, 100)
            .await
            .unwrap()
            > 0
        {}
    }

    fn relay_config(&self) -> events::RelayConfig {
        events::RelayConfig {
            redis_url: self.redis_url.clone(),
            stream_prefix: self.prefix.clone(),
            batch_size: 50,
            idle_poll: Duration::from_millis(20),
            retention: events::Retention {
                every: Duration::from_millis(200),
                ..events::Retention::default()
            },
            readers: &[],
        }
    }

    /// Deletes every Redis key of this test, as a Redis that came back
    /// empty; the number of keys lost.
    async fn lose_redis_data(&self) -> usize {
        let mut redis = self.redis().await;
        let keys: Vec<String> = redis.keys(format!("{}:*", self.prefix)).await.unwrap();
        if !keys.is_empty() {
            let _: () = redis.del(&keys).await.unwrap();
        }
        keys.len()
    }

    fn consumer_config(&self, name: &str) -> ConsumerConfig {
        ConsumerConfig {
            redis_url: self.redis_url.clone(),
            stream_prefix: self.prefix.clone(),
            group: "effects".into(),
            consumer: name.into(),
            topics: vec![events::topics::PROFILE_CUSTOMERS],
            batch_size: 10,
            block: Duration::from_millis(100),
            claim_idle: Duration::from_millis(300),
            max_failures: 5,
        }
    }
}

/// Records one effect row per event. Optionally it pauses before each (a
/// consumer that falls behind), hangs once it has applied `hang_after`
/// events (a consumer stuck or about to be killed), or always fails on one
/// customer's event (a poison event).
#[derive(Default)]
struct RecordEffect {
    hang_after: Option<usize>,
    pause: Duration,
    poison: Option<String>,
    applied: AtomicUsize,
}

impl RecordEffect {
    fn new() -> Self {
        Self::default()
    }

    fn hanging_after(applied: usize) -> Self {
        Self {
            hang_after: Some(applied),
            ..Self::default()
        }
    }

    fn pausing(pause: Duration) -> Self {
        Self {
            pause,
            ..Self::default()
        }
    }

    fn failing_on(customer: &str) -> Self {
        Self {
            poison: Some(customer.to_owned()),
            ..Self::default()
        }
    }
}

impl EventHandler for RecordEffect {
    /// Each event's effect is written as it is handled: nothing to gather.
    type Batch = ();

    fn begin(&self) {}

    fn handle<'a>(
        &'a self,
        _batch: &'a mut (),
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let Some(limit) = self.hang_after
                && self.applied.load(Ordering::SeqCst) >= limit
            {
                futures::future::pending::<()>().await;
            }
            tokio::time::sleep(self.pause).await;
            let created: CustomerCreated =
                events::payload(event).ok_or_else(|| anyhow::anyhow!("not a CustomerCreated"))?;
            if self.poison.as_ref() == Some(&created.customer) {
                anyhow::bail!("cannot apply {}", created.customer);
            }
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

/// A stream entry's fields, to add it again (as a relay publishing twice
/// would).
fn entry_fields(entry: &redis::streams::StreamId) -> Vec<(String, Vec<u8>)> {
    entry
        .map
        .iter()
        .map(|(k, v)| match v {
            redis::Value::BulkString(b) => (k.clone(), b.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
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
async fn a_commit_wakes_the_relay_of_its_process_without_waiting_for_the_poll() {
    let f = fixture().await;
    let shutdown = CancellationToken::new();
    // A poll so long that only a wake can publish within the test.
    let relay = events::spawn_relay(
        f.pool.clone(),
        events::RelayConfig {
            idle_poll: Duration::from_secs(3600),
            ..f.relay_config()
        },
        shutdown.clone(),
    );
    let first = f.enqueue(1).await;
    wait_until("the first event is published", async || {
        f.published_ids().await == first
    })
    .await;
    // The relay has gone back to waiting (its quick rounds after a wake
    // last some 60 ms): the next commit must wake it again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = f.enqueue(1).await;
    wait_until("the second event is published", async || {
        f.published_ids().await.len() == 2
    })
    .await;
    assert_eq!(f.published_ids().await, [first, second].concat());
    shutdown.cancel();
    relay.await.unwrap();
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
    // A relay that took the turn just as the other committed counts the
    // rounds that commit left, so it never takes Redis for one that lost data.
    let status = events::relay::status(&f.pool).await.unwrap();
    assert_eq!((status.recovered, status.requeued), (0, 0));
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
            readers: &[],
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
    let handler_a = Arc::new(RecordEffect::hanging_after(15));
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
        let fields = entry_fields(entry);
        let _: String = redis.xadd(&key, "*", &fields).await.unwrap();
    }

    // Consumer B takes over A's pending entries and reads the rest.
    let handler_b = Arc::new(RecordEffect::new());
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

#[tokio::test]
async fn an_event_twice_in_one_batch_is_applied_once_and_both_entries_acknowledged() {
    let f = fixture().await;
    f.enqueue(3).await;
    f.publish_all().await;
    // Each entry copied right behind itself: one read of 10 holds all six.
    let mut redis = f.redis().await;
    let key = events::stream_key(&f.prefix, TOPIC);
    let published: redis::streams::StreamRangeReply = redis.xrange_all(&key).await.unwrap();
    let _: () = redis.del(&key).await.unwrap();
    for entry in &published.ids {
        let fields = entry_fields(entry);
        for _ in 0..2 {
            let _: String = redis.xadd(&key, "*", &fields).await.unwrap();
        }
    }
    let mut consumer = Consumer::connect(
        f.consumer_config("pod-a"),
        f.pool.clone(),
        Arc::new(RecordEffect::new()),
    )
    .await
    .unwrap();
    assert_eq!(consumer.poll(">").await.unwrap(), 6, "one batch of six");
    assert_eq!(f.effects().await, (3, 3), "each event applied once");
    let pending: redis::streams::StreamPendingReply =
        redis.xpending(&key, "effects").await.unwrap();
    assert_eq!(pending.count(), 0, "both copies acknowledged");
}

#[tokio::test]
async fn an_entry_that_keeps_failing_holds_up_none_of_its_batch_and_is_set_aside_to_replay() {
    let f = fixture().await;
    f.enqueue(25).await;
    f.publish_all().await;
    let consumer = Consumer::connect(
        f.consumer_config("pod-a"),
        f.pool.clone(),
        Arc::new(RecordEffect::failing_on("customers/13")),
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer.run(stop.clone()));
    wait_until("the 24 good events applied", async || {
        f.effects().await.0 == 24
    })
    .await;
    wait_until("the poison event set aside", async || {
        dead_letters::waiting(&f.pool).await.unwrap() == 1
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(f.effects().await, (24, 24));
    let mut redis = f.redis().await;
    let pending: redis::streams::StreamPendingReply = redis
        .xpending(events::stream_key(&f.prefix, TOPIC), "effects")
        .await
        .unwrap();
    assert_eq!(pending.count(), 0, "everything acknowledged");

    // An admin reads what was set aside and why.
    let listed = dead_letters::list(&f.pool, false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].customer, "customers/13");
    assert_eq!(listed[0].number, Some(14));
    assert!(
        listed[0].reason.contains("failed 5 times")
            && listed[0].reason.contains("cannot apply customers/13"),
        "{}",
        listed[0].reason
    );
    // Not missed: set aside. Nothing is missing.
    assert!(dead_letters::missing(&f.pool).await.unwrap().is_empty());

    // Once the cause is fixed, a replay applies it, once.
    let fixed = RecordEffect::new();
    let replayed = dead_letters::replay(&f.pool, "effects", &fixed)
        .await
        .unwrap();
    assert_eq!((replayed.applied, replayed.failed.len()), (1, 0));
    assert_eq!(f.effects().await, (25, 25));
    assert_eq!(dead_letters::waiting(&f.pool).await.unwrap(), 0);
    let again = dead_letters::replay(&f.pool, "effects", &fixed)
        .await
        .unwrap();
    assert_eq!(again, dead_letters::Replayed::default());
}

#[tokio::test]
async fn every_committed_event_is_consumed_when_redis_loses_its_data_while_a_consumer_is_behind() {
    let f = fixture().await;
    let shutdown = CancellationToken::new();
    let relay = events::spawn_relay(f.pool.clone(), f.relay_config(), shutdown.clone());
    let handler = Arc::new(RecordEffect::pausing(Duration::from_millis(10)));
    let consumer = events::spawn_consumer(
        f.consumer_config("pod-a"),
        f.pool.clone(),
        handler.clone(),
        shutdown.clone(),
    );
    f.enqueue(150).await;
    wait_until("the consumer is part-way", async || {
        f.effects().await.0 >= 40
    })
    .await;
    wait_until("the relay has published the first 150", async || {
        f.unpublished().await == 0
    })
    .await;
    let consumed_before = f.effects().await.0;
    // Redis comes back empty (restart without persistence, failover to a
    // replica that had not caught up, flush): here, every key of this test.
    let lost = f.lose_redis_data().await;
    assert!(lost > 0);
    f.enqueue(150).await;
    wait_until("all 300 events applied", async || {
        f.effects().await.0 >= 300
    })
    .await;
    // Let the consumer and relay settle, then check each applied once.
    wait_until("nothing left to publish", async || {
        f.unpublished().await == 0
    })
    .await;
    shutdown.cancel();
    consumer.await.unwrap();
    relay.await.unwrap();
    assert_eq!(f.effects().await, (300, 300), "each event applied once");
    assert!(dead_letters::missing(&f.pool).await.unwrap().is_empty());
    let (recovered, requeued): (i64, i64) =
        sqlx::query_as("SELECT recovered, requeued FROM outbox_relay")
            .fetch_one(&f.pool)
            .await
            .unwrap();
    assert!(recovered >= 1, "the relay noticed the loss");
    // What every group had acknowledged when the relay last looked is not
    // sent again; the rest of the first 150 is.
    let acknowledged: i64 = sqlx::query_scalar("SELECT acknowledged FROM outbox_topics")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert!(
        requeued > 0 && requeued <= 150,
        "only what was not acknowledged is published again: {requeued}"
    );
    eprintln!(
        "redis loss: 300 committed, {consumed_before} consumed before the loss, \
         {requeued} published again, 300 consumed once each ({acknowledged} acknowledged by now)"
    );
}

#[tokio::test]
async fn a_postgres_outage_is_waited_out_without_dead_letters() {
    let f = fixture().await;
    f.enqueue(60).await;
    f.publish_all().await;
    // The consumer reaches Postgres through a proxy we can cut.
    let proxy = testing::TcpProxy::to_postgres().await;
    let through_proxy = patron_kit::db::connect(&patron_kit::db::DbConfig {
        acquire_timeout: Duration::from_millis(500),
        ..proxy.db_config(f.db_config.clone())
    })
    .unwrap();
    let handler = Arc::new(RecordEffect::pausing(Duration::from_millis(20)));
    let mut config = f.consumer_config("pod-a");
    config.max_failures = 2;
    let shutdown = CancellationToken::new();
    let consumer = events::spawn_consumer(config, through_proxy, handler.clone(), shutdown.clone());
    wait_until("some applied", async || f.effects().await.0 >= 10).await;
    proxy.cut();
    let applied_before = f.effects().await.0;
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.restore();
    wait_until("all 60 applied", async || f.effects().await.0 >= 60).await;
    shutdown.cancel();
    consumer.await.unwrap();
    assert_eq!(f.effects().await, (60, 60));
    assert_eq!(
        dead_letters::waiting(&f.pool).await.unwrap(),
        0,
        "no healthy event set aside"
    );
    let failures: i64 = sqlx::query_scalar("SELECT count(*) FROM event_failures")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(failures, 0, "an outage is not the events' fault");
    eprintln!(
        "postgres outage: 60 committed, {applied_before} applied before a 4 s cut, 60 applied once each, 0 dead letters"
    );
}

#[tokio::test]
async fn a_half_open_redis_connection_fails_and_the_consumer_starts_again() {
    let f = fixture().await;
    let proxy = testing::TcpProxy::to_redis().await;
    let mut config = f.consumer_config("pod-a");
    config.redis_url = proxy.url_through(&f.redis_url);
    let handler = Arc::new(RecordEffect::new());
    let shutdown = CancellationToken::new();
    let consumer = events::spawn_consumer(config, f.pool.clone(), handler, shutdown.clone());
    f.enqueue(5).await;
    f.publish_all().await;
    wait_until("the first 5 applied", async || f.effects().await.0 == 5).await;
    // The connection stays open, but nothing comes back: without a response
    // timeout the consumer would wait for ever.
    proxy.stall();
    f.enqueue(5).await;
    f.publish_all().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    proxy.restore();
    wait_until("the next 5 applied", async || f.effects().await.0 == 10).await;
    shutdown.cancel();
    consumer.await.unwrap();
    assert_eq!(f.effects().await, (10, 10));
}

#[tokio::test]
async fn a_consumer_can_tell_which_events_it_missed() {
    let f = fixture().await;
    f.enqueue(10).await;
    f.publish_all().await;
    // One entry vanishes from the stream before anyone reads it.
    let mut redis = f.redis().await;
    let key = events::stream_key(&f.prefix, TOPIC);
    let entries: redis::streams::StreamRangeReply = redis.xrange_all(&key).await.unwrap();
    let _: i64 = redis.xdel(&key, &[&entries.ids[4].id]).await.unwrap();
    f.consume_until("9 applied", 9).await;
    assert_eq!(
        dead_letters::missing(&f.pool).await.unwrap(),
        [dead_letters::Missing {
            group: "effects".into(),
            topic: TOPIC.into(),
            count: 1,
            first: 5,
        }]
    );
    // An operator replays from a point in time; the consumer skips what it
    // has and applies what it missed.
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(events::replay_since(&f.pool, since).await.unwrap(), 10);
    f.publish_all().await;
    f.consume_until("the missed one applied", 10).await;
    assert_eq!(f.effects().await, (10, 10));
    assert!(dead_letters::missing(&f.pool).await.unwrap().is_empty());
}

/// The contract's readers of the fixture's topic: "early" runs from the
/// start, "effects" (the fixture's consumer) starts only later.
const LATE_READERS: &[events::Reader] = &[
    events::Reader {
        group: "early",
        topics: &[events::topics::PROFILE_CUSTOMERS],
    },
    events::Reader {
        group: "effects",
        topics: &[events::topics::PROFILE_CUSTOMERS],
    },
];

#[tokio::test]
async fn a_reader_that_starts_after_the_others_still_reads_every_event() {
    let f = fixture().await;
    f.enqueue(12).await;
    f.publish_all().await;
    let mut early = f.consumer_config("pod-early");
    early.group = "early".into();
    let consumer = Consumer::connect(early, f.pool.clone(), Arc::new(RecordEffect::new()))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer.run(stop.clone()));
    wait_until("the early group applied all 12", async || {
        f.effects().await.0 == 12
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    sqlx::query("TRUNCATE effects")
        .execute(&f.pool)
        .await
        .unwrap();

    // Upkeep runs while "effects" has not started: the contract says it
    // reads the topic, so its group is made and nothing is trimmed.
    let conn = events::relay_connection(&f.redis_url).unwrap();
    upkeep::trim_streams(&f.pool, &mut conn.clone(), &f.prefix, LATE_READERS)
        .await
        .unwrap();
    let mut redis = f.redis().await;
    let left: usize = redis
        .xlen(events::stream_key(&f.prefix, TOPIC))
        .await
        .unwrap();
    assert_eq!(left, 12, "a reader not started yet holds every entry");
    f.consume_until("the late group applied all 12", 12).await;

    // Once both have acknowledged, the stream is trimmed.
    upkeep::trim_streams(&f.pool, &mut conn.clone(), &f.prefix, LATE_READERS)
        .await
        .unwrap();
    let left: usize = redis
        .xlen(events::stream_key(&f.prefix, TOPIC))
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn streams_are_trimmed_to_what_every_group_acknowledged_and_old_rows_forgotten() {
    let f = fixture().await;
    f.enqueue(20).await;
    f.publish_all().await;
    let mut redis = f.redis().await;
    let key = events::stream_key(&f.prefix, TOPIC);
    // Two groups: one reads everything, the other stops after 8 (two
    // batches of 4 committed and acknowledged; it hangs inside the third).
    for (group, limit) in [("all", None), ("some", Some(8))] {
        let mut config = f.consumer_config("pod-a");
        config.group = group.into();
        config.batch_size = 4;
        let handler = Arc::new(RecordEffect {
            hang_after: limit,
            ..RecordEffect::default()
        });
        let consumer = Consumer::connect(config, f.pool.clone(), handler.clone())
            .await
            .unwrap();
        tokio::spawn(consumer.run(CancellationToken::new()));
    }
    let conn = events::relay_connection(&f.redis_url).unwrap();
    let acknowledged = async || -> i64 {
        upkeep::trim_streams(&f.pool, &mut conn.clone(), &f.prefix, &[])
            .await
            .unwrap();
        sqlx::query_scalar("SELECT acknowledged FROM outbox_topics")
            .fetch_one(&f.pool)
            .await
            .unwrap()
    };
    wait_until("both groups acknowledged the first 8", async || {
        acknowledged().await == 8
    })
    .await;
    let left: usize = redis.xlen(&key).await.unwrap();
    assert_eq!(left, 12, "only what both groups acknowledged is trimmed");
    assert_eq!(acknowledged().await, 8, "the slow group holds the rest");

    // Past their retention, published rows and processed records go; rows
    // never published stay whatever their age.
    f.enqueue(3).await;
    let none = events::Retention {
        outbox: Duration::ZERO,
        processed: Duration::ZERO,
        idempotency: Duration::ZERO,
        dead_letters: Duration::ZERO,
        every: Duration::ZERO,
    };
    let forgotten = upkeep::forget_expired(&f.pool, &none).await.unwrap();
    assert_eq!(forgotten.outbox, 20);
    assert!(forgotten.processed >= 20);
    assert_eq!(f.unpublished().await, 3);
}
