//! Care's use cases: the dates profile's archive events carry, kept for
//! care; care tasks planned ahead of birthdays, anniversaries, family
//! members' birthdays and the lunar festivals by the generation job (once
//! per customer, occasion and day, for the customer's manager, with the gift
//! the policy suggests for their tier); a family event recorded, with its
//! care task at once; and what the contact window knows of a customer.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::auth::Caller;
use patron_kit::directory::{CustomerFacts, announced};
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, events, resource_name};
use patron_proto::common::v1::{Date, EventEnvelope};
use patron_proto::profile::v1::{CustomerCreated, CustomerUpdated, FamilyDate as WireFamilyDate};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::care::{
    self, CareFacts, CareTask, FamilyDate, FamilyEvent, Occasion, Whom, YearlyDate,
};
use crate::domain::contact_window::{ContactFacts, Habit, HabitError};
use crate::domain::leave;
use crate::domain::policy::SchedulingPolicy;
use crate::generation_job::{ActiveLeaves, record_new_handover};
use crate::scheduling::Scheduling;
use crate::store::care::{self as store, DatesRow, FamilyDateRow, FamilyEventRow, NewCareTask};
use crate::store::tasks;

/// Care looks this far ahead at most, whatever the planning horizon: a care
/// task is a reminder, not next year's plan.
pub const MAX_CARE_DAYS: i64 = 366;

/// How far from today a family event may be recorded for.
pub const FAMILY_EVENT_WITHIN_DAYS: i64 = 366;

/// The rule key of a care task: `care:` and the occasion's key.
fn rule_key(key: &str) -> String {
    format!("care:{key}")
}

/// A month and day from the wire, when it is one of the year (29 February
/// included).
fn month_day(date: Option<Date>) -> Option<(u32, u32)> {
    let d = date?;
    let (month, day) = (u32::try_from(d.month).ok()?, u32::try_from(d.day).ok()?);
    YearlyDate::gregorian(month, day).ok()?;
    Some((month, day))
}

/// Keeps the dates a CustomerCreated or CustomerUpdated carries for care;
/// the customer whose they are and whether they were newer than those kept
/// (the caller then plans the customer again).
pub async fn apply_archive_event(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    at: DateTime<Utc>,
) -> anyhow::Result<Option<(Uuid, bool)>> {
    let (customer, wedding, family, version) =
        if let Some(c) = events::payload::<CustomerCreated>(event) {
            (c.customer, c.wedding_anniversary, c.family_dates, c.version)
        } else if let Some(u) = events::payload::<CustomerUpdated>(event) {
            (u.customer, u.wedding_anniversary, u.family_dates, u.version)
        } else {
            return Ok(None);
        };
    let customer = resource_name::parse("customer", "customers", &customer)
        .map_err(|e| anyhow::anyhow!("{} names no customer: {e}", event.event_type))?;
    let family: Vec<FamilyDateRow> = family.iter().filter_map(family_row).collect();
    let applied = store::put_facts(tx, customer, month_day(wedding), &family, version, at).await?;
    Ok(Some((customer, applied)))
}

/// A family member's birthday as care keeps it. The name and relation go
/// into the task's rule key, which an index holds: they are cut to a length
/// no real name needs, so a runaway archive entry cannot stop planning.
fn family_row(member: &WireFamilyDate) -> Option<FamilyDateRow> {
    let (month, day) = month_day(member.birthday)?;
    let cut = |text: &str, chars: usize| text.trim().chars().take(chars).collect::<String>();
    Some(FamilyDateRow {
        name: cut(&member.name, 100),
        relation: cut(&member.relation, 50),
        month,
        day,
    })
}

