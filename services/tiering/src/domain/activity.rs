//! Active or dormant (000 3.5): a customer is active while they buy recently,
//! often and enough; the thresholds are the policy's.

use super::evaluate::Figures;
use super::policy::{ActivityRule, Figure, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Active,
    Dormant,
}

impl Activity {
    pub fn name(self) -> &'static str {
        match self {
            Activity::Active => "active",
            Activity::Dormant => "dormant",
        }
    }
}

/// The customer's activity and why, in words.
pub fn activity(rule: &ActivityRule, figures: &Figures) -> (Activity, String) {
    let Some(days) = figures.get(Figure::DaysSincePurchase, Window::Now) else {
        return (Activity::Dormant, "no purchase on record".into());
    };
    if days > rule.dormant_after_days {
        return (
            Activity::Dormant,
            format!(
                "last purchase {days} days ago (dormant after {})",
                rule.dormant_after_days
            ),
        );
    }
    let purchases = figures.get(Figure::Visits, rule.window).unwrap_or(0);
    if purchases < rule.min_purchases {
        return (
            Activity::Dormant,
            format!(
                "{purchases} purchases {} (active from {})",
                rule.window.describe(),
                rule.min_purchases
            ),
        );
    }
    let spend = figures.get(Figure::Spend, rule.window).unwrap_or(0);
    if spend < rule.min_spend {
        return (
            Activity::Dormant,
            format!(
                "spend {} below the active threshold",
                rule.window.describe()
            ),
        );
    }
    (
        Activity::Active,
        format!(
            "last purchase {days} days ago, {purchases} purchases {}",
            rule.window.describe()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIX: Window = Window::RollingMonths(6);

    fn rule() -> ActivityRule {
        ActivityRule {
            dormant_after_days: 90,
            window: SIX,
            min_purchases: 2,
            min_spend: 50_000,
        }
    }

    fn figures(days: Option<i64>, purchases: i64, spend: i64) -> Figures {
        let f = Figures::default()
            .with(Figure::Visits, SIX, purchases)
            .with(Figure::Spend, SIX, spend);
        match days {
            Some(d) => f.with(Figure::DaysSincePurchase, Window::Now, d),
            None => f,
        }
    }

    #[test]
    fn recency_frequency_and_amount_all_count() {
        assert_eq!(
            activity(&rule(), &figures(Some(10), 3, 60_000)).0,
            Activity::Active
        );
        assert_eq!(
            activity(&rule(), &figures(Some(90), 2, 50_000)).0,
            Activity::Active
        );
        let (a, why) = activity(&rule(), &figures(Some(91), 5, 90_000));
        assert_eq!(a, Activity::Dormant);
        assert!(why.contains("91 days"), "{why}");
        assert_eq!(
            activity(&rule(), &figures(Some(10), 1, 90_000)).0,
            Activity::Dormant
        );
        assert_eq!(
            activity(&rule(), &figures(Some(10), 3, 49_999)).0,
            Activity::Dormant
        );
        assert_eq!(activity(&rule(), &figures(None, 0, 0)).0, Activity::Dormant);
    }
}
