//! `GET /metrics` over plain HTTP on a port of its own, apart from the gRPC
//! port: Prometheus scrapes HTTP/1.1, and the network policies can admit the
//! monitoring namespace to this port alone.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Exposition;

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn scrape<E: Exposition>(State(metrics): State<E>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], metrics.encode())
}

/// The endpoint's routes (`/metrics`).
pub fn router<E: Exposition>(metrics: E) -> Router {
    Router::new()
        .route("/metrics", get(scrape::<E>))
        .with_state(metrics)
}

/// Binds `addr`; a port already taken stops the service at start, where a
/// misconfiguration is seen, rather than leaving it unwatched.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen for metrics on {addr} (PATRON_METRICS_ADDR): {e}")
    })
}

/// Serves `metrics` on `listener` until `shutdown`.
pub fn spawn<E: Exposition>(
    listener: TcpListener,
    metrics: E,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "metrics listening at /metrics");
        let served = axum::serve(listener, router(metrics))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    })
}
