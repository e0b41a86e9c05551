//! Repeat complaints (001, telecom): the same customer complaining again
//! within a window of days (seven unless the policy says otherwise) is a
//! repeat, counted in calendar days in the company's zone: a complaint on
//! day 7 after the first repeats it, one on day 8 does not.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Whether a complaint received `now` repeats one received `earlier`.
pub fn is_repeat(earlier: DateTime<Utc>, now: DateTime<Utc>, zone: Tz, window_days: u32) -> bool {
    let days = (now.with_timezone(&zone).date_naive() - earlier.with_timezone(&zone).date_naive())
        .num_days();
    (0..=i64::from(window_days)).contains(&days)
}

/// The earliest receipt time a complaint received `now` can repeat: the
/// store looks no further back than this.
pub fn window_start(now: DateTime<Utc>, zone: Tz, window_days: u32) -> DateTime<Utc> {
    use chrono::TimeZone;
    let first_day =
        now.with_timezone(&zone).date_naive() - chrono::Days::new(u64::from(window_days));
    zone.from_local_datetime(&first_day.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now - chrono::Duration::days(i64::from(window_days) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(2026, 12, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn day_seven_repeats_and_day_eight_does_not() {
        let first = at(1, 23);
        assert!(is_repeat(first, at(1, 23), SHANGHAI, 7));
        assert!(is_repeat(first, at(8, 0), SHANGHAI, 7), "day 7");
        assert!(is_repeat(first, at(8, 23), SHANGHAI, 7), "late on day 7");
        assert!(!is_repeat(first, at(9, 0), SHANGHAI, 7), "day 8");
    }

    #[test]
    fn the_window_comes_from_the_policy() {
        assert!(is_repeat(at(1, 10), at(4, 10), SHANGHAI, 3));
        assert!(!is_repeat(at(1, 10), at(5, 10), SHANGHAI, 3));
        assert!(is_repeat(at(1, 10), at(1, 11), SHANGHAI, 0), "same day");
    }

    #[test]
    fn a_later_complaint_is_never_repeated_by_an_earlier_one() {
        assert!(!is_repeat(at(5, 10), at(4, 10), SHANGHAI, 7));
    }

    #[test]
    fn days_are_counted_in_the_companys_zone() {
        // 23:30 and 00:30 in Shanghai are one day apart though 1 hour apart.
        let late = SHANGHAI
            .with_ymd_and_hms(2026, 12, 1, 23, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        let next = SHANGHAI
            .with_ymd_and_hms(2026, 12, 2, 0, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert!(is_repeat(late, next, SHANGHAI, 1));
        assert!(!is_repeat(late, next, SHANGHAI, 0));
    }

    #[test]
    fn the_window_start_is_midnight_of_the_first_day() {
        let start = window_start(at(8, 15), SHANGHAI, 7);
        assert_eq!(
            start,
            SHANGHAI
                .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        );
        assert!(is_repeat(start, at(8, 15), SHANGHAI, 7));
    }
}
