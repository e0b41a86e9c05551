//! The HTTP/JSON gateway. Every route comes from a `google.api.http` option
//! in `proto/`; requests are transcoded generically (proto3 JSON) and sent to
//! the service that owns the package, with the caller's bearer token, request
//! id and trace context forwarded. The gateway checks the token first, so a
//! bad one never reaches a service; each service checks it again. The one
//! exception is the calendar feed route (`calendar_feed`), whose URL holds
//! its own secret.

pub mod calendar_feed;
pub mod http_error;
pub mod openapi;
pub mod path_template;
pub mod routes;
pub mod transcode;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use patron_kit::auth::{AuthConfig, Authenticator};
use patron_kit::calls::balance;
use patron_kit::config::{self, ConfigError};
use patron_kit::metrics::MetricsConfig;
use patron_kit::metrics::endpoint;
use patron_kit::metrics::http::HttpMetrics;
use patron_kit::server::REQUEST_ID;
use patron_kit::telemetry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tracing::Instrument;

use crate::http_error::{error_response, error_response_as};
use crate::routes::{Lookup, Route};
use crate::transcode::DynamicCodec;

/// Request headers passed on to the service as metadata of the same name:
/// the purpose a caller gives for reading sensitive data, recorded in the
/// access audit. Values that are not visible ASCII are not forwarded.
pub const FORWARDED_HEADERS: &[&str] = &[ACCESS_PURPOSE];

/// The header (and gRPC metadata) naming why sensitive data is read.
pub const ACCESS_PURPOSE: &str = "x-access-purpose";

/// The areas (proto packages `patron.<area>.v1`) the gateway can route to.
pub const AREAS: &[&str] = &["profile", "tiering", "complaint", "scheduling"];

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub auth: AuthConfig,
    /// Service address per area, e.g. `profile` → `http://127.0.0.1:50051`
    /// (or several URLs separated by commas). Each URL's host is resolved to
    /// every address it has and calls are balanced over them all. Areas
    /// absent here answer 503 (the service is not deployed) and their routes
    /// are left out of the OpenAPI document.
    pub upstreams: BTreeMap<String, String>,
    /// How often the upstreams' names are resolved again, so replicas that
    /// come and go behind a headless Service are found.
    pub resolve_interval: Duration,
    /// Deadline of each call to a service.
    pub call_timeout: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Where `/metrics` is served (requests by method and status).
    pub metrics: MetricsConfig,
}

impl GatewayConfig {
    /// From `PATRON_GATEWAY_ADDR`, `PATRON_<AREA>_URL` for each area, and
    /// `PATRON_GATEWAY_TIMEOUT_MS`; `auth` from the caller.
    pub fn from_env(auth: AuthConfig) -> Result<Self, ConfigError> {
        let upstreams = AREAS
            .iter()
            .filter_map(|area| {
                config::env_opt(&format!("PATRON_{}_URL", area.to_ascii_uppercase()))
                    .map(|url| (area.to_string(), url))
            })
            .collect();
        Ok(Self {
            listen: config::env_addr("PATRON_GATEWAY_ADDR", "127.0.0.1:8080")?,
            auth,
            upstreams,
            resolve_interval: config::env_secs(
                "PATRON_GATEWAY_RESOLVE_SECS",
                Duration::from_secs(5),
            )?,
            call_timeout: config::env_millis("PATRON_GATEWAY_TIMEOUT_MS", Duration::from_secs(10))?,
            max_body_bytes: config::env_parse("PATRON_GATEWAY_MAX_BODY_BYTES", 1024 * 1024)?,
            metrics: MetricsConfig::from_env()?,
        })
    }
}

struct Gateway {
    routes: Vec<Route>,
    channels: BTreeMap<String, Channel>,
    authenticator: Authenticator,
    call_timeout: Duration,
    max_body_bytes: usize,
    openapi: serde_json::Value,
}

/// The area a gRPC package belongs to: `patron.profile.v1` → `profile`.
fn area_of(route: &Route) -> &str {
    let package = route.method.parent_service().package_name();
    package.split('.').nth(1).unwrap_or_default()
}

