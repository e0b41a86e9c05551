//! Metrics the way Prometheus reads them: each service process keeps one
//! registry and serves it at `GET /metrics` on `PATRON_METRICS_ADDR`
//! (default `127.0.0.1:9464`; the cluster's configuration opens it with
//! `0.0.0.0:9464`; `off` for none), in the Prometheus text format.
//!
//! What is measured, and where:
//! - every gRPC call, by a tower layer in the kit's server stack
//!   ([`rpc::RpcMetricsLayer`]): calls started, calls handled by status code,
//!   and a latency histogram, with the names and labels of the gRPC
//!   ecosystem's Prometheus middleware (`grpc_server_handled_total`, …);
//! - the relay's publications and failures, the consumers' events by
//!   outcome, and the cache's hits and misses, counted where they happen;
//! - what is a state rather than an event — the outbox's backlog and the age
//!   of its oldest unpublished row, each consumer group's lag and pending
//!   entries, dead letters, due-job backlogs, the pools' connections, whether
//!   each dependency answers — read by a periodic task ([`refresh`]) from SQL
//!   and `XINFO GROUPS`.
//!
//! Every family is made once, here, and the names are listed in
//! `deploy/k8s/components/monitoring/metrics.txt`, which the alert rules and the
//! dashboard are checked against (a test keeps the two lists equal).

pub mod endpoint;
pub mod http;
pub mod refresh;
pub mod rpc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::config::{self, ConfigError};

pub use refresh::{Due, DueWork};

/// Where the metrics are served, and how often the measured states are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `None`: no endpoint (the families are still kept).
    pub listen: Option<SocketAddr>,
    /// Pause between readings of the backlogs, lags and pools.
    pub refresh: Duration,
}

/// Loopback on a laptop; the port OpenTelemetry's Prometheus exporter
/// takes too.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

impl MetricsConfig {
    /// `PATRON_METRICS_ADDR` (an address, or `off`) and
    /// `PATRON_METRICS_REFRESH_MS` (15 s).
    pub fn from_env() -> Result<Self, ConfigError> {
        let listen = match config::env_opt("PATRON_METRICS_ADDR") {
            Some(raw) if raw.trim().eq_ignore_ascii_case("off") => None,
            _ => Some(config::env_addr(
                "PATRON_METRICS_ADDR",
                DEFAULT_METRICS_ADDR,
            )?),
        };
        Ok(Self {
            listen,
            refresh: config::env_millis("PATRON_METRICS_REFRESH_MS", Duration::from_secs(15))?,
        })
    }

    /// No endpoint; states read every `refresh`.
    pub fn off(refresh: Duration) -> Self {
        Self {
            listen: None,
            refresh,
        }
    }
}

/// A gRPC method, resolved once to names that live as long as the process.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub grpc_service: &'static str,
    pub grpc_method: &'static str,
}

/// A gRPC method and the status code it answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandledLabels {
    pub grpc_service: &'static str,
    pub grpc_method: &'static str,
    pub grpc_code: &'static str,
}

