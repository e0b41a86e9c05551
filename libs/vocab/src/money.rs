//! Money, one way for every service and the import: integer minor units of an
//! active ISO 4217 currency, never a float, and never larger in size than
//! [`MAX_AMOUNT_MINOR`]. The bound is what lets sums stay in an `i64`: over
//! nine thousand amounts at the bound still add up without overflow, and every
//! sum is checked all the same. The databases say the same bound in CHECK
//! constraints (profile's and tiering's migrations).
//!
//! Plain Rust, no I/O.

use std::fmt;

/// The largest size of one amount: 10^15 minor units (ten trillion yuan).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// An active ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    digits: u32,
}

/// Active ISO 4217 codes and their minor-unit digits. Funds codes and units
/// of account with minor units are in; precious metals, testing and "no
/// currency" codes (XAU, XTS, XXX …) have no minor unit and are out.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2),
    ("AUD", 2), ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2),
    ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2),
    ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2),
    ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2),
    ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2),
    ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0),
    ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2),
    ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2),
    ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2),
    ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2),
    ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// Why a currency or an amount is refused, in words for the caller.
pub const NOT_A_CURRENCY: &str = "currency_code must be an active ISO 4217 code such as CNY";

impl Currency {
    /// The active currency `code` names (upper case, as ISO writes it).
    pub fn parse(code: &str) -> Result<Self, &'static str> {
        CURRENCIES
            .binary_search_by(|(c, _)| (*c).cmp(code))
            .map(|i| Self {
                code: CURRENCIES[i].0,
                digits: CURRENCIES[i].1,
            })
            .map_err(|_| NOT_A_CURRENCY)
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Minor units per major unit, as a power of ten (2 for CNY, 0 for JPY).
    pub fn digits(&self) -> u32 {
        self.digits
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Minor units per major unit of the currency `code` names, as a power of
/// ten; 2 for a code that is not a currency, as figures recorded before codes
/// were checked are read.
pub fn digits_or_default(code: &str) -> u32 {
    Currency::parse(code).map_or(2, |c| c.digits())
}

/// `minor` when its size is within [`MAX_AMOUNT_MINOR`].
pub fn bounded(minor: i64) -> Result<i64, &'static str> {
    if minor.unsigned_abs() <= MAX_AMOUNT_MINOR as u64 {
        Ok(minor)
    } else {
        Err("amount_minor must be at most 10^15 minor units in size")
    }
}

/// A valid amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub currency: Currency,
    pub amount_minor: i64,
}

impl Money {
    /// An amount that may be negative (a correction, arrears owed back).
    pub fn new(currency_code: &str, amount_minor: i64) -> Result<Self, &'static str> {
        Ok(Self {
            currency: Currency::parse(currency_code)?,
            amount_minor: bounded(amount_minor)?,
        })
    }

    /// An amount that cannot be negative (assets, sales, a purchase).
    pub fn non_negative(currency_code: &str, amount_minor: i64) -> Result<Self, &'static str> {
        let money = Self::new(currency_code, amount_minor)?;
        if amount_minor < 0 {
            return Err("amount_minor must not be negative");
        }
        Ok(money)
    }
}

/// The sum of `amounts`, or `None` when it would overflow.
pub fn checked_sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
    amounts
        .into_iter()
        .try_fold(0i64, |total, amount| total.checked_add(amount))
}

/// `1200`, `1,200.50` or `-5` (major units) as minor units of a currency with
/// `digits` decimal places, within the bound.
pub fn parse_major(text: &str, digits: u32) -> Result<i64, String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' '))
        .collect();
    let (negative, rest) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let places = digits as usize;
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("{text:?} is not an amount"));
    }
    if fraction.len() > places {
        return Err(format!("{text:?} has more than {places} decimal places"));
    }
    let scaled = format!("{whole}{fraction:0<places$}");
    let digits_only = scaled.trim_start_matches('0');
    let minor: i64 = if digits_only.is_empty() {
        0
    } else {
        digits_only
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?
    };
    let minor = if negative { -minor } else { minor };
    bounded(minor).map_err(|_| format!("{text:?} is too large"))
}

/// Minor units as a decimal in major units: 123450 → `1234.50`.
pub fn format_minor(minor: i64, digits: u32) -> String {
    if digits == 0 {
        return minor.to_string();
    }
    let unit = 10u64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = digits as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_upper_case_and_unique() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            CURRENCIES
                .iter()
                .all(|(c, _)| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn only_active_iso_codes_are_currencies() {
        assert_eq!(Currency::parse("CNY").unwrap().digits(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().digits(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().digits(), 3);
        for bad in ["XYZ", "cny", "", "CN", "CNYY", "XTS", "XXX", "XAU"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_codes_read_as_two_digits() {
        assert_eq!(digits_or_default("JPY"), 0);
        assert_eq!(digits_or_default("KWD"), 3);
        assert_eq!(digits_or_default("???"), 2);
    }

    #[test]
    fn amounts_are_bounded_and_signed_as_asked() {
        assert_eq!(
            Money::non_negative("CNY", 12_345).unwrap().amount_minor,
            12_345
        );
        assert!(Money::non_negative("CNY", MAX_AMOUNT_MINOR).is_ok());
        assert!(Money::non_negative("CNY", MAX_AMOUNT_MINOR + 1).is_err());
        assert!(Money::non_negative("CNY", i64::MAX).is_err());
        assert!(Money::new("CNY", i64::MIN).is_err());
        assert!(Money::new("CNY", -5).is_ok());
        assert_eq!(
            Money::non_negative("CNY", -1).unwrap_err(),
            "amount_minor must not be negative"
        );
        assert_eq!(Money::non_negative("XYZ", 1).unwrap_err(), NOT_A_CURRENCY);
    }

    #[test]
    fn sums_at_the_bound_fit_and_overflow_is_caught() {
        assert_eq!(
            checked_sum(std::iter::repeat_n(MAX_AMOUNT_MINOR, 9_000)),
            Some(9_000 * MAX_AMOUNT_MINOR)
        );
        assert_eq!(checked_sum([i64::MAX, 1]), None);
        assert_eq!(checked_sum([]), Some(0));
    }

    #[test]
    fn major_to_minor_and_back() {
        assert_eq!(parse_major("1200", 2), Ok(120_000));
        assert_eq!(parse_major("5,000,000", 2), Ok(500_000_000));
        assert_eq!(parse_major("0.5", 2), Ok(50));
        assert_eq!(parse_major("-12.25", 2), Ok(-1_225));
        assert_eq!(parse_major("20", 3), Ok(20_000));
        assert_eq!(parse_major("000", 2), Ok(0));
        assert!(parse_major("1.234", 2).is_err());
        assert!(parse_major("12yuan", 2).is_err());
        assert!(parse_major("", 2).is_err());
        assert!(parse_major("92233720368547758.07", 2).is_err());
        assert!(parse_major("10000000000000.01", 2).is_err());
        assert_eq!(format_minor(123_450, 2), "1234.50");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(20_500, 3), "20.500");
        assert_eq!(format_minor(1500, 0), "1500");
    }
}
