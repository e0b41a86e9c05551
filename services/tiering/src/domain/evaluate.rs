//! Deciding a customer's tier under a policy, with the reasons: which rule
//! matched and the figures it compared. Fair and objective (003 第六条)
//! means every decision can be read back.

use std::collections::BTreeMap;

use super::policy::{Comparison, Condition, Figure, Policy, Scorecard, Shape, Window};

/// A customer's figures, as the store measured them today. A figure that
/// is absent is unknown (no credit grade on file, say): conditions on it do
/// not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures(pub BTreeMap<(Figure, Window), i64>);

impl Figures {
    pub fn with(mut self, figure: Figure, window: Window, value: i64) -> Self {
        self.0.insert((figure, window), value);
        self
    }

    pub fn get(&self, figure: Figure, window: Window) -> Option<i64> {
        self.0.get(&(figure, window)).copied()
    }
}

/// Facts about the customer that are not figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// The region key regional coefficients are looked up by.
    pub region: Option<String>,
    /// A tier the customer was designated (heads of enterprises → A).
    pub designated: Option<String>,
}

/// One comparison made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub figure: Figure,
    pub window: Window,
    pub value: Option<i64>,
    pub comparison: Comparison,
    /// The threshold after any regional coefficient.
    pub threshold: i64,
    pub held: bool,
}

/// Why a tier was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// A rule held (its index in the policy).
    Rule(usize),
    /// The customer was designated the tier.
    Designation,
    /// The scorecard's total reached the tier's grade.
    Score(u32),
    /// Nothing placed the customer higher.
    Fallback,
}

/// A decision and its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `None`: no tier (the customer does not qualify).
    pub tier: Option<String>,
    pub basis: Basis,
    /// The comparisons of the deciding rule (for a rule or a score).
    pub checks: Vec<Check>,
    /// The rules of figures tried before it that did not hold (their index
    /// in the policy and their comparisons), best tier first: why the
    /// customer is not higher.
    pub tried: Vec<(usize, Vec<Check>)>,
}

/// Decides the tier the figures earn now.
pub fn evaluate(policy: &Policy, figures: &Figures, standing: &Standing) -> Decision {
    let coefficient = standing
        .region
        .as_ref()
        .and_then(|r| policy.regional_coefficients.get(r))
        .copied();
    // Rules are tried best tier first, so the highest tier earned wins.
    let mut order: Vec<usize> = (0..policy.rules.len()).collect();
    order.sort_by_key(|&i| policy.rank(Some(&policy.rules[i].tier)));
    let mut tried = Vec::new();
    for i in order {
        let rule = &policy.rules[i];
        let held = match &rule.shape {
            Shape::Designated => {
                if standing.designated.as_deref() == Some(rule.tier.as_str()) {
                    return Decision {
                        tier: Some(rule.tier.clone()),
                        basis: Basis::Designation,
                        checks: Vec::new(),
                        tried,
                    };
                }
                continue;
            }
            Shape::Any(conditions) => {
                let checks = check_all(conditions, figures, coefficient.filter(|_| rule.regional));
                (checks.iter().any(|c| c.held), checks)
            }
            Shape::All(conditions) => {
                let checks = check_all(conditions, figures, coefficient.filter(|_| rule.regional));
                (checks.iter().all(|c| c.held), checks)
            }
        };
        match held {
            (true, checks) => {
                return Decision {
                    tier: Some(rule.tier.clone()),
                    basis: Basis::Rule(i),
                    checks,
                    tried,
                };
            }
            (false, checks) => tried.push((i, checks)),
        }
    }
    if let Some(card) = &policy.scorecard {
        let (score, checks) = score(card, figures);
        if let Some((tier, _)) = card.grades.iter().find(|(_, lowest)| score >= *lowest) {
            return Decision {
                tier: Some(tier.clone()),
                basis: Basis::Score(score),
                checks,
                tried,
            };
        }
    }
    Decision {
        tier: policy.fallback.clone(),
        basis: Basis::Fallback,
        checks: Vec::new(),
        tried,
    }
}

