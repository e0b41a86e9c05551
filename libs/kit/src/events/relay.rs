//! The relay: from the outbox to Redis Streams, in order, numbered per
//! topic, and published again when Redis lost what it had been given.

use std::time::Duration;

use patron_proto::common::v1::EventEnvelope;
use prost::Message;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Retention, stream_key, upkeep};
use crate::metrics::RelayCounters;
use crate::telemetry;

/// How the relay runs.
#[derive(Clone)]
pub struct RelayConfig {
    /// The events' Redis (persistent, no eviction).
    pub redis_url: String,
    /// First part of stream keys (tests use their own so they stay apart).
    pub stream_prefix: String,
    /// Rows published per round.
    pub batch_size: i64,
    /// Pause when there was nothing to publish.
    pub idle_poll: Duration,
    pub retention: Retention,
    /// The groups that read each topic (the contract's
    /// [`readers::ALL`](patron_proto::readers::ALL)): the relay makes them
    /// before it trims, so a stream keeps what a group not yet started
    /// has still to read.
    pub readers: &'static [patron_proto::readers::Reader],
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("redis_url", &crate::config::RedactedUrl(&self.redis_url))
            .field("stream_prefix", &self.stream_prefix)
            .field("batch_size", &self.batch_size)
            .field("idle_poll", &self.idle_poll)
            .field("retention", &self.retention)
            .field("readers", &self.readers)
            .finish()
    }
}

/// Outbox writes made in this process, counted so its relays wake for them
/// instead of waiting out their poll. A relay is woken by the write, before
/// the transaction commits, so it follows with a few quick rounds
/// ([`CHASE`]); commits made by other processes are found by the poll.
static OUTBOX_WRITES: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::channel(0).0);

/// Pauses of the quick rounds after a wake: the first lets the write's
/// transaction commit (and writes arriving meanwhile share the round), the
/// others follow a commit that takes longer.
const CHASE: [Duration; 6] = [
    Duration::from_millis(2),
    Duration::from_millis(2),
    Duration::from_millis(4),
    Duration::from_millis(8),
    Duration::from_millis(16),
    Duration::from_millis(32),
];

/// The longest a relay goes without a full round, which also checks that
/// Redis still holds what it was given (and publishes again what it lost)
/// when nothing new waits.
const FULL_ROUND_EVERY: Duration = Duration::from_secs(1);

/// Tells this process's relays an event was written to an outbox.
pub(crate) fn outbox_written() {
    OUTBOX_WRITES.send_modify(|n| *n = n.wrapping_add(1));
}

/// A Redis connection for publishing, with a response timeout so a hung
/// Redis fails a round instead of stalling it.
pub fn relay_connection(url: &str) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)
}

/// The key where Redis keeps the count of a schema's relay rounds.
pub fn marker_key(prefix: &str, schema: &str) -> String {
    format!("{prefix}:events:relay:{schema}")
}

/// Publishes when, and only when, Redis still counts the rounds Postgres
/// counts: otherwise Redis lost data since the last round and nothing is
/// added until what it lost is queued again. KEYS[1] is the marker, the
/// other keys the streams; ARGV: expected rounds, next rounds, then per
/// entry its stream's key index, event id, number and envelope.
const PUBLISH: &str = r"
local found = redis.call('HGET', KEYS[1], 'rounds')
if not found then found = '0' end
if found ~= ARGV[1] then return 'lost:' .. found end
if #ARGV > 2 then
  for i = 3, #ARGV, 4 do
    redis.call('XADD', KEYS[tonumber(ARGV[i])], '*',
      'event_id', ARGV[i + 1], 'number', ARGV[i + 2], 'envelope', ARGV[i + 3])
  end
  redis.call('HSET', KEYS[1], 'rounds', ARGV[2])
end
return 'ok'
";

static PUBLISH_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(PUBLISH));

