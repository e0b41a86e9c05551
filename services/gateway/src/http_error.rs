//! gRPC statuses as HTTP responses: the status code Google's APIs use for each
//! gRPC code, and a JSON body in Google's error shape that carries the field
//! violations, so a portal can mark each bad field.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The HTTP status for a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The canonical upper-case name of a gRPC code, e.g. `INVALID_ARGUMENT`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An error response for `code` with `message` and optional field violations.
pub fn error_response(code: Code, message: &str, violations: &[(String, String)]) -> Response {
    error_response_as(http_status(code), code, message, violations)
}

/// An error response answered with `status`, which need not be the one
/// `code` maps to (405, 413, 415 have no gRPC code of their own); the body's
/// `code` is always the status the response carries.
pub fn error_response_as(
    status: StatusCode,
    code: Code,
    message: &str,
    violations: &[(String, String)],
) -> Response {
    let mut error = json!({
        "code": status.as_u16(),
        "status": code_name(code),
        "message": message,
    });
    if !violations.is_empty() {
        let list: Vec<_> = violations
            .iter()
            .map(|(field, description)| json!({"field": field, "description": description}))
            .collect();
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": list,
        }]);
    }
    let mut response = (status, Json(json!({ "error": error }))).into_response();
    if code == Code::Unauthenticated {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The HTTP form of a status a service returned.
pub fn from_status(status: &Status) -> Response {
    let violations: Vec<(String, String)> = status
        .get_details_bad_request()
        .map(|br| {
            br.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default();
    error_response(status.code(), status.message(), &violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_like_googles_apis() {
        let cases = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::Unavailable, 503),
            (Code::Internal, 500),
            (Code::DeadlineExceeded, 504),
            (Code::ResourceExhausted, 429),
            (Code::Unimplemented, 501),
        ];
        for (code, http) in cases {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[tokio::test]
    async fn the_body_code_is_the_status_answered() {
        let response = error_response_as(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            "too big",
            &[],
        );
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], 413);
        assert_eq!(json["error"]["status"], "RESOURCE_EXHAUSTED");
    }
}
