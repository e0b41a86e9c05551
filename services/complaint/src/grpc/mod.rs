//! The ComplaintService gRPC API: checks the caller and the request, calls
//! the use cases in `complaints`, and answers with the stored complaint.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeZone};
use patron_kit::auth::{self, Caller};
use patron_kit::directory::Reach;
use patron_kit::{ServiceError, etag, idempotency, paging, resource_name, timestamp};
use patron_proto::complaint::v1 as pb;
use patron_proto::complaint::v1::complaint_service_server::ComplaintService;
use patron_vocab::roles::Permission;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::complaints::{Complaints, StepInput};
use crate::intake_writer::Intake;
use crate::store::complaints::{self as store, ListFilter, ReachFilter};
use crate::store::{figures, unit_handlers};

mod figures_view;
pub mod intake;
pub mod view;

/// The API's state.
#[derive(Clone)]
pub struct ComplaintApi {
    pub complaints: Complaints,
}

fn complaint_id(field: &str, name: &str) -> Result<Uuid, ServiceError> {
    resource_name::parse(field, view::COMPLAINTS, name)
}

/// `prefix/{id}` → id, for staff and unit names.
fn id_in(field: &str, prefix: &str, name: &str) -> Result<String, ServiceError> {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/') && id.len() <= 100)
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::invalid(field, format!("must be of the form {prefix}/{{id}}")))
}

pub fn reach_filter(reach: &Reach) -> ReachFilter {
    ReachFilter {
        company: matches!(reach, Reach::Company),
        unit: reach.unit().map(str::to_owned),
        manager: reach.manager().map(str::to_owned),
    }
}

impl ComplaintApi {
    /// The complaint as the caller now sees it.
    async fn answer(&self, id: Uuid) -> Result<pb::Complaint, ServiceError> {
        let pool = &self.complaints.pool;
        let row = store::get(pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(view::complaint_name(id)))?;
        let lines = store::timelines(pool, &[id]).await?;
        let timeline: Vec<_> = lines.iter().map(|(_, l)| l).collect();
        Ok(view::complaint(&row, &timeline))
    }

    async fn step(
        &self,
        caller: &Caller,
        name: &str,
        run: impl AsyncFnOnce(Uuid) -> Result<(), ServiceError>,
    ) -> Result<Response<pb::Complaint>, Status> {
        caller.require(Permission::HandleComplaints)?;
        let id = complaint_id("name", name)?;
        run(id).await?;
        Ok(Response::new(self.answer(id).await?))
    }
}

/// A resolution's parts as stored: the JSON of its texts, its root cause
/// and its loss (minor units, currency).
struct ResolutionInput {
    json: Option<serde_json::Value>,
    root_cause: Option<String>,
    loss: Option<(i64, String)>,
}

fn resolution_input(r: Option<&pb::Resolution>) -> Result<ResolutionInput, ServiceError> {
    let Some(r) = r else {
        return Ok(ResolutionInput {
            json: None,
            root_cause: None,
            loss: None,
        });
    };
    let loss = match &r.loss_amount {
        None => None,
        Some(m) => {
            let money = patron_vocab::money::Money::non_negative(&m.currency_code, m.amount_minor)
                .map_err(|e| ServiceError::invalid("resolution.loss_amount", e))?;
            Some((money.amount_minor, money.currency.code().to_owned()))
        }
    };
    let json = serde_json::json!({
        "action": r.action,
        "penalty": r.penalty,
        "prevention": r.prevention,
    });
    Ok(ResolutionInput {
        json: Some(json),
        root_cause: (!r.root_cause.is_empty()).then(|| r.root_cause.clone()),
        loss,
    })
}

