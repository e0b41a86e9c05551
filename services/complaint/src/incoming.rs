//! What the complaint service learns from the others' events: where
//! customers and staff sit (profile's archive and directory events, into the
//! kit's projection), each customer's tier (tiering's TierChanged) and the
//! policy in force (tiering's PolicyActivated).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use patron_kit::events::{self, EventHandler};
use patron_kit::{directory, resource_name, timestamp};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::tiering::v1::{PolicyActivated, TierChanged};
use patron_proto::{Topic, topics};
use prost::Name;
use sqlx::PgConnection;

use crate::store;

/// The topics the complaint service reads.
pub const TOPICS: [Topic; 4] = [
    topics::PROFILE_CUSTOMERS,
    topics::PROFILE_DIRECTORY,
    topics::TIERING_TIERS,
    topics::TIERING_POLICIES,
];

/// The consumer group the complaint service reads in.
pub const CONSUMER_GROUP: &str = "complaint";

pub struct IncomingEvents;

impl IncomingEvents {
    async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> anyhow::Result<()> {
        let at: DateTime<Utc> = event
            .occurred_at
            .as_ref()
            .and_then(timestamp::from_proto)
            .unwrap_or_else(Utc::now);
        if directory::apply_event(tx, event, at).await? {
            return Ok(());
        }
        if event.event_type == TierChanged::full_name() {
            let Some(changed) = events::payload::<TierChanged>(event) else {
                return Ok(());
            };
            let Ok(customer) = resource_name::parse("customer", "customers", &changed.customer)
            else {
                tracing::warn!(customer = %changed.customer, "TierChanged names no customer; skipped");
                return Ok(());
            };
            store::customer_tiers::keep(tx, customer, &changed.to_tier_code, at).await?;
        } else if event.event_type == PolicyActivated::full_name() {
            let Some(activated) = events::payload::<PolicyActivated>(event) else {
                return Ok(());
            };
            let row = store::policy::ActivePolicyRow {
                policy_id: activated
                    .policy
                    .trim_start_matches("tierPolicies/")
                    .to_owned(),
                version: activated.version,
                preset: activated.preset_text,
                activated_at: at,
            };
            if store::policy::keep(tx, &row).await? {
                tracing::info!(policy = %row.policy_id, version = row.version, "complaint policy follows the activated tier policy");
            }
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
        Box::pin(Self::apply(tx, event))
    }
}
