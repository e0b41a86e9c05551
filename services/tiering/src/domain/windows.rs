//! Which days a window covers, ending today (in the company's zone).

use chrono::{Datelike, NaiveDate};
use patron_vocab::calendar::first_day_of_months_ending;

use super::policy::Window;

/// The first day a window counts, or `None` when it counts everything.
pub fn first_day(window: Window, today: NaiveDate) -> Option<NaiveDate> {
    match window {
        // "Within six months" of 15 August counts from 16 February.
        Window::RollingMonths(n) => first_day_of_months_ending(today, n),
        Window::CalendarYear => NaiveDate::from_ymd_opt(today.year(), 1, 1),
        Window::Lifetime | Window::Now => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn windows_end_today() {
        assert_eq!(
            first_day(Window::RollingMonths(6), day(2026, 8, 15)),
            Some(day(2026, 2, 16))
        );
        assert_eq!(
            first_day(Window::RollingMonths(12), day(2026, 2, 28)),
            Some(day(2025, 3, 1))
        );
        assert_eq!(
            first_day(Window::RollingMonths(1), day(2026, 3, 31)),
            Some(day(2026, 3, 1)),
            "a month before 31 March is 28 February"
        );
        assert_eq!(
            first_day(Window::CalendarYear, day(2026, 11, 23)),
            Some(day(2026, 1, 1))
        );
        assert_eq!(first_day(Window::Lifetime, day(2026, 11, 23)), None);
    }
}
