//! The checker of a preset's `[tiering]` section: every field checked, every
//! problem collected by its field path, and the [`Policy`] built when none is
//! found.

use std::collections::BTreeMap;

use super::values::{credit_rank, parse_window};
use super::{
    AllowanceSpec, BenefitsSpec, ChurnSpec, ConditionSpec, Header, Number, RangeSpec,
    ScorecardSpec, Section,
};
use crate::domain::churn::{ChurnRule, ComplaintRule, FallingSpend};
use crate::domain::points_rules::PointsRule;
use crate::domain::policy::{
    ActivityRule, AmountRange, Benefits, Bound, Comparison, Condition, Downgrades, Figure,
    Indicator, Policy, Rule, Scorecard, Shape, Tier, Window,
};
use patron_vocab::money;

/// The org levels a tier may be owned by.
const ORG_LEVELS: &[&str] = &["company", "region", "city", "branch"];

pub(super) struct SectionChecker {
    pub(super) problems: Vec<(String, String)>,
    pub(super) exponent: u32,
    pub(super) currency: String,
}

impl SectionChecker {
    fn bad(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.problems.push((field.into(), reason.into()));
    }

    pub(super) fn check_header(&mut self, header: &Header) {
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

    pub(super) fn policy(&mut self, header: &Header, s: Section) -> Policy {
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
        let churn = s.churn.as_ref().map(|c| self.churn(c));
        let mut churn_targets = BTreeMap::new();
        for (key, n) in &s.churn_targets_percent {
            let field = format!("tiering.churn_targets_percent.{key}");
            if key != crate::domain::churn_rate::ALL && !tiers.iter().any(|t| &t.code == key) {
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

    /// `[tiering.churn]`: each reason used only when its settings are given.
    fn churn(&mut self, c: &ChurnSpec) -> ChurnRule {
        const FIELD: &str = "tiering.churn";
        let falling_spend = match (c.months, c.falling_below_percent) {
            (Some(months), Some(below_percent)) => {
                if !(1..=30).contains(&months) {
                    self.bad(format!("{FIELD}.months"), "must be 1 to 30");
                }
                if !(1..=100).contains(&below_percent) {
                    self.bad(format!("{FIELD}.falling_below_percent"), "must be 1 to 100");
                }
                Some(FallingSpend {
                    months,
                    below_percent,
                })
            }
            (Some(_), None) => {
                self.bad(
                    format!("{FIELD}.falling_below_percent"),
                    "is required with months",
                );
                None
            }
            (None, Some(_)) => {
                self.bad(
                    format!("{FIELD}.months"),
                    "is required with falling_below_percent",
                );
                None
            }
            (None, None) => None,
        };
        let at_least = c.complaints_at_least.and_then(|n| {
            let n = u32::try_from(n).ok().filter(|n| (1..=1000).contains(n));
            if n.is_none() {
                self.bad(format!("{FIELD}.complaints_at_least"), "must be 1 to 1000");
            }
            n
        });
        let satisfaction_at_most = c.satisfaction_at_most.and_then(|n| {
            // 5, the top score, would count every survey as a risk.
            let n = u8::try_from(n).ok().filter(|n| (1..=4).contains(n));
            if n.is_none() {
                self.bad(
                    format!("{FIELD}.satisfaction_at_most"),
                    "must be 1 to 4 (scores are 1 to 5)",
                );
            }
            n
        });
        let uses_complaints = c.complaints_at_least.is_some() || c.satisfaction_at_most.is_some();
        let window_field = format!("{FIELD}.complaint_window_days");
        let window_days = match c.complaint_window_days {
            Some(days) if !uses_complaints => {
                self.bad(
                    window_field,
                    "applies only with complaints_at_least or satisfaction_at_most",
                );
                u32::try_from(days).ok()
            }
            Some(days) => {
                let days = u32::try_from(days).ok().filter(|d| (1..=366).contains(d));
                if days.is_none() {
                    self.bad(window_field, "must be 1 to 366");
                }
                days
            }
            None if uses_complaints => {
                self.bad(
                    window_field,
                    "is required with complaints_at_least or satisfaction_at_most",
                );
                None
            }
            None => None,
        };
        let complaints = window_days
            .filter(|_| uses_complaints)
            .map(|window_days| ComplaintRule {
                window_days,
                at_least,
                satisfaction_at_most,
            });
        ChurnRule {
            falling_spend,
            dormant_is_risk: c.dormant_is_risk,
            complaints,
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

    /// An amount of money, or 0 after naming the field.
    fn amount(&mut self, field: &str, n: &Number) -> i64 {
        money::parse_major(&n.text(), self.exponent).unwrap_or_else(|why| {
            self.bad(field.to_owned(), why);
            0
        })
    }

    fn allowance(&mut self, field: &str, spec: &AllowanceSpec) -> AmountRange {
        let RangeSpec {
            above,
            at_least,
            at_most,
            below,
        } = match spec {
            AllowanceSpec::Amount(n) => return AmountRange::exactly(self.amount(field, n)),
            AllowanceSpec::Range(r) => r,
        };
        let problems_before = self.problems.len();
        let mut end = |name: &str, n: &Option<Number>, exclusive: bool| {
            n.as_ref().map(|n| Bound {
                amount: self.amount(&format!("{field}.{name}"), n),
                exclusive,
            })
        };
        let (above, at_least) = (end("above", above, true), end("at_least", at_least, false));
        let (at_most, below) = (end("at_most", at_most, false), end("below", below, true));
        if above.is_some() && at_least.is_some() {
            self.bad(
                format!("{field}.at_least"),
                "give one lower end: above or at_least",
            );
        }
        if at_most.is_some() && below.is_some() {
            self.bad(
                format!("{field}.below"),
                "give one upper end: at_most or below",
            );
        }
        let range = AmountRange {
            lower: above.or(at_least),
            upper: at_most.or(below),
        };
        match (range.lower, range.upper) {
            (None, None) => self.bad(
                field.to_owned(),
                "give an amount, or a range with above, at_least, at_most or below",
            ),
            // An amount that did not read is named already.
            _ if self.problems.len() > problems_before => {}
            (Some(l), Some(u))
                if l.amount > u.amount
                    || (l.amount == u.amount && (l.exclusive || u.exclusive)) =>
            {
                self.bad(
                    field.to_owned(),
                    "the range is empty: its lower end is above its upper end",
                )
            }
            _ => {}
        }
        range
    }

    fn benefits(&mut self, field: &str, spec: &BenefitsSpec) -> Benefits {
        let credit_allowance = spec
            .credit_allowance
            .as_ref()
            .map(|a| self.allowance(&format!("{field}.credit_allowance"), a));
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
