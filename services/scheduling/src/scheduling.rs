//! The scheduling use cases: snoozing and closing tasks, logging contacts,
//! the next good time to call, leaves and large projects; in its own
//! modules, gift and relationship expenses, priority notices, and service
//! plans with work-log reviews. Each change runs in one transaction that
//! locks what it changes.

pub mod gift_expenses;
pub mod priority_notices;
pub mod service_plans;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use patron_kit::auth::Caller;
use patron_kit::clock::SharedClock;
use patron_kit::directory::{self, CustomerFacts, Reach};
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, etag, resource_name};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::contact_window;
use crate::domain::leave::Leave;
use crate::domain::policy::Channel;
use crate::domain::projects::{ProjectState, Signing};
use crate::generation_job::{self, local_day};
use crate::policy_source::Policies;
use crate::profile::{Permission, Profile};
use crate::store::leaves::{self, LeaveRow};
use crate::store::projects::{self, ProjectRow};
use crate::store::tasks::{self, ContactLogRow, TaskRow};

/// What every use case shares.
#[derive(Clone)]
pub struct Scheduling {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub zone: Tz,
    pub policies: Policies,
    pub profile: Profile,
    /// Callers' units, kept for the kit's bound; the consumer forgets those
    /// its directory events change.
    pub reach: directory::ReachCache,
}

/// A contact to log, as checked on the wire.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub customer_id: Uuid,
    pub task_id: Option<Uuid>,
    pub channel: Channel,
    pub contact_time: Option<DateTime<Utc>>,
    pub summary: String,
}

/// When to reach a customer.
#[derive(Debug, Clone)]
pub struct NextTime {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub permission: Option<Permission>,
    pub sms_first: bool,
}

/// A project's fields as given.
#[derive(Debug, Clone)]
pub struct ProjectInput {
    pub customer_id: Uuid,
    pub title: String,
    pub amount_minor: i64,
    pub currency: String,
    pub signed: bool,
}

impl Scheduling {
    /// Today in the company's zone.
    pub fn today(&self) -> NaiveDate {
        local_day(self.clock.now(), self.zone)
    }

    /// The caller's reach, from the service's copy of the directory.
    pub async fn reach(&self, caller: &Caller) -> Result<Reach, ServiceError> {
        self.reach.reach_in(&self.pool, caller).await
    }

    /// A live customer the caller reaches, or NOT_FOUND.
    pub async fn reached_customer(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        id: Uuid,
    ) -> Result<CustomerFacts, ServiceError> {
        let name = resource_name::format("customers", id);
        let reach = self.reach.reach_of(&mut *conn, caller).await?;
        directory::store::known_customer(&mut *conn, id)
            .await?
            .filter(|f| !f.deleted && reach.covers(&f.org_unit_path, &f.account_manager))
            .ok_or_else(|| ServiceError::not_found(name))
    }

    /// A live customer the caller reaches, or one whose task `task` the
    /// caller reaches as theirs to do (a unit's holder of its role, the
    /// lead it was escalated to); else NOT_FOUND.
    async fn reached_for_contact(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        customer: Uuid,
        task: Option<Uuid>,
    ) -> Result<(), ServiceError> {
        let refused = match self.reached_customer(&mut *conn, caller, customer).await {
            Ok(_) => return Ok(()),
            Err(refused @ ServiceError::NotFound(_)) => refused,
            Err(other) => return Err(other),
        };
        let Some(task) = task else {
            return Err(refused);
        };
        let live = directory::store::known_customer(&mut *conn, customer)
            .await?
            .is_some_and(|f| !f.deleted);
        let theirs = match tasks::get(&mut *conn, task).await? {
            Some(row) if row.customer_id == customer => {
                self.reaches_task(&mut *conn, caller, &row).await?
            }
            _ => false,
        };
        if live && theirs { Ok(()) } else { Err(refused) }
    }

    /// Whether the caller reaches a task: its customer, or it is theirs.
    async fn reaches_task(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        task: &TaskRow,
    ) -> Result<bool, ServiceError> {
        // Their own, or escalated to them as the group lead.
        if task.assignee == caller.subject
            || task.escalated_to.as_deref() == Some(caller.subject.as_str())
        {
            return Ok(true);
        }
        let reach = self.reach.reach_of(&mut *conn, caller).await?;
        let facts = directory::store::customer(&mut *conn, task.customer_id).await?;
        Ok(reach.covers(&facts.org_unit_path, &facts.account_manager))
    }

