//! Policy versions, and which one is active.

use chrono::{DateTime, Utc};
use patron_kit::{ServiceError, events};
use patron_proto::tiering::v1::PolicyActivated;
use sqlx::{FromRow, PgConnection, PgPool};

use patron_vocab::Change;

#[derive(Debug, Clone, FromRow)]
pub struct PolicyRow {
    pub id: String,
    pub version: i32,
    pub title: String,
    pub source: String,
    pub preset: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub active: bool,
}

const POLICY_COLUMNS: &str = "p.id, p.version, p.title, p.source, p.preset, p.created_at, p.created_by,
     EXISTS (SELECT 1 FROM active_policy a WHERE a.policy_id = p.id AND a.version = p.version) AS active";

/// Serialises changes to one policy's versions until the transaction ends.
pub async fn lock_policy(tx: &mut PgConnection, id: &str) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tier-policy:' || $1))")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Stores the next version of policy `id`. Versions of one policy are
/// numbered under a lock, so concurrent stores get consecutive numbers.
#[allow(clippy::too_many_arguments)]
pub async fn insert_policy(
    tx: &mut PgConnection,
    id: &str,
    title: &str,
    source: &str,
    preset: &str,
    sections: &serde_json::Value,
    change: Change<'_>,
) -> Result<PolicyRow, ServiceError> {
    lock_policy(tx, id).await?;
    let version: i32 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 0) + 1 FROM policies WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO policies (id, version, title, source, preset, sections, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(version)
    .bind(title)
    .bind(source)
    .bind(preset)
    .bind(sections)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    policy(tx, id, Some(version))
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("policy {id} vanished")))
}

/// A version of a policy, or its latest when `version` is `None`.
pub async fn policy(
    conn: &mut PgConnection,
    id: &str,
    version: Option<i32>,
) -> Result<Option<PolicyRow>, ServiceError> {
    Ok(sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM policies p
          WHERE p.id = $1 AND ($2::int IS NULL OR p.version = $2)
          ORDER BY p.version DESC LIMIT 1"
    )))
    .bind(id)
    .bind(version)
    .fetch_optional(conn)
    .await?)
}

/// The latest version of every policy.
pub async fn latest_policies(pool: &PgPool) -> Result<Vec<PolicyRow>, ServiceError> {
    Ok(sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT ON (p.id) {POLICY_COLUMNS} FROM policies p ORDER BY p.id, p.version DESC"
    )))
    .fetch_all(pool)
    .await?)
}

/// The version customers are tiered by.
pub async fn active_policy(conn: &mut PgConnection) -> Result<Option<PolicyRow>, ServiceError> {
    Ok(sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM policies p
           JOIN active_policy a ON a.policy_id = p.id AND a.version = p.version"
    )))
    .fetch_optional(conn)
    .await?)
}

/// Serialises activations (and a start-up's check that none is active)
/// until the transaction ends. Taken after any policy's lock, never before.
pub async fn lock_activation(tx: &mut PgConnection) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tier-activation'))")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Makes `policy` (a stored version) the active one, and publishes
/// `PolicyActivated` with the whole preset in the same transaction, so the
/// other services learn the active policy exactly when it changes.
pub async fn activate(
    tx: &mut PgConnection,
    policy: &PolicyRow,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    lock_activation(tx).await?;
    sqlx::query(
        "INSERT INTO active_policy (singleton, policy_id, version, activated_at, activated_by)
         VALUES (true, $1, $2, $3, $4)
         ON CONFLICT (singleton) DO UPDATE
            SET policy_id = $1, version = $2, activated_at = $3, activated_by = $4",
    )
    .bind(&policy.id)
    .bind(policy.version)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    let event = PolicyActivated {
        policy: format!("tierPolicies/{}", policy.id),
        version: policy.version,
        title: policy.title.clone(),
        preset_text: policy.preset.clone(),
    };
    // About no customer: the envelope's customer stays empty.
    events::enqueue(tx, "", &event, change.at).await?;
    Ok(())
}
