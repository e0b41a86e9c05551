//! The SchedulingService gRPC API: checks the caller and the request, calls
//! the use cases in `scheduling`, and answers with what is stored.

use std::collections::HashMap;

use chrono::NaiveDate;
use patron_kit::auth::{self, Caller};
use patron_kit::{ServiceError, etag, idempotency, paging, resource_name, timestamp};
use patron_proto::common::v1::Date;
use patron_proto::scheduling::v1 as pb;
use patron_proto::scheduling::v1::scheduling_service_server::SchedulingService;
use patron_vocab::roles::Permission;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::leave::Leave;
use crate::profile::Permission as Consent;
use crate::scheduling::{NewContact, ProjectInput, Scheduling};
use crate::store::leaves::{self, HandoverRow};
use crate::store::{projects, tasks};

pub mod activities;
pub mod care;
pub mod feeds;
pub mod gift_expenses;
mod input;
pub mod priority_notices;
pub mod role_holders;
pub mod service_plans;
pub mod view;

/// The API's state.
#[derive(Clone)]
pub struct SchedulingApi {
    pub scheduling: Scheduling,
    /// The gateway's address as staff reach it: calendar feed URLs sit
    /// under it.
    pub public_url: String,
}

/// `staff/{id}` → id.
fn staff_id(field: &str, name: &str) -> Result<String, ServiceError> {
    name.strip_prefix("staff/")
        .filter(|id| !id.is_empty() && !id.contains('/') && id.len() <= 100)
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::invalid(field, "must be of the form staff/{id}"))
}

/// A real calendar day, or why not.
fn day(field: &str, date: Option<&Date>) -> Result<NaiveDate, ServiceError> {
    date.and_then(|d| {
        NaiveDate::from_ymd_opt(
            d.year,
            u32::try_from(d.month).ok()?,
            u32::try_from(d.day).ok()?,
        )
        .filter(|_| (1900..=2200).contains(&d.year))
    })
    .ok_or_else(|| ServiceError::invalid(field, "is required: a real calendar date"))
}

fn text(field: &str, value: &str, required: bool, max: usize) -> Result<String, ServiceError> {
    let trimmed = patron_vocab::text::trim(value);
    if required && patron_vocab::text::is_blank(trimmed) {
        return Err(ServiceError::invalid(field, "is required"));
    }
    if trimmed.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

impl SchedulingApi {
    fn today(&self) -> NaiveDate {
        self.scheduling.today()
    }

    async fn leave_answer(&self, id: Uuid) -> Result<pb::Leave, ServiceError> {
        let pool = &self.scheduling.pool;
        let rows = leaves::list(pool, None).await?;
        let row = rows
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| ServiceError::not_found(resource_name::format("leaves", id)))?;
        let handovers = leaves::handovers(pool, &[id]).await?;
        Ok(view::leave(row, &handovers.iter().collect::<Vec<_>>()))
    }

    fn project_input(
        &self,
        project: Option<&pb::Project>,
        creating: bool,
    ) -> Result<(ProjectInput, Option<i64>), ServiceError> {
        let p = project.ok_or_else(|| ServiceError::invalid("project", "is required"))?;
        let mut v = patron_kit::Violations::new();
        let customer_id = if creating {
            resource_name::parse("project.customer", "customers", &p.customer)
                .map_err(|e| v.add("project.customer", e.to_string()))
                .ok()
        } else {
            None
        };
        let title = text("project.title", &p.title, creating, 500)
            .map_err(|e| v.add("project.title", e.to_string()))
            .ok();
        let amount = match &p.amount {
            None => {
                v.add("project.amount", "is required");
                None
            }
            Some(m) => patron_vocab::money::Money::non_negative(&m.currency_code, m.amount_minor)
                .map_err(|e| v.add("project.amount", e.to_string()))
                .ok(),
        };
        let expected = etag::parse("project.etag", &p.etag)
            .map_err(|e| v.add("project.etag", e.to_string()))
            .ok()
            .flatten();
        v.into_result()?;
        let amount = amount.expect("checked");
        Ok((
            ProjectInput {
                customer_id: customer_id.unwrap_or_default(),
                title: title.unwrap_or_default(),
                amount_minor: amount.amount_minor,
                currency: amount.currency.code().to_owned(),
                signed: p.signed,
            },
            expected,
        ))
    }
}

fn require_any(caller: &Caller, permission: Permission) -> Result<(), Status> {
    caller.require(permission)?;
    Ok(())
}