/// The router, for embedding and tests. Must be called within a Tokio
/// runtime (each upstream's addresses are kept up to date by a task).
pub fn router(config: &GatewayConfig) -> anyhow::Result<Router> {
    let routes =
        routes::collect(patron_kit::descriptors::pool(), "patron.").map_err(anyhow::Error::msg)?;
    let mut channels = BTreeMap::new();
    for (area, url) in &config.upstreams {
        let channel =
            balance::balanced_channel(url, balance::system_resolver(), config.resolve_interval)
                .map_err(|e| anyhow::anyhow!("PATRON_{}_URL: {e}", area.to_ascii_uppercase()))?;
        channels.insert(area.clone(), channel);
    }
    // Only what can be called is published: the routes of services not
    // deployed (not built yet, or not configured) stay out of the document.
    let published: Vec<Route> = routes
        .iter()
        .filter(|r| channels.contains_key(area_of(r)))
        .cloned()
        .collect();
    let openapi = openapi::document(&published);
    let gateway = Arc::new(Gateway {
        routes,
        channels,
        authenticator: Authenticator::new(&config.auth),
        call_timeout: config.call_timeout,
        max_body_bytes: config.max_body_bytes,
        openapi,
    });
    Ok(Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readiness))
        .route("/openapi.json", get(openapi_document))
        .route(calendar_feed::ROUTE, get(calendar_feed::calendar_feed))
        .fallback(transcode_call)
        .with_state(gateway))
}

/// Serves until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = HttpMetrics::new();
    let metrics_endpoint = match config.metrics.listen {
        Some(addr) => Some(endpoint::spawn(
            endpoint::bind(addr).await?,
            metrics.clone(),
            shutdown.clone(),
        )),
        None => None,
    };
    let app = router(&config)?.layer(axum::middleware::from_fn_with_state(metrics, measure));
    tracing::info!(addr = %listener.local_addr()?, upstreams = ?config.upstreams, "gateway listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    if let Some(endpoint) = metrics_endpoint {
        let _ = endpoint.await;
    }
    tracing::info!("gateway stopped");
    Ok(())
}

/// Times every request to its answer's head and counts it by status.
async fn measure(
    State(metrics): State<HttpMetrics>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics.observe(&method, response.status().as_u16(), started.elapsed());
    response
}

async fn openapi_document(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.openapi.clone()).into_response()
}

/// Ready when every deployed service reports SERVING; Redis being down is
/// reported as degraded but still ready, since the services work without it.
async fn readiness(State(gw): State<Arc<Gateway>>) -> Response {
    let mut services = serde_json::Map::new();
    let mut ready = true;
    let mut degraded = false;
    for (area, channel) in &gw.channels {
        let client = HealthClient::new(channel.clone());
        let check = |service: &'static str| {
            let mut client = client.clone();
            async move {
                let req = tonic::Request::new(HealthCheckRequest {
                    service: service.into(),
                });
                matches!(
                    tokio::time::timeout(Duration::from_secs(2), client.check(req)).await,
                    Ok(Ok(resp)) if resp.get_ref().status == tonic_health::ServingStatus::Serving as i32
                )
            }
        };
        let serving = check(patron_kit::server::READINESS_HEALTH).await;
        let dead_letters = check(patron_kit::server::DEAD_LETTERS_HEALTH).await;
        let postgres = check(patron_kit::server::POSTGRES_HEALTH).await;
        let redis = check(patron_kit::server::REDIS_HEALTH).await;
        ready &= serving;
        degraded |= serving && !redis;
        services.insert(
            area.clone(),
            serde_json::json!({
                "serving": serving,
                "postgres": if postgres { "up" } else { "down" },
                "redis": if redis { "up" } else { "down" },
                "deadLetters": if !postgres { "unknown" } else if dead_letters { "none" } else { "waiting" },
            }),
        );
    }
    let status = if !ready {
        "unavailable"
    } else if degraded {
        "degraded"
    } else {
        "ok"
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        axum::Json(serde_json::json!({"status": status, "services": services})),
    )
        .into_response()
}

/// Every other path: find the route, check the token, transcode, call.
async fn transcode_call(State(gw): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // Named by its method until the route is known (`handle` names it by
    // the route's template then).
    let span = tracing::info_span!(
        "http",
        otel.name = %parts.method,
        otel.kind = "server",
        method = %parts.method,
        path = %parts.uri.path(),
        request_id = %request_id
    );
    telemetry::adopt_parent(&span, &parts.headers);

    // Instrument rather than enter: a span entered across an await would be
    // attributed to whatever else the worker thread runs meanwhile.
    let mut response = handle(
        &gw,
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
        &request_id,
    )
    .instrument(span.clone())
    .await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request served"));
    response
}

