//! Consumer groups that apply each event once, count what is the event's
//! fault apart from what is the infrastructure's, and restart themselves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use patron_proto::common::v1::EventEnvelope;
use prost::Message;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{dead_letters, stream_key, topic_of};
use crate::metrics::EventOutcomes;
use crate::telemetry;

/// Applies events inside the consumer's transaction. For each transaction
/// the consumer makes a fresh [`Batch`](Self::Batch) with `begin`, calls
/// `handle` for each of its events, one after another, then `finish` once
/// before it commits. What a batch gathers lives in that value, not on the
/// shared handler: when the transaction is rolled back instead, the batch is
/// dropped with it and nothing it gathered can leak into the next one.
pub trait EventHandler: Send + Sync + 'static {
    /// What one transaction's events gather for `finish`; `()` for none.
    type Batch: Send;

    /// A new, empty batch for one transaction.
    fn begin(&self) -> Self::Batch;

    fn handle<'a>(
        &'a self,
        batch: &'a mut Self::Batch,
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Work a transaction's events share, done once for all of them (say,
    /// re-deciding each customer they touched once). Nothing by default.
    fn finish<'a>(
        &'a self,
        _batch: Self::Batch,
        _tx: &'a mut PgConnection,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// How a consumer reads.
#[derive(Clone)]
pub struct ConsumerConfig {
    pub redis_url: String,
    pub stream_prefix: String,
    /// The consumer group: one per consuming service.
    pub group: String,
    /// Stable per process (pod name), so a restarted consumer finds its own
    /// pending entries.
    pub consumer: String,
    /// The contract's topics to read (`patron_proto::topics`).
    pub topics: Vec<patron_proto::Topic>,
    pub batch_size: usize,
    pub block: Duration,
    /// Entries pending this long with another consumer are taken over.
    pub claim_idle: Duration,
    /// Failures of the handler itself after which an event is set aside as
    /// a dead letter. Outages of Postgres or Redis do not count.
    pub max_failures: i32,
}

impl ConsumerConfig {
    /// A service's consumer, as the contract's `reader` (its group and
    /// topics), on `events`' Redis, with the pace every service reads at:
    /// batches of 200, 500 ms blocking reads, entries idle `events.claim_idle`
    /// (30 s by default) taken over, 10 handler failures to a dead letter.
    pub fn for_service(
        events: &super::EventsConfig,
        reader: patron_proto::readers::Reader,
        consumer: &str,
    ) -> Self {
        Self {
            redis_url: events.redis_url.clone(),
            stream_prefix: events.stream_prefix.clone(),
            group: reader.group.to_owned(),
            consumer: consumer.to_owned(),
            topics: reader.topics.to_vec(),
            batch_size: 200,
            block: Duration::from_millis(500),
            claim_idle: events.claim_idle,
            max_failures: 10,
        }
    }
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("redis_url", &crate::config::RedactedUrl(&self.redis_url))
            .field("stream_prefix", &self.stream_prefix)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

/// A consumer-group reader applying events through an [`EventHandler`].
pub struct Consumer<H> {
    config: ConsumerConfig,
    pool: PgPool,
    handler: Arc<H>,
    redis: MultiplexedConnection,
    outcomes: EventOutcomes,
}

/// What happened to one stream entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Seen before (a redelivery); acknowledged without effect.
    Duplicate,
    /// The handler failed; left pending to be retried.
    Failed,
    /// Undecodable or failing too often; set aside in `dead_letters`.
    DeadLettered,
}

/// An event read from a stream entry (or a dead letter).
pub(super) struct Delivered {
    pub(super) envelope: EventEnvelope,
    pub(super) event_id: Uuid,
    pub(super) number: Option<i64>,
}

