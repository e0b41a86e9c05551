//! Conversions between chrono times and protobuf timestamps, and the range
//! of years a date or time of the suite's business may fall in.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Utc};

/// Years a transaction, a service or a birthday can plausibly lie in. Year 1
/// or 9999 is a typing slip or a default, never a fact about a customer.
pub const PLAUSIBLE_YEARS: RangeInclusive<i32> = 1900..=2200;

/// `Ok` when `year` lies in [`PLAUSIBLE_YEARS`].
pub fn check_year(year: i32) -> Result<(), &'static str> {
    if PLAUSIBLE_YEARS.contains(&year) {
        Ok(())
    } else {
        Err("year must be between 1900 and 2200")
    }
}

/// `Ok` when `t` lies in a plausible year.
pub fn check_plausible(t: DateTime<Utc>) -> Result<(), &'static str> {
    check_year(t.year())
}

/// The protobuf form of `t`.
pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The chrono form of `t`, or `None` if it is out of range.
pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        assert_eq!(from_proto(&to_proto(t)), Some(t));
        assert_eq!(
            from_proto(&prost_types::Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
    }

    #[test]
    fn plausible_years() {
        assert!(check_year(1900).is_ok() && check_year(2200).is_ok());
        assert!(check_year(1).is_err() && check_year(1899).is_err() && check_year(2201).is_err());
        let year_one = DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert!(check_plausible(year_one.into()).is_err());
    }
}
