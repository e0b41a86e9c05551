//! When a customer welcomes a call or a visit (001): never after 22:00 nor
//! before the morning hour, weekends not before 10:00, and after the midday
//! rest from 13:00 for younger customers but 15:00 for older ones; an SMS
//! first before a long call where the policy says so. The customer's own
//! stated habits override all of it (001: "there is no single standard").
//! The preset's `[scheduling.contact_windows]` section sets the hours.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;

use super::care::SectionError;
pub use super::habit::{Habit, HabitError};

/// How a contact is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Visit,
    Call,
    /// A call expected to run long: an SMS may have to go first.
    LongCall,
    Sms,
    Email,
    Letter,
    Fax,
}

/// The preset's `[scheduling.contact_windows]` section, checked. Read it
/// with [`WindowSection::from_toml`]; a preset without it gets
/// [`WindowSection::default`], 001's hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSection {
    /// Weekdays: no call or visit before this.
    pub not_before: NaiveTime,
    /// Saturdays and Sundays: people sleep late (001: after ten).
    pub weekend_not_before: NaiveTime,
    /// No call or visit from this on (001: never after ten at night).
    pub quiet_after: NaiveTime,
    /// The midday rest begins.
    pub rest_from: NaiveTime,
    /// Younger customers may be called again from this (001: one or two).
    pub younger_after_rest: NaiveTime,
    /// Older customers may be called again from this (001: after three).
    pub older_after_rest: NaiveTime,
    /// From this age on, a customer is "older".
    pub older_from_age: u32,
    pub sms_before_long_call: bool,
    /// How long after the SMS the long call may follow.
    pub sms_lead: Duration,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a time of day")
}

