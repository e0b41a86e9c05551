//! The activity RPCs and the group leads: check the caller and the request,
//! call the use cases in `crate::activities`, answer with what is stored.

use patron_kit::auth::{self, Caller};
use patron_kit::{ServiceError, etag, idempotency, paging, resource_name, timestamp};
use patron_proto::scheduling::v1 as pb;
use patron_vocab::roles::Permission;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{SchedulingApi, text};
use crate::activities::{
    self, NewActivity, invitation_name, kind_to_wire, parse_invitation_name, state_to_wire,
};
use crate::domain::activities::{ActivityKind, InvitationState};
use crate::generation_job::staff_name;
use crate::store::activities::{self as store, ActivityFilter, ActivityRow, InvitationRow};
use crate::store::leads::{self, GroupLeadRow};

/// At most this many customers in one InviteCustomers.
const MAX_INVITED_AT_ONCE: usize = 500;

/// `orgUnits/{id}` → id.
pub(super) fn unit_id(field: &str, name: &str) -> Result<String, ServiceError> {
    name.strip_prefix("orgUnits/")
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 63
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::invalid(field, "must be of the form orgUnits/{id}"))
}

fn year(field: &str, year: i32) -> Result<i32, ServiceError> {
    if (1900..=2200).contains(&year) {
        Ok(year)
    } else {
        Err(ServiceError::invalid(
            field,
            "must be a year from 1900 to 2200",
        ))
    }
}

pub fn activity_view(row: &ActivityRow) -> pb::Activity {
    pb::Activity {
        name: resource_name::format("activities", row.id),
        title: row.title.clone(),
        kind: kind_to_wire(&row.kind) as i32,
        org_unit: format!("orgUnits/{}", row.org_unit),
        start_time: Some(timestamp::to_proto(row.starts_at)),
        end_time: row.ends_at.map(timestamp::to_proto),
        location: row.location.clone(),
        description: row.description.clone(),
        invited: row.invited,
        attended: row.attended,
        created_by: staff_name(&row.created_by),
        create_time: Some(timestamp::to_proto(row.created_at)),
    }
}

pub fn invitation_view(row: &InvitationRow) -> pb::Invitation {
    pb::Invitation {
        name: invitation_name(row.activity_id, row.customer_id),
        customer: resource_name::format("customers", row.customer_id),
        state: state_to_wire(&row.state) as i32,
        invited_by: staff_name(&row.invited_by),
        invite_time: Some(timestamp::to_proto(row.invited_at)),
        recorded_by: row
            .recorded_by
            .as_deref()
            .map(staff_name)
            .unwrap_or_default(),
        etag: etag::format(row.version),
    }
}

fn group_lead_view(row: &GroupLeadRow) -> pb::GroupLead {
    pb::GroupLead {
        org_unit: format!("orgUnits/{}", row.org_unit),
        lead: staff_name(&row.lead),
        set_by: staff_name(&row.set_by),
        set_time: Some(timestamp::to_proto(row.set_at)),
    }
}

fn require(caller: &Caller, permission: Permission) -> Result<(), Status> {
    caller.require(permission)?;
    Ok(())
}

