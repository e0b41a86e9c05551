//! Transaction records' SQL.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use patron_vocab::Change;

const COLUMNS: &str = "id, customer_id, external_id, kind, occurred_at, product, quantity_milli, unit, \
                       amount_minor, currency, payment_method, channel, order_number, created_at, created_by";

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
        )
    }
}

/// What recording found.
pub enum Recorded {
    New(TransactionRow),
    /// The external id was recorded before; this is what was stored.
    Existing(TransactionRow),
}

/// Inserts `row` unless its external id is already recorded.
pub async fn insert(
    tx: &mut PgConnection,
    row: &TransactionRow,
    change: Change<'_>,
) -> Result<Recorded, ServiceError> {
    let inserted = sqlx::query_as::<_, TransactionRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO transactions ({COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (external_id) DO NOTHING
         RETURNING {COLUMNS}"
    )))
    .bind(row.id)
    .bind(row.customer_id)
    .bind(&row.external_id)
    .bind(row.kind)
    .bind(row.occurred_at)
    .bind(&row.product)
    .bind(row.quantity_milli)
    .bind(&row.unit)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(row.payment_method)
    .bind(&row.channel)
    .bind(&row.order_number)
    .bind(change.at)
    .bind(change.actor)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(new) = inserted {
        return Ok(Recorded::New(new));
    }
    let existing = sqlx::query_as::<_, TransactionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM transactions WHERE external_id = $1"
    )))
    .bind(&row.external_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Recorded::Existing(existing))
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
        "SELECT currency,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 1), 0)::bigint AS purchased,
                COALESCE(sum(amount_minor) FILTER (WHERE kind = 2), 0)::bigint AS refunded,
                COALESCE(max(amount_minor) FILTER (WHERE kind = 1), 0)::bigint AS largest_purchase,
                count(*) FILTER (WHERE kind = 1) AS purchases,
                count(*) FILTER (WHERE kind = 2) AS refunds,
                min(occurred_at) AS first_at,
                max(occurred_at) AS last_at
           FROM transactions
          WHERE customer_id = $1
            AND ($2::timestamptz IS NULL OR occurred_at >= $2)
            AND ($3::timestamptz IS NULL OR occurred_at < $3)
          GROUP BY currency
          ORDER BY currency",
    )
    .bind(customer_id)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?)
}