/// 001's hours; the morning hour on weekdays, the start of the midday rest,
/// the age line and the SMS lead are the company's choice.
impl Default for WindowSection {
    fn default() -> Self {
        Self {
            not_before: hm(9, 0),
            weekend_not_before: hm(10, 0),
            quiet_after: hm(22, 0),
            rest_from: hm(12, 0),
            younger_after_rest: hm(13, 0),
            older_after_rest: hm(15, 0),
            older_from_age: 60,
            sms_before_long_call: true,
            sms_lead: Duration::minutes(30),
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSection {
    not_before: String,
    weekend_not_before: String,
    quiet_after: String,
    rest_from: String,
    younger_after_rest: String,
    older_after_rest: String,
    older_from_age: i64,
    sms_before_long_call: bool,
    sms_lead_minutes: i64,
}

impl Default for RawSection {
    fn default() -> Self {
        let d = WindowSection::default();
        let t = |t: NaiveTime| t.format("%H:%M").to_string();
        Self {
            not_before: t(d.not_before),
            weekend_not_before: t(d.weekend_not_before),
            quiet_after: t(d.quiet_after),
            rest_from: t(d.rest_from),
            younger_after_rest: t(d.younger_after_rest),
            older_after_rest: t(d.older_after_rest),
            older_from_age: i64::from(d.older_from_age),
            sms_before_long_call: d.sms_before_long_call,
            sms_lead_minutes: d.sms_lead.num_minutes(),
        }
    }
}

impl WindowSection {
    /// Reads and checks `section` (the `[scheduling.contact_windows]` table).
    pub fn from_toml(section: &toml::Value) -> Result<Self, SectionError> {
        const AT: &str = "scheduling.contact_windows";
        let raw: RawSection = section
            .clone()
            .try_into()
            .map_err(|e| SectionError::unreadable(AT, e))?;
        let mut problems = Vec::new();
        let mut time = |field: &str, text: &str| {
            NaiveTime::parse_from_str(text.trim(), "%H:%M").unwrap_or_else(|_| {
                problems.push((
                    format!("{AT}.{field}"),
                    format!("{text:?} is not a time like \"09:00\""),
                ));
                NaiveTime::MIN
            })
        };
        let section = WindowSection {
            not_before: time("not_before", &raw.not_before),
            weekend_not_before: time("weekend_not_before", &raw.weekend_not_before),
            quiet_after: time("quiet_after", &raw.quiet_after),
            rest_from: time("rest_from", &raw.rest_from),
            younger_after_rest: time("younger_after_rest", &raw.younger_after_rest),
            older_after_rest: time("older_after_rest", &raw.older_after_rest),
            older_from_age: u32::try_from(raw.older_from_age).unwrap_or(0),
            sms_before_long_call: raw.sms_before_long_call,
            sms_lead: Duration::minutes(raw.sms_lead_minutes),
        };
        if problems.is_empty() {
            let s = &section;
            // The day's pieces in their order: morning, rest, afternoon, night.
            for (field, earlier, later, reason) in [
                (
                    "rest_from",
                    s.not_before,
                    s.rest_from,
                    "must be after not_before",
                ),
                (
                    "younger_after_rest",
                    s.rest_from,
                    s.younger_after_rest,
                    "must be after rest_from",
                ),
                (
                    "quiet_after",
                    s.older_after_rest,
                    s.quiet_after,
                    "must be after older_after_rest",
                ),
                (
                    "quiet_after",
                    s.weekend_not_before,
                    s.quiet_after,
                    "must be after weekend_not_before",
                ),
            ] {
                if earlier >= later {
                    problems.push((format!("{AT}.{field}"), reason.to_owned()));
                }
            }
            if s.older_after_rest < s.younger_after_rest {
                problems.push((
                    format!("{AT}.older_after_rest"),
                    "must not be before younger_after_rest".to_owned(),
                ));
            }
        }
        if !(1..=120).contains(&raw.older_from_age) {
            problems.push((
                format!("{AT}.older_from_age"),
                "must be an age from 1 to 120".into(),
            ));
        }
        if !(0..=24 * 60).contains(&raw.sms_lead_minutes) {
            problems.push((
                format!("{AT}.sms_lead_minutes"),
                "must be 0 to 1440 minutes".into(),
            ));
        }
        if problems.is_empty() {
            Ok(section)
        } else {
            Err(SectionError { problems })
        }
    }
}

/// What the window needs to know of a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFacts {
    /// Unknown for many customers; they are treated as younger, the
    /// documents' ordinary pattern, so a missing year never delays a call.
    pub birth_year: Option<i32>,
    /// (month, day), when known: the age is then exact on the day, not
    /// only by the year.
    pub birthday: Option<(u32, u32)>,
    /// The customer's own habit, which overrides the policy's hours.
    pub habit: Option<Habit>,
    /// The customer's own word on an SMS before a call (001: some prefer
    /// texts, some find them a bother); `None` follows the policy.
    pub sms_first: Option<bool>,
}

/// The customer's age on `today`, when their year of birth is known: by
/// the year alone, less one before their birthday when it is known (a 29
/// February birthday comes on 1 March in common years).
pub fn age_on(facts: &ContactFacts, today: NaiveDate) -> Option<i32> {
    let year = facts.birth_year?;
    let before_birthday = facts
        .birthday
        .is_some_and(|(month, day)| (today.month(), today.day()) < (month, day));
    Some(today.year() - year - i32::from(before_birthday))
}

/// Whether the after-lunch rule treats the customer as older.
pub fn is_older(facts: &ContactFacts, today: NaiveDate, section: &WindowSection) -> bool {
    age_on(facts, today).is_some_and(|age| age >= section.older_from_age as i32)
}

/// The local stretches of `date` in which `channel` may be used.
fn windows(
    date: NaiveDate,
    channel: Channel,
    older: bool,
    habit: Option<&Habit>,
    s: &WindowSection,
) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    if let Some(habit) = habit {
        return habit.spans_on(date);
    }
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    let start = if weekend {
        s.weekend_not_before
    } else {
        s.not_before
    };
    let at = |t: NaiveTime| date.and_time(t);
    match channel {
        Channel::Sms => vec![(at(start), at(s.quiet_after))],
        _ => {
            let resume = if older {
                s.older_after_rest
            } else {
                s.younger_after_rest
            };
            vec![
                (at(start), at(s.rest_from.max(start))),
                (at(resume.max(start)), at(s.quiet_after)),
            ]
        }
    }
}

/// The first moment from `now` on at which `channel` may be used for this
/// customer: `now` itself when it is inside their window. E-mail, letters
/// and faxes wait in an inbox, so any time suits them.
pub fn next_good_time(
    now: DateTime<Utc>,
    zone: Tz,
    channel: Channel,
    facts: &ContactFacts,
    section: &WindowSection,
) -> DateTime<Utc> {
    if matches!(channel, Channel::Email | Channel::Letter | Channel::Fax) {
        return now;
    }
    let local = now.with_timezone(&zone).naive_local();
    let older = is_older(facts, local.date(), section);
    // From yesterday (a habit running past midnight) to a week ahead (a
    // habit on one day of the week).
    for offset in -1..=8 {
        let date = local.date() + Duration::days(offset);
        for (start, end) in windows(date, channel, older, facts.habit.as_ref(), section) {
            if end > local && start < end {
                let at = start.max(local);
                if at == local {
                    return now;
                }
                return to_utc(at, zone);
            }
        }
    }
    now
}

/// Whether `channel` may be used for this customer at `at`.
pub fn is_good_time(
    at: DateTime<Utc>,
    zone: Tz,
    channel: Channel,
    facts: &ContactFacts,
    section: &WindowSection,
) -> bool {
    next_good_time(at, zone, channel, facts, section) == at
}

/// A long call and the SMS that prepares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongCallPlan {
    pub sms_at: Option<DateTime<Utc>>,
    pub call_at: DateTime<Utc>,
}