/// Whether committed events wait to be published: one read of the
/// unpublished rows' index, outside any transaction. A wake finds nothing
/// committed yet more often than not, and this is all such a wake costs.
///
/// The relay's statements on the outbox are planned on every run
/// (`persistent(false)`): a prepared statement keeps the plan made when the
/// outbox was new and nearly empty (a sequential scan) until the table is
/// next analysed, and a busy outbox outgrows it in seconds.
pub async fn waiting(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)")
        .persistent(false)
        .fetch_one(pool)
        .await
}

/// Publishes one batch; the number of rows published (0 when another relay
/// holds the turn, nothing waits, or Redis was found to have lost data and
/// the unacknowledged rows were queued again). On a Redis failure nothing is
/// marked. A round is four statements whatever its size: the turn with the
/// count of rounds, the rows with their topics' last numbers, the marks
/// (numbers, publication, topics' numbers and the round in one), the commit.
pub async fn relay_once(
    pool: &PgPool,
    redis: &mut ConnectionManager,
    prefix: &str,
    batch_size: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    // One key per schema: services sharing a database relay independently.
    // The table has one row, so the lock is tried once; no row back means
    // another relay holds the turn. The statement's snapshot may predate the
    // commit of the relay that held the turn just before; `FOR UPDATE` reads
    // the row as that commit left it, or this round would take the count of
    // rounds it missed for a Redis that lost data.
    let turn: Option<(String, i64)> = sqlx::query_as(
        "SELECT current_schema()::text, rounds FROM outbox_relay
          WHERE pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox'))
            FOR UPDATE",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((schema, rounds)) = turn else {
        tx.rollback().await?;
        return Ok(0);
    };
    let rows = sqlx::query(
        "SELECT o.seq, o.event_id, o.topic, o.envelope, o.number,
                coalesce(t.published, 0) AS published
           FROM (SELECT seq, event_id, topic, envelope, number FROM outbox
                  WHERE published_at IS NULL ORDER BY seq LIMIT $1) o
           LEFT JOIN outbox_topics t ON t.topic = o.topic
          ORDER BY o.seq",
    )
    .persistent(false)
    .bind(batch_size)
    .fetch_all(&mut *tx)
    .await?;
    let mut batch = Batch::default();
    let mut last_numbers = std::collections::BTreeMap::new();
    for row in &rows {
        batch.seqs.push(row.try_get("seq")?);
        batch.ids.push(row.try_get("event_id")?);
        let topic: String = row.try_get("topic")?;
        last_numbers
            .entry(topic.clone())
            .or_insert(row.try_get::<i64, _>("published")?);
        batch.topics.push(topic);
        batch.envelopes.push(row.try_get("envelope")?);
        batch.numbers.push(row.try_get("number")?);
    }
    number(&mut batch, &mut last_numbers);
    // Ended when this round ends, so they cover the publication.
    let _publishing = if telemetry::exporting() {
        publish_spans(&mut batch)
    } else {
        Vec::new()
    };

    let marker = marker_key(prefix, &schema);
    let mut invocation = PUBLISH_SCRIPT.prepare_invoke();
    invocation.key(&marker);
    let mut streams: Vec<&str> = Vec::new();
    for topic in &batch.topics {
        if !streams.contains(&topic.as_str()) {
            streams.push(topic);
            invocation.key(stream_key(prefix, topic));
        }
    }
    invocation.arg(rounds).arg(rounds + 1);
    for i in 0..batch.seqs.len() {
        let index = 2 + streams
            .iter()
            .position(|t| *t == batch.topics[i])
            .unwrap_or(0);
        invocation
            .arg(index)
            .arg(batch.ids[i].to_string())
            .arg(batch.numbers[i].unwrap_or_default())
            .arg(batch.envelopes[i].as_slice());
    }
    let answer: String = invocation.invoke_async(redis).await?;
    if let Some(found) = answer.strip_prefix("lost:") {
        tx.rollback().await?;
        recover(pool, redis, &marker, found).await?;
        return Ok(0);
    }
    if batch.seqs.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let numbers: Vec<i64> = batch
        .numbers
        .iter()
        .map(|n| n.unwrap_or_default())
        .collect();
    let (topics, published): (Vec<String>, Vec<i64>) = last_numbers.into_iter().unzip();
    sqlx::query(
        "WITH marked AS (
              UPDATE outbox SET published_at = now(), number = u.number
                FROM unnest($1::bigint[], $2::bigint[]) AS u(seq, number)
               WHERE outbox.seq = u.seq),
              numbered AS (
              INSERT INTO outbox_topics (topic, published)
              SELECT * FROM unnest($3::text[], $4::bigint[])
              ON CONFLICT (topic) DO UPDATE SET published = excluded.published)
         UPDATE outbox_relay SET rounds = rounds + 1",
    )
    .persistent(false)
    .bind(&batch.seqs)
    .bind(&numbers)
    .bind(&topics)
    .bind(&published)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(batch.seqs.len())
}

