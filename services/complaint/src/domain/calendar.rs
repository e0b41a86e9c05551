//! Working time. VIPs are served around the clock (000 3.7, 002); other
//! complaints may run on the company's business hours: working hours on
//! working days, holidays off and make-up working days on, all in the
//! company's zone and all data, never code.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// How a deadline's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Every hour counts.
    RoundTheClock,
    /// Only the company's working hours count.
    BusinessHours,
}

/// The company's working calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub zone: Tz,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
    /// Working weekdays (Monday first).
    pub weekdays: BTreeSet<u32>,
    pub holidays: BTreeSet<NaiveDate>,
    /// Days worked although their weekday is not (调休).
    pub make_up_days: BTreeSet<NaiveDate>,
}

/// How far ahead a deadline is looked for before giving up: a calendar
/// with no working day at all is refused by the policy check, so this only
/// bounds the loop.
const MAX_DAYS: i64 = 3 * 366;

impl Calendar {
    /// Monday to Friday, 9:00 to 18:00, no holidays.
    pub fn office(zone: Tz) -> Self {
        Self {
            zone,
            opens: NaiveTime::from_hms_opt(9, 0, 0).expect("valid"),
            closes: NaiveTime::from_hms_opt(18, 0, 0).expect("valid"),
            weekdays: (0..5).collect(),
            holidays: BTreeSet::new(),
            make_up_days: BTreeSet::new(),
        }
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.make_up_days.contains(&day) {
            return true;
        }
        !self.holidays.contains(&day)
            && self
                .weekdays
                .contains(&day.weekday().num_days_from_monday())
    }

