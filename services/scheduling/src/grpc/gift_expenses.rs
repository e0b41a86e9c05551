//! The gift and relationship expense RPCs: checks the caller and the
//! request, calls the use cases, answers with what is stored.

use chrono::{DateTime, Utc};
use patron_kit::auth::{self, Caller};
use patron_kit::{ServiceError, Violations, etag, idempotency, paging, resource_name};
use patron_proto::common::v1::Money;
use patron_proto::scheduling::v1 as pb;
use patron_vocab::roles::Permission;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::input::collect;
use super::{SchedulingApi, staff_id, text};
use crate::domain::gift_expenses::State;
use crate::generation_job::staff_name;
use crate::scheduling::gift_expenses::{
    GiftExpenseView, GiftStep, NewGiftExpense, state_to_wire, step_to_wire,
};
use crate::store::gift_expenses::{self as store, MonthFigures};

fn money(currency: &str, amount_minor: i64) -> Money {
    Money {
        currency_code: currency.to_owned(),
        amount_minor,
    }
}

pub fn to_wire(view: &GiftExpenseView) -> pb::GiftExpense {
    let row = &view.row;
    pb::GiftExpense {
        name: resource_name::format("giftExpenses", row.id),
        customer: resource_name::format("customers", row.customer_id),
        purpose: row.purpose.clone(),
        budget: Some(money(&row.currency, row.budget_minor)),
        state: state_to_wire(&row.state) as i32,
        requested_by: staff_name(&row.requested_by),
        approved_amount: row.approved_minor.map(|m| money(&row.currency, m)),
        spent_amount: row.spent_minor.map(|m| money(&row.currency, m)),
        history: view
            .steps
            .iter()
            .map(|s| step_to_wire(s, &row.currency))
            .collect(),
        etag: etag::format(row.version),
    }
}

/// A positive (or, with `zero_ok`, non-negative) amount of money, or why not.
fn amount(
    v: &mut Violations,
    field: &str,
    given: Option<&Money>,
    zero_ok: bool,
) -> Option<(String, i64)> {
    let Some(m) = given else {
        v.add(field, "is required");
        return None;
    };
    match patron_vocab::money::Money::non_negative(&m.currency_code, m.amount_minor) {
        Err(e) => {
            v.add(field, e);
            None
        }
        Ok(_) if m.amount_minor == 0 && !zero_ok => {
            v.add(field, "amount_minor must be positive");
            None
        }
        Ok(checked) => Some((checked.currency.code().to_owned(), checked.amount_minor)),
    }
}

fn totals(rows: &[&MonthFigures], currency: &str) -> Result<pb::GiftExpenseTotals, ServiceError> {
    let sum = |f: fn(&MonthFigures) -> i64| {
        patron_vocab::money::checked_sum(rows.iter().map(|r| f(r))).ok_or_else(|| {
            ServiceError::internal(anyhow::anyhow!("a gift expense total overflows"))
        })
    };
    Ok(pb::GiftExpenseTotals {
        requested_count: sum(|r| r.requested_count)?,
        requested: Some(money(currency, sum(|r| r.requested_minor)?)),
        approved_count: sum(|r| r.approved_count)?,
        approved: Some(money(currency, sum(|r| r.approved_minor)?)),
        spent_count: sum(|r| r.spent_count)?,
        spent: Some(money(currency, sum(|r| r.spent_minor)?)),
        refused_count: sum(|r| r.refused_count)?,
    })
}

impl SchedulingApi {
    async fn gift_expense_answer(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let view = self.scheduling.gift_expense(caller, id).await?;
        Ok(Response::new(to_wire(&view)))
    }

    pub(super) async fn create_gift_expense_rpc(
        &self,
        request: Request<pb::CreateGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let given = req.gift_expense.clone().unwrap_or_default();
        let mut v = Violations::new();
        if req.gift_expense.is_none() {
            v.add("gift_expense", "is required");
        }
        let customer = collect(
            &mut v,
            "gift_expense.customer",
            resource_name::parse("gift_expense.customer", "customers", &given.customer),
        );
        let purpose = collect(
            &mut v,
            "gift_expense.purpose",
            text("gift_expense.purpose", &given.purpose, true, 2000),
        );
        let budget = amount(&mut v, "gift_expense.budget", given.budget.as_ref(), false);
        let request_id = collect(
            &mut v,
            "request_id",
            idempotency::parse_request_id("request_id", &req.request_id),
        )
        .flatten();
        v.into_result()?;
        let (currency, budget_minor) = budget.expect("checked");
        let fingerprint = idempotency::fingerprint(&given.encode_to_vec());
        let id = (self.scheduling)
            .create_gift_expense(
                &caller,
                NewGiftExpense {
                    customer_id: customer.expect("checked"),
                    purpose: purpose.expect("checked"),
                    currency,
                    budget_minor,
                },
                request_id,
                &fingerprint,
            )
            .await?;
        self.gift_expense_answer(&caller, id).await
    }

    pub(super) async fn get_gift_expense_rpc(
        &self,
        request: Request<pb::GetGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let id = resource_name::parse("name", "giftExpenses", &request.get_ref().name)?;
        self.gift_expense_answer(&caller, id).await
    }

