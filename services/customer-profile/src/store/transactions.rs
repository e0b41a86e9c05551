//! Transaction records' SQL.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use patron_kit::events::EventBatch;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::transaction::NamedPurchase;
use patron_vocab::Change;

const COLUMNS: &str = "id, customer_id, external_id, kind, occurred_at, product, quantity_milli, unit, \
                       amount_minor, currency, payment_method, channel, order_number, created_at, created_by, refunds_id";

/// One transaction as stored (and as recorded, before insert).
#[derive(Debug, Clone, FromRow)]
pub struct TransactionRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub external_id: String,
    pub kind: i16,
    pub occurred_at: DateTime<Utc>,
    pub product: String,
    pub quantity_milli: i64,
    pub unit: String,
    pub amount_minor: i64,
    pub currency: String,
    pub payment_method: i16,
    pub channel: String,
    pub order_number: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// For a refund, the purchase it takes back, when it names one.
    pub refunds_id: Option<Uuid>,
}

impl TransactionRow {
    /// Whether `other` records the same transaction (a retry), ignoring the
    /// ids and stamps the service assigns.
    pub fn same_facts(&self, other: &TransactionRow) -> bool {
        (
            self.customer_id,
            &self.external_id,
            self.kind,
            self.occurred_at,
            &self.product,
            self.quantity_milli,
            &self.unit,
            self.amount_minor,
            self.currency.trim(),
            self.payment_method,
            &self.channel,
            &self.order_number,
        ) == (
            other.customer_id,
            &other.external_id,
            other.kind,
            other.occurred_at,
            &other.product,
            other.quantity_milli,
            &other.unit,
            other.amount_minor,
            other.currency.trim(),
            other.payment_method,
            &other.channel,
            &other.order_number,
        ) && self.refunds_id == other.refunds_id
    }
}

/// What recording found.
pub enum Recorded {
    New(TransactionRow),
    /// The external id was recorded before; this is what was stored.
    Existing(TransactionRow),
}

/// Inserts `rows` in one statement, each unless its external id is already
/// recorded; what each found, in order.
///
/// `events` holds one event per row, in the same order, and each goes to
/// the outbox in the same statement when, and only when, its row is new.
/// The external ids must differ from one another (a row whose id another
/// row of the same statement took would find the other's row, and its
/// event would be written as if it were new).
pub async fn insert_many(
    tx: &mut PgConnection,
    rows: &[(&TransactionRow, Change<'_>)],
    events: EventBatch,
) -> Result<Vec<Recorded>, ServiceError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let external_ids: Vec<String> = each(rows, |r, _| r.external_id.clone());
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "WITH inserted AS (INSERT INTO transactions ({COLUMNS}) SELECT * FROM unnest("
    ));
    // One array per column, in COLUMNS' order.
    push_array(&mut q, each(rows, |r, _| r.id), "::uuid[], ");
    push_array(&mut q, each(rows, |r, _| r.customer_id), "::uuid[], ");
    push_array(&mut q, external_ids.clone(), "::text[], ");
    push_array(&mut q, each(rows, |r, _| r.kind), "::int2[], ");
    push_array(
        &mut q,
        each(rows, |r, _| r.occurred_at),
        "::timestamptz[], ",
    );
    push_array(&mut q, each(rows, |r, _| r.product.clone()), "::text[], ");
    push_array(&mut q, each(rows, |r, _| r.quantity_milli), "::int8[], ");
    push_array(&mut q, each(rows, |r, _| r.unit.clone()), "::text[], ");
    push_array(&mut q, each(rows, |r, _| r.amount_minor), "::int8[], ");
    push_array(&mut q, each(rows, |r, _| r.currency.clone()), "::text[], ");
    push_array(&mut q, each(rows, |r, _| r.payment_method), "::int2[], ");
    push_array(&mut q, each(rows, |r, _| r.channel.clone()), "::text[], ");
    push_array(
        &mut q,
        each(rows, |r, _| r.order_number.clone()),
        "::text[], ",
    );
    push_array(&mut q, each(rows, |_, c| c.at), "::timestamptz[], ");
    push_array(&mut q, each(rows, |_, c| c.actor.to_owned()), "::text[], ");
    push_array(&mut q, each(rows, |r, _| r.refunds_id), "::uuid[]");
    q.push(format!(
        ") ON CONFLICT (external_id) DO NOTHING RETURNING {COLUMNS}), published AS ("
    ));
    events.push_write_for_keys(&mut q, external_ids, "SELECT external_id FROM inserted");
    q.push(") SELECT * FROM inserted");
    let inserted = q
        .build_query_as::<TransactionRow>()
        .fetch_all(&mut *tx)
        .await?;
    let mut new: std::collections::HashMap<Uuid, TransactionRow> =
        inserted.into_iter().map(|row| (row.id, row)).collect();
    // What the rows that were not new found, in one more statement (a
    // retry's case).
    let mut existing: std::collections::HashMap<String, TransactionRow> = if new.len() == rows.len()
    {
        Default::default()
    } else {
        let taken: Vec<&str> = rows
            .iter()
            .filter(|(row, _)| !new.contains_key(&row.id))
            .map(|(row, _)| row.external_id.as_str())
            .collect();
        sqlx::query_as::<_, TransactionRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transactions WHERE external_id = ANY($1)"
        )))
        .bind(taken)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| (row.external_id.clone(), row))
        .collect()
    };
    rows.iter()
        .map(|(row, _)| {
            if let Some(stored) = new.remove(&row.id) {
                return Ok(Recorded::New(stored));
            }
            existing
                .remove(&row.external_id)
                .map(Recorded::Existing)
                .ok_or_else(|| {
                    ServiceError::Internal(anyhow::anyhow!(
                        "transaction {} was neither inserted nor found",
                        row.external_id
                    ))
                })
        })
        .collect()
}

