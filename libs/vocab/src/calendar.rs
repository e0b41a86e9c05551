//! Calendar arithmetic the services share: the years a business date may
//! fall in, dates whose year may be unknown (a birthday given as "March 8"),
//! anniversaries in common years, month ends, and where a company's day
//! begins. Plain Rust, no I/O; "today" itself comes from the kit's clock.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

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

/// Whether (`year`, `month`, `day`) is a day of the calendar, where year 0
/// means unknown: a leap year stands in for it, so 29 February is allowed (a
/// leap-day birthday). The year's plausibility is not checked here.
pub fn date_exists(year: i32, month: u32, day: u32) -> bool {
    let stand_in = if year == 0 { 2000 } else { year };
    NaiveDate::from_ymd_opt(stand_in, month, day).is_some()
}

/// A valid date; `year` is `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarDate {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
}

impl CalendarDate {
    /// Checks a (year, month, day) triple; year 0 means unknown. Without a
    /// year, 29 February is allowed (a leap-day birthday).
    pub fn new(year: i32, month: i32, day: i32) -> Result<Self, &'static str> {
        if year != 0 && check_year(year).is_err() {
            return Err("year must be between 1900 and 2200, or 0 when unknown");
        }
        let (Ok(month), Ok(day)) = (u32::try_from(month), u32::try_from(day)) else {
            return Err("is not a calendar date");
        };
        if !(1..=12).contains(&month) {
            return Err("month must be between 1 and 12");
        }
        if !date_exists(year, month, day) {
            return Err("day does not exist in that month");
        }
        Ok(Self {
            year: (year != 0).then_some(year),
            month,
            day,
        })
    }

    /// Whether the date, when its year is known, is after `today`.
    pub fn is_after(&self, today: NaiveDate) -> bool {
        self.year
            .and_then(|y| NaiveDate::from_ymd_opt(y, self.month, self.day))
            .is_some_and(|d| d > today)
    }

    /// Age in whole years on `today`, when the year is known.
    pub fn age_on(&self, today: NaiveDate) -> Option<i32> {
        let year = self.year?;
        let had_birthday = (today.month(), today.day()) >= (self.month, self.day);
        Some(today.year() - year - i32::from(!had_birthday))
    }
}

/// Whether `day` is the yearly return of (`month`, `day_of_month`): a
/// birthday or an anniversary. 29 February returns on 28 February in common
/// years.
pub fn is_anniversary(month: u32, day_of_month: u32, day: NaiveDate) -> bool {
    if (day.month(), day.day()) == (month, day_of_month) {
        return true;
    }
    let leap_day = (month, day_of_month) == (2, 29);
    leap_day && !day.leap_year() && (day.month(), day.day()) == (2, 28)
}

/// The last day of `month` in `year`, or `None` when there is no such month.
pub fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)?
        .checked_add_months(Months::new(1))?
        .pred_opt()
}

/// The first day of the `months` months that end with `today`: "within six
/// months" of 15 August counts from 16 February. A month before 31 March is
/// 28 (or 29) February, as chrono clamps month ends.
pub fn first_day_of_months_ending(today: NaiveDate, months: u32) -> Option<NaiveDate> {
    today
        .checked_sub_months(Months::new(months))
        .and_then(|d| d.succ_opt())
}

