//! Gift and relationship expenses with their steps, and the monthly report.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use patron_kit::directory::Reach;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::tasks::push_reach;

/// An expense as stored.
#[derive(Debug, Clone, FromRow)]
pub struct GiftExpenseRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub purpose: String,
    pub currency: String,
    pub budget_minor: i64,
    pub approved_minor: Option<i64>,
    pub spent_minor: Option<i64>,
    pub state: String,
    pub requested_by: String,
    pub requester_unit: String,
    pub requested_at: DateTime<Utc>,
    pub version: i64,
}

/// One step of an expense.
#[derive(Debug, Clone, FromRow)]
pub struct StepRow {
    pub gift_expense_id: Uuid,
    pub action: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub note: String,
    pub amount_minor: Option<i64>,
}

const COLUMNS: &str = "g.id, g.customer_id, g.purpose, g.currency, g.budget_minor,
    g.approved_minor, g.spent_minor, g.state, g.requested_by, g.requester_unit,
    g.requested_at, g.version";

pub async fn insert(tx: &mut PgConnection, row: &GiftExpenseRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO gift_expenses (id, customer_id, purpose, currency, budget_minor, state,
                                    requested_by, requester_unit, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(row.id)
    .bind(row.customer_id)
    .bind(&row.purpose)
    .bind(&row.currency)
    .bind(row.budget_minor)
    .bind(&row.state)
    .bind(&row.requested_by)
    .bind(&row.requester_unit)
    .bind(row.requested_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Appends a step to an expense's history.
pub async fn insert_step(tx: &mut PgConnection, step: &StepRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO gift_expense_steps (gift_expense_id, seq, action, actor, at, note, amount_minor)
         SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6
           FROM gift_expense_steps WHERE gift_expense_id = $1",
    )
    .bind(step.gift_expense_id)
    .bind(&step.action)
    .bind(&step.actor)
    .bind(step.at)
    .bind(&step.note)
    .bind(step.amount_minor)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<GiftExpenseRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, GiftExpenseRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gift_expenses g WHERE g.id = $1"
        )))
        .bind(id)
        .fetch_optional(conn)
        .await?,
    )
}

/// One expense, locked for a step.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<GiftExpenseRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, GiftExpenseRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gift_expenses g WHERE g.id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(tx)
        .await?,
    )
}

/// What a step changes.
#[derive(Debug, Clone)]
pub enum Change {
    Approved { amount_minor: i64 },
    Refused,
    Spent { amount_minor: i64 },
    Withdrawn,
}

