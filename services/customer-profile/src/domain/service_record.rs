//! Service records (003): when a service was rendered, what it was, and how
//! it ended.

use chrono::{DateTime, Duration, Utc};

/// The longest content or result kept, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// How far ahead of the service's clock a record's time may lie (clocks of
/// portals and phones drift); a service in the future has not happened yet.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// Checks a service record, naming each bad field.
pub fn check(
    service_time: Option<DateTime<Utc>>,
    content: &str,
    result: &str,
    now: DateTime<Utc>,
) -> Result<(), Vec<(&'static str, String)>> {
    let mut bad = Vec::new();
    match service_time {
        None => bad.push(("service_time", "is required".to_owned())),
        Some(t) if t > now + CLOCK_SKEW => {
            bad.push(("service_time", "lies in the future".to_owned()))
        }
        Some(t) => {
            if let Err(why) = patron_vocab::calendar::check_plausible(t) {
                bad.push(("service_time", why.to_owned()));
            }
        }
    }
    if patron_vocab::text::is_blank(content) {
        bad.push(("content", "is required".to_owned()));
    }
    for (field, text) in [("content", content), ("result", result)] {
        if text.chars().count() > MAX_TEXT_CHARS {
            bad.push((
                field,
                format!("must be at most {MAX_TEXT_CHARS} characters"),
            ));
        }
    }
    if bad.is_empty() { Ok(()) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn fields(r: Result<(), Vec<(&'static str, String)>>) -> Vec<&'static str> {
        r.unwrap_err().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_past_service_with_content_is_kept() {
        assert!(
            check(
                Some(now() - Duration::days(2)),
                "delivered samples",
                "",
                now()
            )
            .is_ok()
        );
        assert!(
            check(Some(now() + Duration::minutes(1)), "call", "ok", now()).is_ok(),
            "small clock drift is tolerated"
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            fields(check(None, " ", "", now())),
            vec!["service_time", "content"]
        );
        assert_eq!(
            fields(check(Some(now() + Duration::hours(1)), "x", "", now())),
            vec!["service_time"]
        );
        assert_eq!(
            fields(check(
                Some(now()),
                "x",
                &"y".repeat(MAX_TEXT_CHARS + 1),
                now()
            )),
            vec!["result"]
        );
    }
}
