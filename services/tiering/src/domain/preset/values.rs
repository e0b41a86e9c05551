//! Values a preset writes as text: figure windows and credit grades.

use crate::domain::policy::Window;

/// `calendar_year`, `lifetime`, or `N months`.
pub fn parse_window(text: &str) -> Option<Window> {
    match text.trim() {
        "calendar_year" => Some(Window::CalendarYear),
        "lifetime" => Some(Window::Lifetime),
        other => {
            let n: u32 = other
                .strip_suffix("months")
                .or_else(|| other.strip_suffix("month"))?
                .trim()
                .parse()
                .ok()?;
            (1..=60).contains(&n).then_some(Window::RollingMonths(n))
        }
    }
}

/// A credit grade as a rank: `A` or `1` is 1, `B` or `2` is 2…
pub fn credit_rank(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return (1..=26).contains(&n).then_some(n);
    }
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => {
            Some(i64::from(c.to_ascii_uppercase() as u8 - b'A') + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_grades() {
        assert_eq!(parse_window("12 months"), Some(Window::RollingMonths(12)));
        assert_eq!(parse_window("1 month"), Some(Window::RollingMonths(1)));
        assert_eq!(parse_window("61 months"), None);
        assert_eq!(parse_window("forever"), None);
        assert_eq!(credit_rank("A"), Some(1));
        assert_eq!(credit_rank("c"), Some(3));
        assert_eq!(credit_rank("2"), Some(2));
        assert_eq!(credit_rank("AA"), None);
    }
}
