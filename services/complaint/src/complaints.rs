//! The complaint use cases: intake, steps, pauses, hand-overs and surveys.
//! Each runs in one transaction that locks the complaint, lets the domain
//! decide, writes the row, its timeline and finished stage, and puts the
//! events in the outbox, so a step and its events commit together.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use patron_kit::auth::Caller;
use patron_kit::clock::SharedClock;
use patron_kit::directory::announced::Loaded;
use patron_kit::directory::{self, Reach};
use patron_kit::events::EventBatch;
use patron_kit::group_commit::GroupCommit;
use patron_kit::{ServiceError, resource_name, timestamp};
use patron_proto::complaint::v1 as pb;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::customers::Customers;
use crate::domain::handling::{Handling, MoveFacts, Outcome, Refusal};
use crate::domain::workflow::{Move, State};
use crate::grpc::view;
use crate::intake_writer::{Intake, IntakeWriter, PreparedIntake};
use crate::policy_source::{ComplaintSection, Policies};
use crate::store::complaints::{self, ComplaintRow, IntakeFields, NewComplaint};

/// What every use case shares.
#[derive(Clone)]
pub struct Complaints {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub zone: Tz,
    pub policies: Policies,
    pub customers: Customers,
    /// Numbers and writes intakes in groups.
    pub intakes: GroupCommit<IntakeWriter>,
    /// Callers' units, kept for the kit's bound; the consumer forgets those
    /// its directory events change.
    pub reach: directory::ReachCache,
}

/// A refusal of the domain as the caller learns it: a sign-off above one's
/// authority is not theirs to give; everything else is the complaint's state.
pub fn refused(refusal: Refusal) -> ServiceError {
    match refusal {
        Refusal::AboveAuthority { .. } => ServiceError::PermissionDenied(refusal.to_string()),
        other => ServiceError::FailedPrecondition(other.to_string()),
    }
}

/// What a step adds beyond the move.
#[derive(Debug, Clone, Default)]
pub struct StepInput {
    pub note: String,
    pub investigation: Option<serde_json::Value>,
    pub resolution: Option<serde_json::Value>,
    pub root_cause: Option<String>,
    pub loss: Option<(i64, String)>,
    pub expected_version: Option<i64>,
}

impl Complaints {
    /// The caller's reach, from the service's copy of the directory.
    pub async fn reach(&self, caller: &Caller) -> Result<Reach, ServiceError> {
        self.reach.reach_in(&self.pool, caller).await
    }

    /// Receives a complaint: numbered in its month, flagged as a repeat,
    /// given to its unit's handler, on the clock of its customer's tier.
    pub async fn receive(
        &self,
        caller: &Caller,
        intake: IntakeFields,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Intake, ServiceError> {
        let customer_name = resource_name::format("customers", intake.customer_id);
        let customer = self
            .customers
            .find(intake.customer_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&customer_name))?;
        if !self
            .reach(caller)
            .await?
            .covers(&customer.org_unit_path, &customer.account_manager)
        {
            return Err(ServiceError::not_found(&customer_name));
        }
        let loaded = self.policies.current().await?;
        let now = self.clock.now();
        let policy = &loaded.value.policy;
        let handling = Handling::received(now, &customer.tier, policy);
        let note = format!("received by {} ({})", caller.subject, intake.channel);
        let prepared = PreparedIntake {
            complaint: NewComplaint {
                id: resource_name::new_id(),
                number: String::new(),
                intake,
                org_unit: customer.org_unit.clone(),
                org_unit_path: customer.org_unit_path.clone(),
                account_manager: customer.account_manager.clone(),
                customer_exited: customer.exited,
                // The group finds the handler and the repeat.
                handler: String::new(),
                handler_unit_path: Vec::new(),
                repeat_of: None,
                received_at: now,
            },
            next_alarm_at: handling.next_alarm(policy).map(|a| a.at()),
            handling,
            request_id,
            fingerprint: fingerprint.to_vec(),
            repeat_window_days: policy.repeat_window_days,
            customer_name,
            note,
            actor: caller.subject.clone(),
            traceparent: patron_kit::events::current_traceparent(),
        };
        self.intakes.submit(prepared).await
    }

