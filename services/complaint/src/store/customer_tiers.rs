//! Each customer's tier as tiering announced it.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

/// Keeps the tier announced `at`, unless a later announcement is kept.
pub async fn keep(
    tx: &mut PgConnection,
    customer_id: Uuid,
    tier: &str,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO customer_tiers (customer_id, tier, changed_at) VALUES ($1, $2, $3)
         ON CONFLICT (customer_id) DO UPDATE SET tier = $2, changed_at = $3
          WHERE customer_tiers.changed_at <= $3",
    )
    .bind(customer_id)
    .bind(tier)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The customer's tier; empty when tiering has not tiered them.
pub async fn tier_of(conn: &mut PgConnection, customer_id: Uuid) -> Result<String, ServiceError> {
    Ok(
        sqlx::query_scalar("SELECT tier FROM customer_tiers WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_default(),
    )
}