#[derive(Default)]
struct Batch {
    seqs: Vec<i64>,
    ids: Vec<Uuid>,
    topics: Vec<String>,
    envelopes: Vec<Vec<u8>>,
    numbers: Vec<Option<i64>>,
}

/// A span per traced event of `batch`, in the trace of the request that
/// committed it; the envelope then names this span as its consumers'
/// parent, so one trace runs from the request through the relay to every
/// consumer's handling.
fn publish_spans(batch: &mut Batch) -> Vec<tracing::Span> {
    let mut spans = Vec::new();
    for i in 0..batch.seqs.len() {
        let Ok(mut envelope) = EventEnvelope::decode(batch.envelopes[i].as_slice()) else {
            continue;
        };
        if envelope.traceparent.is_empty() {
            continue;
        }
        let topic = &batch.topics[i];
        let span = tracing::info_span!(
            "publish event",
            otel.name = %format!("publish {topic}"),
            otel.kind = "producer",
            messaging.system = "redis",
            messaging.destination.name = %topic,
            messaging.message.id = %batch.ids[i],
            event_type = %envelope.event_type,
            number = batch.numbers[i].unwrap_or_default(),
        );
        telemetry::adopt_traceparent(&span, &envelope.traceparent);
        envelope.traceparent = telemetry::traceparent_of(&span);
        batch.envelopes[i] = envelope.encode_to_vec();
        spans.push(span);
    }
    spans
}

/// Gives rows published for the first time the next numbers of their topic
/// (`last`: each topic's last number given), in outbox order; rows
/// published again keep theirs.
fn number(batch: &mut Batch, last: &mut std::collections::BTreeMap<String, i64>) {
    for (topic, number) in batch.topics.iter().zip(batch.numbers.iter_mut()) {
        if number.is_none() {
            let n = last.entry(topic.clone()).or_insert(0);
            *n += 1;
            *number = Some(*n);
        }
    }
}

