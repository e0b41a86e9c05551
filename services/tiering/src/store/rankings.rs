//! Rankings of customers by spend over a period.

use chrono::NaiveDate;
use patron_kit::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

use patron_kit::directory::Visibility;

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
