//! Events with nothing lost: the transactional outbox, its relay to Redis
//! Streams, and consumer groups that apply each event once.
//!
//! PostgreSQL is the record; the stream is only the way there.
//! - A service writes its event into `outbox` in the same transaction as the
//!   state change ([`enqueue`]); if the transaction rolls back, so does the event.
//! - The relay ([`relay::relay_once`], [`relay::spawn_relay`]) publishes rows
//!   in order, giving each a number per topic with no gaps. Replicas take turns
//!   under a transaction-scoped advisory lock. Every publication checks, in the
//!   same Redis script, that Redis still holds what was published before (a
//!   marker counting the relay's rounds); when it does not (a restart without
//!   persistence, a failover to a replica that had not caught up, a flush), the
//!   relay publishes again every row the consumer groups had not acknowledged.
//! - The relay's upkeep ([`upkeep`]) trims each stream to what every group has
//!   acknowledged, and forgets published rows, processed-event records,
//!   idempotency keys and dead letters after their retention windows.
//! - A consumer ([`consumer::Consumer`]) records each event in
//!   `processed_events` in the same transaction as its effect and acknowledges
//!   only after commit, so redelivered events change nothing. It counts the
//!   handler's failures in Postgres (an outage of the database or Redis is not
//!   the event's fault: it backs off instead) and sets an event that keeps
//!   failing aside in `dead_letters`, to be listed and replayed
//!   ([`dead_letters`]). The numbers it has seen tell it whether it missed any
//!   ([`dead_letters::missing`]).

pub mod consumer;
pub mod dead_letters;
pub mod relay;
pub mod upkeep;

use std::time::Duration;

use chrono::{DateTime, Utc};
use patron_proto::common::v1::EventEnvelope;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use patron_proto::readers::{self, Reader};
pub use patron_proto::{Event, Topic, topics};

pub use consumer::{
    Consumer, ConsumerConfig, EventHandler, Outcome, spawn_consumer, spawn_measured_consumer,
};
pub use relay::{RelayConfig, relay_connection, relay_once, spawn_measured_relay, spawn_relay};

use crate::config::{self, ConfigError};
use crate::error::ServiceError;
use crate::timestamp;

/// The tables the outbox and the consumers keep in a service's own schema.
/// Idempotent (and adds what later versions added); run at start-up after
/// the service's migrations.
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq           bigserial   PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    envelope      bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
-- The event's number within its topic, given when first published.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS number bigint;
CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_topic_number_idx ON outbox (topic, number);
CREATE INDEX IF NOT EXISTS outbox_created_idx ON outbox (created_at);
-- Per topic: the last number given, and the last that every consumer group
-- had acknowledged when the relay last looked (what need not be sent again).
CREATE TABLE IF NOT EXISTS outbox_topics (
    topic         text   PRIMARY KEY,
    published     bigint NOT NULL DEFAULT 0,
    acknowledged  bigint NOT NULL DEFAULT 0
);
-- The relay's rounds; Redis keeps the same count beside the streams, so a
-- Redis that lost data is told apart from one that did not.
CREATE TABLE IF NOT EXISTS outbox_relay (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    rounds     bigint  NOT NULL DEFAULT 0,
    recovered  bigint  NOT NULL DEFAULT 0,
    requeued   bigint  NOT NULL DEFAULT 0
);
INSERT INTO outbox_relay (one) VALUES (true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS processed_events (
    consumer_group  text        NOT NULL,
    event_id        uuid        NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
ALTER TABLE processed_events ADD COLUMN IF NOT EXISTS topic text;
ALTER TABLE processed_events ADD COLUMN IF NOT EXISTS number bigint;
CREATE INDEX IF NOT EXISTS processed_events_numbers_idx
    ON processed_events (consumer_group, topic, number);
CREATE INDEX IF NOT EXISTS processed_events_age_idx ON processed_events (processed_at);
-- Request ids of creates already applied (AIP-155, `crate::idempotency`),
-- so any service's creates can be retried; profile's migration made the
-- same table before the kit kept it.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope        text        NOT NULL,
    request_id   uuid        NOT NULL,
    fingerprint  bytea       NOT NULL,
    resource_id  uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, request_id)
);
-- How often a consumer's handler failed on an event (not deliveries: an
-- outage re-delivers without the handler being at fault).
CREATE TABLE IF NOT EXISTS event_failures (
    consumer_group  text        NOT NULL,
    event_id        uuid        NOT NULL,
    failures        integer     NOT NULL,
    last_error      text        NOT NULL,
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id              bigserial   PRIMARY KEY,
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    event_id        uuid,
    number          bigint,
    envelope        bytea       NOT NULL,
    reason          text        NOT NULL,
    dead_at         timestamptz NOT NULL DEFAULT now(),
    replayed_at     timestamptz
);
CREATE INDEX IF NOT EXISTS dead_letters_waiting_idx
    ON dead_letters (consumer_group, id) WHERE replayed_at IS NULL;";

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

