//! The points ledger's operations, each inside the caller's transaction and
//! under the account's lock: awards from purchases, take-backs on refunds,
//! redemptions, staff adjustments, the yearly expiry and its warning, and
//! voiding the cards not renewed. Rules are in `domain::points_rules`.

use chrono::NaiveDate;
use patron_kit::{ServiceError, clock, events};
use patron_proto::common::v1::Date;
use patron_proto::tiering::v1::PointsExpiring;
use patron_vocab::Change;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::points_rules::{self, PointsRule};
use crate::engine::Engine;
use crate::store::cards::{self as store, CardRow, EntryRow, LOST, REGISTERED, RENEWED, VOID};

/// Awards the points of a purchase to the customer's registered card, once
/// per transaction. Unregistered cards are discount cards only and earn none;
/// a card past its year earns nothing either.
#[allow(clippy::too_many_arguments)]
pub async fn award(
    tx: &mut PgConnection,
    rule: &PointsRule,
    customer: Uuid,
    transaction: &str,
    paid_minor: i64,
    exponent: u32,
    day: NaiveDate,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    let Some(card) = store::live_card(tx, customer).await? else {
        return Ok(());
    };
    if card.status != REGISTERED || day > card.valid_through {
        return Ok(());
    }
    let earned = points_rules::earned(paid_minor, exponent, rule.per_major_unit);
    if earned == 0 {
        return Ok(());
    }
    store::lock_account(tx, card.account).await?;
    let expires_on = points_rules::expires_on(day);
    if store::append(
        tx,
        &card,
        earned,
        "earned",
        transaction,
        "",
        Some(expires_on),
        change,
    )
    .await?
    .is_some()
    {
        store::add_lot(tx, card.account, day, expires_on, earned).await?;
    }
    Ok(())
}

/// Takes back the points a refunded amount earned, as far as they are left.
#[allow(clippy::too_many_arguments)]
pub async fn take_back(
    tx: &mut PgConnection,
    rule: &PointsRule,
    customer: Uuid,
    refund: &str,
    refunded_minor: i64,
    exponent: u32,
    today: NaiveDate,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    let Some(card) = store::live_card(tx, customer).await? else {
        return Ok(());
    };
    let wanted = points_rules::earned(refunded_minor, exponent, rule.per_major_unit);
    if wanted == 0 {
        return Ok(());
    }
    store::lock_account(tx, card.account).await?;
    let lots = store::lots(tx, card.account).await?;
    let (takes, _unrecovered) = points_rules::reverse(&lots, wanted, today);
    let taken: i64 = takes.iter().map(|(_, t)| t).sum();
    if taken == 0 {
        return Ok(());
    }
    if store::append(
        tx, &card, -taken, "reversed", refund, "refund", None, change,
    )
    .await?
    .is_some()
    {
        for (lot, take) in takes {
            store::take_from_lot(tx, lot, take).await?;
        }
    }
    Ok(())
}

/// FAILED_PRECONDITION unless a live card may change: not lost, renewed or void.
pub fn require_live(card: &CardRow) -> Result<(), ServiceError> {
    let why = match card.status {
        LOST => "was reported lost",
        RENEWED => "was renewed",
        VOID => "is void (not renewed in time, or its holder left)",
        _ => return Ok(()),
    };
    let successor = card
        .replaced_by
        .as_deref()
        .map(|n| format!("; its successor is cards/{n}"))
        .unwrap_or_default();
    Err(ServiceError::FailedPrecondition(format!(
        "card {} {why}{successor}",
        card.number
    )))
}

/// FAILED_PRECONDITION unless `card` is a live, registered card within its year.
fn require_usable(card: &CardRow, today: NaiveDate) -> Result<(), ServiceError> {
    require_live(card)?;
    if card.status != REGISTERED {
        return Err(ServiceError::FailedPrecondition(format!(
            "card {} is not a registered VIP card; only registered cards collect and spend points",
            card.number
        )));
    }
    if today > card.valid_through {
        return Err(ServiceError::FailedPrecondition(format!(
            "card {} was valid through {} and was not renewed",
            card.number, card.valid_through
        )));
    }
    Ok(())
}