/// The instant the company's day `day` begins in `zone` (the earlier one
/// when clocks are put back at midnight); `None` when midnight does not
/// exist that day in that zone.
pub fn start_of_day<Z: TimeZone>(day: NaiveDate, zone: &Z) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| zone.from_local_datetime(&t).earliest())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn plausible_years() {
        assert!(check_year(1900).is_ok() && check_year(2200).is_ok());
        assert!(check_year(1).is_err() && check_year(1899).is_err() && check_year(2201).is_err());
        let year_one = DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert!(check_plausible(year_one.into()).is_err());
    }

    #[test]
    fn valid_dates() {
        assert_eq!(CalendarDate::new(1980, 3, 8).unwrap().year, Some(1980));
        assert_eq!(CalendarDate::new(0, 3, 8).unwrap().year, None);
        assert!(
            CalendarDate::new(0, 2, 29).is_ok(),
            "leap-day birthday without year"
        );
        assert!(CalendarDate::new(2024, 2, 29).is_ok());
    }

    #[test]
    fn invalid_dates() {
        assert!(CalendarDate::new(2023, 2, 29).is_err());
        assert!(CalendarDate::new(2023, 13, 1).is_err());
        assert!(CalendarDate::new(2023, 0, 1).is_err());
        assert!(CalendarDate::new(2023, 4, 31).is_err());
        assert!(CalendarDate::new(2023, 4, 0).is_err());
        assert!(CalendarDate::new(-1, 4, 1).is_err());
        assert!(CalendarDate::new(10000, 4, 1).is_err());
        assert!(CalendarDate::new(2000, -3, 1).is_err());
    }

    #[test]
    fn an_unknown_year_is_a_leap_year() {
        assert!(date_exists(0, 2, 29));
        assert!(!date_exists(2023, 2, 29));
        assert!(date_exists(2024, 2, 29));
        assert!(!date_exists(0, 4, 31));
        assert!(!date_exists(0, 13, 1));
    }

    #[test]
    fn future_and_age() {
        let today = d(2026, 11, 23);
        assert!(CalendarDate::new(2026, 11, 24).unwrap().is_after(today));
        assert!(!CalendarDate::new(2026, 11, 23).unwrap().is_after(today));
        assert!(!CalendarDate::new(0, 12, 31).unwrap().is_after(today));
        assert_eq!(
            CalendarDate::new(1980, 11, 23).unwrap().age_on(today),
            Some(46)
        );
        assert_eq!(
            CalendarDate::new(1980, 11, 24).unwrap().age_on(today),
            Some(45)
        );
        assert_eq!(CalendarDate::new(0, 1, 1).unwrap().age_on(today), None);
    }

    #[test]
    fn a_leap_day_returns_on_the_28th_in_common_years() {
        assert!(is_anniversary(3, 8, d(2026, 3, 8)));
        assert!(!is_anniversary(3, 8, d(2026, 3, 9)));
        assert!(is_anniversary(2, 29, d(2024, 2, 29)));
        assert!(!is_anniversary(2, 29, d(2024, 2, 28)));
        assert!(is_anniversary(2, 29, d(2026, 2, 28)));
        assert!(is_anniversary(2, 29, d(2028, 2, 29)));
        assert!(!is_anniversary(2, 29, d(2028, 2, 28)));
        assert!(is_anniversary(2, 29, d(2027, 2, 28)));
        assert!(!is_anniversary(2, 28, d(2028, 2, 29)));
        assert!(is_anniversary(12, 31, d(2026, 12, 31)));
    }

    #[test]
    fn month_ends() {
        assert_eq!(last_day_of_month(2026, 12), Some(d(2026, 12, 31)));
        assert_eq!(last_day_of_month(2024, 2), Some(d(2024, 2, 29)));
        assert_eq!(last_day_of_month(2026, 2), Some(d(2026, 2, 28)));
        assert_eq!(last_day_of_month(2026, 13), None);
    }

    #[test]
    fn months_ending_today() {
        assert_eq!(
            first_day_of_months_ending(d(2026, 8, 15), 6),
            Some(d(2026, 2, 16))
        );
        assert_eq!(
            first_day_of_months_ending(d(2026, 3, 31), 1),
            Some(d(2026, 3, 1))
        );
    }

    #[test]
    fn the_day_begins_at_local_midnight() {
        assert_eq!(
            start_of_day(d(2026, 11, 23), &chrono_tz::Asia::Shanghai),
            Some(
                DateTime::parse_from_rfc3339("2026-11-22T16:00:00Z")
                    .unwrap()
                    .into()
            )
        );
        assert_eq!(
            start_of_day(d(2026, 11, 23), &Utc),
            Some(
                DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
                    .unwrap()
                    .into()
            )
        );
    }
}
