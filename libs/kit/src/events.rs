//! Events with nothing lost: the transactional outbox, its relay to Redis
//! Streams, and consumer groups that apply each event once.
//!
//! - A service writes its event into `outbox` in the same transaction as the
//!   state change ([`enqueue`]); if the transaction rolls back, so does the event.
//! - The relay ([`relay_once`], [`spawn_relay`]) publishes unpublished rows in
//!   order and marks them published. Replicas take turns under a
//!   transaction-scoped advisory lock, so a row is never published by two at
//!   once and events keep their commit order. A crash between XADD and the
//!   commit publishes a row again: delivery is at least once.
//! - A consumer ([`Consumer`]) records each event id in `processed_events` in
//!   the same transaction as its effect and acknowledges only after commit, so
//!   redelivered events change nothing. Entries a crashed consumer left pending
//!   are reclaimed with XAUTOCLAIM; an entry that keeps failing is moved to a
//!   dead-letter stream rather than blocking the rest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use patron_proto::common::v1::EventEnvelope;
use prost::Message;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use sqlx::{PgConnection, PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::timestamp;

/// The tables the outbox and the consumers keep in a service's own schema.
/// Idempotent; run at start-up after the service's migrations.
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq           bigserial   PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    envelope      bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS processed_events (
    consumer_group  text        NOT NULL,
    event_id        uuid        NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);";

/// Creates the outbox tables if missing. Replicas starting together take
/// turns: concurrent `CREATE TABLE IF NOT EXISTS` can collide in Postgres.
pub async fn install(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.outbox-install'))")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(TABLES).execute(&mut *tx).await?;
    tx.commit().await
}

/// The Redis stream of `topic`: `<prefix>:events:<topic>`.
pub fn stream_key(prefix: &str, topic: &str) -> String {
    format!("{prefix}:events:{topic}")
}

/// Writes `event` to the outbox inside the caller's transaction.
pub async fn enqueue<M: Message + prost::Name>(
    tx: &mut PgConnection,
    topic: &str,
    customer: &str,
    event: &M,
    occurred_at: DateTime<Utc>,
) -> Result<Uuid, ServiceError> {
    let mut batch = EventBatch::default();
    let event_id = batch.push(topic, customer, event, occurred_at);
    batch.write(tx).await?;
    Ok(event_id)
}

/// Events gathered to go into the outbox together, in one statement and in
/// the order they were pushed (a batch of work publishes its events at once).
#[derive(Default)]
pub struct EventBatch {
    ids: Vec<Uuid>,
    topics: Vec<String>,
    envelopes: Vec<Vec<u8>>,
}

impl EventBatch {
    /// Adds an event; returns its id.
    pub fn push<M: Message + prost::Name>(
        &mut self,
        topic: &str,
        customer: &str,
        event: &M,
        occurred_at: DateTime<Utc>,
    ) -> Uuid {
        let event_id = Uuid::now_v7();
        let mut trace = http::HeaderMap::new();
        crate::telemetry::inject_current(&mut trace);
        let envelope = EventEnvelope {
            event_id: event_id.to_string(),
            event_type: M::full_name(),
            occurred_at: Some(timestamp::to_proto(occurred_at)),
            customer: customer.to_owned(),
            traceparent: trace
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            payload: event.encode_to_vec(),
        };
        self.ids.push(event_id);
        self.topics.push(topic.to_owned());
        self.envelopes.push(envelope.encode_to_vec());
        event_id
    }

    /// Writes the events to the outbox inside the caller's transaction.
    pub async fn write(self, tx: &mut PgConnection) -> Result<(), ServiceError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, envelope)
             SELECT id, topic, envelope
               FROM unnest($1::uuid[], $2::text[], $3::bytea[]) WITH ORDINALITY AS e(id, topic, envelope, n)
              ORDER BY n",
        )
        .bind(&self.ids)
        .bind(&self.topics)
        .bind(&self.envelopes)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub redis_url: String,
    /// First part of stream keys (the cache prefix, so tests stay apart).
    pub stream_prefix: String,
    /// Rows published per round.
    pub batch_size: i64,
    /// Pause when there was nothing to publish.
    pub idle_poll: Duration,
}

/// A Redis connection for publishing, with a response timeout so a hung
/// Redis fails a round instead of stalling it.
pub fn relay_connection(url: &str) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)
}

