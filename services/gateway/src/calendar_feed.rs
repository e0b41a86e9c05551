//! The one route the gateway serves by hand: `GET /calendar/{secret}.ics`,
//! a staff member's calendar feed. Calendar applications poll a URL and send
//! no bearer token, so the route cannot go through the token check every
//! transcoded route has; the secret in the URL is the credential, and
//! scheduling's CalendarFeedService checks it (only its hash is stored).
//! The answer is iCalendar text, not JSON, which the generic transcoding
//! could not give either. An unknown, revoked or malformed secret is a 404
//! with no detail; the path is never logged, since it holds the secret.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use patron_proto::scheduling::v1::RenderCalendarFeedRequest;
use patron_proto::scheduling::v1::calendar_feed_service_client::CalendarFeedServiceClient;
use tonic::Code;

use crate::Gateway;
use crate::http_error::error_response;

/// The route's path, as axum writes it.
pub const ROUTE: &str = "/calendar/{file}";

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "no such calendar\n",
    )
        .into_response()
}

pub(crate) async fn calendar_feed(
    State(gw): State<Arc<Gateway>>,
    Path(file): Path<String>,
) -> Response {
    let Some(secret) = file.strip_suffix(".ics") else {
        return not_found();
    };
    let Some(channel) = gw.channels.get("scheduling") else {
        return error_response(
            Code::Unavailable,
            "the scheduling service is not deployed",
            &[],
        );
    };
    let mut request = tonic::Request::new(RenderCalendarFeedRequest {
        secret: secret.to_owned(),
    });
    request.set_timeout(gw.call_timeout);
    match CalendarFeedServiceClient::new(channel.clone())
        .render_calendar_feed(request)
        .await
    {
        Ok(reply) => {
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
                reply.into_inner().text,
            )
                .into_response();
            // Each poll sees the tasks as they are now; nothing in between
            // keeps a copy of someone's calendar.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            response
        }
        Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
            not_found()
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "calendar feed call failed");
            crate::http_error::from_status(&status)
        }
    }
}
