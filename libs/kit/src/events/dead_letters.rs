//! Events a consumer could not apply, kept in its own schema where an admin
//! can list them and replay them once the cause is fixed, and the numbers a
//! consumer group never saw.

use chrono::{DateTime, Utc};
use patron_proto::common::v1::EventEnvelope;
use prost::Message;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::EventHandler;
use super::consumer::{Delivered, apply_events};

/// How often the handler of `group` has failed on `event_id`.
pub async fn failures(pool: &PgPool, group: &str, event_id: Uuid) -> Result<i32, sqlx::Error> {
    Ok(sqlx::query_scalar(
        "SELECT failures FROM event_failures WHERE consumer_group = $1 AND event_id = $2",
    )
    .bind(group)
    .bind(event_id)
    .fetch_optional(pool)
    .await?
    .unwrap_or(0))
}

/// Counts one more failure of the handler (outside the rolled-back
/// transaction that failed).
pub async fn count_failure(
    pool: &PgPool,
    group: &str,
    event_id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO event_failures (consumer_group, event_id, failures, last_error)
         VALUES ($1, $2, 1, $3)
         ON CONFLICT (consumer_group, event_id) DO UPDATE
            SET failures = event_failures.failures + 1, last_error = excluded.last_error,
                last_failed_at = now()",
    )
    .bind(group)
    .bind(event_id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Sets an event aside as a dead letter of `group`.
pub async fn set_aside(
    pool: &PgPool,
    group: &str,
    topic: &str,
    event_id: Uuid,
    number: Option<i64>,
    envelope: &[u8],
    reason: &str,
) -> Result<(), sqlx::Error> {
    let last_error: Option<String> = sqlx::query_scalar(
        "SELECT last_error FROM event_failures WHERE consumer_group = $1 AND event_id = $2",
    )
    .bind(group)
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    let reason = match last_error {
        Some(e) => format!("{reason}; last: {e}"),
        None => reason.to_owned(),
    };
    tracing::error!(group, topic, event = %event_id, number, reason, "setting an event aside as a dead letter");
    sqlx::query(
        "INSERT INTO dead_letters (consumer_group, topic, event_id, number, envelope, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(group)
    .bind(topic)
    .bind(event_id)
    .bind(number)
    .bind(envelope)
    .bind(&reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Sets aside an entry that holds no event one could apply.
pub async fn set_aside_raw(
    pool: &PgPool,
    group: &str,
    topic: &str,
    raw: &[u8],
    reason: &str,
) -> Result<(), sqlx::Error> {
    tracing::error!(
        group,
        topic,
        reason,
        "setting an undecodable entry aside as a dead letter"
    );
    sqlx::query(
        "INSERT INTO dead_letters (consumer_group, topic, envelope, reason) VALUES ($1, $2, $3, $4)",
    )
    .bind(group)
    .bind(topic)
    .bind(raw)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// A dead letter as an admin reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub group: String,
    pub topic: String,
    pub event_id: Option<Uuid>,
    pub number: Option<i64>,
    pub event_type: String,
    pub customer: String,
    pub reason: String,
    pub dead_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
}

/// The dead letters of every group in this schema, waiting ones first, then
/// the newest.
pub async fn list(pool: &PgPool, include_replayed: bool) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, consumer_group, topic, event_id, number, envelope, reason, dead_at, replayed_at
           FROM dead_letters WHERE $1 OR replayed_at IS NULL
          ORDER BY replayed_at IS NOT NULL, id",
    )
    .bind(include_replayed)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let envelope = EventEnvelope::decode(row.try_get::<Vec<u8>, _>("envelope")?.as_slice())
                .unwrap_or_default();
            Ok(DeadLetter {
                id: row.try_get("id")?,
                group: row.try_get("consumer_group")?,
                topic: row.try_get("topic")?,
                event_id: row.try_get("event_id")?,
                number: row.try_get("number")?,
                event_type: envelope.event_type,
                customer: envelope.customer,
                reason: row.try_get("reason")?,
                dead_at: row.try_get("dead_at")?,
                replayed_at: row.try_get("replayed_at")?,
            })
        })
        .collect()
}

/// How many dead letters wait for a replay.
pub async fn waiting(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL")
        .fetch_one(pool)
        .await
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub applied: usize,
    /// Already applied by other means (a later redelivery).
    pub duplicates: usize,
    /// Still failing: id and error. They stay waiting.
    pub failed: Vec<(i64, String)>,
}

/// Applies `group`'s waiting dead letters through `handler`, each in a
/// transaction of its own and once (the processed-event record decides), and
/// marks each replayed. Those that fail again stay waiting.
pub async fn replay<H: EventHandler>(
    pool: &PgPool,
    group: &str,
    handler: &H,
) -> Result<Replayed, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, topic, event_id, number, envelope FROM dead_letters
          WHERE consumer_group = $1 AND replayed_at IS NULL ORDER BY id",
    )
    .bind(group)
    .fetch_all(pool)
    .await?;
    let mut done = Replayed::default();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let Some(event_id) = row.try_get::<Option<Uuid>, _>("event_id")? else {
            done.failed.push((id, "the entry held no event".into()));
            continue;
        };
        let Ok(envelope) = EventEnvelope::decode(row.try_get::<Vec<u8>, _>("envelope")?.as_slice())
        else {
            done.failed
                .push((id, "the envelope does not decode".into()));
            continue;
        };
        let topic: String = row.try_get("topic")?;
        let event = Delivered {
            envelope,
            event_id,
            number: row.try_get("number")?,
        };
        let mut tx = pool.begin().await?;
        match apply_events(
            &mut tx,
            handler,
            group,
            &topic,
            std::slice::from_ref(&event),
        )
        .await
        {
            Ok(1) => done.applied += 1,
            Ok(_) => done.duplicates += 1,
            Err(e) => {
                tx.rollback().await?;
                done.failed.push((id, format!("{e:#}")));
                continue;
            }
        }
        sqlx::query("UPDATE dead_letters SET replayed_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM event_failures WHERE consumer_group = $1 AND event_id = $2")
            .bind(group)
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(done)
}

/// Numbers of a topic a consumer group never processed nor set aside,
/// between the first and the last it did: events it missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub group: String,
    pub topic: String,
    /// How many numbers are missing.
    pub count: i64,
    /// The first missing one.
    pub first: i64,
}

/// What each consumer group of this schema missed, if anything.
pub async fn missing(pool: &PgPool) -> Result<Vec<Missing>, sqlx::Error> {
    let rows = sqlx::query(
        "WITH seen AS (
             SELECT consumer_group, topic, number FROM processed_events WHERE number IS NOT NULL
             UNION
             SELECT consumer_group, topic, number FROM dead_letters WHERE number IS NOT NULL),
         steps AS (
             SELECT consumer_group, topic, number,
                    lead(number) OVER (PARTITION BY consumer_group, topic ORDER BY number) AS next
               FROM seen)
         SELECT consumer_group, topic, sum(next - number - 1)::bigint AS count, min(number + 1) AS first
           FROM steps WHERE next > number + 1
          GROUP BY consumer_group, topic ORDER BY consumer_group, topic",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Missing {
                group: row.try_get("consumer_group")?,
                topic: row.try_get("topic")?,
                count: row.try_get("count")?,
                first: row.try_get("first")?,
            })
        })
        .collect()
}