    /// A task the caller reaches.
    pub async fn task(&self, caller: &Caller, id: Uuid) -> Result<TaskRow, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let name = resource_name::format("tasks", id);
        let task = tasks::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        if !self.reaches_task(&mut conn, caller, &task).await? {
            return Err(ServiceError::not_found(name));
        }
        Ok(task)
    }

    /// Moves an open task to a later day, with the reason.
    pub async fn snooze(
        &self,
        caller: &Caller,
        id: Uuid,
        due: NaiveDate,
        reason: &str,
        expected_version: Option<i64>,
    ) -> Result<TaskRow, ServiceError> {
        let name = resource_name::format("tasks", id);
        let today = self.today();
        let mut tx = self.pool.begin().await?;
        let customer = tasks::get(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?
            .customer_id;
        tasks::lock_planning(&mut tx, customer).await?;
        let task = tasks::lock(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        if !self.reaches_task(&mut tx, caller, &task).await? {
            return Err(ServiceError::not_found(name));
        }
        etag::check(expected_version, task.version, &name)?;
        if task.state != "open" {
            return Err(ServiceError::FailedPrecondition(format!(
                "{name} is {}; only an open task can be snoozed",
                task.state
            )));
        }
        if due < today {
            return Err(ServiceError::invalid(
                "due_date",
                format!("must not be before today ({today})"),
            ));
        }
        tasks::snooze(&mut tx, id, due, reason).await?;
        let task = tasks::get(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        tx.commit().await?;
        Ok(task)
    }

    /// Logs a contact; naming a task closes it. The customer is planned
    /// again at the next pass, since the cadence counts from the contact.
    pub async fn log_contact(
        &self,
        caller: &Caller,
        contact: NewContact,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let now = self.clock.now();
        let contact_time = contact.contact_time.unwrap_or(now);
        if contact_time > now {
            return Err(ServiceError::invalid(
                "contact_log.contact_time",
                "must not be in the future: log a contact once it happened",
            ));
        }
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "contact_logs", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        self.reached_for_contact(&mut tx, caller, contact.customer_id, contact.task_id)
            .await?;
        // The planning row first (the cadence counts from this contact), as
        // the generation job takes it before the customer's tasks.
        tasks::replan(&mut tx, contact.customer_id, self.today(), now).await?;
        if let Some(task_id) = contact.task_id {
            let name = resource_name::format("tasks", task_id);
            let task = tasks::lock(&mut tx, task_id)
                .await?
                .filter(|t| t.customer_id == contact.customer_id)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "contact_log.task",
                        format!("{name} is not a task of this customer"),
                    )
                })?;
            if task.state != "open" {
                return Err(ServiceError::FailedPrecondition(format!(
                    "{name} is {}; a contact closes only an open task",
                    task.state
                )));
            }
            tasks::close(&mut tx, task_id, id, local_day(contact_time, self.zone)).await?;
        }
        let log = ContactLogRow {
            id,
            customer_id: contact.customer_id,
            task_id: contact.task_id,
            channel: contact.channel.as_str().to_owned(),
            contact_time,
            summary: contact.summary,
            staff_member: caller.subject.clone(),
            created_at: now,
        };
        tasks::insert_log(&mut tx, &log).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The next good time to reach a customer by `channel`, and for a
    /// marketing contact whether it may be made at all.
    pub async fn next_contact_time(
        &self,
        caller: &Caller,
        customer: Uuid,
        channel: Channel,
        marketing: bool,
    ) -> Result<NextTime, ServiceError> {
        let customer_facts = {
            let mut conn = self.pool.acquire().await?;
            self.reached_customer(&mut conn, caller, customer).await?
        };
        let loaded = self.policies.current().await?;
        let section = &loaded.value.policy.contact_windows;
        let window_channel = match channel {
            Channel::Visit => contact_window::Channel::Visit,
            Channel::Phone => contact_window::Channel::Call,
            Channel::Sms => contact_window::Channel::Sms,
            Channel::Email => contact_window::Channel::Email,
            Channel::Letter => contact_window::Channel::Letter,
            Channel::Fax => contact_window::Channel::Fax,
        };
        // The customer's age and their own stated habit, from profile's
        // archive events (the kit's projection).
        let (facts, unread) = crate::care::contact_facts(&customer_facts);
        let now = self.clock.now();
        let at = contact_window::next_good_time(now, self.zone, window_channel, &facts, section);
        let whose = if facts.habit.is_some() {
            format!(
                "the customer's own stated time (\"{}\")",
                customer_facts.preferred_contact_time
            )
        } else {
            let today = local_day(now, self.zone);
            match contact_window::age_on(&facts, today) {
                Some(age) if contact_window::is_older(&facts, today, section) => {
                    format!("the policy's window for an older customer (aged {age})")
                }
                Some(age) => format!("the policy's window for a younger customer (aged {age})"),
                None => "the policy's window (age unknown: as a younger customer)".to_owned(),
            }
        };
        let mut reason = if matches!(channel, Channel::Email | Channel::Letter | Channel::Fax) {
            "it waits in an inbox: any time suits".to_owned()
        } else if at == now {
            format!("inside {whose} now")
        } else {
            format!(
                "{whose} opens at {}",
                at.with_timezone(&self.zone).format("%Y-%m-%d %H:%M")
            )
        };
        if let Some(why) = unread {
            reason.push_str(&format!(
                "; the customer's stated time (\"{}\") was not used: {why}",
                customer_facts.preferred_contact_time
            ));
        }
        let permission = if marketing {
            Some(self.profile.marketing_permission(customer, channel).await)
        } else {
            None
        };
        Ok(NextTime {
            at,
            reason,
            permission,
            sms_first: channel == Channel::Phone
                && facts.sms_first.unwrap_or(section.sms_before_long_call),
        })
    }

    /// Records a leave; if it has started, the manager's due tasks go to the
    /// stand-in at once.
    pub async fn create_leave(&self, caller: &Caller, leave: Leave) -> Result<Uuid, ServiceError> {
        let now = self.clock.now();
        let today = self.today();
        let mut tx = self.pool.begin().await?;
        leaves::lock_all(&mut tx).await?;
        let recorded: Vec<Leave> = leaves::not_over(&mut tx, leave.from)
            .await?
            .iter()
            .map(LeaveRow::leave)
            .collect();
        leave
            .check(&recorded)
            .map_err(|e| ServiceError::FailedPrecondition(e.to_string()))?;
        let row = LeaveRow {
            id: resource_name::new_id(),
            staff_member: leave.manager.clone(),
            stand_in: leave.lead.clone(),
            start_date: leave.from,
            end_date: leave.to,
            handed_over: false,
            returned: false,
            created_by: caller.subject.clone(),
            created_at: now,
        };
        leaves::insert(&mut tx, &row).await?;
        if row.start_date <= today {
            generation_job::leave_step(&mut tx, &row, today, now).await?;
        }
        tx.commit().await?;
        Ok(row.id)
    }

    /// Starts tracking a large project with its owner.
    pub async fn create_project(
        &self,
        caller: &Caller,
        input: ProjectInput,
    ) -> Result<Uuid, ServiceError> {
        let loaded = self.policies.current().await?;
        let large = loaded.value.policy.large_projects.as_ref().ok_or_else(|| {
            ServiceError::FailedPrecondition(
                "the policy in force tracks no large projects (no [scheduling.large_projects])"
                    .into(),
            )
        })?;
        check_currency(&input.currency, &loaded.value.currency)?;
        let state = ProjectState {
            amount_minor: input.amount_minor,
            signing: signing(input.signed),
        };
        let owner = large.owner(state).ok_or_else(|| {
            ServiceError::invalid(
                "project.amount",
                format!(
                    "is below the large-project threshold of {} (minor units)",
                    large.threshold_minor
                ),
            )
        })?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        self.reached_customer(&mut tx, caller, input.customer_id)
            .await?;
        let row = ProjectRow {
            id: resource_name::new_id(),
            customer_id: input.customer_id,
            title: input.title,
            amount_minor: input.amount_minor,
            currency: input.currency,
            signed: input.signed,
            owner_role: owner.to_owned(),
            owner_history: serde_json::json!([format!(
                "{}: none → {owner} (created by {})",
                now.to_rfc3339(),
                caller.subject
            )]),
            version: 1,
            updated_at: now,
        };
        projects::insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row.id)
    }

    /// Changes a project's amount or signing state; the owner is chosen
    /// again and a change recorded.
    pub async fn update_project(
        &self,
        caller: &Caller,
        id: Uuid,
        input: ProjectInput,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let loaded = self.policies.current().await?;
        let large = loaded.value.policy.large_projects.as_ref().ok_or_else(|| {
            ServiceError::FailedPrecondition(
                "the policy in force tracks no large projects (no [scheduling.large_projects])"
                    .into(),
            )
        })?;
        let name = resource_name::format("projects", id);
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut row = projects::lock(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        self.reached_customer(&mut tx, caller, row.customer_id)
            .await
            .map_err(|_| ServiceError::not_found(&name))?;
        etag::check(expected_version, row.version, &name)?;
        check_currency(&input.currency, &row.currency)?;
        let before = ProjectState {
            amount_minor: row.amount_minor,
            signing: signing(row.signed),
        };
        let after = ProjectState {
            amount_minor: input.amount_minor,
            signing: signing(input.signed),
        };
        if let Some(change) = large.rechoose(before, after) {
            let to = change.to.clone().unwrap_or_default();
            let line = format!(
                "{}: {} → {} ({}, {}; by {})",
                now.to_rfc3339(),
                change.from.as_deref().unwrap_or("none"),
                change.to.as_deref().unwrap_or("none (below the threshold)"),
                if input.signed { "signed" } else { "not signed" },
                input.amount_minor,
                caller.subject
            );
            if let Some(history) = row.owner_history.as_array_mut() {
                history.push(serde_json::Value::String(line));
            }
            row.owner_role = to;
        }
        if !input.title.is_empty() {
            row.title = input.title;
        }
        row.amount_minor = input.amount_minor;
        row.signed = input.signed;
        row.updated_at = now;
        projects::update(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn signing(signed: bool) -> Signing {
    if signed {
        Signing::Signed
    } else {
        Signing::Unsigned
    }
}

fn check_currency(given: &str, expected: &str) -> Result<(), ServiceError> {
    if given != expected {
        return Err(ServiceError::invalid(
            "project.amount.currency_code",
            format!("must be the policy's currency, {expected}"),
        ));
    }
    Ok(())
}
