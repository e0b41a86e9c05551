//! The presets shipped with Patron, which `patron_presets` keeps for every
//! service; tested here against tiering's rules.

pub use patron_presets::{BUILT_IN, read};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::preset;

    #[test]
    fn every_shipped_preset_reads_and_is_named_after_its_id() {
        for (name, text) in BUILT_IN {
            let parsed = preset::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.policy.id, *name);
        }
    }

    #[test]
    fn complaints_warn_of_churn_where_the_documents_speak_of_them() {
        use crate::domain::churn::ComplaintRule;
        // 000, 001 and 002 tie complaints and satisfaction to keeping
        // customers; the thresholds are the company's choice.
        let watched = ComplaintRule {
            window_days: 90,
            at_least: Some(2),
            satisfaction_at_most: Some(2),
        };
        for name in ["industrial-b2b", "postal-key-accounts", "telecom-vip"] {
            let churn = policy(name).churn.unwrap();
            assert_eq!(churn.complaints, Some(watched), "{name}");
        }
        let industrial = policy("industrial-b2b").churn.unwrap();
        assert!(industrial.falling_spend.is_some() && industrial.dormant_is_risk);
        assert!(policy("telecom-vip").churn.unwrap().falling_spend.is_none());
        for name in ["health-chain", "retail-store"] {
            assert_eq!(
                policy(name).churn,
                None,
                "{name}: no churn warning in this preset"
            );
        }
    }

    use crate::domain::evaluate::{Figures, Standing, evaluate, explain};
    use crate::domain::policy::{Figure, Window};

    fn policy(name: &str) -> crate::domain::policy::Policy {
        let text = BUILT_IN.iter().find(|(n, _)| *n == name).unwrap().1;
        preset::parse(text).unwrap().policy
    }

    /// (figure, window, value in the figure's unit) → the tier.
    fn tier_of(
        name: &str,
        figures: &[(Figure, Window, i64)],
        designated: Option<&str>,
    ) -> Option<String> {
        tier_in(name, figures, designated, None)
    }

    /// As [`tier_of`], for a customer of `region`.
    fn tier_in(
        name: &str,
        figures: &[(Figure, Window, i64)],
        designated: Option<&str>,
        region: Option<&str>,
    ) -> Option<String> {
        let f = figures
            .iter()
            .fold(Figures::default(), |f, (figure, window, v)| {
                f.with(*figure, *window, *v)
            });
        let standing = Standing {
            designated: designated.map(str::to_owned),
            region: region.map(str::to_owned),
        };
        evaluate(&policy(name), &f, &standing).tier
    }

    const YEAR: Window = Window::RollingMonths(12);
    const HALF: Window = Window::RollingMonths(6);

    #[test]
    fn health_chain_grades_by_visits_or_spend_whichever_is_higher() {
        let yuan = 100;
        let cases: &[(i64, i64, &str)] = &[
            // (visits a year, spend a year in yuan, tier) — 003's table.
            (12, 0, "A"),
            (0, 1_200, "A"),
            (11, 1_199, "B"),
            (8, 0, "B"),
            (0, 800, "B"),
            (7, 799, "C"),
            (4, 0, "C"),
            (0, 400, "C"),
            (3, 399, "D"),
            (2, 0, "D"),
            (0, 200, "D"),
            (1, 199, "E"),
            (0, 0, "E"),
            (2, 1_200, "A"),
        ];
        for (visits, spend, want) in cases {
            let got = tier_of(
                "health-chain",
                &[
                    (Figure::Visits, YEAR, *visits),
                    (Figure::Spend, YEAR, spend * yuan),
                ],
                None,
            );
            assert_eq!(got.as_deref(), Some(*want), "{visits} visits, {spend} yuan");
        }
        assert_eq!(
            tier_of("health-chain", &[], Some("A")).as_deref(),
            Some("A"),
            "heads of enterprises are designated A"
        );
        assert_eq!(
            tier_of("health-chain", &[(Figure::Visits, YEAR, 12)], Some("B")).as_deref(),
            Some("A")
        );
    }

    #[test]
    fn retail_store_vip_by_one_purchase_six_months_or_a_year() {
        let yuan = 100;
        let cases: &[(i64, i64, i64, Option<&str>)] = &[
            // (largest purchase, spend in 6 months, spend in 12 months) → tier
            (1_000, 1_000, 1_000, Some("VIP")),
            (999, 1_500, 1_500, None),
            (500, 2_000, 2_000, Some("VIP")),
            (500, 1_999, 2_999, None),
            (500, 500, 3_000, Some("VIP")),
            (0, 0, 0, None),
        ];
        for (largest, half, year, want) in cases {
            let got = tier_of(
                "retail-store",
                &[
                    (Figure::LargestPurchase, YEAR, largest * yuan),
                    (Figure::Spend, HALF, half * yuan),
                    (Figure::Spend, YEAR, year * yuan),
                ],
                None,
            );
            assert_eq!(got.as_deref(), *want, "{largest} / {half} / {year}");
        }
        let vip = policy("retail-store");
        assert_eq!(vip.tiers[0].benefits.member_discount_percent, Some(88));
        assert_eq!(vip.tiers[0].benefits.birthday_discount_percent, Some(60));
    }

    const THIS_YEAR: Window = Window::CalendarYear;
    const NOW: Window = Window::Now;

    #[test]
    fn industrial_b2b_needs_sales_credit_and_a_clean_record() {
        let yuan = 100;
        let cases: &[(i64, i64, i64, Option<&str>)] = &[
            // (sales this year in yuan, credit rank: A=1, bad records) → tier
            (6_000_000, 1, 0, Some("A")),
            (6_000_000, 2, 0, Some("B")),
            (6_000_000, 1, 1, None),
            (3_000_000, 2, 0, Some("B")),
            (3_000_000, 3, 0, Some("C")),
            (1_000_000, 3, 0, Some("C")),
            (999_999, 1, 0, None),
            (2_000_000, 4, 0, None),
        ];
        for (sales, credit, bad, want) in cases {
            let got = tier_of(
                "industrial-b2b",
                &[
                    (Figure::Spend, THIS_YEAR, sales * yuan),
                    (Figure::CreditGrade, NOW, *credit),
                    (Figure::BadRecords, NOW, *bad),
                ],
                None,
            );
            assert_eq!(
                got.as_deref(),
                *want,
                "{sales} yuan, credit {credit}, {bad} bad"
            );
        }
        assert_eq!(
            tier_of(
                "industrial-b2b",
                &[(Figure::Spend, THIS_YEAR, 600_000_000)],
                None
            ),
            None,
            "no credit grade on file: not graded"
        );
        let p = policy("industrial-b2b");
        // 000 §4.6's ranges: A can be told from B.
        let allowances: Vec<String> = p
            .tiers
            .iter()
            .map(|t| {
                t.benefits
                    .credit_allowance
                    .map(|a| a.describe(|minor| (minor / 100).to_string()))
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            allowances,
            ["more than 500000", "300000 to 500000", "under 300000"]
        );
        assert!(p.tiers[0].benefits.progress_feedback && !p.tiers[1].benefits.progress_feedback);
        assert!(p.activity.is_some());
    }

    #[test]
    fn a_customer_placed_in_no_tier_is_told_which_comparisons_failed() {
        let p = policy("industrial-b2b");
        let figures = Figures::default()
            .with(Figure::Spend, THIS_YEAR, 5_000_000 * 100)
            .with(Figure::CreditGrade, NOW, 1)
            .with(Figure::BadRecords, NOW, 1);
        let decision = evaluate(&p, &figures, &Standing::default());
        assert_eq!(decision.tier, None);
        let tried: Vec<&str> = decision
            .tried
            .iter()
            .map(|(i, _)| p.rules[*i].tier.as_str())
            .collect();
        assert_eq!(tried, ["A", "B", "C"], "every rule tried, best first");
        for (_, checks) in &decision.tried {
            let failing: Vec<Figure> = checks
                .iter()
                .filter(|c| !c.held)
                .map(|c| c.figure)
                .collect();
            assert_eq!(failing, [Figure::BadRecords], "only the bad record fails");
        }
        let why = explain(&p, &decision);
        assert!(
            why.contains("A needs bad_records now ≤ 0 (has 1)"),
            "the reason names the bad record: {why}"
        );
        // Grades read as grades.
        let b = Figures::default()
            .with(Figure::Spend, THIS_YEAR, 5_000_000 * 100)
            .with(Figure::CreditGrade, NOW, 2)
            .with(Figure::BadRecords, NOW, 0);
        let decision = evaluate(&p, &b, &Standing::default());
        assert_eq!(decision.tier.as_deref(), Some("B"));
        let why = explain(&p, &decision);
        assert!(
            why.contains("credit_grade now B, B or better"),
            "grades as letters: {why}"
        );
        let a_rule: Vec<String> = decision.tried[0]
            .1
            .iter()
            .filter(|c| !c.held)
            .map(|c| crate::domain::evaluate::format_value(&p, c.figure, c.threshold))
            .collect();
        assert_eq!(a_rule, ["A"], "A was tried first and needs grade A");
    }

    #[test]
    fn postal_key_accounts_by_revenue_with_the_regional_coefficient() {
        let yuan = 100;
        let cases: &[(i64, Option<&str>, Option<&str>)] = &[
            (5_000_000, None, Some("diamond")),
            (4_999_999, None, Some("platinum")),
            (2_000_000, None, Some("platinum")),
            (200_000, None, Some("gold")),
            (10_000, None, Some("vip")),
            (9_999, None, None),
            // Group 2 and 3 cities: the VIP floor × 0.9 or × 0.8, the others unchanged.
            (9_000, Some("group-2"), Some("vip")),
            (8_999, Some("group-2"), None),
            (8_000, Some("group-3"), Some("vip")),
            (7_999, Some("group-3"), None),
            (4_000_000, Some("group-3"), Some("platinum")),
            (180_000, Some("group-2"), Some("vip")),
        ];
        for (revenue, region, want) in cases {
            let got = tier_in(
                "postal-key-accounts",
                &[(Figure::Spend, THIS_YEAR, revenue * yuan)],
                None,
                *region,
            );
            assert_eq!(got.as_deref(), *want, "{revenue} yuan in {region:?}");
        }
        let owners: Vec<Option<String>> = policy("postal-key-accounts")
            .tiers
            .iter()
            .map(|t| t.owner_level.clone())
            .collect();
        assert_eq!(
            owners,
            [
                Some("region".into()),
                Some("city".into()),
                Some("city".into()),
                Some("branch".into())
            ]
        );
    }

    #[test]
    fn postal_diamond_by_designation() {
        assert_eq!(
            tier_of(
                "postal-key-accounts",
                &[(Figure::Spend, THIS_YEAR, 0)],
                Some("diamond")
            )
            .as_deref(),
            Some("diamond")
        );
    }

    #[test]
    fn telecom_cards_are_designated_and_carry_the_other_sections() {
        for card in ["diamond", "gold", "silver"] {
            assert_eq!(
                tier_of("telecom-vip", &[], Some(card)).as_deref(),
                Some(card)
            );
        }
        assert_eq!(tier_of("telecom-vip", &[], None), None);
        let text = BUILT_IN
            .iter()
            .find(|(n, _)| *n == "telecom-vip")
            .unwrap()
            .1;
        let parsed = preset::parse(text).unwrap();
        assert_eq!(
            parsed.other_sections["scheduling"]["cadence"]["silver"][0]["per"],
            "quarter"
        );
        assert_eq!(
            parsed.policy.churn_targets,
            std::collections::BTreeMap::from([
                ("all".to_owned(), 350),
                ("diamond".to_owned(), 200),
                ("gold".to_owned(), 200)
            ]),
            "3.5% overall, 2% for diamond and gold"
        );
    }
}
