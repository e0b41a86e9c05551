//! What the complaint service learns from the others' events, all kept by
//! the kit: where customers and staff sit (profile's archive and directory
//! events), each customer's tier and the policy in force (tiering's
//! TierChanged and PolicyActivated).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use patron_kit::events::EventHandler;
use patron_kit::{directory, timestamp};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::{Topic, topics};
use sqlx::PgConnection;

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
        if !directory::apply_event(tx, event, at).await? {
            directory::announced::apply_event(tx, event, at).await?;
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
