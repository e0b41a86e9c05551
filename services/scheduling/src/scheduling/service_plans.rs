//! Service plans and work logs (002 §1): a manager writes their plan for a
//! year, month or week and submits it; a supervisor whose unit subtree holds
//! the manager signs it off or returns it with a note; a period's contact
//! log (the work log) is reviewed the same way. Nobody reviews their own.
//! Every step is a history row and an event, in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Days, Utc};
use patron_kit::auth::Caller;
use patron_kit::directory;
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, etag, events, resource_name};
use patron_proto::scheduling::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Scheduling;
use crate::domain::service_plans::{
    self as rules, Decision, LogReviewRefused, Period, PeriodKind, PlanMove, PlanState,
    ReviewRefused,
};
use crate::generation_job::{staff_name, wire_date};
use crate::store::service_plans::{self as store, LogReviewRow, PlanRow, PlanStepRow};

/// A plan as checked on the wire.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub period: Period,
    pub text: String,
    pub items: Vec<String>,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PlanChange {
    pub text: Option<String>,
    pub items: Option<Vec<String>>,
}

/// A plan with its history.
#[derive(Debug, Clone)]
pub struct PlanView {
    pub row: PlanRow,
    pub steps: Vec<PlanStepRow>,
}

/// A work-log review as asked for.
#[derive(Debug, Clone)]
pub struct NewLogReview {
    pub staff_member: String,
    pub period: Period,
    pub decision: Decision,
    pub note: String,
}

pub fn period_to_wire(stored: &str) -> pb::PlanPeriod {
    match PeriodKind::parse(stored) {
        Some(PeriodKind::Year) => pb::PlanPeriod::Year,
        Some(PeriodKind::Month) => pb::PlanPeriod::Month,
        Some(PeriodKind::Week) => pb::PlanPeriod::Week,
        None => pb::PlanPeriod::Unspecified,
    }
}

pub fn plan_state_to_wire(stored: &str) -> pb::ServicePlanState {
    match PlanState::parse(stored) {
        Some(PlanState::Draft) => pb::ServicePlanState::Draft,
        Some(PlanState::Submitted) => pb::ServicePlanState::Submitted,
        Some(PlanState::SignedOff) => pb::ServicePlanState::SignedOff,
        Some(PlanState::Returned) => pb::ServicePlanState::Returned,
        None => pb::ServicePlanState::Unspecified,
    }
}

pub fn decision_to_wire(stored: &str) -> pb::ReviewDecision {
    match Decision::parse(stored) {
        Some(Decision::SignOff) => pb::ReviewDecision::SignOff,
        Some(Decision::Return) => pb::ReviewDecision::Return,
        None => pb::ReviewDecision::Unspecified,
    }
}

pub fn plan_step_to_wire(step: &PlanStepRow) -> pb::Step {
    pb::Step {
        action: step.action.clone(),
        actor: staff_name(&step.actor),
        time: Some(patron_kit::timestamp::to_proto(step.at)),
        note: step.note.clone(),
        amount: None,
    }
}

fn plan_state(row: &PlanRow) -> Result<PlanState, ServiceError> {
    PlanState::parse(&row.state).ok_or_else(|| {
        ServiceError::internal(anyhow::anyhow!(
            "service plan {} has an unknown state {:?}",
            row.id,
            row.state
        ))
    })
}

impl Scheduling {
    /// Whether the caller reaches a staff member: themselves, or someone
    /// placed in their unit subtree (anyone, for the company's reach).
    pub async fn reaches_staff(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        staff: &str,
    ) -> Result<bool, ServiceError> {
        if staff == caller.subject {
            return Ok(true);
        }
        let reach = self.reach.reach_of(&mut *conn, caller).await?;
        if matches!(reach, directory::Reach::Company) {
            return Ok(true);
        }
        Ok(directory::store::staff_placement(&mut *conn, staff)
            .await?
            .is_some_and(|p| reach.covers_unit(&p.unit_path)))
    }

    /// A plan the caller reaches, locked when `for_update`.
    async fn reached_plan(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        id: Uuid,
        for_update: bool,
    ) -> Result<PlanRow, ServiceError> {
        let name = resource_name::format("servicePlans", id);
        let row = if for_update {
            store::lock(&mut *conn, id).await?
        } else {
            store::get(&mut *conn, id).await?
        }
        .ok_or_else(|| ServiceError::not_found(&name))?;
        if !self
            .reaches_staff(&mut *conn, caller, &row.staff_member)
            .await?
        {
            return Err(ServiceError::not_found(name));
        }
        Ok(row)
    }

