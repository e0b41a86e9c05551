//! One trace per request: a transaction recorded through the gateway, the
//! event profile commits, the relay's publication, tiering's handling and
//! decision, and the tier event's handling by complaint and scheduling, read
//! back from an OTLP receiver the suite exports its spans to.
//!
//! The subscriber is process-wide, so this file holds one test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use patron_kit::server::REQUEST_ID;
use patron_kit::telemetry;
use patron_proto::topics;
use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::json;
use tokio::net::TcpListener;

/// The OTLP/gRPC trace receiver: keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    /// Serves on a free loopback port; its address.
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        format!("http://{addr}")
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// The trace's spans read so far, by relation.
struct Trace(Vec<Span>);

impl Trace {
    /// The one span named `name` whose parent is `parent`.
    fn child(&self, parent: &Span, name: &str) -> Option<&Span> {
        let found: Vec<&Span> = self
            .0
            .iter()
            .filter(|s| s.parent_span_id == parent.span_id && s.name == name)
            .collect();
        assert!(found.len() <= 1, "{name} twice under {}", parent.name);
        found.first().copied()
    }

    fn names(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|s| (s.name.clone(), hex(&s.parent_span_id)))
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_transaction_is_one_trace_from_the_gateway_to_every_consumer() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let guard = telemetry::init_exporting_to("patron-suite", &endpoint, Duration::from_millis(100))
        .expect("telemetry installs once in this process");
    let suite = Suite::start().await;

    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": "Lin Mei"})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let customer = created.body["name"].as_str().unwrap().to_owned();
    // The creation's events handled first, so the transaction's arrive alone.
    suite.wait_for_tiering_to_catch_up().await;
    suite.wait_for_complaint_to_catch_up().await;
    suite.wait_for_scheduling_to_catch_up().await;

    let recorded = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}/transactions"),
            Some(
                json!({"externalId": "TRACE-1", "kind": "TRANSACTION_KIND_PURCHASE",
                "occurTime": suite.now().to_rfc3339(), "product": "checkup",
                "amount": {"currencyCode": "CNY", "amountMinor": "120000"}}),
            ),
        )
        .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    let request_id = recorded.headers[REQUEST_ID].to_str().unwrap().to_owned();
    suite.wait_for_tiering_to_catch_up().await;
    suite.wait_for_complaint_to_catch_up().await;
    suite.wait_for_scheduling_to_catch_up().await;

    let transactions = topics::PROFILE_TRANSACTIONS.name();
    let tiers = topics::TIERING_TIERS.name();
    // The spans reach the receiver a batch at a time: read until the whole
    // chain is there (or give up after generous rounds).
    let mut last = Vec::new();
    for _ in 0..300 {
        guard.flush().await.expect("spans flushed");
        let spans = receiver.spans();
        let Some(gateway) = spans
            .iter()
            .find(|s| {
                attribute(s, "request_id") == Some(request_id.as_str())
                    && s.name.starts_with("POST ")
            })
            .cloned()
        else {
            last = spans
                .iter()
                .map(|s| (s.name.clone(), hex(&s.parent_span_id)))
                .collect();
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let trace = Trace(
            spans
                .into_iter()
                .filter(|s| s.trace_id == gateway.trace_id)
                .collect(),
        );
        let chain = (|| {
            let rpc = trace.child(
                &gateway,
                "patron.profile.v1.TransactionService/RecordTransaction",
            )?;
            let publish = trace.child(rpc, &format!("publish {transactions}"))?;
            let handled = trace.child(publish, &format!("tiering process {transactions}"))?;
            let decided = trace.child(handled, "decide tiers")?;
            let tier_published = trace.child(decided, &format!("publish {tiers}"))?;
            let complaint = trace.child(tier_published, &format!("complaint process {tiers}"))?;
            let scheduling = trace.child(tier_published, &format!("scheduling process {tiers}"))?;
            Some([
                gateway.clone(),
                rpc.clone(),
                publish.clone(),
                handled.clone(),
                decided.clone(),
                tier_published.clone(),
                complaint.clone(),
                scheduling.clone(),
            ])
        })();
        let Some(chain) = chain else {
            last = trace.names();
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let [
            gateway,
            rpc,
            publish,
            handled,
            decided,
            tier_published,
            complaint,
            scheduling,
        ] = chain;
        // The gateway starts the trace: nothing came before it.
        assert!(gateway.parent_span_id.is_empty(), "{gateway:?}");
        assert_eq!(
            gateway.name, "POST /v1/{parent=customers/*}/transactions",
            "named by its route"
        );
        let kinds = [
            (&gateway, SpanKind::Server),
            (&rpc, SpanKind::Server),
            (&publish, SpanKind::Producer),
            (&handled, SpanKind::Consumer),
            (&decided, SpanKind::Internal),
            (&tier_published, SpanKind::Producer),
            (&complaint, SpanKind::Consumer),
            (&scheduling, SpanKind::Consumer),
        ];
        for (span, kind) in kinds {
            assert_eq!(span.kind, kind as i32, "{}", span.name);
            assert_eq!(span.trace_id, gateway.trace_id, "{}", span.name);
        }
        assert_eq!(
            attribute(&handled, "messaging.consumer.group.name"),
            Some("tiering")
        );
        assert_eq!(attribute(&rpc, "request_id"), Some(request_id.as_str()));
        // The readiness probes the suite waited on are not in the traces.
        let probes = receiver
            .spans()
            .into_iter()
            .filter(|s| s.name.starts_with("grpc.health.v1.Health/"))
            .count();
        assert_eq!(probes, 0, "health checks exported");
        return;
    }
    panic!("the trace never completed; its spans (name, parent): {last:?}");
}