async fn handle(
    gw: &Gateway,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
) -> Response {
    let (route, bindings) = match routes::find(&gw.routes, method, uri.path()) {
        Lookup::Found(route, bindings) => {
            telemetry::name_current(format!("{method} {}", route.template.source));
            (route, bindings)
        }
        Lookup::MethodNotAllowed(allowed) => {
            let list = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut resp = error_response_as(
                StatusCode::METHOD_NOT_ALLOWED,
                Code::Unimplemented,
                &format!("{method} is not allowed here; use {list}"),
                &[],
            );
            if let Ok(v) = HeaderValue::from_str(&list) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
            return resp;
        }
        Lookup::NotFound => {
            return error_response(
                Code::NotFound,
                &format!("no route for {method} {}", uri.path()),
                &[],
            );
        }
    };

    // A service not deployed answers the same to everyone, whatever was sent.
    let area = area_of(route);
    let Some(channel) = gw.channels.get(area) else {
        return error_response(
            Code::Unavailable,
            &format!("the {area} service is not deployed"),
            &[],
        );
    };

    // Authenticate before reading the body or touching a service.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = gw.authenticator.verify_header(authorization).await {
        return error_response(Code::Unauthenticated, &e.to_string(), &[]);
    }

    let bytes: Bytes = match axum::body::to_bytes(body, gw.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let limit = gw.max_body_bytes;
            return error_response_as(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ResourceExhausted,
                &format!("the body is larger than {limit} bytes"),
                &[],
            );
        }
    };
    if !bytes.is_empty()
        && let Some(ct) = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        && !ct.starts_with("application/json")
    {
        return error_response_as(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            "send the body as application/json",
            &[],
        );
    }

    let message = match transcode::request_message(route, &bindings, uri.query(), &bytes) {
        Ok(m) => m,
        Err(bad) => {
            let violations: Vec<(String, String)> = bad
                .field
                .iter()
                .map(|f| (f.clone(), bad.message.clone()))
                .collect();
            return error_response(Code::InvalidArgument, &bad.message, &violations);
        }
    };

    match call(
        gw,
        channel.clone(),
        route,
        message,
        authorization,
        headers,
        request_id,
    )
    .await
    {
        Ok(reply) => match transcode::response_json(route, &reply) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(status) => http_error::from_status(&status),
        },
        Err(status) => {
            // A replica stopping (a rolling update) is UNAVAILABLE, which a
            // caller may retry, not a fault of ours.
            let status = patron_kit::calls::transport_failure_is_unavailable(status);
            if matches!(
                status.code(),
                Code::Internal | Code::Unknown | Code::Unavailable
            ) {
                tracing::warn!(code = ?status.code(), message = status.message(), rpc = %route.grpc_path(), "service call failed");
            }
            http_error::from_status(&status)
        }
    }
}

async fn call(
    gw: &Gateway,
    channel: Channel,
    route: &Route,
    message: prost_reflect::DynamicMessage,
    authorization: Option<&str>,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<prost_reflect::DynamicMessage, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| {
        Status::unavailable(format!(
            "the {} service is unreachable: {e}",
            area_of(route)
        ))
    })?;
    let mut request = tonic::Request::new(message);
    request.set_timeout(gw.call_timeout);
    let metadata = request.metadata_mut();
    if let Some(auth) = authorization.and_then(|a| a.parse().ok()) {
        metadata.insert("authorization", auth);
    }
    if let Ok(id) = request_id.parse() {
        metadata.insert(REQUEST_ID, id);
    }
    for name in FORWARDED_HEADERS {
        if let Some(value) = headers
            .get(*name)
            .and_then(|v| tonic::metadata::AsciiMetadataValue::try_from(v.as_bytes()).ok())
        {
            metadata.insert(*name, value);
        }
    }
    let mut trace_headers = HeaderMap::new();
    telemetry::inject_current(&mut trace_headers);
    for (name, value) in &trace_headers {
        if let (Ok(key), Ok(v)) = (
            tonic::metadata::AsciiMetadataKey::from_bytes(name.as_str().as_bytes()),
            tonic::metadata::AsciiMetadataValue::try_from(value.as_bytes()),
        ) {
            metadata.insert(key, v);
        }
    }
    let path = route
        .grpc_path()
        .parse()
        .map_err(|_| Status::internal(format!("bad gRPC path {}", route.grpc_path())))?;
    let codec = DynamicCodec {
        response: route.method.output(),
    };
    grpc.unary(request, path, codec)
        .await
        .map(tonic::Response::into_inner)
}
