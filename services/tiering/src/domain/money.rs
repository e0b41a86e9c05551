//! Amounts in presets are written in major units (yuan) as people write
//! them; the engine works in integer minor units.

/// Minor units per major unit, as a power of ten, by ISO 4217 code.
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// `1200`, `1,200.50` or `5000000` (major units) → minor units.
pub fn parse_major(text: &str, exponent: u32) -> Result<i64, String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' '))
        .collect();
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let places = exponent as usize;
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("{text:?} is not an amount"));
    }
    if fraction.len() > places {
        return Err(format!("{text:?} has more than {places} decimal places"));
    }
    let minor: i64 = format!("{whole}{fraction:0<places$}")
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    Ok(if negative { -minor } else { minor })
}

/// Minor units as a decimal in major units: 123450 → `1234.50`.
pub fn format_minor(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let unit = 10i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit as u64,
        abs % unit as u64,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_to_minor_and_back() {
        assert_eq!(parse_major("1200", 2), Ok(120_000));
        assert_eq!(parse_major("5,000,000", 2), Ok(500_000_000));
        assert_eq!(parse_major("0.5", 2), Ok(50));
        assert_eq!(parse_major("-12.25", 2), Ok(-1_225));
        assert_eq!(parse_major("20", 3), Ok(20_000));
        assert!(parse_major("1.234", 2).is_err());
        assert!(parse_major("12yuan", 2).is_err());
        assert!(parse_major("", 2).is_err());
        assert_eq!(format_minor(123_450, 2), "1234.50");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(20_500, 3), "20.500");
        assert_eq!(format_minor(1500, 0), "1500");
    }
}
