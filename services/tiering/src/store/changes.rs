//! The tier history: every change of a customer's tier.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub from_tier: Option<String>,
    pub to_tier: Option<String>,
    pub reason: String,
    pub explanation: String,
    pub policy_id: String,
    pub policy_version: i32,
    pub changed_at: DateTime<Utc>,
    pub actor: String,
}

/// Appends changes to the tier history, in the order given.
pub async fn insert_changes(
    tx: &mut PgConnection,
    rows: &[(Uuid, ChangeRow)],
) -> Result<(), ServiceError> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: &dyn Fn(&(Uuid, ChangeRow)) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(f).collect()
    };
    sqlx::query(
        "INSERT INTO tier_changes (customer_id, from_tier, to_tier, reason, explanation, policy_id,
                                   policy_version, changed_at, actor)
         SELECT customer_id, from_tier, to_tier, reason, explanation, policy_id, policy_version, changed_at, actor
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                       $8::timestamptz[], $9::text[]) WITH ORDINALITY
             AS c(customer_id, from_tier, to_tier, reason, explanation, policy_id, policy_version, changed_at, actor, n)
          ORDER BY n",
    )
    .bind(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(column(&|(_, r)| r.from_tier.clone()))
    .bind(column(&|(_, r)| r.to_tier.clone()))
    .bind(column(&|(_, r)| Some(r.reason.clone())))
    .bind(column(&|(_, r)| Some(r.explanation.clone())))
    .bind(column(&|(_, r)| Some(r.policy_id.clone())))
    .bind(rows.iter().map(|(_, r)| r.policy_version).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.changed_at).collect::<Vec<_>>())
    .bind(column(&|(_, r)| Some(r.actor.clone())))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A customer's changes, newest first, before the cursor.
pub async fn list_changes(
    pool: &PgPool,
    customer_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ChangeRow>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT id, from_tier, to_tier, reason, explanation, policy_id, policy_version, changed_at, actor
           FROM tier_changes
          WHERE customer_id = $1 AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3",
    )
    .bind(customer_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
