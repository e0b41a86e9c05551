//! Preset files: one TOML file per company scheme, with a section per
//! service keyed by the same tier codes. This module reads the whole file,
//! checks the `[tiering]` section into a [`Policy`], and keeps the other
//! sections as they are for the services that own them. A file with any
//! problem is refused as a whole, each problem naming its field.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::money;
use super::points::PointsRule;
use super::policy::{
    ActivityRule, Benefits, Comparison, Condition, Downgrades, Figure, Indicator, Policy, Rule,
    Scorecard, Shape, Tier, Window,
};

/// A checked preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub policy: Policy,
    /// The document the scheme comes from, e.g. `003`.
    pub source: String,
    /// Sections for other services (`complaint`, `scheduling`…), kept as JSON.
    pub other_sections: BTreeMap<String, serde_json::Value>,
}

/// Why a preset was refused: every problem, by field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct PresetError {
    pub problems: Vec<(String, String)>,
}

impl PresetError {
    fn one(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            problems: vec![(field.into(), reason.into())],
        }
    }
}

#[derive(Deserialize)]
struct File {
    preset: Header,
    tiering: Option<Section>,
    #[serde(flatten)]
    others: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    id: String,
    title: String,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default)]
    source: String,
}

fn default_currency() -> String {
    "CNY".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    tiers: Vec<TierSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    scorecard: Option<ScorecardSpec>,
    fallback: Option<String>,
    #[serde(default = "default_downgrades")]
    downgrades: String,
    #[serde(default = "default_review_months")]
    review_months: u32,
    /// The window conditions use unless they name one.
    #[serde(default = "default_window")]
    window: String,
    #[serde(default)]
    regional_coefficients: BTreeMap<String, f64>,
    #[serde(default)]
    benefits: BTreeMap<String, BenefitsSpec>,
    activity: Option<ActivitySpec>,
    churn: Option<ChurnSpec>,
    /// Highest acceptable churn in percent, `all` and per tier (002 §7).
    #[serde(default)]
    churn_targets_percent: BTreeMap<String, Number>,
    points: Option<PointsSpec>,
}

/// Membership cards and points (003 第七、十一、十六、十七条); a policy
/// without this section issues no cards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsSpec {
    #[serde(default = "default_per_yuan")]
    per_yuan: i64,
    #[serde(default = "default_expiry_warning_days")]
    expiry_warning_days: u32,
    #[serde(default = "default_registration_days")]
    registration_days: u32,
    #[serde(default = "default_renewal_month")]
    renewal_month: u32,
}

fn default_per_yuan() -> i64 {
    1
}

fn default_expiry_warning_days() -> u32 {
    30
}

fn default_registration_days() -> u32 {
    30
}

