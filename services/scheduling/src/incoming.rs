//! What the scheduling service learns from the others' events. The kit
//! keeps where customers and staff sit (profile's archive and directory
//! events), each customer's tier and the policy in force (tiering's
//! TierChanged and PolicyActivated); after it applied an event, scheduling
//! reacts in the same transaction: a new customer is put in planning (and
//! planned again when the dates care follows change, kept by `care`), a new
//! tier re-plans their future cadence, an exit cancels their open tasks, a
//! change of manager moves them.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use patron_kit::clock::SharedClock;
use patron_kit::directory::{self, ProfileFact};
use patron_kit::events::EventHandler;
use patron_kit::{events, resource_name, timestamp};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::readers::{self, Reader};
use patron_proto::tiering::v1::TierChanged;
use sqlx::PgConnection;

use crate::care;
use crate::generation_job::local_day;
use crate::store::tasks;

/// The consumer group the scheduling service reads in and its topics, as
/// the contract lists them.
pub const READER: Reader = readers::SCHEDULING;

pub struct IncomingEvents {
    pub clock: SharedClock,
    pub zone: Tz,
    /// The calls' cache of callers' units: what an applied directory event
    /// changes is forgotten at once.
    pub reach: directory::ReachCache,
}

impl IncomingEvents {
    async fn apply(&self, tx: &mut PgConnection, event: &EventEnvelope) -> anyhow::Result<()> {
        let at: DateTime<Utc> = event
            .occurred_at
            .as_ref()
            .and_then(timestamp::from_proto)
            .unwrap_or_else(|| self.clock.now());
        let now = self.clock.now();
        let today = local_day(now, self.zone);
        if let Some(fact) = ProfileFact::read(event)? {
            fact.apply(tx, at).await?;
            self.reach.forget(&fact);
            let Some(customer) = fact.customer() else {
                return Ok(());
            };
            tasks::lock_planning(tx, customer).await?;
            match &fact {
                ProfileFact::Archive { .. } => {
                    tasks::ensure_planning(tx, customer, local_day(at, self.zone), now).await?;
                    // New dates for care (or corrected ones): planned again
                    // at the next pass.
                    if let Some((_, true)) = care::apply_archive_event(tx, event, at).await? {
                        tasks::replan(tx, customer, local_day(at, self.zone), now).await?;
                    }
                }
                ProfileFact::Manager { .. } => {
                    // The projection keeps the latest manager whatever order
                    // the events came in; the tasks follow it.
                    let facts = directory::store::customer(tx, customer).await?;
                    tasks::reassign_open(tx, customer, &facts.account_manager).await?;
                }
                ProfileFact::Exited { .. } | ProfileFact::Deleted { .. } => {
                    tasks::cancel_open(tx, customer, None).await?;
                }
                ProfileFact::Staff { .. } => {}
            }
            return Ok(());
        }
        directory::announced::apply_event(tx, event, at).await?;
        if let Some(changed) = events::payload::<TierChanged>(event)
            && let Ok(customer) = resource_name::parse("customer", "customers", &changed.customer)
        {
            // The planning row first, as everywhere (see `lock_planning`).
            tasks::replan(tx, customer, local_day(at, self.zone), now).await?;
            tasks::cancel_open(tx, customer, Some(today)).await?;
        }
        Ok(())
    }
}

impl EventHandler for IncomingEvents {
    type Batch = ();

    fn begin(&self) -> Self::Batch {}

    fn handle<'a>(
        &'a self,
        _batch: &'a mut Self::Batch,
        tx: &'a mut PgConnection,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(self.apply(tx, event))
    }
}