impl<H: EventHandler> Consumer<H> {
    /// Connects and creates the groups (at the start of each stream, so a new
    /// group reads everything still kept). The connection's response timeout
    /// is longer than a blocking read, so a half-open connection fails the
    /// consumer instead of stopping it in silence.
    pub async fn connect(
        config: ConsumerConfig,
        pool: PgPool,
        handler: Arc<H>,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let redis = client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(config.block + Duration::from_secs(5)))
                    .set_connection_timeout(Some(Duration::from_secs(2))),
            )
            .await?;
        let mut consumer = Self {
            config,
            pool,
            handler,
            redis,
            outcomes: EventOutcomes::default(),
        };
        consumer.create_groups().await?;
        Ok(consumer)
    }

    /// Counts each event's outcome in `outcomes`.
    pub fn measured(mut self, outcomes: EventOutcomes) -> Self {
        self.outcomes = outcomes;
        self
    }

    async fn create_groups(&mut self) -> anyhow::Result<()> {
        for key in self.keys() {
            let created: redis::RedisResult<()> = self
                .redis
                .xgroup_create_mkstream(&key, &self.config.group, "0")
                .await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn keys(&self) -> Vec<String> {
        self.config
            .topics
            .iter()
            .map(|t| stream_key(&self.config.stream_prefix, t.name()))
            .collect()
    }

    /// Reads and applies until `shutdown`: first this consumer's own pending
    /// entries (left by a crash), then new ones, reclaiming idle entries of
    /// other consumers every few seconds. Returns an error when Redis or
    /// Postgres fails; [`spawn_consumer`] then starts again after a pause.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // A full batch means more may be pending; entries that keep failing
        // are dead-lettered after `max_failures`, so this ends.
        while self.poll("0").await? >= self.config.batch_size {}
        let mut last_claim = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            if last_claim.elapsed() >= self.config.claim_idle {
                self.reclaim().await?;
                last_claim = tokio::time::Instant::now();
            }
            // A stop ends the blocking read only, never a batch being
            // applied: its commit and acknowledgement both happen, or
            // (on a failure) neither, and it is read again after a restart.
            let reply = tokio::select! {
                _ = shutdown.cancelled() => break,
                reply = self.read(">") => reply?,
            };
            self.apply_reply(reply).await?;
        }
        Ok(())
    }

    /// One XREADGROUP from `id` (`>` new entries, `0` own pending); the
    /// number of entries read. A missing group means Redis lost its data: the
    /// groups are made again at the start of the (re-filled) streams.
    pub async fn poll(&mut self, id: &str) -> anyhow::Result<usize> {
        let reply = self.read(id).await?;
        self.apply_reply(reply).await
    }

    /// One XREADGROUP from `id`, without applying what it read.
    async fn read(&mut self, id: &str) -> anyhow::Result<Option<StreamReadReply>> {
        let keys = self.keys();
        let ids = vec![id; keys.len()];
        let mut options = StreamReadOptions::default()
            .group(&self.config.group, &self.config.consumer)
            .count(self.config.batch_size);
        if id == ">" {
            options = options.block(self.config.block.as_millis() as usize);
        }
        let reply: Option<StreamReadReply> = match self
            .redis
            .xread_options(&keys, &ids, &options)
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::error!(
                    group = %self.config.group,
                    "the consumer group is gone: Redis lost its data. Making it again at the start \
                     of each stream; the producers publish again what was not acknowledged"
                );
                self.create_groups().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(reply)
    }

    /// Applies what one read returned; the number of entries.
    async fn apply_reply(&mut self, reply: Option<StreamReadReply>) -> anyhow::Result<usize> {
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
        let decoded: Option<Vec<Delivered>> = entries.iter().map(delivered).collect();
        let Some(decoded) = decoded.filter(|d| d.len() > 1) else {
            return self.apply_each(key, entries).await;
        };
        let topic = topic_of(&self.config.stream_prefix, key).to_owned();
        let mut tx = self.pool.begin().await?;
        let applied = apply_events(
            &mut tx,
            self.handler.as_ref(),
            &self.config.group,
            &topic,
            &decoded,
        )
        .await;
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) => {
                tx.rollback().await?;
                if is_infrastructure(&e) {
                    return Err(e.context("applying a batch of events"));
                }
                tracing::debug!(
                    error = format!("{e:#}"),
                    "batch failed; applying its entries one by one"
                );
                return self.apply_each(key, entries).await;
            }
        };
        tx.commit().await?;
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let _: () = self.redis.xack(key, &self.config.group, &ids).await?;
        self.outcomes.applied.inc_by(applied as u64);
        self.outcomes
            .duplicate
            .inc_by(decoded.len().saturating_sub(applied) as u64);
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

    /// Applies one entry once, then acknowledges it. The handler's failures
    /// are counted; an infrastructure failure is returned as an error instead
    /// (the entry stays pending and the consumer backs off).
    pub async fn apply(&mut self, key: &str, entry: &StreamId) -> anyhow::Result<Outcome> {
        let outcome = self.apply_entry(key, entry).await?;
        match outcome {
            Outcome::Applied => &self.outcomes.applied,
            Outcome::Duplicate => &self.outcomes.duplicate,
            Outcome::Failed => &self.outcomes.failed,
            Outcome::DeadLettered => &self.outcomes.dead_lettered,
        }
        .inc();
        Ok(outcome)
    }

    async fn apply_entry(&mut self, key: &str, entry: &StreamId) -> anyhow::Result<Outcome> {
        let topic = topic_of(&self.config.stream_prefix, key).to_owned();
        let Some(event) = delivered(entry) else {
            let raw = match entry.map.get("envelope") {
                Some(redis::Value::BulkString(b)) => b.clone(),
                _ => Vec::new(),
            };
            dead_letters::set_aside_raw(
                &self.pool,
                &self.config.group,
                &topic,
                &raw,
                "the entry holds no decodable envelope with a UUID event id",
            )
            .await?;
            self.ack(key, entry).await?;
            return Ok(Outcome::DeadLettered);
        };
        let failures =
            dead_letters::failures(&self.pool, &self.config.group, event.event_id).await?;
        if failures >= self.config.max_failures {
            dead_letters::set_aside(
                &self.pool,
                &self.config.group,
                &topic,
                event.event_id,
                event.number,
                &event.envelope.encode_to_vec(),
                &format!("the handler failed {failures} times"),
            )
            .await?;
            self.ack(key, entry).await?;
            return Ok(Outcome::DeadLettered);
        }

        let mut tx = self.pool.begin().await?;
        let applied = apply_events(
            &mut tx,
            self.handler.as_ref(),
            &self.config.group,
            &topic,
            std::slice::from_ref(&event),
        )
        .await;
        let outcome = match applied {
            Ok(1) => Outcome::Applied,
            Ok(_) => Outcome::Duplicate,
            Err(e) => {
                tx.rollback().await?;
                if is_infrastructure(&e) {
                    return Err(e.context(format!("applying event {}", event.event_id)));
                }
                tracing::warn!(error = format!("{e:#}"), event = %event.event_id, kind = %event.envelope.event_type, "event handler failed; will retry");
                dead_letters::count_failure(
                    &self.pool,
                    &self.config.group,
                    event.event_id,
                    &format!("{e:#}"),
                )
                .await?;
                return Ok(Outcome::Failed);
            }
        };
        tx.commit().await?;
        self.ack(key, entry).await?;
        Ok(outcome)
    }

    async fn ack(&mut self, key: &str, entry: &StreamId) -> anyhow::Result<()> {
        let _: () = self
            .redis
            .xack(key, &self.config.group, &[&entry.id])
            .await?;
        Ok(())
    }
}

