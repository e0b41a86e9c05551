//! What the complaint service learns from the others' events, all kept by
//! the kit: where customers and staff sit (profile's archive and directory
//! events), each customer's tier and the policy in force (tiering's
//! TierChanged and PolicyActivated).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use patron_kit::events::EventHandler;
use patron_kit::{directory, timestamp};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::readers::{self, Reader};
use sqlx::PgConnection;

/// The consumer group the complaint service reads in and its topics, as
/// the contract lists them.
pub const READER: Reader = readers::COMPLAINT;

#[derive(Default)]
pub struct IncomingEvents {
    /// The calls' cache of callers' units: what an applied directory event
    /// changes is forgotten at once.
    pub reach: directory::ReachCache,
    /// The calls' copies of the projection: a customer an applied event is
    /// about is forgotten at once.
    pub customers: crate::customers::ProjectedCustomers,
}

impl IncomingEvents {
    async fn apply(&self, tx: &mut PgConnection, event: &EventEnvelope) -> anyhow::Result<()> {
        let at: DateTime<Utc> = event
            .occurred_at
            .as_ref()
            .and_then(timestamp::from_proto)
            .unwrap_or_else(Utc::now);
        if let Some(fact) = directory::ProfileFact::read(event)? {
            fact.apply(tx, at).await?;
            self.reach.forget(&fact);
        } else {
            directory::announced::apply_event(tx, event, at).await?;
        }
        if !event.customer.is_empty() {
            self.customers.forget(&event.customer);
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