/// When to send the SMS (if one goes first) and when to make the long call.
pub fn plan_long_call(
    now: DateTime<Utc>,
    zone: Tz,
    facts: &ContactFacts,
    section: &WindowSection,
) -> LongCallPlan {
    if !facts.sms_first.unwrap_or(section.sms_before_long_call) {
        return LongCallPlan {
            sms_at: None,
            call_at: next_good_time(now, zone, Channel::LongCall, facts, section),
        };
    }
    let sms_at = next_good_time(now, zone, Channel::Sms, facts, section);
    let call_at = next_good_time(
        sms_at + section.sms_lead,
        zone,
        Channel::LongCall,
        facts,
        section,
    );
    LongCallPlan {
        sms_at: Some(sms_at),
        call_at,
    }
}

/// A local time as UTC; a time skipped by a daylight-saving change moves to
/// the first minute that exists.
fn to_utc(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..=180 {
        if let Some(at) = zone.from_local_datetime(&t).earliest() {
            return at.with_timezone(&Utc);
        }
        t += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&local)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    /// A moment in Shanghai. March 2026: the 4th is a Wednesday, the 6th a
    /// Friday, the 7th and 8th the weekend.
    fn sh(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(2026, 3, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn next(now: DateTime<Utc>, channel: Channel, facts: &ContactFacts) -> DateTime<Utc> {
        next_good_time(now, SHANGHAI, channel, facts, &WindowSection::default())
    }

    fn younger() -> ContactFacts {
        ContactFacts {
            birth_year: Some(1990),
            ..ContactFacts::default()
        }
    }

    fn older() -> ContactFacts {
        ContactFacts {
            birth_year: Some(1950),
            ..ContactFacts::default()
        }
    }

    #[test]
    fn never_after_ten_at_night() {
        assert_eq!(
            next(sh(4, 21, 59), Channel::Call, &younger()),
            sh(4, 21, 59)
        );
        assert_eq!(next(sh(4, 22, 0), Channel::Call, &younger()), sh(5, 9, 0));
        assert_eq!(next(sh(4, 23, 30), Channel::Visit, &older()), sh(5, 9, 0));
        // Across midnight: 00:30 waits for the same morning.
        assert_eq!(next(sh(5, 0, 30), Channel::Call, &younger()), sh(5, 9, 0));
        assert_eq!(next(sh(5, 8, 59), Channel::Call, &younger()), sh(5, 9, 0));
        assert_eq!(next(sh(5, 9, 0), Channel::Call, &younger()), sh(5, 9, 0));
        // 09:00 in Shanghai is 01:00 UTC: no daylight saving to shift it.
        assert_eq!(sh(5, 9, 0).format("%H:%M").to_string(), "01:00");
    }

    #[test]
    fn weekends_not_before_ten() {
        assert_eq!(next(sh(7, 9, 59), Channel::Call, &younger()), sh(7, 10, 0));
        assert_eq!(next(sh(7, 10, 0), Channel::Call, &younger()), sh(7, 10, 0));
        assert_eq!(next(sh(8, 9, 0), Channel::Visit, &younger()), sh(8, 10, 0));
        // Friday night waits for Saturday ten; Sunday night for Monday nine.
        assert_eq!(next(sh(6, 22, 0), Channel::Call, &younger()), sh(7, 10, 0));
        assert_eq!(next(sh(8, 22, 0), Channel::Call, &younger()), sh(9, 9, 0));
    }

    #[test]
    fn after_the_midday_rest_by_age() {
        let y = younger();
        let o = older();
        assert_eq!(next(sh(4, 11, 59), Channel::Call, &y), sh(4, 11, 59));
        assert_eq!(next(sh(4, 12, 0), Channel::Call, &y), sh(4, 13, 0));
        assert_eq!(next(sh(4, 12, 59), Channel::Call, &y), sh(4, 13, 0));
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &y), sh(4, 13, 0));
        assert_eq!(next(sh(4, 14, 0), Channel::Call, &y), sh(4, 14, 0));
        assert_eq!(next(sh(4, 12, 30), Channel::Call, &o), sh(4, 15, 0));
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &o), sh(4, 15, 0));
        assert_eq!(next(sh(4, 14, 0), Channel::Call, &o), sh(4, 15, 0));
        assert_eq!(next(sh(4, 14, 59), Channel::Call, &o), sh(4, 15, 0));
        assert_eq!(next(sh(4, 15, 0), Channel::Call, &o), sh(4, 15, 0));
        // Saturday too.
        assert_eq!(next(sh(7, 12, 10), Channel::Call, &o), sh(7, 15, 0));
    }

    #[test]
    fn the_age_line_and_an_unknown_year() {
        let born = |year| ContactFacts {
            birth_year: Some(year),
            ..ContactFacts::default()
        };
        // 2026 − 1966 = 60: older; 1967: 59, younger.
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &born(1966)), sh(4, 15, 0));
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &born(1967)), sh(4, 13, 0));
        let unknown = ContactFacts::default();
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &unknown), sh(4, 13, 0));
    }

    #[test]
    fn the_age_is_exact_when_the_birthday_is_known() {
        // 4 March 2026. Born 5 March 1966: 59 until tomorrow, so younger.
        let born = |month, day| ContactFacts {
            birth_year: Some(1966),
            birthday: Some((month, day)),
            ..ContactFacts::default()
        };
        assert_eq!(age_on(&born(3, 5), day(2026, 3, 4)), Some(59));
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &born(3, 5)), sh(4, 13, 0));
        assert_eq!(age_on(&born(3, 4), day(2026, 3, 4)), Some(60));
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &born(3, 4)), sh(4, 15, 0));
        // A 29 February birthday: not yet 60 on 28 February of a common
        // year, 60 on 1 March.
        let leap = ContactFacts {
            birth_year: Some(1968),
            birthday: Some((2, 29)),
            ..ContactFacts::default()
        };
        assert_eq!(age_on(&leap, day(2028, 2, 28)), Some(59));
        assert_eq!(age_on(&leap, day(2028, 2, 29)), Some(60));
        assert_eq!(age_on(&leap, day(2027, 2, 28)), Some(58));
        assert_eq!(age_on(&leap, day(2027, 3, 1)), Some(59));
        assert_eq!(age_on(&ContactFacts::default(), day(2027, 3, 1)), None);
    }

    #[test]
    fn a_stated_habit_read_from_words_overrides() {
        // An older customer who said "weekday evenings": the evening on a
        // weekday, never the policy's 15:00, and Monday's over the weekend.
        let evenings = ContactFacts {
            birth_year: Some(1950),
            habit: Some(Habit::parse("weekday evenings").unwrap()),
            ..ContactFacts::default()
        };
        assert_eq!(next(sh(4, 13, 0), Channel::Call, &evenings), sh(4, 19, 0));
        assert_eq!(
            next(sh(4, 20, 30), Channel::Visit, &evenings),
            sh(4, 20, 30)
        );
        assert_eq!(next(sh(6, 21, 0), Channel::Call, &evenings), sh(9, 19, 0));
        assert_eq!(next(sh(7, 10, 0), Channel::Sms, &evenings), sh(9, 19, 0));
    }

    #[test]
    fn the_customers_own_habit_overrides() {
        // A night owl: 20:00–23:30 every day, past the quiet hour.
        let owl = ContactFacts {
            birth_year: Some(1950),
            habit: Some(Habit::new(hm(20, 0), hm(23, 30), []).unwrap()),
            ..ContactFacts::default()
        };
        assert_eq!(next(sh(4, 22, 30), Channel::Call, &owl), sh(4, 22, 30));
        assert_eq!(next(sh(4, 15, 0), Channel::Call, &owl), sh(4, 20, 0));
        assert_eq!(next(sh(4, 23, 30), Channel::Call, &owl), sh(5, 20, 0));
        // Across midnight: 23:00–01:00.
        let late = ContactFacts {
            habit: Some(Habit::new(hm(23, 0), hm(1, 0), []).unwrap()),
            ..ContactFacts::default()
        };
        assert_eq!(next(sh(5, 0, 30), Channel::Call, &late), sh(5, 0, 30));
        assert_eq!(next(sh(5, 1, 0), Channel::Call, &late), sh(5, 23, 0));
        // Saturdays 09:00–11:00 only, before the policy's weekend hour.
        let saturdays = ContactFacts {
            habit: Some(Habit::new(hm(9, 0), hm(11, 0), [Weekday::Sat]).unwrap()),
            ..ContactFacts::default()
        };
        assert_eq!(next(sh(4, 10, 0), Channel::Visit, &saturdays), sh(7, 9, 0));
        assert_eq!(next(sh(7, 9, 0), Channel::Visit, &saturdays), sh(7, 9, 0));
        assert_eq!(next(sh(7, 11, 0), Channel::Visit, &saturdays), sh(14, 9, 0));
        assert!(Habit::new(hm(9, 0), hm(9, 0), []).is_err());
    }

    #[test]
    fn sms_keeps_the_quiet_hours_and_mail_waits_in_an_inbox() {
        let y = younger();
        assert_eq!(next(sh(4, 12, 30), Channel::Sms, &y), sh(4, 12, 30));
        assert_eq!(next(sh(4, 22, 0), Channel::Sms, &y), sh(5, 9, 0));
        assert_eq!(next(sh(7, 9, 0), Channel::Sms, &y), sh(7, 10, 0));
        for channel in [Channel::Email, Channel::Letter, Channel::Fax] {
            assert_eq!(next(sh(4, 23, 0), channel, &y), sh(4, 23, 0));
        }
        assert!(is_good_time(
            sh(4, 21, 59),
            SHANGHAI,
            Channel::Call,
            &y,
            &WindowSection::default()
        ));
        assert!(!is_good_time(
            sh(4, 22, 0),
            SHANGHAI,
            Channel::Call,
            &y,
            &WindowSection::default()
        ));
    }

    #[test]
    fn an_sms_goes_before_a_long_call() {
        let s = WindowSection::default();
        let plan = plan_long_call(sh(4, 12, 10), SHANGHAI, &younger(), &s);
        assert_eq!(plan.sms_at, Some(sh(4, 12, 10)));
        assert_eq!(plan.call_at, sh(4, 13, 0));
        // Late at night: the SMS waits for morning, the call half an hour more.
        let plan = plan_long_call(sh(4, 22, 10), SHANGHAI, &younger(), &s);
        assert_eq!(plan.sms_at, Some(sh(5, 9, 0)));
        assert_eq!(plan.call_at, sh(5, 9, 30));
        // A customer who finds texts a bother, or a policy without the rule.
        let no_texts = ContactFacts {
            sms_first: Some(false),
            ..younger()
        };
        let plan = plan_long_call(sh(4, 10, 0), SHANGHAI, &no_texts, &s);
        assert_eq!(
            plan,
            LongCallPlan {
                sms_at: None,
                call_at: sh(4, 10, 0)
            }
        );
        let without = WindowSection {
            sms_before_long_call: false,
            ..s
        };
        assert_eq!(
            plan_long_call(sh(4, 10, 0), SHANGHAI, &younger(), &without).sms_at,
            None
        );
    }

    #[test]
    fn a_daylight_saving_zone_still_lands_on_local_hours() {
        let ny = chrono_tz::America::New_York;
        // Sunday 8 March 2026: clocks go forward at 02:00 in New York.
        let now = ny
            .with_ymd_and_hms(2026, 3, 7, 23, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let at = next_good_time(
            now,
            ny,
            Channel::Call,
            &younger(),
            &WindowSection::default(),
        );
        assert_eq!(
            at.with_timezone(&ny).naive_local(),
            NaiveDate::from_ymd_opt(2026, 3, 8)
                .unwrap()
                .and_time(hm(10, 0))
        );
    }

    fn section(text: &str) -> Result<WindowSection, SectionError> {
        let file: toml::Table = toml::from_str(text).unwrap();
        WindowSection::from_toml(&file["scheduling"]["contact_windows"])
    }

    const GOOD: &str = r#"
        [scheduling.contact_windows]
        not_before = "08:30"
        weekend_not_before = "10:00"
        quiet_after = "21:30"
        rest_from = "12:00"
        younger_after_rest = "13:00"
        older_after_rest = "15:00"
        older_from_age = 55
        sms_before_long_call = false
        sms_lead_minutes = 60
    "#;

    #[test]
    fn a_good_section_reads_and_an_empty_one_is_001s() {
        let s = section(GOOD).unwrap();
        assert_eq!(s.not_before, hm(8, 30));
        assert_eq!(s.quiet_after, hm(21, 30));
        assert_eq!(s.older_from_age, 55);
        assert!(!s.sms_before_long_call);
        assert_eq!(s.sms_lead, Duration::minutes(60));
        assert_eq!(
            section("[scheduling.contact_windows]").unwrap(),
            WindowSection::default()
        );
    }

    #[test]
    fn every_problem_is_named_by_field() {
        let bad = GOOD
            .replace("\"21:30\"", "\"half past nine\"")
            .replace("older_from_age = 55", "older_from_age = 0")
            .replace("sms_lead_minutes = 60", "sms_lead_minutes = -5");
        let err = section(&bad).unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "scheduling.contact_windows.quiet_after",
                "scheduling.contact_windows.older_from_age",
                "scheduling.contact_windows.sms_lead_minutes",
            ]
        );
        let out_of_order = GOOD
            .replace("\"13:00\"", "\"11:00\"")
            .replace("\"15:00\"", "\"10:30\"")
            .replace("quiet_after = \"21:30\"", "quiet_after = \"09:30\"");
        let err = section(&out_of_order).unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "scheduling.contact_windows.younger_after_rest",
                "scheduling.contact_windows.quiet_after",
                "scheduling.contact_windows.quiet_after",
                "scheduling.contact_windows.older_after_rest",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = section(&GOOD.replace("quiet_after", "quiet_from")).unwrap_err();
        assert!(err.to_string().contains("quiet_from"), "{err}");
    }
}