impl SchedulingApi {
    pub(super) async fn create_activity_call(
        &self,
        request: Request<pb::CreateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::AssignManagers)?;
        let req = request.into_inner();
        let a = req.activity.clone().unwrap_or_default();
        let mut v = patron_kit::Violations::new();
        if req.activity.is_none() {
            v.add("activity", "is required");
        }
        let title = text("activity.title", &a.title, true, 200)
            .map_err(|e| v.add("activity.title", e.to_string()))
            .ok();
        let kind = match pb::ActivityKind::try_from(a.kind) {
            Ok(pb::ActivityKind::Symposium) => Some(ActivityKind::Symposium),
            Ok(pb::ActivityKind::Reward) => Some(ActivityKind::Reward),
            _ => {
                v.add(
                    "activity.kind",
                    "is required: ACTIVITY_KIND_SYMPOSIUM or ACTIVITY_KIND_REWARD",
                );
                None
            }
        };
        let unit = unit_id("activity.org_unit", &a.org_unit)
            .map_err(|e| v.add("activity.org_unit", e.to_string()))
            .ok();
        let start = a.start_time.as_ref().and_then(timestamp::from_proto);
        if start.is_none() {
            v.add("activity.start_time", "is required: a valid time");
        }
        let end = match &a.end_time {
            None => None,
            Some(t) => {
                let end = timestamp::from_proto(t);
                match (end, start) {
                    (None, _) => v.add("activity.end_time", "is not a valid time"),
                    (Some(e), Some(s)) if e < s => {
                        v.add("activity.end_time", "must not be before start_time")
                    }
                    _ => {}
                }
                end
            }
        };
        let location = text("activity.location", &a.location, false, 500)
            .map_err(|e| v.add("activity.location", e.to_string()))
            .ok();
        let description = text("activity.description", &a.description, false, 4000)
            .map_err(|e| v.add("activity.description", e.to_string()))
            .ok();
        let request_id = idempotency::parse_request_id("request_id", &req.request_id)
            .map_err(|e| v.add("request_id", e.to_string()))
            .ok()
            .flatten();
        v.into_result()?;
        let fingerprint = idempotency::fingerprint(&a.encode_to_vec());
        let id = (self.scheduling)
            .create_activity(
                &caller,
                NewActivity {
                    title: title.expect("checked"),
                    kind: kind.expect("checked"),
                    org_unit: unit.expect("checked"),
                    starts_at: start.expect("checked"),
                    ends_at: end,
                    location: location.unwrap_or_default(),
                    description: description.unwrap_or_default(),
                },
                request_id,
                &fingerprint,
            )
            .await?;
        let row = self.scheduling.activity(id).await?;
        Ok(Response::new(activity_view(&row)))
    }

    pub(super) async fn get_activity_call(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::ReadCustomers)?;
        let id = resource_name::parse("name", "activities", &request.get_ref().name)?;
        let row = self.scheduling.activity(id).await?;
        Ok(Response::new(activity_view(&row)))
    }

    pub(super) async fn list_activities_call(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let limit = paging::page_size("page_size", req.page_size)
            .map_err(|e| v.add("page_size", e.to_string()))
            .ok();
        let mut filter = ActivityFilter::default();
        if req.year != 0 {
            match year("year", req.year) {
                Ok(y) => filter.between = activities::year_bounds(y, self.scheduling.zone),
                Err(e) => v.add("year", e.to_string()),
            }
        }
        if !req.org_unit.is_empty() {
            match unit_id("org_unit", &req.org_unit) {
                Ok(unit) => filter.unit = Some(unit),
                Err(e) => v.add("org_unit", e.to_string()),
            }
        }
        v.into_result()?;
        let limit = limit.expect("checked");
        let fingerprint = paging::filter_fingerprint(&[&req.year.to_string(), &req.org_unit]);
        let after: Option<(chrono::DateTime<chrono::Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::list(&self.scheduling.pool, &filter, after, limit + 1).await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.starts_at, r.id));
        Ok(Response::new(pb::ListActivitiesResponse {
            activities: rows.iter().map(activity_view).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn invite_customers_call(
        &self,
        request: Request<pb::InviteCustomersRequest>,
    ) -> Result<Response<pb::InviteCustomersResponse>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let activity = resource_name::parse("activity", "activities", &req.activity)
            .map_err(|e| v.add("activity", e.to_string()))
            .ok();
        if req.customers.is_empty() {
            v.add("customers", "is required: at least one customer");
        }
        if req.customers.len() > MAX_INVITED_AT_ONCE {
            v.add(
                "customers",
                format!("must hold at most {MAX_INVITED_AT_ONCE} customers"),
            );
        }
        let mut customers: Vec<Uuid> = Vec::new();
        for (i, name) in req.customers.iter().take(MAX_INVITED_AT_ONCE).enumerate() {
            let field = format!("customers[{i}]");
            match resource_name::parse(&field, "customers", name) {
                Ok(id) if !customers.contains(&id) => customers.push(id),
                Ok(_) => {}
                Err(e) => v.add(field, e.to_string()),
            }
        }
        v.into_result()?;
        let (rows, new) = (self.scheduling)
            .invite(&caller, activity.expect("checked"), &customers)
            .await?;
        Ok(Response::new(pb::InviteCustomersResponse {
            invitations: rows.iter().map(invitation_view).collect(),
            newly_invited: i64::try_from(new).unwrap_or(i64::MAX),
        }))
    }

    pub(super) async fn list_invitations_call(
        &self,
        request: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let activity = resource_name::parse("parent", "activities", &req.parent)
            .map_err(|e| v.add("parent", e.to_string()))
            .ok();
        let limit = paging::page_size("page_size", req.page_size)
            .map_err(|e| v.add("page_size", e.to_string()))
            .ok();
        v.into_result()?;
        let (activity, limit) = (activity.expect("checked"), limit.expect("checked"));
        self.scheduling.activity(activity).await?;
        let fingerprint = paging::filter_fingerprint(&[&req.parent]);
        let after: Option<Uuid> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let reach = self.scheduling.reach(&caller).await?;
        let rows = store::list_invitations(
            &self.scheduling.pool,
            activity,
            &reach,
            &caller.subject,
            after,
            limit + 1,
        )
        .await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| r.customer_id);
        Ok(Response::new(pb::ListInvitationsResponse {
            invitations: rows.iter().map(invitation_view).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn record_attendance_call(
        &self,
        request: Request<pb::RecordAttendanceRequest>,
    ) -> Result<Response<pb::Invitation>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let ids = parse_invitation_name("name", &req.name)
            .map_err(|e| v.add("name", e.to_string()))
            .ok();
        let state = match pb::InvitationState::try_from(req.state) {
            Ok(pb::InvitationState::Attended) => Some(InvitationState::Attended),
            Ok(pb::InvitationState::Absent) => Some(InvitationState::Absent),
            _ => {
                v.add(
                    "state",
                    "is required: INVITATION_STATE_ATTENDED or INVITATION_STATE_ABSENT",
                );
                None
            }
        };
        let expected = etag::parse("etag", &req.etag)
            .map_err(|e| v.add("etag", e.to_string()))
            .ok()
            .flatten();
        v.into_result()?;
        let (activity, customer) = ids.expect("checked");
        let row = (self.scheduling)
            .record_attendance(
                &caller,
                activity,
                customer,
                state.expect("checked"),
                expected,
            )
            .await?;
        Ok(Response::new(invitation_view(&row)))
    }

    pub(super) async fn get_activity_figures_call(
        &self,
        request: Request<pb::GetActivityFiguresRequest>,
    ) -> Result<Response<pb::ActivityFigures>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let y = year("year", req.year)
            .map_err(|e| v.add("year", e.to_string()))
            .ok();
        let within = if req.org_unit.is_empty() {
            None
        } else {
            unit_id("org_unit", &req.org_unit)
                .map_err(|e| v.add("org_unit", e.to_string()))
                .ok()
        };
        v.into_result()?;
        let y = y.expect("checked");
        let (section, units) = (self.scheduling)
            .activity_figures(&caller, y, within.as_deref())
            .await?;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Response::new(pb::ActivityFigures {
            year: y,
            coverage_target: section.coverage_target.rate(),
            participation_target: section.participation_target.rate(),
            units: units
                .iter()
                .map(|(unit, f)| pb::UnitActivityFigures {
                    org_unit: format!("orgUnits/{unit}"),
                    vip_customers: count(f.counts.vips),
                    vips_invited: count(f.counts.vips_invited),
                    coverage_rate: f.coverage.rate().unwrap_or(0.0),
                    coverage_met: f.coverage_met,
                    invitations_held: count(f.counts.invitations_held),
                    attended: count(f.counts.attended),
                    participation_rate: f.participation.rate().unwrap_or(0.0),
                    participation_met: f.participation_met,
                })
                .collect(),
        }))
    }

    pub(super) async fn set_group_lead_call(
        &self,
        request: Request<pb::SetGroupLeadRequest>,
    ) -> Result<Response<pb::GroupLead>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::AssignManagers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let unit = unit_id("org_unit", &req.org_unit)
            .map_err(|e| v.add("org_unit", e.to_string()))
            .ok();
        let lead = super::staff_id("lead", &req.lead)
            .map_err(|e| v.add("lead", e.to_string()))
            .ok();
        v.into_result()?;
        let row = (self.scheduling)
            .set_group_lead(&caller, &unit.expect("checked"), &lead.expect("checked"))
            .await?;
        Ok(Response::new(group_lead_view(&row)))
    }

    pub(super) async fn list_group_leads_call(
        &self,
        request: Request<pb::ListGroupLeadsRequest>,
    ) -> Result<Response<pb::ListGroupLeadsResponse>, Status> {
        let caller = auth::caller(&request)?;
        require(&caller, Permission::ReadCustomers)?;
        let rows = leads::list(&self.scheduling.pool).await?;
        Ok(Response::new(pb::ListGroupLeadsResponse {
            group_leads: rows.iter().map(group_lead_view).collect(),
        }))
    }
}