/// Publishes one batch; the number of rows published (0 when another relay
/// holds the turn or nothing waits). On a Redis failure nothing is marked.
pub async fn relay_once(
    pool: &PgPool,
    redis: &mut ConnectionManager,
    prefix: &str,
    batch_size: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    // One key per schema: services sharing a database relay independently.
    let my_turn: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox'))",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !my_turn {
        tx.rollback().await?;
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT seq, event_id, topic, envelope FROM outbox
          WHERE published_at IS NULL ORDER BY seq LIMIT $1",
    )
    .bind(batch_size)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    let mut seqs = Vec::with_capacity(rows.len());
    for row in &rows {
        let event_id: Uuid = row.try_get("event_id")?;
        let topic: String = row.try_get("topic")?;
        let envelope: Vec<u8> = row.try_get("envelope")?;
        seqs.push(row.try_get::<i64, _>("seq")?);
        pipe.xadd(
            stream_key(prefix, &topic),
            "*",
            &[
                ("event_id", event_id.to_string().into_bytes()),
                ("envelope", envelope),
            ],
        )
        .ignore();
    }
    pipe.query_async::<()>(redis).await?;
    sqlx::query("UPDATE outbox SET published_at = now() WHERE seq = ANY($1)")
        .bind(&seqs)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(seqs.len())
}

/// Runs the relay until `shutdown`, then drains what is already committed.
pub fn spawn_relay(
    pool: PgPool,
    config: RelayConfig,
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
        loop {
            let stopping = shutdown.is_cancelled();
            match relay_once(&pool, &mut redis, &config.stream_prefix, config.batch_size).await {
                Ok(n) => {
                    if failing {
                        tracing::info!("event relay resumed");
                        failing = false;
                    }
                    if n as i64 == config.batch_size {
                        continue;
                    }
                    if stopping {
                        return;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "event relay failed; events wait in the outbox");
                        failing = true;
                    }
                    if stopping {
                        return;
                    }
                }
            }
            let pause = if failing {
                Duration::from_secs(1)
            } else {
                config.idle_poll
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    })
}

/// Applies events inside the consumer's transaction: `handle` for each
/// event of a transaction, one after another, then `finish` once before it
/// commits, or `abandon` when it is rolled back instead. The consumer calls
/// them for one transaction at a time.
pub trait EventHandler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Work a transaction's events share, done once for all of them (say,
    /// re-deciding each customer they touched once). Nothing by default.
    fn finish<'a>(&'a self, _tx: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The transaction is rolled back instead: forget what was gathered for
    /// `finish`. Nothing by default.
    fn abandon(&self) {}
}

/// How a consumer reads.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub redis_url: String,
    pub stream_prefix: String,
    /// The consumer group: one per consuming service.
    pub group: String,
    /// Stable per process (pod name), so a restarted consumer finds its own
    /// pending entries.
    pub consumer: String,
    pub topics: Vec<String>,
    pub batch_size: usize,
    pub block: Duration,
    /// Entries pending this long with another consumer are taken over.
    pub claim_idle: Duration,
    /// Deliveries after which an entry goes to the dead-letter stream.
    pub max_deliveries: usize,
}

/// A consumer-group reader applying events through an [`EventHandler`].
pub struct Consumer {
    config: ConsumerConfig,
    pool: PgPool,
    handler: Arc<dyn EventHandler>,
    redis: MultiplexedConnection,
}

/// What happened to one stream entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Seen before (a redelivery); acknowledged without effect.
    Duplicate,
    /// The handler failed; left pending to be retried.
    Failed,
    /// Undecodable or failing too often; moved to the dead-letter stream.
    DeadLettered,
}

