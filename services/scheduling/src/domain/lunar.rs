//! The Chinese lunisolar calendar (农历) as care needs it: the three
//! festivals (Spring Festival 正月初一, Dragon Boat 五月初五, Mid-Autumn
//! 八月十五) and a lunar month and day (a customer's lunar birthday) as a
//! Gregorian date in a given year. Computed by ICU4X's Chinese calendar,
//! never typed in.

use std::ops::RangeInclusive;
use std::sync::LazyLock;

use chrono::NaiveDate;
use icu_calendar::Date;
use icu_calendar::types::Month;

/// Lunar years whose dates ICU4X takes from the observatories' published
/// data; outside, it falls back to an approximation that can be a day off.
pub const SUPPORTED_YEARS: RangeInclusive<i32> = 1901..=2100;

/// A day of the lunar year: month 1–12, day 1–30. Someone born in a leap
/// month (闰月) keeps their birthday in the ordinary month of that number,
/// as is the custom, so a leap flag is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LunarMonthDay {
    month: u8,
    day: u8,
}

impl LunarMonthDay {
    pub fn new(month: u32, day: u32) -> Result<Self, &'static str> {
        if !(1..=12).contains(&month) {
            return Err("lunar month must be between 1 and 12");
        }
        if !(1..=30).contains(&day) {
            return Err("lunar day must be between 1 and 30");
        }
        Ok(Self {
            month: month as u8,
            day: day as u8,
        })
    }

    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Its Gregorian date in the lunar year that begins in Gregorian `year`
    /// (so the twelfth month may fall in `year + 1`). Day 30 of a month that
    /// has 29 days this year is kept on the 29th, its last day. `None`
    /// outside [`SUPPORTED_YEARS`].
    pub fn in_lunar_year(self, year: i32) -> Option<NaiveDate> {
        if !SUPPORTED_YEARS.contains(&year) {
            return None;
        }
        let month = Month::new(self.month);
        let date = Date::try_new_chinese_traditional(year, month, self.day)
            .or_else(|_| Date::try_new_chinese_traditional(year, month, self.day.min(29)))
            .ok()?;
        let iso = date.to_calendar(icu_calendar::Iso);
        NaiveDate::from_ymd_opt(
            iso.year().extended_year(),
            u32::from(iso.month().ordinal),
            u32::from(iso.day_of_month().0),
        )
    }

    /// Every Gregorian date of this lunar day from `from` to `to`, both
    /// included, in order.
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        use chrono::Datelike;
        // A lunar year starts in late January or February, so the one begun
        // the Gregorian year before may still be running on `from`.
        (from.year() - 1..=to.year())
            .filter_map(|year| self.in_lunar_year(year))
            .filter(|date| (from..=to).contains(date))
            .collect()
    }
}

/// The festivals care follows on the lunar calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Festival {
    /// 春节, the first day of the first month.
    SpringFestival,
    /// 端午节, the fifth day of the fifth month.
    DragonBoat,
    /// 中秋节, the fifteenth day of the eighth month.
    MidAutumn,
}

impl Festival {
    pub const ALL: [Festival; 3] = [
        Festival::SpringFestival,
        Festival::DragonBoat,
        Festival::MidAutumn,
    ];

    /// Its day of the lunar year.
    pub fn lunar_day(self) -> LunarMonthDay {
        let (month, day) = match self {
            Festival::SpringFestival => (1, 1),
            Festival::DragonBoat => (5, 5),
            Festival::MidAutumn => (8, 15),
        };
        LunarMonthDay { month, day }
    }

    /// Its Gregorian date in Gregorian `year` (each festival falls once in
    /// every Gregorian year: Spring Festival between 21 January and 20
    /// February, the others well inside the lunar year begun that year).
    pub fn date_in(self, year: i32) -> Option<NaiveDate> {
        self.lunar_day().in_lunar_year(year)
    }

    /// Its dates from `from` to `to`, both included, in order: what
    /// [`LunarMonthDay::between`] gives for its day, from a table of the
    /// supported years computed once (every customer's care asks the same).
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        use chrono::Datelike;
        static TABLE: LazyLock<Vec<[Option<NaiveDate>; 3]>> = LazyLock::new(|| {
            SUPPORTED_YEARS
                .map(|year| Festival::ALL.map(|f| f.date_in(year)))
                .collect()
        });
        let column = Festival::ALL
            .iter()
            .position(|f| *f == self)
            .expect("every festival is in ALL");
        (from.year()..=to.year())
            .filter_map(|year| {
                let row = usize::try_from(year - SUPPORTED_YEARS.start()).ok()?;
                TABLE.get(row)?[column]
            })
            .filter(|date| (from..=to).contains(date))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The same lunar day by 6tail's tyme, an independent implementation;
    /// day 30 of a short month kept on the 29th as ours does.
    fn by_tyme(year: i32, month: u32, lunar_day: u32) -> NaiveDate {
        use tyme4rs::tyme::lunar::{LunarDay, LunarMonth};
        let days = LunarMonth::from_ym(year as isize, month as isize).get_day_count();
        let solar = LunarDay::from_ymd(
            year as isize,
            month as isize,
            (lunar_day as usize).min(days),
        )
        .get_solar_day();
        day(
            solar.get_year() as i32,
            solar.get_month() as u32,
            solar.get_day() as u32,
        )
    }

    #[test]
    fn the_issues_fixed_points() {
        assert_eq!(
            Festival::SpringFestival.date_in(2026),
            Some(day(2026, 2, 17))
        );
        assert_eq!(
            Festival::SpringFestival.date_in(2027),
            Some(day(2027, 2, 6))
        );
        assert_eq!(Festival::DragonBoat.date_in(2026), Some(day(2026, 6, 19)));
        assert_eq!(Festival::MidAutumn.date_in(2026), Some(day(2026, 9, 25)));
    }