fn delivered(entry: &StreamId) -> Option<Delivered> {
    let envelope = entry_envelope(&entry.map)?;
    let event_id = Uuid::parse_str(&envelope.event_id).ok()?;
    Some(Delivered {
        envelope,
        event_id,
        number: entry.get("number"),
    })
}

/// Applies, in the caller's transaction, each of `events` that `group` has
/// not processed yet, gathering into a batch of their own, then the
/// handler's `finish`; the number applied (the rest were redeliveries). On
/// an error the batch is already dropped, and the caller rolls the
/// transaction back.
pub(super) async fn apply_events<H: EventHandler>(
    tx: &mut PgConnection,
    handler: &H,
    group: &str,
    topic: &str,
    events: &[Delivered],
) -> anyhow::Result<usize> {
    async {
        let mut batch = handler.begin();
        let mut first_time = record_processed(tx, group, topic, events).await?;
        let mut applied = 0;
        for event in events {
            // `remove`: an event delivered twice in one batch applies once.
            if first_time.remove(&event.event_id) {
                handler.handle(&mut batch, tx, &event.envelope).await?;
                applied += 1;
            }
        }
        handler.finish(batch, tx).await?;
        Ok(applied)
    }
    .instrument(process_span(group, topic, events))
    .await
}

/// The span a transaction's events are handled in: a child of the event's
/// publication when there is one event, linked to each publication when
/// there are several (a span has one parent).
fn process_span(group: &str, topic: &str, events: &[Delivered]) -> tracing::Span {
    let span = tracing::info_span!(
        "process events",
        otel.name = %format!("{group} process {topic}"),
        otel.kind = "consumer",
        messaging.system = "redis",
        messaging.consumer.group.name = %group,
        messaging.destination.name = %topic,
        messaging.batch.message_count = events.len(),
    );
    if !telemetry::exporting() {
        return span;
    }
    match events {
        [event] => telemetry::adopt_traceparent(&span, &event.envelope.traceparent),
        _ => {
            use opentelemetry::trace::TraceContextExt;
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            for event in events {
                let context = telemetry::context_of(&event.envelope.traceparent);
                span.add_link(context.span().span_context().clone());
            }
        }
    }
    span
}

