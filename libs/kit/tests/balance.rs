//! Calls to a service (the gateway's, and services' calls to each other) are
//! spread over every address its name resolves to, following the addresses
//! as they change.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use patron_kit::calls::balance::{self as upstream, Resolver};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A gRPC server whose health service names it: the service `who` answers
/// SERVING on one replica and NOT_SERVING on the other, so a caller can tell
/// which replica answered.
async fn replica(serving: bool) -> SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("who", status).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}

/// A resolver answering whatever the test last set, for any name.
fn fake_resolver(addrs: Arc<Mutex<Vec<SocketAddr>>>) -> Resolver {
    Arc::new(move |_host, _port| {
        let addrs = addrs.lock().unwrap().clone();
        Box::pin(async move { Ok(addrs) })
    })
}

/// Calls `who` `n` times; how many answers came from the SERVING replica
/// and how many from the other.
async fn who_answers(channel: &tonic::transport::Channel, n: usize) -> (usize, usize) {
    let mut client = HealthClient::new(channel.clone());
    let (mut a, mut b) = (0, 0);
    for _ in 0..n {
        let status = client
            .check(HealthCheckRequest {
                service: "who".into(),
            })
            .await
            .expect("a replica answers")
            .into_inner()
            .status;
        if status == ServingStatus::Serving as i32 {
            a += 1;
        } else {
            b += 1;
        }
    }
    (a, b)
}

#[tokio::test]
async fn calls_are_spread_over_every_address_a_name_resolves_to() {
    let (a, b) = (replica(true).await, replica(false).await);
    let addrs = Arc::new(Mutex::new(vec![a, b]));
    let channel = upstream::balanced_channel(
        "http://customer-profile-headless:50051",
        fake_resolver(addrs.clone()),
        Duration::from_millis(50),
    )
    .unwrap();
    // The first resolution replaces the unresolved name.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (to_a, to_b) = who_answers(&channel, 60).await;
    assert!(
        to_a >= 10 && to_b >= 10,
        "both replicas take calls: {to_a} and {to_b}"
    );

    // A replica that leaves the name's answer gets no more calls.
    *addrs.lock().unwrap() = vec![b];
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(who_answers(&channel, 20).await, (0, 20));

    // A failed resolution keeps the addresses known.
    *addrs.lock().unwrap() = vec![];
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(who_answers(&channel, 5).await, (0, 5));
}

#[tokio::test]
async fn a_list_of_urls_is_balanced_and_a_single_url_still_works() {
    let (a, b) = (replica(true).await, replica(false).await);
    let list = format!("http://{a}, http://{b}");
    let channel =
        upstream::balanced_channel(&list, upstream::system_resolver(), Duration::from_secs(5))
            .unwrap();
    let (to_a, to_b) = who_answers(&channel, 60).await;
    assert!(
        to_a >= 10 && to_b >= 10,
        "both URLs take calls: {to_a} and {to_b}"
    );

    let single = upstream::balanced_channel(
        &format!("http://{a}"),
        upstream::system_resolver(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(who_answers(&single, 3).await, (3, 0));

    assert!(
        upstream::balanced_channel(
            "not a url",
            upstream::system_resolver(),
            Duration::from_secs(5)
        )
        .is_err()
    );
}