    /// 2026–2028 as written here from a third implementation (the Python
    /// package `lunardate`, run once by hand), and again against tyme.
    #[test]
    fn festivals_2026_to_2028() {
        let published = [
            (Festival::SpringFestival, day(2026, 2, 17)),
            (Festival::DragonBoat, day(2026, 6, 19)),
            (Festival::MidAutumn, day(2026, 9, 25)),
            (Festival::SpringFestival, day(2027, 2, 6)),
            (Festival::DragonBoat, day(2027, 6, 9)),
            (Festival::MidAutumn, day(2027, 9, 15)),
            (Festival::SpringFestival, day(2028, 1, 26)),
            (Festival::DragonBoat, day(2028, 5, 28)),
            (Festival::MidAutumn, day(2028, 10, 3)),
        ];
        for (festival, date) in published {
            use chrono::Datelike;
            let year = date.year();
            assert_eq!(festival.date_in(year), Some(date), "{festival:?} {year}");
            let lunar = festival.lunar_day();
            assert_eq!(
                by_tyme(year, lunar.month(), lunar.day()),
                date,
                "{festival:?} {year} by tyme"
            );
        }
    }

    /// Every supported year, against tyme: the three festivals and day 30
    /// of each month (which finds every month's start and length). The two disagree on a few years
    /// only, all known: before 1929 China kept Beijing local time and older
    /// rules, and 1942–43, 1953–54 and 1957 follow the calendars the Purple
    /// Mountain Observatory actually published, which ICU4X reproduces and
    /// tyme does not; in 2057 a new moon falls seconds from midnight, where
    /// ICU4X follows the Hong Kong Observatory. Any other difference fails.
    #[test]
    fn agrees_with_an_independent_calendar_1901_to_2100() {
        let mut differ = std::collections::BTreeSet::new();
        for year in SUPPORTED_YEARS {
            let days = Festival::ALL
                .map(|f| f.lunar_day())
                .into_iter()
                .chain((1..=12).map(|month| LunarMonthDay::new(month, 30).unwrap()));
            for lunar in days {
                if lunar.in_lunar_year(year) != Some(by_tyme(year, lunar.month(), lunar.day())) {
                    differ.insert(year);
                }
            }
        }
        let known = [
            1906, 1909, 1910, 1916, 1920, 1927, 1928, 1942, 1943, 1953, 1954, 1957, 2057,
        ];
        assert_eq!(differ.into_iter().collect::<Vec<_>>(), known);
    }

    #[test]
    fn a_thirtieth_in_a_short_month_is_kept_on_the_29th() {
        // The second month of 2026 has 29 days: 二月三十 becomes 二月廿九.
        let thirtieth = LunarMonthDay::new(2, 30).unwrap().in_lunar_year(2026);
        let twenty_ninth = LunarMonthDay::new(2, 29).unwrap().in_lunar_year(2026);
        assert_eq!(thirtieth, twenty_ninth);
        assert!(thirtieth.is_some());
    }

    #[test]
    fn the_twelfth_month_falls_in_the_next_gregorian_year() {
        // 腊月初八 of the lunar year begun in 2026 is in January 2027.
        let laba = LunarMonthDay::new(12, 8).unwrap();
        assert_eq!(laba.in_lunar_year(2026), Some(by_tyme(2026, 12, 8)));
        assert_eq!(
            laba.in_lunar_year(2026).map(|d| d.to_string()).unwrap()[..4],
            *"2027"
        );
        let found = laba.between(day(2027, 1, 1), day(2027, 12, 31));
        assert_eq!(found, vec![laba.in_lunar_year(2026).unwrap()]);
    }

    #[test]
    fn between_lists_each_year_once() {
        let mid_autumn = Festival::MidAutumn.lunar_day();
        assert_eq!(
            mid_autumn.between(day(2026, 1, 1), day(2028, 12, 31)),
            vec![day(2026, 9, 25), day(2027, 9, 15), day(2028, 10, 3)]
        );
        assert!(
            mid_autumn
                .between(day(2026, 9, 26), day(2027, 9, 14))
                .is_empty()
        );
    }

    #[test]
    fn the_festival_table_gives_what_the_calendar_does() {
        for festival in Festival::ALL {
            let lunar = festival.lunar_day();
            for (from, to) in [
                (day(1901, 1, 1), day(2100, 12, 31)),
                (day(2026, 1, 1), day(2028, 12, 31)),
                (day(2026, 9, 26), day(2027, 9, 14)),
                (day(2027, 2, 6), day(2027, 2, 6)),
                (day(1850, 1, 1), day(1902, 1, 1)),
                (day(2099, 6, 1), day(2150, 1, 1)),
            ] {
                assert_eq!(
                    festival.between(from, to),
                    lunar.between(from, to),
                    "{festival:?} {from}..{to}"
                );
            }
        }
        assert_eq!(
            Festival::SpringFestival.between(day(2027, 1, 1), day(2027, 12, 31)),
            [day(2027, 2, 6)]
        );
    }

    #[test]
    fn bad_lunar_days_and_years_are_refused() {
        assert!(LunarMonthDay::new(0, 1).is_err());
        assert!(LunarMonthDay::new(13, 1).is_err());
        assert!(LunarMonthDay::new(1, 0).is_err());
        assert!(LunarMonthDay::new(1, 31).is_err());
        assert_eq!(Festival::MidAutumn.date_in(1850), None);
        assert_eq!(Festival::MidAutumn.date_in(2101), None);
    }
}
