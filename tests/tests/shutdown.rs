//! A graceful stop under load: customer-profile is stopped while many
//! RecordTransaction calls are in flight. Every call the service accepted
//! is answered and stored, every other one is refused as UNAVAILABLE (or
//! CANCELLED), and every event those calls committed reaches its stream
//! exactly once, before the stop and after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use patron_customer_profile as profile;
use patron_kit::auth::Authenticator;
use patron_kit::clock::{Clock, ManualClock};
use patron_kit::testing::{self, TestDatabase};
use patron_proto::common::v1::Money;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use patron_suite_tests::{profile_config, wait_until_serving};
use redis::AsyncCommands;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request};

/// Callers at once, over a few connections.
const WORKERS: usize = 24;
const CONNECTIONS: usize = 3;
/// Answered calls after which the stop comes, mid-load.
const STOP_AFTER: usize = 150;

struct Running {
    url: String,
    shutdown: CancellationToken,
    served: JoinHandle<anyhow::Result<()>>,
}

async fn start_profile(
    db: &TestDatabase,
    cache: &patron_kit::cache::CacheConfig,
    auth: &patron_kit::auth::AuthConfig,
    clock: &ManualClock,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = profile_config(addr, db.service_config(profile::SCHEMA), cache, auth, clock);
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(profile::serve(config, listener, shutdown.clone()));
    let url = format!("http://{addr}");
    wait_until_serving(&url).await;
    Running {
        url,
        shutdown,
        served,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.served
            .await
            .expect("the service's task")
            .expect("the service stops cleanly");
    }
}

fn authorized<T>(bearer: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().expect("a header value"));
    request
}

