//! Applies profile's events: TransactionRecorded into per-customer figures
//! (re-evaluating the customer in the same transaction), CustomerExited into
//! the churned customers and their reasons, CustomerDeleted out of
//! everything tiering works on, and the archive and directory events into
//! the kit's projection tiering authorises and acts by
//! (`patron_kit::directory`: manager, unit path, birthday; where staff sit);
//! and complaint's received and surveyed complaints (`complaint_events`)
//! into the churn early warning, re-deciding the customer.
//! The kit's consumer
//! applies each event once (by its id) and acknowledges after this commits.
//! `handle` only reads an event; `finish` does a transaction's work in the
//! lock order of `store` (customers' locks first, rows in key order).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use patron_kit::directory::ProfileFact;
use patron_kit::events::EventHandler;
use patron_kit::{events, resource_name, timestamp};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::{CustomerExited, TransactionKind, TransactionRecorded};
use sqlx::PgConnection;

use patron_vocab::Change;
use uuid::Uuid;

use crate::complaint_events::ComplaintFact;
use crate::domain::policy::Policy;
use crate::engine::{Engine, Occasion};
use crate::ledger;
use crate::store::purchases::{self, NamedRefund, Purchase};
use crate::store::{self, DayEntry};

/// The actor tier changes made on new figures are recorded under.
pub const ACTOR: &str = "tiering";

pub struct ProfileEvents {
    pub engine: Engine,
    pub zone: Tz,
}

/// What one transaction's events ask, read by `handle` and done by `finish`
/// in the lock order (`store`'s documentation), not in stream order: two
/// replicas applying the same customers' events in opposite orders would
/// otherwise wait on each other.
#[derive(Debug, Default)]
pub struct Pending(Vec<Work>);

/// What one event asks of tiering.
#[derive(Debug, Clone)]
enum Work {
    /// What the kit's projection keeps (manager, unit path, birthday, exit
    /// and deletion marks, where staff sit).
    Directory(ProfileFact),
    /// Tiering's own reaction to an exit: the churn record, the card void.
    Churned {
        customer: Uuid,
        kind: i16,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Tiering's own reaction to a deletion, after the projection's
    /// tombstone: out of everything tiering works on.
    Forget { customer: Uuid },
    Transaction {
        entry: DayEntry,
        transaction: String,
        amount_minor: i64,
        currency: String,
        /// For a refund, the purchase it names, if any.
        refunds: Option<String>,
    },
    /// A complaint or survey score, kept for the churn early warning.
    Complaint(ComplaintFact),
}

impl Work {
    /// The customer whose lock and rows this takes, if any.
    fn customer(&self) -> Option<Uuid> {
        match self {
            Self::Directory(fact) => fact.customer(),
            Self::Churned { customer, .. } | Self::Forget { customer } => Some(*customer),
            Self::Transaction { entry, .. } => Some(entry.customer_id),
            Self::Complaint(fact) => Some(fact.customer()),
        }
    }

    /// Where this comes in the order work is done: staff rows by id, then
    /// customers' rows by customer id.
    fn order_key(&self) -> (Option<Uuid>, &str) {
        match self {
            Self::Directory(fact) => (fact.customer(), fact.staff().unwrap_or("")),
            other => (other.customer(), ""),
        }
    }
}

/// A batch's work in the order it is done: by [`Work::order_key`], each
/// customer's (and staff member's) events still in stream order.
fn in_lock_order(mut work: Vec<Work>) -> Vec<Work> {
    work.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    work
}

impl ProfileEvents {
    pub fn new(engine: Engine, zone: Tz) -> Self {
        Self { engine, zone }
    }
}

impl EventHandler for ProfileEvents {
    type Batch = Pending;

    fn begin(&self) -> Pending {
        Pending::default()
    }

