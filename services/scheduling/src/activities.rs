//! The activity use cases (000 3.9, 002 §3): planning a unit's symposium or
//! reward activity, inviting customers, recording who came, and the year's
//! coverage and participation per unit. Each change commits with its event
//! (ActivityPlanned, CustomerInvited, AttendanceRecorded) in the outbox.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use patron_kit::auth::Caller;
use patron_kit::directory;
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, Violations, etag, events, resource_name, timestamp};
use patron_proto::scheduling::v1 as pb;
use uuid::Uuid;

use crate::domain::activities::{
    self, ActivityKind, ActivitySection, InvitationState, UnitCounts, UnitFigures,
};
use crate::generation_job::staff_name;
use crate::scheduling::Scheduling;
use crate::store::activities::{self as store, ActivityRow, InvitationRow};
use crate::store::leads::{self, GroupLeadRow};

/// An activity as checked on the wire.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub title: String,
    pub kind: ActivityKind,
    /// A unit id.
    pub org_unit: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub location: String,
    pub description: String,
}

/// The company's root unit, there from the start.
const COMPANY_UNIT: &str = "company";

/// The first instant of `year` and of the next, in the company's zone.
pub fn year_bounds(year: i32, zone: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = |y: i32| {
        zone.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    Some((start(year)?, start(year.checked_add(1)?)?))
}

pub fn kind_to_wire(stored: &str) -> pb::ActivityKind {
    match ActivityKind::parse(stored) {
        Some(ActivityKind::Symposium) => pb::ActivityKind::Symposium,
        Some(ActivityKind::Reward) => pb::ActivityKind::Reward,
        None => pb::ActivityKind::Unspecified,
    }
}

pub fn state_to_wire(stored: &str) -> pb::InvitationState {
    match InvitationState::parse(stored) {
        Some(InvitationState::Invited) => pb::InvitationState::Invited,
        Some(InvitationState::Attended) => pb::InvitationState::Attended,
        Some(InvitationState::Absent) => pb::InvitationState::Absent,
        None => pb::InvitationState::Unspecified,
    }
}

/// `activities/{activity}/invitations/{customer}`.
pub fn invitation_name(activity: Uuid, customer: Uuid) -> String {
    format!("activities/{activity}/invitations/{customer}")
}

/// The activity and customer ids of an invitation's name.
pub fn parse_invitation_name(field: &str, name: &str) -> Result<(Uuid, Uuid), ServiceError> {
    let bad = || {
        ServiceError::invalid(
            field,
            "must be of the form activities/{activity}/invitations/{customer id}",
        )
    };
    let rest = name.strip_prefix("activities/").ok_or_else(bad)?;
    let (activity, customer) = rest.split_once("/invitations/").ok_or_else(bad)?;
    Ok((
        activity.parse().map_err(|_| bad())?,
        customer.parse().map_err(|_| bad())?,
    ))
}

impl Scheduling {
    /// Plans an activity of a unit the caller reaches; its id.
    pub async fn create_activity(
        &self,
        caller: &Caller,
        activity: NewActivity,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let now = self.clock.now();
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "activities", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        let path = if activity.org_unit == COMPANY_UNIT {
            Some(vec![COMPANY_UNIT.to_owned()])
        } else {
            store::unit_path(&mut tx, &activity.org_unit).await?
        };
        let path = path.ok_or_else(|| {
            ServiceError::invalid(
                "activity.org_unit",
                "names no unit that staff or customers are placed in",
            )
        })?;
        let reach = self.reach.reach_of(&mut tx, caller).await?;
        if !reach.covers_unit(&path) {
            return Err(ServiceError::PermissionDenied(format!(
                "orgUnits/{} is outside your unit's subtree",
                activity.org_unit
            )));
        }
        let row = ActivityRow {
            id,
            title: activity.title,
            kind: activity.kind.as_str().to_owned(),
            org_unit: activity.org_unit,
            org_unit_path: path,
            starts_at: activity.starts_at,
            ends_at: activity.ends_at,
            location: activity.location,
            description: activity.description,
            created_by: caller.subject.clone(),
            created_at: now,
            version: 1,
            invited: 0,
            attended: 0,
        };
        store::insert(&mut tx, &row).await?;
        let name = resource_name::format("activities", id);
        let event = pb::ActivityPlanned {
            activity: name.clone(),
            kind: kind_to_wire(&row.kind) as i32,
            org_unit: format!("orgUnits/{}", row.org_unit),
            start_time: Some(timestamp::to_proto(row.starts_at)),
            title: row.title.clone(),
        };
        events::enqueue(&mut tx, &name, &event, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One activity.
    pub async fn activity(&self, id: Uuid) -> Result<ActivityRow, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        store::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource_name::format("activities", id)))
    }

    /// Invites `customers` (each live and within the caller's reach, else
    /// refused naming `customers[i]`); their invitations in the order
    /// asked, and how many were new.
    pub async fn invite(
        &self,
        caller: &Caller,
        activity_id: Uuid,
        customers: &[Uuid],
    ) -> Result<(Vec<InvitationRow>, u64), ServiceError> {
        let now = self.clock.now();
        let name = resource_name::format("activities", activity_id);
        let mut tx = self.pool.begin().await?;
        store::get(&mut tx, activity_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        let reach = self.reach.reach_of(&mut tx, caller).await?;
        let mut v = Violations::new();
        for (i, customer) in customers.iter().enumerate() {
            let reached = directory::store::known_customer(&mut tx, *customer)
                .await?
                .is_some_and(|f| {
                    !f.deleted && !f.exited && reach.covers(&f.org_unit_path, &f.account_manager)
                });
            if !reached {
                v.add(
                    format!("customers[{i}]"),
                    "is not a live customer within your reach",
                );
            }
        }
        v.into_result()?;
        let mut new = 0;
        for customer in customers {
            if store::invite(&mut tx, activity_id, *customer, &caller.subject, now).await? {
                new += 1;
                let customer_name = resource_name::format("customers", *customer);
                let event = pb::CustomerInvited {
                    activity: name.clone(),
                    customer: customer_name.clone(),
                    invited_by: staff_name(&caller.subject),
                };
                events::enqueue(&mut tx, &customer_name, &event, now).await?;
            }
        }
        let rows = store::invitations_of(&mut tx, activity_id, customers).await?;
        tx.commit().await?;
        let ordered = customers
            .iter()
            .filter_map(|c| rows.iter().find(|r| r.customer_id == *c).cloned())
            .collect();
        Ok((ordered, new))
    }

    /// Records whether an invited customer came, once the activity began.
    pub async fn record_attendance(
        &self,
        caller: &Caller,
        activity_id: Uuid,
        customer_id: Uuid,
        state: InvitationState,
        expected_version: Option<i64>,
    ) -> Result<InvitationRow, ServiceError> {
        let now = self.clock.now();
        let name = invitation_name(activity_id, customer_id);
        let mut tx = self.pool.begin().await?;
        let activity = store::get(&mut tx, activity_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        let invitation = store::lock_invitation(&mut tx, activity_id, customer_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        let reach = self.reach.reach_of(&mut tx, caller).await?;
        let facts = directory::store::customer(&mut tx, customer_id).await?;
        if invitation.invited_by != caller.subject
            && !reach.covers(&facts.org_unit_path, &facts.account_manager)
        {
            return Err(ServiceError::not_found(name));
        }
        etag::check(expected_version, invitation.version, &name)?;
        if activity.starts_at > now {
            return Err(ServiceError::FailedPrecondition(format!(
                "activities/{activity_id} begins at {}; record attendance once it has begun",
                activity
                    .starts_at
                    .with_timezone(&self.zone)
                    .format("%Y-%m-%d %H:%M")
            )));
        }
        if invitation.state == state.as_str() {
            tx.commit().await?;
            return Ok(invitation);
        }
        let row = store::record_attendance(
            &mut tx,
            activity_id,
            customer_id,
            state.as_str(),
            &caller.subject,
            now,
        )
        .await?;
        let customer = resource_name::format("customers", customer_id);
        let event = pb::AttendanceRecorded {
            activity: resource_name::format("activities", activity_id),
            customer: customer.clone(),
            state: state_to_wire(state.as_str()) as i32,
            recorded_by: staff_name(&caller.subject),
        };
        events::enqueue(&mut tx, &customer, &event, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The year's coverage and participation per unit the caller reaches,
    /// narrowed to `within` (a unit id) and below; with the policy's targets.
    pub async fn activity_figures(
        &self,
        caller: &Caller,
        year: i32,
        within: Option<&str>,
    ) -> Result<(ActivitySection, Vec<(String, UnitFigures)>), ServiceError> {
        let (from, to) = year_bounds(year, self.zone)
            .ok_or_else(|| ServiceError::invalid("year", "is not a year of the calendar"))?;
        let loaded = self.policies.current().await?;
        let section = loaded.value.policy.activities;
        let reach = self.reach(caller).await?;
        let rows = store::unit_counts(
            &self.pool,
            from,
            to,
            self.clock.now(),
            &reach,
            &caller.subject,
            within,
        )
        .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let figures = rows
            .into_iter()
            .map(|r| {
                let counts = UnitCounts {
                    vips: count(r.vips),
                    vips_invited: count(r.vips_invited),
                    invitations_held: count(r.invitations_held),
                    attended: count(r.attended),
                };
                (r.org_unit, activities::unit_figures(counts, &section))
            })
            .collect();
        Ok((section, figures))
    }

    /// Names `lead` (placed in `unit` or below it) the unit's group lead.
    pub async fn set_group_lead(
        &self,
        caller: &Caller,
        unit: &str,
        lead: &str,
    ) -> Result<GroupLeadRow, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        crate::role_holders::appointee_unit_path(&mut conn, caller, unit, lead).await?;
        let row = GroupLeadRow {
            org_unit: unit.to_owned(),
            lead: lead.to_owned(),
            set_by: caller.subject.clone(),
            set_at: self.clock.now(),
        };
        leads::set(&self.pool, &row).await?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_runs_from_local_midnight_to_local_midnight() {
        let (from, to) = year_bounds(2027, chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2027-12-31T16:00:00+00:00");
    }

    #[test]
    fn invitation_names_read_back_and_bad_ones_are_refused() {
        let (a, c) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            parse_invitation_name("name", &invitation_name(a, c)).unwrap(),
            (a, c)
        );
        for bad in [
            "",
            "activities/x/invitations/y",
            &format!("activities/{a}/guests/{c}"),
            &format!("activities/{a}/invitations/"),
        ] {
            assert!(parse_invitation_name("name", bad).is_err(), "{bad}");
        }
    }
}
