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

/// What one call showed unmasked, by whom, when and why.
#[derive(Debug, Clone)]
pub struct AccessBatch {
    pub reads: Vec<Access>,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub purpose: String,
    pub method: String,
}

/// Records the reads of `batches` (one row per customer shown) in one
/// statement, in the caller's transaction.
pub async fn record_accesses(
    tx: &mut PgConnection,
    batches: &[AccessBatch],
) -> Result<(), ServiceError> {
    let rows = batches
        .iter()
        .flat_map(|b| b.reads.iter().map(move |r| (b, r)));
    let (mut ids, mut fields, mut actors, mut ats, mut purposes, mut methods) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (batch, read) in rows {
        ids.push(read.customer_id);
        // text[] per row travels as one comma-joined string; field paths hold no commas.
        fields.push(read.fields.join(","));
        actors.push(batch.actor.as_str());
        ats.push(batch.at);
        purposes.push(batch.purpose.as_str());
        methods.push(batch.method.as_str());
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO access_audit (customer_id, actor, accessed_at, fields, purpose, method)
         SELECT id, actor, at, string_to_array(f, ','), purpose, method
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
                AS t(id, f, actor, at, purpose, method)",
    )
    .bind(&ids)
    .bind(&fields)
    .bind(&actors)
    .bind(&ats)
    .bind(&purposes)
    .bind(&methods)
    .execute(&mut *tx)
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
