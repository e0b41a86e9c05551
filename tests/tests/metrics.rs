//! What an operator's Prometheus reads: each service's `/metrics` counts
//! the calls it answered by status code, and shows its outbox, its consumer
//! group, dead letters, due work, pools and dependencies.

use std::collections::BTreeMap;
use std::time::Duration;

use patron_kit::metrics::http::HttpMetrics;
use patron_kit::metrics::{Metrics, exposed_families};
use patron_proto::profile::v1::GetCustomerRequest;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::json;

/// One sample: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format's samples; panics on a line that is neither a
/// comment nor a sample, so a malformed exposition fails the test.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|e| panic!("{line}: value: {e}"));
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').expect("labels end with }");
                    let labels = inner
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}: metric name"
            );
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

async fn scrape(suite: &Suite, service: &str) -> (String, Vec<Sample>) {
    let url = &suite.metrics_urls[service];
    let response = suite.http.get(url).send().await.expect("metrics answer");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("a body");
    let samples = parse(&text);
    (text, samples)
}

/// Scrapes `service` until `ready` holds of its samples (the states are
/// read every 200 ms, events travel in the background).
async fn scrape_until(
    suite: &Suite,
    service: &str,
    what: &str,
    ready: impl Fn(&[Sample]) -> bool,
) -> Vec<Sample> {
    for _ in 0..300 {
        let (_, samples) = scrape(suite, service).await;
        if ready(&samples) {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (text, _) = scrape(suite, service).await;
    panic!("{service}: {what} not seen within 30 s:\n{text}");
}

#[tokio::test]
async fn calls_by_code_and_event_flow_are_exported() {
    let suite = Suite::start_measured().await;
    assert_eq!(
        suite.metrics_urls.keys().collect::<Vec<_>>(),
        ["complaint", "gateway", "profile", "scheduling", "tiering"]
    );

    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": "周明"})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let missing = suite
        .admin(
            Method::GET,
            "/v1/customers/0190d4a0-0000-7000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    // Straight to the service without a token: refused before any handler.
    let refused = CustomerServiceClient::connect(suite.profile_url.clone())
        .await
        .expect("connect to profile")
        .get_customer(GetCustomerRequest {
            name: created.body["name"].as_str().unwrap().to_owned(),
        })
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let (text, samples) = scrape(&suite, "profile").await;
    let handled = |method: &str, code: &str| {
        value(
            &samples,
            "grpc_server_handled_total",
            &[
                ("grpc_service", "patron.profile.v1.CustomerService"),
                ("grpc_method", method),
                ("grpc_code", code),
            ],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(handled("CreateCustomer", "OK"), 1.0, "{text}");
    assert_eq!(handled("GetCustomer", "NotFound"), 1.0, "{text}");
    assert_eq!(handled("GetCustomer", "Unauthenticated"), 1.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "grpc_server_started_total",
            &[("grpc_method", "GetCustomer")]
        ),
        Some(2.0)
    );
    // Every call observed once in the histogram, its +Inf bucket the count.
    let count = value(
        &samples,
        "grpc_server_handling_seconds_count",
        &[("grpc_method", "GetCustomer")],
    );
    let inf = value(
        &samples,
        "grpc_server_handling_seconds_bucket",
        &[("grpc_method", "GetCustomer"), ("le", "+Inf")],
    );
    assert_eq!((count, inf), (Some(2.0), Some(2.0)), "{text}");

    // The gateway counts what it answered, by method and status.
    let (text, gateway) = scrape(&suite, "gateway").await;
    let answered = |method: &str, status: &str| {
        value(
            &gateway,
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", method),
                ("http_response_status_code", status),
            ],
        )
    };
    assert_eq!(answered("POST", "200"), Some(1.0), "{text}");
    assert_eq!(answered("GET", "404"), Some(1.0), "{text}");

    // The customer's event leaves profile's outbox and reaches tiering's
    // group; both sides show it.
    scrape_until(&suite, "profile", "an empty outbox after the relay", |s| {
        value(s, "patron_outbox_unpublished_events", &[]) == Some(0.0)
            && value(s, "patron_outbox_oldest_unpublished_age_seconds", &[]) == Some(0.0)
            && value(s, "patron_outbox_published_events_total", &[]).unwrap_or(0.0) >= 1.0
    })
    .await;
    // Delivered (no lag) and acknowledged (none pending) once applied.
    let tiering = scrape_until(&suite, "tiering", "the event applied, no lag", |s| {
        let applied = value(
            s,
            "patron_events_handled_total",
            &[("group", "tiering"), ("outcome", "applied")],
        );
        let customers = [("group", "tiering"), ("topic", "profile.customers")];
        applied.unwrap_or(0.0) >= 1.0
            && value(s, "patron_events_consumer_lag", &customers) == Some(0.0)
            && value(s, "patron_events_consumer_pending", &customers) == Some(0.0)
    })
    .await;
    assert_eq!(
        value(
            &tiering,
            "patron_events_dead_letters",
            &[("group", "tiering")]
        ),
        Some(0.0)
    );
    for dependency in ["postgres", "cache_redis", "events_redis"] {
        assert_eq!(
            value(
                &tiering,
                "patron_dependency_up",
                &[("dependency", dependency)]
            ),
            Some(1.0),
            "{dependency}"
        );
    }
    assert!(
        value(
            &tiering,
            "patron_db_pool_max_connections",
            &[("pool", "requests")]
        )
        .is_some_and(|max| max >= 1.0)
    );
    assert!(
        value(
            &tiering,
            "patron_jobs_due_items",
            &[("job", "tiering_sweep")]
        )
        .is_some()
    );

    // Each service's due work is read.
    let complaint = scrape_until(&suite, "complaint", "the deadline backlog", |s| {
        value(
            s,
            "patron_jobs_due_items",
            &[("job", "complaint_deadlines")],
        )
        .is_some()
    })
    .await;
    assert_eq!(
        value(
            &complaint,
            "patron_jobs_oldest_due_age_seconds",
            &[("job", "complaint_deadlines")]
        ),
        Some(0.0),
        "no complaint, no alarm due"
    );
    scrape_until(&suite, "scheduling", "generation's backlog", |s| {
        value(
            s,
            "patron_jobs_due_items",
            &[("job", "scheduling_generation")],
        )
        .is_some()
            && value(
                s,
                "patron_jobs_due_items",
                &[("job", "scheduling_overdue_notices")],
            )
            .is_some()
    })
    .await;

    // Whatever a service exposes is a family the alert rules may name.
    let (services, edge) = (Metrics::new(), HttpMetrics::new());
    for service in ["profile", "tiering", "complaint", "scheduling", "gateway"] {
        let registered = if service == "gateway" {
            edge.families()
        } else {
            services.families()
        };
        let (text, _) = scrape(&suite, service).await;
        for (name, kind) in exposed_families(&text) {
            assert!(
                registered.iter().any(|(n, k)| *n == name && *k == kind),
                "{service} exposes {name} ({kind}), which is not registered"
            );
        }
    }
}