#[tonic::async_trait]
impl SchedulingService for SchedulingApi {
    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::ReadCustomers)?;
        let id = resource_name::parse("name", "tasks", &request.get_ref().name)?;
        let row = self.scheduling.task(&caller, id).await?;
        let task = care::task(&self.scheduling.pool, &row, self.today()).await?;
        Ok(Response::new(task))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut filter = tasks::ListFilter::default();
        if !req.assignee.is_empty() {
            filter.assignee = Some(staff_id("assignee", &req.assignee)?);
        }
        if !req.customer.is_empty() {
            filter.customer_id = Some(resource_name::parse(
                "customer",
                "customers",
                &req.customer,
            )?);
        }
        let state = pb::TaskState::try_from(req.state)
            .map_err(|_| ServiceError::invalid("state", "is not a task state"))?;
        filter.state = view::state_from_wire(state).map(str::to_owned);
        if req.due_by.is_some() {
            filter.due_by = Some(day("due_by", req.due_by.as_ref())?);
        }
        let fingerprint = paging::filter_fingerprint(&[
            &req.assignee,
            &req.customer,
            &req.state.to_string(),
            &filter.due_by.map(|d| d.to_string()).unwrap_or_default(),
        ]);
        let after: Option<(NaiveDate, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let reach = self.scheduling.reach(&caller).await?;
        let rows = tasks::list(
            &self.scheduling.pool,
            &filter,
            &reach,
            &caller.subject,
            after,
            limit + 1,
        )
        .await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.due_date, r.id));
        let tasks = care::tasks(&self.scheduling.pool, &rows, self.today()).await?;
        Ok(Response::new(pb::ListTasksResponse {
            tasks,
            next_page_token,
        }))
    }

    async fn snooze_task(
        &self,
        request: Request<pb::SnoozeTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let id = resource_name::parse("name", "tasks", &req.name)
            .map_err(|e| v.add("name", e.to_string()))
            .ok();
        let due = day("due_date", req.due_date.as_ref())
            .map_err(|e| v.add("due_date", e.to_string()))
            .ok();
        let reason = text("reason", &req.reason, true, 2000)
            .map_err(|_| v.add("reason", "is required: why the contact moves"))
            .ok();
        let expected = etag::parse("etag", &req.etag)
            .map_err(|e| v.add("etag", e.to_string()))
            .ok()
            .flatten();
        v.into_result()?;
        let row = (self.scheduling)
            .snooze(
                &caller,
                id.expect("checked"),
                due.expect("checked"),
                &reason.expect("checked"),
                expected,
            )
            .await?;
        let task = care::task(&self.scheduling.pool, &row, self.today()).await?;
        Ok(Response::new(task))
    }

    async fn log_contact(
        &self,
        request: Request<pb::LogContactRequest>,
    ) -> Result<Response<pb::ContactLog>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::EditCustomers)?;
        let req = request.into_inner();
        let log = req.contact_log.clone().unwrap_or_default();
        let mut v = patron_kit::Violations::new();
        if req.contact_log.is_none() {
            v.add("contact_log", "is required");
        }
        let customer_id = resource_name::parse("contact_log.customer", "customers", &log.customer)
            .map_err(|e| v.add("contact_log.customer", e.to_string()))
            .ok();
        let task_id = if log.task.is_empty() {
            None
        } else {
            resource_name::parse("contact_log.task", "tasks", &log.task)
                .map_err(|e| v.add("contact_log.task", e.to_string()))
                .ok()
        };
        let channel = view::channel_from_wire(log.channel);
        if channel.is_none() {
            v.add(
                "contact_log.channel",
                "is required: VISIT, PHONE, SMS, EMAIL, LETTER or FAX",
            );
        }
        let contact_time = match &log.contact_time {
            None => None,
            Some(t) => {
                let parsed = timestamp::from_proto(t);
                if parsed.is_none() {
                    v.add("contact_log.contact_time", "is not a valid time");
                }
                parsed
            }
        };
        let summary = text("contact_log.summary", &log.summary, false, 10_000)
            .map_err(|e| v.add("contact_log.summary", e.to_string()))
            .ok();
        let request_id = idempotency::parse_request_id("request_id", &req.request_id)
            .map_err(|e| v.add("request_id", e.to_string()))
            .ok()
            .flatten();
        v.into_result()?;
        let fingerprint = idempotency::fingerprint(&log.encode_to_vec());
        let contact = NewContact {
            customer_id: customer_id.expect("checked"),
            task_id,
            channel: channel.expect("checked"),
            contact_time,
            summary: summary.unwrap_or_default(),
        };
        let id = (self.scheduling)
            .log_contact(&caller, contact, request_id, &fingerprint)
            .await?;
        let row = tasks::get_log(&self.scheduling.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource_name::format("contactLogs", id)))?;
        Ok(Response::new(view::contact_log(&row)))
    }

    async fn list_contact_logs(
        &self,
        request: Request<pb::ListContactLogsRequest>,
    ) -> Result<Response<pb::ListContactLogsResponse>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut filter = tasks::LogFilter::default();
        if !req.customer.is_empty() {
            filter.customer_id = Some(resource_name::parse(
                "customer",
                "customers",
                &req.customer,
            )?);
        }
        if !req.staff_member.is_empty() {
            filter.staff_member = Some(staff_id("staff_member", &req.staff_member)?);
        }
        let start = |d: NaiveDate| patron_vocab::calendar::start_of_day(d, &self.scheduling.zone);
        if req.start_date.is_some() {
            filter.since = start(day("start_date", req.start_date.as_ref())?);
        }
        if req.end_date.is_some() {
            filter.until = day("end_date", req.end_date.as_ref())?
                .succ_opt()
                .and_then(start);
        }
        let fingerprint = paging::filter_fingerprint(&[
            &req.customer,
            &req.staff_member,
            &filter.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
            &filter.until.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ]);
        let after: Option<(chrono::DateTime<chrono::Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let reach = self.scheduling.reach(&caller).await?;
        let rows = tasks::list_logs(
            &self.scheduling.pool,
            &filter,
            &reach,
            &caller.subject,
            after,
            limit + 1,
        )
        .await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.contact_time, r.id));
        Ok(Response::new(pb::ListContactLogsResponse {
            contact_logs: rows.iter().map(view::contact_log).collect(),
            next_page_token,
        }))
    }

    async fn get_next_contact_time(
        &self,
        request: Request<pb::GetNextContactTimeRequest>,
    ) -> Result<Response<pb::NextContactTime>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let customer = resource_name::parse("customer", "customers", &req.customer)
            .map_err(|e| v.add("customer", e.to_string()))
            .ok();
        let channel = view::channel_from_wire(req.channel);
        if channel.is_none() {
            v.add(
                "channel",
                "is required: VISIT, PHONE, SMS, EMAIL, LETTER or FAX",
            );
        }
        v.into_result()?;
        let next = (self.scheduling)
            .next_contact_time(
                &caller,
                customer.expect("checked"),
                channel.expect("checked"),
                req.marketing,
            )
            .await?;
        let (permission, reason) = match next.permission {
            None => (pb::ContactPermission::Unspecified, next.reason),
            Some(Consent::Allowed(why)) => (
                pb::ContactPermission::Allowed,
                format!("{}; marketing allowed: {why}", next.reason),
            ),
            Some(Consent::Denied(why)) => (
                pb::ContactPermission::Denied,
                format!("{}; marketing not allowed: {why}", next.reason),
            ),
            Some(Consent::Unknown(why)) => (
                pb::ContactPermission::Unknown,
                format!("{}; marketing permission unknown: {why}", next.reason),
            ),
        };
        Ok(Response::new(pb::NextContactTime {
            time: Some(timestamp::to_proto(next.at)),
            reason,
            permission: permission as i32,
            sms_first: next.sms_first,
        }))
    }

    async fn create_leave(
        &self,
        request: Request<pb::CreateLeaveRequest>,
    ) -> Result<Response<pb::Leave>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::AssignManagers)?;
        let req = request.into_inner();
        let leave = req.leave.unwrap_or_default();
        let mut v = patron_kit::Violations::new();
        let manager = staff_id("leave.staff_member", &leave.staff_member)
            .map_err(|e| v.add("leave.staff_member", e.to_string()))
            .ok();
        let lead = staff_id("leave.stand_in", &leave.stand_in)
            .map_err(|e| v.add("leave.stand_in", e.to_string()))
            .ok();
        let from = day("leave.start_date", leave.start_date.as_ref())
            .map_err(|e| v.add("leave.start_date", e.to_string()))
            .ok();
        let to = day("leave.end_date", leave.end_date.as_ref())
            .map_err(|e| v.add("leave.end_date", e.to_string()))
            .ok();
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            v.add("leave.end_date", "must not be before start_date");
        }
        v.into_result()?;
        let id = (self.scheduling)
            .create_leave(
                &caller,
                Leave {
                    manager: manager.expect("checked"),
                    lead: lead.expect("checked"),
                    from: from.expect("checked"),
                    to: to.expect("checked"),
                },
            )
            .await?;
        Ok(Response::new(self.leave_answer(id).await?))
    }

    async fn list_leaves(
        &self,
        request: Request<pb::ListLeavesRequest>,
    ) -> Result<Response<pb::ListLeavesResponse>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::AssignManagers)?;
        let req = request.into_inner();
        let staff = if req.staff_member.is_empty() {
            None
        } else {
            Some(staff_id("staff_member", &req.staff_member)?)
        };
        let pool = &self.scheduling.pool;
        let rows = leaves::list(pool, staff.as_deref()).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let all = leaves::handovers(pool, &ids).await?;
        let mut by_leave: HashMap<Uuid, Vec<&HandoverRow>> = HashMap::new();
        for h in &all {
            by_leave.entry(h.leave_id).or_default().push(h);
        }
        Ok(Response::new(pb::ListLeavesResponse {
            leaves: rows
                .iter()
                .map(|r| view::leave(r, by_leave.get(&r.id).map(Vec::as_slice).unwrap_or(&[])))
                .collect(),
        }))
    }

    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::AssignManagers)?;
        let req = request.into_inner();
        let (input, _) = self.project_input(req.project.as_ref(), true)?;
        let id = self.scheduling.create_project(&caller, input).await?;
        let row = projects::get(&self.scheduling.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource_name::format("projects", id)))?;
        Ok(Response::new(view::project(&row)))
    }

    async fn update_project(
        &self,
        request: Request<pb::UpdateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::AssignManagers)?;
        let req = request.into_inner();
        let name = req
            .project
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let id = resource_name::parse("project.name", "projects", &name)?;
        let (input, expected) = self.project_input(req.project.as_ref(), false)?;
        (self.scheduling)
            .update_project(&caller, id, input, expected)
            .await?;
        let row = projects::get(&self.scheduling.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource_name::format("projects", id)))?;
        Ok(Response::new(view::project(&row)))
    }

    async fn get_contact_figures(
        &self,
        request: Request<pb::GetContactFiguresRequest>,
    ) -> Result<Response<pb::ContactFigures>, Status> {
        let caller = auth::caller(&request)?;
        require_any(&caller, Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let start = day("start_date", req.start_date.as_ref())
            .map_err(|e| v.add("start_date", e.to_string()))
            .ok();
        let end = day("end_date", req.end_date.as_ref())
            .map_err(|e| v.add("end_date", e.to_string()))
            .ok();
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            v.add("end_date", "must not be before start_date");
        }
        v.into_result()?;
        let reach = self.scheduling.reach(&caller).await?;
        let rows = tasks::figures(
            &self.scheduling.pool,
            start.expect("checked"),
            end.expect("checked"),
            self.today(),
            &reach,
            &caller.subject,
        )
        .await?;
        Ok(Response::new(pb::ContactFigures {
            managers: rows
                .iter()
                .map(|r| pb::ManagerContacts {
                    staff_member: crate::generation_job::staff_name(&r.assignee),
                    due: r.due,
                    done_on_time: r.done_on_time,
                    overdue: r.overdue,
                })
                .collect(),
        }))
    }

    async fn create_gift_expense(
        &self,
        request: Request<pb::CreateGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        self.create_gift_expense_rpc(request).await
    }

    async fn get_gift_expense(
        &self,
        request: Request<pb::GetGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        self.get_gift_expense_rpc(request).await
    }

    async fn list_gift_expenses(
        &self,
        request: Request<pb::ListGiftExpensesRequest>,
    ) -> Result<Response<pb::ListGiftExpensesResponse>, Status> {
        self.list_gift_expenses_rpc(request).await
    }

    async fn approve_gift_expense(
        &self,
        request: Request<pb::ApproveGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        self.approve_gift_expense_rpc(request).await
    }

    async fn refuse_gift_expense(
        &self,
        request: Request<pb::RefuseGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        self.refuse_gift_expense_rpc(request).await
    }

    async fn record_gift_expense_spending(
        &self,
        request: Request<pb::RecordGiftExpenseSpendingRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        self.record_gift_expense_spending_rpc(request).await
    }

    async fn withdraw_gift_expense(
        &self,
        request: Request<pb::WithdrawGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        self.withdraw_gift_expense_rpc(request).await
    }

    async fn get_gift_expense_report(
        &self,
        request: Request<pb::GetGiftExpenseReportRequest>,
    ) -> Result<Response<pb::GiftExpenseReport>, Status> {
        self.get_gift_expense_report_rpc(request).await
    }

    async fn issue_priority_notice(
        &self,
        request: Request<pb::IssuePriorityNoticeRequest>,
    ) -> Result<Response<pb::PriorityNotice>, Status> {
        self.issue_priority_notice_rpc(request).await
    }

    async fn get_priority_notice(
        &self,
        request: Request<pb::GetPriorityNoticeRequest>,
    ) -> Result<Response<pb::PriorityNotice>, Status> {
        self.get_priority_notice_rpc(request).await
    }

    async fn create_service_plan(
        &self,
        request: Request<pb::CreateServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        self.create_service_plan_rpc(request).await
    }

    async fn get_service_plan(
        &self,
        request: Request<pb::GetServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        self.get_service_plan_rpc(request).await
    }

    async fn list_service_plans(
        &self,
        request: Request<pb::ListServicePlansRequest>,
    ) -> Result<Response<pb::ListServicePlansResponse>, Status> {
        self.list_service_plans_rpc(request).await
    }

    async fn update_service_plan(
        &self,
        request: Request<pb::UpdateServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        self.update_service_plan_rpc(request).await
    }

    async fn submit_service_plan(
        &self,
        request: Request<pb::SubmitServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        self.submit_service_plan_rpc(request).await
    }

    async fn review_service_plan(
        &self,
        request: Request<pb::ReviewServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        self.review_service_plan_rpc(request).await
    }

    async fn create_work_log_review(
        &self,
        request: Request<pb::CreateWorkLogReviewRequest>,
    ) -> Result<Response<pb::WorkLogReview>, Status> {
        self.create_work_log_review_rpc(request).await
    }

    async fn list_work_log_reviews(
        &self,
        request: Request<pb::ListWorkLogReviewsRequest>,
    ) -> Result<Response<pb::ListWorkLogReviewsResponse>, Status> {
        self.list_work_log_reviews_rpc(request).await
    }

    // Activities and group leads (`activities`), calendar feeds (`feeds`).
    async fn create_activity(
        &self,
        request: Request<pb::CreateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        self.create_activity_call(request).await
    }

    async fn get_activity(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        self.get_activity_call(request).await
    }

    async fn list_activities(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        self.list_activities_call(request).await
    }

    async fn invite_customers(
        &self,
        request: Request<pb::InviteCustomersRequest>,
    ) -> Result<Response<pb::InviteCustomersResponse>, Status> {
        self.invite_customers_call(request).await
    }

    async fn list_invitations(
        &self,
        request: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        self.list_invitations_call(request).await
    }

    async fn record_attendance(
        &self,
        request: Request<pb::RecordAttendanceRequest>,
    ) -> Result<Response<pb::Invitation>, Status> {
        self.record_attendance_call(request).await
    }

    async fn get_activity_figures(
        &self,
        request: Request<pb::GetActivityFiguresRequest>,
    ) -> Result<Response<pb::ActivityFigures>, Status> {
        self.get_activity_figures_call(request).await
    }

    async fn set_group_lead(
        &self,
        request: Request<pb::SetGroupLeadRequest>,
    ) -> Result<Response<pb::GroupLead>, Status> {
        self.set_group_lead_call(request).await
    }

    async fn list_group_leads(
        &self,
        request: Request<pb::ListGroupLeadsRequest>,
    ) -> Result<Response<pb::ListGroupLeadsResponse>, Status> {
        self.list_group_leads_call(request).await
    }

    async fn create_calendar_feed(
        &self,
        request: Request<pb::CreateCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        self.create_calendar_feed_call(request).await
    }

    async fn get_calendar_feed(
        &self,
        request: Request<pb::GetCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        self.get_calendar_feed_call(request).await
    }

    async fn revoke_calendar_feed(
        &self,
        request: Request<pb::RevokeCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        self.revoke_calendar_feed_call(request).await
    }

    async fn record_family_event(
        &self,
        request: Request<pb::RecordFamilyEventRequest>,
    ) -> Result<Response<pb::FamilyEvent>, Status> {
        care::record_family_event(self, request).await
    }

    // Role holders (`role_holders`).
    async fn set_role_holder(
        &self,
        request: Request<pb::SetRoleHolderRequest>,
    ) -> Result<Response<pb::RoleHolderChange>, Status> {
        self.set_role_holder_call(request).await
    }

    async fn list_role_holders(
        &self,
        request: Request<pb::ListRoleHoldersRequest>,
    ) -> Result<Response<pb::ListRoleHoldersResponse>, Status> {
        self.list_role_holders_call(request).await
    }

    async fn remove_role_holder(
        &self,
        request: Request<pb::RemoveRoleHolderRequest>,
    ) -> Result<Response<pb::RoleHolderChange>, Status> {
        self.remove_role_holder_call(request).await
    }
}
