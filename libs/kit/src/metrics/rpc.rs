//! Per-call metrics in the server stack: every call counted when it starts,
//! counted by status code when its answer ends, and timed until then.
//!
//! A gRPC status travels either in the answer's headers (a refusal with no
//! message: "trailers-only") or in the trailers after the message, so the
//! layer reads the headers and, when the status is not there, watches the
//! body for its trailers. A call whose caller went away before the end is
//! counted as `Canceled`.
//!
//! Names and labels are those of the gRPC ecosystem's Prometheus
//! middleware (`grpc_server_handled_total{grpc_service, grpc_method,
//! grpc_code}` with Go's code names), so existing dashboards and alerts
//! read them. Method names are resolved once from the compiled descriptors
//! to strings that live as long as the process: a call only looks its path
//! up and adds to atomics, and an unknown path cannot grow the label set.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tonic::Code;
use tonic::body::Body;

use super::{HandledLabels, MethodLabels, Metrics};
use crate::descriptors;

/// The label of a status code, as Go's `codes.Code` spells it (the
/// spelling gRPC dashboards filter on).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

const UNKNOWN_METHOD: MethodLabels = MethodLabels {
    grpc_service: "unknown",
    grpc_method: "unknown",
};

/// Every method a Patron port can serve (the suite's services, health and
/// reflection), by path.
fn methods() -> &'static HashMap<String, MethodLabels> {
    static METHODS: OnceLock<HashMap<String, MethodLabels>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
        let mut all = HashMap::new();
        let mut add = |service: &str, method: &str| {
            all.insert(
                format!("/{service}/{method}"),
                MethodLabels {
                    grpc_service: leak(service),
                    grpc_method: leak(method),
                },
            );
        };
        for service in descriptors::pool().services() {
            for method in service.methods() {
                add(service.full_name(), method.name());
            }
        }
        for method in ["Check", "Watch"] {
            add(crate::server::HEALTH_SERVICE, method);
        }
        for service in [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            add(service, "ServerReflectionInfo");
        }
        all
    })
}

/// The labels of the method at gRPC path `path` (`/pkg.Service/Method`).
pub fn method_of(path: &str) -> MethodLabels {
    methods().get(path).cloned().unwrap_or(UNKNOWN_METHOD)
}

/// The status code an answer's headers or trailers carry.
fn status_in(headers: &HeaderMap) -> Option<Code> {
    let raw = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(raw.trim().parse().ok()?))
}

/// The RPC families, shared by every call of a server.
struct RpcFamilies {
    started: Family<MethodLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

/// Measures every call of the service it wraps.
#[derive(Clone)]
pub struct RpcMetricsLayer {
    families: Arc<RpcFamilies>,
}

impl RpcMetricsLayer {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            families: Arc::new(RpcFamilies {
                started: metrics.rpc_started.clone(),
                handled: metrics.rpc_handled.clone(),
                seconds: metrics.rpc_seconds.clone(),
            }),
        }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            families: self.families.clone(),
        }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    families: Arc<RpcFamilies>,
}

impl<S> tower::Service<Request<Body>> for RpcMetrics<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = method_of(request.uri().path());
        self.families.started.get_or_create(&method).inc();
        let call = Call {
            families: self.families.clone(),
            method,
            started: Instant::now(),
            code: None,
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(e) => {
                    call.finish(Code::Unknown);
                    return Err(e);
                }
            };
            if let Some(code) = status_in(response.headers()) {
                call.finish(code);
                return Ok(response);
            }
            Ok(response.map(|inner| {
                Body::new(MeteredBody {
                    inner,
                    call: Some(call),
                })
            }))
        })
    }
}

/// A call under way; it is counted when dropped, with the code it ended
/// with, or `Canceled` when it never ended (the caller went away).
struct Call {
    families: Arc<RpcFamilies>,
    method: MethodLabels,
    started: Instant,
    code: Option<Code>,
}

