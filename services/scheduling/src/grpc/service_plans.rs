//! The service-plan and work-log review RPCs.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::auth::{self, Caller};
use patron_kit::{Violations, etag, fieldmask, idempotency, paging, resource_name, timestamp};
use patron_proto::common::v1::Date;
use patron_proto::scheduling::v1 as pb;
use patron_vocab::roles::Permission;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::input::collect;
use super::{SchedulingApi, day, staff_id, text};
use crate::domain::service_plans::{Decision, Period, PeriodKind, PlanState};
use crate::generation_job::{staff_name, wire_date};
use crate::scheduling::service_plans::{
    NewLogReview, NewPlan, PlanChange, PlanView, decision_to_wire, period_to_wire,
    plan_state_to_wire, plan_step_to_wire,
};
use crate::store::service_plans::{self as store, LogReviewRow};

/// The most items a plan holds, and the longest item and text.
const MAX_ITEMS: usize = 200;
const MAX_ITEM_CHARS: usize = 1000;
const MAX_TEXT_CHARS: usize = 20_000;

pub fn plan_to_wire(view: &PlanView) -> pb::ServicePlan {
    let row = &view.row;
    pb::ServicePlan {
        name: resource_name::format("servicePlans", row.id),
        staff_member: staff_name(&row.staff_member),
        period: period_to_wire(&row.period) as i32,
        period_start: Some(wire_date(row.period_start)),
        period_end: Some(wire_date(row.period_end)),
        text: row.body.clone(),
        items: row.items.clone(),
        state: plan_state_to_wire(&row.state) as i32,
        history: view.steps.iter().map(plan_step_to_wire).collect(),
        etag: etag::format(row.version),
    }
}

pub fn review_to_wire(row: &LogReviewRow) -> pb::WorkLogReview {
    pb::WorkLogReview {
        name: resource_name::format("workLogReviews", row.id),
        staff_member: staff_name(&row.staff_member),
        period: period_to_wire(&row.period) as i32,
        period_start: Some(wire_date(row.period_start)),
        period_end: Some(wire_date(row.period_end)),
        decision: decision_to_wire(&row.decision) as i32,
        note: row.note.clone(),
        reviewer: staff_name(&row.reviewer),
        review_time: Some(timestamp::to_proto(row.reviewed_at)),
        contact_count: row.contact_count,
    }
}

/// The kind of period asked for; `None` for unset.
fn period_kind(v: &mut Violations, field: &str, wire: i32) -> Option<PeriodKind> {
    match pb::PlanPeriod::try_from(wire) {
        Ok(pb::PlanPeriod::Year) => Some(PeriodKind::Year),
        Ok(pb::PlanPeriod::Month) => Some(PeriodKind::Month),
        Ok(pb::PlanPeriod::Week) => Some(PeriodKind::Week),
        Ok(pb::PlanPeriod::Unspecified) => None,
        Err(_) => {
            v.add(field, "is not a period: YEAR, MONTH or WEEK");
            None
        }
    }
}

/// A year, month or week from its kind and first day, each problem named.
fn period(v: &mut Violations, prefix: &str, kind: i32, start: Option<&Date>) -> Option<Period> {
    let kind_field = format!("{prefix}period");
    let start_field = format!("{prefix}period_start");
    let kind = period_kind(v, &kind_field, kind);
    if kind.is_none() && !v.iter().any(|f| f.field == kind_field) {
        v.add(kind_field, "is required: YEAR, MONTH or WEEK");
    }
    let start = collect(v, &start_field, day(&start_field, start));
    let (kind, start) = (kind?, start?);
    Period::new(kind, start)
        .map_err(|e| v.add(start_field, e.to_string()))
        .ok()
}

fn decision(v: &mut Violations, field: &str, wire: i32) -> Option<Decision> {
    match pb::ReviewDecision::try_from(wire) {
        Ok(pb::ReviewDecision::SignOff) => Some(Decision::SignOff),
        Ok(pb::ReviewDecision::Return) => Some(Decision::Return),
        _ => {
            v.add(field, "is required: SIGN_OFF or RETURN");
            None
        }
    }
}

/// A plan's items: each trimmed, none blank or too long, not too many.
fn items(v: &mut Violations, field: &str, given: &[String]) -> Vec<String> {
    if given.len() > MAX_ITEMS {
        v.add(field, format!("hold at most {MAX_ITEMS} items"));
    }
    given
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let item_field = format!("{field}[{i}]");
            collect(
                v,
                &item_field,
                text(&item_field, item, true, MAX_ITEM_CHARS),
            )
        })
        .collect()
}

