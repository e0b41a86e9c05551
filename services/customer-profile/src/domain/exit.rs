//! Leaving the VIP programme (003): status revoked for a serious breach, or
//! the customer's own written request. Either way the reason is kept.

use chrono::{DateTime, Utc};

/// The longest reason or reference kept.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Why a customer left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    RevokedForBreach = 1,
    Voluntary = 2,
}

impl ExitKind {
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::RevokedForBreach),
            2 => Some(Self::Voluntary),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        self as i16
    }
}

/// A checked exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub kind: ExitKind,
    pub reason: String,
    /// The written request's reference; only for voluntary exits.
    pub written_request_reference: Option<String>,
}

/// Checks an exit request, naming each bad field.
pub fn check(
    kind: i32,
    reason: &str,
    reference: &str,
) -> Result<Exit, Vec<(&'static str, String)>> {
    let mut bad = Vec::new();
    let kind = ExitKind::from_code(kind);
    if kind.is_none() {
        bad.push(("kind", "must be REVOKED_FOR_BREACH or VOLUNTARY".to_owned()));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        bad.push(("reason", "is required".to_owned()));
    } else if reason.chars().count() > MAX_TEXT_CHARS {
        bad.push((
            "reason",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    let reference = reference.trim();
    if reference.chars().count() > MAX_TEXT_CHARS {
        bad.push((
            "written_request_reference",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    match kind {
        Some(ExitKind::Voluntary) if reference.is_empty() => bad.push((
            "written_request_reference",
            "is required: a voluntary exit is requested in writing".to_owned(),
        )),
        Some(ExitKind::RevokedForBreach) if !reference.is_empty() => bad.push((
            "written_request_reference",
            "is only for voluntary exits".to_owned(),
        )),
        _ => {}
    }
    match kind {
        Some(kind) if bad.is_empty() => Ok(Exit {
            kind,
            reason: reason.to_owned(),
            written_request_reference: (!reference.is_empty()).then(|| reference.to_owned()),
        }),
        _ => Err(bad),
    }
}

/// Whether a transaction may be recorded for a customer who left at
/// `exited_at`: a purchase made after the exit is no member's purchase (003:
/// the status was revoked or given up) and is refused, naming the exit. A
/// refund, or a purchase made before the exit and recorded late, is kept:
/// it happened while they were a member.
pub fn check_transaction(
    is_purchase: bool,
    occurred_at: DateTime<Utc>,
    exited_at: Option<DateTime<Utc>>,
) -> Result<(), String> {
    match exited_at {
        Some(exited_at) if is_purchase && occurred_at >= exited_at => Err(format!(
            "the customer left the programme at {}; a purchase made after the exit is not recorded",
            exited_at.format("%Y-%m-%d %H:%M UTC")
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purchase_after_the_exit_is_refused_but_earlier_ones_and_refunds_are_kept() {
        let exited = "2026-12-03T02:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let before = exited - chrono::Duration::days(3);
        let after = exited + chrono::Duration::minutes(1);
        let refused = check_transaction(true, after, Some(exited)).unwrap_err();
        assert!(refused.contains("2026-12-03 02:00 UTC"), "{refused}");
        assert!(check_transaction(true, exited, Some(exited)).is_err());
        assert_eq!(check_transaction(true, before, Some(exited)), Ok(()));
        assert_eq!(check_transaction(false, after, Some(exited)), Ok(()));
        assert_eq!(check_transaction(true, after, None), Ok(()));
    }

    fn fields(r: Result<Exit, Vec<(&'static str, String)>>) -> Vec<&'static str> {
        r.unwrap_err().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn revocation_needs_a_reason() {
        let exit = check(1, " repeated fraud ", "").unwrap();
        assert_eq!(exit.kind, ExitKind::RevokedForBreach);
        assert_eq!(exit.reason, "repeated fraud");
        assert_eq!(exit.written_request_reference, None);
        assert_eq!(fields(check(1, " ", "")), vec!["reason"]);
        assert_eq!(
            fields(check(1, "fraud", "letter 7")),
            vec!["written_request_reference"]
        );
    }

    #[test]
    fn voluntary_exit_needs_the_written_request() {
        let exit = check(2, "moving abroad", "letter 2026-114").unwrap();
        assert_eq!(exit.kind, ExitKind::Voluntary);
        assert_eq!(
            exit.written_request_reference.as_deref(),
            Some("letter 2026-114")
        );
        assert_eq!(
            fields(check(2, "moving abroad", "")),
            vec!["written_request_reference"]
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(fields(check(0, "", "")), vec!["kind", "reason"]);
        assert_eq!(
            fields(check(
                2,
                &"x".repeat(MAX_TEXT_CHARS + 1),
                &"y".repeat(MAX_TEXT_CHARS + 1)
            )),
            vec!["reason", "written_request_reference"]
        );
        assert_eq!(fields(check(9, "r", "")), vec!["kind"]);
    }
}
