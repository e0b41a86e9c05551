//! Transaction records: the facts a purchase or refund must have before it
//! may count towards a customer's spend.

use chrono::{DateTime, Duration, Utc};

/// A quantity in thousandths of its unit: "2.5" t is 2500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    /// Parses a non-negative decimal with at most three places; empty is 1.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(Self(1000));
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
        {
            return Err("must be a non-negative decimal number such as 2 or 12.5");
        }
        if frac.len() > 3 {
            return Err("may have at most three decimal places");
        }
        let whole: i64 = whole.parse().map_err(|_| "is too large")?;
        let frac_milli: i64 = format!("{frac:0<3}").parse().unwrap_or(0);
        whole
            .checked_mul(1000)
            .and_then(|w| w.checked_add(frac_milli))
            .map(Self)
            .ok_or("is too large")
    }

    pub fn from_milli(milli: i64) -> Self {
        Self(milli)
    }

    pub fn milli(self) -> i64 {
        self.0
    }

    /// The shortest decimal form: 2500 → "2.5".
    pub fn to_decimal(self) -> String {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{frac:03}")
                .trim_end_matches('0')
                .to_owned()
        }
    }
}

/// How far in the future a transaction's time may lie (clock skew between tills).
pub const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// A transaction may not have happened in the future (beyond clock skew).
pub fn check_occurred_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), &'static str> {
    patron_vocab::calendar::check_plausible(at)?;
    if at > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
        return Err("must not be in the future");
    }
    Ok(())
}

/// An id from the source system: 1 to 128 visible characters.
pub fn check_external_id(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("is required: the id in the system the transaction came from");
    }
    if raw.len() > 128 || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must be 1 to 128 characters without spaces");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(Quantity::parse("").unwrap().milli(), 1000);
        assert_eq!(Quantity::parse("2").unwrap().milli(), 2000);
        assert_eq!(Quantity::parse("12.5").unwrap().milli(), 12_500);
        assert_eq!(Quantity::parse("0.001").unwrap().milli(), 1);
        assert_eq!(Quantity::parse("0").unwrap().milli(), 0);
        for bad in ["-1", "1.2345", "abc", ".5", "1e3", "1.2.3"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
        assert!(Quantity::parse("99999999999999999999").is_err());
    }

    #[test]
    fn decimal_form() {
        for (milli, text) in [
            (2500, "2.5"),
            (2000, "2"),
            (1, "0.001"),
            (12_340, "12.34"),
            (0, "0"),
        ] {
            assert_eq!(Quantity::from_milli(milli).to_decimal(), text);
            assert_eq!(Quantity::parse(text).unwrap().milli(), milli);
        }
    }

    #[test]
    fn times_and_ids() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(check_occurred_at(now - Duration::days(400), now).is_ok());
        assert!(check_occurred_at(now + Duration::minutes(4), now).is_ok());
        assert!(check_occurred_at(now + Duration::minutes(6), now).is_err());
        assert!(check_external_id("POS-1/2026/0001").is_ok());
        assert!(check_external_id("").is_err());
        assert!(check_external_id("a b").is_err());
        assert!(check_external_id(&"x".repeat(129)).is_err());
    }
}
