//! The preset's `[complaint]` section: deadlines per stage keyed by the
//! preset's tier codes (tighter for higher tiers), which tiers are served
//! around the clock, the company calendar for the others, sign-off authority
//! per role, root-cause categories, the repeat and reopen windows, the
//! escalation pace and the targets 001 sets. A section with any problem is
//! refused whole, each problem naming its field.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;

use super::calendar::{Calendar, Clock, weekday_index};
use super::deadlines::{Escalation, StageLimit};
use super::sign_off::{Authority, AuthorityTable};
use super::workflow::State;

/// The deadlines key that applies to customers with no tier, or a tier the
/// section does not list.
pub const DEFAULT_TIER: &str = "default";

/// The stages with a deadline, in workflow order, as the section names them.
pub const STAGES: [State; 6] = [
    State::Received,
    State::Accepted,
    State::Investigating,
    State::AwaitingSignOff,
    State::Resolved,
    State::FeedbackGiven,
];

/// A checked `[complaint]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintPolicy {
    /// Per tier code (and [`DEFAULT_TIER`]): the working time each stage
    /// may take, in [`STAGES`] order.
    pub deadlines: BTreeMap<String, [Duration; 6]>,
    /// Tiers whose complaints run on a 24-hour clock (VIPs, 000 3.7).
    pub round_the_clock: BTreeSet<String>,
    pub calendar: Calendar,
    pub authority: AuthorityTable,
    pub root_causes: Vec<String>,
    pub repeat_window_days: u32,
    pub reopen_window_days: u32,
    pub escalation: Escalation,
    pub on_time_target: f64,
    pub repeat_target: f64,
}

impl ComplaintPolicy {
    /// The limit of `stage` for a customer of `tier`; `None` for a
    /// finished complaint.
    pub fn limit(&self, tier: &str, stage: State) -> Option<StageLimit> {
        let index = STAGES.iter().position(|s| *s == stage)?;
        let row = self
            .deadlines
            .get(tier)
            .or_else(|| self.deadlines.get(DEFAULT_TIER))?;
        Some(StageLimit {
            work: row[index],
            clock: if self.round_the_clock.contains(tier) {
                Clock::RoundTheClock
            } else {
                Clock::BusinessHours
            },
        })
    }
}

/// Why a section was refused: every problem, by field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct PolicyError {
    pub problems: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    deadlines: BTreeMap<String, StageTimes>,
    #[serde(default)]
    round_the_clock: Vec<String>,
    #[serde(default)]
    calendar: Option<CalendarSection>,
    #[serde(default)]
    authority: BTreeMap<String, toml::Value>,
    #[serde(default)]
    root_causes: Vec<String>,
    #[serde(default = "seven")]
    repeat_window_days: i64,
    #[serde(default = "thirty")]
    reopen_window_days: i64,
    #[serde(default = "two_hours")]
    warn_before: String,
    #[serde(default = "four_hours")]
    escalate_every: String,
    #[serde(default = "on_time_target")]
    on_time_target: f64,
    #[serde(default = "repeat_target")]
    repeat_target: f64,
}

fn seven() -> i64 {
    7
}
fn thirty() -> i64 {
    30
}
fn two_hours() -> String {
    "2h".into()
}
fn four_hours() -> String {
    "4h".into()
}
fn on_time_target() -> f64 {
    0.99
}
fn repeat_target() -> f64 {
    0.03
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageTimes {
    received: String,
    accepted: String,
    investigating: String,
    awaiting_sign_off: String,
    resolved: String,
    feedback_given: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSection {
    #[serde(default = "nine_to_six")]
    working_hours: String,
    #[serde(default = "weekdays")]
    working_days: Vec<String>,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    make_up_days: Vec<String>,
}

fn nine_to_six() -> String {
    "09:00-18:00".into()
}
fn weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec()
}

struct Problems(Vec<(String, String)>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push((field.into(), reason.into()));
    }
}

/// A duration written `90m`, `8h` or `2h30m`: working time on the tier's
/// clock (`8h` on business hours is a working day).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        total += match c {
            'h' => Duration::hours(n.min(100_000)),
            'm' => Duration::minutes(n.min(6_000_000)),
            _ => return None,
        };
        any = true;
    }
    (any && digits.is_empty()).then_some(total)
}

