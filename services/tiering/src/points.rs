//! The points ledger's operations, each inside the caller's transaction and
//! under the account's lock: awards from purchases, take-backs on refunds,
//! redemptions and the yearly expiry. Rules are in `domain::points`.

use chrono::NaiveDate;
use patron_kit::ServiceError;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::points;
use crate::store::Change;
use crate::store::points::{self as store, CardRow, EntryRow, REGISTERED};

/// Points per yuan actually paid (003 第十一条).
const POINTS_PER_YUAN: i64 = 1;

/// Awards the points of a purchase to the customer's registered card, once
/// per transaction. Unregistered cards are discount cards only and earn none.
pub async fn award(
    tx: &mut PgConnection,
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
    if card.status != REGISTERED {
        return Ok(());
    }
    let earned = points::earned(paid_minor, exponent, POINTS_PER_YUAN);
    if earned == 0 {
        return Ok(());
    }
    store::lock_account(tx, card.account).await?;
    if store::append(tx, &card, earned, "earned", transaction, "", change)
        .await?
        .is_some()
    {
        store::add_lot(tx, card.account, day, points::expires_on(day), earned).await?;
    }
    Ok(())
}

/// Takes back the points a refunded amount earned, as far as they are left.
pub async fn take_back(
    tx: &mut PgConnection,
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
    let wanted = points::earned(refunded_minor, exponent, POINTS_PER_YUAN);
    if wanted == 0 {
        return Ok(());
    }
    store::lock_account(tx, card.account).await?;
    let lots = store::lots(tx, card.account).await?;
    let (takes, _unrecovered) = points::reverse(&lots, wanted, today);
    let taken: i64 = takes.iter().map(|(_, t)| t).sum();
    if taken == 0 {
        return Ok(());
    }
    if store::append(tx, &card, -taken, "reversed", refund, "refund", change)
        .await?
        .is_some()
    {
        for (lot, take) in takes {
            store::take_from_lot(tx, lot, take).await?;
        }
    }
    Ok(())
}

/// Spends `wanted` points of a registered card on `reward`, soonest-expiring
/// first. A retry with the same request id returns the first redemption.
#[allow(clippy::too_many_arguments)]
pub async fn redeem(
    tx: &mut PgConnection,
    card: &CardRow,
    wanted: i64,
    reward: &str,
    request_id: Uuid,
    today: NaiveDate,
    change: Change<'_>,
) -> Result<EntryRow, ServiceError> {
    if card.status != REGISTERED {
        return Err(ServiceError::FailedPrecondition(format!(
            "card {} is not a registered VIP card; only registered cards collect and spend points",
            card.number
        )));
    }
    store::lock_account(tx, card.account).await?;
    let reference = request_id.to_string();
    if let Some(done) = store::entry(tx, card.account, "redeemed", &reference).await? {
        return Ok(done);
    }
    let lots = store::lots(tx, card.account).await?;
    let takes = points::allocate(&lots, wanted, today).map_err(|s| {
        ServiceError::FailedPrecondition(format!(
            "{} points are needed for {reward}; the card has {}",
            s.wanted, s.available
        ))
    })?;
    for (lot, take) in &takes {
        store::take_from_lot(tx, *lot, *take).await?;
    }
    store::append(tx, card, -wanted, "redeemed", &reference, reward, change)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("redemption {reference} raced")))
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
        store::lock_account(&mut tx, account).await?;
        let lots = store::lots(&mut tx, account).await?;
        let expired = points::expired(&lots, today);
        let total: i64 = expired.iter().map(|(_, p)| p).sum();
        let (Some(first), Some(card)) = (
            expired.iter().map(|(id, _)| *id).min(),
            store::card_of_account(&mut tx, account).await?,
        ) else {
            continue;
        };
        if total == 0 {
            continue;
        }
        let reference = format!("before {today} from lot {first}");
        if store::append(
            &mut tx,
            &card,
            -total,
            "expired",
            &reference,
            "yearly expiry",
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
