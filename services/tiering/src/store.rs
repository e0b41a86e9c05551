//! Tiering's SQL: policy versions, daily figures, standings, assignments and
//! their history. Transactions are opened by the caller.
//!
//! # Lock order
//!
//! Every transaction takes its locks in this order, and never the other way
//! round, so no two of them (event consumers, the sweep, API calls, replicas
//! of each) can wait on each other in a circle:
//!
//! 1. a policy's lock (`lock_policy`), then the activation lock
//!    (`lock_activation`);
//! 2. the per-customer locks (`lock_customers`: `tier:<id>`), all the
//!    customers of the transaction at once, in customer-id order, before
//!    any row of theirs is written;
//! 3. a points account's lock (`points::lock_account`), one customer after
//!    another in customer-id order;
//! 4. row locks (upserts, updates, `FOR UPDATE`), a batch's rows in key
//!    order (`day_totals` sorts daily figures by customer and day).
//!
//! Work claimed with `FOR UPDATE SKIP LOCKED` (the sweep's assignments, the
//! expiry's point lots) holds row locks before a customer's or account's
//! lock; such a claim only ever *tries* the later lock (`try_lock_customers`,
//! `points::try_lock_account`) and skips what another holds, so it never
//! waits and cannot close a circle.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::domain::evaluate::Figures;
use crate::domain::policy::{Figure, Window};
use crate::domain::windows;

pub mod customer_facts;
pub mod points;

/// Who made a change, and when.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

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

/// Makes a version the active one.
pub async fn activate(
    tx: &mut PgConnection,
    id: &str,
    version: i32,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    lock_activation(tx).await?;
    sqlx::query(
        "INSERT INTO active_policy (singleton, policy_id, version, activated_at, activated_by)
         VALUES (true, $1, $2, $3, $4)
         ON CONFLICT (singleton) DO UPDATE
            SET policy_id = $1, version = $2, activated_at = $3, activated_by = $4",
    )
    .bind(id)
    .bind(version)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One transaction's effect on a day's figures.
#[derive(Debug, Clone, Copy)]
pub struct DayEntry {
    pub customer_id: Uuid,
    pub day: NaiveDate,
    /// Positive for a purchase, negative for a refund.
    pub amount_minor: i64,
    pub volume_milli: i64,
    pub is_purchase: bool,
}

/// A day's figures of one customer, summed over a batch's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    pub customer_id: Uuid,
    pub day: NaiveDate,
    pub spend_minor: i64,
    pub purchases: i32,
    pub largest_minor: i64,
    pub volume_milli: i64,
}

/// A batch's entries summed per (customer, day), in that key order: one
/// statement may touch a row only once, and every writer taking the rows in
/// key order is what keeps two consumers from waiting on each other.
/// Sums are checked: `None` when a day's figures would overflow.
pub fn day_totals(entries: &[DayEntry]) -> Option<Vec<DayTotals>> {
    let mut totals: std::collections::BTreeMap<(Uuid, NaiveDate), DayTotals> =
        std::collections::BTreeMap::new();
    for e in entries {
        let t = totals.entry((e.customer_id, e.day)).or_insert(DayTotals {
            customer_id: e.customer_id,
            day: e.day,
            spend_minor: 0,
            purchases: 0,
            largest_minor: 0,
            volume_milli: 0,
        });
        t.spend_minor = t.spend_minor.checked_add(e.amount_minor)?;
        t.volume_milli = t.volume_milli.checked_add(e.volume_milli)?;
        if e.is_purchase {
            t.purchases = t.purchases.checked_add(1)?;
            t.largest_minor = t.largest_minor.max(e.amount_minor);
        }
    }
    Some(totals.into_values().collect())
}