/// Checks `section` (the preset's `[complaint]` table) against the preset's
/// tier codes; amounts are in the currency's major units, `minor_per_major`
/// converts them (100 for yuan).
pub fn parse(
    section: &toml::Value,
    tiers: &[String],
    zone: Tz,
    minor_per_major: i64,
) -> Result<ComplaintPolicy, PolicyError> {
    let raw: Section = section
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| PolicyError {
            problems: vec![("complaint".into(), e.message().to_owned())],
        })?;
    let mut problems = Problems(Vec::new());

    let mut deadlines = BTreeMap::new();
    for (tier, times) in &raw.deadlines {
        if tier != DEFAULT_TIER && !tiers.contains(tier) {
            problems.add(
                format!("complaint.deadlines.{tier}"),
                format!(
                    "no tier {tier} in this preset (tiers: {}; or `{DEFAULT_TIER}`)",
                    tiers.join(", ")
                ),
            );
        }
        let texts = [
            ("received", &times.received),
            ("accepted", &times.accepted),
            ("investigating", &times.investigating),
            ("awaiting_sign_off", &times.awaiting_sign_off),
            ("resolved", &times.resolved),
            ("feedback_given", &times.feedback_given),
        ];
        let mut row = [Duration::zero(); 6];
        for (i, (stage, text)) in texts.into_iter().enumerate() {
            match parse_duration(text) {
                Some(d) if d > Duration::zero() => row[i] = d,
                _ => problems.add(
                    format!("complaint.deadlines.{tier}.{stage}"),
                    format!("{text:?} is not a positive duration like \"8h\" or \"90m\""),
                ),
            }
        }
        deadlines.insert(tier.clone(), row);
    }
    if !deadlines.contains_key(DEFAULT_TIER) {
        let missing: Vec<&str> = tiers
            .iter()
            .filter(|t| !deadlines.contains_key(*t))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            problems.add(
                "complaint.deadlines",
                format!(
                    "no deadlines for tier {} and no `{DEFAULT_TIER}` row for customers without one",
                    missing.join(", ")
                ),
            );
        }
    }
    for (i, tier) in raw.round_the_clock.iter().enumerate() {
        if !tiers.contains(tier) && tier != DEFAULT_TIER {
            problems.add(
                format!("complaint.round_the_clock[{i}]"),
                format!("no tier {tier} in this preset"),
            );
        }
    }

    let calendar = check_calendar(raw.calendar, zone, &mut problems);

    let mut authority = AuthorityTable::default();
    for (role, value) in &raw.authority {
        let field = format!("complaint.authority.{role}");
        let limit = match value {
            toml::Value::String(s) if s == "unlimited" => Some(Authority::Unlimited),
            toml::Value::Integer(n) if *n >= 0 => {
                n.checked_mul(minor_per_major).map(Authority::UpTo)
            }
            _ => None,
        };
        match limit {
            Some(limit) => {
                authority.per_role.insert(role.clone(), limit);
            }
            None => problems.add(field, "must be an amount of at least 0 or \"unlimited\""),
        }
    }

    let mut seen = BTreeSet::new();
    for (i, cause) in raw.root_causes.iter().enumerate() {
        if cause.trim().is_empty() {
            problems.add(format!("complaint.root_causes[{i}]"), "must not be blank");
        } else if !seen.insert(cause) {
            problems.add(
                format!("complaint.root_causes[{i}]"),
                format!("{cause:?} is listed twice"),
            );
        }
    }
    if raw.root_causes.is_empty() {
        problems.add(
            "complaint.root_causes",
            "list at least one root-cause category",
        );
    }

    let days = |field: &str, value: i64, problems: &mut Problems| match u32::try_from(value) {
        Ok(days) if days <= 366 => days,
        _ => {
            problems.add(format!("complaint.{field}"), "must be 0 to 366 days");
            0
        }
    };
    let repeat_window_days = days("repeat_window_days", raw.repeat_window_days, &mut problems);
    let reopen_window_days = days("reopen_window_days", raw.reopen_window_days, &mut problems);

    let mut pace = |field: &str, text: &str, allow_zero: bool| match parse_duration(text) {
        Some(d) if allow_zero || d > Duration::zero() => d,
        _ if allow_zero && text.trim() == "0" => Duration::zero(),
        _ => {
            problems.add(
                format!("complaint.{field}"),
                format!("{text:?} is not a duration like \"2h\""),
            );
            Duration::hours(1)
        }
    };
    let escalation = Escalation {
        warn_before: pace("warn_before", &raw.warn_before, true),
        every: pace("escalate_every", &raw.escalate_every, false),
    };

    for (field, value) in [
        ("on_time_target", raw.on_time_target),
        ("repeat_target", raw.repeat_target),
    ] {
        if !(0.0..=1.0).contains(&value) {
            problems.add(format!("complaint.{field}"), "must be a share from 0 to 1");
        }
    }

    if !problems.0.is_empty() {
        return Err(PolicyError {
            problems: problems.0,
        });
    }
    Ok(ComplaintPolicy {
        deadlines,
        round_the_clock: raw.round_the_clock.into_iter().collect(),
        calendar,
        authority,
        root_causes: raw.root_causes,
        repeat_window_days,
        reopen_window_days,
        escalation,
        on_time_target: raw.on_time_target,
        repeat_target: raw.repeat_target,
    })
}

