//! Gift and relationship expenses (客情费): requested for a customer the
//! caller reaches, approved or refused by a supervisor who reaches the
//! customer within their authority, recorded as spent, withdrawn; each step
//! with its history row and its event in the same transaction; and the
//! monthly report per manager and unit.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::auth::Caller;
use patron_kit::directory;
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, etag, events, resource_name};
use patron_proto::common::v1::Money;
use patron_proto::scheduling::v1 as pb;
use patron_vocab::money;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Scheduling;
use crate::domain::gift_expenses::{self as rules, ApprovalRefused, Move, SpendingRefused, State};
use crate::generation_job::staff_name;
use crate::store::gift_expenses::{
    self as store, Change, GiftExpenseRow, GroupBy, MonthFigures, StepRow,
};

/// A request as checked on the wire.
#[derive(Debug, Clone)]
pub struct NewGiftExpense {
    pub customer_id: Uuid,
    pub purpose: String,
    pub currency: String,
    pub budget_minor: i64,
}

/// A step asked of an expense.
#[derive(Debug, Clone)]
pub enum GiftStep {
    /// The amount approved (currency, minor units); the budget when `None`.
    Approve {
        amount: Option<(String, i64)>,
        note: String,
    },
    Refuse {
        note: String,
    },
    RecordSpending {
        currency: String,
        amount_minor: i64,
        note: String,
    },
    Withdraw {
        note: String,
    },
}

impl GiftStep {
    fn domain(&self) -> Move {
        match self {
            GiftStep::Approve { .. } => Move::Approve,
            GiftStep::Refuse { .. } => Move::Refuse,
            GiftStep::RecordSpending { .. } => Move::RecordSpending,
            GiftStep::Withdraw { .. } => Move::Withdraw,
        }
    }
}

/// An expense with its history.
#[derive(Debug, Clone)]
pub struct GiftExpenseView {
    pub row: GiftExpenseRow,
    pub steps: Vec<StepRow>,
}

/// A month's figures per requester and per unit, and in all.
#[derive(Debug, Clone)]
pub struct MonthReport {
    pub per_manager: Vec<MonthFigures>,
    pub per_unit: Vec<MonthFigures>,
    /// The policy's currency, for a total of a month without any expense.
    pub currency: String,
}

fn amount_in(currency: &str, minor: i64) -> String {
    format!(
        "{} {currency}",
        money::format_minor(minor, money::digits_or_default(currency))
    )
}

fn state_of(row: &GiftExpenseRow) -> Result<State, ServiceError> {
    State::parse(&row.state).ok_or_else(|| {
        ServiceError::internal(anyhow::anyhow!(
            "gift expense {} has an unknown state {:?}",
            row.id,
            row.state
        ))
    })
}

/// The wire state of a stored one.
pub fn state_to_wire(state: &str) -> pb::GiftExpenseState {
    match State::parse(state) {
        Some(State::Requested) => pb::GiftExpenseState::Requested,
        Some(State::Approved) => pb::GiftExpenseState::Approved,
        Some(State::Refused) => pb::GiftExpenseState::Refused,
        Some(State::Spent) => pb::GiftExpenseState::Spent,
        Some(State::Withdrawn) => pb::GiftExpenseState::Withdrawn,
        None => pb::GiftExpenseState::Unspecified,
    }
}

/// The wire form of one step.
pub fn step_to_wire(step: &StepRow, currency: &str) -> pb::Step {
    pb::Step {
        action: step.action.clone(),
        actor: staff_name(&step.actor),
        time: Some(patron_kit::timestamp::to_proto(step.at)),
        note: step.note.clone(),
        amount: step.amount_minor.map(|amount_minor| Money {
            currency_code: currency.to_owned(),
            amount_minor,
        }),
    }
}

impl Scheduling {
    /// Whether the caller sees an expense: they asked for it, or they reach
    /// its customer.
    async fn sees_expense(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        row: &GiftExpenseRow,
    ) -> Result<bool, ServiceError> {
        if row.requested_by == caller.subject {
            return Ok(true);
        }
        let reach = self.reach.reach_of(&mut *conn, caller).await?;
        let facts = directory::store::customer(&mut *conn, row.customer_id).await?;
        Ok(reach.covers(&facts.org_unit_path, &facts.account_manager))
    }

    /// An expense the caller sees, with its history.
    pub async fn gift_expense(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<GiftExpenseView, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let name = resource_name::format("giftExpenses", id);
        let row = store::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        if !self.sees_expense(&mut conn, caller, &row).await? {
            return Err(ServiceError::not_found(name));
        }
        let steps = store::steps(&mut conn, &[id]).await?;
        Ok(GiftExpenseView { row, steps })
    }

