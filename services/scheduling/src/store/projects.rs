//! Large projects.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub title: String,
    pub amount_minor: i64,
    pub currency: String,
    pub signed: bool,
    pub owner_role: String,
    pub owner_history: serde_json::Value,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer_id, title, amount_minor, currency, signed, owner_role,
    owner_history, version, updated_at";

pub async fn insert(tx: &mut PgConnection, row: &ProjectRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO projects (id, customer_id, title, amount_minor, currency, signed, owner_role,
                               owner_history, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)",
    )
    .bind(row.id)
    .bind(row.customer_id)
    .bind(&row.title)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(row.signed)
    .bind(&row.owner_role)
    .bind(&row.owner_history)
    .bind(row.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<ProjectRow>, ServiceError> {
    Ok(sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<ProjectRow>, ServiceError> {
    Ok(sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Writes the changed project; its new version.
pub async fn update(tx: &mut PgConnection, row: &ProjectRow) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "UPDATE projects SET title = $2, amount_minor = $3, signed = $4, owner_role = $5,
                             owner_history = $6, updated_at = $7, version = version + 1
          WHERE id = $1 RETURNING version",
    )
    .bind(row.id)
    .bind(&row.title)
    .bind(row.amount_minor)
    .bind(row.signed)
    .bind(&row.owner_role)
    .bind(&row.owner_history)
    .bind(row.updated_at)
    .fetch_one(&mut *tx)
    .await?)
}