impl Consumer {
    /// Connects (a connection of its own, without a response timeout, since
    /// XREADGROUP BLOCK waits on purpose) and creates the groups.
    pub async fn connect(
        config: ConsumerConfig,
        pool: PgPool,
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let redis = client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_response_timeout(None)
                    .set_connection_timeout(Some(Duration::from_secs(2))),
            )
            .await?;
        let mut consumer = Self {
            config,
            pool,
            handler,
            redis,
        };
        for key in consumer.keys() {
            let created: redis::RedisResult<()> = consumer
                .redis
                .xgroup_create_mkstream(&key, &consumer.config.group, "0")
                .await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                return Err(e.into());
            }
        }
        Ok(consumer)
    }

    fn keys(&self) -> Vec<String> {
        self.config
            .topics
            .iter()
            .map(|t| stream_key(&self.config.stream_prefix, t))
            .collect()
    }

    /// Reads and applies until `shutdown`: first this consumer's own pending
    /// entries (left by a crash), then new ones, reclaiming idle entries of
    /// other consumers every few seconds.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // A full batch means more may be pending; entries that keep failing
        // are dead-lettered after `max_deliveries`, so this ends.
        while self.poll("0").await? >= self.config.batch_size {}
        let mut last_claim = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            if last_claim.elapsed() >= self.config.claim_idle {
                self.reclaim().await?;
                last_claim = tokio::time::Instant::now();
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                read = self.poll(">") => { read?; }
            }
        }
        Ok(())
    }

    /// One XREADGROUP from `id` (`>` new entries, `0` own pending); the
    /// number of entries read.
    pub async fn poll(&mut self, id: &str) -> anyhow::Result<usize> {
        let keys = self.keys();
        let ids = vec![id; keys.len()];
        let mut options = StreamReadOptions::default()
            .group(&self.config.group, &self.config.consumer)
            .count(self.config.batch_size);
        if id == ">" {
            options = options.block(self.config.block.as_millis() as usize);
        }
        let reply: Option<StreamReadReply> =
            self.redis.xread_options(&keys, &ids, &options).await?;
        let mut read = 0;
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            read += stream.ids.len();
            self.apply_batch(&stream.key, &stream.ids).await?;
        }
        Ok(read)
    }

    /// Applies a batch read from one stream in one transaction, with one
    /// commit and one acknowledgement, when every entry applies; otherwise
    /// one entry at a time, so a bad entry holds up none of the others.
    pub async fn apply_batch(&mut self, key: &str, entries: &[StreamId]) -> anyhow::Result<()> {
        let decoded: Option<Vec<(EventEnvelope, Uuid)>> = entries
            .iter()
            .map(|entry| {
                let envelope = entry_envelope(&entry.map)?;
                let id = Uuid::parse_str(&envelope.event_id).ok()?;
                Some((envelope, id))
            })
            .collect();
        let Some(decoded) = decoded.filter(|d| d.len() > 1) else {
            return self.apply_each(key, entries).await;
        };
        let mut tx = self.pool.begin().await?;
        for (envelope, event_id) in &decoded {
            let first_time = first_time(&mut tx, &self.config.group, *event_id).await?;
            if first_time && let Err(e) = self.handler.handle(&mut tx, envelope).await {
                tracing::debug!(error = format!("{e:#}"), event = %event_id, "batch failed; applying its entries one by one");
                self.handler.abandon();
                tx.rollback().await?;
                return self.apply_each(key, entries).await;
            }
        }
        if let Err(e) = self.handler.finish(&mut tx).await {
            tracing::debug!(
                error = format!("{e:#}"),
                "batch failed to finish; applying its entries one by one"
            );
            self.handler.abandon();
            tx.rollback().await?;
            return self.apply_each(key, entries).await;
        }
        tx.commit().await?;
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let _: () = self.redis.xack(key, &self.config.group, &ids).await?;
        Ok(())
    }

    async fn apply_each(&mut self, key: &str, entries: &[StreamId]) -> anyhow::Result<()> {
        for entry in entries {
            self.apply(key, entry).await?;
        }
        Ok(())
    }

    /// Takes over entries idle longer than `claim_idle` with any consumer.
    pub async fn reclaim(&mut self) -> anyhow::Result<usize> {
        let mut claimed_total = 0;
        for key in self.keys() {
            let mut cursor = "0-0".to_string();
            loop {
                let reply: redis::streams::StreamAutoClaimReply = self
                    .redis
                    .xautoclaim_options(
                        &key,
                        &self.config.group,
                        &self.config.consumer,
                        self.config.claim_idle.as_millis() as u64,
                        &cursor,
                        StreamAutoClaimOptions::default().count(self.config.batch_size),
                    )
                    .await?;
                claimed_total += reply.claimed.len();
                self.apply_batch(&key, &reply.claimed).await?;
                // Ids deleted from the stream while pending cannot be applied.
                for gone in &reply.deleted_ids {
                    let _: redis::RedisResult<()> =
                        self.redis.xack(&key, &self.config.group, &[gone]).await;
                }
                if reply.next_stream_id == "0-0" {
                    break;
                }
                cursor = reply.next_stream_id;
            }
        }
        Ok(claimed_total)
    }

    async fn deliveries(&mut self, key: &str, id: &str) -> usize {
        let reply: redis::RedisResult<redis::streams::StreamPendingCountReply> = self
            .redis
            .xpending_count(key, &self.config.group, id, id, 1)
            .await;
        reply
            .ok()
            .and_then(|r| r.ids.first().map(|p| p.times_delivered))
            .unwrap_or(1)
    }

    /// Applies one entry once, then acknowledges it.
    pub async fn apply(&mut self, key: &str, entry: &StreamId) -> anyhow::Result<Outcome> {
        let envelope = entry_envelope(&entry.map);
        let Some(envelope) = envelope else {
            self.dead_letter(key, entry, "the entry holds no decodable envelope")
                .await?;
            return Ok(Outcome::DeadLettered);
        };
        if self.deliveries(key, &entry.id).await > self.config.max_deliveries {
            self.dead_letter(key, entry, "failed too many times")
                .await?;
            return Ok(Outcome::DeadLettered);
        }
        let Ok(event_id) = Uuid::parse_str(&envelope.event_id) else {
            self.dead_letter(key, entry, "the event id is not a UUID")
                .await?;
            return Ok(Outcome::DeadLettered);
        };

        let mut tx = self.pool.begin().await?;
        let first_time = first_time(&mut tx, &self.config.group, event_id).await?;
        let outcome = if first_time {
            let applied = match self.handler.handle(&mut tx, &envelope).await {
                Ok(()) => self.handler.finish(&mut tx).await,
                failed => failed,
            };
            match applied {
                Ok(()) => Outcome::Applied,
                Err(e) => {
                    self.handler.abandon();
                    tracing::warn!(error = format!("{e:#}"), event = %event_id, kind = %envelope.event_type, "event handler failed; will retry");
                    tx.rollback().await?;
                    return Ok(Outcome::Failed);
                }
            }
        } else {
            Outcome::Duplicate
        };
        tx.commit().await?;
        let _: () = self
            .redis
            .xack(key, &self.config.group, &[&entry.id])
            .await?;
        Ok(outcome)
    }

    async fn dead_letter(
        &mut self,
        key: &str,
        entry: &StreamId,
        reason: &str,
    ) -> anyhow::Result<()> {
        tracing::error!(stream = key, entry = %entry.id, reason, "moving an event to the dead-letter stream");
        let mut fields: Vec<(String, Vec<u8>)> = entry
            .map
            .iter()
            .filter_map(|(k, v)| match v {
                redis::Value::BulkString(b) => Some((k.clone(), b.clone())),
                _ => None,
            })
            .collect();
        fields.push(("dead_reason".into(), reason.as_bytes().to_vec()));
        fields.push(("source_entry".into(), entry.id.as_bytes().to_vec()));
        let _: String = self.redis.xadd(format!("{key}:dead"), "*", &fields).await?;
        let _: () = self
            .redis
            .xack(key, &self.config.group, &[&entry.id])
            .await?;
        Ok(())
    }
}

