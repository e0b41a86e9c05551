//! Assignments: each customer's tier, pending downgrade, override and churn
//! risk, the per-customer locks that serialise them, and the lists over them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use patron_kit::directory::Visibility;

#[derive(Debug, Clone, FromRow)]
pub struct AssignmentRow {
    pub customer_id: Uuid,
    pub tier: Option<String>,
    pub pending_tier: Option<String>,
    pub policy_id: String,
    pub policy_version: i32,
    pub explanation: String,
    pub checks: serde_json::Value,
    pub decided_at: DateTime<Utc>,
    pub next_review_at: DateTime<Utc>,
    pub version: i64,
    pub activity: Option<String>,
    pub activity_reason: Option<String>,
    pub override_tier: Option<String>,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    pub churn_reasons: Vec<String>,
    /// The customer's manager, where a query joins it in (lists).
    #[sqlx(default)]
    pub account_manager: String,
}

impl AssignmentRow {
    /// Whether `other` decides the same as this row: everything but when it
    /// was decided and the version (times to the microsecond, as stored).
    pub fn same_decision(&self, other: &AssignmentRow) -> bool {
        self.customer_id == other.customer_id
            && self.tier == other.tier
            && self.pending_tier == other.pending_tier
            && self.policy_id == other.policy_id
            && self.policy_version == other.policy_version
            && self.next_review_at.timestamp_micros() == other.next_review_at.timestamp_micros()
            && self.activity == other.activity
            && self.activity_reason == other.activity_reason
            && self.override_tier == other.override_tier
            && self.override_reason == other.override_reason
            && self.override_by == other.override_by
            && self.churn_reasons == other.churn_reasons
            && self.explanation == other.explanation
            && self.checks == other.checks
    }
}

const ASSIGNMENT_COLUMNS: &str = "customer_id, tier, pending_tier, policy_id, policy_version, explanation, checks, \
                                  decided_at, next_review_at, version, activity, activity_reason, \
                                  override_tier, override_reason, override_by, churn_reasons";

/// The customer's manager from profile's events, beside an assignment's columns.
const MANAGER_COLUMN: &str = "COALESCE((SELECT f.account_manager FROM customer_facts f
                                         WHERE f.customer_id = assignments.customer_id), '')
                              AS account_manager";

/// Serialises evaluations of these customers (concurrent events, the daily
/// sweep and API calls) until the transaction ends; taken in id order, so
/// two batches never wait on each other in a circle. See the lock order in
/// this module's documentation.
pub async fn lock_customers(tx: &mut PgConnection, customers: &[Uuid]) -> Result<(), ServiceError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('tier:' || id::text))
           FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS c(id) ORDER BY id) ordered",
    )
    .bind(customers)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes the locks of those of `customers` no one else holds, without
/// waiting, and returns them (in id order): how the daily sweep claims work
/// while holding row locks, which must never wait on a customer's lock.
pub async fn try_lock_customers(
    tx: &mut PgConnection,
    customers: &[Uuid],
) -> Result<Vec<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS c(id) ORDER BY id) ordered
          WHERE pg_try_advisory_xact_lock(hashtext('tier:' || id::text))
          ORDER BY id",
    )
    .bind(customers)
    .fetch_all(&mut *tx)
    .await?)
}

/// The assignments of many customers.
pub async fn assignments_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, AssignmentRow>, ServiceError> {
    let rows: Vec<AssignmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE customer_id = ANY($1)"
    )))
    .bind(customers)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.customer_id, r)).collect())
}

pub async fn assignment(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<Option<AssignmentRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, AssignmentRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE customer_id = $1"
        )))
        .bind(customer_id)
        .fetch_optional(conn)
        .await?,
    )
}

