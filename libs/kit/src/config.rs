//! Configuration from environment variables, with defaults that work on a
//! developer's machine (Postgres and Redis on localhost). A malformed value is
//! an error naming the variable, never a silent fallback.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub reason: String,
}

/// Reads `name`, or `default` when it is unset or empty.
pub fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

/// Reads `name` if it is set and not empty.
pub fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads and parses `name`, or returns `default` when unset.
pub fn env_parse<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    match env_opt(name) {
        None => Ok(default),
        Some(raw) => parse_named(name, &raw),
    }
}

/// Parses `raw`, the value of variable `name`, into a clear error on failure.
pub fn parse_named<T>(name: &str, raw: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    raw.trim().parse().map_err(|e: T::Err| ConfigError {
        name: name.to_owned(),
        reason: format!("cannot parse {raw:?}: {e}"),
    })
}

/// Reads a duration given in whole seconds.
pub fn env_secs(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    env_parse(name, default.as_secs()).map(Duration::from_secs)
}

/// Reads a duration given in milliseconds.
pub fn env_millis(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    env_parse(name, default.as_millis() as u64).map(Duration::from_millis)
}

/// Reads a socket address.
pub fn env_addr(name: &str, default: &str) -> Result<SocketAddr, ConfigError> {
    let raw = env_or(name, default);
    raw.parse().map_err(|e| ConfigError {
        name: name.to_owned(),
        reason: format!("{raw:?} is not a host:port address: {e}"),
    })
}

/// `url` with any password hidden (`postgres://user:***@host/db`, and a
/// `password=` query parameter), for messages, logs and `Debug`.
/// Shows a URL in `Debug` output without its password.
pub struct RedactedUrl<'a>(pub &'a str);

impl std::fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_url(self.0))
    }
}

pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = authority_start..authority_start + at;
            if let Some(colon) = out[userinfo.clone()].find(':') {
                out.replace_range(authority_start + colon + 1..userinfo.end, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// A value that must never be printed: its `Debug` and `Display` are redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://patron:s3cr:et@db:5432/patron?sslmode=require"),
            "postgres://patron:***@db:5432/patron?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/patron?user=x&password=hunter2"),
            "postgres://db/patron?user=x&password=***"
        );
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact_url("postgres://patron@127.0.0.1:5432/patron"),
            "postgres://patron@127.0.0.1:5432/patron"
        );
    }

    #[test]
    fn parse_error_names_variable() {
        assert_eq!(parse_named::<u32>("PATRON_X", " 42 ").unwrap(), 42);
        let err = parse_named::<u32>("PATRON_X", "forty").unwrap_err();
        assert_eq!(err.name, "PATRON_X");
        assert!(err.to_string().contains("PATRON_X"), "{err}");
        assert!(err.to_string().contains("forty"), "{err}");
    }
}
