//! Resident identity card numbers (居民身份证号码, GB 11643-1999): 17 digits —
//! a 6-digit region, an 8-digit birth date and a 3-digit sequence — then a
//! check character computed with ISO 7064 MOD 11-2 (0–9 or X).

use chrono::NaiveDate;

/// A valid 18-character ID-card number, upper-cased.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCardNumber(String);

// Never print the number itself: it is sensitive.
impl std::fmt::Debug for IdCardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdCardNumber(***)")
    }
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdCardNumber {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_ascii_uppercase();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err("must be 18 characters");
        }
        if !chars[..17].iter().all(char::is_ascii_digit) {
            return Err("the first 17 characters must be digits");
        }
        let birth = &s[6..14];
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err("does not contain a valid birth date");
        }
        if check_char(&chars[..17]) != chars[17] {
            return Err("check character does not match");
        }
        Ok(Self(s))
    }

    /// The birth date encoded in the number.
    pub fn birth_date(&self) -> NaiveDate {
        // Checked in `parse`.
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_char(first17: &[char]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a number with a correct check character.
    fn with_check(first17: &str) -> String {
        let chars: Vec<char> = first17.chars().collect();
        format!("{first17}{}", check_char(&chars))
    }

    #[test]
    fn the_standard_example_verifies() {
        // The worked example of GB 11643-1999.
        let id = IdCardNumber::parse("11010519491231002X").unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert!(
            IdCardNumber::parse("11010519491231002x").is_ok(),
            "lower-case x"
        );
    }

    #[test]
    fn checksum_catches_a_typo() {
        let good = with_check("44030419800308123");
        assert!(IdCardNumber::parse(&good).is_ok());
        let mut typo: Vec<char> = good.chars().collect();
        typo[16] = if typo[16] == '4' { '5' } else { '4' };
        let typo: String = typo.into_iter().collect();
        assert_eq!(
            IdCardNumber::parse(&typo).unwrap_err(),
            "check character does not match"
        );
    }

    #[test]
    fn shape_errors() {
        assert_eq!(
            IdCardNumber::parse("1234").unwrap_err(),
            "must be 18 characters"
        );
        assert_eq!(
            IdCardNumber::parse("1101051949123100AX").unwrap_err(),
            "the first 17 characters must be digits"
        );
        assert_eq!(
            IdCardNumber::parse(&with_check("11010519490231002")).unwrap_err(),
            "does not contain a valid birth date"
        );
    }

    #[test]
    fn debug_hides_the_number() {
        let id = IdCardNumber::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("1101"));
    }
}