fn default_renewal_month() -> u32 {
    12
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChurnSpec {
    months: u32,
    falling_below_percent: u32,
    #[serde(default = "yes")]
    dormant_is_risk: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivitySpec {
    dormant_after_days: i64,
    #[serde(default = "default_activity_window")]
    window: String,
    #[serde(default)]
    min_purchases: i64,
    min_spend: Option<Number>,
}

fn default_activity_window() -> String {
    "6 months".into()
}

fn default_downgrades() -> String {
    "at_review".into()
}

fn default_review_months() -> u32 {
    12
}

fn default_window() -> String {
    "calendar_year".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierSpec {
    code: String,
    #[serde(default)]
    name: String,
    owner_level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    tier: String,
    #[serde(default)]
    description: String,
    any: Option<Vec<ConditionSpec>>,
    all: Option<Vec<ConditionSpec>>,
    #[serde(default)]
    designated: bool,
    /// Whether regional coefficients scale this rule's thresholds.
    #[serde(default)]
    regional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionSpec {
    figure: String,
    window: Option<String>,
    at_least: Option<Number>,
    at_most: Option<Number>,
    below: Option<Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScorecardSpec {
    indicators: Vec<IndicatorSpec>,
    grades: Vec<GradeSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorSpec {
    name: String,
    figure: String,
    window: Option<String>,
    weight: u32,
    bands: Vec<BandSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BandSpec {
    at_least: Option<Number>,
    at_most: Option<Number>,
    points: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GradeSpec {
    tier: String,
    min_score: u32,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BenefitsSpec {
    price_level: Option<String>,
    credit_allowance: Option<Number>,
    #[serde(default)]
    priority_order: bool,
    #[serde(default)]
    priority_production: bool,
    #[serde(default)]
    priority_delivery: bool,
    #[serde(default)]
    progress_feedback: bool,
    visiting_level: Option<String>,
    #[serde(default)]
    free_support_staff: u32,
    member_discount_percent: Option<u32>,
    birthday_discount_percent: Option<u32>,
}

/// A number as a preset writes it: `1200`, `0.85` or `"1,200.50"`.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Number {
    fn text(&self) -> String {
        match self {
            Number::Int(i) => i.to_string(),
            Number::Float(f) => f.to_string(),
            Number::Text(t) => t.clone(),
        }
    }
}

/// The org levels a tier may be owned by.
const ORG_LEVELS: &[&str] = &["company", "region", "city", "branch"];

/// Reads and checks a preset file's text.
pub fn parse(text: &str) -> Result<Preset, PresetError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].lines().count().max(1);
                format!("line {line}")
            })
            .unwrap_or_else(|| "file".into());
        PresetError::one(place, e.message().to_owned())
    })?;
    let Some(section) = file.tiering else {
        return Err(PresetError::one("tiering", "the section is missing"));
    };
    let mut checker = Checker {
        problems: Vec::new(),
        exponent: money::exponent(&file.preset.currency),
        currency: file.preset.currency.clone(),
    };
    checker.check_header(&file.preset);
    let policy = checker.policy(&file.preset, section);
    if !checker.problems.is_empty() {
        return Err(PresetError {
            problems: checker.problems,
        });
    }
    let other_sections = file
        .others
        .into_iter()
        .map(|(name, value)| {
            serde_json::to_value(value)
                .map(|json| (name.clone(), json))
                .map_err(|e| PresetError::one(name, e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Preset {
        policy,
        source: file.preset.source,
        other_sections,
    })
}

struct Checker {
    problems: Vec<(String, String)>,
    exponent: u32,
    currency: String,
}

impl Checker {
    fn bad(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.problems.push((field.into(), reason.into()));
    }

    fn check_header(&mut self, header: &Header) {
        if crate::domain::check_policy_id(&header.id).is_err() {
            self.bad(
                "preset.id",
                "must be 1–63 lower-case letters, digits and dashes",
            );
        }
        if header.title.trim().is_empty() {
            self.bad("preset.title", "is required");
        }
        let c = header.currency.as_bytes();
        if c.len() != 3 || !c.iter().all(u8::is_ascii_uppercase) {
            self.bad("preset.currency", "must be an ISO 4217 code such as CNY");
        }
    }

    fn policy(&mut self, header: &Header, s: Section) -> Policy {
        let mut tiers = Vec::new();
        for (i, t) in s.tiers.iter().enumerate() {
            let field = format!("tiering.tiers[{i}]");
            let code = t.code.trim();
            if code.is_empty() || code.len() > 16 || code.contains(char::is_whitespace) {
                self.bad(
                    format!("{field}.code"),
                    "must be 1–16 characters without spaces",
                );
            } else if tiers.iter().any(|x: &Tier| x.code == code) {
                self.bad(format!("{field}.code"), format!("{code} appears twice"));
            }
            if let Some(level) = &t.owner_level
                && !ORG_LEVELS.contains(&level.as_str())
            {
                self.bad(
                    format!("{field}.owner_level"),
                    format!("must be one of {}", ORG_LEVELS.join(", ")),
                );
            }
            tiers.push(Tier {
                code: code.to_owned(),
                name: if t.name.trim().is_empty() {
                    code.to_owned()
                } else {
                    t.name.trim().to_owned()
                },
                benefits: Benefits::default(),
                owner_level: t.owner_level.clone(),
            });
        }
        if tiers.is_empty() {
            self.bad("tiering.tiers", "name at least one tier, highest first");
        }
        let known = |code: &str| tiers.iter().any(|t| t.code == code);
        let default_window = self.window("tiering.window", &s.window);

        let mut rules = Vec::new();
        for (i, r) in s.rules.iter().enumerate() {
            let field = format!("tiering.rules[{i}]");
            if !known(&r.tier) {
                self.bad(
                    format!("{field}.tier"),
                    format!("{} is not one of the tiers", r.tier),
                );
            }
            let shapes = usize::from(r.any.is_some())
                + usize::from(r.all.is_some())
                + usize::from(r.designated);
            let shape = match (&r.any, &r.all, r.designated) {
                _ if shapes != 1 => {
                    self.bad(
                        field.clone(),
                        "give exactly one of any, all or designated = true",
                    );
                    continue;
                }
                (Some(any), _, _) => {
                    Shape::Any(self.conditions(&format!("{field}.any"), any, default_window))
                }
                (_, Some(all), _) => {
                    Shape::All(self.conditions(&format!("{field}.all"), all, default_window))
                }
                _ => Shape::Designated,
            };
            rules.push(Rule {
                tier: r.tier.clone(),
                description: if r.description.trim().is_empty() {
                    format!("{} rule {}", r.tier, i + 1)
                } else {
                    r.description.trim().to_owned()
                },
                shape,
                regional: r.regional,
            });
        }
        let scorecard = s
            .scorecard
            .as_ref()
            .map(|card| self.scorecard(card, default_window, &known));
        if s.rules.is_empty() && scorecard.is_none() {
            self.bad("tiering.rules", "give rules or a scorecard");
        }
        if let Some(f) = &s.fallback
            && !known(f)
        {
            self.bad("tiering.fallback", format!("{f} is not one of the tiers"));
        }
        let downgrades = match s.downgrades.as_str() {
            "at_review" => Downgrades::AtReview,
            "immediately" => Downgrades::Immediately,
            _ => {
                self.bad("tiering.downgrades", "must be at_review or immediately");
                Downgrades::AtReview
            }
        };
        if !(1..=60).contains(&s.review_months) {
            self.bad("tiering.review_months", "must be 1 to 60");
        }
        let mut regional_coefficients = BTreeMap::new();
        for (region, k) in &s.regional_coefficients {
            if !(0.0 < *k && *k <= 1.0) {
                self.bad(
                    format!("tiering.regional_coefficients.{region}"),
                    "must be above 0 and at most 1",
                );
            }
            regional_coefficients.insert(region.clone(), (k * 1000.0).round() as u32);
        }
        for (code, spec) in &s.benefits {
            let field = format!("tiering.benefits.{code}");
            let benefits = self.benefits(&field, spec);
            match tiers.iter_mut().find(|t| &t.code == code) {
                Some(tier) => tier.benefits = benefits,
                None => self.bad(field, format!("{code} is not one of the tiers")),
            }
        }
        let activity = s.activity.as_ref().map(|a| {
            if !(1..=3650).contains(&a.dormant_after_days) {
                self.bad("tiering.activity.dormant_after_days", "must be 1 to 3650");
            }
            if a.min_purchases < 0 {
                self.bad("tiering.activity.min_purchases", "must not be negative");
            }
            ActivityRule {
                dormant_after_days: a.dormant_after_days,
                window: self.window("tiering.activity.window", &a.window),
                min_purchases: a.min_purchases,
                min_spend: a
                    .min_spend
                    .as_ref()
                    .map(|n| self.threshold("tiering.activity.min_spend", Figure::Spend, n))
                    .unwrap_or(0),
            }
        });
        let churn = s.churn.as_ref().map(|c| {
            if !(1..=30).contains(&c.months) {
                self.bad("tiering.churn.months", "must be 1 to 30");
            }
            if !(1..=100).contains(&c.falling_below_percent) {
                self.bad("tiering.churn.falling_below_percent", "must be 1 to 100");
            }
            super::churn::ChurnRule {
                months: c.months,
                falling_below_percent: c.falling_below_percent,
                dormant_is_risk: c.dormant_is_risk,
            }
        });
        let mut churn_targets = BTreeMap::new();
        for (key, n) in &s.churn_targets_percent {
            let field = format!("tiering.churn_targets_percent.{key}");
            if key != super::churn_rate::ALL && !tiers.iter().any(|t| &t.code == key) {
                self.bad(&field, format!("{key} is neither all nor one of the tiers"));
                continue;
            }
            match money::parse_major(&n.text(), 2) {
                Ok(hundredths) if (1..=10_000).contains(&hundredths) => {
                    churn_targets.insert(key.clone(), hundredths);
                }
                _ => self.bad(&field, "must be a percent above 0 and at most 100"),
            }
        }
        let points = s.points.as_ref().map(|p| {
            if !(1..=1000).contains(&p.per_yuan) {
                self.bad("tiering.points.per_yuan", "must be 1 to 1000");
            }
            if p.expiry_warning_days > 366 {
                self.bad("tiering.points.expiry_warning_days", "must be 0 to 366");
            }
            if !(1..=366).contains(&p.registration_days) {
                self.bad("tiering.points.registration_days", "must be 1 to 366");
            }
            if !(1..=12).contains(&p.renewal_month) {
                self.bad("tiering.points.renewal_month", "must be 1 to 12");
            }
            PointsRule {
                per_major_unit: p.per_yuan,
                expiry_warning_days: p.expiry_warning_days,
                registration_days: p.registration_days,
                renewal_month: p.renewal_month,
            }
        });
        Policy {
            activity,
            churn,
            churn_targets,
            points,
            id: header.id.clone(),
            title: header.title.trim().to_owned(),
            currency: self.currency.clone(),
            tiers,
            rules,
            scorecard,
            fallback: s.fallback.clone(),
            downgrades,
            review_months: s.review_months,
            regional_coefficients,
        }
    }

    fn window(&mut self, field: &str, text: &str) -> Window {
        match parse_window(text) {
            Some(w) => w,
            None => {
                self.bad(
                    field,
                    "must be calendar_year, lifetime, or \"N months\" (1 to 60)",
                );
                Window::CalendarYear
            }
        }
    }

    fn figure(&mut self, field: &str, name: &str) -> Option<Figure> {
        let figure = Figure::from_name(name);
        if figure.is_none() {
            let names: Vec<&str> = Figure::ALL.iter().map(|f| f.name()).collect();
            self.bad(
                field,
                format!("{name:?} is not one of {}", names.join(", ")),
            );
        }
        figure
    }

    /// A threshold in the figure's unit: money in minor units, volume in
    /// thousandths, credit grades as ranks (a letter or a number).
    fn threshold(&mut self, field: &str, figure: Figure, n: &Number) -> i64 {
        let text = n.text();
        let parsed = if figure.is_money() {
            money::parse_major(&text, self.exponent)
        } else if figure == Figure::Volume {
            money::parse_major(&text, 3)
        } else if figure == Figure::CreditGrade {
            credit_rank(&text)
                .ok_or_else(|| format!("{text:?} is not a grade (A, B, C… or 1, 2, 3…)"))
        } else {
            text.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| format!("{text:?} is not a whole number"))
        };
        parsed.unwrap_or_else(|why| {
            self.bad(field, why);
            0
        })
    }

    fn conditions(
        &mut self,
        field: &str,
        specs: &[ConditionSpec],
        default_window: Window,
    ) -> Vec<Condition> {
        if specs.is_empty() {
            self.bad(field, "name at least one condition");
        }
        let mut out = Vec::new();
        for (i, c) in specs.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let Some(figure) = self.figure(&format!("{field}.figure"), &c.figure) else {
                continue;
            };
            let window = match (&c.window, figure.is_windowed()) {
                (Some(w), true) => self.window(&format!("{field}.window"), w),
                (None, true) => default_window,
                (Some(_), false) => {
                    self.bad(
                        format!("{field}.window"),
                        format!("{} is measured now, not over a window", figure.name()),
                    );
                    Window::Now
                }
                (None, false) => Window::Now,
            };
            let given = [
                (Comparison::AtLeast, &c.at_least),
                (Comparison::AtMost, &c.at_most),
                (Comparison::Below, &c.below),
            ];
            let mut set = given
                .iter()
                .filter_map(|(cmp, n)| n.as_ref().map(|n| (*cmp, n)));
            let (Some((comparison, n)), None) = (set.next(), set.next()) else {
                self.bad(field, "give exactly one of at_least, at_most or below");
                continue;
            };
            let threshold = self.threshold(&field, figure, n);
            out.push(Condition {
                figure,
                window,
                comparison,
                threshold,
            });
        }
        out
    }

    fn scorecard(
        &mut self,
        card: &ScorecardSpec,
        default_window: Window,
        known: &dyn Fn(&str) -> bool,
    ) -> Scorecard {
        let mut indicators = Vec::new();
        for (i, spec) in card.indicators.iter().enumerate() {
            let field = format!("tiering.scorecard.indicators[{i}]");
            let Some(figure) = self.figure(&format!("{field}.figure"), &spec.figure) else {
                continue;
            };
            let window = match &spec.window {
                Some(w) if figure.is_windowed() => self.window(&format!("{field}.window"), w),
                _ if figure.is_windowed() => default_window,
                _ => Window::Now,
            };
            let lower_is_better = spec.bands.first().is_some_and(|b| b.at_most.is_some());
            let mut bands = Vec::new();
            for (j, band) in spec.bands.iter().enumerate() {
                let bfield = format!("{field}.bands[{j}]");
                let bound = match (&band.at_least, &band.at_most) {
                    (Some(n), None) if !lower_is_better => n,
                    (None, Some(n)) if lower_is_better => n,
                    _ => {
                        self.bad(
                            &bfield,
                            "every band of an indicator gives at_least, or every band at_most",
                        );
                        continue;
                    }
                };
                if band.points > 100 {
                    self.bad(format!("{bfield}.points"), "must be 0 to 100");
                }
                let bound = self.threshold(&bfield, figure, bound);
                if let Some((previous, _)) = bands.last()
                    && (if lower_is_better {
                        bound <= *previous
                    } else {
                        bound >= *previous
                    })
                {
                    self.bad(&bfield, "bands go from the best to the worst");
                }
                bands.push((bound, band.points));
            }
            if bands.is_empty() {
                self.bad(format!("{field}.bands"), "give at least one band");
            }
            indicators.push(Indicator {
                name: spec.name.clone(),
                figure,
                window,
                weight: spec.weight,
                bands,
                lower_is_better,
            });
        }
        let total: u32 = card.indicators.iter().map(|i| i.weight).sum();
        if total != 100 {
            self.bad(
                "tiering.scorecard.indicators",
                format!("weights sum to {total}, not 100"),
            );
        }
        let mut grades = Vec::new();
        for (i, g) in card.grades.iter().enumerate() {
            let field = format!("tiering.scorecard.grades[{i}]");
            if !known(&g.tier) {
                self.bad(
                    format!("{field}.tier"),
                    format!("{} is not one of the tiers", g.tier),
                );
            }
            if g.min_score > 100 {
                self.bad(format!("{field}.min_score"), "must be 0 to 100");
            }
            if grades
                .last()
                .is_some_and(|(_, previous): &(String, u32)| g.min_score >= *previous)
            {
                self.bad(
                    format!("{field}.min_score"),
                    "grades go from the best to the worst",
                );
            }
            grades.push((g.tier.clone(), g.min_score));
        }
        if grades.is_empty() {
            self.bad("tiering.scorecard.grades", "give at least one grade");
        }
        Scorecard { indicators, grades }
    }

    fn benefits(&mut self, field: &str, spec: &BenefitsSpec) -> Benefits {
        let credit_allowance = spec.credit_allowance.as_ref().map(|n| {
            money::parse_major(&n.text(), self.exponent).unwrap_or_else(|why| {
                self.bad(format!("{field}.credit_allowance"), why);
                0
            })
        });
        for (name, percent) in [
            ("member_discount_percent", spec.member_discount_percent),
            ("birthday_discount_percent", spec.birthday_discount_percent),
        ] {
            if percent.is_some_and(|p| !(1..=100).contains(&p)) {
                self.bad(
                    format!("{field}.{name}"),
                    "must be 1 to 100 (the percent of the price paid)",
                );
            }
        }
        Benefits {
            price_level: spec.price_level.clone(),
            credit_allowance,
            priority_order: spec.priority_order,
            priority_production: spec.priority_production,
            priority_delivery: spec.priority_delivery,
            progress_feedback: spec.progress_feedback,
            visiting_level: spec.visiting_level.clone(),
            free_support_staff: spec.free_support_staff,
            member_discount_percent: spec.member_discount_percent,
            birthday_discount_percent: spec.birthday_discount_percent,
        }
    }
}

/// `calendar_year`, `lifetime`, or `N months`.
pub fn parse_window(text: &str) -> Option<Window> {
    match text.trim() {
        "calendar_year" => Some(Window::CalendarYear),
        "lifetime" => Some(Window::Lifetime),
        other => {
            let n: u32 = other
                .strip_suffix("months")
                .or_else(|| other.strip_suffix("month"))?
                .trim()
                .parse()
                .ok()?;
            (1..=60).contains(&n).then_some(Window::RollingMonths(n))
        }
    }
}

/// A credit grade as a rank: `A` or `1` is 1, `B` or `2` is 2…
pub fn credit_rank(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return (1..=26).contains(&n).then_some(n);
    }
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => {
            Some(i64::from(c.to_ascii_uppercase() as u8 - b'A') + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[preset]
id = "mini"
title = "Minimal"

[tiering]
tiers = [{ code = "A" }, { code = "B" }]
fallback = "B"

[[tiering.rules]]
tier = "A"
any = [{ figure = "spend", at_least = "1,200" }, { figure = "visits", at_least = 12, window = "6 months" }]

[complaint]
deadline_hours = { A = 24 }
"#;

    #[test]
    fn a_good_file_becomes_a_policy_and_keeps_other_sections() {
        let preset = parse(MINIMAL).unwrap();
        let p = &preset.policy;
        assert_eq!(p.id, "mini");
        assert_eq!(p.currency, "CNY");
        assert_eq!(p.downgrades, Downgrades::AtReview);
        let Shape::Any(conditions) = &p.rules[0].shape else {
            panic!("any");
        };
        assert_eq!(conditions[0].threshold, 120_000);
        assert_eq!(
            conditions[0].window,
            Window::CalendarYear,
            "the default window"
        );
        assert_eq!(conditions[1].window, Window::RollingMonths(6));
        assert_eq!(
            preset.other_sections["complaint"]["deadline_hours"]["A"],
            24
        );
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .problems
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    #[test]
    fn every_problem_is_named_and_nothing_is_half_accepted() {
        let bad = MINIMAL
            .replace(
                "fallback = \"B\"",
                "fallback = \"Z\"\ndowngrades = \"sometimes\"",
            )
            .replace("figure = \"visits\"", "figure = \"smiles\"")
            .replace("\"1,200\"", "\"12.345\"");
        assert_eq!(
            problems(&bad),
            [
                "tiering.rules[0].any[0]",
                "tiering.rules[0].any[1].figure",
                "tiering.fallback",
                "tiering.downgrades",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_broken_toml_say_where() {
        let typo = MINIMAL.replace("at_least = \"1,200\"", "atleast = \"1,200\"");
        let err = parse(&typo).unwrap_err();
        assert!(err.problems[0].0.starts_with("line "), "{err}");
        assert!(err.to_string().contains("atleast"), "{err}");
        assert_eq!(problems("[preset"), ["line 1"]);
        assert_eq!(
            problems("[preset]\nid = \"x\"\ntitle = \"x\"\n"),
            ["tiering"]
        );
    }

    #[test]
    fn points_and_churn_targets_are_checked_with_the_rest() {
        let with = MINIMAL.replace(
            "[complaint]",
            "[tiering.points]\nper_yuan = 2\n\n[tiering.churn_targets_percent]\nall = 3.5\nA = \"2\"\n\n[complaint]",
        );
        let policy = parse(&with).unwrap().policy;
        let points = policy.points.unwrap();
        assert_eq!(
            (
                points.per_major_unit,
                points.registration_days,
                points.renewal_month,
                points.expiry_warning_days
            ),
            (2, 30, 12, 30),
            "003's figures unless the file says otherwise"
        );
        assert_eq!(policy.churn_targets["all"], 350);
        assert_eq!(policy.churn_targets["A"], 200);
        assert!(parse(MINIMAL).unwrap().policy.points.is_none(), "no cards");

        let bad = MINIMAL.replace(
            "[complaint]",
            "[tiering.points]\nper_yuan = 0\nrenewal_month = 13\nregistration_days = 0\n\n[tiering.churn_targets_percent]\nZ = 1\nA = 120\n\n[complaint]",
        );
        assert_eq!(
            problems(&bad),
            [
                "tiering.churn_targets_percent.A",
                "tiering.churn_targets_percent.Z",
                "tiering.points.per_yuan",
                "tiering.points.registration_days",
                "tiering.points.renewal_month",
            ]
        );
    }

    #[test]
    fn rules_need_exactly_one_shape_and_known_tiers() {
        let both = MINIMAL.replace("tier = \"A\"\nany", "tier = \"Q\"\ndesignated = true\nany");
        assert_eq!(
            problems(&both),
            ["tiering.rules[0].tier", "tiering.rules[0]"]
        );
    }

    #[test]
    fn windows_and_grades() {
        assert_eq!(parse_window("12 months"), Some(Window::RollingMonths(12)));
        assert_eq!(parse_window("1 month"), Some(Window::RollingMonths(1)));
        assert_eq!(parse_window("61 months"), None);
        assert_eq!(parse_window("forever"), None);
        assert_eq!(credit_rank("A"), Some(1));
        assert_eq!(credit_rank("c"), Some(3));
        assert_eq!(credit_rank("2"), Some(2));
        assert_eq!(credit_rank("AA"), None);
    }
}
