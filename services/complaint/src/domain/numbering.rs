//! Complaint numbers (001 编号原则): year (two digits), month (two digits) and
//! a serial that restarts each month, e.g. `2611-0042`, taken in the
//! company's zone so a complaint at 00:10 on the 1st belongs to the new month
//! wherever the server runs.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

/// The month a complaint is numbered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NumberingMonth {
    pub year: i32,
    pub month: u32,
}

impl NumberingMonth {
    /// The month `at` falls in, in `zone`.
    pub fn of(at: DateTime<Utc>, zone: Tz) -> Self {
        let local = at.with_timezone(&zone);
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    /// The key the serial counter is kept under, e.g. `2026-11`.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// The complaint number of the month's `serial`th complaint. Four digits
    /// at least; a month past 9,999 complaints simply grows a digit.
    pub fn number(self, serial: i64) -> String {
        format!(
            "{:02}{:02}-{serial:04}",
            self.year.rem_euclid(100),
            self.month
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_documents_example() {
        let month = NumberingMonth::of(at(2026, 11, 3, 10, 0), SHANGHAI);
        assert_eq!(month.number(42), "2611-0042");
        assert_eq!(month.key(), "2026-11");
    }

    #[test]
    fn the_month_is_the_companys_not_the_servers() {
        // 23:30 on 30 November in Shanghai is 15:30 UTC the same day; 00:10 on
        // 1 December in Shanghai is still 30 November in UTC.
        let late = NumberingMonth::of(at(2026, 11, 30, 23, 30), SHANGHAI);
        let early = NumberingMonth::of(at(2026, 12, 1, 0, 10), SHANGHAI);
        assert_eq!(late.number(7), "2611-0007");
        assert_eq!(early.number(1), "2612-0001");
        assert_eq!(at(2026, 12, 1, 0, 10).month(), 11, "UTC is still November");
    }

    #[test]
    fn the_year_turns_in_the_companys_zone() {
        let new_year = NumberingMonth::of(at(2027, 1, 1, 0, 1), SHANGHAI);
        assert_eq!(new_year.number(1), "2701-0001");
        let leap = NumberingMonth::of(at(2028, 2, 29, 12, 0), SHANGHAI);
        assert_eq!(leap.number(3), "2802-0003");
    }

    #[test]
    fn a_busy_month_grows_a_digit() {
        let month = NumberingMonth {
            year: 2030,
            month: 1,
        };
        assert_eq!(month.number(9_999), "3001-9999");
        assert_eq!(month.number(10_000), "3001-10000");
    }

    #[test]
    fn months_order_by_time() {
        let a = NumberingMonth {
            year: 2026,
            month: 12,
        };
        let b = NumberingMonth {
            year: 2027,
            month: 1,
        };
        assert!(a < b);
    }
}
