//! Cards and the points ledger in SQL. Every change to an account's points
//! runs under the account's lock, so concurrent redemptions, awards and
//! expiries see each other's results and no balance goes below zero.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use patron_vocab::Change;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::points_rules::Lot;

pub const ISSUED: i16 = 1;
pub const REGISTERED: i16 = 2;
pub const LOST: i16 = 3;
pub const RENEWED: i16 = 4;
pub const VOID: i16 = 5;

#[derive(Debug, Clone, FromRow)]
pub struct CardRow {
    pub number: String,
    pub account: Uuid,
    pub customer_id: Uuid,
    pub status: i16,
    pub issued_at: DateTime<Utc>,
    pub register_by: NaiveDate,
    pub registered_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<String>,
    pub valid_through: NaiveDate,
}

const CARD_COLUMNS: &str = "number, account, customer_id, status, issued_at, register_by, registered_at, replaced_by, \
                            valid_through";

/// The number a new card gets: the one asked for, or when none (empty) the
/// next number nobody holds.
pub async fn number_or_next(tx: &mut PgConnection, asked: &str) -> Result<String, ServiceError> {
    if !asked.is_empty() {
        return Ok(asked.to_owned());
    }
    let n: i64 = sqlx::query_scalar("SELECT nextval('card_number_seq')")
        .fetch_one(&mut *tx)
        .await?;
    Ok(format!("VIP{n:08}"))
}

/// A new card; ALREADY_EXISTS when the number is taken or the customer
/// already holds a live card.
pub async fn insert_card(tx: &mut PgConnection, card: &CardRow) -> Result<CardRow, ServiceError> {
    let inserted = sqlx::query_as::<_, CardRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO cards ({CARD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {CARD_COLUMNS}"
    )))
    .bind(&card.number)
    .bind(card.account)
    .bind(card.customer_id)
    .bind(card.status)
    .bind(card.issued_at)
    .bind(card.register_by)
    .bind(card.registered_at)
    .bind(&card.replaced_by)
    .bind(card.valid_through)
    .fetch_one(&mut *tx)
    .await;
    inserted.map_err(
        |e| match patron_kit::error::unique_violation(&e).as_deref() {
            Some("cards_pkey") => {
                ServiceError::AlreadyExists(format!("card number {} is taken", card.number))
            }
            Some("cards_one_live_per_customer") => ServiceError::AlreadyExists(
                "the customer already holds a live card; report it lost to replace it".into(),
            ),
            _ => e.into(),
        },
    )
}

pub async fn card(conn: &mut PgConnection, number: &str) -> Result<Option<CardRow>, ServiceError> {
    Ok(sqlx::query_as::<_, CardRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE number = $1"
    )))
    .bind(number)
    .fetch_optional(conn)
    .await?)
}

/// The customer's live card, if any.
pub async fn live_card(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<Option<CardRow>, ServiceError> {
    Ok(sqlx::query_as::<_, CardRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE customer_id = $1 AND status IN (1, 2)"
    )))
    .bind(customer_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn set_status(
    tx: &mut PgConnection,
    number: &str,
    status: i16,
    registered_at: Option<DateTime<Utc>>,
    replaced_by: Option<&str>,
) -> Result<CardRow, ServiceError> {
    Ok(sqlx::query_as::<_, CardRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE cards SET status = $2, registered_at = COALESCE($3, registered_at),
                replaced_by = COALESCE($4, replaced_by)
          WHERE number = $1 RETURNING {CARD_COLUMNS}"
    )))
    .bind(number)
    .bind(status)
    .bind(registered_at)
    .bind(replaced_by)
    .fetch_one(&mut *tx)
    .await?)
}

/// Serialises every change to one account's points until the transaction ends.
pub async fn lock_account(tx: &mut PgConnection, account: Uuid) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('points:' || $1::text))")
        .bind(account)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Takes an account's lock when no one else holds it, without waiting; for
/// work claimed with row locks (see the lock order in `store`).
pub async fn try_lock_account(tx: &mut PgConnection, account: Uuid) -> Result<bool, ServiceError> {
    Ok(
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('points:' || $1::text))")
            .bind(account)
            .fetch_one(&mut *tx)
            .await?,
    )
}

pub async fn balance(conn: &mut PgConnection, account: Uuid) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(points), 0)::bigint FROM point_entries WHERE account = $1",
    )
    .bind(account)
    .fetch_one(conn)
    .await?)
}

/// A lot as its holder sees it: when it was earned, its last day, the
/// points left.
#[derive(Debug, Clone, FromRow)]
pub struct HeldLot {
    pub earned_on: NaiveDate,
    pub expires_on: NaiveDate,
    pub remaining: i64,
}

/// The account's lots holding points still valid on `today`, soonest
/// expiring first.
pub async fn held_lots(
    conn: &mut PgConnection,
    account: Uuid,
    today: NaiveDate,
) -> Result<Vec<HeldLot>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT earned_on, expires_on, remaining FROM point_lots
          WHERE account = $1 AND remaining > 0 AND expires_on >= $2
          ORDER BY expires_on, id",
    )
    .bind(account)
    .bind(today)
    .fetch_all(conn)
    .await?)
}

/// The account's lots still holding points.
pub async fn lots(tx: &mut PgConnection, account: Uuid) -> Result<Vec<Lot>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT id, remaining, expires_on FROM point_lots WHERE account = $1 AND remaining > 0",
    )
    .bind(account)
    .fetch_all(&mut *tx)
    .await?)
}