/// Applies a step's change and bumps the version.
pub async fn apply(
    tx: &mut PgConnection,
    id: Uuid,
    change: &Change,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let query = match change {
        Change::Approved { amount_minor } => sqlx::query(
            "UPDATE gift_expenses SET state = 'approved', approved_minor = $2, decided_at = $3,
                    version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(amount_minor)
        .bind(at),
        Change::Refused => sqlx::query(
            "UPDATE gift_expenses SET state = 'refused', decided_at = $2, version = version + 1
              WHERE id = $1",
        )
        .bind(id)
        .bind(at),
        Change::Spent { amount_minor } => sqlx::query(
            "UPDATE gift_expenses SET state = 'spent', spent_minor = $2, spent_at = $3,
                    version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(amount_minor)
        .bind(at),
        Change::Withdrawn => sqlx::query(
            "UPDATE gift_expenses SET state = 'withdrawn', version = version + 1 WHERE id = $1",
        )
        .bind(id),
    };
    query.execute(&mut *tx).await?;
    Ok(())
}

/// The steps of `ids`, each expense's in order.
pub async fn steps(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<StepRow>, ServiceError> {
    Ok(sqlx::query_as::<_, StepRow>(
        "SELECT gift_expense_id, action, actor, at, note, amount_minor
           FROM gift_expense_steps WHERE gift_expense_id = ANY($1)
          ORDER BY gift_expense_id, seq",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// Which expenses a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub requested_by: Option<String>,
    pub customer_id: Option<Uuid>,
    pub state: Option<String>,
}

/// A page of the expenses the caller reaches (their customers', or their
/// own requests), newest first.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    reach: &Reach,
    subject: &str,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<GiftExpenseRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(COLUMNS).push(
        " FROM gift_expenses g LEFT JOIN customer_facts f ON f.customer_id = g.customer_id
          WHERE true",
    );
    push_reach(&mut q, reach, subject, "g.requested_by");
    if let Some(who) = &filter.requested_by {
        q.push(" AND g.requested_by = ").push_bind(who.clone());
    }
    if let Some(customer) = filter.customer_id {
        q.push(" AND g.customer_id = ").push_bind(customer);
    }
    if let Some(state) = &filter.state {
        q.push(" AND g.state = ").push_bind(state.clone());
    }
    if let Some((at, id)) = after {
        q.push(" AND (g.requested_at, g.id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY g.requested_at DESC, g.id DESC LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<GiftExpenseRow>().fetch_all(pool).await?)
}

/// One group's figures for a month.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct MonthFigures {
    /// The requester, or their unit.
    pub key: String,
    pub currency: String,
    pub requested_count: i64,
    pub requested_minor: i64,
    pub approved_count: i64,
    pub approved_minor: i64,
    pub spent_count: i64,
    pub spent_minor: i64,
    pub refused_count: i64,
}

/// How the report groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Requester,
    Unit,
}

/// The figures of the month `[from, until)` per requester or per unit,
/// the caller's reach only: each step counts in the month it was taken.
pub async fn month_figures(
    pool: &PgPool,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    group: GroupBy,
    reach: &Reach,
    subject: &str,
) -> Result<Vec<MonthFigures>, ServiceError> {
    let key = match group {
        GroupBy::Requester => "g.requested_by",
        GroupBy::Unit => "g.requester_unit",
    };
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(key).push(" AS key, g.currency,");
    // The month's bounds are bound once each and named in a lateral row, so
    // every FILTER reads them.
    q.push(
        " count(*) FILTER (WHERE g.requested_at >= m.since AND g.requested_at < m.until)
              AS requested_count,
          coalesce(sum(g.budget_minor) FILTER (WHERE g.requested_at >= m.since
              AND g.requested_at < m.until), 0)::bigint AS requested_minor,
          count(*) FILTER (WHERE g.approved_minor IS NOT NULL AND g.decided_at >= m.since
              AND g.decided_at < m.until) AS approved_count,
          coalesce(sum(g.approved_minor) FILTER (WHERE g.decided_at >= m.since
              AND g.decided_at < m.until), 0)::bigint AS approved_minor,
          count(*) FILTER (WHERE g.spent_at >= m.since AND g.spent_at < m.until)
              AS spent_count,
          coalesce(sum(g.spent_minor) FILTER (WHERE g.spent_at >= m.since
              AND g.spent_at < m.until), 0)::bigint AS spent_minor,
          count(*) FILTER (WHERE g.state = 'refused' AND g.decided_at >= m.since
              AND g.decided_at < m.until) AS refused_count
         FROM (SELECT ",
    )
    .push_bind(from)
    .push("::timestamptz AS since, ")
    .push_bind(until)
    .push(
        "::timestamptz AS until) m
         CROSS JOIN gift_expenses g
         LEFT JOIN customer_facts f ON f.customer_id = g.customer_id
        WHERE ((g.requested_at >= m.since AND g.requested_at < m.until)
            OR (g.decided_at >= m.since AND g.decided_at < m.until)
            OR (g.spent_at >= m.since AND g.spent_at < m.until))",
    );
    push_reach(&mut q, reach, subject, "g.requested_by");
    q.push(" GROUP BY ")
        .push(key)
        .push(", g.currency ORDER BY ")
        .push(key)
        .push(", g.currency");
    Ok(q.build_query_as::<MonthFigures>().fetch_all(pool).await?)
}
