//! The presets shipped with Patron (`deploy/presets/`), compiled in so the
//! binary can run any of them by name; a path to a file of the company's
//! own works too.

use std::path::Path;

/// (name, text) of every shipped preset.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "health-chain",
        include_str!("../../../deploy/presets/health-chain.toml"),
    ),
    (
        "retail-store",
        include_str!("../../../deploy/presets/retail-store.toml"),
    ),
];

/// The text of a preset given by name (a shipped one) or by path.
pub fn read(name_or_path: &Path) -> anyhow::Result<String> {
    if let Some(name) = name_or_path.to_str()
        && let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name)
    {
        return Ok((*text).to_owned());
    }
    std::fs::read_to_string(name_or_path).map_err(|e| {
        let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        anyhow::anyhow!(
            "the tier preset {} is neither a shipped preset ({}) nor a readable file: {e}",
            name_or_path.display(),
            names.join(", ")
        )
    })
}

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

    use crate::domain::evaluate::{Figures, Standing, evaluate};
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
        let f = figures
            .iter()
            .fold(Figures::default(), |f, (figure, window, v)| {
                f.with(*figure, *window, *v)
            });
        let standing = Standing {
            designated: designated.map(str::to_owned),
            ..Default::default()
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
}