    /// Locks a complaint the caller reaches, checking the etag they sent.
    async fn lock_reached(
        &self,
        tx: &mut PgConnection,
        caller: &Caller,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<ComplaintRow, ServiceError> {
        let name = view::complaint_name(id);
        let reach = self.reach.reach_of(&mut *tx, caller).await?;
        let row = complaints::lock(tx, id)
            .await?
            .filter(|row| reach.covers(&row.org_unit_path, &row.account_manager))
            .ok_or_else(|| ServiceError::not_found(&name))?;
        patron_kit::etag::check(expected_version, row.version, &name)?;
        Ok(row)
    }

    /// Moves a complaint one step.
    pub async fn advance(
        &self,
        caller: &Caller,
        id: Uuid,
        attempted: Move,
        input: StepInput,
    ) -> Result<(), ServiceError> {
        let loaded = self.policies.current().await?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self
            .lock_reached(&mut tx, caller, id, input.expected_version)
            .await?;
        let mut handling = row.handling();
        check_step_input(&row, attempted, &input, &loaded)?;
        let facts = MoveFacts {
            loss_minor: input.loss.as_ref().map(|(minor, _)| *minor),
            authority: loaded.value.policy.authority.of(&caller.roles),
        };
        let outcome = handling
            .advance(attempted, now, &loaded.value.policy, facts, &input.note)
            .map_err(refused)?;
        if let Some(investigation) = input.investigation {
            row.investigation = Some(investigation);
        }
        if attempted == Move::Resolve {
            row.resolution = input.resolution;
            row.root_cause = input.root_cause;
            row.loss_currency = input.loss.map(|(_, currency)| currency);
        }
        if attempted == Move::FindNotValid {
            row.not_valid_reason = input.note.clone();
        }
        self.write_outcome(&mut tx, &mut row, &handling, &outcome, caller, &loaded, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stops the clock, or starts it again (`reason` is `None`).
    pub async fn pause_or_resume(
        &self,
        caller: &Caller,
        id: Uuid,
        reason: Option<&str>,
        note: &str,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let loaded = self.policies.current().await?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self
            .lock_reached(&mut tx, caller, id, expected_version)
            .await?;
        let mut handling = row.handling();
        let outcome = match reason {
            Some(reason) => handling.pause(reason, now, &loaded.value.policy),
            None => handling.resume(now, &loaded.value.policy, note),
        }
        .map_err(refused)?;
        self.write_outcome(&mut tx, &mut row, &handling, &outcome, caller, &loaded, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hands an open complaint to another handler.
    pub async fn assign(
        &self,
        caller: &Caller,
        id: Uuid,
        handler: &str,
        note: &str,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let loaded = self.policies.current().await?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self
            .lock_reached(&mut tx, caller, id, expected_version)
            .await?;
        let state = State::parse(&row.state).unwrap_or(State::Received);
        if !state.is_open() {
            return Err(ServiceError::FailedPrecondition(format!(
                "a complaint that is {state} has no handler to change; reopen it first"
            )));
        }
        let placement = directory::store::staff_placement(&mut tx, handler)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("staff/{handler}")))?;
        let before = std::mem::replace(&mut row.handler, handler.to_owned());
        row.handler_unit_path = placement.unit_path;
        let handling = row.handling();
        let from = if before.is_empty() {
            "nobody".to_owned()
        } else {
            format!("staff/{before}")
        };
        let outcome = Outcome::noted(
            "assigned",
            format!("from {from} to staff/{handler}{}", note_suffix(note)),
        );
        self.write_outcome(&mut tx, &mut row, &handling, &outcome, caller, &loaded, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the customer's satisfaction with a closed complaint, once.
    pub async fn record_survey(
        &self,
        caller: &Caller,
        id: Uuid,
        score: i16,
        comment: &str,
    ) -> Result<(), ServiceError> {
        let loaded = self.policies.current().await?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self.lock_reached(&mut tx, caller, id, None).await?;
        let state = State::parse(&row.state).unwrap_or(State::Received);
        if state != State::Closed {
            return Err(ServiceError::FailedPrecondition(format!(
                "a complaint that is {state} cannot be surveyed; surveys follow closing"
            )));
        }
        if row.survey_score.is_some() {
            return Err(ServiceError::FailedPrecondition(
                "the complaint's survey is already recorded; it is taken once".into(),
            ));
        }
        row.survey_score = Some(score);
        row.survey_comment = Some(comment.to_owned());
        row.survey_by = Some(caller.subject.clone());
        row.survey_at = Some(now);
        let handling = row.handling();
        let outcome = Outcome::noted(
            "survey",
            format!("satisfaction {score} of 5{}", note_suffix(comment)),
        );
        self.write_outcome(&mut tx, &mut row, &handling, &outcome, caller, &loaded, now)
            .await?;
        let customer = resource_name::format("customers", row.intake.customer_id);
        let event = pb::ComplaintSurveyed {
            complaint: view::complaint_name(id),
            customer: customer.clone(),
            score: i32::from(score),
            record_time: Some(timestamp::to_proto(now)),
        };
        patron_kit::events::enqueue(&mut tx, &customer, &event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a step's result: the row, the next alarm, the timeline, the
    /// finished stage, and the events of a move.
    #[allow(clippy::too_many_arguments)]
    async fn write_outcome(
        &self,
        tx: &mut PgConnection,
        row: &mut ComplaintRow,
        handling: &Handling,
        outcome: &Outcome,
        caller: &Caller,
        loaded: &Loaded<ComplaintSection>,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        row.apply(handling);
        let alarm = handling.next_alarm(&loaded.value.policy).map(|a| a.at());
        row.version = complaints::update(tx, row, alarm, now).await?;
        complaints::append_timeline(tx, row.id, &outcome.steps, &caller.subject, now).await?;
        if let Some(stage) = &outcome.finished {
            complaints::insert_stage(tx, row.id, stage).await?;
        }
        let Some((from, to)) = outcome.moved else {
            return Ok(());
        };
        let customer = resource_name::format("customers", row.intake.customer_id);
        let mut batch = EventBatch::default();
        batch.push(
            &customer,
            &pb::ComplaintStateChanged {
                complaint: view::complaint_name(row.id),
                customer: customer.clone(),
                from_state: view::state_to_wire(from) as i32,
                to_state: view::state_to_wire(to) as i32,
                actor: caller.subject.clone(),
            },
            now,
        );
        if !to.is_open() {
            batch.push(
                &customer,
                &pb::ComplaintClosed {
                    complaint: view::complaint_name(row.id),
                    customer: customer.clone(),
                    outcome: view::state_to_wire(to) as i32,
                    on_time: !handling.overdue,
                    root_cause: row.root_cause.clone().unwrap_or_default(),
                    satisfaction: row.survey_score.map(i32::from).unwrap_or(0),
                },
                now,
            );
        }
        batch.write(tx).await
    }
}

fn note_suffix(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(": {note}")
    }
}

/// What each move needs given: a reason where the documents ask for one, a
/// resolution with a known root cause and the policy's currency.
fn check_step_input(
    row: &ComplaintRow,
    attempted: Move,
    input: &StepInput,
    loaded: &Loaded<ComplaintSection>,
) -> Result<(), ServiceError> {
    let mut v = patron_kit::Violations::new();
    let needs_note = matches!(
        attempted,
        Move::FindNotValid | Move::SendBack | Move::Reopen
    );
    if needs_note && patron_vocab::text::is_blank(&input.note) {
        v.add("note", format!("is required to {}", attempted.name()));
    }
    if attempted == Move::Resolve {
        if input.resolution.is_none() {
            v.add("resolution", "is required to resolve");
        }
        match &input.root_cause {
            Some(cause) if loaded.value.policy.root_causes.contains(cause) => {}
            Some(cause) => v.add(
                "resolution.root_cause",
                format!(
                    "{cause:?} is not one of the policy's root causes: {}",
                    loaded.value.policy.root_causes.join(", ")
                ),
            ),
            None => v.add(
                "resolution.root_cause",
                format!(
                    "is required: one of {}",
                    loaded.value.policy.root_causes.join(", ")
                ),
            ),
        }
        if let Some((_, currency)) = &input.loss
            && *currency != loaded.value.currency
        {
            v.add(
                "resolution.loss_amount.currency_code",
                format!("must be the policy's currency, {}", loaded.value.currency),
            );
        }
        let investigated = input.investigation.as_ref().or(row.investigation.as_ref());
        let cause = investigated
            .and_then(|i| i["cause"].as_str())
            .filter(|c| !patron_vocab::text::is_blank(c));
        if cause.is_none() {
            v.add(
                "investigation.cause",
                "is required to resolve: what caused the problem (调查)",
            );
        }
    }
    v.into_result()
}
