//! Starting a gRPC service the same way everywhere: request ids, a span per
//! call joined to the caller's trace, `grpc.health.v1` that follows Postgres
//! and Redis, server reflection, and a graceful stop that lets in-flight calls
//! finish.

use std::time::Duration;

use http::HeaderName;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::cache::Cache;
use crate::{db, telemetry};

/// The metadata key carrying a request's id end to end.
pub const REQUEST_ID: &str = "x-request-id";

/// Health entries beside the services': their status says whether each
/// dependency answers, so a degraded service is visible though it still serves.
pub const POSTGRES_HEALTH: &str = "patron.dependency.postgres";
pub const REDIS_HEALTH: &str = "patron.dependency.redis";

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

/// Keeps `grpc.health.v1` in step with the dependencies: the services named
/// are SERVING while Postgres answers; Redis being down only marks the Redis
/// entry, since the services still work without it.
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
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    for name in services.iter().map(String::as_str).chain([""]) {
                        reporter.set_service_status(name, ServingStatus::NotServing).await;
                    }
                    return;
                }
                _ = ticker.tick() => {}
            }
            let (pg_ok, redis_ok) = tokio::join!(db::ping(&pool), cache.probe());
            let serving = status(pg_ok);
            for name in services.iter().map(String::as_str).chain([""]) {
                reporter.set_service_status(name, serving).await;
            }
            reporter.set_service_status(POSTGRES_HEALTH, serving).await;
            reporter
                .set_service_status(REDIS_HEALTH, status(redis_ok))
                .await;
        }
    })
}

fn status(ok: bool) -> ServingStatus {
    if ok {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Serves `routes` (plus health and reflection) on `listener` until
/// `shutdown` is cancelled, then lets in-flight calls finish.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(patron_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let request_id = HeaderName::from_static(REQUEST_ID);
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_grpc().make_span_with(|req: &http::Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let span =
                    tracing::info_span!("grpc", method = %req.uri().path(), request_id = %id);
                telemetry::adopt_parent(&span, req.headers());
                span
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .into_inner();
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "gRPC listening");
    Server::builder()
        .layer(layers)
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown.cancelled_owned(),
        )
        .await?;
    tracing::info!(%addr, "gRPC stopped");
    Ok(())
}