    fn handle<'a>(
        &'a self,
        batch: &'a mut Pending,
        _tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            batch.0.extend(self.read(event)?);
            Ok(())
        })
    }

    fn finish<'a>(
        &'a self,
        batch: Pending,
        tx: &'a mut PgConnection,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let work = in_lock_order(batch.0);
            if work.is_empty() {
                return Ok(());
            }
            // 1. Every customer's lock, at once, in id order.
            let customers: Vec<Uuid> = work.iter().filter_map(Work::customer).collect();
            store::lock_customers(tx, &customers).await?;
            // 2. Daily figures, one statement in (customer, day) order.
            let entries: Vec<DayEntry> = work
                .iter()
                .filter_map(|w| match w {
                    Work::Transaction { entry, .. } => Some(*entry),
                    _ => None,
                })
                .collect();
            let purchases: Vec<Purchase> = work
                .iter()
                .filter_map(|w| match w {
                    Work::Transaction {
                        entry,
                        transaction,
                        amount_minor,
                        ..
                    } if entry.is_purchase => Some(Purchase {
                        transaction: transaction.clone(),
                        customer_id: entry.customer_id,
                        day: entry.day,
                        paid_minor: *amount_minor,
                    }),
                    _ => None,
                })
                .collect();
            let named_refunds: Vec<NamedRefund> = work
                .iter()
                .filter_map(|w| match w {
                    Work::Transaction {
                        refunds: Some(purchase),
                        amount_minor,
                        ..
                    } => Some(NamedRefund {
                        purchase: purchase.clone(),
                        amount_minor: *amount_minor,
                    }),
                    _ => None,
                })
                .collect();
            purchases::record_purchases(tx, &purchases).await?;
            store::add_to_days(tx, &entries).await?;
            // A purchase counts for what it paid less the refunds naming it.
            purchases::take_back_refunds(tx, &named_refunds).await?;
            // 3. The rest, customer after customer.
            let active = self.engine.active(tx).await?;
            let mut touched = Vec::new();
            for w in &work {
                self.apply(tx, w, active.as_ref().map(|(_, p)| p.as_ref()))
                    .await?;
                match w {
                    Work::Transaction { entry, .. } => {
                        touched.push((entry.customer_id, Occasion::Figures));
                    }
                    // Its churn reasons may change.
                    Work::Complaint(fact) => touched.push((fact.customer(), Occasion::Figures)),
                    _ => {}
                }
            }
            // 4. Each customer whose figures changed re-decided once (the
            //    figures are kept even before a policy is active).
            if let Some(active) = active
                && !touched.is_empty()
            {
                self.engine
                    // Step 1 locked every customer of the batch.
                    .reevaluate_locked(tx, &active, &touched, ACTOR)
                    .await?;
            }
            Ok(())
        })
    }
}

impl ProfileEvents {
    /// What `event` asks, in order, if it is one of ours; an error when it
    /// is malformed.
    fn read(&self, event: &EventEnvelope) -> anyhow::Result<Vec<Work>> {
        if let Some(fact) = ProfileFact::read(event)? {
            let reaction = match &fact {
                ProfileFact::Exited { customer, at, .. } => {
                    let exited = events::payload::<CustomerExited>(event).unwrap_or_default();
                    Some(Work::Churned {
                        customer: *customer,
                        kind: exited.kind as i16,
                        reason: exited.reason,
                        at: at.unwrap_or_else(|| self.engine.clock.now()),
                    })
                }
                ProfileFact::Deleted { customer, .. } => Some(Work::Forget {
                    customer: *customer,
                }),
                _ => None,
            };
            return Ok(std::iter::once(Work::Directory(fact))
                .chain(reaction)
                .collect());
        }
        if let Some(fact) = ComplaintFact::read(event)? {
            return Ok(vec![Work::Complaint(fact)]);
        }
        // Other events on the streams are not ours to count.
        let Some(recorded) = events::payload::<TransactionRecorded>(event) else {
            return Ok(Vec::new());
        };
        let customer = resource_name::parse("customer", "customers", &recorded.customer)
            .map_err(|e| anyhow::anyhow!("{} names no customer: {e}", event.event_type))?;
        let occurred = recorded
            .occur_time
            .as_ref()
            .and_then(timestamp::from_proto)
            .ok_or_else(|| anyhow::anyhow!("TransactionRecorded without a time"))?;
        let (amount, currency) = recorded
            .amount
            .as_ref()
            .map_or((0, "CNY"), |m| (m.amount_minor, m.currency_code.as_str()));
        // Profile refuses amounts beyond the bound; one recorded before it
        // was enforced cannot be counted and must not stall the stream.
        if patron_vocab::money::bounded(amount).is_err() {
            tracing::warn!(transaction = %recorded.transaction, amount, "transaction amount beyond the money bound; not counted");
            return Ok(Vec::new());
        }
        let is_purchase = recorded.kind == TransactionKind::Purchase as i32;
        let sign = if is_purchase { 1 } else { -1 };
        Ok(vec![Work::Transaction {
            entry: DayEntry {
                customer_id: customer,
                day: occurred.with_timezone(&self.zone).date_naive(),
                amount_minor: sign * amount,
                volume_milli: sign * recorded.quantity_milli,
                is_purchase,
            },
            refunds: (!is_purchase && !recorded.refunded_transaction.is_empty())
                .then(|| recorded.refunded_transaction.clone()),
            transaction: recorded.transaction,
            amount_minor: amount,
            currency: currency.to_owned(),
        }])
    }