impl SchedulingApi {
    async fn plan_answer(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let view = self.scheduling.service_plan(caller, id).await?;
        Ok(Response::new(plan_to_wire(&view)))
    }

    pub(super) async fn create_service_plan_rpc(
        &self,
        request: Request<pb::CreateServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let given = req.service_plan.clone().unwrap_or_default();
        let mut v = Violations::new();
        if req.service_plan.is_none() {
            v.add("service_plan", "is required");
        }
        let period = period(
            &mut v,
            "service_plan.",
            given.period,
            given.period_start.as_ref(),
        );
        let body = collect(
            &mut v,
            "service_plan.text",
            text("service_plan.text", &given.text, false, MAX_TEXT_CHARS),
        );
        let items = items(&mut v, "service_plan.items", &given.items);
        let request_id = collect(
            &mut v,
            "request_id",
            idempotency::parse_request_id("request_id", &req.request_id),
        )
        .flatten();
        v.into_result()?;
        let fingerprint = idempotency::fingerprint(&given.encode_to_vec());
        let id = (self.scheduling)
            .create_service_plan(
                &caller,
                NewPlan {
                    period: period.expect("checked"),
                    text: body.expect("checked"),
                    items,
                },
                request_id,
                &fingerprint,
            )
            .await?;
        self.plan_answer(&caller, id).await
    }

    pub(super) async fn get_service_plan_rpc(
        &self,
        request: Request<pb::GetServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let id = resource_name::parse("name", "servicePlans", &request.get_ref().name)?;
        self.plan_answer(&caller, id).await
    }

