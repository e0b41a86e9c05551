//! Consents' SQL: an append-only history, the newest per channel and purpose
//! in force.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct ConsentRow {
    pub channel: i16,
    pub purpose: i16,
    pub status: i16,
    pub source: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

/// Appends a consent record.
pub async fn record(
    tx: &mut PgConnection,
    customer_id: Uuid,
    row: &ConsentRow,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO consents (customer_id, channel, purpose, status, source, recorded_at, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(customer_id)
    .bind(row.channel)
    .bind(row.purpose)
    .bind(row.status)
    .bind(&row.source)
    .bind(row.recorded_at)
    .bind(&row.recorded_by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The consent in force per channel and purpose.
pub async fn current(pool: &PgPool, customer_id: Uuid) -> Result<Vec<ConsentRow>, ServiceError> {
    Ok(sqlx::query_as::<_, ConsentRow>(
        "SELECT DISTINCT ON (channel, purpose) channel, purpose, status, source, recorded_at, recorded_by
           FROM consents WHERE customer_id = $1
          ORDER BY channel, purpose, id DESC",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await?)
}
