//! The writes of an intake, grouped: numbering is gap-free, so every intake
//! of a month queues on the month's serial row until it commits. Intakes
//! that arrive while a group commits wait for the next, and that group takes
//! the row once, numbers each of its intakes in turn, and commits them
//! together (`patron_kit::group_commit`). Replicas still coordinate through
//! the row alone; each holds it for one commit per group instead of one per
//! intake.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use patron_kit::ServiceError;
use patron_kit::events::EventBatch;
use patron_kit::group_commit::{GroupAnswers, GroupWork};
use patron_kit::idempotency::{self, Claim, ClaimRequest};
use patron_proto::complaint::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::handling::{Handling, Step};
use crate::domain::numbering::NumberingMonth;
use crate::domain::repeat;
use crate::domain::workflow::State;
use crate::grpc::view;
use crate::store::complaints::{self, IntakeRow, NewComplaint};
use crate::store::unit_handlers;

/// An intake checked and prepared, waiting for its number.
pub struct PreparedIntake {
    /// The complaint, without its number, handler and repeat link yet.
    pub complaint: NewComplaint,
    pub handling: Handling,
    pub next_alarm_at: Option<DateTime<Utc>>,
    pub request_id: Option<Uuid>,
    pub fingerprint: Vec<u8>,
    /// The repeat window of the policy in force.
    pub repeat_window_days: u32,
    /// `customers/{id}`, the events' key.
    pub customer_name: String,
    /// The first line of the timeline: who received it and how; the
    /// handler and an exited customer are added when written.
    pub note: String,
    pub actor: String,
    /// The request's trace, for the event written in the group.
    pub traceparent: String,
}

/// What an intake is answered.
pub enum Intake {
    /// Written by this group: the complaint as stored.
    Written(Box<pb::Complaint>),
    /// A retry of an intake already written: that complaint's id.
    Replayed(Uuid),
}

/// Numbers and writes groups of prepared intakes.
pub struct IntakeWriter {
    pub zone: Tz,
}

impl GroupWork for IntakeWriter {
    type Job = PreparedIntake;
    type Output = Intake;

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [PreparedIntake],
    ) -> BoxFuture<'a, GroupAnswers<Intake>> {
        Box::pin(self.write_group(tx, jobs))
    }
}

impl IntakeWriter {
    fn month(&self, job: &PreparedIntake) -> NumberingMonth {
        NumberingMonth::of(job.complaint.received_at, self.zone)
    }

    /// Writes a group of intakes in four statements (five when a request id
    /// is replayed). What needs no serial comes first: the request ids
    /// claimed, then the customers locked and the handlers found. Then each
    /// month's serials are taken (its row stays locked until the commit,
    /// which every intake of the month on every replica waits for) with the
    /// customers' earlier complaints read behind their locks, and the
    /// complaints, their first timeline lines and their events are written
    /// in one statement. A job's own refusal (a request id reused for another
    /// intake) is its answer and takes no serial.
    async fn write_group(
        &self,
        tx: &mut PgConnection,
        jobs: &[PreparedIntake],
    ) -> GroupAnswers<Intake> {
        let mut answers = self.claim_request_ids(tx, jobs).await?;
        let fresh: Vec<&PreparedIntake> = jobs
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a.is_none())
            .map(|(job, _)| job)
            .collect();
        // The earlier intakes of each customer (committed before this group,
        // or earlier in it) are seen: other intakes of these customers wait
        // for this group's commit, taking their locks in the statement that
        // finds the handlers, and the look-up runs in the next, which takes
        // the months' serials.
        let paths: Vec<&[String]> = fresh
            .iter()
            .map(|job| job.complaint.org_unit_path.as_slice())
            .collect();
        let mut customers: Vec<Uuid> = fresh
            .iter()
            .map(|j| j.complaint.intake.customer_id)
            .collect();
        customers.sort_unstable();
        customers.dedup();
        let handlers =
            unit_handlers::lock_customers_and_find_nearest(tx, &customers, &paths).await?;
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for job in &fresh {
            *counts.entry(self.month(job).key()).or_default() += 1;
        }
        let complaints::SerialsAndLatest {
            last_before: mut last_serials,
            mut latest,
        } = self
            .take_serials_and_read_latest(tx, &fresh, &customers, &counts)
            .await?;

