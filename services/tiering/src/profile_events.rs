//! Applies profile's events: TransactionRecorded into per-customer figures
//! (re-evaluating the customer in the same transaction), CustomerExited into
//! the churned customers and their reasons, CustomerDeleted out of
//! everything tiering works on, and the archive and directory
//! events into the facts tiering authorises and acts by (manager, unit path,
//! birthday; where staff sit). The kit's consumer
//! applies each event once (by its id) and acknowledges after this commits.

use chrono_tz::Tz;
use futures::future::BoxFuture;
use patron_kit::events::EventHandler;
use patron_kit::{events, resource_name, timestamp};
use patron_proto::common::v1::Date;
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::{
    CustomerCreated, CustomerDeleted, CustomerExited, CustomerUpdated, ManagerReassigned,
    StaffMemberPlaced, TransactionKind, TransactionRecorded,
};
use sqlx::PgConnection;

use std::collections::BTreeSet;
use std::sync::Mutex;

use uuid::Uuid;

use crate::engine::{Engine, Occasion};
use crate::points;
use crate::store::customer_facts::{self, CustomerFacts};
use crate::store::{self, Change, DayEntry};

/// The stream profile publishes transactions to.
pub const TRANSACTIONS_TOPIC: &str = "profile.transactions";
/// The stream profile publishes archive changes (exits among them) to.
pub const CUSTOMERS_TOPIC: &str = "profile.customers";
/// The stream profile publishes where staff sit to.
pub const DIRECTORY_TOPIC: &str = "profile.directory";

/// The actor tier changes made on new figures are recorded under.
pub const ACTOR: &str = "tiering";

pub struct ProfileEvents {
    pub engine: Engine,
    pub zone: Tz,
    /// Customers whose figures changed in the transaction being applied:
    /// `finish` re-decides each once, however many of their events it held.
    touched: Mutex<BTreeSet<Uuid>>,
}

impl ProfileEvents {
    pub fn new(engine: Engine, zone: Tz) -> Self {
        Self {
            engine,
            zone,
            touched: Mutex::default(),
        }
    }
}

