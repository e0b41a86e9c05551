//! The gateway's edge, measured as HTTP servers are: each request's
//! duration by method and status code, in OpenTelemetry's semantic names
//! (`http.server.request.duration` → `http_server_request_duration_seconds`),
//! whose `_count` is the request rate and, by status, the error rate.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{Exposition, latency_histogram, register};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub http_request_method: &'static str,
    pub http_response_status_code: u16,
}

/// The gateway's metrics. Clones share the family.
#[derive(Clone)]
pub struct HttpMetrics {
    registry: Arc<Registry>,
    listed: Arc<Vec<(String, &'static str)>>,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A request method as a label: the standard ones by name, any other as
/// `_OTHER` (OpenTelemetry's spelling), so a caller cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

impl HttpMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let mut listed = Vec::new();
        let requests: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        register(
            &mut registry,
            &mut listed,
            "http_server_request_duration_seconds",
            "Time from an HTTP request's arrival to its answer, by method and status code",
            requests.clone(),
        );
        Self {
            registry: Arc::new(registry),
            listed: Arc::new(listed),
            requests,
        }
    }

    /// Counts a request answered with `status` after `elapsed`.
    pub fn observe(&self, method: &Method, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                http_request_method: method_label(method),
                http_response_status_code: status,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Every family registered, with its type.
    pub fn families(&self) -> &[(String, &'static str)] {
        &self.listed
    }
}

impl Exposition for HttpMetrics {
    fn encode(&self) -> String {
        super::encode_registry(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_and_status_and_odd_methods_stay_one_label() {
        let metrics = HttpMetrics::new();
        metrics.observe(&Method::GET, 200, Duration::from_millis(3));
        metrics.observe(&Method::from_bytes(b"BREW").unwrap(), 400, Duration::ZERO);
        let text = metrics.encode();
        assert!(
            text.contains("http_server_request_duration_seconds_count{http_request_method=\"GET\",http_response_status_code=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("http_request_method=\"_OTHER\""), "{text}");
        assert_eq!(
            metrics.families(),
            [(
                "http_server_request_duration_seconds".to_owned(),
                "histogram"
            )]
        );
    }
}