/// The topic of a stream key made by [`stream_key`].
pub fn topic_of<'a>(prefix: &str, key: &'a str) -> &'a str {
    key.strip_prefix(prefix)
        .and_then(|k| k.strip_prefix(":events:"))
        .unwrap_or(key)
}

/// Where events travel and how long what they leave behind is kept.
#[derive(Clone)]
pub struct EventsConfig {
    /// The Redis holding the streams. It needs persistence (AOF) and
    /// `maxmemory-policy noeviction`; it may be another deployment than the
    /// cache's, which can evict freely.
    pub redis_url: String,
    /// First part of stream keys (tests use their own so they stay apart).
    pub stream_prefix: String,
    pub retention: Retention,
    /// How long an entry may sit unacknowledged with one consumer before
    /// another of its group takes it over (a replica stopped or frozen).
    pub claim_idle: Duration,
}

/// The default of [`EventsConfig::claim_idle`]: long enough that a slow
/// batch is not applied twice in parallel, short enough that a dead replica's
/// entries wait half a minute at most.
pub const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsConfig")
            .field("redis_url", &config::RedactedUrl(&self.redis_url))
            .field("stream_prefix", &self.stream_prefix)
            .field("retention", &self.retention)
            .field("claim_idle", &self.claim_idle)
            .finish()
    }
}

/// How long what the events leave behind is kept.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Published outbox rows: also how far back an operator can replay, and
    /// how long a consumer may lag and still be made whole after Redis lost
    /// its data.
    pub outbox: Duration,
    /// Processed-event records, which make redeliveries harmless; longer
    /// than `outbox`, so anything that can be published again is still known.
    pub processed: Duration,
    /// Idempotency keys of creates: how long a retry is recognised.
    pub idempotency: Duration,
    /// Dead letters, replayed or not.
    pub dead_letters: Duration,
    /// How often the upkeep runs.
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        Self {
            outbox: 7 * DAY,
            processed: 14 * DAY,
            idempotency: 7 * DAY,
            dead_letters: 30 * DAY,
            every: Duration::from_secs(60),
        }
    }
}