/// Records that `group` processed `event_id` in the consumer's transaction;
/// false when it already had (a redelivery).
async fn first_time(tx: &mut PgConnection, group: &str, event_id: Uuid) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO processed_events (consumer_group, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(group)
    .bind(event_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1)
}

fn entry_envelope(map: &HashMap<String, redis::Value>) -> Option<EventEnvelope> {
    match map.get("envelope")? {
        redis::Value::BulkString(bytes) => EventEnvelope::decode(bytes.as_slice()).ok(),
        _ => None,
    }
}

/// Decodes an envelope's payload as `M`, checking the type matches.
pub fn payload<M: Message + prost::Name + Default>(envelope: &EventEnvelope) -> Option<M> {
    (envelope.event_type == M::full_name())
        .then(|| M::decode(envelope.payload.as_slice()).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys() {
        assert_eq!(
            stream_key("patron", "profile.customers"),
            "patron:events:profile.customers"
        );
    }

    #[test]
    fn payload_checks_the_type() {
        let created = patron_proto::profile::v1::CustomerCreated {
            customer: "customers/1".into(),
            ..Default::default()
        };
        let envelope = EventEnvelope {
            event_type: "patron.profile.v1.CustomerCreated".into(),
            payload: created.encode_to_vec(),
            ..Default::default()
        };
        assert_eq!(
            payload::<patron_proto::profile::v1::CustomerCreated>(&envelope),
            Some(created)
        );
        assert_eq!(
            payload::<patron_proto::profile::v1::CustomerDeleted>(&envelope),
            None
        );
    }
}