/// A consumer group and a topic it reads.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupTopicLabels {
    pub group: String,
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupOutcomeLabels {
    pub group: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub pool: &'static str,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

pub(crate) fn latency_histogram() -> Histogram {
    // From a millisecond (a cached read) to ten seconds (the gateway's call
    // timeout), roughly 2.5× apart.
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// What `/metrics` serves: a registry in the Prometheus text format.
pub trait Exposition: Clone + Send + Sync + 'static {
    fn encode(&self) -> String;
}

impl Exposition for Metrics {
    fn encode(&self) -> String {
        Metrics::encode(self)
    }
}

pub(crate) fn encode_registry(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
    out
}

/// The relay's counters (unregistered ones by default).
#[derive(Clone, Debug, Default)]
pub struct RelayCounters {
    pub published: Counter,
    pub failures: Counter,
}

/// Registers `metric` and notes its exported name and type.
pub(crate) fn register(
    registry: &mut Registry,
    listed: &mut Vec<(String, &'static str)>,
    name: &str,
    help: &str,
    metric: impl Metric,
) {
    let (kind, suffix) = match metric.metric_type() {
        MetricType::Counter => ("counter", "_total"),
        MetricType::Gauge => ("gauge", ""),
        MetricType::Histogram => ("histogram", ""),
        _ => ("unknown", ""),
    };
    listed.push((format!("{name}{suffix}"), kind));
    registry.register(name, help, metric);
}

/// One service's metrics. Clones share the families.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    listed: Arc<Vec<(String, &'static str)>>,
    pub rpc_started: Family<MethodLabels, Counter>,
    pub rpc_handled: Family<HandledLabels, Counter>,
    pub rpc_seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
    pub outbox_unpublished: Gauge,
    pub outbox_oldest_age: FloatGauge,
    pub outbox_published: Counter,
    pub relay_failures: Counter,
    pub consumer_lag: Family<GroupTopicLabels, Gauge>,
    pub consumer_pending: Family<GroupTopicLabels, Gauge>,
    pub events_handled: Family<GroupOutcomeLabels, Counter>,
    pub dead_letters: Family<GroupLabels, Gauge>,
    pub jobs_due: Family<JobLabels, Gauge>,
    pub jobs_oldest_due_age: Family<JobLabels, FloatGauge>,
    pub cache_requests: Family<OutcomeLabels, Counter>,
    pub pool_connections: Family<PoolStateLabels, Gauge>,
    pub pool_max_connections: Family<PoolLabels, Gauge>,
    pub dependency_up: Family<DependencyLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family, registered and empty.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let mut listed = Vec::new();
        let metrics = Self {
            registry: Arc::default(),
            listed: Arc::default(),
            rpc_started: Family::default(),
            rpc_handled: Family::default(),
            rpc_seconds: Family::new_with_constructor(latency_histogram),
            outbox_unpublished: Gauge::default(),
            outbox_oldest_age: FloatGauge::default(),
            outbox_published: Counter::default(),
            relay_failures: Counter::default(),
            consumer_lag: Family::default(),
            consumer_pending: Family::default(),
            events_handled: Family::default(),
            dead_letters: Family::default(),
            jobs_due: Family::default(),
            jobs_oldest_due_age: Family::default(),
            cache_requests: Family::default(),
            pool_connections: Family::default(),
            pool_max_connections: Family::default(),
            dependency_up: Family::default(),
        };
        let m = &metrics;
        register(
            &mut registry,
            &mut listed,
            "grpc_server_started",
            "gRPC calls started on the server",
            m.rpc_started.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "grpc_server_handled",
            "gRPC calls completed on the server, by status code",
            m.rpc_handled.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "grpc_server_handling_seconds",
            "Time from a gRPC call's request to the end of its answer",
            m.rpc_seconds.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_outbox_unpublished_events",
            "Events committed to the outbox and not yet published to Redis",
            m.outbox_unpublished.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_outbox_oldest_unpublished_age_seconds",
            "How long the oldest unpublished outbox event has waited (0 when none waits)",
            m.outbox_oldest_age.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_outbox_published_events",
            "Events this process's relay published",
            m.outbox_published.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_outbox_relay_failures",
            "Relay rounds that failed (Postgres or Redis away); the events wait in the outbox",
            m.relay_failures.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_events_consumer_lag",
            "Stream entries not yet delivered to the consumer group",
            m.consumer_lag.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_events_consumer_pending",
            "Stream entries delivered to the consumer group and not yet acknowledged",
            m.consumer_pending.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_events_handled",
            "Events this process's consumer took, by outcome (applied, duplicate, failed, dead_lettered)",
            m.events_handled.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_events_dead_letters",
            "Consumed events set aside as dead letters and not yet replayed",
            m.dead_letters.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_jobs_due_items",
            "Work a periodic job has due and not yet done",
            m.jobs_due.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_jobs_oldest_due_age_seconds",
            "How long the oldest due item of a periodic job has been due (0 when none is)",
            m.jobs_oldest_due_age.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_cache_requests",
            "Cache-aside reads, by outcome (hit, miss, bypassed while Redis is away)",
            m.cache_requests.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_db_pool_connections",
            "Open Postgres connections of a pool, by state (idle, busy)",
            m.pool_connections.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_db_pool_max_connections",
            "The most connections a pool opens",
            m.pool_max_connections.clone(),
        );
        register(
            &mut registry,
            &mut listed,
            "patron_dependency_up",
            "Whether a dependency answered its last probe (1) or not (0)",
            m.dependency_up.clone(),
        );
        Self {
            registry: Arc::new(registry),
            listed: Arc::new(listed),
            ..metrics
        }
    }

    /// Every family registered, by the name `/metrics` shows it under once
    /// it has a sample (`grpc_server_handled_total`), with its type.
    pub fn families(&self) -> &[(String, &'static str)] {
        &self.listed
    }

    /// The registry in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        encode_registry(&self.registry)
    }

    /// The counters of a consumer group's outcomes, resolved once so that
    /// counting an event is one atomic add.
    pub fn event_outcomes(&self, group: &str) -> EventOutcomes {
        let counter = |outcome| {
            self.events_handled
                .get_or_create_owned(&GroupOutcomeLabels {
                    group: group.to_owned(),
                    outcome,
                })
        };
        EventOutcomes {
            applied: counter("applied"),
            duplicate: counter("duplicate"),
            failed: counter("failed"),
            dead_lettered: counter("dead_lettered"),
        }
    }

    /// The relay's counters.
    pub fn relay_counters(&self) -> RelayCounters {
        RelayCounters {
            published: self.outbox_published.clone(),
            failures: self.relay_failures.clone(),
        }
    }

    /// The cache's counters, resolved once.
    pub fn cache_outcomes(&self) -> CacheOutcomes {
        let counter = |outcome| {
            self.cache_requests
                .get_or_create_owned(&OutcomeLabels { outcome })
        };
        CacheOutcomes {
            local: counter("local"),
            hit: counter("hit"),
            miss: counter("miss"),
            bypassed: counter("bypassed"),
        }
    }
}