    /// The day's working hours as instants, when it is a working day.
    fn hours_of(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(day) {
            return None;
        }
        let at = |time: NaiveTime| {
            self.zone
                .from_local_datetime(&day.and_time(time))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        Some((at(self.opens)?, at(self.closes)?))
    }

    fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// The instant `work` of working time after `start`; `None` only for a
    /// calendar without working days.
    pub fn add(&self, clock: Clock, start: DateTime<Utc>, work: Duration) -> Option<DateTime<Utc>> {
        if clock == Clock::RoundTheClock {
            return Some(start + work);
        }
        let mut left = work;
        let mut day = self.local_day(start);
        for _ in 0..MAX_DAYS {
            if let Some((opens, closes)) = self.hours_of(day) {
                let from = start.max(opens);
                if from < closes {
                    let available = closes - from;
                    if left <= available {
                        return Some(from + left);
                    }
                    left -= available;
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The working time between two instants (zero when `to` is not after
    /// `from`).
    pub fn between(&self, clock: Clock, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        if clock == Clock::RoundTheClock {
            return to - from;
        }
        let mut total = Duration::zero();
        let last = self.local_day(to);
        let mut day = self.local_day(from);
        while day <= last {
            if let Some((opens, closes)) = self.hours_of(day) {
                let (a, b) = (from.max(opens), to.min(closes));
                if a < b {
                    total += b - a;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }
}

/// A weekday's index from its English short name (`mon` … `sun`).
pub fn weekday_index(name: &str) -> Option<u32> {
    let day: Weekday = name.parse().ok()?;
    Some(day.num_days_from_monday())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn calendar() -> Calendar {
        let mut c = Calendar::office(chrono_tz::Asia::Shanghai);
        // National Day week 2026 (Thu 1 Oct – Wed 7 Oct), with Saturday
        // 10 October worked instead.
        c.holidays = (1..=7).map(|d| date(2026, 10, d)).collect();
        c.make_up_days = [date(2026, 10, 10)].into();
        c
    }

    #[test]
    fn round_the_clock_counts_every_hour() {
        let c = calendar();
        let start = shanghai(2026, 10, 1, 23, 0);
        let due = c
            .add(Clock::RoundTheClock, start, Duration::hours(4))
            .unwrap();
        assert_eq!(due, shanghai(2026, 10, 2, 3, 0));
        assert_eq!(
            c.between(Clock::RoundTheClock, start, due),
            Duration::hours(4)
        );
    }

    #[test]
    fn within_one_working_day() {
        let c = calendar();
        let start = shanghai(2026, 9, 29, 10, 0); // Tuesday
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(4))
            .unwrap();
        assert_eq!(due, shanghai(2026, 9, 29, 14, 0));
    }

    #[test]
    fn a_deadline_carries_over_the_evening() {
        let c = calendar();
        let start = shanghai(2026, 9, 29, 16, 0); // Tuesday, 2 h before closing
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(4))
            .unwrap();
        assert_eq!(due, shanghai(2026, 9, 30, 11, 0));
    }

    #[test]
    fn a_complaint_received_at_night_starts_at_opening() {
        let c = calendar();
        let start = shanghai(2026, 9, 29, 22, 30);
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(2))
            .unwrap();
        assert_eq!(due, shanghai(2026, 9, 30, 11, 0));
        let early = shanghai(2026, 9, 29, 6, 0);
        let due = c
            .add(Clock::BusinessHours, early, Duration::hours(2))
            .unwrap();
        assert_eq!(due, shanghai(2026, 9, 29, 11, 0));
    }

    #[test]
    fn weekends_holidays_and_make_up_days() {
        let c = calendar();
        // Wednesday 30 September, 17:00: one hour left that day, then the
        // holiday week and the weekend; Saturday 10 October is worked.
        let start = shanghai(2026, 9, 30, 17, 0);
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(3))
            .unwrap();
        assert_eq!(due, shanghai(2026, 10, 8, 11, 0));
        let start = shanghai(2026, 10, 9, 17, 0); // Friday
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(2))
            .unwrap();
        assert_eq!(due, shanghai(2026, 10, 10, 10, 0), "the make-up Saturday");
        let start = shanghai(2026, 10, 10, 17, 0);
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(2))
            .unwrap();
        assert_eq!(due, shanghai(2026, 10, 12, 10, 0), "Sunday off, Monday on");
        assert!(!c.is_working_day(date(2026, 10, 11)));
        assert!(c.is_working_day(date(2026, 10, 10)));
        assert!(!c.is_working_day(date(2026, 10, 5)));
    }

    #[test]
    fn a_deadline_ending_exactly_at_closing_stays_that_day() {
        let c = calendar();
        let start = shanghai(2026, 9, 29, 9, 0);
        let due = c
            .add(Clock::BusinessHours, start, Duration::hours(9))
            .unwrap();
        assert_eq!(due, shanghai(2026, 9, 29, 18, 0));
    }

    #[test]
    fn working_time_between_skips_nights_and_holidays() {
        let c = calendar();
        let from = shanghai(2026, 9, 30, 17, 0);
        let to = shanghai(2026, 10, 8, 11, 0);
        assert_eq!(
            c.between(Clock::BusinessHours, from, to),
            Duration::hours(3)
        );
        assert_eq!(c.between(Clock::BusinessHours, to, from), Duration::zero());
        let night = (shanghai(2026, 9, 29, 19, 0), shanghai(2026, 9, 30, 8, 0));
        assert_eq!(
            c.between(Clock::BusinessHours, night.0, night.1),
            Duration::zero()
        );
    }

    #[test]
    fn adding_then_measuring_gives_the_same_working_time() {
        let c = calendar();
        let mut start = shanghai(2026, 9, 25, 0, 0);
        for hours in 1..60 {
            start += Duration::minutes(97);
            let work = Duration::hours(hours);
            let due = c.add(Clock::BusinessHours, start, work).unwrap();
            assert_eq!(
                c.between(Clock::BusinessHours, start, due),
                work,
                "{start} + {hours}h"
            );
        }
    }

    #[test]
    fn a_calendar_without_working_days_finds_no_deadline() {
        let mut c = calendar();
        c.weekdays.clear();
        c.make_up_days.clear();
        assert_eq!(
            c.add(
                Clock::BusinessHours,
                shanghai(2026, 1, 1, 0, 0),
                Duration::hours(1)
            ),
            None
        );
    }

    #[test]
    fn weekday_names() {
        assert_eq!(weekday_index("mon"), Some(0));
        assert_eq!(weekday_index("Sun"), Some(6));
        assert_eq!(weekday_index("someday"), None);
    }
}