impl EventHandler for ProfileEvents {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if self.apply_archive_facts(tx, event).await? {
                return Ok(());
            }
            if let Some(deleted) = events::payload::<CustomerDeleted>(event) {
                let customer = resource_name::parse("customer", "customers", &deleted.customer)
                    .map_err(|e| anyhow::anyhow!("CustomerDeleted names no customer: {e}"))?;
                self.forget(tx, customer, deleted.version).await?;
                return Ok(());
            }
            if let Some(exited) = events::payload::<CustomerExited>(event) {
                let customer = resource_name::parse("customer", "customers", &exited.customer)
                    .map_err(|e| anyhow::anyhow!("CustomerExited names no customer: {e}"))?;
                let at = event
                    .occurred_at
                    .as_ref()
                    .and_then(timestamp::from_proto)
                    .unwrap_or_else(|| self.engine.clock.now());
                store::record_churned(tx, customer, exited.kind as i16, &exited.reason, at).await?;
                // A customer who left holds no VIP card any more (003: revoked).
                crate::store::points::void_live_card(tx, customer).await?;
                return Ok(());
            }
            // Other events on the streams are not ours to count.
            let Some(recorded) = events::payload::<TransactionRecorded>(event) else {
                return Ok(());
            };
            let customer = resource_name::parse("customer", "customers", &recorded.customer)
                .map_err(|e| anyhow::anyhow!("TransactionRecorded names no customer: {e}"))?;
            let occurred = recorded
                .occur_time
                .as_ref()
                .and_then(timestamp::from_proto)
                .ok_or_else(|| anyhow::anyhow!("TransactionRecorded without a time"))?;
            let amount = recorded
                .amount
                .as_ref()
                .map(|m| m.amount_minor)
                .unwrap_or(0);
            let is_purchase = recorded.kind == TransactionKind::Purchase as i32;
            let sign = if is_purchase { 1 } else { -1 };
            store::add_to_day(
                tx,
                &DayEntry {
                    customer_id: customer,
                    day: occurred.with_timezone(&self.zone).date_naive(),
                    amount_minor: sign * amount,
                    volume_milli: sign * recorded.quantity_milli,
                    is_purchase,
                },
            )
            .await?;
            // Points, when the scheme has cards: a registered card earns on
            // what was actually paid; a refund takes back what its amount earned.
            // The figures are kept even before a policy is active.
            let Some(active) = self.engine.active(tx).await? else {
                return Ok(());
            };
            if let Some(rule) = &active.1.points {
                let exponent = crate::domain::money::exponent(
                    recorded
                        .amount
                        .as_ref()
                        .map(|m| m.currency_code.as_str())
                        .unwrap_or("CNY"),
                );
                let change = Change {
                    actor: ACTOR,
                    at: self.engine.clock.now(),
                };
                let today = patron_kit::clock::today(self.engine.clock.as_ref(), self.zone);
                let day = occurred.with_timezone(&self.zone).date_naive();
                if is_purchase {
                    points::award(
                        tx,
                        rule,
                        customer,
                        &recorded.transaction,
                        amount,
                        exponent,
                        day,
                        change,
                    )
                    .await?;
                } else {
                    points::take_back(
                        tx,
                        rule,
                        customer,
                        &recorded.transaction,
                        amount,
                        exponent,
                        today,
                        change,
                    )
                    .await?;
                }
            }
            self.touched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(customer);
            Ok(())
        })
    }

    fn finish<'a>(&'a self, tx: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let touched =
                std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()));
            if touched.is_empty() {
                return Ok(());
            }
            let Some(active) = self.engine.active(tx).await? else {
                return Ok(());
            };
            let due: Vec<(Uuid, Occasion)> = touched
                .into_iter()
                .map(|c| (c, Occasion::Figures))
                .collect();
            self.engine
                .reevaluate_many(tx, &active, &due, ACTOR)
                .await?;
            Ok(())
        })
    }

    fn abandon(&self) {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl ProfileEvents {
    /// A deleted archive leaves the sweep, rankings and lists; its card is
    /// void, as a leaver's is; the tombstone turns away later events about it.
    async fn forget(
        &self,
        tx: &mut PgConnection,
        customer: Uuid,
        version: i64,
    ) -> anyhow::Result<()> {
        store::lock_customers(tx, &[customer]).await?;
        customer_facts::mark_deleted(tx, customer, version, self.engine.clock.now()).await?;
        store::forget_customer(tx, customer).await?;
        crate::store::points::void_live_card(tx, customer).await?;
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&customer);
        Ok(())
    }

    /// Keeps the facts CustomerCreated, CustomerUpdated, ManagerReassigned and
    /// StaffMemberPlaced carry. Whether the event was one of them.
    async fn apply_archive_facts(
        &self,
        tx: &mut PgConnection,
        event: &EventEnvelope,
    ) -> anyhow::Result<bool> {
        let at = self.engine.clock.now();
        let customer = |name: &str| {
            resource_name::parse("customer", "customers", name)
                .map_err(|e| anyhow::anyhow!("{} names no customer: {e}", event.event_type))
        };
        let archive = events::payload::<CustomerCreated>(event)
            .map(|c| {
                let facts = archive_facts(
                    &c.account_manager,
                    &c.org_unit,
                    &c.org_unit_path,
                    c.birthday,
                );
                (c.customer, facts, c.version)
            })
            .or_else(|| {
                events::payload::<CustomerUpdated>(event).map(|u| {
                    let facts = archive_facts(
                        &u.account_manager,
                        &u.org_unit,
                        &u.org_unit_path,
                        u.birthday,
                    );
                    (u.customer, facts, u.version)
                })
            });
        if let Some((name, facts, version)) = archive {
            let id = customer(&name)?;
            customer_facts::put_archive(tx, id, &facts, version, at).await?;
        } else if let Some(reassigned) = events::payload::<ManagerReassigned>(event) {
            let id = customer(&reassigned.customer)?;
            customer_facts::put_manager(
                tx,
                id,
                &reassigned.account_manager,
                reassigned.version,
                at,
            )
            .await?;
        } else if let Some(placed) = events::payload::<StaffMemberPlaced>(event) {
            let staff = placed
                .staff_member
                .strip_prefix("staff/")
                .ok_or_else(|| anyhow::anyhow!("StaffMemberPlaced names no staff member"))?;
            let unit = placed
                .org_unit
                .strip_prefix("orgUnits/")
                .filter(|_| !placed.removed);
            customer_facts::put_staff(tx, staff, unit, placed.version, at).await?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

fn archive_facts(
    manager: &str,
    org_unit: &str,
    org_unit_path: &[String],
    birthday: Option<Date>,
) -> CustomerFacts {
    let known = birthday.filter(|d| (1..=12).contains(&d.month) && (1..=31).contains(&d.day));
    CustomerFacts {
        account_manager: manager.to_owned(),
        org_unit: org_unit.to_owned(),
        org_unit_path: org_unit_path.to_vec(),
        birthday_month: known.map(|d| d.month as i16),
        birthday_day: known.map(|d| d.day as i16),
        deleted: false,
    }
}
