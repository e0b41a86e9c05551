//! A tier policy as the engine uses it, once checked: ordered tiers, rules
//! of the three shapes the documents use (any condition suffices, all must
//! hold, a weighted scorecard) plus designation, figures measured over a
//! window, regional coefficients, per-tier benefits and owning org level.
//! Built from a preset by `preset::parse`; never invalid.

use std::collections::BTreeMap;

/// Something measured about a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    /// Money paid, net of refunds, over the window (minor units).
    Spend,
    /// The largest single purchase in the window (minor units).
    LargestPurchase,
    /// Purchases (visits) in the window.
    Visits,
    /// Quantity bought in the window, in thousandths of the unit (tonnes of fuel).
    Volume,
    /// The credit grade the sales department gave, as a rank (1 is best).
    CreditGrade,
    /// Money owed and overdue now (minor units).
    Arrears,
    /// Bad payment records on file.
    BadRecords,
    /// Days since the last purchase (unknown when there was none).
    DaysSincePurchase,
}

impl Figure {
    pub const ALL: [Figure; 8] = [
        Figure::Spend,
        Figure::LargestPurchase,
        Figure::Visits,
        Figure::Volume,
        Figure::CreditGrade,
        Figure::Arrears,
        Figure::BadRecords,
        Figure::DaysSincePurchase,
    ];

    /// The name used in preset files and explanations.
    pub fn name(self) -> &'static str {
        match self {
            Figure::Spend => "spend",
            Figure::LargestPurchase => "largest_purchase",
            Figure::Visits => "visits",
            Figure::Volume => "volume",
            Figure::CreditGrade => "credit_grade",
            Figure::Arrears => "arrears",
            Figure::BadRecords => "bad_records",
            Figure::DaysSincePurchase => "days_since_purchase",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the figure is measured over a window of transactions (the
    /// others are a customer's standing, as of now).
    pub fn is_windowed(self) -> bool {
        matches!(
            self,
            Figure::Spend | Figure::LargestPurchase | Figure::Visits | Figure::Volume
        )
    }

    /// Whether the figure is money, so thresholds are written in major units
    /// and regional coefficients scale them.
    pub fn is_money(self) -> bool {
        matches!(
            self,
            Figure::Spend | Figure::LargestPurchase | Figure::Arrears
        )
    }

    /// Whether a regional coefficient scales this figure's thresholds
    /// (business volume, not risk).
    pub fn scales_with_region(self) -> bool {
        matches!(
            self,
            Figure::Spend | Figure::LargestPurchase | Figure::Volume
        )
    }
}

/// The period a windowed figure is measured over, ending today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Window {
    /// The last N calendar months up to and including today.
    RollingMonths(u32),
    /// From 1 January of the current year.
    CalendarYear,
    /// Everything on record.
    Lifetime,
    /// Not windowed (a standing figure).
    Now,
}

impl Window {
    pub fn describe(self) -> String {
        match self {
            Window::RollingMonths(1) => "in the last month".into(),
            Window::RollingMonths(n) => format!("in the last {n} months"),
            Window::CalendarYear => "this calendar year".into(),
            Window::Lifetime => "ever".into(),
            Window::Now => "now".into(),
        }
    }
}

/// How a figure is compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    AtLeast,
    AtMost,
    Below,
}

impl Comparison {
    pub fn holds(self, value: i64, threshold: i64) -> bool {
        match self {
            Comparison::AtLeast => value >= threshold,
            Comparison::AtMost => value <= threshold,
            Comparison::Below => value < threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => "≥",
            Comparison::AtMost => "≤",
            Comparison::Below => "<",
        }
    }
}

/// One condition: `figure` over `window` compared with `threshold` (in the
/// figure's unit: minor units, a count, thousandths, a rank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub figure: Figure,
    pub window: Window,
    pub comparison: Comparison,
    pub threshold: i64,
}

/// A weighted scorecard (001 客户关系评估表): each indicator scores points by
/// band, weighted; the total decides the grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scorecard {
    pub indicators: Vec<Indicator>,
    /// (tier, lowest total score), best tier first.
    pub grades: Vec<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    pub name: String,
    pub figure: Figure,
    pub window: Window,
    /// Percent of the total this indicator carries; the weights sum to 100.
    pub weight: u32,
    /// (lowest value, points out of 100), highest band first; a value
    /// under every band scores 0. For "lower is better" figures (credit
    /// rank, arrears) the bands are (highest value, points) instead.
    pub bands: Vec<(i64, u32)>,
    pub lower_is_better: bool,
}

/// How a rule decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Any one condition suffices (health chain).
    Any(Vec<Condition>),
    /// Every condition must hold (000 qualification).
    All(Vec<Condition>),
    /// The customer was designated this tier (heads of enterprises → A).
    Designated,
}

/// A rule putting customers into `tier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub tier: String,
    pub shape: Shape,
    /// What the rule is, in the document's words.
    pub description: String,
    /// Whether the policy's regional coefficients scale this rule's
    /// thresholds (001 writes the coefficient under the VIP tier only).
    pub regional: bool,
}

/// What a tier brings (000 §4, 003), as data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Benefits {
    pub price_level: Option<String>,
    /// Credit allowance in minor units, as the document gives it: one
    /// amount or a range (000 §4.6: A more than 500,000, B 300,000 to
    /// 500,000, C under 300,000).
    pub credit_allowance: Option<AmountRange>,
    pub priority_order: bool,
    pub priority_production: bool,
    pub priority_delivery: bool,
    pub progress_feedback: bool,
    /// Which management level visits (senior, middle…).
    pub visiting_level: Option<String>,
    pub free_support_staff: u32,
    /// Member discount as a percentage of the price paid (8.8折 → 88).
    pub member_discount_percent: Option<u32>,
    /// Birthday discount as a percentage of the price paid (6折 → 60).
    pub birthday_discount_percent: Option<u32>,
}

