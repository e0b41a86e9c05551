//! The figures 001 asks a company to report, over a period and a set of
//! units, computed by the database in a few set-based statements.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgPool};

use super::complaints::ReachFilter;

/// Which complaints count: received (or closed, or with stages ended) in
/// `[from, to)`, within reach, and under `unit` when given.
#[derive(Debug, Clone)]
pub struct Scope {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub unit: Option<String>,
    pub reach: ReachFilter,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, FromRow)]
pub struct Totals {
    pub received: i64,
    pub repeats: i64,
    pub closed: i64,
    pub closed_on_time: i64,
    pub closed_first_time: i64,
    pub open_past_deadline: i64,
    pub surveys: i64,
    pub satisfaction_sum: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct StageRow {
    pub stage: String,
    pub count: i64,
    pub mean_secs: f64,
    pub p90_secs: f64,
    pub paused_secs: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct RootCauseRow {
    pub root_cause: String,
    pub count: i64,
}

/// The `WHERE` condition on `c` (complaints) for the reach and unit, with
/// parameters from $4 on: $4 company, $5 reach unit, $6 manager, $7 unit.
const IN_SCOPE: &str = "($4 OR ($5::text IS NOT NULL AND c.org_unit_path @> ARRAY[$5::text])
                            OR ($6::text IS NOT NULL AND c.account_manager = $6))
                        AND ($7::text IS NULL OR c.org_unit_path @> ARRAY[$7::text])";

/// Binds `scope` as $1 … $7, in the order the statements name them.
fn scoped<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    scope: &'q Scope,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(scope.from)
        .bind(scope.to)
        .bind(scope.now)
        .bind(scope.reach.company)
        .bind(&scope.reach.unit)
        .bind(&scope.reach.manager)
        .bind(&scope.unit)
}

pub async fn totals(pool: &PgPool, scope: &Scope) -> Result<Totals, ServiceError> {
    let sql = format!(
        "SELECT
           count(*) FILTER (WHERE c.received_at >= $1 AND c.received_at < $2) AS received,
           count(*) FILTER (WHERE c.received_at >= $1 AND c.received_at < $2
                              AND c.repeat_of IS NOT NULL) AS repeats,
           count(*) FILTER (WHERE c.closed_at >= $1 AND c.closed_at < $2) AS closed,
           count(*) FILTER (WHERE c.closed_at >= $1 AND c.closed_at < $2 AND NOT c.overdue) AS closed_on_time,
           count(*) FILTER (WHERE c.closed_at >= $1 AND c.closed_at < $2 AND c.reopen_count = 0)
             AS closed_first_time,
           count(*) FILTER (WHERE c.state NOT IN ('closed', 'not_valid') AND c.due_at < $3)
             AS open_past_deadline,
           count(*) FILTER (WHERE c.survey_at >= $1 AND c.survey_at < $2) AS surveys,
           coalesce(sum(c.survey_score) FILTER (WHERE c.survey_at >= $1 AND c.survey_at < $2), 0)::bigint
             AS satisfaction_sum
         FROM complaints c
         WHERE {IN_SCOPE}"
    );
    Ok(scoped(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope)
        .fetch_one(pool)
        .await?)
}

/// Per stage, over the stages that ended in the period.
pub async fn stages(pool: &PgPool, scope: &Scope) -> Result<Vec<StageRow>, ServiceError> {
    let sql = format!(
        "SELECT s.stage, count(*) AS count,
                avg(s.worked_secs)::float8 AS mean_secs,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY s.worked_secs)::float8 AS p90_secs,
                sum(s.paused_secs)::bigint AS paused_secs
           FROM complaint_stages s JOIN complaints c ON c.id = s.complaint_id
          WHERE s.ended_at >= $1 AND s.ended_at < $2 AND $3::timestamptz IS NOT NULL AND {IN_SCOPE}
          GROUP BY s.stage"
    );
    Ok(scoped(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope)
        .fetch_all(pool)
        .await?)
}

/// The root causes of complaints closed in the period, most frequent first.
pub async fn root_causes(
    pool: &PgPool,
    scope: &Scope,
    limit: i64,
) -> Result<Vec<RootCauseRow>, ServiceError> {
    let sql = format!(
        "SELECT c.root_cause, count(*) AS count
           FROM complaints c
          WHERE c.closed_at >= $1 AND c.closed_at < $2 AND c.root_cause IS NOT NULL
            AND $3::timestamptz IS NOT NULL AND {IN_SCOPE}
          GROUP BY c.root_cause ORDER BY count(*) DESC, c.root_cause LIMIT $8"
    );
    Ok(scoped(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}
