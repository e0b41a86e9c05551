//! RecordTransaction's writes, grouped (`patron_kit::group_commit`): the
//! transactions recorded while a group commits form the next, which locks
//! its customers, checks each caller's reach and the customer's exit against
//! what it holds locked, and inserts each transaction with its event, in
//! turn, in one database transaction with one commit. A recorded transaction
//! then pays a share of one BEGIN and one commit (and of one flush of the
//! write-ahead log) instead of its own.
//!
//! The group's customers are locked in one statement, in id order, so two
//! groups (of one replica or two) never wait on each other in a cycle. A
//! job's refusal (out of reach, exited, a refund that takes back too much,
//! an external id reused for other facts) is its own answer and leaves the
//! group's transaction usable; a statement that fails fails the group, which
//! the kit then applies one job per transaction.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use patron_kit::auth::Caller;
use patron_kit::events::EventBatch;
use patron_kit::group_commit::{GroupAnswers, GroupWork};
use patron_kit::{ServiceError, timestamp};
use patron_proto::common::v1::Money as WireMoney;
use patron_proto::profile::v1 as pb;
use patron_vocab::Change;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::exit;
use crate::domain::organisation::Reach;
use crate::domain::transaction::{RefundProblem, check_named_refund};
use crate::store::LockedCustomer;
use crate::store::transactions::{self as store, PurchaseRef, Recorded, TransactionRow};

/// At most this many transactions share a commit.
pub const MAX_GROUP: usize = 64;

/// Groups in flight at once: a group's transactions are written in turn,
/// so one writer would make every call wait for the group before it too.
/// Customers are locked in id order, so groups in flight never wait on
/// each other in a cycle.
pub const WRITERS: usize = 4;

/// A transaction checked on its own (its fields, the caller's permission
/// and reach), waiting to be written.
pub struct PreparedTransaction {
    pub caller: Caller,
    pub reach: Reach,
    /// `customers/{id}`, as the request named the customer.
    pub parent: String,
    pub row: TransactionRow,
    /// The purchase a refund takes back, as the request named it (empty
    /// when none).
    pub refunded: String,
    pub now: DateTime<Utc>,
    /// The request's trace, which the event carries on (the group is
    /// written outside the request's span).
    pub traceparent: String,
}

/// What a recorded transaction is answered.
pub enum Written {
    /// Stored by this call.
    New(TransactionRow),
    /// A retry of a transaction already stored with the same facts.
    Replayed(TransactionRow),
}

/// Writes groups of prepared transactions.
pub struct TransactionWriter;

impl GroupWork for TransactionWriter {
    type Job = PreparedTransaction;
    type Output = Written;

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [PreparedTransaction],
    ) -> BoxFuture<'a, GroupAnswers<Written>> {
        Box::pin(write_group(tx, jobs))
    }
}

async fn write_group(tx: &mut PgConnection, jobs: &[PreparedTransaction]) -> GroupAnswers<Written> {
    // Every customer of the group locked, and placed, in one statement.
    let mut customers: Vec<Uuid> = jobs.iter().map(|job| job.row.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    let locked = crate::store::lock_live_customers_placed(tx, &customers).await?;
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        answers.push(record(tx, job, locked.get(&job.row.customer_id)).await?);
    }
    Ok(answers)
}

/// Records one job in the group's transaction, its customer as locked
/// (`None`: no such customer, or deleted): the outer `Err` fails the group
/// (a statement failed), the inner one is the job's refusal.
async fn record(
    tx: &mut PgConnection,
    job: &PreparedTransaction,
    locked: Option<&LockedCustomer>,
) -> Result<Result<Written, ServiceError>, ServiceError> {
    let customer_id = job.row.customer_id;
    // The caller's reach is checked against the customer as locked.
    let Some(locked) = locked else {
        return Ok(Err(ServiceError::not_found(&job.parent)));
    };
    if let Err(refused) = crate::access::ensure_covers(
        &job.caller,
        &job.reach,
        customer_id,
        &locked.unit_path,
        &locked.account_manager,
    ) {
        return Ok(Err(refused));
    }
    if let Err(why) =
        exit::check_transaction(job.row.kind == 1, job.row.occurred_at, locked.exited_at)
    {
        return Ok(Err(ServiceError::FailedPrecondition(format!(
            "{}: {why}",
            job.parent
        ))));
    }
    let mut row = job.row.clone();
    // The customer's lock keeps two refunds of one purchase from both
    // taking back what only one of them may (in one group they are written
    // in turn, so the second sees the first).
    if let Ok(Some(by)) = crate::grpc::transactions::purchase_ref(&job.refunded, customer_id) {
        match refunded_purchase(tx, &row, by).await? {
            Ok(id) => row.refunds_id = Some(id),
            Err(refused) => return Ok(Err(refused)),
        }
    }
    // The event is written with the row, in its statement, and only if the
    // row is new.
    let mut events = EventBatch::default();
    events.push_traced(
        &job.parent,
        &recorded_event(&job.parent, &row),
        job.now,
        job.traceparent.clone(),
    );
    let change = Change {
        actor: &job.caller.subject,
        at: job.now,
    };
    Ok(match store::insert(tx, &row, change, events).await? {
        Recorded::New(new) => Ok(Written::New(new)),
        Recorded::Existing(existing) if existing.same_facts(&row) => {
            Ok(Written::Replayed(existing))
        }
        // Word for word the same whoever's record holds the id: the answer
        // says nothing of it, nor whether it is this customer's.
        Recorded::Existing(_) => Err(ServiceError::AlreadyExists(format!(
            "external id {} cannot be used for this transaction: a retry must repeat the first request exactly, and a new transaction needs an external id of its own",
            row.external_id
        ))),
    })
}

/// TransactionRecorded for `row`.
fn recorded_event(parent: &str, row: &TransactionRow) -> pb::TransactionRecorded {
    pb::TransactionRecorded {
        customer: parent.to_owned(),
        transaction: crate::grpc::transactions::name_of(row),
        kind: i32::from(row.kind),
        occur_time: Some(timestamp::to_proto(row.occurred_at)),
        product: row.product.clone(),
        quantity_milli: row.quantity_milli,
        unit: row.unit.clone(),
        amount: Some(WireMoney {
            currency_code: row.currency.trim().to_owned(),
            amount_minor: row.amount_minor,
        }),
        channel: row.channel.clone(),
        refunded_transaction: crate::grpc::transactions::refunded_name(row),
    }
}

/// The id of the purchase refund `row` names, once the refund may take it
/// back; the refusal otherwise.
async fn refunded_purchase(
    tx: &mut PgConnection,
    row: &TransactionRow,
    by: PurchaseRef<'_>,
) -> Result<Result<Uuid, ServiceError>, ServiceError> {
    let field = "transaction.refunded_transaction";
    let Some((id, purchase)) =
        store::named_purchase(tx, row.customer_id, by, &row.external_id).await?
    else {
        return Ok(Err(ServiceError::invalid(
            field,
            "names no transaction of this customer",
        )));
    };
    Ok(
        check_named_refund(&purchase, &row.currency, row.amount_minor, row.occurred_at)
            .map(|()| id)
            .map_err(|problem| match problem {
                RefundProblem::Invalid(field, why) => {
                    ServiceError::invalid(format!("transaction.{field}"), why)
                }
                RefundProblem::MoreThanPaid(why) => ServiceError::FailedPrecondition(why),
            }),
    )
}