/// What care knows of a customer of `tier` from the stored dates.
fn care_facts(row: &DatesRow, tier: &str) -> CareFacts {
    let yearly = |m: Option<i16>, d: Option<i16>| {
        YearlyDate::gregorian(u32::try_from(m?).ok()?, u32::try_from(d?).ok()?).ok()
    };
    CareFacts {
        tier: (!tier.is_empty()).then(|| tier.to_owned()),
        birthday: yearly(row.birthday_month, row.birthday_day),
        wedding_anniversary: yearly(row.wedding_month, row.wedding_day),
        family: row
            .family_dates
            .as_ref()
            .map(|dates| {
                dates
                    .iter()
                    .filter_map(|f| {
                        Some(FamilyDate {
                            name: f.name.clone(),
                            relation: f.relation.clone(),
                            date: YearlyDate::gregorian(f.month, f.day).ok()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The stored names of an occasion's family member.
fn whose(whom: &Whom) -> (String, String) {
    match whom {
        Whom::Customer => (String::new(), String::new()),
        Whom::Family { name, relation } => (name.clone(), relation.clone()),
    }
}

/// The last day a care task is on time: the occasion's day (a greeting
/// after the birthday is late), or its due day when that is later.
fn latest(task: &CareTask) -> NaiveDate {
    task.date.max(task.due)
}

/// Plans a claimed customer's care up to `until` (at most
/// [`MAX_CARE_DAYS`] ahead): adds to `batch` the care tasks the plan has and
/// the store lacks (the batch's are written together, [`CareBatch::write`]),
/// gives open ones the customer's tier and gift now, withdraws those the
/// archive no longer backs and opens withdrawn ones it backs again. `dates`
/// are the customer's dates and `existing` their care tasks planned from
/// today on, read for the whole batch (`store::care`).
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    tx: &mut PgConnection,
    policy: &SchedulingPolicy,
    customer: &tasks::Claimed,
    tier: &str,
    dates: &store::DatesRow,
    existing: &[store::PlannedCare],
    active: &ActiveLeaves,
    today: NaiveDate,
    until: NaiveDate,
    now: DateTime<Utc>,
    batch: &mut CareBatch,
) -> Result<(), ServiceError> {
    let id = customer.customer_id;
    let section = &policy.care;
    let facts = care_facts(dates, tier);
    let days = (until - today).num_days().clamp(0, MAX_CARE_DAYS) as u32;
    let planned = care::care_tasks(&facts, today, days, section);

    let stale: Vec<Uuid> = existing
        .iter()
        .filter(|e| e.state == "open" && !e.withdrawn)
        .filter(|e| {
            let key = e.rule_key.strip_prefix("care:").unwrap_or_default();
            let personal = Occasion::parse(key.split(':').next().unwrap_or_default())
                .is_some_and(Occasion::is_personal_date);
            personal && !facts.backs(key, e.occasion_date)
        })
        .map(|e| e.task_id)
        .collect();
    store::withdraw(&mut *tx, &stale).await?;

    for task in &planned {
        let key = rule_key(&task.key());
        let gift = task.gift.clone().unwrap_or_default();
        if let Some(found) = existing
            .iter()
            .find(|e| e.rule_key == key && e.occasion_date == task.date)
        {
            match found.state.as_str() {
                "open" if found.tier != tier || found.gift != gift => {
                    store::regift(&mut *tx, found.task_id, tier, &gift, &task.words()).await?;
                }
                "cancelled" if found.withdrawn => {
                    let rule = task.words();
                    store::reopen(
                        &mut *tx,
                        found.task_id,
                        task.due,
                        latest(task),
                        tier,
                        &gift,
                        &rule,
                    )
                    .await?;
                }
                _ => {}
            }
            continue;
        }
        let task_id = resource_name::new_id();
        let (assignee, handover) = leave::assign_new_task(
            &task_id.to_string(),
            &customer.account_manager,
            today,
            &active.leaves,
            now,
        );
        let (person_name, relation) = whose(&task.whom);
        let new = NewCareTask {
            id: task_id,
            customer_id: id,
            rule_key: key,
            rule: task.words(),
            channel: section.channel(task.occasion).as_str().to_owned(),
            tier: tier.to_owned(),
            assignee,
            handed_over_from: handover.as_ref().map(|h| h.from.clone()),
            occasion: task.occasion.key().to_owned(),
            person_name,
            relation,
            occasion_date: task.date,
            due_date: task.due,
            latest_date: latest(task),
            gift,
            family_event_id: None,
        };
        batch.tasks.push(new);
        if let Some(handover) = handover {
            batch.handovers.insert(task_id, handover);
        }
    }
    Ok(())
}

/// The new care tasks of a planned batch of customers, written together.
#[derive(Default)]
pub struct CareBatch {
    tasks: Vec<NewCareTask>,
    /// Tasks that went to a stand-in (their manager is on leave).
    handovers: HashMap<Uuid, leave::Handover>,
}

impl CareBatch {
    /// Creates the tasks the store lacks and records their handovers; how
    /// many it created.
    pub async fn write(
        mut self,
        tx: &mut PgConnection,
        active: &ActiveLeaves,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<u64, ServiceError> {
        let created = store::insert_tasks(&mut *tx, &self.tasks, now).await?;
        for task_id in &created {
            if let Some(handover) = self.handovers.remove(task_id) {
                record_new_handover(&mut *tx, handover, *task_id, &active.rows, today, now).await?;
            }
        }
        Ok(created.len() as u64)
    }
}

/// A family event as checked on the wire.
#[derive(Debug, Clone)]
pub struct NewFamilyEvent {
    pub customer_id: Uuid,
    pub event: FamilyEvent,
    pub person_name: String,
    pub relation: String,
    /// `None`: today.
    pub date: Option<NaiveDate>,
    pub note: String,
}

impl Scheduling {
    /// Records a family event of a customer the caller reaches and creates
    /// its care task at once, for the customer's manager (their stand-in
    /// while they are on leave). A retry with the same request id answers
    /// the first event.
    pub async fn record_family_event(
        &self,
        caller: &Caller,
        input: NewFamilyEvent,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let now = self.clock.now();
        let today = self.today();
        let date = input.date.unwrap_or(today);
        if (date - today).num_days().abs() > FAMILY_EVENT_WITHIN_DAYS {
            return Err(ServiceError::invalid(
                "family_event.event_date",
                format!("must be within {FAMILY_EVENT_WITHIN_DAYS} days of today ({today})"),
            ));
        }
        let loaded = self.policies.current().await?;
        let section = &loaded.value.policy.care;
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "family_events", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        let facts: CustomerFacts = self
            .reached_customer(&mut tx, caller, input.customer_id)
            .await?;
        if facts.exited {
            return Err(ServiceError::FailedPrecondition(format!(
                "{} has left; care is no longer planned for them",
                resource_name::format("customers", input.customer_id)
            )));
        }
        // The planning row first, as every change to a customer's tasks.
        tasks::lock_planning(&mut tx, input.customer_id).await?;
        let tier = announced::tier_of(&mut tx, input.customer_id).await?;
        let whom = if input.relation.is_empty() {
            Whom::Customer
        } else {
            Whom::Family {
                name: input.person_name.clone(),
                relation: input.relation.clone(),
            }
        };
        let task = care::family_event_task(
            input.event,
            whom,
            date,
            today,
            (!tier.is_empty()).then_some(tier.as_str()),
            section,
        );
        let active = ActiveLeaves::on(&mut tx, today).await?;
        let task_id = resource_name::new_id();
        let (assignee, handover) = leave::assign_new_task(
            &task_id.to_string(),
            &facts.account_manager,
            today,
            &active.leaves,
            now,
        );
        let occasion = input.event.occasion();
        let new = NewCareTask {
            id: task_id,
            customer_id: input.customer_id,
            rule_key: rule_key(&format!("{}:{id}", occasion.key())),
            rule: task.words(),
            channel: section.channel(occasion).as_str().to_owned(),
            tier: tier.clone(),
            assignee,
            handed_over_from: handover.as_ref().map(|h| h.from.clone()),
            occasion: occasion.key().to_owned(),
            person_name: input.person_name.clone(),
            relation: input.relation.clone(),
            occasion_date: date,
            due_date: task.due,
            latest_date: task.due,
            gift: task.gift.clone().unwrap_or_default(),
            family_event_id: Some(id),
        };
        store::insert_task(&mut tx, &new, now).await?;
        store::insert_family_event(
            &mut tx,
            &FamilyEventRow {
                id,
                customer_id: input.customer_id,
                kind: occasion.key().to_owned(),
                person_name: input.person_name,
                relation: input.relation,
                event_date: date,
                note: input.note,
                task_id,
                recorded_by: caller.subject.clone(),
                created_at: now,
            },
        )
        .await?;
        if let Some(handover) = handover {
            record_new_handover(&mut tx, handover, task_id, &active.rows, today, now).await?;
        }
        tx.commit().await?;
        Ok(id)
    }
}

/// What the contact window knows of a customer from the kit's projection,
/// and why their stated habit was not used when they gave one that could not
/// be read.
pub fn contact_facts(facts: &CustomerFacts) -> (ContactFacts, Option<HabitError>) {
    let stated = facts.preferred_contact_time.trim();
    let (habit, unread) = if stated.is_empty() {
        (None, None)
    } else {
        match Habit::parse(stated) {
            Ok(habit) => (Some(habit), None),
            Err(e) => (None, Some(e)),
        }
    };
    (
        ContactFacts {
            birth_year: facts.birth_year,
            birthday: facts.birthday(),
            habit,
            sms_first: None,
        },
        unread,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: i32, day: i32) -> Option<Date> {
        Some(Date { year, month, day })
    }

    #[test]
    fn only_real_days_of_the_year_are_kept() {
        assert_eq!(month_day(date(1968, 2, 29)), Some((2, 29)));
        assert_eq!(month_day(date(0, 2, 29)), Some((2, 29)), "year unknown");
        assert_eq!(month_day(date(1968, 2, 30)), None);
        assert_eq!(month_day(date(1968, 13, 1)), None);
        assert_eq!(month_day(date(1968, -1, 1)), None);
        assert_eq!(month_day(None), None);
    }

    #[test]
    fn a_family_members_names_are_cut_to_a_sane_length() {
        let row = family_row(&WireFamilyDate {
            name: format!(" {} ", "王".repeat(500)),
            relation: "spouse".repeat(20),
            birthday: date(1964, 9, 20),
        })
        .unwrap();
        assert_eq!(row.name.chars().count(), 100);
        assert_eq!(row.relation.chars().count(), 50);
        assert_eq!((row.month, row.day), (9, 20));
        assert!(
            family_row(&WireFamilyDate {
                name: "张伟".into(),
                relation: "spouse".into(),
                birthday: date(1964, 2, 30),
            })
            .is_none()
        );
    }

    #[test]
    fn the_window_reads_the_stated_habit_or_says_why_not() {
        let facts = CustomerFacts {
            birth_year: Some(1950),
            birthday_month: Some(3),
            birthday_day: Some(8),
            preferred_contact_time: "weekday evenings".into(),
            ..CustomerFacts::default()
        };
        let (window, unread) = contact_facts(&facts);
        assert_eq!(window.birth_year, Some(1950));
        assert_eq!(window.birthday, Some((3, 8)));
        assert!(window.habit.is_some());
        assert_eq!(unread, None);
        let (window, unread) = contact_facts(&CustomerFacts {
            preferred_contact_time: "after dinner".into(),
            ..CustomerFacts::default()
        });
        assert!(window.habit.is_none());
        assert!(unread.is_some());
        let (window, unread) = contact_facts(&CustomerFacts::default());
        assert_eq!((window, unread), (ContactFacts::default(), None));
    }
}
