//! One service calling another with its own identity, against a real
//! customer-profile: complaint's identity may read a customer and nothing
//! more; a call that meets UNAVAILABLE is tried again; a call that gets no
//! answer ends at its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use patron_kit::calls::{CallPolicy, Credentials, ServiceChannel, ServiceIdentity};
use patron_kit::testing::TcpProxy;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::{self as pb, Customer};
use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::json;
use tonic::Code;
use tonic::transport::Channel;

async fn customer(suite: &Suite) -> String {
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": "王丽"})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    created.body["name"].as_str().unwrap().to_owned()
}

/// Calls as complaint, at `url`.
fn complaint_calls(suite: &Suite, url: &str, policy: CallPolicy) -> ServiceChannel {
    let identity =
        ServiceIdentity::new("complaint", Credentials::Minted(suite.auth_config.clone()));
    ServiceChannel::balanced(url, identity, policy, Duration::from_secs(5)).unwrap()
}

/// GetCustomer `name`, counting the attempts.
async fn get_customer(
    calls: &ServiceChannel,
    name: &str,
    attempts: &AtomicUsize,
) -> Result<Customer, tonic::Status> {
    calls
        .call(
            pb::GetCustomerRequest { name: name.into() },
            |channel: Channel, request| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    CustomerServiceClient::new(channel)
                        .get_customer(request)
                        .await
                }
            },
        )
        .await
}

/// A proxy in front of the suite's customer-profile.
async fn proxy_to_profile(suite: &Suite) -> Arc<TcpProxy> {
    let target = suite.profile_url.trim_start_matches("http://");
    Arc::new(TcpProxy::start(target).await)
}

#[tokio::test]
async fn complaint_reads_a_customer_as_itself_and_may_not_edit_one() {
    let suite = Suite::start().await;
    let name = customer(&suite).await;
    let calls = complaint_calls(&suite, &suite.profile_url, CallPolicy::default());

    let attempts = AtomicUsize::new(0);
    let read = get_customer(&calls, &name, &attempts).await.unwrap();
    assert_eq!(read.display_name, "王丽");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);

    let edit = calls
        .call(
            pb::UpdateCustomerRequest {
                customer: Some(Customer {
                    name: name.clone(),
                    display_name: "someone else".into(),
                    etag: read.etag.clone(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            |channel, request| async move {
                CustomerServiceClient::new(channel)
                    .update_customer(request)
                    .await
            },
        )
        .await
        .unwrap_err();
    assert_eq!(edit.code(), Code::PermissionDenied, "{edit:?}");
    assert!(edit.message().contains("service:complaint"), "{edit:?}");
}

#[tokio::test]
async fn a_call_that_meets_unavailable_is_tried_again() {
    let suite = Suite::start().await;
    let name = customer(&suite).await;
    let proxy = proxy_to_profile(&suite).await;
    let url = format!("http://{}", proxy.addr());
    let policy = CallPolicy {
        deadline: Duration::from_secs(10),
        attempts: 6,
        first_backoff: Duration::from_millis(100),
    };
    let calls = complaint_calls(&suite, &url, policy);

    // Profile is out of reach for the first attempts, then back.
    proxy.cut();
    let restore = tokio::spawn({
        let proxy = proxy.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            proxy.restore();
        }
    });
    let attempts = AtomicUsize::new(0);
    let read = get_customer(&calls, &name, &attempts).await.unwrap();
    assert_eq!(read.name, name);
    assert!(
        attempts.load(Ordering::SeqCst) >= 2,
        "the first attempt met UNAVAILABLE"
    );
    restore.await.unwrap();

    // Out of reach for good: the attempts are bounded.
    proxy.cut();
    let attempts = AtomicUsize::new(0);
    let calls = calls.with_policy(CallPolicy {
        attempts: 3,
        ..policy
    });
    let err = get_customer(&calls, &name, &attempts).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_call_without_an_answer_ends_at_its_deadline() {
    let suite = Suite::start().await;
    let name = customer(&suite).await;
    let proxy = proxy_to_profile(&suite).await;
    let url = format!("http://{}", proxy.addr());
    let policy = CallPolicy {
        deadline: Duration::from_millis(400),
        attempts: 3,
        first_backoff: Duration::from_millis(50),
    };
    let calls = complaint_calls(&suite, &url, policy);

    // Connections stay open but nothing comes back.
    proxy.stall();
    let started = Instant::now();
    let attempts = AtomicUsize::new(0);
    let err = get_customer(&calls, &name, &attempts).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "a deadline is not retried"
    );
}