    /// A plan the caller reaches, with its history.
    pub async fn service_plan(&self, caller: &Caller, id: Uuid) -> Result<PlanView, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let row = self.reached_plan(&mut conn, caller, id, false).await?;
        let steps = store::steps(&mut conn, &[id]).await?;
        Ok(PlanView { row, steps })
    }

    /// The histories of `rows`, each with its own.
    pub async fn plans_with_steps(
        &self,
        rows: Vec<PlanRow>,
    ) -> Result<Vec<PlanView>, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut by_plan: HashMap<Uuid, Vec<PlanStepRow>> = HashMap::new();
        for step in store::steps(&mut conn, &ids).await? {
            by_plan.entry(step.service_plan_id).or_default().push(step);
        }
        Ok(rows
            .into_iter()
            .map(|row| PlanView {
                steps: by_plan.remove(&row.id).unwrap_or_default(),
                row,
            })
            .collect())
    }

    /// Writes the caller's plan for a period, as a draft.
    pub async fn create_service_plan(
        &self,
        caller: &Caller,
        new: NewPlan,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let now = self.clock.now();
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "service_plans", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        let row = PlanRow {
            id,
            staff_member: caller.subject.clone(),
            period: new.period.kind.as_str().to_owned(),
            period_start: new.period.start,
            period_end: new.period.end(),
            body: new.text,
            items: new.items,
            state: PlanState::Draft.as_str().to_owned(),
            created_at: now,
            version: 1,
        };
        if !store::insert(&mut tx, &row).await? {
            return Err(ServiceError::AlreadyExists(format!(
                "{} already has a plan for the {} from {}: change that one",
                staff_name(&caller.subject),
                row.period,
                row.period_start
            )));
        }
        self.plan_step(&mut tx, &row, "created", &caller.subject, "", now)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Changes a draft or returned plan's text or items; its author only.
    pub async fn update_service_plan(
        &self,
        caller: &Caller,
        id: Uuid,
        change: PlanChange,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self.reached_plan(&mut tx, caller, id, true).await?;
        let name = resource_name::format("servicePlans", id);
        etag::check(expected_version, row.version, &name)?;
        self.author_only(caller, &row, &name, "change")?;
        rules::next(plan_state(&row)?, PlanMove::Edit)
            .map_err(|e| ServiceError::FailedPrecondition(format!("{name}: {e}")))?;
        if let Some(text) = change.text {
            row.body = text;
        }
        if let Some(items) = change.items {
            row.items = items;
        }
        store::update(&mut tx, &row).await?;
        self.plan_step(
            &mut tx,
            &row,
            PlanMove::Edit.action(),
            &caller.subject,
            "",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hands a draft or returned plan in for review; its author only.
    pub async fn submit_service_plan(
        &self,
        caller: &Caller,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self.reached_plan(&mut tx, caller, id, true).await?;
        let name = resource_name::format("servicePlans", id);
        etag::check(expected_version, row.version, &name)?;
        self.author_only(caller, &row, &name, "submit")?;
        let to = rules::next(plan_state(&row)?, PlanMove::Submit)
            .map_err(|e| ServiceError::FailedPrecondition(format!("{name}: {e}")))?;
        row.state = to.as_str().to_owned();
        store::update(&mut tx, &row).await?;
        self.plan_step(
            &mut tx,
            &row,
            PlanMove::Submit.action(),
            &caller.subject,
            "",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs a submitted plan off or returns it with a note: a supervisor
    /// whose subtree holds its author, never the author.
    pub async fn review_service_plan(
        &self,
        caller: &Caller,
        id: Uuid,
        decision: Decision,
        note: &str,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = self.reached_plan(&mut tx, caller, id, true).await?;
        let name = resource_name::format("servicePlans", id);
        etag::check(expected_version, row.version, &name)?;
        review_allowed(caller, &row.staff_member, decision, (note, "note"), &name)?;
        let to = rules::next(plan_state(&row)?, decision.plan_move())
            .map_err(|e| ServiceError::FailedPrecondition(format!("{name}: {e}")))?;
        row.state = to.as_str().to_owned();
        store::update(&mut tx, &row).await?;
        self.plan_step(
            &mut tx,
            &row,
            decision.plan_move().action(),
            &caller.subject,
            note,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    fn author_only(
        &self,
        caller: &Caller,
        row: &PlanRow,
        name: &str,
        what: &str,
    ) -> Result<(), ServiceError> {
        if row.staff_member == caller.subject {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(format!(
                "only its author {} may {what} {name}",
                staff_name(&row.staff_member)
            )))
        }
    }

    /// Records a step of a plan (the row as it is after the step) and its
    /// event.
    async fn plan_step(
        &self,
        tx: &mut PgConnection,
        row: &PlanRow,
        action: &str,
        actor: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let step = PlanStepRow {
            service_plan_id: row.id,
            action: action.to_owned(),
            actor: actor.to_owned(),
            at,
            note: note.to_owned(),
        };
        store::insert_step(&mut *tx, &step).await?;
        let event = pb::ServicePlanChanged {
            service_plan: resource_name::format("servicePlans", row.id),
            staff_member: staff_name(&row.staff_member),
            period: period_to_wire(&row.period) as i32,
            period_start: Some(wire_date(row.period_start)),
            state: plan_state_to_wire(&row.state) as i32,
            step: Some(plan_step_to_wire(&step)),
        };
        events::enqueue(&mut *tx, "", &event, at).await?;
        Ok(())
    }

    /// Reviews a manager's work log (their contact log) for a period: a
    /// supervisor whose subtree holds them, never they themselves; once
    /// signed off, a period's log is closed.
    pub async fn review_work_log(
        &self,
        caller: &Caller,
        review: NewLogReview,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let staff = staff_name(&review.staff_member);
        review_allowed(
            caller,
            &review.staff_member,
            review.decision,
            (&review.note, "work_log_review.note"),
            &staff,
        )?;
        let period = review.period;
        let next_day = period.end().checked_add_days(Days::new(1));
        let bound = |day| patron_vocab::calendar::start_of_day(day, &self.zone);
        let (Some(since), Some(until)) = (bound(period.start), next_day.and_then(bound)) else {
            return Err(ServiceError::invalid(
                "work_log_review.period_start",
                "is out of range",
            ));
        };
        let now = self.clock.now();
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "work_log_reviews", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        if !self
            .reaches_staff(&mut tx, caller, &review.staff_member)
            .await?
        {
            return Err(ServiceError::not_found(staff));
        }
        let kind = period.kind.as_str();
        store::lock_log_period(&mut tx, &review.staff_member, kind, period.start).await?;
        let signed =
            store::log_signed_off(&mut tx, &review.staff_member, kind, period.start).await?;
        rules::check_log_review(period, self.today(), signed).map_err(|e| match e {
            LogReviewRefused::NotBegun { .. } | LogReviewRefused::AlreadySignedOff { .. } => {
                ServiceError::FailedPrecondition(format!("{staff}: {e}"))
            }
        })?;
        let contact_count =
            store::contacts_logged(&mut tx, &review.staff_member, since, until).await?;
        let row = LogReviewRow {
            id,
            staff_member: review.staff_member,
            period: kind.to_owned(),
            period_start: period.start,
            period_end: period.end(),
            decision: review.decision.as_str().to_owned(),
            note: review.note,
            reviewer: caller.subject.clone(),
            reviewed_at: now,
            contact_count,
        };
        store::insert_review(&mut tx, &row).await?;
        let event = pb::WorkLogReviewed {
            work_log_review: resource_name::format("workLogReviews", id),
            staff_member: staff,
            period: period_to_wire(kind) as i32,
            period_start: Some(wire_date(period.start)),
            decision: decision_to_wire(&row.decision) as i32,
            step: Some(pb::Step {
                action: row.decision.clone(),
                actor: staff_name(&row.reviewer),
                time: Some(patron_kit::timestamp::to_proto(now)),
                note: row.note.clone(),
                amount: None,
            }),
        };
        events::enqueue(&mut tx, "", &event, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A review as stored.
    pub async fn work_log_review(&self, id: Uuid) -> Result<LogReviewRow, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        store::get_review(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource_name::format("workLogReviews", id)))
    }
}

/// Whether the caller may decide on `author`'s plan or log.
fn review_allowed(
    caller: &Caller,
    author: &str,
    decision: Decision,
    (note, note_field): (&str, &str),
    name: &str,
) -> Result<(), ServiceError> {
    rules::check_review(
        &caller.subject,
        author,
        decision,
        !patron_vocab::text::is_blank(note),
    )
    .map_err(|e| match e {
        ReviewRefused::OwnWork => {
            ServiceError::PermissionDenied(format!("{}: {e} ({name})", caller.subject))
        }
        ReviewRefused::NoteNeeded => ServiceError::invalid(note_field, e.to_string()),
    })
}
