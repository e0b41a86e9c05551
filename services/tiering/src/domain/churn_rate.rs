//! Churn as figures against the company's targets (002 §7: yearly VIP churn
//! below 3.5%, diamond and gold below 2%). A tier's rate over a period is the
//! customers who left holding it, out of those who held it at the period's
//! end plus those who left during it; "all" counts every tiered customer.

use std::collections::BTreeMap;

/// The key of the overall target and figure.
pub const ALL: &str = "all";

/// One tier's churn (or everyone's, `tier` = `None`) over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnFigure {
    pub tier: Option<String>,
    pub churned: i64,
    /// Holders at the end of the period plus leavers during it.
    pub base: i64,
    /// The rate in hundredths of a percent (350 is 3.50%): 0 when nobody
    /// left, even of a tier nobody held.
    pub rate: Option<i64>,
    /// The target in hundredths of a percent, when the policy sets one.
    pub target: Option<i64>,
}

impl ChurnFigure {
    /// Whether the rate is below the target; `None` without both.
    pub fn within_target(&self) -> Option<bool> {
        Some(self.rate? < self.target?)
    }
}

/// `part` of `whole` in hundredths of a percent, rounded down; none of
/// nothing is 0%.
pub fn hundredths_of_percent(part: i64, whole: i64) -> Option<i64> {
    if part == 0 {
        return Some(0);
    }
    (whole > 0).then(|| (i128::from(part) * 10_000 / i128::from(whole)) as i64)
}

/// Hundredths of a percent as people read them: `3.50`.
pub fn format_percent(hundredths: i64) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// The figures for everyone and for each of `tiers` (highest first), from the
/// leavers and the current holders per tier and the targets (hundredths of a
/// percent, keyed by tier code or [`ALL`]).
pub fn figures(
    tiers: &[String],
    leavers: &BTreeMap<String, i64>,
    holders: &BTreeMap<String, i64>,
    targets: &BTreeMap<String, i64>,
) -> Vec<ChurnFigure> {
    let count = |map: &BTreeMap<String, i64>, tier: &str| map.get(tier).copied().unwrap_or(0);
    let all_churned: i64 = tiers.iter().map(|t| count(leavers, t)).sum();
    let all_base: i64 = all_churned + tiers.iter().map(|t| count(holders, t)).sum::<i64>();
    let mut out = vec![ChurnFigure {
        tier: None,
        churned: all_churned,
        base: all_base,
        rate: hundredths_of_percent(all_churned, all_base),
        target: targets.get(ALL).copied(),
    }];
    for tier in tiers {
        let churned = count(leavers, tier);
        let base = churned + count(holders, tier);
        out.push(ChurnFigure {
            tier: Some(tier.clone()),
            churned,
            base,
            rate: hundredths_of_percent(churned, base),
            target: targets.get(tier).copied(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn telecom_targets_read_against_the_periods_leavers() {
        let tiers: Vec<String> = ["diamond", "gold", "silver"].map(String::from).to_vec();
        let leavers = map(&[("diamond", 1), ("gold", 3), ("silver", 6)]);
        let holders = map(&[("diamond", 99), ("gold", 97), ("silver", 94)]);
        let targets = map(&[("all", 350), ("diamond", 200), ("gold", 200)]);
        let figures = figures(&tiers, &leavers, &holders, &targets);
        let all = &figures[0];
        assert_eq!(
            (all.tier.as_deref(), all.churned, all.base),
            (None, 10, 300)
        );
        assert_eq!(all.rate, Some(333), "10 of 300 is 3.33%");
        assert_eq!(all.within_target(), Some(true));
        let diamond = &figures[1];
        assert_eq!(
            (diamond.rate, diamond.within_target()),
            (Some(100), Some(true))
        );
        let gold = &figures[2];
        assert_eq!((gold.rate, gold.within_target()), (Some(300), Some(false)));
        let silver = &figures[3];
        assert_eq!(
            (silver.rate, silver.within_target()),
            (Some(600), None),
            "no target"
        );
    }

    #[test]
    fn nobody_leaving_a_tier_nobody_held_is_no_churn() {
        let tiers = vec!["A".to_owned()];
        let figures = figures(&tiers, &map(&[]), &map(&[]), &map(&[("A", 200)]));
        assert_eq!((figures[1].base, figures[1].rate), (0, Some(0)));
        assert_eq!(figures[1].within_target(), Some(true));
    }

    #[test]
    fn percents_read_with_two_decimals() {
        assert_eq!(format_percent(350), "3.50");
        assert_eq!(format_percent(5), "0.05");
        assert_eq!(hundredths_of_percent(1, 3), Some(3333));
        assert_eq!(hundredths_of_percent(1, 0), None);
        assert_eq!(hundredths_of_percent(0, 0), Some(0));
    }
}
