//! Reads complaint's events (topic `complaint.complaints`) into what the
//! churn early warning counts: complaints received and satisfaction scores,
//! per customer. The events reach tiering through the same consumer as
//! profile's (`profile_events`), which does this work in its lock order and
//! re-decides the customer so their churn reasons follow.

use chrono::{DateTime, Utc};
use patron_kit::{events, resource_name, timestamp};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::complaint::v1::{ComplaintReceived, ComplaintSurveyed};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::store;
use patron_kit::directory::store as customer_facts;

/// What one complaint event tells tiering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComplaintFact {
    Received {
        complaint: String,
        customer: Uuid,
        at: DateTime<Utc>,
    },
    Surveyed {
        complaint: String,
        customer: Uuid,
        score: i16,
        at: DateTime<Utc>,
    },
}

impl ComplaintFact {
    /// What `event` tells, if it is a complaint event tiering counts; an
    /// error when it is malformed. The other complaint events (state
    /// changes, escalations, closings) are not counted: a closing's
    /// satisfaction repeats a survey already published.
    pub fn read(event: &EventEnvelope) -> anyhow::Result<Option<Self>> {
        let occurred = event.occurred_at.as_ref().and_then(timestamp::from_proto);
        if let Some(received) = events::payload::<ComplaintReceived>(event) {
            let at = received
                .receive_time
                .as_ref()
                .and_then(timestamp::from_proto)
                .or(occurred)
                .ok_or_else(|| anyhow::anyhow!("ComplaintReceived without a time"))?;
            return Ok(Some(Self::Received {
                customer: customer(event, &received.customer)?,
                complaint: complaint(event, received.complaint)?,
                at,
            }));
        }
        if let Some(surveyed) = events::payload::<ComplaintSurveyed>(event) {
            // Complaint refuses scores outside 1–5; one that got through
            // anyway must not stall the stream.
            let Ok(score) = i16::try_from(surveyed.score) else {
                tracing::warn!(complaint = %surveyed.complaint, score = surveyed.score, "survey score outside 1 to 5; not counted");
                return Ok(None);
            };
            if !(1..=5).contains(&score) {
                tracing::warn!(complaint = %surveyed.complaint, score, "survey score outside 1 to 5; not counted");
                return Ok(None);
            }
            let at = surveyed
                .record_time
                .as_ref()
                .and_then(timestamp::from_proto)
                .or(occurred)
                .ok_or_else(|| anyhow::anyhow!("ComplaintSurveyed without a time"))?;
            return Ok(Some(Self::Surveyed {
                customer: customer(event, &surveyed.customer)?,
                complaint: complaint(event, surveyed.complaint)?,
                score,
                at,
            }));
        }
        Ok(None)
    }

    pub fn customer(&self) -> Uuid {
        match self {
            Self::Received { customer, .. } | Self::Surveyed { customer, .. } => *customer,
        }
    }

    /// Keeps it, unless the customer's archive was deleted (tiering forgets
    /// those; a late complaint event must not bring them back). The
    /// customer's lock is held.
    pub async fn apply(&self, tx: &mut PgConnection) -> anyhow::Result<()> {
        if !customer_facts::deleted_among(tx, &[self.customer()])
            .await?
            .is_empty()
        {
            return Ok(());
        }
        match self {
            Self::Received {
                complaint,
                customer,
                at,
            } => store::record_complaint(tx, complaint, *customer, *at).await?,
            Self::Surveyed {
                complaint,
                customer,
                score,
                at,
            } => store::record_score(tx, complaint, *customer, *score, *at).await?,
        }
        Ok(())
    }
}

fn customer(event: &EventEnvelope, name: &str) -> anyhow::Result<Uuid> {
    resource_name::parse("customer", "customers", name)
        .map_err(|e| anyhow::anyhow!("{} names no customer: {e}", event.event_type))
}

fn complaint(event: &EventEnvelope, name: String) -> anyhow::Result<String> {
    if name.starts_with("complaints/") && name.len() > "complaints/".len() {
        Ok(name)
    } else {
        Err(anyhow::anyhow!(
            "{} names no complaint: {name:?}",
            event.event_type
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use prost::{Message, Name};

    fn envelope<M: Message + Name>(message: &M) -> EventEnvelope {
        EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: M::full_name(),
            payload: message.encode_to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn received_and_surveyed_are_read_and_the_rest_passed_over() {
        let customer = Uuid::from_u128(7);
        let at = Utc.with_ymd_and_hms(2026, 6, 10, 2, 0, 0).unwrap();
        let received = ComplaintReceived {
            complaint: "complaints/c1".into(),
            complaint_number: "2606-000001".into(),
            customer: format!("customers/{customer}"),
            receive_time: Some(timestamp::to_proto(at)),
            ..Default::default()
        };
        assert_eq!(
            ComplaintFact::read(&envelope(&received)).unwrap(),
            Some(ComplaintFact::Received {
                complaint: "complaints/c1".into(),
                customer,
                at
            })
        );
        let surveyed = |score| ComplaintSurveyed {
            complaint: "complaints/c1".into(),
            customer: format!("customers/{customer}"),
            score,
            record_time: Some(timestamp::to_proto(at)),
        };
        assert_eq!(
            ComplaintFact::read(&envelope(&surveyed(1))).unwrap(),
            Some(ComplaintFact::Surveyed {
                complaint: "complaints/c1".into(),
                customer,
                score: 1,
                at
            })
        );
        for out_of_scale in [0, 6, -1, 70_000] {
            assert_eq!(
                ComplaintFact::read(&envelope(&surveyed(out_of_scale))).unwrap(),
                None
            );
        }
        let closed = patron_proto::complaint::v1::ComplaintClosed {
            complaint: "complaints/c1".into(),
            customer: format!("customers/{customer}"),
            satisfaction: 1,
            ..Default::default()
        };
        assert_eq!(ComplaintFact::read(&envelope(&closed)).unwrap(), None);
        let nobody = ComplaintReceived {
            customer: "people/1".into(),
            ..received.clone()
        };
        assert!(ComplaintFact::read(&envelope(&nobody)).is_err());
        let untimed = ComplaintReceived {
            receive_time: None,
            ..received
        };
        assert!(ComplaintFact::read(&envelope(&untimed)).is_err());
    }
}