/// Redis no longer has what was published (its count of rounds is `found`,
/// not Postgres's): queue again every published row that not every consumer
/// group had acknowledged, then tell Redis the count. The order matters: the
/// rows are queued (committed) before the marker is set, so a failure in
/// between only makes the next round find the loss again.
async fn recover(
    pool: &PgPool,
    redis: &mut ConnectionManager,
    marker: &str,
    found: &str,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.outbox'))")
        .execute(&mut *tx)
        .await?;
    let rounds: i64 = sqlx::query_scalar("SELECT rounds FROM outbox_relay")
        .fetch_one(&mut *tx)
        .await?;
    let queued = sqlx::query(
        "UPDATE outbox o SET published_at = NULL
           FROM outbox_topics t
          WHERE o.topic = t.topic AND o.published_at IS NOT NULL AND o.number > t.acknowledged",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE outbox_relay SET recovered = recovered + 1, requeued = requeued + $1")
        .bind(queued as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    redis::cmd("HSET")
        .arg(marker)
        .arg("rounds")
        .arg(rounds)
        .query_async::<()>(redis)
        .await?;
    tracing::error!(
        marker,
        redis_rounds = found,
        postgres_rounds = rounds,
        queued,
        "Redis lost published events (restart without persistence, failover or flush); \
         publishing again every event a consumer group had not acknowledged"
    );
    Ok(())
}

/// Runs the relay and its upkeep until `shutdown`, then drains what is
/// already committed.
pub fn spawn_relay(
    pool: PgPool,
    config: RelayConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    spawn_measured_relay(pool, config, RelayCounters::default(), shutdown)
}

/// As [`spawn_relay`], counting what it publishes and its failed rounds.
pub fn spawn_measured_relay(
    pool: PgPool,
    config: RelayConfig,
    counters: RelayCounters,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut redis = match relay_connection(&config.redis_url) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the Redis URL is unusable; events stay in the outbox");
                return;
            }
        };
        let mut failing = false;
        let mut last_upkeep: Option<tokio::time::Instant> = None;
        let mut writes = OUTBOX_WRITES.subscribe();
        // Quick rounds left after a wake, chasing the commit that follows.
        let mut chase = CHASE.len();
        let mut last_full: Option<tokio::time::Instant> = None;
        loop {
            let stopping = shutdown.is_cancelled();
            // A full round also tells whether Redis lost what it was given;
            // between those, a round runs only when something waits.
            let full_due =
                stopping || failing || last_full.is_none_or(|t| t.elapsed() >= FULL_ROUND_EVERY);
            let go = if full_due {
                Ok(true)
            } else {
                waiting(&pool).await
            };
            let round = match go {
                Ok(true) => {
                    last_full = Some(tokio::time::Instant::now());
                    relay_once(&pool, &mut redis, &config.stream_prefix, config.batch_size).await
                }
                Ok(false) => Ok(0),
                Err(e) => Err(e.into()),
            };
            match round {
                Ok(n) => {
                    counters.published.inc_by(n as u64);
                    if failing {
                        tracing::info!("event relay resumed");
                        failing = false;
                    }
                    if n as i64 == config.batch_size {
                        continue;
                    }
                    if n > 0 {
                        chase = CHASE.len();
                    }
                    if stopping {
                        return;
                    }
                }
                Err(e) => {
                    counters.failures.inc();
                    if !failing {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "event relay failed; events wait in the outbox"
                        );
                        failing = true;
                    }
                    if stopping {
                        return;
                    }
                }
            }
            if !failing && last_upkeep.is_none_or(|t| t.elapsed() >= config.retention.every) {
                last_upkeep = Some(tokio::time::Instant::now());
                if let Err(e) = upkeep::run(
                    &pool,
                    &mut redis,
                    &config.stream_prefix,
                    config.readers,
                    &config.retention,
                )
                .await
                {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "event upkeep failed; trying again later"
                    );
                }
            }
            let pause = if failing {
                Duration::from_secs(1)
            } else if let Some(quick) = CHASE.get(chase) {
                chase += 1;
                *quick
            } else {
                config.idle_poll
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
                woken = writes.changed(), if !failing => {
                    if woken.is_ok() {
                        // Written, not yet committed: no round can see it
                        // before the first pause.
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = tokio::time::sleep(CHASE[0]) => {}
                        }
                        chase = 1;
                    }
                }
            }
        }
    })
}

/// Where a schema's outbox stands, for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Rows waiting to be published.
    pub waiting: i64,
    /// Published rows still kept (replayable).
    pub published: i64,
    pub rounds: i64,
    /// Times Redis was found to have lost published events.
    pub recovered: i64,
    /// Events published again after those losses.
    pub requeued: i64,
    /// Per topic: the last number given, and the last every group acknowledged.
    pub topics: Vec<(String, i64, i64)>,
}

/// The outbox's status in this schema.
pub async fn status(pool: &PgPool) -> Result<OutboxStatus, sqlx::Error> {
    let (waiting, published): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE published_at IS NULL),
                count(*) FILTER (WHERE published_at IS NOT NULL)
           FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    let (rounds, recovered, requeued): (i64, i64, i64) =
        sqlx::query_as("SELECT rounds, recovered, requeued FROM outbox_relay")
            .fetch_one(pool)
            .await?;
    let topics =
        sqlx::query_as("SELECT topic, published, acknowledged FROM outbox_topics ORDER BY topic")
            .fetch_all(pool)
            .await?;
    Ok(OutboxStatus {
        waiting,
        published,
        rounds,
        recovered,
        requeued,
        topics,
    })
}
