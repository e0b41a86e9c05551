//! Starting a gRPC service the same way everywhere: request ids, a span per
//! call joined to the caller's trace, metrics per call, `grpc.health.v1` that follows Postgres
//! and Redis, server reflection, and a graceful stop that lets in-flight calls
//! finish.

use std::time::Duration;

use http::HeaderName;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::classify::GrpcFailureClass;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::cache::Cache;
use crate::metrics::Metrics;
use crate::metrics::rpc::RpcMetricsLayer;
use crate::{db, incoming, telemetry};

/// The metadata key carrying a request's id end to end.
pub const REQUEST_ID: &str = "x-request-id";

/// Health entries beside the services': their status says whether each
/// dependency answers, so a degraded service is visible though it still serves.
pub const POSTGRES_HEALTH: &str = "patron.dependency.postgres";
pub const REDIS_HEALTH: &str = "patron.dependency.redis";
/// Readiness: SERVING while the service can do its work (Postgres answers).
/// The service names follow it too. The empty name is liveness: SERVING from
/// start to stop whatever the dependencies do, so an outage of the database
/// makes pods unready, never restarted.
pub const READINESS_HEALTH: &str = "patron.readiness";
/// NOT_SERVING while some consumed event waits in `dead_letters` for an
/// admin (`patron events status <service>` lists them).
pub const DEAD_LETTERS_HEALTH: &str = "patron.events.dead-letters";

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        trigger.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing in-flight calls");
        trigger.cancel();
    });
    token
}

/// Every health entry a service has, before its first check: the process
/// is alive, nothing else is known yet. Set before serving, so no entry ever
/// answers NOT_FOUND.
pub async fn initial_health(reporter: &HealthReporter, services: &[String]) {
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in services.iter().map(String::as_str).chain([
        POSTGRES_HEALTH,
        REDIS_HEALTH,
        DEAD_LETTERS_HEALTH,
        READINESS_HEALTH,
    ]) {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
}

/// Keeps `grpc.health.v1` in step with the dependencies: the dependency
/// entries first, then readiness and the services named, SERVING while
/// Postgres answers (Redis being down only marks its entry: the services work
/// without it). Liveness (the empty name) stays SERVING until `shutdown`.
pub fn spawn_health_monitor(
    reporter: HealthReporter,
    services: Vec<String>,
    pool: PgPool,
    cache: Cache,
    interval: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        let mut dead_letters_seen = 0;
        let readiness: Vec<&str> = services
            .iter()
            .map(String::as_str)
            .chain([READINESS_HEALTH])
            .collect();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    mark_stopping(&reporter, &services).await;
                    return;
                }
                _ = ticker.tick() => {}
            }
            let (pg_ok, redis_ok) = tokio::join!(db::ping(&pool), cache.probe());
            reporter
                .set_service_status(POSTGRES_HEALTH, status(pg_ok))
                .await;
            reporter
                .set_service_status(REDIS_HEALTH, status(redis_ok))
                .await;
            if pg_ok && let Ok(waiting) = crate::events::dead_letters::waiting(&pool).await {
                if waiting != dead_letters_seen {
                    if waiting > 0 {
                        tracing::warn!(
                            waiting,
                            "consumed events wait as dead letters; see `patron events status`"
                        );
                    }
                    dead_letters_seen = waiting;
                }
                reporter
                    .set_service_status(DEAD_LETTERS_HEALTH, status(waiting == 0))
                    .await;
            }
            for name in &readiness {
                reporter.set_service_status(*name, status(pg_ok)).await;
            }
        }
    })
}

