//! What complaint's events say of customers: complaints received and
//! satisfaction scores, read back by the churn early warning.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

/// A complaint received (once per complaint).
pub async fn record_complaint(
    tx: &mut PgConnection,
    complaint: &str,
    customer_id: Uuid,
    received_at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO complaints_received (complaint, customer_id, received_at)
         VALUES ($1, $2, $3) ON CONFLICT (complaint) DO NOTHING",
    )
    .bind(complaint)
    .bind(customer_id)
    .bind(received_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A complaint's survey score; a later survey of the same complaint (after a
/// reopening) replaces an earlier one, whatever order they arrive in.
pub async fn record_score(
    tx: &mut PgConnection,
    complaint: &str,
    customer_id: Uuid,
    score: i16,
    recorded_at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO complaint_scores (complaint, customer_id, score, recorded_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (complaint) DO UPDATE SET score = EXCLUDED.score, recorded_at = EXCLUDED.recorded_at
          WHERE complaint_scores.recorded_at < EXCLUDED.recorded_at",
    )
    .bind(complaint)
    .bind(customer_id)
    .bind(score)
    .bind(recorded_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Per customer, since `since`: when complaints were received, and the
/// survey scores with when they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplaintRows {
    pub received: Vec<DateTime<Utc>>,
    pub scores: Vec<(i16, DateTime<Utc>)>,
}

/// [`ComplaintRows`] of `customers` since `since`.
pub async fn complaints_of(
    tx: &mut PgConnection,
    customers: &[Uuid],
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, ComplaintRows>, ServiceError> {
    let mut rows: HashMap<Uuid, ComplaintRows> = HashMap::new();
    let received: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT customer_id, received_at FROM complaints_received
          WHERE customer_id = ANY($1) AND received_at >= $2",
    )
    .bind(customers)
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    for (customer, at) in received {
        rows.entry(customer).or_default().received.push(at);
    }
    let scores: Vec<(Uuid, i16, DateTime<Utc>)> = sqlx::query_as(
        "SELECT customer_id, score, recorded_at FROM complaint_scores
          WHERE customer_id = ANY($1) AND recorded_at >= $2",
    )
    .bind(customers)
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    for (customer, score, at) in scores {
        rows.entry(customer).or_default().scores.push((score, at));
    }
    Ok(rows)
}
