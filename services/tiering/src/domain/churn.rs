//! Churn early warning (000 3.13, 002 §7, 004 §10): customers about to
//! leave, with why — dormant, spending far less than before, complaining
//! often, or unhappy with how a complaint was handled (complaint's events).

use chrono::{Duration, NaiveDate};

use super::activity::Activity;
use super::evaluate::{Figures, format_value};
use super::policy::{Figure, Policy, Window};

/// When a customer counts as at risk; each reason is used only when the
/// policy gives its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnRule {
    /// Spend falling against the period before.
    pub falling_spend: Option<FallingSpend>,
    /// Whether dormancy alone is a risk.
    pub dormant_is_risk: bool,
    /// Complaints and satisfaction scores within a window of days.
    pub complaints: Option<ComplaintRule>,
}

/// At risk when recent spend is below a percent of the period before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallingSpend {
    /// The recent period, compared with the same length just before it.
    pub months: u32,
    /// At risk when recent spend is below this percent of the period before.
    pub below_percent: u32,
}

/// What complaints make a risk, within the last `window_days` days (the
/// company's calendar days, today included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplaintRule {
    pub window_days: u32,
    /// At risk with this many complaints received or more.
    pub at_least: Option<u32>,
    /// At risk with a survey score at or below this (scores are 1 to 5).
    pub satisfaction_at_most: Option<u8>,
}

impl ComplaintRule {
    /// The first day inside the window ending `today`.
    pub fn first_day(&self, today: NaiveDate) -> NaiveDate {
        today - Duration::days(i64::from(self.window_days.max(1)) - 1)
    }
}

impl FallingSpend {
    pub fn recent(&self) -> Window {
        Window::RollingMonths(self.months)
    }

    /// Both periods together; the earlier one is this minus the recent one.
    pub fn both(&self) -> Window {
        Window::RollingMonths(self.months * 2)
    }
}

/// A customer's complaints as tiering heard of them (complaint's events),
/// on the company's calendar days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplaintHistory {
    /// The days complaints were received, one entry per complaint.
    pub received: Vec<NaiveDate>,
    /// Survey scores (1 to 5) and the days they were recorded.
    pub scores: Vec<(u8, NaiveDate)>,
}

/// The reasons a customer is at risk; empty when they are not.
pub fn assess(
    policy: &Policy,
    rule: &ChurnRule,
    figures: &Figures,
    activity: Option<Activity>,
    complaints: &ComplaintHistory,
    today: NaiveDate,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if rule.dormant_is_risk && activity == Some(Activity::Dormant) {
        reasons.push("dormant".to_owned());
    }
    if let Some(falling) = &rule.falling_spend {
        reasons.extend(falling_spend(policy, falling, figures));
    }
    if let Some(complaint_rule) = &rule.complaints {
        reasons.extend(complaint_reasons(complaint_rule, complaints, today));
    }
    reasons
}

fn falling_spend(policy: &Policy, rule: &FallingSpend, figures: &Figures) -> Option<String> {
    let recent = figures.get(Figure::Spend, rule.recent()).unwrap_or(0);
    let both = figures.get(Figure::Spend, rule.both()).unwrap_or(0);
    let before = both - recent;
    if before > 0 && i128::from(recent) * 100 < i128::from(before) * i128::from(rule.below_percent)
    {
        let percent = (i128::from(recent.max(0)) * 100 / i128::from(before)) as i64;
        return Some(format!(
            "spend in the last {} months {} is {percent}% of the {} months before ({})",
            rule.months,
            format_value(policy, Figure::Spend, recent),
            rule.months,
            format_value(policy, Figure::Spend, before),
        ));
    }
    None
}