fn check_all(conditions: &[Condition], figures: &Figures, coefficient: Option<u32>) -> Vec<Check> {
    conditions
        .iter()
        .map(|c| {
            let threshold = match coefficient {
                Some(k) if c.figure.scales_with_region() => scale(c.threshold, k),
                _ => c.threshold,
            };
            let value = figures.get(c.figure, c.window);
            Check {
                figure: c.figure,
                window: c.window,
                value,
                comparison: c.comparison,
                threshold,
                held: value.is_some_and(|v| c.comparison.holds(v, threshold)),
            }
        })
        .collect()
}

/// `value × thousandths / 1000`, rounded half up.
fn scale(value: i64, thousandths: u32) -> i64 {
    let scaled = i128::from(value) * i128::from(thousandths);
    i64::try_from((scaled + 500).div_euclid(1000)).unwrap_or(i64::MAX)
}

/// The scorecard's total (0–100) and one check per indicator showing the
/// band reached (`threshold` is the band's bound, `value` the figure).
fn score(card: &Scorecard, figures: &Figures) -> (u32, Vec<Check>) {
    let mut total = 0u32;
    let mut checks = Vec::new();
    for indicator in &card.indicators {
        let value = figures.get(indicator.figure, indicator.window);
        let band = value.and_then(|v| {
            indicator.bands.iter().find(|(bound, _)| {
                if indicator.lower_is_better {
                    v <= *bound
                } else {
                    v >= *bound
                }
            })
        });
        let points = band.map(|(_, p)| *p).unwrap_or(0);
        total += indicator.weight * points;
        checks.push(Check {
            figure: indicator.figure,
            window: indicator.window,
            value,
            comparison: if indicator.lower_is_better {
                Comparison::AtMost
            } else {
                Comparison::AtLeast
            },
            threshold: band.map(|(b, _)| *b).unwrap_or_default(),
            held: band.is_some(),
        });
    }
    // Weights are percents and points are out of 100: the total is out of 10,000.
    ((total + 50) / 100, checks)
}

/// How far the figures are from holding a tier: for the tier's first rule
/// of figures, each condition that does not hold, with how much is missing
/// (in the figure's unit). Empty when the tier holds or has no such rule.
pub fn shortfall(
    policy: &Policy,
    figures: &Figures,
    standing: &Standing,
    tier: &str,
) -> Vec<(Check, i64)> {
    let coefficient = standing
        .region
        .as_ref()
        .and_then(|r| policy.regional_coefficients.get(r))
        .copied();
    let Some((conditions, regional)) = policy.rules.iter().find_map(|r| match &r.shape {
        Shape::Any(c) | Shape::All(c) if r.tier == tier => Some((c, r.regional)),
        _ => None,
    }) else {
        return Vec::new();
    };
    let checks = check_all(conditions, figures, coefficient.filter(|_| regional));
    let any = policy
        .rules
        .iter()
        .any(|r| r.tier == tier && matches!(r.shape, Shape::Any(_)));
    if (any && checks.iter().any(|c| c.held)) || (!any && checks.iter().all(|c| c.held)) {
        return Vec::new();
    }
    checks
        .into_iter()
        .filter(|c| !c.held)
        .map(|c| {
            let value = c.value.unwrap_or(0);
            let missing = match c.comparison {
                Comparison::AtLeast => c.threshold - value,
                Comparison::AtMost => value - c.threshold,
                Comparison::Below => value - c.threshold + 1,
            };
            (c, missing.max(0))
        })
        .collect()
}

