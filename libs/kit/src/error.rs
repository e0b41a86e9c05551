//! The one error type of the suite's edges. Each variant maps to one gRPC code;
//! internal causes are logged with the request's trace and never shown to the
//! caller. Invalid arguments carry one violation per bad field in the status
//! details (google.rpc.BadRequest), so clients and the gateway can name them.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One bad field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, e.g. `customer.contact.email`.
    pub field: String,
    /// What is wrong with it, in words a caller can act on.
    pub description: String,
}

/// Collects every bad field of a request before refusing it, so a caller
/// fixes all of them in one round trip.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Adds every violation of `other`, each field prefixed with `prefix.`.
    pub fn extend_prefixed(&mut self, prefix: &str, other: Violations) {
        for v in other.0 {
            self.add(format!("{prefix}.{}", v.field), v.description);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was added, else the invalid-argument error.
    pub fn into_result(self) -> Result<(), ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self))
        }
    }
}

/// What went wrong, as the caller should learn it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid argument: {0}")]
    InvalidArgument(Violations),
    #[error("{0} not found")]
    NotFound(String),
    /// NOT_FOUND with why, read as one sentence: "`name` not found: `why`".
    #[error("{name} not found: {why}")]
    NotFoundBecause { name: String, why: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent change: the etag the caller sent is stale.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A dependency the call cannot do without is down.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; the cause is logged, the caller sees a generic message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl ServiceError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Violations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }

    /// NOT_FOUND for the resource `name` (e.g. `customers/{id}`). The one
    /// answer both for a resource that does not exist and for one outside
    /// the caller's reach, word for word, so a caller cannot learn which ids
    /// exist. PERMISSION_DENIED stays for what a role may not do at all.
    pub fn not_found(name: impl std::fmt::Display) -> Self {
        Self::NotFound(name.to_string())
    }

    /// NOT_FOUND for `name`, saying why when the reason is the caller's to
    /// know (a tier not decided yet, rather than no such customer).
    pub fn not_found_because(name: impl std::fmt::Display, why: impl Into<String>) -> Self {
        Self::NotFoundBecause {
            name: name.to_string(),
            why: why.into(),
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) | Self::NotFoundBecause { .. } => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Aborted(_) => Code::Aborted,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidArgument(violations) => {
                let details = ErrorDetails::with_bad_request(
                    violations
                        .iter()
                        .map(|v| tonic_types::FieldViolation::new(&v.field, &v.description))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid argument: {violations}"),
                    details,
                )
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Status::internal("internal error")
            }
            ServiceError::Unavailable(what) => {
                tracing::warn!(%what, "dependency unavailable");
                Status::unavailable(what)
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && let Some(mapped) = from_sqlstate(db.code().as_deref(), db.constraint())
        {
            if matches!(mapped, Self::Aborted(_) | Self::Unavailable(_)) {
                tracing::warn!(error = %err, "retryable database error");
            }
            return mapped;
        }
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => {
                tracing::warn!(error = %err, "database unreachable");
                Self::Unavailable("the database is unavailable; try again".into())
            }
            _ => Self::Internal(err.into()),
        }
    }
}

/// What a database error with SQLSTATE `code` means to the caller: a
/// conflict with a concurrent transaction is worth retrying (ABORTED), an
/// overloaded or restarting database too (UNAVAILABLE), and a broken
/// constraint is the caller's mistake, named. `None` for our own faults.
pub fn from_sqlstate(code: Option<&str>, constraint: Option<&str>) -> Option<ServiceError> {
    let constraint = constraint.unwrap_or("unnamed");
    let code = code?;
    Some(match code {
        "40P01" | "40001" => ServiceError::Aborted(
            "the change conflicted with a concurrent one and was rolled back; retry it".into(),
        ),
        "55P03" => {
            ServiceError::Aborted("what the change needs is locked by another; retry it".into())
        }
        "57014" => ServiceError::Unavailable(
            "the database took too long to answer and the statement was cancelled; try again"
                .into(),
        ),
        "23505" => ServiceError::AlreadyExists(format!("it already exists ({constraint})")),
        "23503" => ServiceError::FailedPrecondition(format!(
            "a record it refers to does not exist, or others still refer to it ({constraint})"
        )),
        "23514" => {
            ServiceError::FailedPrecondition(format!("a value breaks the rule {constraint}"))
        }
        // Connection trouble, too many connections, a restarting server.
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") => {
            ServiceError::Unavailable("the database is unavailable; try again".into())
        }
        _ => return None,
    })
}

