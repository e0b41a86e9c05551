//! Daily figures: a batch's transactions summed into their days' rows, and
//! the windowed figures evaluations read from them.

use std::collections::HashMap;

use chrono::NaiveDate;
use patron_kit::ServiceError;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::standings::StandingRow;
use crate::domain::evaluate::Figures;
use crate::domain::policy::{Figure, Window};
use crate::domain::windows;

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