/// Writes many customers' assignments in one statement (each customer once),
/// bumping each row's version; returns each customer's version as stored.
///
/// The rows come back as versions only: the rest is what was written, and
/// a sweep's batch would otherwise read back and decode every explanation
/// and its checks it has just sent.
pub async fn put_assignments(
    tx: &mut PgConnection,
    rows: &[&AssignmentRow],
) -> Result<HashMap<Uuid, i64>, ServiceError> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    fn column<T>(rows: &[&AssignmentRow], f: impl Fn(&AssignmentRow) -> T) -> Vec<T> {
        rows.iter().map(|r| f(r)).collect()
    }
    // As JSON text, cast by the statement: binding the values would clone
    // each one only to serialise it the same way.
    let checks = column(rows, |r| r.checks.to_string());
    let churn_reasons = column(rows, |r| serde_json::json!(r.churn_reasons));
    let stored: Vec<(Uuid, i64)> = sqlx::query_as(
        "INSERT INTO assignments (customer_id, tier, pending_tier, policy_id, policy_version, explanation, checks,
                                  decided_at, next_review_at, activity, activity_reason,
                                  override_tier, override_reason, override_by, churn_reasons)
         SELECT u.customer_id, u.tier, u.pending_tier, u.policy_id, u.policy_version, u.explanation, u.checks::jsonb,
                u.decided_at, u.next_review_at, u.activity, u.activity_reason,
                u.override_tier, u.override_reason, u.override_by,
                ARRAY(SELECT jsonb_array_elements_text(u.churn_reasons))
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
                       $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[],
                       $12::text[], $13::text[], $14::text[], $15::jsonb[])
             AS u(customer_id, tier, pending_tier, policy_id, policy_version, explanation, checks,
                  decided_at, next_review_at, activity, activity_reason,
                  override_tier, override_reason, override_by, churn_reasons)
         ON CONFLICT (customer_id) DO UPDATE
            SET tier = EXCLUDED.tier, pending_tier = EXCLUDED.pending_tier, policy_id = EXCLUDED.policy_id,
                policy_version = EXCLUDED.policy_version, explanation = EXCLUDED.explanation,
                checks = EXCLUDED.checks, decided_at = EXCLUDED.decided_at,
                next_review_at = EXCLUDED.next_review_at, activity = EXCLUDED.activity,
                activity_reason = EXCLUDED.activity_reason, override_tier = EXCLUDED.override_tier,
                override_reason = EXCLUDED.override_reason, override_by = EXCLUDED.override_by,
                churn_reasons = EXCLUDED.churn_reasons, version = assignments.version + 1
         RETURNING customer_id, version",
    )
    .bind(column(rows, |r| r.customer_id))
    .bind(column(rows, |r| r.tier.clone()))
    .bind(column(rows, |r| r.pending_tier.clone()))
    .bind(column(rows, |r| r.policy_id.clone()))
    .bind(column(rows, |r| r.policy_version))
    .bind(column(rows, |r| r.explanation.clone()))
    .bind(checks)
    .bind(column(rows, |r| r.decided_at))
    .bind(column(rows, |r| r.next_review_at))
    .bind(column(rows, |r| r.activity.clone()))
    .bind(column(rows, |r| r.activity_reason.clone()))
    .bind(column(rows, |r| r.override_tier.clone()))
    .bind(column(rows, |r| r.override_reason.clone()))
    .bind(column(rows, |r| r.override_by.clone()))
    .bind(churn_reasons)
    .fetch_all(&mut *tx)
    .await?;
    Ok(stored.into_iter().collect())
}

/// Stamps the assignments of `customers`, decided again at `at` with the
/// same outcome, bumping each row's version; returns each one's version.
pub async fn confirm_assignments(
    tx: &mut PgConnection,
    customers: &[Uuid],
    at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, ServiceError> {
    if customers.is_empty() {
        return Ok(HashMap::new());
    }
    let stored: Vec<(Uuid, i64)> = sqlx::query_as(
        "UPDATE assignments SET decided_at = $2, version = version + 1
          WHERE customer_id = ANY($1)
         RETURNING customer_id, version",
    )
    .bind(customers)
    .bind(at)
    .fetch_all(&mut *tx)
    .await?;
    Ok(stored.into_iter().collect())
}

/// Assignments with a downgrade waiting for review, soonest review first,
/// after the keyset cursor.
pub async fn list_pending(
    conn: &mut PgConnection,
    visible: &Visibility,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<AssignmentRow>, ServiceError> {
    let (after_time, after_id) = after.unzip();
    let query = sqlx::query_as::<_, AssignmentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ASSIGNMENT_COLUMNS}, {MANAGER_COLUMN} FROM assignments
          WHERE pending_tier IS NOT NULL
            AND ($1::timestamptz IS NULL OR (next_review_at, customer_id) > ($1, $2))
            AND {}
          ORDER BY next_review_at, customer_id
          LIMIT $3",
        Visibility::condition(4)
    )))
    .bind(after_time)
    .bind(after_id)
    .bind(limit);
    Ok(visible.bind(query).fetch_all(conn).await?)
}

/// Assignments of customers at risk of leaving, newest decision first,
/// after the keyset cursor.
pub async fn list_churn_risks(
    pool: &PgPool,
    visible: &Visibility,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AssignmentRow>, ServiceError> {
    let query = sqlx::query_as::<_, AssignmentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ASSIGNMENT_COLUMNS}, {MANAGER_COLUMN} FROM assignments
          WHERE churn_reasons <> '{{}}' AND ($1::uuid IS NULL OR customer_id > $1)
            AND {}
          ORDER BY customer_id LIMIT $2",
        Visibility::condition(3)
    )))
    .bind(after)
    .bind(limit);
    Ok(visible.bind(query).fetch_all(pool).await?)
}

/// Customers the caller sees holding each tier now, leavers excluded.
pub async fn holders_by_tier(
    pool: &PgPool,
    visible: &Visibility,
) -> Result<Vec<(String, i64)>, ServiceError> {
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT tier, count(*) FROM assignments a
          WHERE tier IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM churned_customers c WHERE c.customer_id = a.customer_id)
            AND {}
          GROUP BY tier",
        Visibility::condition(1)
    )));
    Ok(visible.bind(query).fetch_all(pool).await?)
}
