//! How long a recorded transaction takes to reach the others: from its
//! acknowledgement to its event on the Redis stream (read as it arrives),
//! and from its commit to tiering's transaction that applied it (both
//! PostgreSQL's times: the outbox row's and the processed-event row's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::TransactionRecorded;
use prost::Message;
use redis::AsyncCommands;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use tokio_util::sync::CancellationToken;

use super::load::{Latencies, Measured};
use super::writes::Acks;

/// An event seen on the stream.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub at: Instant,
    pub event_id: uuid::Uuid,
}

/// A reader of one stream from the moment it started, until stopped.
pub struct Watch {
    /// Per transaction name.
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts reading `stream` at `redis_url` after its last entry.
pub async fn watch(redis_url: &str, stream: String) -> anyhow::Result<Watch> {
    let mut redis = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection_with_config(
            // XREAD blocks: no response timeout.
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                patron_kit::config::redact_url(redis_url)
            )
        })?;
    let last: StreamRangeReply = redis.xrevrange_count(&stream, "+", "-", 1).await?;
    let mut after = last
        .ids
        .first()
        .map_or_else(|| "0-0".to_owned(), |e| e.id.clone());
    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let seen = seen.clone();
        let stop = stop.clone();
        async move {
            let options = StreamReadOptions::default().block(100).count(1000);
            while !stop.is_cancelled() {
                let reply: Option<StreamReadReply> =
                    redis.xread_options(&[&stream], &[&after], &options).await?;
                let now = Instant::now();
                let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
                let mut seen = seen.lock().expect("seen");
                for entry in entries {
                    after = entry.id.clone();
                    let Some(redis::Value::BulkString(bytes)) = entry.map.get("envelope") else {
                        continue;
                    };
                    let Ok(envelope) = EventEnvelope::decode(bytes.as_slice()) else {
                        continue;
                    };
                    let (Ok(event), Ok(event_id)) = (
                        TransactionRecorded::decode(envelope.payload.as_slice()),
                        envelope.event_id.parse(),
                    ) else {
                        continue;
                    };
                    seen.insert(event.transaction, Seen { at: now, event_id });
                }
            }
            Ok(())
        }
    });
    Ok(Watch { seen, stop, task })
}

impl Watch {
    /// Waits until every acknowledged transaction's event was seen, or
    /// `patience` is over; then stops reading and gives each one's
    /// latency (an event seen before its acknowledgement counts as 0) and,
    /// as errors, those never seen. Also the events' ids.
    pub async fn finish(
        self,
        acks: &Acks,
        patience: Duration,
    ) -> anyhow::Result<(Measured, Vec<uuid::Uuid>)> {
        let acks = acks.lock().expect("acks").clone();
        let started = Instant::now();
        loop {
            let missing = {
                let seen = self.seen.lock().expect("seen");
                acks.keys().filter(|name| !seen.contains_key(*name)).count()
            };
            if missing == 0 || started.elapsed() >= patience {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.cancel();
        self.task.await??;
        let seen = self.seen.lock().expect("seen");
        let mut latencies = Vec::with_capacity(acks.len());
        let mut ids = Vec::with_capacity(acks.len());
        let mut measured = Measured::default();
        for (name, acked) in &acks {
            match seen.get(name) {
                Some(s) => {
                    latencies.push(s.at.saturating_duration_since(*acked));
                    ids.push(s.event_id);
                }
                None => {
                    measured.errors += 1;
                    measured
                        .first_error
                        .get_or_insert_with(|| format!("no event for {name} on the stream"));
                }
            }
        }
        measured.latencies = Latencies::new(latencies);
        Ok((measured, ids))
    }
}

/// Waits (at most `patience`) until tiering's consumer group has applied
/// the events `ids`; then each one's time from profile's outbox row to
/// tiering's processed-event row, and as errors those not applied.
pub async fn tier_decided(
    database_url: &str,
    ids: &[uuid::Uuid],
    patience: Duration,
) -> anyhow::Result<Measured> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    let processed_sql = format!(
        "SELECT count(*) FROM {tiering}.processed_events
          WHERE consumer_group = $1 AND event_id = ANY($2)",
        tiering = patron_tiering::SCHEMA
    );
    let group = patron_tiering::READER.group;
    let started = Instant::now();
    loop {
        let processed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(processed_sql.clone()))
            .bind(group)
            .bind(ids)
            .fetch_one(&mut conn)
            .await?;
        if processed as usize >= ids.len() || started.elapsed() >= patience {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lags: Vec<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXTRACT(epoch FROM (p.processed_at - o.created_at))::float8
           FROM {tiering}.processed_events p JOIN {profile}.outbox o USING (event_id)
          WHERE p.consumer_group = $1 AND p.event_id = ANY($2)",
        tiering = patron_tiering::SCHEMA,
        profile = patron_customer_profile::SCHEMA
    )))
    .bind(group)
    .bind(ids)
    .fetch_all(&mut conn)
    .await?;
    let missing = ids.len().saturating_sub(lags.len()) as u64;
    Ok(Measured {
        latencies: Latencies::new(
            lags.into_iter()
                .map(|s| Duration::from_secs_f64(s.max(0.0)))
                .collect(),
        ),
        errors: missing,
        first_error: (missing > 0).then(|| {
            format!(
                "{missing} events not applied by tiering within {} s",
                patience.as_secs()
            )
        }),
        elapsed: started.elapsed(),
    })
}
