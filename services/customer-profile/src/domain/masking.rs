//! How sensitive values look to staff without the sensitive-read permission:
//! enough to recognise a customer on the phone, not enough to misuse.

/// `13800138000` → `138****8000`; short numbers keep only their last two.
pub fn phone(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let n = chars.len();
    if n >= 8 {
        let keep_tail = 4;
        let keep_head = 3;
        chars[..keep_head].iter().collect::<String>()
            + &"*".repeat(n - keep_head - keep_tail)
            + &chars[n - keep_tail..].iter().collect::<String>()
    } else {
        "*".repeat(n.saturating_sub(2)) + &chars[n.saturating_sub(2)..].iter().collect::<String>()
    }
}

/// `11010519491231002X` → `110105********002X`: region kept, birth date hidden.
pub fn id_card(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() < 10 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..6].iter().collect::<String>()
        + &"*".repeat(n - 10)
        + &chars[n - 4..].iter().collect::<String>()
}

/// An address keeps its first six characters (city, district).
pub fn address(raw: &str) -> String {
    if raw.is_empty() {
        return String::new();
    }
    raw.chars().take(6).collect::<String>() + "****"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(phone("13800138000"), "138****8000");
        assert_eq!(phone("138-0013-8000"), "138******8000");
        assert_eq!(phone("1234567"), "*****67");
        assert_eq!(phone(""), "");
    }

    #[test]
    fn id_cards() {
        assert_eq!(id_card("11010519491231002X"), "110105********002X");
        assert_eq!(id_card("123"), "***");
    }

    #[test]
    fn addresses() {
        assert_eq!(address("北京市朝阳区建国路88号"), "北京市朝阳区****");
        assert_eq!(address("Rm 5"), "Rm 5****");
        assert_eq!(address(""), "");
    }
}