impl EventsConfig {
    /// `PATRON_EVENTS_REDIS_URL` (else the cache's `PATRON_REDIS_URL`),
    /// `PATRON_CACHE_PREFIX`, `PATRON_EVENTS_CLAIM_IDLE_MS` and
    /// `PATRON_RETENTION_{OUTBOX,PROCESSED,IDEMPOTENCY,DEAD_LETTERS}_DAYS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let redis_url = config::env_opt("PATRON_EVENTS_REDIS_URL")
            .unwrap_or_else(|| config::env_or("PATRON_REDIS_URL", "redis://127.0.0.1:6379"));
        let defaults = Retention::default();
        let days = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            config::env_parse(name, default.as_secs() / 86_400)
                .map(|d| Duration::from_secs(d * 86_400))
        };
        let retention = Retention {
            outbox: days("PATRON_RETENTION_OUTBOX_DAYS", defaults.outbox)?,
            processed: days("PATRON_RETENTION_PROCESSED_DAYS", defaults.processed)?,
            idempotency: days("PATRON_RETENTION_IDEMPOTENCY_DAYS", defaults.idempotency)?,
            dead_letters: days("PATRON_RETENTION_DEAD_LETTERS_DAYS", defaults.dead_letters)?,
            every: defaults.every,
        };
        if retention.processed <= retention.outbox {
            return Err(ConfigError {
                name: "PATRON_RETENTION_PROCESSED_DAYS".into(),
                reason: "must be longer than PATRON_RETENTION_OUTBOX_DAYS: an event that can be \
                         published again must still be known to its consumers"
                    .into(),
            });
        }
        let claim_idle = config::env_millis("PATRON_EVENTS_CLAIM_IDLE_MS", DEFAULT_CLAIM_IDLE)?;
        if claim_idle.is_zero() {
            return Err(ConfigError {
                name: "PATRON_EVENTS_CLAIM_IDLE_MS".into(),
                reason: "must be above 0: every pending entry would be taken over at once".into(),
            });
        }
        Ok(Self {
            redis_url,
            stream_prefix: config::env_or("PATRON_CACHE_PREFIX", "patron"),
            retention,
            claim_idle,
        })
    }
}

/// Writes `event` to the outbox, on the topic the contract gives it, inside
/// the caller's transaction.
pub async fn enqueue<M: Event>(
    tx: &mut PgConnection,
    customer: &str,
    event: &M,
    occurred_at: DateTime<Utc>,
) -> Result<Uuid, ServiceError> {
    let mut batch = EventBatch::default();
    let event_id = batch.push(customer, event, occurred_at);
    batch.write(tx).await?;
    Ok(event_id)
}

/// The W3C `traceparent` of the current span; empty when it is not traced.
pub fn current_traceparent() -> String {
    crate::telemetry::traceparent_of(&tracing::Span::current())
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
    /// Adds an event (to its contract's topic), in the current span's trace;
    /// returns its id.
    pub fn push<M: Event>(
        &mut self,
        customer: &str,
        event: &M,
        occurred_at: DateTime<Utc>,
    ) -> Uuid {
        self.push_traced(customer, event, occurred_at, current_traceparent())
    }

    /// Adds an event in the trace of `traceparent`, for work done away from
    /// the request that asked for it (a group writer, say): capture it with
    /// [`current_traceparent`] where the request is handled.
    pub fn push_traced<M: Event>(
        &mut self,
        customer: &str,
        event: &M,
        occurred_at: DateTime<Utc>,
        traceparent: String,
    ) -> Uuid {
        let event_id = Uuid::now_v7();
        let envelope = EventEnvelope {
            event_id: event_id.to_string(),
            event_type: M::full_name(),
            occurred_at: Some(timestamp::to_proto(occurred_at)),
            customer: customer.to_owned(),
            traceparent,
            payload: event.encode_to_vec(),
        };
        self.ids.push(event_id);
        self.topics.push(M::TOPIC.name().to_owned());
        self.envelopes.push(envelope.encode_to_vec());
        event_id
    }

    /// Writes the events to the outbox inside the caller's transaction.
    pub async fn write(self, tx: &mut PgConnection) -> Result<(), ServiceError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let mut q = sqlx::QueryBuilder::new("");
        self.push_write(&mut q);
        q.build().execute(&mut *tx).await?;
        Ok(())
    }

    /// Pushes the statement that writes the events to the outbox onto `q`,
    /// for a caller that writes its own rows and its events in one round
    /// trip: wrap it in a `WITH name AS (…)` of the caller's statement
    /// (PostgreSQL runs every data-modifying `WITH` part once, whether or
    /// not the rest refers to it). The caller runs the statement inside its
    /// transaction; this process's relays are told to look.
    pub fn push_write(self, q: &mut sqlx::QueryBuilder<sqlx::Postgres>) {
        self.push_write_if(q, "true");
    }

    /// As [`push_write`](Self::push_write), writing the events only when
    /// `condition` (an SQL boolean the statement decides, such as
    /// `EXISTS (SELECT 1 FROM inserted)`) holds: a write that may turn out to
    /// be a retry of one already applied publishes nothing then.
    pub fn push_write_if(self, q: &mut sqlx::QueryBuilder<sqlx::Postgres>, condition: &str) {
        self.push_insert(q, None, condition);
    }

    /// As [`push_write`](Self::push_write) for a statement that writes many
    /// rows at once, some of which may turn out to be retries: `keys` holds
    /// one key per event, in the order they were pushed (the row it is the
    /// event of), and an event is written only when its key is among those
    /// `written_keys` (an SQL query of one text column, such as
    /// `SELECT external_id FROM inserted`) returns.
    pub fn push_write_for_keys(
        self,
        q: &mut sqlx::QueryBuilder<sqlx::Postgres>,
        keys: Vec<String>,
        written_keys: &str,
    ) {
        debug_assert_eq!(keys.len(), self.ids.len(), "one key per event");
        self.push_insert(q, Some(keys), &format!("e.key IN ({written_keys})"));
    }

    /// The outbox insert, its rows `e` (with `e.key` when `keys` are given)
    /// filtered by `condition`.
    fn push_insert(
        self,
        q: &mut sqlx::QueryBuilder<sqlx::Postgres>,
        keys: Option<Vec<String>>,
        condition: &str,
    ) {
        q.push(
            "INSERT INTO outbox (event_id, topic, envelope)
             SELECT id, topic, envelope FROM unnest(",
        );
        let alias = match keys {
            Some(keys) => {
                q.push_bind(keys);
                q.push("::text[], ");
                "e(key, id, topic, envelope, n)"
            }
            None => "e(id, topic, envelope, n)",
        };
        q.push_bind(self.ids);
        q.push("::uuid[], ");
        q.push_bind(self.topics);
        q.push("::text[], ");
        q.push_bind(self.envelopes);
        q.push("::bytea[]) WITH ORDINALITY AS ");
        q.push(alias);
        q.push(" WHERE ");
        q.push(condition);
        q.push(" ORDER BY n");
        relay::outbox_written();
    }
}