/// Adds a batch's transactions to their days' rows, in key order (none for a
/// deleted archive: a late transaction must not bring it back into rankings
/// and the sweep). The caller holds the customers' locks.
pub async fn add_to_days(tx: &mut PgConnection, entries: &[DayEntry]) -> Result<(), ServiceError> {
    let rows = day_totals(entries).ok_or_else(|| {
        ServiceError::internal(anyhow::anyhow!("a day's figures overflow in this batch"))
    })?;
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&DayTotals) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO daily_figures (customer_id, day, spend_minor, purchases, largest_minor, volume_milli)
         SELECT u.customer_id, u.day, u.spend_minor, u.purchases, u.largest_minor, u.volume_milli
           FROM unnest($1::uuid[], $2::date[], $3::bigint[], $4::int[], $5::bigint[], $6::bigint[])
                WITH ORDINALITY
             AS u(customer_id, day, spend_minor, purchases, largest_minor, volume_milli, n)
          WHERE NOT EXISTS (SELECT 1 FROM customer_facts f
                             WHERE f.customer_id = u.customer_id AND f.deleted_at IS NOT NULL)
          ORDER BY u.n
         ON CONFLICT (customer_id, day) DO UPDATE
            SET spend_minor = daily_figures.spend_minor + EXCLUDED.spend_minor,
                purchases = daily_figures.purchases + EXCLUDED.purchases,
                largest_minor = GREATEST(daily_figures.largest_minor, EXCLUDED.largest_minor),
                volume_milli = daily_figures.volume_milli + EXCLUDED.volume_milli",
    )
    .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.day).collect::<Vec<_>>())
    .bind(column(|r| r.spend_minor))
    .bind(rows.iter().map(|r| r.purchases).collect::<Vec<_>>())
    .bind(column(|r| r.largest_minor))
    .bind(column(|r| r.volume_milli))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default, FromRow)]
pub struct StandingRow {
    pub credit_rank: Option<i32>,
    pub arrears_minor: i64,
    pub bad_records: i32,
    pub region: String,
    pub designated_tier: String,
}

pub async fn put_standing(
    tx: &mut PgConnection,
    customer_id: Uuid,
    s: &StandingRow,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO standings (customer_id, credit_rank, arrears_minor, bad_records, region, designated_tier, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (customer_id) DO UPDATE
            SET credit_rank = $2, arrears_minor = $3, bad_records = $4, region = $5,
                designated_tier = $6, updated_at = $7, updated_by = $8",
    )
    .bind(customer_id)
    .bind(s.credit_rank)
    .bind(s.arrears_minor)
    .bind(s.bad_records)
    .bind(&s.region)
    .bind(&s.designated_tier)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The figures of many customers as of `today`, in one query over their
/// daily rows: each window a filtered aggregate, plus the last purchase day.
pub async fn figures_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
    needed: &[(Figure, Window)],
    today: NaiveDate,
    standings: &HashMap<Uuid, StandingRow>,
) -> Result<HashMap<Uuid, Figures>, ServiceError> {
    let mut windows: Vec<Window> = needed
        .iter()
        .filter(|(f, _)| f.is_windowed())
        .map(|(_, w)| *w)
        .collect();
    windows.sort();
    windows.dedup();
    let first_days: Vec<Option<NaiveDate>> = windows
        .iter()
        .map(|w| windows::first_day(*w, today))
        .collect();
    let mut columns = String::new();
    for i in 1..=windows.len() {
        let within = format!("($3::date[])[{i}] IS NULL OR d.day >= ($3::date[])[{i}]");
        columns.push_str(&format!(
            ", COALESCE(sum(d.spend_minor) FILTER (WHERE {within}), 0)::bigint
             , COALESCE(sum(d.purchases) FILTER (WHERE {within}), 0)::bigint
             , COALESCE(max(d.largest_minor) FILTER (WHERE {within}), 0)::bigint
             , COALESCE(sum(d.volume_milli) FILTER (WHERE {within}), 0)::bigint"
        ));
    }
    // A lateral aggregate per customer keeps to the (customer, day) index
    // whatever the batch size, also under a generic plan.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, f.*
           FROM unnest($1::uuid[]) AS c(id)
           CROSS JOIN LATERAL (
             SELECT max(d.day) FILTER (WHERE d.purchases > 0) {columns}
               FROM daily_figures d
              WHERE d.customer_id = c.id AND d.day <= $2) f"
    )))
    .bind(customers)
    .bind(today)
    .bind(&first_days)
    .fetch_all(&mut *conn)
    .await?;
    let wants_recency = needed.iter().any(|(f, _)| *f == Figure::DaysSincePurchase);
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let customer: Uuid = row.try_get(0)?;
        let mut figures = Figures::default();
        for (i, window) in windows.iter().enumerate() {
            let at = 2 + i * 4;
            figures = figures
                .with(Figure::Spend, *window, row.try_get(at)?)
                .with(Figure::Visits, *window, row.try_get(at + 1)?)
                .with(Figure::LargestPurchase, *window, row.try_get(at + 2)?)
                .with(Figure::Volume, *window, row.try_get(at + 3)?);
        }
        let last_purchase: Option<NaiveDate> = row.try_get(1)?;
        if wants_recency && let Some(last) = last_purchase {
            figures = figures.with(
                Figure::DaysSincePurchase,
                Window::Now,
                (today - last).num_days(),
            );
        }
        let standing = standings.get(&customer).cloned().unwrap_or_default();
        figures = figures
            .with(Figure::Arrears, Window::Now, standing.arrears_minor)
            .with(
                Figure::BadRecords,
                Window::Now,
                i64::from(standing.bad_records),
            );
        if let Some(rank) = standing.credit_rank {
            figures = figures.with(Figure::CreditGrade, Window::Now, i64::from(rank));
        }
        out.insert(customer, figures);
    }
    Ok(out)
}

