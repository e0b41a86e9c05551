//! The `[tiering]` section of a preset file (read through `patron_presets`,
//! which every service reads its own section with): checked into a
//! [`Policy`], with the other sections kept as they are for the services
//! that own them. A file with any problem is refused as a whole, each
//! problem naming its field.

use std::collections::BTreeMap;

use serde::Deserialize;

use check::SectionChecker;
use patron_vocab::money;

mod check;
mod values;

use super::policy::Policy;
pub use patron_presets::{Header, PresetError};
pub use values::{credit_rank, parse_window};

/// A checked preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub policy: Policy,
    /// The document the scheme comes from, e.g. `003`.
    pub source: String,
    /// Sections for other services (`complaint`, `scheduling`…), kept as JSON.
    pub other_sections: BTreeMap<String, serde_json::Value>,
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
    /// Falling spend: both or neither.
    months: Option<u32>,
    falling_below_percent: Option<u32>,
    #[serde(default = "yes")]
    dormant_is_risk: bool,
    /// Complaints (complaint's events): signed, so a negative value is
    /// refused by name rather than by line.
    complaints_at_least: Option<i64>,
    satisfaction_at_most: Option<i64>,
    complaint_window_days: Option<i64>,
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
    credit_allowance: Option<AllowanceSpec>,
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