/// Spends `wanted` points of a registered card on `reward`, soonest-expiring
/// first, all or nothing. A retry with the same request id returns the first
/// redemption.
pub async fn redeem(
    tx: &mut PgConnection,
    card: &CardRow,
    wanted: i64,
    reward: &str,
    request_id: Uuid,
    today: NaiveDate,
    change: Change<'_>,
) -> Result<EntryRow, ServiceError> {
    let request = PointsRequest {
        reason: "redeemed",
        note: reward,
        request_id,
    };
    apply_request(tx, card, -wanted, request, today, change).await
}

/// Locks the card's points account, then reads the card again under that
/// lock: a loss or renewal that committed after the caller read its copy is
/// seen before any point moves.
async fn lock_and_reread(tx: &mut PgConnection, card: &CardRow) -> Result<CardRow, ServiceError> {
    store::lock_account(tx, card.account).await?;
    store::card(tx, &card.number)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("cards/{}", card.number)))
}

/// A change of points someone asked for, applied once per request id.
pub struct PointsRequest<'a> {
    /// The ledger's reason code: `redeemed`, or `adjusted` by staff.
    pub reason: &'a str,
    /// What for, in words (the reward, the adjustment's reason).
    pub note: &'a str,
    pub request_id: Uuid,
}

/// Adds (`points` > 0) or takes (< 0) points as asked, once per request id
/// (a retry returns the first entry). Added points are a lot of today,
/// expiring with this year's; taken points come from the soonest-expiring
/// lots, all or nothing, never below zero.
pub async fn apply_request(
    tx: &mut PgConnection,
    card: &CardRow,
    points: i64,
    request: PointsRequest<'_>,
    today: NaiveDate,
    change: Change<'_>,
) -> Result<EntryRow, ServiceError> {
    let card = &lock_and_reread(tx, card).await?;
    let reference = request.request_id.to_string();
    if let Some(done) = store::entry(tx, card.account, request.reason, &reference).await? {
        return Ok(done);
    }
    require_usable(card, today)?;
    if points > 0 {
        store::add_lot(
            tx,
            card.account,
            today,
            points_rules::expires_on(today),
            points,
        )
        .await?;
    } else {
        let lots = store::lots(tx, card.account).await?;
        let takes = points_rules::allocate(&lots, -points, today).map_err(|s| {
            ServiceError::FailedPrecondition(format!(
                "{} points are needed for {}; the card has {}",
                s.wanted, request.note, s.available
            ))
        })?;
        for (lot, take) in &takes {
            store::take_from_lot(tx, *lot, *take).await?;
        }
    }
    store::append(
        tx,
        card,
        points,
        request.reason,
        &reference,
        request.note,
        (points > 0).then(|| points_rules::expires_on(today)),
        change,
    )
    .await?
    .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("request {reference} raced")))
}

/// Replaces a live card with a successor on the same points account (so the
/// points follow the holder): the old card takes `status` (lost, renewed) and
/// points at the new one. The successor keeps the holder and registration;
/// `number` is the one asked for, or the next free one.
pub async fn succeed(
    tx: &mut PgConnection,
    old: &CardRow,
    status: i16,
    number: &str,
    issued_at: chrono::DateTime<chrono::Utc>,
    valid_through: NaiveDate,
) -> Result<CardRow, ServiceError> {
    let old = &lock_and_reread(tx, old).await?;
    require_live(old)?;
    let number = store::number_or_next(tx, number).await?;
    store::set_status(tx, &old.number, status, None, Some(&number)).await?;
    store::insert_card(
        tx,
        &CardRow {
            number,
            issued_at,
            replaced_by: None,
            valid_through,
            ..old.clone()
        },
    )
    .await
}

