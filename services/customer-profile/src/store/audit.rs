//! The audit trails' SQL: inserts and keyset-paged lists, nothing else.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// Records a change inside the change's own transaction.
pub async fn record_change(
    tx: &mut PgConnection,
    customer_id: Uuid,
    actor: &str,
    at: DateTime<Utc>,
    action: &str,
    changes: &serde_json::Value,
) -> Result<(), ServiceError> {
    sqlx::query("INSERT INTO change_audit (customer_id, actor, changed_at, action, changes) VALUES ($1, $2, $3, $4, $5)")
        .bind(customer_id)
        .bind(actor)
        .bind(at)
        .bind(action)
        .bind(changes)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// One read of unmasked data, to record.
#[derive(Debug, Clone)]
pub struct Access {
    pub customer_id: Uuid,
    pub fields: Vec<String>,
}

/// Records reads of unmasked data (one row per customer).
pub async fn record_access(
    pool: &PgPool,
    reads: &[Access],
    actor: &str,
    at: DateTime<Utc>,
    purpose: &str,
    method: &str,
) -> Result<(), ServiceError> {
    if reads.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = reads.iter().map(|r| r.customer_id).collect();
    // text[] per row travels as one comma-joined string; field paths hold no commas.
    let fields: Vec<String> = reads.iter().map(|r| r.fields.join(",")).collect();
    sqlx::query(
        "INSERT INTO access_audit (customer_id, actor, accessed_at, fields, purpose, method)
         SELECT id, $3, $4, string_to_array(f, ','), $5, $6 FROM unnest($1::uuid[], $2::text[]) AS t(id, f)",
    )
    .bind(&ids)
    .bind(&fields)
    .bind(actor)
    .bind(at)
    .bind(purpose)
    .bind(method)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub customer_id: Uuid,
    pub actor: String,
    pub changed_at: DateTime<Utc>,
    pub action: String,
    pub changes: serde_json::Value,
}

#[derive(Debug, Clone, FromRow)]
pub struct AccessRow {
    pub id: i64,
    pub customer_id: Uuid,
    pub actor: String,
    pub accessed_at: DateTime<Utc>,
    pub fields: Vec<String>,
    pub purpose: String,
    pub method: String,
}

/// Changes, newest first, narrowed by customer and/or actor.
pub async fn list_changes(
    pool: &PgPool,
    customer: Option<Uuid>,
    actor: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<ChangeRow>, ServiceError> {
    Ok(sqlx::query_as::<_, ChangeRow>(
        "SELECT id, customer_id, actor, changed_at, action, changes FROM change_audit
          WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR actor = $2)
            AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id DESC LIMIT $4",
    )
    .bind(customer)
    .bind(actor)
    .bind(before_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Reads of unmasked data, newest first, narrowed by customer and/or actor.
pub async fn list_access(
    pool: &PgPool,
    customer: Option<Uuid>,
    actor: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AccessRow>, ServiceError> {
    Ok(sqlx::query_as::<_, AccessRow>(
        "SELECT id, customer_id, actor, accessed_at, fields, purpose, method FROM access_audit
          WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR actor = $2)
            AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id DESC LIMIT $4",
    )
    .bind(customer)
    .bind(actor)
    .bind(before_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
