//! Service plans with their steps, and the reviews of work logs. Who sees
//! a plan or a review follows where its manager sits: their own, and those
//! of the staff in a supervisor's unit subtree (the directory's staff
//! placements, `directory_staff`).

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use patron_kit::directory::Reach;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// A plan as stored.
#[derive(Debug, Clone, FromRow)]
pub struct PlanRow {
    pub id: Uuid,
    pub staff_member: String,
    pub period: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub body: String,
    pub items: Vec<String>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

/// One step of a plan.
#[derive(Debug, Clone, FromRow)]
pub struct PlanStepRow {
    pub service_plan_id: Uuid,
    pub action: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

const PLAN_COLUMNS: &str = "p.id, p.staff_member, p.period, p.period_start, p.period_end, p.body,
    p.items, p.state, p.created_at, p.version";

/// Inserts a plan; `false` when the manager has one for the period already.
pub async fn insert(tx: &mut PgConnection, row: &PlanRow) -> Result<bool, ServiceError> {
    let done = sqlx::query(
        "INSERT INTO service_plans (id, staff_member, period, period_start, period_end, body,
                                    items, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (staff_member, period, period_start) DO NOTHING",
    )
    .bind(row.id)
    .bind(&row.staff_member)
    .bind(&row.period)
    .bind(row.period_start)
    .bind(row.period_end)
    .bind(&row.body)
    .bind(&row.items)
    .bind(&row.state)
    .bind(row.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_step(tx: &mut PgConnection, step: &PlanStepRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO service_plan_steps (service_plan_id, seq, action, actor, at, note)
         SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5
           FROM service_plan_steps WHERE service_plan_id = $1",
    )
    .bind(step.service_plan_id)
    .bind(&step.action)
    .bind(&step.actor)
    .bind(step.at)
    .bind(&step.note)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<PlanRow>, ServiceError> {
    Ok(sqlx::query_as::<_, PlanRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM service_plans p WHERE p.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<PlanRow>, ServiceError> {
    Ok(sqlx::query_as::<_, PlanRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM service_plans p WHERE p.id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?)
}

/// Saves a plan's text, items and state, bumping its version.
pub async fn update(tx: &mut PgConnection, row: &PlanRow) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE service_plans SET body = $2, items = $3, state = $4, version = version + 1
          WHERE id = $1",
    )
    .bind(row.id)
    .bind(&row.body)
    .bind(&row.items)
    .bind(&row.state)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn steps(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<PlanStepRow>, ServiceError> {
    Ok(sqlx::query_as::<_, PlanStepRow>(
        "SELECT service_plan_id, action, actor, at, note FROM service_plan_steps
          WHERE service_plan_id = ANY($1) ORDER BY service_plan_id, seq",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// Adds the caller's reach over the staff member in `staff_column`: the
/// company, the staff placed in their unit's subtree, or themselves.
fn push_staff_reach(
    q: &mut QueryBuilder<Postgres>,
    reach: &Reach,
    subject: &str,
    staff_column: &'static str,
) {
    if matches!(reach, Reach::Company) {
        return;
    }
    q.push(" AND (").push(staff_column).push(" = ");
    q.push_bind(subject.to_owned());
    if let Some(unit) = reach.unit() {
        q.push(" OR ")
            .push(staff_column)
            .push(" IN (SELECT s.staff_id FROM directory_staff s WHERE s.org_unit_path @> ARRAY[")
            .push_bind(unit.to_owned())
            .push("]::text[])");
    }
    q.push(")");
}

/// Which plans a list shows.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub staff_member: Option<String>,
    pub period: Option<String>,
    pub period_start: Option<NaiveDate>,
    pub state: Option<String>,
}

/// A page of the plans the caller reaches, latest period first.
pub async fn list(
    pool: &PgPool,
    filter: &PlanFilter,
    reach: &Reach,
    subject: &str,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<PlanRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(PLAN_COLUMNS)
        .push(" FROM service_plans p WHERE true");
    push_staff_reach(&mut q, reach, subject, "p.staff_member");
    if let Some(staff) = &filter.staff_member {
        q.push(" AND p.staff_member = ").push_bind(staff.clone());
    }
    if let Some(period) = &filter.period {
        q.push(" AND p.period = ").push_bind(period.clone());
    }
    if let Some(start) = filter.period_start {
        q.push(" AND p.period_start = ").push_bind(start);
    }
    if let Some(state) = &filter.state {
        q.push(" AND p.state = ").push_bind(state.clone());
    }
    if let Some((start, id)) = after {
        q.push(" AND (p.period_start, p.id) < (")
            .push_bind(start)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY p.period_start DESC, p.id DESC LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<PlanRow>().fetch_all(pool).await?)
}

/// A review of a work log as stored.
#[derive(Debug, Clone, FromRow)]
pub struct LogReviewRow {
    pub id: Uuid,
    pub staff_member: String,
    pub period: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub decision: String,
    pub note: String,
    pub reviewer: String,
    pub reviewed_at: DateTime<Utc>,
    pub contact_count: i64,
}

const REVIEW_COLUMNS: &str = "r.id, r.staff_member, r.period, r.period_start, r.period_end,
    r.decision, r.note, r.reviewer, r.reviewed_at, r.contact_count";

/// Serialises reviews of one manager's log for one period, so two
/// sign-offs cannot both pass the check.
pub async fn lock_log_period(
    tx: &mut PgConnection,
    staff_member: &str,
    period: &str,
    start: NaiveDate,
) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.work-log.' || $1 || '.' || $2 || '.' || $3::text))")
        .bind(staff_member)
        .bind(period)
        .bind(start)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whether the manager's log for the period is signed off already.
pub async fn log_signed_off(
    tx: &mut PgConnection,
    staff_member: &str,
    period: &str,
    start: NaiveDate,
) -> Result<bool, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM work_log_reviews
                         WHERE staff_member = $1 AND period = $2 AND period_start = $3
                           AND decision = 'signed_off')",
    )
    .bind(staff_member)
    .bind(period)
    .bind(start)
    .fetch_one(&mut *tx)
    .await?)
}

/// The contacts `staff_member` logged from `since` until before `until`.
pub async fn contacts_logged(
    tx: &mut PgConnection,
    staff_member: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM contact_logs
          WHERE staff_member = $1 AND contact_time >= $2 AND contact_time < $3",
    )
    .bind(staff_member)
    .bind(since)
    .bind(until)
    .fetch_one(&mut *tx)
    .await?)
}

pub async fn insert_review(tx: &mut PgConnection, row: &LogReviewRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO work_log_reviews (id, staff_member, period, period_start, period_end,
                                       decision, note, reviewer, reviewed_at, contact_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(row.id)
    .bind(&row.staff_member)
    .bind(&row.period)
    .bind(row.period_start)
    .bind(row.period_end)
    .bind(&row.decision)
    .bind(&row.note)
    .bind(&row.reviewer)
    .bind(row.reviewed_at)
    .bind(row.contact_count)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get_review(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LogReviewRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, LogReviewRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {REVIEW_COLUMNS} FROM work_log_reviews r WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(conn)
        .await?,
    )
}

/// A page of the reviews the caller reaches, latest first.
pub async fn list_reviews(
    pool: &PgPool,
    staff_member: Option<&str>,
    period: Option<&str>,
    reach: &Reach,
    subject: &str,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<LogReviewRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(REVIEW_COLUMNS)
        .push(" FROM work_log_reviews r WHERE true");
    push_staff_reach(&mut q, reach, subject, "r.staff_member");
    if let Some(staff) = staff_member {
        q.push(" AND r.staff_member = ").push_bind(staff.to_owned());
    }
    if let Some(period) = period {
        q.push(" AND r.period = ").push_bind(period.to_owned());
    }
    if let Some((at, id)) = after {
        q.push(" AND (r.reviewed_at, r.id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY r.reviewed_at DESC, r.id DESC LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<LogReviewRow>().fetch_all(pool).await?)
}
