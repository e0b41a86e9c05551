//! Each purchase's amount and what refunds naming it took back, so the
//! largest purchase of a day counts what was actually paid (003).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use patron_kit::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

/// A purchase as the consumer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub transaction: String,
    pub customer_id: Uuid,
    pub day: NaiveDate,
    pub paid_minor: i64,
}

/// A refund that names the purchase it takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRefund {
    pub purchase: String,
    pub amount_minor: i64,
}

/// Keeps a batch's purchases (a purchase applied again is left as it is),
/// in key order.
pub async fn record_purchases(
    tx: &mut PgConnection,
    purchases: &[Purchase],
) -> Result<(), ServiceError> {
    if purchases.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&Purchase> = purchases.iter().collect();
    sorted.sort_by(|a, b| a.transaction.cmp(&b.transaction));
    sorted.dedup_by(|a, b| a.transaction == b.transaction);
    sqlx::query(
        "INSERT INTO purchase_amounts (transaction, customer_id, day, paid_minor)
         SELECT u.transaction, u.customer_id, u.day, u.paid_minor
           FROM unnest($1::text[], $2::uuid[], $3::date[], $4::bigint[]) WITH ORDINALITY
             AS u(transaction, customer_id, day, paid_minor, n)
          ORDER BY u.n
         ON CONFLICT (transaction) DO NOTHING",
    )
    .bind(
        sorted
            .iter()
            .map(|p| p.transaction.clone())
            .collect::<Vec<_>>(),
    )
    .bind(sorted.iter().map(|p| p.customer_id).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.day).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.paid_minor).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes a batch's named refunds off their purchases (never below nothing;
/// profile refuses refunds beyond what was paid), then sets the largest
/// purchase of each day touched from its purchases after their refunds —
/// where tiering knows every purchase of that day. A refund of a purchase
/// tiering never saw changes only the spend.
pub async fn take_back_refunds(
    tx: &mut PgConnection,
    refunds: &[NamedRefund],
) -> Result<(), ServiceError> {
    let mut per_purchase: BTreeMap<&str, i64> = BTreeMap::new();
    for r in refunds {
        let sum = per_purchase.entry(r.purchase.as_str()).or_default();
        *sum = sum.saturating_add(r.amount_minor);
    }
    if per_purchase.is_empty() {
        return Ok(());
    }
    let days: Vec<(Uuid, NaiveDate)> = sqlx::query_as(
        "UPDATE purchase_amounts p
            SET refunded_minor = LEAST(p.paid_minor, p.refunded_minor + u.minor)
           FROM unnest($1::text[], $2::bigint[]) AS u(transaction, minor)
          WHERE p.transaction = u.transaction
         RETURNING p.customer_id, p.day",
    )
    .bind(
        per_purchase
            .keys()
            .map(|k| k.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(per_purchase.values().copied().collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let mut days = days;
    days.sort();
    days.dedup();
    if days.is_empty() {
        return Ok(());
    }
    let (customers, days): (Vec<Uuid>, Vec<NaiveDate>) = days.into_iter().unzip();
    sqlx::query(
        "UPDATE daily_figures d
            SET largest_minor = p.largest
           FROM (SELECT a.customer_id, a.day, max(a.paid_minor - a.refunded_minor) AS largest,
                        count(*) AS known
                   FROM purchase_amounts a
                   JOIN unnest($1::uuid[], $2::date[]) AS u(customer_id, day)
                     ON a.customer_id = u.customer_id AND a.day = u.day
                  GROUP BY a.customer_id, a.day) p
          WHERE d.customer_id = p.customer_id AND d.day = p.day AND d.purchases = p.known",
    )
    .bind(&customers)
    .bind(&days)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