/// One end of an [`AmountRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// In minor units.
    pub amount: i64,
    /// Whether the amount itself is outside the range ("more than", "under").
    pub exclusive: bool,
}

/// An amount given as a range, open at either end; one amount is a range
/// whose ends are that amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountRange {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

impl AmountRange {
    pub fn exactly(amount: i64) -> Self {
        let end = Some(Bound {
            amount,
            exclusive: false,
        });
        AmountRange {
            lower: end,
            upper: end,
        }
    }

    /// The one amount, when the range is one amount.
    pub fn single(&self) -> Option<i64> {
        match (self.lower, self.upper) {
            (Some(l), Some(u)) if l == u && !l.exclusive => Some(l.amount),
            _ => None,
        }
    }

    /// The range in words, amounts shown by `show`: "more than 500000.00",
    /// "300000.00 to 500000.00", "under 300000.00".
    pub fn describe(&self, show: impl Fn(i64) -> String) -> String {
        if let Some(amount) = self.single() {
            return show(amount);
        }
        let lower = self.lower.map(|b| {
            if b.exclusive {
                format!("more than {}", show(b.amount))
            } else {
                format!("at least {}", show(b.amount))
            }
        });
        let upper = self.upper.map(|b| {
            if b.exclusive {
                format!("under {}", show(b.amount))
            } else {
                format!("at most {}", show(b.amount))
            }
        });
        match (lower, upper) {
            (Some(_), Some(_))
                if self.lower.is_some_and(|b| !b.exclusive)
                    && self.upper.is_some_and(|b| !b.exclusive) =>
            {
                format!(
                    "{} to {}",
                    show(self.lower.map_or(0, |b| b.amount)),
                    show(self.upper.map_or(0, |b| b.amount))
                )
            }
            (Some(l), Some(u)) => format!("{l} and {u}"),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => "any amount".to_owned(),
        }
    }
}

/// A tier of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub code: String,
    pub name: String,
    pub benefits: Benefits,
    /// The org level that owns customers of this tier (company, region,
    /// city, branch).
    pub owner_level: Option<String>,
}

/// Active or dormant (000 3.5): from purchase recency, frequency and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRule {
    /// Dormant when the last purchase is older than this.
    pub dormant_after_days: i64,
    /// The window frequency and amount are measured over.
    pub window: Window,
    /// Fewest purchases in the window to count as active.
    pub min_purchases: i64,
    /// Least spend in the window to count as active (minor units).
    pub min_spend: i64,
}

/// When a lower tier takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downgrades {
    /// As soon as the figures fall.
    Immediately,
    /// Only at the periodic review (003 第六条): customers keep their tier
    /// until then.
    AtReview,
}

/// A checked tier policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The policy's id (the preset name, e.g. `health-chain`).
    pub id: String,
    pub title: String,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Highest first.
    pub tiers: Vec<Tier>,
    /// Tried best tier first; the first that holds decides.
    pub rules: Vec<Rule>,
    /// A scorecard deciding tiers, instead of or after the rules.
    pub scorecard: Option<Scorecard>,
    /// The tier of customers no rule places; `None` means "no tier" (not a VIP).
    pub fallback: Option<String>,
    pub downgrades: Downgrades,
    /// Months between periodic reviews.
    pub review_months: u32,
    /// Region key → coefficient in thousandths (0.85 → 850) applied to the
    /// spend and volume thresholds of rules marked regional, for customers of
    /// that region.
    pub regional_coefficients: BTreeMap<String, u32>,
    pub activity: Option<ActivityRule>,
    pub churn: Option<super::churn::ChurnRule>,
    /// Highest acceptable churn in hundredths of a percent, keyed by tier
    /// code or `all` (002 §7: 3.5% overall, 2% for diamond and gold).
    pub churn_targets: BTreeMap<String, i64>,
    /// Membership cards and points; `None` when the scheme has no cards.
    pub points: Option<super::points_rules::PointsRule>,
}

impl Policy {
    /// The rank of a tier: 0 is the best; `None` (no tier) ranks below all.
    pub fn rank(&self, tier: Option<&str>) -> usize {
        tier.and_then(|code| self.tiers.iter().position(|t| t.code == code))
            .unwrap_or(self.tiers.len())
    }

    pub fn tier(&self, code: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.code == code)
    }

    /// Every (figure, window) the policy reads, so the store computes
    /// exactly those.
    pub fn figures_needed(&self) -> Vec<(Figure, Window)> {
        let mut needed: Vec<(Figure, Window)> = self
            .rules
            .iter()
            .flat_map(|r| match &r.shape {
                Shape::Any(c) | Shape::All(c) => c.iter().map(|c| (c.figure, c.window)).collect(),
                Shape::Designated => Vec::new(),
            })
            .chain(
                self.scorecard
                    .iter()
                    .flat_map(|s| s.indicators.iter().map(|i| (i.figure, i.window))),
            )
            .chain(
                self.churn
                    .iter()
                    .flat_map(|c| &c.falling_spend)
                    .flat_map(|f| [(Figure::Spend, f.recent()), (Figure::Spend, f.both())]),
            )
            .chain(self.activity.iter().flat_map(|a| {
                [
                    (Figure::Visits, a.window),
                    (Figure::Spend, a.window),
                    (Figure::DaysSincePurchase, Window::Now),
                ]
            }))
            .collect();
        needed.sort();
        needed.dedup();
        needed
    }
}