    pub(super) async fn list_gift_expenses_rpc(
        &self,
        request: Request<pb::ListGiftExpensesRequest>,
    ) -> Result<Response<pb::ListGiftExpensesResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let limit = collect(
            &mut v,
            "page_size",
            paging::page_size("page_size", req.page_size),
        );
        let mut filter = store::ListFilter::default();
        if !req.requested_by.is_empty() {
            filter.requested_by = collect(
                &mut v,
                "requested_by",
                staff_id("requested_by", &req.requested_by),
            );
        }
        if !req.customer.is_empty() {
            filter.customer_id = collect(
                &mut v,
                "customer",
                resource_name::parse("customer", "customers", &req.customer),
            );
        }
        let state = match pb::GiftExpenseState::try_from(req.state) {
            Err(_) => {
                v.add("state", "is not a gift expense state");
                None
            }
            Ok(pb::GiftExpenseState::Unspecified) => None,
            Ok(pb::GiftExpenseState::Requested) => Some(State::Requested),
            Ok(pb::GiftExpenseState::Approved) => Some(State::Approved),
            Ok(pb::GiftExpenseState::Refused) => Some(State::Refused),
            Ok(pb::GiftExpenseState::Spent) => Some(State::Spent),
            Ok(pb::GiftExpenseState::Withdrawn) => Some(State::Withdrawn),
        };
        filter.state = state.map(|s| s.as_str().to_owned());
        v.into_result()?;
        let limit = limit.expect("checked");
        let fingerprint =
            paging::filter_fingerprint(&[&req.requested_by, &req.customer, &req.state.to_string()]);
        let after: Option<(DateTime<Utc>, Uuid)> =
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
            paging::finish_page(rows, limit, &fingerprint, |r| (r.requested_at, r.id));
        let views = self.scheduling.gift_expenses_with_steps(rows).await?;
        Ok(Response::new(pb::ListGiftExpensesResponse {
            gift_expenses: views.iter().map(to_wire).collect(),
            next_page_token,
        }))
    }

    /// Checks the name, note and etag every step carries, then takes it.
    async fn gift_step(
        &self,
        caller: Caller,
        name: &str,
        etag_text: &str,
        mut v: Violations,
        step: Option<GiftStep>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let id = collect(
            &mut v,
            "name",
            resource_name::parse("name", "giftExpenses", name),
        );
        let expected = collect(&mut v, "etag", etag::parse("etag", etag_text)).flatten();
        v.into_result()?;
        let id = id.expect("checked");
        (self.scheduling)
            .step_gift_expense(&caller, id, step.expect("checked"), expected)
            .await?;
        self.gift_expense_answer(&caller, id).await
    }

    pub(super) async fn approve_gift_expense_rpc(
        &self,
        request: Request<pb::ApproveGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let approved = match &req.amount {
            None => None,
            given => amount(&mut v, "amount", given.as_ref(), false),
        };
        let note = collect(&mut v, "note", text("note", &req.note, false, 2000));
        let step = note.map(|note| GiftStep::Approve {
            amount: approved,
            note,
        });
        self.gift_step(caller, &req.name, &req.etag, v, step).await
    }

    pub(super) async fn refuse_gift_expense_rpc(
        &self,
        request: Request<pb::RefuseGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let note = text("note", &req.note, true, 2000)
            .map_err(|_| v.add("note", "is required: why it is refused"))
            .ok();
        let step = note.map(|note| GiftStep::Refuse { note });
        self.gift_step(caller, &req.name, &req.etag, v, step).await
    }

    pub(super) async fn record_gift_expense_spending_rpc(
        &self,
        request: Request<pb::RecordGiftExpenseSpendingRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let spent = amount(&mut v, "amount", req.amount.as_ref(), true);
        let note = collect(&mut v, "note", text("note", &req.note, false, 2000));
        let step =
            spent.zip(note).map(
                |((currency, amount_minor), note)| GiftStep::RecordSpending {
                    currency,
                    amount_minor,
                    note,
                },
            );
        self.gift_step(caller, &req.name, &req.etag, v, step).await
    }

    pub(super) async fn withdraw_gift_expense_rpc(
        &self,
        request: Request<pb::WithdrawGiftExpenseRequest>,
    ) -> Result<Response<pb::GiftExpense>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let note = collect(&mut v, "note", text("note", &req.note, false, 2000));
        let step = note.map(|note| GiftStep::Withdraw { note });
        self.gift_step(caller, &req.name, &req.etag, v, step).await
    }

    pub(super) async fn get_gift_expense_report_rpc(
        &self,
        request: Request<pb::GetGiftExpenseReportRequest>,
    ) -> Result<Response<pb::GiftExpenseReport>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        if let Err(e) = patron_vocab::calendar::check_year(req.year) {
            v.add("year", e);
        }
        let month = u32::try_from(req.month)
            .ok()
            .filter(|m| (1..=12).contains(m));
        if month.is_none() {
            v.add("month", "must be 1 to 12");
        }
        v.into_result()?;
        let report = (self.scheduling)
            .gift_expense_report(&caller, req.year, month.expect("checked"))
            .await?;
        let in_currency: Vec<&MonthFigures> = report
            .per_manager
            .iter()
            .filter(|r| r.currency == report.currency)
            .collect();
        let managers = report
            .per_manager
            .iter()
            .map(|r| {
                Ok(pb::ManagerGiftExpenses {
                    staff_member: staff_name(&r.key),
                    totals: Some(totals(&[r], &r.currency)?),
                })
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let units = report
            .per_unit
            .iter()
            .map(|r| {
                Ok(pb::UnitGiftExpenses {
                    org_unit: if r.key.is_empty() {
                        String::new()
                    } else {
                        format!("orgUnits/{}", r.key)
                    },
                    totals: Some(totals(&[r], &r.currency)?),
                })
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        Ok(Response::new(pb::GiftExpenseReport {
            year: req.year,
            month: req.month,
            managers,
            units,
            total: Some(totals(&in_currency, &report.currency)?),
        }))
    }
}