/// The decision in words, e.g. `A: spend this calendar year 1,250.00 ≥ 1,200.00
/// (rule "A by visits or spend", policy health-chain)`.
pub fn explain(policy: &Policy, decision: &Decision) -> String {
    let tier = decision.tier.as_deref().unwrap_or("no tier");
    let why = match &decision.basis {
        Basis::Rule(i) => {
            let rule = &policy.rules[*i];
            let shown: Vec<String> = decision
                .checks
                .iter()
                .filter(|c| c.held || matches!(rule.shape, Shape::All(_)))
                .map(|c| describe(policy, c))
                .collect();
            format!("{} (rule: {})", shown.join(" and "), rule.description)
        }
        Basis::Designation => "designated by the company".to_owned(),
        Basis::Score(total) => {
            let parts: Vec<String> = decision
                .checks
                .iter()
                .map(|c| describe(policy, c))
                .collect();
            format!("scorecard total {total} ({})", parts.join("; "))
        }
        Basis::Fallback if decision.tried.is_empty() => {
            "no rule placed the customer higher".to_owned()
        }
        Basis::Fallback => {
            let missed: Vec<String> = decision
                .tried
                .iter()
                .map(|(i, checks)| {
                    let rule = &policy.rules[*i];
                    let joint = if matches!(rule.shape, Shape::Any(_)) {
                        " or "
                    } else {
                        " and "
                    };
                    let failing: Vec<String> = checks
                        .iter()
                        .filter(|c| !c.held)
                        .map(|c| describe_needed(policy, c))
                        .collect();
                    format!(
                        "{} needs {} (rule: {})",
                        rule.tier,
                        failing.join(joint),
                        rule.description
                    )
                })
                .collect();
            format!("no rule placed the customer higher; {}", missed.join("; "))
        }
    };
    format!("{tier}: {why}")
}

/// What a comparison that failed asks for, and what the customer has, e.g.
/// `bad_records now ≤ 0 (has 1)`.
fn describe_needed(policy: &Policy, check: &Check) -> String {
    let show = |v: i64| format_value(policy, check.figure, v);
    let has = check.value.map(show).unwrap_or_else(|| "unknown".into());
    let needs = if check.figure == Figure::CreditGrade {
        grade_needed(check.comparison, &show(check.threshold))
    } else {
        format!("{} {}", check.comparison.symbol(), show(check.threshold))
    };
    format!(
        "{} {} {needs} (has {has})",
        check.figure.name(),
        check.window.describe()
    )
}

/// A grade comparison in words: grades rank A = 1, B = 2…, so "at most 2"
/// reads "B or better".
fn grade_needed(comparison: Comparison, grade: &str) -> String {
    match comparison {
        Comparison::AtLeast => format!("{grade} or worse"),
        Comparison::AtMost => format!("{grade} or better"),
        Comparison::Below => format!("better than {grade}"),
    }
}

fn describe(policy: &Policy, check: &Check) -> String {
    let show = |v: i64| format_value(policy, check.figure, v);
    let value = check.value.map(show).unwrap_or_else(|| "unknown".into());
    if check.figure == Figure::CreditGrade {
        let needs = grade_needed(check.comparison, &show(check.threshold));
        return format!(
            "{} {} {value}, {needs}",
            check.figure.name(),
            check.window.describe()
        );
    }
    format!(
        "{} {} {} {} {}",
        check.figure.name(),
        check.window.describe(),
        value,
        check.comparison.symbol(),
        show(check.threshold)
    )
}

/// A figure's value as people read it: money in major units, volume in units.
pub fn format_value(policy: &Policy, figure: Figure, value: i64) -> String {
    if figure.is_money() {
        let exponent = patron_vocab::money::digits_or_default(&policy.currency);
        patron_vocab::money::format_minor(value, exponent)
    } else if figure == Figure::Volume {
        patron_vocab::money::format_minor(value, 3)
    } else if figure == Figure::CreditGrade {
        credit_grade(value)
    } else {
        value.to_string()
    }
}

