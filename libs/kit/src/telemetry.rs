//! Logging and tracing. Spans always go to the log (text, or JSON with
//! `PATRON_LOG_FORMAT=json`); when `OTEL_EXPORTER_OTLP_ENDPOINT` is set they are
//! also exported over OTLP/gRPC. W3C trace context is propagated in gRPC
//! metadata, and in each event's envelope (`events`: the relay publishes in
//! the committing request's trace, consumers handle in the publication's),
//! so one trace follows a call from the gateway into the services and on
//! through the events it causes.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config;

/// Flushes exported spans when dropped or shut down.
#[must_use = "dropping the guard stops span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter. The SDK blocks while flushing, so it
    /// runs on a plain thread, off the async runtime.
    pub fn shutdown(mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = std::thread::spawn(move || {
                if let Err(e) = provider.shutdown() {
                    eprintln!("telemetry shutdown: {e}");
                }
            })
            .join();
        }
    }
}

impl TelemetryGuard {
    /// Sends every span ended so far, waiting until the exporter has; the
    /// SDK blocks meanwhile, so on a blocking thread, and the runtime stays
    /// free to carry the export.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let Some(provider) = self.provider.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || provider.force_flush()).await??;
        Ok(())
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = std::thread::spawn(move || provider.shutdown()).join();
        }
    }
}

/// Installs the global subscriber for `service_name`. Call once, first thing.
pub fn init(service_name: &str) -> anyhow::Result<TelemetryGuard> {
    let provider = match config::env_opt("OTEL_EXPORTER_OTLP_ENDPOINT") {
        None => None,
        Some(_) => {
            // The exporter reads the endpoint and headers from the standard
            // OTEL_* variables itself, the batch processor its pace.
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()?;
            let service = config::env_or("OTEL_SERVICE_NAME", service_name);
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(service).build())
                    .build(),
            )
        }
    };
    install(service_name, provider)
}

/// As [`init`], exporting to the OTLP/gRPC `endpoint` whatever the
/// environment says, a batch at least every `every`: for tests that read
/// the traces themselves (and [`TelemetryGuard::flush`] them).
pub fn init_exporting_to(
    service_name: &str,
    endpoint: &str,
    every: Duration,
) -> anyhow::Result<TelemetryGuard> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(every)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build();
    install(service_name, Some(provider))
}

/// Whether spans are exported: work that only serves the traces (the
/// relay's spans per event) is skipped when nobody reads them.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports spans (OTLP is configured).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

fn install(
    service_name: &str,
    provider: Option<SdkTracerProvider>,
) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn,hyper=warn"));
    let json = config::env_or("PATRON_LOG_FORMAT", "text") == "json";
    let fmt_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .boxed()
    } else {
        // Colour only for a person at a terminal: in a file or a pod's log
        // the escape codes are noise, and formatting them costs on every line.
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .boxed()
    };

    let otel_layer = provider.as_ref().map(|p| {
        EXPORTING.store(true, Ordering::Relaxed);
        opentelemetry::global::set_tracer_provider(p.clone());
        tracing_opentelemetry::layer().with_tracer(p.tracer(service_name.to_owned()))
    });

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

/// Reads trace context from HTTP headers or gRPC metadata (both are headers).
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Writes trace context into outgoing headers.
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Sets `span`'s parent to the trace context carried in `headers`, if any.
pub fn adopt_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    // Most calls carry no trace: the propagator is not asked for nothing.
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(parent);
}

/// Writes the current span's trace context into `headers`.
pub fn inject_current(headers: &mut http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers))
    });
}

/// The W3C `traceparent` of `span`; empty when it is not traced (no
/// exporter, or the span is disabled).
pub fn traceparent_of(span: &tracing::Span) -> String {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = span.context();
    let mut headers = http::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(&mut headers))
    });
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The trace context a `traceparent` carries (an empty one when it is empty
/// or malformed).
pub fn context_of(traceparent: &str) -> opentelemetry::Context {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(traceparent) {
        headers.insert("traceparent", value);
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(&headers)))
}

/// Parents `span` on the trace context of `traceparent`, if it carries one.
pub fn adopt_traceparent(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = context_of(traceparent);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Names the current span's exported span `name` (once what it serves is
/// known, after it started: `otel.name` recorded then would not reach it).
pub fn name_current(name: String) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if exporting() {
        tracing::Span::current().context().span().update_name(name);
    }
}
