//! The write path under load: RecordTransaction, each acknowledged
//! transaction's name kept with the moment its answer came, so the events
//! it caused can be timed from there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use patron_kit::clock::SharedClock;
use patron_proto::common::v1::Money;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use tonic::transport::Channel;

use super::fixture::Caller;
use super::load::{self, Bound, Measured};

/// When each recorded transaction (`customers/{id}/transactions/{id}`) was acknowledged.
pub type Acks = Arc<Mutex<HashMap<String, Instant>>>;

/// A purchase for each call, against the customers in turn, external ids
/// `BENCH-{run}-{n}`, from `clients` concurrent clients over `channels`.
pub async fn record_transactions(
    channels: &[Channel],
    clients: usize,
    caller: &Caller,
    customers: Arc<Vec<String>>,
    run: &str,
    clock: SharedClock,
    bound: Bound,
) -> (Measured, Acks) {
    let acks: Acks = Arc::default();
    let channels = channels.to_vec();
    let caller = caller.clone();
    let run = run.to_owned();
    let acked = acks.clone();
    let measured = load::run(clients, bound, move |call| {
        let mut client =
            TransactionServiceClient::new(channels[call.worker % channels.len()].clone());
        let transaction = pb::Transaction {
            external_id: format!("BENCH-{run}-{}", call.seq),
            kind: pb::TransactionKind::Purchase as i32,
            occur_time: Some(patron_kit::timestamp::to_proto(clock.now())),
            product: "tea".into(),
            quantity: "1".into(),
            amount: Some(Money {
                currency_code: "CNY".into(),
                amount_minor: 12_800,
            }),
            ..Default::default()
        };
        let request = caller.signed(pb::RecordTransactionRequest {
            parent: customers[call.seq as usize % customers.len()].clone(),
            transaction: Some(transaction),
        });
        let acked = acked.clone();
        async move {
            let recorded = client
                .record_transaction(request)
                .await
                .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
                .into_inner();
            let at = Instant::now();
            if recorded.name.is_empty() {
                return Err("the answer names no transaction".into());
            }
            acked.lock().expect("acks").insert(recorded.name, at);
            Ok(())
        }
    })
    .await;
    (measured, acks)
}