pub async fn add_lot(
    tx: &mut PgConnection,
    account: Uuid,
    earned_on: NaiveDate,
    expires_on: NaiveDate,
    points: i64,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO point_lots (account, earned_on, expires_on, points, remaining) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(account)
    .bind(earned_on)
    .bind(expires_on)
    .bind(points)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes `points` from a lot (the CHECK keeps it from going below zero).
pub async fn take_from_lot(
    tx: &mut PgConnection,
    lot: i64,
    points: i64,
) -> Result<(), ServiceError> {
    sqlx::query("UPDATE point_lots SET remaining = remaining - $2 WHERE id = $1")
        .bind(lot)
        .bind(points)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// One ledger entry.
#[derive(Debug, Clone, FromRow)]
pub struct EntryRow {
    pub id: i64,
    pub points: i64,
    pub reason: String,
    pub reference: String,
    pub note: String,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
    pub actor: String,
    /// The last day the entry's points count (added points, expiries).
    pub expires_on: Option<NaiveDate>,
}

/// Appends an entry; `None` when one with the same reason and reference is
/// already there (a retry, or a redelivered event). `expires_on` is the last
/// day its points count, when they are of one lot or one expiry.
#[allow(clippy::too_many_arguments)]
pub async fn append(
    tx: &mut PgConnection,
    card: &CardRow,
    points: i64,
    reason: &str,
    reference: &str,
    note: &str,
    expires_on: Option<NaiveDate>,
    change: Change<'_>,
) -> Result<Option<EntryRow>, ServiceError> {
    let before = balance(tx, card.account).await?;
    Ok(sqlx::query_as(
        "INSERT INTO point_entries (account, card_number, points, reason, reference, balance_after, created_at, actor, note, expires_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (account, reason, reference) DO NOTHING
         RETURNING id, points, reason, reference, note, balance_after, created_at, actor, expires_on",
    )
    .bind(card.account)
    .bind(&card.number)
    .bind(points)
    .bind(reason)
    .bind(reference)
    .bind(before + points)
    .bind(change.at)
    .bind(change.actor)
    .bind(note)
    .bind(expires_on)
    .fetch_optional(&mut *tx)
    .await?)
}

/// An entry already recorded under (reason, reference).
pub async fn entry(
    conn: &mut PgConnection,
    account: Uuid,
    reason: &str,
    reference: &str,
) -> Result<Option<EntryRow>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT id, points, reason, reference, note, balance_after, created_at, actor, expires_on FROM point_entries
          WHERE account = $1 AND reason = $2 AND reference = $3",
    )
    .bind(account)
    .bind(reason)
    .bind(reference)
    .fetch_optional(conn)
    .await?)
}

/// An account's entries, newest first, before the cursor.
pub async fn entries(
    conn: &mut PgConnection,
    account: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryRow>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT id, points, reason, reference, note, balance_after, created_at, actor, expires_on FROM point_entries
          WHERE account = $1 AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3",
    )
    .bind(account)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Accounts with lots past their last day that still hold points, claimed so
/// replicas running the expiry share them.
pub async fn claim_expired_accounts(
    tx: &mut PgConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<Uuid>, ServiceError> {
    let mut accounts: Vec<Uuid> = sqlx::query_scalar(
        "SELECT account FROM point_lots WHERE remaining > 0 AND expires_on < $1
          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(today)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// The live or most recent card of an account, to record entries against.
pub async fn card_of_account(
    conn: &mut PgConnection,
    account: Uuid,
) -> Result<Option<CardRow>, ServiceError> {
    Ok(sqlx::query_as::<_, CardRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE account = $1 ORDER BY issued_at DESC LIMIT 1"
    )))
    .bind(account)
    .fetch_optional(conn)
    .await?)
}

/// Records warnings for the (account, expiry day) pairs whose points lapse
/// between `today` and `horizon` and were not warned of yet; returns them
/// with the points at stake.
pub async fn claim_expiry_warnings(
    tx: &mut PgConnection,
    today: NaiveDate,
    horizon: NaiveDate,
    at: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, NaiveDate, i64)>, ServiceError> {
    Ok(sqlx::query_as(
        "INSERT INTO points_expiry_warnings (account, expires_on, points, warned_at)
         SELECT l.account, l.expires_on, sum(l.remaining)::bigint, $3 FROM point_lots l
          WHERE l.remaining > 0 AND l.expires_on BETWEEN $1 AND $2
            AND NOT EXISTS (SELECT 1 FROM points_expiry_warnings w
                             WHERE w.account = l.account AND w.expires_on = l.expires_on)
          GROUP BY l.account, l.expires_on
          ORDER BY l.account, l.expires_on
          LIMIT $4
         ON CONFLICT DO NOTHING
         RETURNING account, expires_on, points",
    )
    .bind(today)
    .bind(horizon)
    .bind(at)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?)
}

/// Live cards whose year ended before `today` become void, in one statement
/// (replicas running it together void each card once).
pub async fn void_cards_valid_before(pool: &PgPool, today: NaiveDate) -> Result<u64, ServiceError> {
    Ok(
        sqlx::query("UPDATE cards SET status = 5 WHERE status IN (1, 2) AND valid_through < $1")
            .bind(today)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Voids the customer's live card, if any (the customer left).
pub async fn void_live_card(tx: &mut PgConnection, customer_id: Uuid) -> Result<(), ServiceError> {
    sqlx::query("UPDATE cards SET status = 5 WHERE customer_id = $1 AND status IN (1, 2)")
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