/// Decodes an envelope's payload as `M`, checking the type matches.
pub fn payload<M: Message + prost::Name + Default>(envelope: &EventEnvelope) -> Option<M> {
    (envelope.event_type == M::full_name())
        .then(|| M::decode(envelope.payload.as_slice()).ok())
        .flatten()
}

/// Publishes again, from the outbox, every event of this schema created at or
/// after `since` that is still kept: consumers apply those they have not
/// seen (a new group, or one whose effects were lost) and skip the rest. The
/// number of events queued.
pub async fn replay_since(pool: &PgPool, since: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE outbox SET published_at = NULL WHERE created_at >= $1 AND published_at IS NOT NULL",
    )
    .bind(since)
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_name_their_topic() {
        let key = stream_key("patron", "profile.customers");
        assert_eq!(key, "patron:events:profile.customers");
        assert_eq!(topic_of("patron", &key), "profile.customers");
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

    #[test]
    fn configurations_never_show_a_redis_password() {
        let events = EventsConfig {
            redis_url: "redis://:hunter2@events:6379".into(),
            stream_prefix: "patron".into(),
            retention: Retention::default(),
            claim_idle: DEFAULT_CLAIM_IDLE,
        };
        let cache = crate::cache::CacheConfig {
            url: "redis://user:hunter2@cache:6379/0".into(),
            key_prefix: "patron".into(),
            ttl: std::time::Duration::from_secs(1),
            op_timeout: std::time::Duration::from_secs(1),
            local_copies: true,
        };
        for shown in [format!("{events:?}"), format!("{cache:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("6379"), "{shown}");
        }
    }

    #[test]
    fn processed_events_outlive_the_outbox_by_default() {
        let r = Retention::default();
        assert!(r.processed > r.outbox);
    }
}