/// One column of `rows` as an array.
fn each<T>(
    rows: &[(&TransactionRow, Change<'_>)],
    f: impl Fn(&TransactionRow, &Change<'_>) -> T,
) -> Vec<T> {
    rows.iter().map(|(row, change)| f(row, change)).collect()
}

/// Binds `values` as an array parameter, followed by `then` (its cast).
fn push_array<T>(q: &mut QueryBuilder<Postgres>, values: Vec<T>, then: &str)
where
    for<'t> Vec<T>: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
{
    q.push_bind(values);
    q.push(then);
}

/// The customer's transaction a refund names: by its id (from its name) or
/// by its external id.
pub enum PurchaseRef {
    Id(Uuid),
    ExternalId(String),
}

/// The transaction `by` names among `customer_id`'s, with the sum of its
/// refunds other than the one recorded under `refund_external_id` (so a
/// retry does not count itself). `None` when the customer has no such
/// transaction.
pub async fn named_purchase(
    tx: &mut PgConnection,
    customer_id: Uuid,
    by: &PurchaseRef,
    refund_external_id: &str,
) -> Result<Option<(Uuid, NamedPurchase)>, ServiceError> {
    let (id, external_id) = match by {
        PurchaseRef::Id(id) => (Some(*id), None),
        PurchaseRef::ExternalId(e) => (None, Some(e.as_str())),
    };
    // The purchase is locked first, in a statement of its own: the customer
    // is only share-locked, so two refunds of one purchase recorded at once
    // queue here, and the second reads the refunds (below, with a snapshot
    // taken after the first's commit) including the first's.
    sqlx::query(
        "SELECT 1 FROM transactions p
          WHERE p.customer_id = $1
            AND ($2::uuid IS NULL OR p.id = $2)
            AND ($3::text IS NULL OR p.external_id = $3)
            FOR UPDATE",
    )
    .bind(customer_id)
    .bind(id)
    .bind(external_id)
    .execute(&mut *tx)
    .await?;
    let row: Option<(Uuid, i16, String, i64, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT p.id, p.kind, p.currency, p.amount_minor, p.occurred_at,
                COALESCE((SELECT sum(r.amount_minor) FROM transactions r
                           WHERE r.refunds_id = p.id AND r.external_id <> $4), 0)::bigint
           FROM transactions p
          WHERE p.customer_id = $1
            AND ($2::uuid IS NULL OR p.id = $2)
            AND ($3::text IS NULL OR p.external_id = $3)",
    )
    .bind(customer_id)
    .bind(id)
    .bind(external_id)
    .bind(refund_external_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(
        |(id, kind, currency, amount_minor, occurred_at, refunded_minor)| {
            (
                id,
                NamedPurchase {
                    is_purchase: kind == 1,
                    currency,
                    amount_minor,
                    occurred_at,
                    refunded_minor,
                },
            )
        },
    ))
}

/// A customer's transactions in `[start, end)`, newest first, after the cursor.
pub async fn list(
    pool: &PgPool,
    customer_id: Uuid,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<TransactionRow>, ServiceError> {
    let (after_time, after_id) = after.unzip();
    Ok(
        sqlx::query_as::<_, TransactionRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transactions
          WHERE customer_id = $1
            AND ($2::timestamptz IS NULL OR occurred_at >= $2)
            AND ($3::timestamptz IS NULL OR occurred_at < $3)
            AND ($4::timestamptz IS NULL OR (occurred_at, id) < ($4, $5))
          ORDER BY occurred_at DESC, id DESC
          LIMIT $6"
        )))
        .bind(customer_id)
        .bind(start)
        .bind(end)
        .bind(after_time)
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await?,
    )
}

/// Sums over a period, one row per currency.
#[derive(Debug, Clone, FromRow)]
pub struct CurrencySums {
    pub currency: String,
    pub purchased: i64,
    pub refunded: i64,
    pub largest_purchase: i64,
    pub purchases: i64,
    pub refunds: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// Sums a customer's transactions in `[start, end)` in one set-based pass.
pub async fn summarize(
    pool: &PgPool,
    customer_id: Uuid,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Vec<CurrencySums>, ServiceError> {
    Ok(sqlx::query_as::<_, CurrencySums>(
        // A purchase counts for what it paid less the refunds that name it.
        "SELECT t.currency,
                COALESCE(sum(t.amount_minor) FILTER (WHERE t.kind = 1), 0)::bigint AS purchased,
                COALESCE(sum(t.amount_minor) FILTER (WHERE t.kind = 2), 0)::bigint AS refunded,
                COALESCE(max(t.amount_minor - COALESCE(back.minor, 0)) FILTER (WHERE t.kind = 1), 0)::bigint
                    AS largest_purchase,
                count(*) FILTER (WHERE t.kind = 1) AS purchases,
                count(*) FILTER (WHERE t.kind = 2) AS refunds,
                min(t.occurred_at) AS first_at,
                max(t.occurred_at) AS last_at
           FROM transactions t
           LEFT JOIN LATERAL (SELECT sum(r.amount_minor) AS minor FROM transactions r
                               WHERE r.refunds_id = t.id) back ON t.kind = 1
          WHERE t.customer_id = $1
            AND ($2::timestamptz IS NULL OR t.occurred_at >= $2)
            AND ($3::timestamptz IS NULL OR t.occurred_at < $3)
          GROUP BY t.currency
          ORDER BY t.currency",
    )
    .bind(customer_id)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?)
}