    /// The histories of `rows`, each with its own.
    pub async fn gift_expenses_with_steps(
        &self,
        rows: Vec<GiftExpenseRow>,
    ) -> Result<Vec<GiftExpenseView>, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut by_expense: HashMap<Uuid, Vec<StepRow>> = HashMap::new();
        for step in store::steps(&mut conn, &ids).await? {
            by_expense
                .entry(step.gift_expense_id)
                .or_default()
                .push(step);
        }
        Ok(rows
            .into_iter()
            .map(|row| GiftExpenseView {
                steps: by_expense.remove(&row.id).unwrap_or_default(),
                row,
            })
            .collect())
    }

    /// Requests an expense for a customer the caller reaches, in the
    /// policy's currency.
    pub async fn create_gift_expense(
        &self,
        caller: &Caller,
        new: NewGiftExpense,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let loaded = self.policies.current().await?;
        if new.currency != loaded.value.currency {
            return Err(ServiceError::invalid(
                "gift_expense.budget.currency_code",
                format!("must be the company's currency, {}", loaded.value.currency),
            ));
        }
        let now = self.clock.now();
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "gift_expenses", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        self.reached_customer(&mut tx, caller, new.customer_id)
            .await?;
        let unit = directory::store::staff_unit(&mut tx, &caller.subject)
            .await?
            .unwrap_or_default();
        let row = GiftExpenseRow {
            id,
            customer_id: new.customer_id,
            purpose: new.purpose,
            currency: new.currency,
            budget_minor: new.budget_minor,
            approved_minor: None,
            spent_minor: None,
            state: State::Requested.as_str().to_owned(),
            requested_by: caller.subject.clone(),
            requester_unit: unit,
            requested_at: now,
            version: 1,
        };
        store::insert(&mut tx, &row).await?;
        let step = StepRow {
            gift_expense_id: id,
            action: "requested".into(),
            actor: caller.subject.clone(),
            at: now,
            note: String::new(),
            amount_minor: Some(row.budget_minor),
        };
        store::insert_step(&mut tx, &step).await?;
        announce(&mut tx, &row, State::Requested, &step).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Takes a step of an expense: approve, refuse, record what it cost, or
    /// withdraw it. Whoever is not the requester must reach the customer (a
    /// supervisor's subtree) even to see it, so an approver always does.
    pub async fn step_gift_expense(
        &self,
        caller: &Caller,
        id: Uuid,
        step: GiftStep,
        expected_version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let loaded = self.policies.current().await?;
        let policy = &loaded.value.policy.gift_expenses;
        let name = resource_name::format("giftExpenses", id);
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row = store::lock(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&name))?;
        if !self.sees_expense(&mut tx, caller, &row).await? {
            return Err(ServiceError::not_found(name));
        }
        etag::check(expected_version, row.version, &name)?;
        let from = state_of(&row)?;
        let to = rules::next(from, step.domain())
            .map_err(|e| ServiceError::FailedPrecondition(format!("{name}: {e}")))?;
        let refused = |e: ApprovalRefused| match e {
            ApprovalRefused::AboveLimit {
                amount_minor,
                limit_minor,
            } => ServiceError::PermissionDenied(format!(
                "{} may approve gift expenses up to {}; {} is above that limit: ask someone \
                 whose authority covers it",
                caller.subject,
                amount_in(&row.currency, limit_minor),
                amount_in(&row.currency, amount_minor)
            )),
            other => ServiceError::PermissionDenied(format!("{}: {other}", caller.subject)),
        };
        let (change, note, amount_minor) = match step {
            GiftStep::Approve { amount, note } => {
                let amount = match amount {
                    None => row.budget_minor,
                    Some((currency, _)) if currency != row.currency => {
                        return Err(ServiceError::invalid(
                            "amount.currency_code",
                            format!("must be the expense's currency, {}", row.currency),
                        ));
                    }
                    Some((_, amount)) if amount > row.budget_minor => {
                        return Err(ServiceError::invalid(
                            "amount",
                            format!(
                                "must not be above the budget of {}",
                                amount_in(&row.currency, row.budget_minor)
                            ),
                        ));
                    }
                    Some((_, amount)) => amount,
                };
                rules::check_approval(
                    policy,
                    &caller.subject,
                    &caller.roles,
                    &row.requested_by,
                    amount,
                )
                .map_err(refused)?;
                (
                    Change::Approved {
                        amount_minor: amount,
                    },
                    note,
                    Some(amount),
                )
            }
            GiftStep::Refuse { note } => {
                rules::check_refusal(policy, &caller.subject, &caller.roles, &row.requested_by)
                    .map_err(refused)?;
                (Change::Refused, note, None)
            }
            GiftStep::RecordSpending {
                currency,
                amount_minor,
                note,
            } => {
                if currency != row.currency {
                    return Err(ServiceError::invalid(
                        "amount.currency_code",
                        format!("must be the expense's currency, {}", row.currency),
                    ));
                }
                let approved = row.approved_minor.unwrap_or(row.budget_minor);
                rules::check_spending(
                    policy,
                    approved,
                    amount_minor,
                    !patron_vocab::text::is_blank(&note),
                )
                .map_err(|e| match e {
                    SpendingRefused::NoteNeeded { .. } => ServiceError::invalid(
                        "note",
                        format!(
                            "is required: {} is above the approved {}; say why",
                            amount_in(&row.currency, amount_minor),
                            amount_in(&row.currency, approved)
                        ),
                    ),
                    SpendingRefused::AboveAllowed { most_minor, .. } => {
                        ServiceError::FailedPrecondition(format!(
                            "{name}: {} is above what the policy allows for an approval of {}: \
                             at most {}; ask for a new approval",
                            amount_in(&row.currency, amount_minor),
                            amount_in(&row.currency, approved),
                            amount_in(&row.currency, most_minor)
                        ))
                    }
                })?;
                (Change::Spent { amount_minor }, note, Some(amount_minor))
            }
            GiftStep::Withdraw { note } => {
                if row.requested_by != caller.subject {
                    return Err(ServiceError::PermissionDenied(format!(
                        "only {} who asked for {name} may withdraw it",
                        row.requested_by
                    )));
                }
                (Change::Withdrawn, note, None)
            }
        };
        store::apply(&mut tx, id, &change, now).await?;
        let step = StepRow {
            gift_expense_id: id,
            action: step_action(&change).to_owned(),
            actor: caller.subject.clone(),
            at: now,
            note,
            amount_minor,
        };
        store::insert_step(&mut tx, &step).await?;
        announce(&mut tx, &row, to, &step).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The month `year`-`month` (the company's zone): what was requested,
    /// approved, refused and spent in it, per manager and per unit.
    pub async fn gift_expense_report(
        &self,
        caller: &Caller,
        year: i32,
        month: u32,
    ) -> Result<MonthReport, ServiceError> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| ServiceError::invalid("month", "must be 1 to 12"))?;
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .ok_or_else(|| ServiceError::invalid("year", "is out of range"))?;
        let bound = |day: NaiveDate| -> Result<DateTime<Utc>, ServiceError> {
            patron_vocab::calendar::start_of_day(day, &self.zone).ok_or_else(|| {
                ServiceError::invalid("month", "has no midnight in the company's zone")
            })
        };
        let (from, until) = (bound(first)?, bound(next)?);
        let loaded = self.policies.current().await?;
        let reach = self.reach(caller).await?;
        let per_manager = store::month_figures(
            &self.pool,
            from,
            until,
            GroupBy::Requester,
            &reach,
            &caller.subject,
        )
        .await?;
        let per_unit = store::month_figures(
            &self.pool,
            from,
            until,
            GroupBy::Unit,
            &reach,
            &caller.subject,
        )
        .await?;
        Ok(MonthReport {
            per_manager,
            per_unit,
            currency: loaded.value.currency.clone(),
        })
    }
}

fn step_action(change: &Change) -> &'static str {
    match change {
        Change::Approved { .. } => Move::Approve.action(),
        Change::Refused => Move::Refuse.action(),
        Change::Spent { .. } => Move::RecordSpending.action(),
        Change::Withdrawn => Move::Withdraw.action(),
    }
}

/// Writes the step's event into the outbox, in the step's transaction.
async fn announce(
    tx: &mut PgConnection,
    row: &GiftExpenseRow,
    state: State,
    step: &StepRow,
) -> Result<(), ServiceError> {
    let customer = resource_name::format("customers", row.customer_id);
    let event = pb::GiftExpenseChanged {
        gift_expense: resource_name::format("giftExpenses", row.id),
        customer: customer.clone(),
        requested_by: staff_name(&row.requested_by),
        state: state_to_wire(state.as_str()) as i32,
        step: Some(step_to_wire(step, &row.currency)),
    };
    events::enqueue(tx, &customer, &event, step.at).await?;
    Ok(())
}