/// Readiness, the services named and liveness to NOT_SERVING: the service is
/// stopping and takes no new calls.
pub async fn mark_stopping(reporter: &HealthReporter, services: &[String]) {
    for name in services
        .iter()
        .map(String::as_str)
        .chain([READINESS_HEALTH, ""])
    {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
}

fn status(ok: bool) -> ServingStatus {
    if ok {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// How loudly a failed call is logged: a caller's mistake (a bad argument, a
/// missing record, a stale etag, a refused token…) is the service working as
/// it should and must not page anyone; only faults of ours are errors.
pub fn failure_level(code: Code) -> tracing::Level {
    match code {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::ResourceExhausted
        | Code::Cancelled => tracing::Level::INFO,
        Code::Unavailable | Code::DeadlineExceeded => tracing::Level::WARN,
        Code::Ok => tracing::Level::DEBUG,
        Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
            tracing::Level::ERROR
        }
    }
}

fn log_failure(class: GrpcFailureClass, latency: Duration, _span: &tracing::Span) {
    let latency_ms = latency.as_millis() as u64;
    match class {
        GrpcFailureClass::Status(status) => {
            let code = Code::from_i32(status.code_raw());
            let message = status.message().unwrap_or_default();
            match failure_level(code) {
                tracing::Level::ERROR => {
                    tracing::error!(?code, message, latency_ms, "call failed")
                }
                tracing::Level::WARN => {
                    tracing::warn!(?code, message, latency_ms, "call failed")
                }
                _ => tracing::info!(?code, message, latency_ms, "call refused"),
            }
        }
        other => tracing::error!(failure = %other, latency_ms, "call failed"),
    }
}

/// The gRPC health service's name, listed by reflection beside a port's own.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// What reflection lists on a port that serves `services`: those, health,
/// and the reflection service itself (`reflection`, v1 or v1alpha).
fn reflection_builder<'b>(
    services: &[&str],
    reflection: &str,
) -> tonic_reflection::server::Builder<'b> {
    services
        .iter()
        .copied()
        .chain([HEALTH_SERVICE, reflection])
        .fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(patron_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
}

/// Serves `routes` (plus health and reflection) on `listener` until `stop`
/// completes, then takes no new connection or call and lets in-flight calls
/// finish for up to `grace`: past it, it returns without them (they end with
/// the process), so a stuck call cannot hold a stop up for ever. Reflection,
/// in both its versions (v1, and v1alpha that older clients speak), lists
/// the port's own `services` and health, not every service of the suite.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    services: &[&str],
    metrics: &Metrics,
    stop: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()> {
    let reflection =
        reflection_builder(services, "grpc.reflection.v1.ServerReflection").build_v1()?;
    let reflection_alpha =
        reflection_builder(services, "grpc.reflection.v1alpha.ServerReflection").build_v1alpha()?;
    let request_id = HeaderName::from_static(REQUEST_ID);
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(|req: &http::Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let method = req.uri().path();
                    // Probes come every few seconds from every kubelet and
                    // balancer: below the default level, so they neither
                    // log nor crowd the exported traces.
                    if method.starts_with("/grpc.health.v1.Health/") {
                        return tracing::debug_span!("grpc", method = %method, request_id = %id);
                    }
                    // The OpenTelemetry fields only when spans are exported:
                    // the log formats every field of every call's span.
                    let span = if telemetry::exporting() {
                        tracing::info_span!(
                            "grpc",
                            otel.name = %method.trim_start_matches('/'),
                            otel.kind = "server",
                            rpc.system = "grpc",
                            method = %method,
                            request_id = %id
                        )
                    } else {
                        tracing::info_span!("grpc", method = %method, request_id = %id)
                    };
                    telemetry::adopt_parent(&span, req.headers());
                    span
                })
                .on_failure(log_failure),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        // Before the screen, so its refusals are counted too.
        .layer(RpcMetricsLayer::new(metrics))
        .layer(incoming::ScreenLayer)
        .into_inner();
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "gRPC listening");
    let (stopped, stopped_seen) = tokio::sync::oneshot::channel();
    let signal = async move {
        stop.await;
        let _ = stopped.send(());
    };
    let grace_over = async move {
        match stopped_seen.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    let serving = Server::builder()
        .layer(layers)
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_alpha)
        // TCP_NODELAY on every accepted connection, as tonic sets it when it
        // binds itself: without it a unary answer's trailers, written after
        // its headers and message, wait behind Nagle for the caller's delayed
        // ACK (40 ms on Linux) and every call takes at least that long.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            signal,
        );
    tokio::select! {
        served = serving => {
            served?;
            tracing::info!(%addr, "gRPC stopped");
        }
        () = grace_over => {
            tracing::warn!(
                %addr,
                grace_secs = grace.as_secs(),
                "calls still in flight after the shutdown grace period; stopping without them"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Watch of health is a call that never ends by itself: the stop must
    /// still come, once the grace is over, and not wait on it for ever.
    #[tokio::test]
    async fn a_stop_waits_for_calls_in_flight_no_longer_than_the_grace() {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        let stop = CancellationToken::new();
        let metrics = Metrics::new();
        let serving = serve(
            listener,
            Routes::default(),
            health,
            &[],
            &metrics,
            stop.clone().cancelled_owned(),
            Duration::from_millis(200),
        );
        // The caller holds its Watch open until the server has returned.
        let (served, hang_up) = tokio::sync::oneshot::channel::<()>();
        let caller = tokio::spawn(async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .expect("a URL")
                .connect()
                .await
                .expect("connected");
            let mut watch = HealthClient::new(channel)
                .watch(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("watching")
                .into_inner();
            watch.message().await.expect("the first status");
            stop.cancel();
            let _ = hang_up.await;
            drop(watch);
        });
        // Not a speed limit: a bound on a hang, far past the grace.
        tokio::time::timeout(Duration::from_secs(60), serving)
            .await
            .expect("the stop waited on a call past its grace")
            .expect("served");
        let _ = served.send(());
        caller.await.expect("the caller");
    }

    #[test]
    fn callers_mistakes_are_not_errors() {
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::ResourceExhausted,
        ] {
            assert!(failure_level(code) > tracing::Level::WARN, "{code:?}");
        }
        assert_eq!(failure_level(Code::Internal), tracing::Level::ERROR);
        assert_eq!(failure_level(Code::Unknown), tracing::Level::ERROR);
        assert_eq!(failure_level(Code::Unavailable), tracing::Level::WARN);
    }
}