/// The standings of many customers.
pub async fn standings_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, StandingRow>, ServiceError> {
    let rows: Vec<Keyed<StandingRow>> = sqlx::query_as(
        "SELECT customer_id, credit_rank, arrears_minor, bad_records, region, designated_tier
           FROM standings WHERE customer_id = ANY($1)",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|k| (k.customer_id, k.row)).collect())
}

/// A row with the customer it belongs to.
#[derive(FromRow)]
struct Keyed<T> {
    customer_id: Uuid,
    #[sqlx(flatten)]
    row: T,
}

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

const ASSIGNMENT_COLUMNS: &str = "customer_id, tier, pending_tier, policy_id, policy_version, explanation, checks, \
                                  decided_at, next_review_at, version, activity, activity_reason, \
                                  override_tier, override_reason, override_by, churn_reasons";

/// The customer's manager from profile's events, beside an assignment's columns.
const MANAGER_COLUMN: &str = "COALESCE((SELECT f.account_manager FROM customer_facts f
                                         WHERE f.customer_id = assignments.customer_id), '')
                              AS account_manager";

/// Which customers a list may show: those the caller reaches, narrowed to
/// one manager's when asked.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Only this manager's customers.
    pub manager_asked: Option<String>,
    /// The caller reaches the whole company.
    pub company: bool,
    /// Customers whose unit path holds this unit.
    pub unit: Option<String>,
    /// Customers this staff member manages.
    pub managed_by: Option<String>,
}

impl Visibility {
    /// The SQL condition on `customer_id`, reading its four values from the
    /// query parameters starting at `$first` (bound by [`bind`](Self::bind)).
    fn condition(first: usize) -> String {
        let (asked, company, unit, managed_by) = (first, first + 1, first + 2, first + 3);
        format!(
            "(${asked}::text IS NULL OR customer_id IN
                (SELECT f.customer_id FROM customer_facts f WHERE f.account_manager = ${asked}))
             AND (${company}::boolean OR customer_id IN
                (SELECT f.customer_id FROM customer_facts f
                  WHERE f.org_unit_path @> ARRAY[${unit}::text]
                     OR (f.account_manager <> '' AND f.account_manager = ${managed_by}::text)))"
        )
    }

    fn bind<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(&self.manager_asked)
            .bind(self.company)
            .bind(&self.unit)
            .bind(&self.managed_by)
    }
}

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
/// bumping each row's version; returns them as stored, in the order given.
pub async fn put_assignments(
    tx: &mut PgConnection,
    rows: &[&AssignmentRow],
) -> Result<Vec<AssignmentRow>, ServiceError> {
    fn column<T>(rows: &[&AssignmentRow], f: impl Fn(&AssignmentRow) -> T) -> Vec<T> {
        rows.iter().map(|r| f(r)).collect()
    }
    let churn_reasons = column(rows, |r| serde_json::json!(r.churn_reasons));
    let stored: Vec<AssignmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO assignments (customer_id, tier, pending_tier, policy_id, policy_version, explanation, checks,
                                  decided_at, next_review_at, activity, activity_reason,
                                  override_tier, override_reason, override_by, churn_reasons)
         SELECT u.customer_id, u.tier, u.pending_tier, u.policy_id, u.policy_version, u.explanation, u.checks,
                u.decided_at, u.next_review_at, u.activity, u.activity_reason,
                u.override_tier, u.override_reason, u.override_by,
                ARRAY(SELECT jsonb_array_elements_text(u.churn_reasons))
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::jsonb[],
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
         RETURNING {ASSIGNMENT_COLUMNS}"
    )))
    .bind(column(rows, |r| r.customer_id))
    .bind(column(rows, |r| r.tier.clone()))
    .bind(column(rows, |r| r.pending_tier.clone()))
    .bind(column(rows, |r| r.policy_id.clone()))
    .bind(column(rows, |r| r.policy_version))
    .bind(column(rows, |r| r.explanation.clone()))
    .bind(column(rows, |r| r.checks.clone()))
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
    let mut by_customer: HashMap<Uuid, AssignmentRow> =
        stored.into_iter().map(|r| (r.customer_id, r)).collect();
    Ok(rows
        .iter()
        .filter_map(|r| by_customer.remove(&r.customer_id))
        .collect())
}

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

