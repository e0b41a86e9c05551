//! The TransactionService gRPC API: recording a customer's transactions
//! (applied once per external id), listing and summing them.

use chrono::{DateTime, SubsecRound, Utc};
use patron_kit::auth;
use patron_kit::clock::SharedClock;
use patron_kit::{ServiceError, Violations, paging, resource_name, timestamp};
use patron_proto::common::v1::Money as WireMoney;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::transaction_service_server::TransactionService;
use patron_vocab::roles::Permission;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::transaction::{Quantity, check_external_id, check_occurred_at};
use crate::store::transactions::{self as store, TransactionRow};
use crate::transaction_writer::{PreparedTransaction, TransactionWriter, Written};
use patron_kit::group_commit::GroupCommit;
use patron_vocab::money::Money;

/// The transaction API's state.
#[derive(Clone)]
pub struct TransactionApi {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub access: crate::access::AccessControl,
    /// Writes recorded transactions in groups.
    pub writer: GroupCommit<TransactionWriter>,
}

fn parent_id(parent: &str) -> Result<Uuid, ServiceError> {
    resource_name::parse("parent", "customers", parent)
}

pub(crate) fn name_of(row: &TransactionRow) -> String {
    format!("customers/{}/transactions/{}", row.customer_id, row.id)
}

fn to_wire(row: &TransactionRow) -> pb::Transaction {
    pb::Transaction {
        refunded_transaction: refunded_name(row),
        name: name_of(row),
        external_id: row.external_id.clone(),
        kind: i32::from(row.kind),
        occur_time: Some(timestamp::to_proto(row.occurred_at)),
        product: row.product.clone(),
        quantity: Quantity::from_milli(row.quantity_milli).to_decimal(),
        unit: row.unit.clone(),
        amount: Some(WireMoney {
            currency_code: row.currency.trim().to_owned(),
            amount_minor: row.amount_minor,
        }),
        payment_method: i32::from(row.payment_method),
        channel: row.channel.clone(),
        order_number: row.order_number.clone(),
        create_time: Some(timestamp::to_proto(row.created_at)),
        created_by: row.created_by.clone(),
    }
}

/// The name of the purchase a refund takes back (the same customer's), or
/// empty.
pub(crate) fn refunded_name(row: &TransactionRow) -> String {
    row.refunds_id
        .map(|id| format!("customers/{}/transactions/{id}", row.customer_id))
        .unwrap_or_default()
}

/// How the request names the purchase a refund takes back: a transaction
/// name (which must be the customer's) or an external id.
pub(crate) fn purchase_ref(
    refunded: &str,
    customer_id: Uuid,
) -> Result<Option<store::PurchaseRef>, &'static str> {
    let refunded = refunded.trim();
    if refunded.is_empty() {
        return Ok(None);
    }
    if refunded.starts_with("customers/") {
        let mut parts = refunded.split('/');
        let (Some(_), Some(customer), Some("transactions"), Some(id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err("must be customers/{customer}/transactions/{id} or an external id");
        };
        let (Ok(customer), Ok(id)) = (Uuid::parse_str(customer), Uuid::parse_str(id)) else {
            return Err("must be customers/{customer}/transactions/{id} or an external id");
        };
        if customer != customer_id {
            return Err("must be a purchase of the same customer");
        }
        return Ok(Some(store::PurchaseRef::Id(id)));
    }
    check_external_id(refunded)?;
    Ok(Some(store::PurchaseRef::ExternalId(refunded.to_owned())))
}

/// Checks a wire transaction, naming each bad field under `transaction.`:
/// the row to record, and the purchase a refund names (when it names one).
fn parse(
    t: &pb::Transaction,
    customer_id: Uuid,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<(TransactionRow, Option<store::PurchaseRef>), Violations> {
    let mut v = Violations::new();
    let mut bad = |field: &str, why: &str| v.add(format!("transaction.{field}"), why);

    if let Err(why) = check_external_id(&t.external_id) {
        bad("external_id", why);
    }
    let kind = match pb::TransactionKind::try_from(t.kind) {
        Ok(pb::TransactionKind::Purchase) => 1,
        Ok(pb::TransactionKind::Refund) => 2,
        _ => {
            bad(
                "kind",
                "must be TRANSACTION_KIND_PURCHASE or TRANSACTION_KIND_REFUND",
            );
            0
        }
    };
    let occurred_at = match t.occur_time.as_ref().map(timestamp::from_proto) {
        None => {
            bad("occur_time", "is required");
            None
        }
        Some(None) => {
            bad("occur_time", "is not a valid time");
            None
        }
        // Postgres keeps microseconds; rounding here lets a retry compare
        // equal to what the first call stored.
        Some(Some(at)) => match check_occurred_at(at, now) {
            Ok(()) => DateTime::from_timestamp_micros(at.timestamp_micros()),
            Err(why) => {
                bad("occur_time", why);
                None
            }
        },
    };
    let product = patron_vocab::text::trim(&t.product);
    if product.is_empty() {
        bad("product", "is required");
    } else if product.chars().count() > 200 {
        bad("product", "must be at most 200 characters");
    }
    let quantity = Quantity::parse(&t.quantity)
        .map_err(|why| bad("quantity", why))
        .ok();
    let amount = match &t.amount {
        None => {
            bad("amount", "is required");
            None
        }
        Some(m) => Money::non_negative(&m.currency_code, m.amount_minor)
            .map_err(|why| bad("amount", why))
            .ok(),
    };
    if pb::PaymentMethod::try_from(t.payment_method).is_err() {
        bad("payment_method", "is not a known payment method");
    }
    let mut refunded = None;
    if !t.refunded_transaction.trim().is_empty() {
        if kind != 2 {
            bad(
                "refunded_transaction",
                "only a refund names the purchase it takes back",
            );
        } else {
            match purchase_ref(&t.refunded_transaction, customer_id) {
                Ok(named) => refunded = named,
                Err(why) => bad("refunded_transaction", why),
            }
        }
    }
    for (field, text) in [
        ("unit", &t.unit),
        ("channel", &t.channel),
        ("order_number", &t.order_number),
    ] {
        if text.chars().count() > 100 {
            bad(field, "must be at most 100 characters");
        }
    }

    match (occurred_at, quantity, amount) {
        (Some(occurred_at), Some(quantity), Some(amount)) if v.is_empty() => Ok((
            TransactionRow {
                id: resource_name::new_id(),
                customer_id,
                external_id: t.external_id.clone(),
                kind,
                occurred_at,
                product: product.to_owned(),
                quantity_milli: quantity.milli(),
                unit: t.unit.trim().to_owned(),
                amount_minor: amount.amount_minor,
                currency: amount.currency.code().to_owned(),
                payment_method: t.payment_method as i16,
                channel: t.channel.trim().to_owned(),
                order_number: t.order_number.trim().to_owned(),
                created_at: now,
                created_by: actor.to_owned(),
                // Resolved against the store under the customer's lock.
                refunds_id: None,
            },
            refunded,
        )),
        _ => Err(v),
    }
}

/// A `[start, end)` period; either end may be open.
type Period = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn period(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
) -> Result<Period, ServiceError> {
    let mut v = Violations::new();
    let mut read = |field: &str, t: Option<&prost_types::Timestamp>| match t {
        None => None,
        Some(t) => timestamp::from_proto(t).or_else(|| {
            v.add(field, "is not a valid time");
            None
        }),
    };
    let (start, end) = (read("start_time", start), read("end_time", end));
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        v.add("end_time", "must be after start_time");
    }
    v.into_result()?;
    Ok((start, end))
}