impl Call {
    fn finish(mut self, code: Code) {
        self.code = Some(code);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(Code::Cancelled);
        self.families
            .seconds
            .get_or_create(&self.method)
            .observe(self.started.elapsed().as_secs_f64());
        self.families
            .handled
            .get_or_create(&HandledLabels {
                grpc_service: self.method.grpc_service,
                grpc_method: self.method.grpc_method,
                grpc_code: code_name(code),
            })
            .inc();
    }
}

/// An answer's body, watched for the trailers that carry its status.
struct MeteredBody {
    inner: Body,
    call: Option<Call>,
}

impl MeteredBody {
    fn finish(&mut self, code: Code) {
        if let Some(call) = self.call.take() {
            call.finish(code);
        }
    }
}

impl http_body::Body for MeteredBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = status_in(trailers).unwrap_or(Code::Unknown);
                    self.finish(code);
                }
            }
            // A body that fails or ends without a status is an error the
            // caller sees as UNKNOWN.
            Poll::Ready(Some(Err(_)) | None) => self.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use tower::{Layer, Service, ServiceExt};

    use super::*;

    fn handled(metrics: &Metrics, method: &str, code: &str) -> bool {
        metrics.encode().lines().any(|l| {
            l.starts_with("grpc_server_handled_total{")
                && l.contains(&format!("grpc_method=\"{method}\""))
                && l.contains(&format!("grpc_code=\"{code}\""))
                && l.ends_with(" 1")
        })
    }

    #[test]
    fn methods_resolve_from_the_descriptors_and_strangers_do_not_grow_labels() {
        let check = method_of("/grpc.health.v1.Health/Check");
        assert_eq!(check.grpc_service, "grpc.health.v1.Health");
        assert_eq!(check.grpc_method, "Check");
        let any = descriptors::pool().services().next().expect("a service");
        let method = any.methods().next().expect("a method");
        let resolved = method_of(&format!("/{}/{}", any.full_name(), method.name()));
        assert_eq!(resolved.grpc_method, method.name());
        assert_eq!(method_of("/made.Up/Thing"), UNKNOWN_METHOD);
    }

    #[tokio::test]
    async fn codes_are_read_from_headers_or_trailers_and_a_dropped_call_is_canceled() {
        let metrics = Metrics::new();
        let layer = RpcMetricsLayer::new(&metrics);
        // Trailers-only refusal: the status is in the headers.
        let mut refusing = layer.layer(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(tonic::Status::unauthenticated("no token").into_http())
        }));
        let request = || {
            Request::builder()
                .uri("/grpc.health.v1.Health/Check")
                .body(Body::empty())
                .expect("a request")
        };
        refusing
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();
        assert!(handled(&metrics, "Check", "Unauthenticated"));

        // A normal answer: the status arrives in the trailers, after the body.
        let answer = |_req: Request<Body>| async {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let body = http_body_util::StreamBody::new(futures::stream::iter([
                Ok::<_, tonic::Status>(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
                Ok(Frame::trailers(trailers)),
            ]));
            Ok::<_, Infallible>(Response::new(Body::new(body)))
        };
        let mut answering = layer.layer(tower::service_fn(answer));
        let response = answering
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();
        assert!(
            !metrics.encode().contains("grpc_code=\"OK\""),
            "counted before the end"
        );
        response.into_body().collect().await.unwrap();
        assert!(handled(&metrics, "Check", "OK"));

        // The caller leaves before the trailers.
        let mut watching = layer.layer(tower::service_fn(answer));
        let response = watching
            .ready()
            .await
            .unwrap()
            .call(
                Request::builder()
                    .uri("/grpc.health.v1.Health/Watch")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        drop(response);
        assert!(handled(&metrics, "Watch", "Canceled"));
        let text = metrics.encode();
        assert!(
            text.contains(
                "grpc_server_handling_seconds_count{grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Check\"} 2"
            ),
            "{text}"
        );
    }
}
