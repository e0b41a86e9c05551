//! The writes of an intake, grouped: numbering is gap-free, so every intake
//! of a month queues on the month's serial row until it commits. Intakes
//! that arrive while a group commits wait for the next, and that group takes
//! the row once, numbers each of its intakes in turn, and commits them
//! together (`patron_kit::group_commit`). Replicas still coordinate through
//! the row alone; each holds it for one commit per group instead of one per
//! intake.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use patron_kit::ServiceError;
use patron_kit::group_commit::{GroupAnswers, GroupWork};
use patron_kit::idempotency::{self, Claim};
use patron_proto::complaint::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::handling::{Handling, Step};
use crate::domain::numbering::NumberingMonth;
use crate::domain::repeat;
use crate::domain::workflow::State;
use crate::grpc::view;
use crate::store::complaints::{self, NewComplaint};

/// An intake checked and prepared, waiting for its number.
pub struct PreparedIntake {
    /// The complaint, without its number and repeat link yet.
    pub complaint: NewComplaint,
    pub handling: Handling,
    pub next_alarm_at: Option<DateTime<Utc>>,
    pub request_id: Option<Uuid>,
    pub fingerprint: Vec<u8>,
    /// The repeat window of the policy in force.
    pub repeat_window_days: u32,
    /// `customers/{id}`, the events' key.
    pub customer_name: String,
    /// The first line of the timeline.
    pub note: String,
    pub actor: String,
}

/// Numbers and writes groups of prepared intakes.
pub struct IntakeWriter {
    pub zone: Tz,
}

impl GroupWork for IntakeWriter {
    type Job = PreparedIntake;
    type Output = Uuid;

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [PreparedIntake],
    ) -> BoxFuture<'a, GroupAnswers<Uuid>> {
        Box::pin(async move {
            // Each month's row is locked in one order, so two groups that
            // span a month's end cannot wait on each other.
            let mut last_serials = BTreeMap::new();
            for job in jobs {
                last_serials.insert(self.month(job).key(), 0);
            }
            for (month, last) in last_serials.iter_mut() {
                *last = complaints::lock_serials(tx, month).await?;
            }
            let mut answers = Vec::with_capacity(jobs.len());
            for job in jobs {
                answers.push(self.write(tx, job, &mut last_serials).await?);
            }
            for (month, last) in &last_serials {
                complaints::set_last_serial(tx, month, *last).await?;
            }
            Ok(answers)
        })
    }
}

impl IntakeWriter {
    fn month(&self, job: &PreparedIntake) -> NumberingMonth {
        NumberingMonth::of(job.complaint.received_at, self.zone)
    }

    /// Writes one intake under its month's lock: the outer error fails the
    /// group, the inner one is this intake's own answer.
    async fn write(
        &self,
        tx: &mut PgConnection,
        job: &PreparedIntake,
        last_serials: &mut BTreeMap<String, i64>,
    ) -> Result<Result<Uuid, ServiceError>, ServiceError> {
        let id = job.complaint.id;
        if let Some(request_id) = job.request_id {
            match idempotency::claim(tx, "complaints", request_id, &job.fingerprint, id).await {
                Ok(Claim::New) => {}
                Ok(Claim::Replay(existing)) => return Ok(Ok(existing)),
                // A request id reused for another intake: refused, and
                // nothing was written for it.
                Err(refused @ ServiceError::InvalidArgument(_)) => return Ok(Err(refused)),
                Err(e) => return Err(e),
            }
        }
        let now = job.complaint.received_at;
        let month = self.month(job);
        let serial = last_serials.entry(month.key()).or_default();
        *serial += 1;
        // Behind the lock, an earlier intake of the same customer (in this
        // group or committed before it) is seen.
        let window = job.repeat_window_days;
        let since = repeat::window_start(now, self.zone, window);
        let repeat_of =
            complaints::latest_of_customer_since(tx, job.complaint.intake.customer_id, since)
                .await?
                .filter(|(_, at)| repeat::is_repeat(*at, now, self.zone, window))
                .map(|(id, _)| id);
        let complaint = NewComplaint {
            number: month.number(*serial),
            repeat_of,
            ..job.complaint.clone()
        };
        complaints::insert(tx, &complaint, &job.handling, job.next_alarm_at).await?;
        let received = Step {
            kind: "received",
            from: None,
            to: Some(State::Received),
            note: job.note.clone(),
        };
        complaints::append_timeline(tx, id, &[received], &job.actor, now).await?;
        let event = pb::ComplaintReceived {
            complaint: view::complaint_name(id),
            complaint_number: complaint.number.clone(),
            customer: job.customer_name.clone(),
            tier: job.handling.tier.clone(),
            repeat_of: repeat_of.map(view::complaint_name).unwrap_or_default(),
            receive_time: Some(patron_kit::timestamp::to_proto(now)),
        };
        patron_kit::events::enqueue(tx, &job.customer_name, &event, now).await?;
        Ok(Ok(id))
    }
}