    pub(super) async fn list_service_plans_rpc(
        &self,
        request: Request<pb::ListServicePlansRequest>,
    ) -> Result<Response<pb::ListServicePlansResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let limit = collect(
            &mut v,
            "page_size",
            paging::page_size("page_size", req.page_size),
        );
        let mut filter = store::PlanFilter::default();
        if !req.staff_member.is_empty() {
            filter.staff_member = collect(
                &mut v,
                "staff_member",
                staff_id("staff_member", &req.staff_member),
            );
        }
        filter.period = period_kind(&mut v, "period", req.period).map(|k| k.as_str().to_owned());
        if req.period_start.is_some() {
            filter.period_start = collect(
                &mut v,
                "period_start",
                day("period_start", req.period_start.as_ref()),
            );
        }
        filter.state = match pb::ServicePlanState::try_from(req.state) {
            Err(_) => {
                v.add("state", "is not a service plan state");
                None
            }
            Ok(pb::ServicePlanState::Unspecified) => None,
            Ok(pb::ServicePlanState::Draft) => Some(PlanState::Draft),
            Ok(pb::ServicePlanState::Submitted) => Some(PlanState::Submitted),
            Ok(pb::ServicePlanState::SignedOff) => Some(PlanState::SignedOff),
            Ok(pb::ServicePlanState::Returned) => Some(PlanState::Returned),
        }
        .map(|s| s.as_str().to_owned());
        v.into_result()?;
        let limit = limit.expect("checked");
        let fingerprint = paging::filter_fingerprint(&[
            &req.staff_member,
            &req.period.to_string(),
            &filter
                .period_start
                .map(|d| d.to_string())
                .unwrap_or_default(),
            &req.state.to_string(),
        ]);
        let after: Option<(NaiveDate, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let reach = self.scheduling.reach(&caller).await?;
        let rows = store::list(
            &self.scheduling.pool,
            &filter,
            &reach,
            &caller.subject,
            after,
            limit + 1,
        )
        .await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.period_start, r.id));
        let views = self.scheduling.plans_with_steps(rows).await?;
        Ok(Response::new(pb::ListServicePlansResponse {
            service_plans: views.iter().map(plan_to_wire).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn update_service_plan_rpc(
        &self,
        request: Request<pb::UpdateServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let patch = req.service_plan.clone().unwrap_or_default();
        let id = resource_name::parse("service_plan.name", "servicePlans", &patch.name)?;
        let expected = etag::parse("service_plan.etag", &patch.etag)?;
        let paths: Vec<String> = req.update_mask.map(|m| m.paths).unwrap_or_default();
        // The mask is checked against the contract (no output-only or
        // immutable field), then only the text and items are taken.
        let current = self.scheduling.service_plan(&caller, id).await?;
        let patched = fieldmask::apply(&plan_to_wire(&current), &patch, &paths, "update_mask")?;
        let mut v = Violations::new();
        let body = collect(
            &mut v,
            "service_plan.text",
            text("service_plan.text", &patched.text, false, MAX_TEXT_CHARS),
        );
        let items = items(&mut v, "service_plan.items", &patched.items);
        v.into_result()?;
        (self.scheduling)
            .update_service_plan(
                &caller,
                id,
                PlanChange {
                    text: body,
                    items: Some(items),
                },
                expected,
            )
            .await?;
        self.plan_answer(&caller, id).await
    }

    pub(super) async fn submit_service_plan_rpc(
        &self,
        request: Request<pb::SubmitServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = collect(
            &mut v,
            "name",
            resource_name::parse("name", "servicePlans", &req.name),
        );
        let expected = collect(&mut v, "etag", etag::parse("etag", &req.etag)).flatten();
        v.into_result()?;
        let id = id.expect("checked");
        (self.scheduling)
            .submit_service_plan(&caller, id, expected)
            .await?;
        self.plan_answer(&caller, id).await
    }

    pub(super) async fn review_service_plan_rpc(
        &self,
        request: Request<pb::ReviewServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReviewPlans)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = collect(
            &mut v,
            "name",
            resource_name::parse("name", "servicePlans", &req.name),
        );
        let decision = decision(&mut v, "decision", req.decision);
        let note = collect(&mut v, "note", text("note", &req.note, false, 2000));
        let expected = collect(&mut v, "etag", etag::parse("etag", &req.etag)).flatten();
        v.into_result()?;
        let id = id.expect("checked");
        (self.scheduling)
            .review_service_plan(
                &caller,
                id,
                decision.expect("checked"),
                &note.expect("checked"),
                expected,
            )
            .await?;
        self.plan_answer(&caller, id).await
    }

    pub(super) async fn create_work_log_review_rpc(
        &self,
        request: Request<pb::CreateWorkLogReviewRequest>,
    ) -> Result<Response<pb::WorkLogReview>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReviewPlans)?;
        let req = request.into_inner();
        let given = req.work_log_review.clone().unwrap_or_default();
        let mut v = Violations::new();
        if req.work_log_review.is_none() {
            v.add("work_log_review", "is required");
        }
        let staff = collect(
            &mut v,
            "work_log_review.staff_member",
            staff_id("work_log_review.staff_member", &given.staff_member),
        );
        let period = period(
            &mut v,
            "work_log_review.",
            given.period,
            given.period_start.as_ref(),
        );
        let decision = decision(&mut v, "work_log_review.decision", given.decision);
        let note = collect(
            &mut v,
            "work_log_review.note",
            text("work_log_review.note", &given.note, false, 2000),
        );
        let request_id = collect(
            &mut v,
            "request_id",
            idempotency::parse_request_id("request_id", &req.request_id),
        )
        .flatten();
        v.into_result()?;
        let fingerprint = idempotency::fingerprint(&given.encode_to_vec());
        let id = (self.scheduling)
            .review_work_log(
                &caller,
                NewLogReview {
                    staff_member: staff.expect("checked"),
                    period: period.expect("checked"),
                    decision: decision.expect("checked"),
                    note: note.expect("checked"),
                },
                request_id,
                &fingerprint,
            )
            .await?;
        let row = self.scheduling.work_log_review(id).await?;
        Ok(Response::new(review_to_wire(&row)))
    }

    pub(super) async fn list_work_log_reviews_rpc(
        &self,
        request: Request<pb::ListWorkLogReviewsRequest>,
    ) -> Result<Response<pb::ListWorkLogReviewsResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let limit = collect(
            &mut v,
            "page_size",
            paging::page_size("page_size", req.page_size),
        );
        let staff = if req.staff_member.is_empty() {
            None
        } else {
            collect(
                &mut v,
                "staff_member",
                staff_id("staff_member", &req.staff_member),
            )
        };
        let kind = period_kind(&mut v, "period", req.period);
        v.into_result()?;
        let limit = limit.expect("checked");
        let fingerprint = paging::filter_fingerprint(&[&req.staff_member, &req.period.to_string()]);
        let after: Option<(DateTime<Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let reach = self.scheduling.reach(&caller).await?;
        let rows = store::list_reviews(
            &self.scheduling.pool,
            staff.as_deref(),
            kind.map(PeriodKind::as_str),
            &reach,
            &caller.subject,
            after,
            limit + 1,
        )
        .await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.reviewed_at, r.id));
        Ok(Response::new(pb::ListWorkLogReviewsResponse {
            work_log_reviews: rows.iter().map(review_to_wire).collect(),
            next_page_token,
        }))
    }
}