#[tonic::async_trait]
impl ComplaintService for ComplaintApi {
    async fn create_complaint(
        &self,
        request: Request<pb::CreateComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::HandleComplaints)?;
        let req = request.into_inner();
        let intake = intake::read(req.complaint.as_ref())?;
        let request_id = idempotency::parse_request_id("request_id", &req.request_id)?;
        let fingerprint = idempotency::fingerprint(
            &req.complaint
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default(),
        );
        let complaint = match self
            .complaints
            .receive(&caller, intake, request_id, &fingerprint)
            .await?
        {
            Intake::Written(complaint) => *complaint,
            Intake::Replayed(id) => self.answer(id).await?,
        };
        Ok(Response::new(complaint))
    }

    async fn get_complaint(
        &self,
        request: Request<pb::GetComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let id = complaint_id("name", &request.get_ref().name)?;
        let reach = self.complaints.reach(&caller).await?;
        let complaint = self.answer(id).await?;
        let row = store::get(&self.complaints.pool, id).await?;
        let reached = row.is_some_and(|r| reach.covers(&r.org_unit_path, &r.account_manager));
        if !reached {
            return Err(ServiceError::not_found(view::complaint_name(id)).into());
        }
        Ok(Response::new(complaint))
    }

    async fn list_complaints(
        &self,
        request: Request<pb::ListComplaintsRequest>,
    ) -> Result<Response<pb::ListComplaintsResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut filter = ListFilter::default();
        if !req.customer.is_empty() {
            filter.customer_id = Some(resource_name::parse(
                "customer",
                "customers",
                &req.customer,
            )?);
        }
        if let Ok(state) = pb::ComplaintState::try_from(req.state)
            && let Some(state) = view::state_from_wire(state)
        {
            filter.state = Some(state.name().to_owned());
        } else if pb::ComplaintState::try_from(req.state).is_err() {
            return Err(ServiceError::invalid("state", "is not a complaint state").into());
        }
        if !req.handler.is_empty() {
            filter.handler = Some(id_in("handler", "staff", &req.handler)?);
        }
        if req.past_deadline {
            filter.past_deadline_at = Some(self.complaints.clock.now());
        }
        let fingerprint = paging::filter_fingerprint(&[
            &req.customer,
            &req.state.to_string(),
            &req.handler,
            &req.past_deadline.to_string(),
        ]);
        let after: Option<(chrono::DateTime<chrono::Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let reach = self.complaints.reach(&caller).await?;
        let pool = &self.complaints.pool;
        let rows = store::list(pool, &filter, &reach_filter(&reach), after, limit + 1).await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.received_at, r.id));
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut lines: HashMap<Uuid, Vec<_>> = HashMap::new();
        let all = store::timelines(pool, &ids).await?;
        for (id, line) in &all {
            lines.entry(*id).or_default().push(line);
        }
        let complaints = rows
            .iter()
            .map(|r| view::complaint(r, lines.get(&r.id).map(Vec::as_slice).unwrap_or(&[])))
            .collect();
        Ok(Response::new(pb::ListComplaintsResponse {
            complaints,
            next_page_token,
        }))
    }

    async fn advance_complaint(
        &self,
        request: Request<pb::AdvanceComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        let req = request.into_inner();
        let attempted = pb::ComplaintMove::try_from(req.r#move)
            .ok()
            .and_then(view::move_from_wire)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "move",
                    "is required: ACCEPT, INVESTIGATE, RESOLVE, GIVE_FEEDBACK, CLOSE, FIND_NOT_VALID, SIGN_OFF, SEND_BACK or REOPEN",
                )
            })?;
        let resolution = resolution_input(req.resolution.as_ref())?;
        let input = StepInput {
            note: patron_vocab::text::trim(&req.note).to_owned(),
            investigation: req.investigation.as_ref().map(|i| {
                serde_json::json!({
                    "cause": i.cause,
                    "responsible_department": i.responsible_department,
                    "responsible_person": i.responsible_person,
                })
            }),
            resolution: resolution.json,
            root_cause: resolution.root_cause,
            loss: resolution.loss,
            expected_version: etag::parse("etag", &req.etag)?,
        };
        self.step(&caller, &req.name, async |id| {
            self.complaints.advance(&caller, id, attempted, input).await
        })
        .await
    }

    async fn pause_complaint(
        &self,
        request: Request<pb::PauseComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        let req = request.into_inner();
        let reason = patron_vocab::text::trim(&req.reason);
        if patron_vocab::text::is_blank(reason) {
            return Err(ServiceError::invalid(
                "reason",
                "is required: whom the company waits on and why",
            )
            .into());
        }
        let expected = etag::parse("etag", &req.etag)?;
        self.step(&caller, &req.name, async |id| {
            (self.complaints)
                .pause_or_resume(&caller, id, Some(reason), "", expected)
                .await
        })
        .await
    }

    async fn resume_complaint(
        &self,
        request: Request<pb::ResumeComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        let req = request.into_inner();
        let expected = etag::parse("etag", &req.etag)?;
        self.step(&caller, &req.name, async |id| {
            (self.complaints)
                .pause_or_resume(
                    &caller,
                    id,
                    None,
                    patron_vocab::text::trim(&req.note),
                    expected,
                )
                .await
        })
        .await
    }

    async fn assign_complaint(
        &self,
        request: Request<pb::AssignComplaintRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        let req = request.into_inner();
        let handler = id_in("handler", "staff", &req.handler)?;
        let expected = etag::parse("etag", &req.etag)?;
        self.step(&caller, &req.name, async |id| {
            (self.complaints)
                .assign(
                    &caller,
                    id,
                    &handler,
                    patron_vocab::text::trim(&req.note),
                    expected,
                )
                .await
        })
        .await
    }

    async fn record_survey(
        &self,
        request: Request<pb::RecordSurveyRequest>,
    ) -> Result<Response<pb::Complaint>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::RecordSurveys)?;
        let req = request.into_inner();
        let id = complaint_id("name", &req.name)?;
        let score = i16::try_from(req.score)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .ok_or_else(|| ServiceError::invalid("score", "must be 1 to 5"))?;
        if req.comment.chars().count() > 10_000 {
            return Err(
                ServiceError::invalid("comment", "must be at most 10000 characters").into(),
            );
        }
        (self.complaints)
            .record_survey(&caller, id, score, patron_vocab::text::trim(&req.comment))
            .await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn set_unit_handler(
        &self,
        request: Request<pb::SetUnitHandlerRequest>,
    ) -> Result<Response<pb::UnitHandler>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let unit = id_in("org_unit", "orgUnits", &req.org_unit);
        let handler = id_in("handler", "staff", &req.handler);
        for err in [unit.as_ref().err(), handler.as_ref().err()]
            .into_iter()
            .flatten()
        {
            if let ServiceError::InvalidArgument(found) = err {
                for f in found.iter() {
                    v.add(f.field.clone(), f.description.clone());
                }
            }
        }
        v.into_result()?;
        let (unit, handler) = (unit?, handler?);
        let pool = &self.complaints.pool;
        let mut conn = pool.acquire().await.map_err(ServiceError::from)?;
        let placement = patron_kit::directory::store::staff_placement(&mut conn, &handler)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("staff/{handler}")))?;
        if !placement.unit_path.contains(&unit) {
            return Err(ServiceError::FailedPrecondition(format!(
                "staff/{handler} sits in orgUnits/{} , which is not orgUnits/{unit} or below it",
                placement.unit
            ))
            .into());
        }
        let row = unit_handlers::UnitHandlerRow {
            org_unit: unit,
            handler,
            set_by: caller.subject.clone(),
            set_at: self.complaints.clock.now(),
        };
        unit_handlers::set(pool, &row).await?;
        Ok(Response::new(unit_handler_view(&row)))
    }

    async fn list_unit_handlers(
        &self,
        request: Request<pb::ListUnitHandlersRequest>,
    ) -> Result<Response<pb::ListUnitHandlersResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let rows = unit_handlers::list(&self.complaints.pool).await?;
        Ok(Response::new(pb::ListUnitHandlersResponse {
            handlers: rows.iter().map(unit_handler_view).collect(),
        }))
    }

    async fn get_complaint_figures(
        &self,
        request: Request<pb::GetComplaintFiguresRequest>,
    ) -> Result<Response<pb::ComplaintFigures>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let zone = self.complaints.zone;
        let mut v = patron_kit::Violations::new();
        let mut day = |field: &str, d: &Option<patron_proto::common::v1::Date>| {
            let parsed = d.as_ref().and_then(|d| {
                NaiveDate::from_ymd_opt(
                    d.year,
                    u32::try_from(d.month).ok()?,
                    u32::try_from(d.day).ok()?,
                )
                .filter(|_| (1900..=2200).contains(&d.year))
            });
            if parsed.is_none() {
                v.add(field, "is required: a real calendar date");
            }
            parsed
        };
        let start = day("start_date", &req.start_date);
        let end = day("end_date", &req.end_date);
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            v.add("end_date", "must not be before start_date");
        }
        let unit = if req.org_unit.is_empty() {
            None
        } else {
            id_in("org_unit", "orgUnits", &req.org_unit)
                .map_err(|e| v.add("org_unit", e.to_string()))
                .ok()
        };
        v.into_result()?;
        let (start, end) = (start.expect("checked"), end.expect("checked"));
        let midnight = |d: NaiveDate| {
            zone.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok_or_else(|| {
                    ServiceError::invalid("start_date", "has no midnight in the company's zone")
                })
        };
        let reach = self.complaints.reach(&caller).await?;
        let scope = figures::Scope {
            from: midnight(start)?,
            to: midnight(end.succ_opt().unwrap_or(end))?,
            unit,
            reach: reach_filter(&reach),
            now: self.complaints.clock.now(),
        };
        let loaded = self.complaints.policies.current().await?;
        let pool = &self.complaints.pool;
        let totals = figures::totals(pool, &scope).await?;
        let stages = figures::stages(pool, &scope).await?;
        let causes = figures::root_causes(pool, &scope, 10).await?;
        Ok(Response::new(figures_view::figures(
            &totals,
            &stages,
            &causes,
            &loaded.value.policy,
        )))
    }
}

fn unit_handler_view(row: &unit_handlers::UnitHandlerRow) -> pb::UnitHandler {
    pb::UnitHandler {
        org_unit: format!("orgUnits/{}", row.org_unit),
        handler: format!("staff/{}", row.handler),
        set: Some(patron_proto::common::v1::AuditStamp {
            time: Some(timestamp::to_proto(row.set_at)),
            actor: row.set_by.clone(),
        }),
    }
}