/// The daily upkeep of cards and points, under the active policy: past
/// years' points expire, holders hear of points about to lapse, and cards not
/// renewed in the renewal month become void.
pub async fn daily_upkeep(pool: &PgPool, engine: &Engine) -> Result<(), ServiceError> {
    let today = clock::today(engine.clock.as_ref(), engine.zone);
    let change = Change {
        actor: "points",
        at: engine.clock.now(),
    };
    expire(pool, today, change).await?;
    let rule = {
        let mut conn = pool.acquire().await?;
        engine
            .active(&mut conn)
            .await?
            .and_then(|(_, p)| p.points.clone())
    };
    if let Some(rule) = rule {
        while warn_expiring(pool, &rule, today, change).await? == WARNING_BATCH as usize {}
    }
    let voided = store::void_cards_valid_before(pool, today).await?;
    if voided > 0 {
        tracing::info!(cards = voided, "cards not renewed are void");
    }
    Ok(())
}

const WARNING_BATCH: i64 = 500;

/// Sends PointsExpiring for points that lapse within the scheme's warning
/// period, once per account and expiry day (the warnings table's key decides
/// between replicas). Returns how many warnings went out in this batch.
pub async fn warn_expiring(
    pool: &PgPool,
    rule: &PointsRule,
    today: NaiveDate,
    change: Change<'_>,
) -> Result<usize, ServiceError> {
    let Some(horizon) = rule.warned_through(today) else {
        return Ok(0);
    };
    let mut tx = pool.begin().await?;
    let due =
        store::claim_expiry_warnings(&mut tx, today, horizon, change.at, WARNING_BATCH).await?;
    for (account, expires_on, points) in &due {
        let Some(card) = store::card_of_account(&mut tx, *account).await? else {
            continue;
        };
        let event = PointsExpiring {
            card: format!("cards/{}", card.number),
            customer: patron_kit::resource_name::format("customers", card.customer_id),
            points: *points,
            expires_on: Some(date(*expires_on)),
        };
        events::enqueue(&mut tx, &event.customer, &event, change.at).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// A calendar day on the wire.
pub fn date(day: NaiveDate) -> Date {
    use chrono::Datelike;
    Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    }
}

/// Expires the points of past years still left, a batch of accounts per
/// transaction (claimed, so replicas share the work). Returns how many
/// accounts lost points.
pub async fn expire(
    pool: &PgPool,
    today: NaiveDate,
    change: Change<'_>,
) -> Result<usize, ServiceError> {
    let mut tx = pool.begin().await?;
    let accounts = store::claim_expired_accounts(&mut tx, today, 200).await?;
    let mut expired_accounts = 0;
    for account in accounts {
        // The claimed lots are locked already: wait for no account's lock
        // (a redemption may hold it and want these lots); a busy account
        // is left for the next round.
        if !store::try_lock_account(&mut tx, account).await? {
            continue;
        }
        let lots = store::lots(&mut tx, account).await?;
        let expired = points_rules::expired(&lots, today);
        let valid_through: Vec<NaiveDate> = lots
            .iter()
            .filter(|(id, _, _)| expired.iter().any(|(e, _)| e == id))
            .map(|(_, _, last)| *last)
            .collect();
        let total: i64 = expired.iter().map(|(_, p)| p).sum();
        let (Some(last), Some(card)) = (
            valid_through.iter().max().copied(),
            store::card_of_account(&mut tx, account).await?,
        ) else {
            continue;
        };
        if total == 0 {
            continue;
        }
        // One expiry per account and day: every lapsed lot is taken at once
        // under the account's lock, so the day keeps a second run from
        // recording anything twice.
        let reference = format!("valid through {last}, expired on {today}");
        if store::append(
            &mut tx,
            &card,
            -total,
            "expired",
            &reference,
            &points_rules::expiry_note(total, &valid_through),
            Some(last),
            change,
        )
        .await?
        .is_some()
        {
            for (lot, left) in expired {
                store::take_from_lot(&mut tx, lot, left).await?;
            }
            expired_accounts += 1;
        }
    }
    tx.commit().await?;
    Ok(expired_accounts)
}