/// A credit grade's letter from its rank (1 = A); the rank itself when it
/// has no letter.
fn credit_grade(rank: i64) -> String {
    match u8::try_from(rank) {
        Ok(r @ 1..=26) => char::from(b'A' + r - 1).to_string(),
        _ => rank.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{Benefits, Downgrades, Indicator, Rule, Tier};

    fn policy(downgrades: Downgrades) -> Policy {
        let tier = |code: &str| Tier {
            code: code.into(),
            name: code.into(),
            benefits: Benefits::default(),
            owner_level: None,
        };
        let spend = |at_least: i64| Condition {
            figure: Figure::Spend,
            window: Window::CalendarYear,
            comparison: Comparison::AtLeast,
            threshold: at_least,
        };
        let visits = |at_least: i64| Condition {
            figure: Figure::Visits,
            window: Window::CalendarYear,
            comparison: Comparison::AtLeast,
            threshold: at_least,
        };
        Policy {
            id: "test".into(),
            title: "test".into(),
            currency: "CNY".into(),
            tiers: vec![tier("A"), tier("B"), tier("C")],
            rules: vec![
                Rule {
                    tier: "B".into(),
                    shape: Shape::Any(vec![visits(8), spend(80_000)]),
                    description: "B".into(),
                    regional: true,
                },
                Rule {
                    tier: "A".into(),
                    shape: Shape::All(vec![
                        spend(120_000),
                        Condition {
                            figure: Figure::Arrears,
                            window: Window::Now,
                            comparison: Comparison::AtMost,
                            threshold: 0,
                        },
                    ]),
                    description: "A".into(),
                    regional: false,
                },
                Rule {
                    tier: "A".into(),
                    shape: Shape::Designated,
                    description: "designated".into(),
                    regional: false,
                },
            ],
            scorecard: None,
            fallback: Some("C".into()),
            downgrades,
            review_months: 12,
            regional_coefficients: BTreeMap::from([("west".to_owned(), 800)]),
            activity: None,
            churn: None,
            churn_targets: BTreeMap::new(),
            points: None,
        }
    }

    fn figures(spend: i64, visits: i64, arrears: Option<i64>) -> Figures {
        let f = Figures::default()
            .with(Figure::Spend, Window::CalendarYear, spend)
            .with(Figure::Visits, Window::CalendarYear, visits);
        match arrears {
            Some(a) => f.with(Figure::Arrears, Window::Now, a),
            None => f,
        }
    }

    #[test]
    fn the_best_tier_earned_wins_whatever_the_rule_order() {
        let p = policy(Downgrades::Immediately);
        let d = evaluate(&p, &figures(130_000, 1, Some(0)), &Standing::default());
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.basis, Basis::Rule(1));
        assert_eq!(
            explain(&p, &d),
            "A: spend this calendar year 1300.00 ≥ 1200.00 and arrears now 0.00 ≤ 0.00 (rule: A)"
        );
    }

    #[test]
    fn all_means_all_and_unknown_figures_do_not_hold() {
        let p = policy(Downgrades::Immediately);
        let owing = evaluate(&p, &figures(130_000, 1, Some(5_000)), &Standing::default());
        assert_eq!(
            owing.tier.as_deref(),
            Some("B"),
            "arrears keep a big spender out of A"
        );
        let unknown = evaluate(&p, &figures(130_000, 1, None), &Standing::default());
        assert_eq!(unknown.tier.as_deref(), Some("B"));
    }

    #[test]
    fn any_means_any() {
        let p = policy(Downgrades::Immediately);
        let by_visits = evaluate(&p, &figures(0, 8, None), &Standing::default());
        assert_eq!(by_visits.tier.as_deref(), Some("B"));
        assert_eq!(
            explain(&p, &by_visits),
            "B: visits this calendar year 8 ≥ 8 (rule: B)",
            "only the condition that held is shown"
        );
        let neither = evaluate(&p, &figures(79_999, 7, None), &Standing::default());
        assert_eq!(neither.tier.as_deref(), Some("C"));
        assert_eq!(neither.basis, Basis::Fallback);
    }

    #[test]
    fn designation_places_without_figures() {
        let p = policy(Downgrades::Immediately);
        let d = evaluate(
            &p,
            &Figures::default(),
            &Standing {
                designated: Some("A".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            (d.tier.as_deref(), d.basis),
            (Some("A"), Basis::Designation)
        );
    }

    #[test]
    fn a_regional_coefficient_lowers_the_thresholds_of_regional_rules_only_there() {
        let p = policy(Downgrades::Immediately);
        let west = Standing {
            region: Some("west".into()),
            ..Default::default()
        };
        let d = evaluate(&p, &figures(64_000, 0, None), &west);
        assert_eq!(d.tier.as_deref(), Some("B"), "80,000 × 0.8 = 64,000");
        let d = evaluate(&p, &figures(64_000, 0, None), &Standing::default());
        assert_eq!(d.tier.as_deref(), Some("C"));
        let d = evaluate(&p, &figures(96_000, 0, Some(0)), &west);
        assert_eq!(
            d.tier.as_deref(),
            Some("B"),
            "A's rule is not regional: 120,000 stays 120,000"
        );
        assert_eq!(scale(1_000_001, 850), 850_001);
        assert_eq!(scale(3, 500), 2, "half rounds up");
    }

    #[test]
    fn shortfall_says_how_much_is_missing_for_a_tier() {
        let p = policy(Downgrades::AtReview);
        let short = shortfall(&p, &figures(70_000, 5, None), &Standing::default(), "B");
        let missing: Vec<(Figure, i64)> = short.iter().map(|(c, m)| (c.figure, *m)).collect();
        assert_eq!(
            missing,
            [(Figure::Visits, 3), (Figure::Spend, 10_000)],
            "either would do"
        );
        assert!(shortfall(&p, &figures(80_000, 0, None), &Standing::default(), "B").is_empty());
        let short = shortfall(
            &p,
            &figures(130_000, 0, Some(500)),
            &Standing::default(),
            "A",
        );
        assert_eq!(short.len(), 1, "only the failing condition of an all-rule");
        assert_eq!(short[0].1, 500);
        assert!(shortfall(&p, &Figures::default(), &Standing::default(), "C").is_empty());
    }

    #[test]
    fn a_scorecard_weighs_its_indicators() {
        let mut p = policy(Downgrades::Immediately);
        p.rules.clear();
        p.fallback = None;
        p.scorecard = Some(Scorecard {
            indicators: vec![
                Indicator {
                    name: "deposits".into(),
                    figure: Figure::Spend,
                    window: Window::CalendarYear,
                    weight: 60,
                    bands: vec![(1_000_000, 100), (500_000, 60), (100_000, 30)],
                    lower_is_better: false,
                },
                Indicator {
                    name: "credit".into(),
                    figure: Figure::CreditGrade,
                    window: Window::Now,
                    weight: 40,
                    bands: vec![(1, 100), (2, 70), (3, 40)],
                    lower_is_better: true,
                },
            ],
            grades: vec![("A".into(), 85), ("B".into(), 60), ("C".into(), 30)],
        });
        let f = Figures::default()
            .with(Figure::Spend, Window::CalendarYear, 600_000)
            .with(Figure::CreditGrade, Window::Now, 2);
        let d = evaluate(&p, &f, &Standing::default());
        // 60% × 60 + 40% × 70 = 36 + 28 = 64.
        assert_eq!(
            (d.tier.as_deref(), &d.basis),
            (Some("B"), &Basis::Score(64))
        );
        assert!(explain(&p, &d).starts_with("B: scorecard total 64"));
        let nothing = evaluate(&p, &Figures::default(), &Standing::default());
        assert_eq!((nothing.tier, nothing.basis), (None, Basis::Fallback));
    }
}