#[tonic::async_trait]
impl TransactionService for TransactionApi {
    async fn record_transaction(
        &self,
        request: Request<pb::RecordTransactionRequest>,
    ) -> Result<Response<pb::Transaction>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let customer_id = parent_id(&req.parent)?;
        let reach = self.access.reach(&caller).await?;
        let Some(transaction) = &req.transaction else {
            return Err(ServiceError::invalid("transaction", "is required").into());
        };
        let now = self.clock.now();
        let (mut row, refunded) = parse(transaction, customer_id, now, &caller.subject)
            .map_err(ServiceError::InvalidArgument)?;
        // As PostgreSQL keeps it, so the event and a retry's comparison see
        // the instant stored.
        row.occurred_at = row.occurred_at.trunc_subsecs(6);

        let written = self
            .writer
            .submit(PreparedTransaction {
                caller,
                reach,
                parent: req.parent,
                row,
                refunded,
                now,
                traceparent: patron_kit::events::current_traceparent(),
            })
            .await?;
        Ok(match written {
            Written::New(stored) => Response::new(to_wire(&stored)),
            Written::Replayed(existing) => patron_kit::idempotency::replayed(to_wire(&existing)),
        })
    }

    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let customer_id = parent_id(&req.parent)?;
        self.access.require_customer(&caller, customer_id).await?;
        let limit = paging::page_size("page_size", req.page_size)?;
        let (start, end) = period(req.start_time.as_ref(), req.end_time.as_ref())?;
        let fingerprint = paging::filter_fingerprint(&[
            &req.parent,
            &start.map(|t| t.to_rfc3339()).unwrap_or_default(),
            &end.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ]);
        let after: Option<(DateTime<Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        // One extra row tells whether another page follows.
        let rows = store::list(&self.pool, customer_id, start, end, after, limit + 1).await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| (r.occurred_at, r.id));
        Ok(Response::new(pb::ListTransactionsResponse {
            transactions: rows.iter().map(to_wire).collect(),
            next_page_token,
        }))
    }

    async fn summarize_transactions(
        &self,
        request: Request<pb::SummarizeTransactionsRequest>,
    ) -> Result<Response<pb::TransactionSummary>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let customer_id = parent_id(&req.parent)?;
        self.access.require_customer(&caller, customer_id).await?;
        let (start, end) = period(req.start_time.as_ref(), req.end_time.as_ref())?;
        let sums = store::summarize(&self.pool, customer_id, start, end).await?;
        let money = |currency: &str, amount_minor: i64| {
            Some(WireMoney {
                currency_code: currency.trim().to_owned(),
                amount_minor,
            })
        };
        let mut totals = Vec::with_capacity(sums.len());
        for s in &sums {
            // Amounts are bounded, so this cannot overflow for any real
            // history; it is checked all the same rather than wrapping.
            let net = s.purchased.checked_sub(s.refunded).ok_or_else(|| {
                ServiceError::internal(anyhow::anyhow!(
                    "the net of {} overflows for {customer_id}",
                    s.currency
                ))
            })?;
            totals.push(pb::CurrencyTotals {
                purchased: money(&s.currency, s.purchased),
                refunded: money(&s.currency, s.refunded),
                net: money(&s.currency, net),
                largest_purchase: money(&s.currency, s.largest_purchase),
            });
        }
        Ok(Response::new(pb::TransactionSummary {
            parent: req.parent,
            totals,
            purchase_count: sums.iter().map(|s| s.purchases).sum(),
            refund_count: sums.iter().map(|s| s.refunds).sum(),
            first_time: sums
                .iter()
                .map(|s| s.first_at)
                .min()
                .map(timestamp::to_proto),
            last_time: sums
                .iter()
                .map(|s| s.last_at)
                .max()
                .map(timestamp::to_proto),
        }))
    }
}
