//! Money as integer minor units with an ISO 4217 currency, never a float.

/// A valid amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub currency: [u8; 3],
    pub amount_minor: i64,
}

impl Money {
    /// Checks the currency code (three upper-case letters) and, for amounts
    /// that cannot be negative (assets, sales), the sign.
    pub fn non_negative(currency: &str, amount_minor: i64) -> Result<Self, &'static str> {
        let bytes = currency.as_bytes();
        let [a, b, c] = bytes else {
            return Err("currency_code must be a three-letter ISO 4217 code such as CNY");
        };
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err("currency_code must be a three-letter ISO 4217 code such as CNY");
        }
        if amount_minor < 0 {
            return Err("amount_minor must not be negative");
        }
        Ok(Self {
            currency: [*a, *b, *c],
            amount_minor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_currency_and_sign() {
        assert_eq!(
            Money::non_negative("CNY", 12_345).unwrap().amount_minor,
            12_345
        );
        assert!(Money::non_negative("CNY", 0).is_ok());
        for bad in ["", "cny", "CN", "CNYY", "C1Y"] {
            assert!(Money::non_negative(bad, 1).is_err(), "{bad}");
        }
        assert_eq!(
            Money::non_negative("CNY", -1).unwrap_err(),
            "amount_minor must not be negative"
        );
    }
}
