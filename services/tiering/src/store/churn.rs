//! Customers who left, and counts of them.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use patron_kit::directory::Visibility;

/// Records a customer who left (once).
pub async fn record_churned(
    tx: &mut PgConnection,
    customer_id: Uuid,
    kind: i16,
    reason: &str,
    exited_at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO churned_customers (customer_id, kind, reason, tier, exited_at)
         VALUES ($1, $2, $3, (SELECT tier FROM assignments WHERE customer_id = $1), $4)
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer_id)
    .bind(kind)
    .bind(reason)
    .bind(exited_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// (kind, tier, reason, count) of customers who left in the period.
pub async fn churn_counts(
    pool: &PgPool,
    visible: &Visibility,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Vec<(i16, Option<String>, String, i64)>, ServiceError> {
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT kind, tier, reason, count(*) FROM churned_customers
          WHERE ($1::timestamptz IS NULL OR exited_at >= $1) AND ($2::timestamptz IS NULL OR exited_at < $2)
            AND {}
          GROUP BY kind, tier, reason",
        Visibility::condition(3)
    )))
    .bind(start)
    .bind(end);
    Ok(visible.bind(query).fetch_all(pool).await?)
}