fn check_calendar(raw: Option<CalendarSection>, zone: Tz, problems: &mut Problems) -> Calendar {
    let mut calendar = Calendar::office(zone);
    let Some(raw) = raw else {
        return calendar;
    };
    let hours: Option<(NaiveTime, NaiveTime)> =
        raw.working_hours.split_once('-').and_then(|(a, b)| {
            let t = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok();
            Some((t(a)?, t(b)?))
        });
    match hours {
        Some((opens, closes)) if opens < closes => {
            calendar.opens = opens;
            calendar.closes = closes;
        }
        _ => problems.add(
            "complaint.calendar.working_hours",
            format!(
                "{:?} is not a range like \"09:00-18:00\"",
                raw.working_hours
            ),
        ),
    }
    calendar.weekdays.clear();
    for (i, day) in raw.working_days.iter().enumerate() {
        match weekday_index(day) {
            Some(index) => {
                calendar.weekdays.insert(index);
            }
            None => problems.add(
                format!("complaint.calendar.working_days[{i}]"),
                format!("{day:?} is not a weekday (mon … sun)"),
            ),
        }
    }
    let mut dates = |field: &str, texts: &[String]| -> BTreeSet<NaiveDate> {
        let mut out = BTreeSet::new();
        for (i, text) in texts.iter().enumerate() {
            match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(day) => {
                    out.insert(day);
                }
                Err(_) => problems.add(
                    format!("complaint.calendar.{field}[{i}]"),
                    format!("{text:?} is not a date like \"2027-01-01\""),
                ),
            }
        }
        out
    };
    calendar.holidays = dates("holidays", &raw.holidays);
    calendar.make_up_days = dates("make_up_days", &raw.make_up_days);
    if calendar.weekdays.is_empty() && calendar.make_up_days.is_empty() {
        problems.add(
            "complaint.calendar.working_days",
            "a calendar needs working days",
        );
    }
    calendar
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn tiers() -> Vec<String> {
        ["A", "B", "C"].map(String::from).to_vec()
    }

    fn section(text: &str) -> toml::Value {
        let file: toml::Table = toml::from_str(text).unwrap();
        file["complaint"].clone()
    }

    const GOOD: &str = r#"
        [complaint]
        round_the_clock = ["A"]
        root_causes = ["product quality", "delivery", "service"]
        repeat_window_days = 7
        warn_before = "1h"
        [complaint.authority]
        customer_service = 1000
        supervisor = 20000
        admin = "unlimited"
        [complaint.calendar]
        working_hours = "08:30-17:30"
        working_days = ["mon", "tue", "wed", "thu", "fri"]
        holidays = ["2027-01-01"]
        make_up_days = ["2027-02-07"]
        [complaint.deadlines.A]
        received = "1h"
        accepted = "2h"
        investigating = "24h"
        awaiting_sign_off = "4h"
        resolved = "4h"
        feedback_given = "24h"
        [complaint.deadlines.default]
        received = "4h"
        accepted = "8h"
        investigating = "72h"
        awaiting_sign_off = "8h"
        resolved = "16h"
        feedback_given = "48h"
    "#;

    #[test]
    fn a_good_section_reads_whole() {
        let policy = parse(&section(GOOD), &tiers(), SHANGHAI, 100).unwrap();
        let a = policy.limit("A", State::Investigating).unwrap();
        assert_eq!(a.work, Duration::hours(24));
        assert_eq!(a.clock, Clock::RoundTheClock);
        let b = policy.limit("B", State::Investigating).unwrap();
        assert_eq!(
            b.work,
            Duration::hours(72),
            "B falls back to the default row"
        );
        assert_eq!(b.clock, Clock::BusinessHours);
        assert_eq!(
            policy.limit("", State::Received).unwrap().work,
            Duration::hours(4)
        );
        assert_eq!(policy.limit("A", State::Closed), None);
        assert_eq!(
            policy.authority.of(&["supervisor".into()]),
            Authority::UpTo(2_000_000)
        );
        assert_eq!(policy.authority.of(&["admin".into()]), Authority::Unlimited);
        assert_eq!(
            policy.calendar.opens,
            NaiveTime::from_hms_opt(8, 30, 0).unwrap()
        );
        assert!(
            policy
                .calendar
                .is_working_day(NaiveDate::from_ymd_opt(2027, 2, 7).unwrap())
        );
        assert!(
            !policy
                .calendar
                .is_working_day(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap())
        );
        assert_eq!(policy.escalation.warn_before, Duration::hours(1));
        assert_eq!(policy.escalation.every, Duration::hours(4));
        assert_eq!(policy.repeat_window_days, 7);
        assert_eq!(policy.reopen_window_days, 30);
        assert_eq!(policy.on_time_target, 0.99);
    }

    #[test]
    fn every_problem_is_named_by_field() {
        let bad = GOOD
            .replace("investigating = \"24h\"", "investigating = \"a day\"")
            .replace("[complaint.deadlines.default]", "[complaint.deadlines.Z]")
            .replace("supervisor = 20000", "supervisor = -5")
            .replace("\"08:30-17:30\"", "\"17:30-08:30\"")
            .replace("\"2027-01-01\"", "\"2027-13-01\"")
            .replace("repeat_window_days = 7", "repeat_window_days = -1")
            .replace("round_the_clock = [\"A\"]", "round_the_clock = [\"VIP\"]");
        let err = parse(&section(&bad), &tiers(), SHANGHAI, 100).unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
        for expected in [
            "complaint.deadlines.A.investigating",
            "complaint.deadlines.Z",
            "complaint.deadlines",
            "complaint.round_the_clock[0]",
            "complaint.authority.supervisor",
            "complaint.calendar.working_hours",
            "complaint.calendar.holidays[0]",
            "complaint.repeat_window_days",
        ] {
            assert!(fields.contains(&expected), "{expected} in {fields:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad = GOOD.replace("repeat_window_days = 7", "repeat_window = 7");
        let err = parse(&section(&bad), &tiers(), SHANGHAI, 100).unwrap_err();
        assert!(err.to_string().contains("repeat_window"), "{err}");
    }

    #[test]
    fn a_section_without_root_causes_or_working_days_is_refused() {
        let bad = GOOD
            .replace(
                "root_causes = [\"product quality\", \"delivery\", \"service\"]",
                "root_causes = []",
            )
            .replace(
                "working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
                "working_days = []",
            )
            .replace("make_up_days = [\"2027-02-07\"]", "");
        let err = parse(&section(&bad), &tiers(), SHANGHAI, 100).unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"complaint.root_causes"));
        assert!(fields.contains(&"complaint.calendar.working_days"));
    }

    /// Each shipped preset's section reads, keyed by that preset's tiers.
    #[test]
    fn every_shipped_preset_has_a_good_complaint_section() {
        let shipped = [
            include_str!("../../../../deploy/presets/health-chain.toml"),
            include_str!("../../../../deploy/presets/industrial-b2b.toml"),
            include_str!("../../../../deploy/presets/postal-key-accounts.toml"),
            include_str!("../../../../deploy/presets/retail-store.toml"),
            include_str!("../../../../deploy/presets/telecom-vip.toml"),
        ];
        for text in shipped {
            let file: toml::Table = toml::from_str(text).unwrap();
            let tiers: Vec<String> = file["tiering"]["tiers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["code"].as_str().unwrap().to_owned())
                .collect();
            let id = file["preset"]["id"].as_str().unwrap();
            let policy = parse(&file["complaint"], &tiers, SHANGHAI, 100)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            for tier in &tiers {
                let accept = policy.limit(tier, State::Received).unwrap();
                let fallback = policy.limit("", State::Received).unwrap();
                assert!(
                    accept.work <= fallback.work,
                    "{id}: {tier} is no slower than the default"
                );
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("8h"), Some(Duration::hours(8)));
        assert_eq!(parse_duration("90m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("2h30m"), Some(Duration::minutes(150)));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("2d"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("h"), None);
    }
}
