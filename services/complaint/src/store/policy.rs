//! The tier policy in force, as tiering announced it: this service keeps
//! the preset's text and reads its `[complaint]` section from it.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ActivePolicyRow {
    pub policy_id: String,
    pub version: i32,
    pub preset: String,
    pub activated_at: DateTime<Utc>,
}

/// Keeps `row` unless a later activation is already kept (events of one
/// topic arrive in order, but a replay may bring an old one again).
pub async fn keep(tx: &mut PgConnection, row: &ActivePolicyRow) -> Result<bool, ServiceError> {
    let changed = sqlx::query(
        "INSERT INTO active_policy (singleton, policy_id, version, preset, activated_at)
         VALUES (true, $1, $2, $3, $4)
         ON CONFLICT (singleton) DO UPDATE
            SET policy_id = $1, version = $2, preset = $3, activated_at = $4
          WHERE active_policy.activated_at <= $4",
    )
    .bind(&row.policy_id)
    .bind(row.version)
    .bind(&row.preset)
    .bind(row.activated_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

pub async fn active(pool: &PgPool) -> Result<Option<ActivePolicyRow>, ServiceError> {
    Ok(
        sqlx::query_as("SELECT policy_id, version, preset, activated_at FROM active_policy")
            .fetch_optional(pool)
            .await?,
    )
}
