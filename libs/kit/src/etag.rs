//! Etags for optimistic concurrency (AIP-154): every resource row carries a
//! version that each update bumps; the etag is that version, quoted. A caller
//! that sends back a stale etag gets ABORTED instead of overwriting a change
//! it never saw.

use crate::error::ServiceError;

/// The etag of a resource at `version`.
pub fn format(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an etag names. An empty etag means "no check".
pub fn parse(field: &str, etag: &str) -> Result<Option<i64>, ServiceError> {
    let raw = etag.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let unquoted = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    unquoted
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(Some)
        .ok_or_else(|| ServiceError::invalid(field, "is not an etag this service issued"))
}

/// Refuses the change when the caller's etag names another version.
pub fn check(expected: Option<i64>, current: i64, resource: &str) -> Result<(), ServiceError> {
    match expected {
        Some(v) if v != current => Err(ServiceError::Aborted(format!(
            "{resource} was changed by someone else (etag {} is stale, current is {}); read it again and retry",
            format(v),
            format(current)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(parse("etag", &format(7)).unwrap(), Some(7));
        assert_eq!(parse("etag", "W/\"3\"").unwrap(), Some(3));
        assert_eq!(parse("etag", "").unwrap(), None);
    }

    #[test]
    fn garbage_is_invalid_argument() {
        for bad in ["abc", "\"-1\"", "\"0\""] {
            let err = parse("customer.etag", bad).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn stale_is_aborted() {
        assert!(check(None, 4, "x").is_ok());
        assert!(check(Some(4), 4, "x").is_ok());
        assert_eq!(
            check(Some(3), 4, "x").unwrap_err().code(),
            tonic::Code::Aborted
        );
    }
}
