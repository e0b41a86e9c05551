//! Churn early warning (000 3.13, 002 §7, 004 §10): customers about to
//! leave, with why — dormant, or spending far less than before. (Complaint
//! signals join when the complaint service publishes them.)

use super::activity::Activity;
use super::evaluate::{Figures, format_value};
use super::policy::{Figure, Policy, Window};

/// When a customer counts as at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnRule {
    /// The recent period, compared with the same length just before it.
    pub months: u32,
    /// At risk when recent spend is below this percent of the period before.
    pub falling_below_percent: u32,
    /// Whether dormancy alone is a risk.
    pub dormant_is_risk: bool,
}

impl ChurnRule {
    pub fn recent(&self) -> Window {
        Window::RollingMonths(self.months)
    }

    /// Both periods together; the earlier one is this minus the recent one.
    pub fn both(&self) -> Window {
        Window::RollingMonths(self.months * 2)
    }
}

/// The reasons a customer is at risk; empty when they are not.
pub fn assess(
    policy: &Policy,
    rule: &ChurnRule,
    figures: &Figures,
    activity: Option<Activity>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if rule.dormant_is_risk && activity == Some(Activity::Dormant) {
        reasons.push("dormant".to_owned());
    }
    let recent = figures.get(Figure::Spend, rule.recent()).unwrap_or(0);
    let both = figures.get(Figure::Spend, rule.both()).unwrap_or(0);
    let before = both - recent;
    if before > 0
        && i128::from(recent) * 100 < i128::from(before) * i128::from(rule.falling_below_percent)
    {
        let percent = (i128::from(recent.max(0)) * 100 / i128::from(before)) as i64;
        reasons.push(format!(
            "spend in the last {} months {} is {percent}% of the {} months before ({})",
            rule.months,
            format_value(policy, Figure::Spend, recent),
            rule.months,
            format_value(policy, Figure::Spend, before),
        ));
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
            months: 6,
            falling_below_percent: 50,
            dormant_is_risk: true,
        }
    }

    fn spend(recent: i64, both: i64) -> Figures {
        Figures::default()
            .with(Figure::Spend, Window::RollingMonths(6), recent)
            .with(Figure::Spend, Window::RollingMonths(12), both)
    }

    #[test]
    fn falling_spend_is_a_risk_with_the_figures() {
        let reasons = assess(
            &policy(),
            &rule(),
            &spend(30_000, 130_000),
            Some(Activity::Active),
        );
        assert_eq!(
            reasons,
            ["spend in the last 6 months 300.00 is 30% of the 6 months before (1000.00)"]
        );
        assert!(
            assess(&policy(), &rule(), &spend(50_000, 150_000), None).is_empty(),
            "exactly half is not below"
        );
        assert!(
            assess(&policy(), &rule(), &spend(0, 0), None).is_empty(),
            "nothing before, nothing falls"
        );
        assert!(
            assess(&policy(), &rule(), &spend(80_000, 80_000), None).is_empty(),
            "a new customer"
        );
    }

    #[test]
    fn dormancy_is_a_risk_when_the_policy_says_so() {
        assert_eq!(
            assess(&policy(), &rule(), &spend(0, 0), Some(Activity::Dormant)),
            ["dormant"]
        );
        let lenient = ChurnRule {
            dormant_is_risk: false,
            ..rule()
        };
        assert!(assess(&policy(), &lenient, &spend(0, 0), Some(Activity::Dormant)).is_empty());
    }
}
