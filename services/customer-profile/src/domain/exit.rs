//! Leaving the VIP programme (003): status revoked for a serious breach, or
//! the customer's own written request. Either way the reason is kept.

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

#[cfg(test)]
mod tests {
    use super::*;

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
