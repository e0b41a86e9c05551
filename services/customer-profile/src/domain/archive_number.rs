//! Archive numbers (档案编号): the unique human number a customer is looked up
//! by. A company may bring its own (from its spreadsheets) or let Patron
//! assign the next one.

use std::fmt;

/// A valid archive number: 1 to 32 of A–Z, 0–9 and inner dashes, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveNumber(String);

impl ArchiveNumber {
    pub const MAX_LEN: usize = 32;

    /// Parses a number given by a caller; lower case is accepted and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_ascii_uppercase();
        if s.is_empty() {
            return Err("must not be empty");
        }
        if s.len() > Self::MAX_LEN {
            return Err("must be at most 32 characters");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        {
            return Err("may contain only letters, digits and dashes");
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err("must not start or end with a dash");
        }
        Ok(Self(s))
    }

    /// The number Patron assigns from its sequence: the prefix and eight digits.
    pub fn assigned(prefix: &str, sequence: i64) -> Result<Self, &'static str> {
        Self::parse(&format!("{prefix}{sequence:08}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArchiveNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            ArchiveNumber::parse(" vip-2026-001 ").unwrap().as_str(),
            "VIP-2026-001"
        );
        assert_eq!(ArchiveNumber::parse("A1").unwrap().as_str(), "A1");
    }

    #[test]
    fn refuses() {
        for (raw, why) in [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            ("A B", "may contain only letters, digits and dashes"),
            ("编号1", "may contain only letters, digits and dashes"),
            ("-A1", "must not start or end with a dash"),
            ("A1-", "must not start or end with a dash"),
        ] {
            assert_eq!(ArchiveNumber::parse(raw).unwrap_err(), why, "{raw:?}");
        }
        assert!(ArchiveNumber::parse(&"A".repeat(33)).is_err());
        assert!(ArchiveNumber::parse(&"A".repeat(32)).is_ok());
    }

    #[test]
    fn assigned_numbers_are_padded() {
        assert_eq!(
            ArchiveNumber::assigned("A", 42).unwrap().as_str(),
            "A00000042"
        );
        assert_eq!(
            ArchiveNumber::assigned("VIP-", 123_456_789)
                .unwrap()
                .as_str(),
            "VIP-123456789"
        );
    }
}
