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

/// The purchase a refund names, as stored, with what its other refunds took
/// back already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPurchase {
    pub is_purchase: bool,
    pub currency: String,
    pub amount_minor: i64,
    pub occurred_at: DateTime<Utc>,
    /// The sum of the purchase's other refunds.
    pub refunded_minor: i64,
}

/// Why a refund cannot take back the purchase it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundProblem {
    /// The request is wrong in itself: the field and why.
    Invalid(&'static str, String),
    /// The purchase has not that much left to take back.
    MoreThanPaid(String),
}

/// Checks a refund of `amount_minor` in `currency` at `occurred_at` against
/// the purchase it names: a purchase, in the same currency, made no later
/// than the refund, and never taken back beyond what it paid (003: a
/// purchase counts for what was actually paid).
pub fn check_named_refund(
    purchase: &NamedPurchase,
    currency: &str,
    amount_minor: i64,
    occurred_at: DateTime<Utc>,
) -> Result<(), RefundProblem> {
    if !purchase.is_purchase {
        return Err(RefundProblem::Invalid(
            "refunded_transaction",
            "names a refund; a refund takes back a purchase".into(),
        ));
    }
    if purchase.currency.trim() != currency {
        return Err(RefundProblem::Invalid(
            "amount",
            format!(
                "is in {currency} but the purchase it refunds was paid in {}",
                purchase.currency.trim()
            ),
        ));
    }
    if occurred_at < purchase.occurred_at {
        return Err(RefundProblem::Invalid(
            "occur_time",
            "is before the purchase it refunds".into(),
        ));
    }
    let left = purchase.amount_minor - purchase.refunded_minor;
    if amount_minor > left {
        let show = |minor| {
            patron_vocab::money::format_minor(
                minor,
                patron_vocab::money::digits_or_default(currency),
            )
        };
        return Err(RefundProblem::MoreThanPaid(format!(
            "the purchase paid {} {currency} and {} was refunded already: at most {} is left to refund",
            show(purchase.amount_minor),
            show(purchase.refunded_minor),
            show(left)
        )));
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

    #[test]
    fn a_refund_takes_back_at_most_what_its_purchase_paid() {
        let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, h, 0, 0).unwrap();
        let purchase = NamedPurchase {
            is_purchase: true,
            currency: "CNY".into(),
            amount_minor: 120_000,
            occurred_at: at(9),
            refunded_minor: 0,
        };
        assert_eq!(check_named_refund(&purchase, "CNY", 30_000, at(10)), Ok(()));
        assert_eq!(
            check_named_refund(&purchase, "CNY", 120_000, at(10)),
            Ok(())
        );
        let partly = NamedPurchase {
            refunded_minor: 30_000,
            ..purchase.clone()
        };
        assert_eq!(
            check_named_refund(&partly, "CNY", 90_001, at(10)),
            Err(RefundProblem::MoreThanPaid(
                "the purchase paid 1200.00 CNY and 300.00 was refunded already: at most 900.00 is left to refund".into()
            ))
        );
        let field = |r: Result<(), RefundProblem>| match r {
            Err(RefundProblem::Invalid(field, _)) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check_named_refund(&purchase, "USD", 100, at(10))),
            "amount"
        );
        assert_eq!(
            field(check_named_refund(&purchase, "CNY", 100, at(8))),
            "occur_time"
        );
        let refund = NamedPurchase {
            is_purchase: false,
            ..purchase
        };
        assert_eq!(
            field(check_named_refund(&refund, "CNY", 100, at(10))),
            "refunded_transaction"
        );
    }
}