/// One consumer group's outcome counters (unregistered ones by default,
/// for a consumer nobody scrapes).
#[derive(Clone, Debug, Default)]
pub struct EventOutcomes {
    pub applied: Counter,
    pub duplicate: Counter,
    pub failed: Counter,
    pub dead_lettered: Counter,
}

/// The cache's outcome counters (unregistered ones by default).
#[derive(Clone, Debug, Default)]
pub struct CacheOutcomes {
    /// Served from the process's coherent copy (no Redis round trip).
    pub local: Counter,
    pub hit: Counter,
    pub miss: Counter,
    pub bypassed: Counter,
}

/// The family names an exposition holds, as the text format's `# TYPE`
/// lines name them, with their types (`grpc_server_handled_total counter`);
/// a family without samples yet has none.
pub fn exposed_families(exposition: &str) -> Vec<(String, String)> {
    exposition
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("# TYPE ")?.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list the alert rules and dashboard are checked against.
    const LISTED: &str = include_str!("../../../../deploy/k8s/components/monitoring/metrics.txt");

    fn listed() -> Vec<(String, String)> {
        LISTED
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (name, kind) = l.split_once(char::is_whitespace).expect("name and type");
                (name.to_owned(), kind.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn every_family_is_listed_for_the_alerts_and_nothing_else() {
        // The services' families and the gateway's.
        let mut exported: Vec<(String, String)> = Metrics::new()
            .families()
            .iter()
            .chain(http::HttpMetrics::new().families())
            .map(|(name, kind)| (name.clone(), kind.to_string()))
            .collect();
        exported.sort();
        let mut listed = listed();
        listed.sort();
        assert_eq!(
            exported, listed,
            "deploy/k8s/components/monitoring/metrics.txt must list exactly what /metrics serves"
        );
    }

    #[test]
    fn counters_carry_their_labels_and_suffix() {
        let metrics = Metrics::new();
        metrics.cache_outcomes().hit.inc();
        metrics.event_outcomes("tiering").dead_lettered.inc_by(2);
        metrics
            .jobs_oldest_due_age
            .get_or_create(&JobLabels { job: "deadlines" })
            .set(1.5);
        let text = metrics.encode();
        assert!(
            text.contains("patron_cache_requests_total{outcome=\"hit\"} 1"),
            "{text}"
        );
        let exposed = exposed_families(&text);
        for (name, kind) in &exposed {
            assert!(
                metrics
                    .families()
                    .iter()
                    .any(|(n, k)| n == name && k == kind),
                "{name} {kind} is exposed as registered"
            );
        }
        assert!(
            exposed
                .iter()
                .any(|(n, _)| n == "patron_events_handled_total")
        );
        assert!(
            text.contains(
                "patron_events_handled_total{group=\"tiering\",outcome=\"dead_lettered\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("patron_jobs_oldest_due_age_seconds{job=\"deadlines\"} 1.5"),
            "{text}"
        );
    }
}