/// Spend over a period, across customers.
#[derive(Debug, Clone, Default)]
pub struct SpendRanking {
    /// Customers with positive net spend.
    pub customers: i64,
    pub total_minor: i64,
    /// The top `k` customers' spend.
    pub top_minor: i64,
    /// The top customers (at most the cap), biggest first.
    pub top: Vec<(Uuid, i64)>,
}

/// Ranks customers by net spend from `first_day` (all when `None`) to
/// `today`, and sums the top `percent` of them (rounded up).
pub async fn rank_by_spend(
    conn: &mut PgConnection,
    visible: &Visibility,
    first_day: Option<NaiveDate>,
    today: NaiveDate,
    percent: i32,
    cap: i64,
) -> Result<SpendRanking, ServiceError> {
    // The customers the caller reaches, ranked among themselves.
    let spend = |first_visibility_param: usize| {
        format!(
            "WITH spend AS (
               SELECT customer_id, sum(spend_minor)::bigint AS s FROM daily_figures
                WHERE ($1::date IS NULL OR day >= $1) AND day <= $2 AND {}
                GROUP BY customer_id HAVING sum(spend_minor) > 0),
             ranked AS (
               SELECT customer_id, s, row_number() OVER (ORDER BY s DESC, customer_id) AS rn,
                      count(*) OVER () AS n
                 FROM spend)",
            Visibility::condition(first_visibility_param)
        )
    };
    let totals = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{}
         SELECT COALESCE(max(n), 0)::bigint, COALESCE(sum(s), 0)::bigint,
                COALESCE(sum(s) FILTER (WHERE rn <= ceil(n * $3 / 100.0)), 0)::bigint
           FROM ranked",
        spend(4)
    )))
    .bind(first_day)
    .bind(today)
    .bind(percent);
    let (customers, total_minor, top_minor): (i64, i64, i64) =
        visible.bind(totals).fetch_one(&mut *conn).await?;
    let top = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{}
         SELECT customer_id, s FROM ranked WHERE rn <= ceil(n * $3 / 100.0) ORDER BY rn LIMIT $4",
        spend(5)
    )))
    .bind(first_day)
    .bind(today)
    .bind(percent)
    .bind(cap);
    let top: Vec<(Uuid, i64)> = visible.bind(top).fetch_all(&mut *conn).await?;
    Ok(SpendRanking {
        customers,
        total_minor,
        top_minor,
        top,
    })
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

/// Takes a deleted archive out of what tiering works on: the sweep, rankings,
/// pending-downgrade and churn lists read these rows. Its tier history stays.
pub async fn forget_customer(tx: &mut PgConnection, customer_id: Uuid) -> Result<(), ServiceError> {
    for table in ["assignments", "daily_figures", "standings"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE customer_id = $1"
        )))
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batchs_days_are_summed_once_each_in_key_order() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let entry = |customer_id, d, amount_minor: i64| DayEntry {
            customer_id,
            day: day(d),
            amount_minor,
            volume_milli: 0,
            is_purchase: amount_minor > 0,
        };
        // In stream order: b before a, a later day before an earlier one.
        let totals = day_totals(&[
            entry(b, 2, 500),
            entry(a, 3, 100),
            entry(a, 2, 300),
            entry(b, 2, -200),
            entry(a, 3, 700),
        ])
        .unwrap();
        let keys: Vec<(Uuid, NaiveDate)> = totals.iter().map(|t| (t.customer_id, t.day)).collect();
        assert_eq!(keys, [(a, day(2)), (a, day(3)), (b, day(2))]);
        assert_eq!(
            (
                totals[1].spend_minor,
                totals[1].purchases,
                totals[1].largest_minor
            ),
            (800, 2, 700)
        );
        assert_eq!(
            (
                totals[2].spend_minor,
                totals[2].purchases,
                totals[2].largest_minor
            ),
            (300, 1, 500),
            "a refund lowers the spend, not the count or the largest"
        );
    }
}