/// Records a batch's events as processed by `group`, in one statement;
/// the ids recorded now, i.e. those not processed before. The rows go in
/// event-id order, so two replicas recording overlapping batches (one took
/// the other's entries over) take the key locks in the same order.
pub(super) async fn record_processed(
    tx: &mut PgConnection,
    group: &str,
    topic: &str,
    events: &[Delivered],
) -> Result<std::collections::HashSet<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let numbers: Vec<Option<i64>> = events.iter().map(|e| e.number).collect();
    let recorded: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO processed_events (consumer_group, event_id, topic, number)
         SELECT $1, e.id, $2, e.number
           FROM unnest($3::uuid[], $4::bigint[]) AS e(id, number)
          ORDER BY e.id
         ON CONFLICT DO NOTHING
         RETURNING event_id",
    )
    .bind(group)
    .bind(topic)
    .bind(&ids)
    .bind(&numbers)
    .fetch_all(&mut *tx)
    .await?;
    Ok(recorded.into_iter().collect())
}

fn entry_envelope(map: &HashMap<String, redis::Value>) -> Option<EventEnvelope> {
    match map.get("envelope")? {
        redis::Value::BulkString(bytes) => EventEnvelope::decode(bytes.as_slice()).ok(),
        _ => None,
    }
}

/// Whether a failure is the infrastructure's (Postgres or Redis away, a
/// deadlock or serialization failure to simply retry) rather than the
/// event's: those are retried with back-off and never counted.
pub fn is_infrastructure(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(e) = cause.downcast_ref::<sqlx::Error>() {
            return match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    // Connection exceptions, insufficient resources, operator
                    // intervention (shutdown), serialization and deadlock.
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57P")
                        || code == "40001"
                        || code == "40P01"
                }),
                _ => false,
            };
        }
        if let Some(e) = cause.downcast_ref::<redis::RedisError>() {
            return e.is_io_error() || e.is_timeout() || e.is_connection_dropped();
        }
        false
    })
}

/// Runs a consumer until `shutdown`, connecting again after any failure with
/// a back-off that doubles from half a second up to 30 seconds (and starts
/// over once a consumer ran for a while), so an outage is waited out rather
/// than hammered or counted against the events.
pub fn spawn_consumer<H: EventHandler>(
    config: ConsumerConfig,
    pool: PgPool,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    spawn_measured_consumer(config, pool, handler, EventOutcomes::default(), shutdown)
}

/// As [`spawn_consumer`], counting each event's outcome in `outcomes`.
pub fn spawn_measured_consumer<H: EventHandler>(
    config: ConsumerConfig,
    pool: PgPool,
    handler: Arc<H>,
    outcomes: EventOutcomes,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        const FIRST: Duration = Duration::from_millis(500);
        const LONGEST: Duration = Duration::from_secs(30);
        let mut pause = FIRST;
        while !shutdown.is_cancelled() {
            let started = tokio::time::Instant::now();
            let result =
                match Consumer::connect(config.clone(), pool.clone(), handler.clone()).await {
                    Ok(consumer) => {
                        consumer
                            .measured(outcomes.clone())
                            .run(shutdown.clone())
                            .await
                    }
                    Err(e) => Err(e.context("connecting to the events' Redis")),
                };
            match result {
                Ok(()) => return,
                Err(e) => {
                    if started.elapsed() > LONGEST {
                        pause = FIRST;
                    }
                    tracing::warn!(
                        error = format!("{e:#}"),
                        group = %config.group,
                        retry_in_ms = pause.as_millis() as u64,
                        "event consumer stopped; starting again"
                    );
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(LONGEST);
        }
    })
}