    /// Does one event's work but the daily figures (done for the batch at
    /// once); the customer's lock is held.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        work: &Work,
        active: Option<&Policy>,
    ) -> anyhow::Result<()> {
        let at = self.engine.clock.now();
        match work {
            Work::Directory(fact) => {
                fact.apply(tx, at).await?;
                self.engine.reach.forget(fact);
            }
            Work::Churned {
                customer,
                kind,
                reason,
                at,
            } => {
                store::record_churned(tx, *customer, *kind, reason, *at).await?;
                // A customer who left holds no VIP card any more (003: revoked).
                store::cards::void_live_card(tx, *customer).await?;
            }
            Work::Complaint(fact) => fact.apply(tx).await?,
            Work::Forget { customer } => {
                // Out of the sweep, rankings and lists; its card void, as a
                // leaver's is; the projection's tombstone turns away later events.
                store::forget_customer(tx, *customer).await?;
                store::cards::void_live_card(tx, *customer).await?;
            }
            Work::Transaction {
                entry,
                transaction,
                amount_minor,
                currency,
                ..
            } => {
                // Points, when the scheme has cards: a registered card earns
                // on what was actually paid; a refund takes back what its
                // amount earned.
                let Some(rule) = active.and_then(|p| p.points.as_ref()) else {
                    return Ok(());
                };
                let exponent = patron_vocab::money::digits_or_default(currency);
                let change = Change { actor: ACTOR, at };
                if entry.is_purchase {
                    ledger::award(
                        tx,
                        rule,
                        entry.customer_id,
                        transaction,
                        *amount_minor,
                        exponent,
                        entry.day,
                        change,
                    )
                    .await?;
                } else {
                    let today = patron_kit::clock::today(self.engine.clock.as_ref(), self.zone);
                    ledger::take_back(
                        tx,
                        rule,
                        entry.customer_id,
                        transaction,
                        *amount_minor,
                        exponent,
                        today,
                        change,
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_done_staff_first_then_by_customer_each_in_stream_order() {
        // (A deletion's forgetting, version 5 here, follows its tombstone.)
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let manager = |customer, version| {
            Work::Directory(ProfileFact::Manager {
                customer,
                manager: String::new(),
                version,
            })
        };
        let staff = |id: &str| {
            Work::Directory(ProfileFact::Staff {
                staff: id.into(),
                unit: None,
                unit_path: Vec::new(),
                version: 1,
            })
        };
        let order: Vec<(Option<Uuid>, String, i64)> = in_lock_order(vec![
            manager(b, 1),
            staff("zhao"),
            manager(a, 2),
            manager(b, 3),
            staff("li"),
            Work::Directory(ProfileFact::Deleted {
                customer: a,
                version: 4,
            }),
            Work::Forget { customer: a },
        ])
        .iter()
        .map(|w| {
            let version = match w {
                Work::Directory(
                    ProfileFact::Manager { version, .. } | ProfileFact::Deleted { version, .. },
                ) => *version,
                Work::Forget { .. } => 5,
                _ => 0,
            };
            let (customer, staff) = w.order_key();
            (customer, staff.to_owned(), version)
        })
        .collect();
        assert_eq!(
            order,
            [
                (None, "li".into(), 0),
                (None, "zhao".into(), 0),
                (Some(a), String::new(), 2),
                (Some(a), String::new(), 4),
                (Some(a), String::new(), 5),
                (Some(b), String::new(), 1),
                (Some(b), String::new(), 3),
            ]
        );
    }
}