/// "3 complaints in the last 30 days" and "satisfaction 1 of 5 on
/// 2026-06-10" (the lowest score in the window, its latest day).
fn complaint_reasons(
    rule: &ComplaintRule,
    history: &ComplaintHistory,
    today: NaiveDate,
) -> Vec<String> {
    let first = rule.first_day(today);
    // A day after today (a clock running ahead elsewhere) still counts as recent.
    let inside = |day: &NaiveDate| *day >= first;
    let mut reasons = Vec::new();
    if let Some(at_least) = rule.at_least {
        let count = history.received.iter().filter(|d| inside(d)).count();
        if count >= at_least as usize {
            let noun = if count == 1 {
                "complaint"
            } else {
                "complaints"
            };
            reasons.push(format!(
                "{count} {noun} in the last {} days",
                rule.window_days
            ));
        }
    }
    if let Some(at_most) = rule.satisfaction_at_most {
        let lowest = history
            .scores
            .iter()
            .filter(|(score, day)| *score <= at_most && inside(day))
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        if let Some((score, day)) = lowest {
            reasons.push(format!("satisfaction {score} of 5 on {day}"));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::preset;

    fn policy() -> Policy {
        preset::parse(
            r#"
[preset]
id = "t"
title = "t"
[tiering]
tiers = [{ code = "A" }]
[[tiering.rules]]
tier = "A"
designated = true
"#,
        )
        .unwrap()
        .policy
    }

    fn rule() -> ChurnRule {
        ChurnRule {
            falling_spend: Some(FallingSpend {
                months: 6,
                below_percent: 50,
            }),
            dormant_is_risk: true,
            complaints: None,
        }
    }

    /// 3 complaints in 30 days, or a score of 2 or less.
    fn watching_complaints() -> ChurnRule {
        ChurnRule {
            complaints: Some(ComplaintRule {
                window_days: 30,
                at_least: Some(3),
                satisfaction_at_most: Some(2),
            }),
            ..rule()
        }
    }

    fn spend(recent: i64, both: i64) -> Figures {
        Figures::default()
            .with(Figure::Spend, Window::RollingMonths(6), recent)
            .with(Figure::Spend, Window::RollingMonths(12), both)
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    /// Today in these tests: 10 July 2026; the 30-day window starts 11 June.
    fn today() -> NaiveDate {
        day(7, 10)
    }

    fn complaints_on(days: &[NaiveDate]) -> ComplaintHistory {
        ComplaintHistory {
            received: days.to_vec(),
            scores: Vec::new(),
        }
    }

    fn scores(scores: &[(u8, NaiveDate)]) -> ComplaintHistory {
        ComplaintHistory {
            received: Vec::new(),
            scores: scores.to_vec(),
        }
    }

    fn assess_plain(
        rule: &ChurnRule,
        figures: &Figures,
        activity: Option<Activity>,
    ) -> Vec<String> {
        assess(
            &policy(),
            rule,
            figures,
            activity,
            &ComplaintHistory::default(),
            today(),
        )
    }

    fn assess_complaints(rule: &ChurnRule, history: &ComplaintHistory) -> Vec<String> {
        assess(&policy(), rule, &spend(0, 0), None, history, today())
    }

    #[test]
    fn falling_spend_is_a_risk_with_the_figures() {
        let reasons = assess_plain(&rule(), &spend(30_000, 130_000), Some(Activity::Active));
        assert_eq!(
            reasons,
            ["spend in the last 6 months 300.00 is 30% of the 6 months before (1000.00)"]
        );
        assert!(
            assess_plain(&rule(), &spend(50_000, 150_000), None).is_empty(),
            "exactly half is not below"
        );
        assert!(
            assess_plain(&rule(), &spend(0, 0), None).is_empty(),
            "nothing before, nothing falls"
        );
        assert!(
            assess_plain(&rule(), &spend(80_000, 80_000), None).is_empty(),
            "a new customer"
        );
        let no_spend_rule = ChurnRule {
            falling_spend: None,
            ..rule()
        };
        assert!(assess_plain(&no_spend_rule, &spend(30_000, 130_000), None).is_empty());
    }

    #[test]
    fn dormancy_is_a_risk_when_the_policy_says_so() {
        assert_eq!(
            assess_plain(&rule(), &spend(0, 0), Some(Activity::Dormant)),
            ["dormant"]
        );
        let lenient = ChurnRule {
            dormant_is_risk: false,
            ..rule()
        };
        assert!(assess_plain(&lenient, &spend(0, 0), Some(Activity::Dormant)).is_empty());
    }

    #[test]
    fn complaints_at_the_threshold_are_a_risk_and_below_it_are_not() {
        let three = complaints_on(&[day(7, 1), day(7, 5), day(7, 10)]);
        assert_eq!(
            assess_complaints(&watching_complaints(), &three),
            ["3 complaints in the last 30 days"]
        );
        let four = complaints_on(&[day(6, 20), day(7, 1), day(7, 5), day(7, 10)]);
        assert_eq!(
            assess_complaints(&watching_complaints(), &four),
            ["4 complaints in the last 30 days"]
        );
        let two = complaints_on(&[day(7, 1), day(7, 5)]);
        assert!(assess_complaints(&watching_complaints(), &two).is_empty());
        let one_is_enough = ChurnRule {
            complaints: Some(ComplaintRule {
                window_days: 7,
                at_least: Some(1),
                satisfaction_at_most: None,
            }),
            ..rule()
        };
        assert_eq!(
            assess_complaints(&one_is_enough, &complaints_on(&[day(7, 4)])),
            ["1 complaint in the last 7 days"]
        );
    }

    #[test]
    fn complaints_outside_the_window_do_not_count() {
        // The window of 30 days ending 10 July starts on 11 June.
        let edge = complaints_on(&[day(6, 11), day(7, 1), day(7, 5)]);
        assert_eq!(
            assess_complaints(&watching_complaints(), &edge),
            ["3 complaints in the last 30 days"],
            "the first day of the window counts"
        );
        let outside = complaints_on(&[day(6, 10), day(7, 1), day(7, 5)]);
        assert!(
            assess_complaints(&watching_complaints(), &outside).is_empty(),
            "the day before the window does not"
        );
        let old = complaints_on(&[day(1, 3), day(1, 4), day(1, 5), day(1, 6)]);
        assert!(assess_complaints(&watching_complaints(), &old).is_empty());
    }

    #[test]
    fn low_satisfaction_is_a_risk_at_or_below_the_threshold() {
        assert_eq!(
            assess_complaints(&watching_complaints(), &scores(&[(2, day(7, 2))])),
            ["satisfaction 2 of 5 on 2026-07-02"],
            "at the threshold"
        );
        assert_eq!(
            assess_complaints(&watching_complaints(), &scores(&[(1, day(6, 10 + 1))])),
            ["satisfaction 1 of 5 on 2026-06-11"],
            "below it, on the window's first day"
        );
        assert!(
            assess_complaints(&watching_complaints(), &scores(&[(3, day(7, 2))])).is_empty(),
            "above it"
        );
        assert!(
            assess_complaints(&watching_complaints(), &scores(&[(1, day(6, 10))])).is_empty(),
            "outside the window"
        );
        // Of several, the lowest; of equal lowest, the latest.
        let several = scores(&[
            (2, day(6, 15)),
            (1, day(6, 20)),
            (5, day(7, 1)),
            (1, day(7, 3)),
            (4, day(7, 9)),
        ]);
        assert_eq!(
            assess_complaints(&watching_complaints(), &several),
            ["satisfaction 1 of 5 on 2026-07-03"]
        );
    }

    #[test]
    fn a_reason_the_policy_does_not_give_is_not_used() {
        let history = ComplaintHistory {
            received: vec![day(7, 1), day(7, 2), day(7, 3), day(7, 4)],
            scores: vec![(1, day(7, 5))],
        };
        let only_count = ChurnRule {
            complaints: Some(ComplaintRule {
                satisfaction_at_most: None,
                ..watching_complaints().complaints.unwrap()
            }),
            ..rule()
        };
        assert_eq!(
            assess_complaints(&only_count, &history),
            ["4 complaints in the last 30 days"]
        );
        let only_score = ChurnRule {
            complaints: Some(ComplaintRule {
                at_least: None,
                ..watching_complaints().complaints.unwrap()
            }),
            ..rule()
        };
        assert_eq!(
            assess_complaints(&only_score, &history),
            ["satisfaction 1 of 5 on 2026-07-05"]
        );
        assert!(assess_complaints(&rule(), &history).is_empty());
    }

    #[test]
    fn every_reason_together_in_order() {
        let history = ComplaintHistory {
            received: vec![day(6, 30), day(7, 1), day(7, 9)],
            scores: vec![(2, day(7, 8))],
        };
        let reasons = assess(
            &policy(),
            &watching_complaints(),
            &spend(30_000, 130_000),
            Some(Activity::Dormant),
            &history,
            today(),
        );
        assert_eq!(
            reasons,
            [
                "dormant",
                "spend in the last 6 months 300.00 is 30% of the 6 months before (1000.00)",
                "3 complaints in the last 30 days",
                "satisfaction 2 of 5 on 2026-07-08",
            ]
        );
        // Complaints alone, while spend holds and the customer is active.
        let reasons = assess(
            &policy(),
            &watching_complaints(),
            &spend(80_000, 150_000),
            Some(Activity::Active),
            &history,
            today(),
        );
        assert_eq!(
            reasons,
            [
                "3 complaints in the last 30 days",
                "satisfaction 2 of 5 on 2026-07-08"
            ]
        );
    }
}
