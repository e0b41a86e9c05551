//! Phone numbers and e-mail addresses. Phone numbers are kept as written but
//! compared in a normal form (digits, with a leading + for international ones),
//! so "138-0013-8000" and "138 0013 8000" find the same customer.

/// A phone number in normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts digits with spaces, dashes, dots and parentheses, and an
    /// optional leading `+`; 5 to 20 digits in all.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(
                        "may contain only digits, spaces, dashes, dots, parentheses and a leading +",
                    );
                }
            }
        }
        if !(5..=20).contains(&digits.len()) {
            return Err("must have between 5 and 20 digits");
        }
        Ok(Self(format!("{plus}{digits}")))
    }

    pub fn normalized(&self) -> &str {
        &self.0
    }
}

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain,
/// no spaces, at most 254 characters. Deliverability is the mail server's call.
pub fn check_email(raw: &str) -> Result<(), &'static str> {
    let s = raw.trim();
    if s.len() > 254 {
        return Err("must be at most 254 characters");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err("is not an e-mail address (no @)");
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || !domain_ok || s.chars().any(char::is_whitespace) {
        return Err("is not an e-mail address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise() {
        assert_eq!(
            PhoneNumber::parse("138-0013-8000").unwrap().normalized(),
            "13800138000"
        );
        assert_eq!(
            PhoneNumber::parse(" 138 0013 8000 ").unwrap().normalized(),
            "13800138000"
        );
        assert_eq!(
            PhoneNumber::parse("+86 (10) 6552.9988")
                .unwrap()
                .normalized(),
            "+861065529988"
        );
        assert_eq!(
            PhoneNumber::parse("010-65529988").unwrap().normalized(),
            "01065529988"
        );
    }

    #[test]
    fn phones_refused() {
        assert!(PhoneNumber::parse("1234").is_err());
        assert!(PhoneNumber::parse("138001380001380013800").is_err());
        assert!(PhoneNumber::parse("138OO138000").is_err());
        assert!(PhoneNumber::parse("++8613800138000").is_err());
        assert!(PhoneNumber::parse("").is_err());
    }

    #[test]
    fn emails() {
        assert!(check_email("wang.li@example.com.cn").is_ok());
        for bad in [
            "",
            "wang",
            "@example.com",
            "wang@",
            "wang@example",
            "wang@.com",
            "wang@ex..com",
            "wa ng@example.com",
            "a@b@c.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