/// An amount as one figure (`credit_allowance = 500000`) or as a range
/// with at most one lower end (`above`, `at_least`) and one upper end
/// (`at_most`, `below`): `{ above = 500000 }` reads "more than 500,000".
#[derive(Deserialize)]
#[serde(untagged)]
enum AllowanceSpec {
    Amount(Number),
    Range(RangeSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSpec {
    above: Option<Number>,
    at_least: Option<Number>,
    at_most: Option<Number>,
    below: Option<Number>,
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

/// Reads and checks a preset file's text.
pub fn parse(text: &str) -> Result<Preset, PresetError> {
    let file = patron_presets::parse(text)?;
    let section: Section = file.section(patron_presets::TIERS_SECTION)?;
    let header = &file.header;
    let mut checker = SectionChecker {
        problems: Vec::new(),
        exponent: money::digits_or_default(&header.currency),
        currency: header.currency.clone(),
    };
    checker.check_header(header);
    let policy = checker.policy(header, section);
    PresetError::check(checker.problems)?;
    let other_sections = file
        .sections()
        .iter()
        .filter(|(name, _)| *name != patron_presets::TIERS_SECTION)
        .map(|(name, value)| {
            serde_json::to_value(value)
                .map(|json| (name.clone(), json))
                .map_err(|e| PresetError::one(name, e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Preset {
        policy,
        source: header.source.clone(),
        other_sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{Downgrades, Shape, Window};

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
    fn credit_allowances_are_amounts_or_ranges_and_bad_ones_are_named() {
        use crate::domain::policy::{AmountRange, Bound};
        let with = MINIMAL.replace(
            "[complaint]",
            "[tiering.benefits.A]\ncredit_allowance = { above = \"500,000\" }\n\n\
             [tiering.benefits.B]\ncredit_allowance = 400000\n\n[complaint]",
        );
        let policy = parse(&with).unwrap().policy;
        let more_than = AmountRange {
            lower: Some(Bound {
                amount: 50_000_000,
                exclusive: true,
            }),
            upper: None,
        };
        assert_eq!(policy.tiers[0].benefits.credit_allowance, Some(more_than));
        assert_eq!(more_than.single(), None);
        let b = policy.tiers[1].benefits.credit_allowance.unwrap();
        assert_eq!(b.single(), Some(40_000_000), "one amount is a range too");

        let bad = MINIMAL.replace(
            "[complaint]",
            "[tiering.benefits.A]\ncredit_allowance = { above = 1, at_least = 2 }\n\n\
             [tiering.benefits.B]\ncredit_allowance = { at_least = 500000, below = \"lots\" }\n\n[complaint]",
        );
        assert_eq!(
            problems(&bad),
            [
                "tiering.benefits.A.credit_allowance.at_least",
                "tiering.benefits.B.credit_allowance.below",
            ]
        );
        let empty = MINIMAL.replace(
            "[complaint]",
            "[tiering.benefits.A]\ncredit_allowance = { at_least = 500000, below = 300000 }\n\n\
             [tiering.benefits.B]\ncredit_allowance = {}\n\n[complaint]",
        );
        assert_eq!(
            problems(&empty),
            [
                "tiering.benefits.A.credit_allowance",
                "tiering.benefits.B.credit_allowance",
            ]
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
    fn churn_reasons_are_each_optional_and_checked_by_name() {
        use crate::domain::churn::{ChurnRule, ComplaintRule, FallingSpend};
        let churn = |keys: &str| {
            MINIMAL.replace(
                "[complaint]",
                &format!("[tiering.churn]\n{keys}\n\n[complaint]"),
            )
        };
        let rule = |keys: &str| parse(&churn(keys)).unwrap().policy.churn.unwrap();
        assert_eq!(
            rule("months = 6\nfalling_below_percent = 50"),
            ChurnRule {
                falling_spend: Some(FallingSpend {
                    months: 6,
                    below_percent: 50
                }),
                dormant_is_risk: true,
                complaints: None,
            },
            "no complaint keys, no complaint reasons"
        );
        assert_eq!(
            rule(
                "complaints_at_least = 3\nsatisfaction_at_most = 2\ncomplaint_window_days = 30\ndormant_is_risk = false"
            ),
            ChurnRule {
                falling_spend: None,
                dormant_is_risk: false,
                complaints: Some(ComplaintRule {
                    window_days: 30,
                    at_least: Some(3),
                    satisfaction_at_most: Some(2),
                }),
            },
            "complaints without falling spend"
        );
        assert_eq!(
            rule("satisfaction_at_most = 1\ncomplaint_window_days = 90")
                .complaints
                .unwrap(),
            ComplaintRule {
                window_days: 90,
                at_least: None,
                satisfaction_at_most: Some(1),
            }
        );
        for (keys, field) in [
            ("months = 6", "tiering.churn.falling_below_percent"),
            ("falling_below_percent = 50", "tiering.churn.months"),
            (
                "complaints_at_least = 3",
                "tiering.churn.complaint_window_days",
            ),
            (
                "satisfaction_at_most = 2",
                "tiering.churn.complaint_window_days",
            ),
            (
                "complaint_window_days = 30",
                "tiering.churn.complaint_window_days",
            ),
            (
                "complaints_at_least = 0\ncomplaint_window_days = 30",
                "tiering.churn.complaints_at_least",
            ),
            (
                "complaints_at_least = -2\ncomplaint_window_days = 30",
                "tiering.churn.complaints_at_least",
            ),
            (
                "satisfaction_at_most = 5\ncomplaint_window_days = 30",
                "tiering.churn.satisfaction_at_most",
            ),
            (
                "satisfaction_at_most = 0\ncomplaint_window_days = 30",
                "tiering.churn.satisfaction_at_most",
            ),
            (
                "complaints_at_least = 3\ncomplaint_window_days = 0",
                "tiering.churn.complaint_window_days",
            ),
            (
                "complaints_at_least = 3\ncomplaint_window_days = 400",
                "tiering.churn.complaint_window_days",
            ),
        ] {
            assert_eq!(problems(&churn(keys)), [field], "{keys}");
        }
        assert_eq!(
            problems(&churn(
                "complaints_at_least = 0\nsatisfaction_at_most = 9\ncomplaint_window_days = -1"
            )),
            [
                "tiering.churn.complaints_at_least",
                "tiering.churn.satisfaction_at_most",
                "tiering.churn.complaint_window_days",
            ],
            "every problem at once"
        );
        let typo = churn("complaints_atleast = 3\ncomplaint_window_days = 30");
        assert!(
            parse(&typo)
                .unwrap_err()
                .to_string()
                .contains("complaints_atleast")
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
}
