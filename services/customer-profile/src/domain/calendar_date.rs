//! Calendar dates of people's lives: birthdays and anniversaries, where the
//! year is sometimes unknown (a birthday given as "March 8").

use chrono::{Datelike, NaiveDate};

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
        if year != 0 && patron_kit::timestamp::check_year(year).is_err() {
            return Err("year must be between 1900 and 2200, or 0 when unknown");
        }
        let (Ok(month), Ok(day)) = (u32::try_from(month), u32::try_from(day)) else {
            return Err("is not a calendar date");
        };
        if !(1..=12).contains(&month) {
            return Err("month must be between 1 and 12");
        }
        let check_year = if year == 0 { 2000 } else { year };
        if NaiveDate::from_ymd_opt(check_year, month, day).is_none() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
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
}
