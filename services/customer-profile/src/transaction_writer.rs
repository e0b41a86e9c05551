//! RecordTransaction's writes, grouped (`patron_kit::group_commit`): the
//! transactions recorded while a group commits form the next, which locks
//! its customers, checks each caller's reach and the customer's exit against
//! what it holds locked, and inserts the transactions with their events in
//! one statement, in one database transaction with one commit. A recorded
//! transaction then pays a share of four round trips (BEGIN, the lock, the
//! insert, the commit) and of one flush of the write-ahead log instead of
//! its own. A refund that names its purchase is the exception: it is
//! checked and written on its own, after the group's jobs before it.
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
    /// The purchase a refund takes back, when the request names one.
    pub refunded: Option<PurchaseRef>,
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
    let mut answers: Vec<Option<Result<Written, ServiceError>>> =
        std::iter::repeat_with(|| None).take(jobs.len()).collect();
    // Checked jobs waiting to be inserted together. A refund that names its
    // purchase is written alone, after those before it (the purchase may be
    // among them, and it must see earlier refunds of the same purchase);
    // so is a job repeating a waiting job's external id (a retry sent while
    // the first was queued), which then finds the first's row.
    let mut waiting = Waiting::default();
    for (i, job) in jobs.iter().enumerate() {
        if let Err(refused) = check(job, locked.get(&job.row.customer_id)) {
            answers[i] = Some(Err(refused));
            continue;
        }
        if job.refunded.is_some() || waiting.holds(&job.row.external_id) {
            waiting.insert(tx, jobs, &mut answers).await?;
        }
        let mut row = job.row.clone();
        if let Some(by) = &job.refunded {
            // The customer's lock and the purchase's keep two refunds of
            // one purchase from both taking back what only one may.
            match refunded_purchase(tx, &row, by).await? {
                Ok(id) => row.refunds_id = Some(id),
                Err(refused) => {
                    answers[i] = Some(Err(refused));
                    continue;
                }
            }
        }
        waiting.push(i, row);
    }
    waiting.insert(tx, jobs, &mut answers).await?;
    Ok(answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(ServiceError::internal(anyhow::anyhow!(
                    "a job of the group was not answered"
                )))
            })
        })
        .collect())
}

/// Whether `job` may be written to its customer as locked (`None`: no such
/// customer, or deleted): the caller's reach, the customer's exit.
fn check(job: &PreparedTransaction, locked: Option<&LockedCustomer>) -> Result<(), ServiceError> {
    let Some(locked) = locked else {
        return Err(ServiceError::not_found(&job.parent));
    };
    crate::access::ensure_covers(
        &job.caller,
        &job.reach,
        job.row.customer_id,
        &locked.unit_path,
        &locked.account_manager,
    )?;
    exit::check_transaction(job.row.kind == 1, job.row.occurred_at, locked.exited_at)
        .map_err(|why| ServiceError::FailedPrecondition(format!("{}: {why}", job.parent)))
}

/// Checked jobs of a group not yet inserted: their places in the group and
/// their rows as they will be stored.
#[derive(Default)]
struct Waiting {
    jobs: Vec<(usize, TransactionRow)>,
}

impl Waiting {
    fn holds(&self, external_id: &str) -> bool {
        self.jobs
            .iter()
            .any(|(_, row)| row.external_id == external_id)
    }

    fn push(&mut self, job: usize, row: TransactionRow) {
        self.jobs.push((job, row));
    }

    /// Inserts the waiting rows, with their events, in one statement and
    /// answers their jobs: the outer `Err` fails the group.
    async fn insert(
        &mut self,
        tx: &mut PgConnection,
        jobs: &[PreparedTransaction],
        answers: &mut [Option<Result<Written, ServiceError>>],
    ) -> Result<(), ServiceError> {
        if self.jobs.is_empty() {
            return Ok(());
        }
        let waiting = std::mem::take(&mut self.jobs);
        let mut events = EventBatch::default();
        let mut rows = Vec::with_capacity(waiting.len());
        for (i, row) in &waiting {
            let job = &jobs[*i];
            events.push_traced(
                &job.parent,
                &recorded_event(&job.parent, row),
                job.now,
                job.traceparent.clone(),
            );
            let change = Change {
                actor: &job.caller.subject,
                at: job.now,
            };
            rows.push((row, change));
        }
        let recorded = store::insert_many(tx, &rows, events).await?;
        for ((i, row), found) in waiting.iter().zip(recorded) {
            answers[*i] = Some(match found {
                Recorded::New(new) => Ok(Written::New(new)),
                Recorded::Existing(existing) if existing.same_facts(row) => {
                    Ok(Written::Replayed(existing))
                }
                // Word for word the same whoever's record holds the id: the
                // answer says nothing of it, nor whether it is this customer's.
                Recorded::Existing(_) => Err(ServiceError::AlreadyExists(format!(
                    "external id {} cannot be used for this transaction: a retry must repeat the first request exactly, and a new transaction needs an external id of its own",
                    row.external_id
                ))),
            });
        }
        Ok(())
    }
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
    by: &PurchaseRef,
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