        let mut written = Vec::with_capacity(fresh.len());
        let mut notes = Vec::with_capacity(fresh.len());
        for (job, nearest) in fresh.iter().zip(handlers) {
            let now = job.complaint.received_at;
            let month = self.month(job);
            let serial = last_serials.entry(month.key()).or_default();
            *serial += 1;
            let window = job.repeat_window_days;
            let customer = job.complaint.intake.customer_id;
            let repeat_of = latest
                .get(&customer)
                .filter(|(_, at)| *at >= repeat::window_start(now, self.zone, window))
                .filter(|(_, at)| repeat::is_repeat(*at, now, self.zone, window))
                .map(|(id, _)| *id);
            latest.insert(customer, (job.complaint.id, now));
            // With no handler (or one the directory has not placed), the
            // complaint escalates up the customer's own units.
            let (handler, handler_unit_path) = match nearest {
                Some(found) => (
                    found.handler,
                    found
                        .unit_path
                        .unwrap_or_else(|| job.complaint.org_unit_path.clone()),
                ),
                None => (String::new(), job.complaint.org_unit_path.clone()),
            };
            let mut note = job.note.clone();
            if !handler.is_empty() {
                note.push_str(&format!("; handler staff/{handler}"));
            }
            if job.complaint.customer_exited {
                note.push_str("; the customer had exited");
            }
            notes.push(note);
            written.push(NewComplaint {
                number: month.number(*serial),
                repeat_of,
                handler,
                handler_unit_path,
                ..job.complaint.clone()
            });
        }

        let received: Vec<Step> = notes
            .into_iter()
            .map(|note| Step {
                kind: "received",
                from: None,
                to: Some(State::Received),
                note,
            })
            .collect();
        let rows: Vec<_> = fresh
            .iter()
            .zip(&written)
            .zip(&received)
            .map(|((job, complaint), received)| IntakeRow {
                complaint,
                handling: &job.handling,
                next_alarm_at: job.next_alarm_at,
                received,
                actor: &job.actor,
            })
            .collect();
        let mut events = EventBatch::default();
        for (job, complaint) in fresh.iter().zip(&written) {
            let event = pb::ComplaintReceived {
                complaint: view::complaint_name(complaint.id),
                complaint_number: complaint.number.clone(),
                customer: job.customer_name.clone(),
                tier: job.handling.tier.clone(),
                repeat_of: complaint
                    .repeat_of
                    .map(view::complaint_name)
                    .unwrap_or_default(),
                receive_time: Some(patron_kit::timestamp::to_proto(complaint.received_at)),
            };
            events.push_traced(
                &job.customer_name,
                &event,
                complaint.received_at,
                job.traceparent.clone(),
            );
        }
        // The complaints, their timelines' first lines and their events
        // are one statement, the last the month's row waits on before the
        // commit.
        let stored = complaints::insert(tx, &rows, events).await?;

        // Each written complaint is answered as stored, with no read after.
        let mut answered: HashMap<Uuid, pb::Complaint> = stored
            .iter()
            .map(|s| (s.row.id, view::complaint(&s.row, &[&s.first_line])))
            .collect();
        Ok(jobs
            .iter()
            .zip(answers.iter_mut())
            .map(|(job, answer)| match answer.take() {
                Some(Ok(existing)) => Ok(Intake::Replayed(existing)),
                Some(Err(refused)) => Err(refused),
                None => answered
                    .remove(&job.complaint.id)
                    .map(|c| Intake::Written(Box::new(c)))
                    .ok_or_else(|| {
                        ServiceError::internal(anyhow::anyhow!(
                            "complaint {} was written but not returned",
                            job.complaint.id
                        ))
                    }),
            })
            .collect())
    }

    /// Claims the jobs' request ids: `Some` answer for a job already applied
    /// (its complaint) or refused, `None` for one to write now.
    async fn claim_request_ids(
        &self,
        tx: &mut PgConnection,
        jobs: &[PreparedIntake],
    ) -> Result<Vec<Option<Result<Uuid, ServiceError>>>, ServiceError> {
        let requests: Vec<ClaimRequest> = jobs
            .iter()
            .filter_map(|job| {
                Some(ClaimRequest {
                    request_id: job.request_id?,
                    fingerprint: &job.fingerprint,
                    resource_id: job.complaint.id,
                })
            })
            .collect();
        let mut claims = idempotency::claim_many(tx, "complaints", &requests)
            .await?
            .into_iter();
        Ok(jobs
            .iter()
            .map(|job| {
                job.request_id?;
                match claims.next()? {
                    Ok(Claim::New) => None,
                    Ok(Claim::Replay(existing)) => Some(Ok(existing)),
                    Err(refused) => Some(Err(refused)),
                }
            })
            .collect())
    }

    /// Takes `counts` serials of each month and reads each of `customers`'
    /// latest complaint inside the longest repeat window of the group, which
    /// no other intake of these customers can change now (they are locked).
    async fn take_serials_and_read_latest(
        &self,
        tx: &mut PgConnection,
        jobs: &[&PreparedIntake],
        customers: &[Uuid],
        counts: &BTreeMap<String, i64>,
    ) -> Result<complaints::SerialsAndLatest, ServiceError> {
        let Some(since) = jobs
            .iter()
            .map(|job| {
                repeat::window_start(job.complaint.received_at, self.zone, job.repeat_window_days)
            })
            .min()
        else {
            return Ok(complaints::SerialsAndLatest::default());
        };
        complaints::take_serials_and_read_latest(tx, counts, customers, since).await
    }
}