fn purchase(
    customer: &str,
    external_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> pb::RecordTransactionRequest {
    pb::RecordTransactionRequest {
        parent: customer.to_owned(),
        transaction: Some(pb::Transaction {
            external_id: external_id.to_owned(),
            kind: pb::TransactionKind::Purchase as i32,
            occur_time: Some(patron_kit::timestamp::to_proto(at)),
            product: "checkup".into(),
            amount: Some(Money {
                currency_code: "CNY".into(),
                amount_minor: 9_900,
            }),
            ..Default::default()
        }),
    }
}

async fn connect(url: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .expect("a URL")
        .connect()
        .await
        .expect("connected")
}

/// Each outbox topic's event ids, in the order the relay numbered them.
async fn outbox_events(db: &TestDatabase) -> BTreeMap<String, Vec<uuid::Uuid>> {
    let rows: Vec<(String, uuid::Uuid)> =
        sqlx::query_as("SELECT topic, event_id FROM profile.outbox ORDER BY topic, number, seq")
            .fetch_all(&mut db.admin_connection().await)
            .await
            .expect("the outbox");
    let mut topics: BTreeMap<String, Vec<uuid::Uuid>> = BTreeMap::new();
    for (topic, id) in rows {
        topics.entry(topic).or_default().push(id);
    }
    topics
}

async fn unpublished(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM profile.outbox WHERE published_at IS NULL")
        .fetch_one(&mut db.admin_connection().await)
        .await
        .expect("the outbox")
}

/// The event ids on `topic`'s stream, in stream order.
async fn stream_events(prefix: &str, topic: &str) -> Vec<uuid::Uuid> {
    let mut redis = redis::Client::open(testing::redis_url())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let entries: redis::streams::StreamRangeReply = redis
        .xrange_all(patron_kit::events::stream_key(prefix, topic))
        .await
        .expect("the stream");
    entries
        .ids
        .iter()
        .map(|entry| {
            let id: String = entry.get("event_id").expect("an event id");
            id.parse().expect("a UUID")
        })
        .collect()
}

/// A call the client would not send on a connection the server is closing
/// gracefully (its GOAWAY came first): never processed, though tonic names it
/// INTERNAL; the kit's callers and the gateway take it as UNAVAILABLE.
fn refused_by_goaway(status: &tonic::Status) -> bool {
    let source = format!("{:?}", std::error::Error::source(status));
    patron_kit::calls::transport_failure_is_unavailable(status.clone()).code() == Code::Unavailable
        && source.contains("GoAway(")
        && source.contains("NO_ERROR")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_under_load_answers_every_accepted_call_and_publishes_every_event_once() {
    let db = TestDatabase::create(&[profile::SCHEMA]).await;
    let cache = testing::cache_config();
    let auth_config = testing::auth_config();
    let clock = testing::test_clock();
    let bearer = format!(
        "Bearer {}",
        Authenticator::new(&auth_config).mint(
            "staff-9",
            &["admin".into()],
            chrono::Utc::now(),
            Duration::from_secs(600),
        )
    );
    let first = start_profile(&db, &cache, &auth_config, &clock).await;

    let channels: Vec<Channel> =
        futures::future::join_all((0..CONNECTIONS).map(|_| connect(&first.url))).await;
    let mut customers = Vec::new();
    for i in 0..8 {
        let created = CustomerServiceClient::new(channels[0].clone())
            .create_customer(authorized(
                &bearer,
                pb::CreateCustomerRequest {
                    customer: Some(pb::Customer {
                        kind: pb::CustomerKind::Person as i32,
                        display_name: format!("Shutdown {i}"),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("customer created");
        customers.push(created.into_inner().name);
    }
    let customers = Arc::new(customers);

    // Each caller records purchases until one is not answered; the caller
    // whose answer is the STOP_AFTER-th stops the service, so the stop
    // comes while the others' calls are in flight.
    let answered = Arc::new(AtomicUsize::new(0));
    let now = clock.now();
    let callers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let mut client = TransactionServiceClient::new(channels[worker % CONNECTIONS].clone());
            let (customers, answered, bearer) =
                (customers.clone(), answered.clone(), bearer.clone());
            let shutdown = first.shutdown.clone();
            tokio::spawn(async move {
                let mut ok = Vec::new();
                for i in 0..5_000 {
                    let external_id = format!("SHUT-{worker}-{i}");
                    let customer = &customers[(worker + i) % customers.len()];
                    let request = authorized(&bearer, purchase(customer, &external_id, now));
                    match client.record_transaction(request).await {
                        Ok(_) => {
                            ok.push(external_id);
                            if answered.fetch_add(1, Ordering::SeqCst) + 1 == STOP_AFTER {
                                shutdown.cancel();
                            }
                        }
                        Err(status) => return (ok, Some(status)),
                    }
                }
                (ok, None)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut refusals = Vec::new();
    for caller in callers {
        let (ok, refusal) = caller.await.expect("a caller");
        accepted.extend(ok);
        refusals.extend(refusal);
    }
    first
        .served
        .await
        .expect("the service's task")
        .expect("the service stops cleanly");

    assert!(accepted.len() >= STOP_AFTER, "{} answered", accepted.len());
    assert_eq!(
        refusals.len(),
        WORKERS,
        "every caller was refused at the end"
    );
    for status in &refusals {
        assert!(
            matches!(status.code(), Code::Unavailable | Code::Cancelled)
                || refused_by_goaway(status),
            "a call ended otherwise than refused: {status:?}"
        );
    }
    // Exactly the answered calls are stored: none was cut off after its
    // commit, none answered without one.
    let mut stored: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM profile.transactions")
            .fetch_all(&mut db.admin_connection().await)
            .await
            .expect("transactions");
    stored.sort();
    accepted.sort();
    assert_eq!(stored, accepted);
    // The relay stopped after the calls: what they committed is published.
    assert_eq!(unpublished(&db).await, 0, "events left in the outbox");
    let transactions_topic = patron_kit::events::topics::PROFILE_TRANSACTIONS.name();
    let outbox = outbox_events(&db).await;
    assert_eq!(
        outbox.get(transactions_topic).map_or(0, Vec::len),
        accepted.len(),
        "one event per stored transaction"
    );

    // After a restart the relay publishes nothing twice, and new events
    // still flow.
    let second = start_profile(&db, &cache, &auth_config, &clock).await;
    TransactionServiceClient::new(connect(&second.url).await)
        .record_transaction(authorized(
            &bearer,
            purchase(&customers[0], "SHUT-after-restart", now),
        ))
        .await
        .expect("recorded after the restart");
    second.stop().await;
    assert_eq!(unpublished(&db).await, 0, "events left in the outbox");
    let outbox = outbox_events(&db).await;
    assert_eq!(
        outbox.get(transactions_topic).map_or(0, Vec::len),
        accepted.len() + 1
    );
    for (topic, committed) in &outbox {
        assert_eq!(
            &stream_events(&cache.key_prefix, topic).await,
            committed,
            "{topic}: every committed event on the stream exactly once, in order"
        );
    }
}