/// The name of the unique constraint a database error violated, if that is
/// what it was; lets a store turn a race into a precise ALREADY_EXISTS.
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

/// The field violations carried in a status's details, for clients and tests.
pub fn violations_of(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|br| {
            br.field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field() {
        let mut v = Violations::new();
        v.add("display_name", "is required");
        v.add("contact.email", "is not an e-mail address");
        let status: Status = v.into_result().unwrap_err().into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = violations_of(&status)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["display_name", "contact.email"]);
        assert!(status.message().contains("display_name: is required"));
    }

    #[test]
    fn internal_hides_its_cause() {
        let status: Status = ServiceError::internal(anyhow::anyhow!("password=secret")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn prefixed_violations_keep_paths() {
        let mut inner = Violations::new();
        inner.add("email", "bad");
        let mut outer = Violations::new();
        outer.extend_prefixed("customer", inner);
        assert_eq!(outer.iter().next().unwrap().field, "customer.email");
    }

    #[test]
    fn database_errors_map_by_sqlstate() {
        let code = |sqlstate: &str| {
            from_sqlstate(Some(sqlstate), Some("cards_status_check")).map(|e| e.code())
        };
        assert_eq!(code("40P01"), Some(Code::Aborted), "deadlock");
        assert_eq!(code("40001"), Some(Code::Aborted), "serialization");
        assert_eq!(code("55P03"), Some(Code::Aborted), "lock not available");
        assert_eq!(code("57014"), Some(Code::Unavailable), "statement timeout");
        assert_eq!(code("08006"), Some(Code::Unavailable), "connection failure");
        assert_eq!(
            code("53300"),
            Some(Code::Unavailable),
            "too many connections"
        );
        assert_eq!(code("57P01"), Some(Code::Unavailable), "admin shutdown");
        assert_eq!(code("23505"), Some(Code::AlreadyExists));
        assert_eq!(code("23503"), Some(Code::FailedPrecondition));
        assert_eq!(code("23514"), Some(Code::FailedPrecondition));
        assert_eq!(code("42P01"), None, "our own fault stays internal");
        assert!(from_sqlstate(None, None).is_none());
        let named = from_sqlstate(Some("23514"), Some("cards_status_check")).unwrap();
        assert!(named.to_string().contains("cards_status_check"));
        assert!(
            from_sqlstate(Some("40P01"), None)
                .unwrap()
                .to_string()
                .contains("retry")
        );
    }

    #[test]
    fn each_variant_has_its_code() {
        let cases = [
            (ServiceError::NotFound("x".into()), Code::NotFound),
            (ServiceError::AlreadyExists("x".into()), Code::AlreadyExists),
            (
                ServiceError::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (ServiceError::Aborted("x".into()), Code::Aborted),
            (
                ServiceError::PermissionDenied("x".into()),
                Code::PermissionDenied,
            ),
            (
                ServiceError::Unauthenticated("x".into()),
                Code::Unauthenticated,
            ),
            (ServiceError::Unavailable("x".into()), Code::Unavailable),
            (ServiceError::not_found_because("x", "why"), Code::NotFound),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }

    #[test]
    fn not_found_messages_read_as_sentences() {
        assert_eq!(
            Status::from(ServiceError::not_found("customers/1")).message(),
            "customers/1 not found"
        );
        assert_eq!(
            Status::from(ServiceError::not_found_because(
                "customers/1/tierAssignment",
                "the customer has not been tiered yet"
            ))
            .message(),
            "customers/1/tierAssignment not found: the customer has not been tiered yet"
        );
    }
}
