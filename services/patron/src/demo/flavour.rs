//! What a demo company under each shipped preset looks like: who its
//! customers are, what they buy and for how much, and which facts the
//! company sets by hand (designations, credit grades, regions). The amounts
//! are chosen so the preset's tiers all have members: a health chain's
//! visits of a few hundred yuan, a steel mill's orders of hundreds of
//! thousands.

/// A person or an organisation, as the archive records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Organization,
}

/// Facts the company sets on a customer's standing rather than measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standings {
    /// None: tiers come from purchases alone.
    None,
    /// Some customers are designated a tier: (tier, percent of customers).
    Designated(&'static [(&'static str, u32)]),
    /// Every key account has a credit grade; a few have a bad record.
    CreditGrades,
    /// Customers of group-2 and group-3 cities, and a few designated.
    RegionsAndDesignated(&'static [(&'static str, u32)]),
}

/// One preset's demo company.
#[derive(Debug, Clone, Copy)]
pub struct Flavour {
    /// The shipped preset's name.
    pub preset: &'static str,
    /// The company's name, for the summary.
    pub company: &'static str,
    pub kind: Kind,
    /// What customers buy.
    pub products: &'static [&'static str],
    /// The unit quantities are counted in.
    pub unit: &'static str,
    /// One purchase, in yuan: from, to (most are near the low end).
    pub purchase_yuan: (i64, i64),
    /// Purchases per customer over the year: from, to.
    pub purchases: (i64, i64),
    pub standings: Standings,
    /// Where purchases are made.
    pub channels: &'static [&'static str],
}

/// The demo companies, one per shipped preset.
pub const FLAVOURS: &[Flavour] = &[
    Flavour {
        preset: "health-chain",
        company: "康宁健康连锁",
        kind: Kind::Person,
        products: &["体检套餐", "中医理疗", "营养咨询", "康复训练", "保健品"],
        unit: "次",
        purchase_yuan: (30, 300),
        purchases: (1, 14),
        standings: Standings::Designated(&[("A", 3), ("B", 4)]),
        channels: &["门店", "小程序", "电话预约"],
    },
    Flavour {
        preset: "retail-store",
        company: "锦华百货",
        kind: Kind::Person,
        products: &["羊绒大衣", "真丝围巾", "皮具", "珠宝", "护肤品"],
        unit: "件",
        purchase_yuan: (80, 1600),
        purchases: (1, 5),
        standings: Standings::None,
        channels: &["门店", "网店"],
    },
    Flavour {
        preset: "industrial-b2b",
        company: "东方钢铁",
        kind: Kind::Organization,
        products: &["热轧钢卷", "冷轧板", "镀锌板", "不锈钢管"],
        unit: "t",
        purchase_yuan: (100_000, 3_000_000),
        purchases: (2, 12),
        standings: Standings::CreditGrades,
        channels: &["销售部", "客户经理"],
    },
    Flavour {
        preset: "postal-key-accounts",
        company: "邮政大客户中心",
        kind: Kind::Organization,
        products: &["国内快递", "国际包裹", "函件", "报刊发行", "代收货款"],
        unit: "件",
        purchase_yuan: (1_000, 900_000),
        purchases: (2, 14),
        standings: Standings::RegionsAndDesignated(&[("diamond", 2)]),
        channels: &["营业厅", "客户经理", "揽收"],
    },
    Flavour {
        preset: "telecom-vip",
        company: "联讯通信",
        kind: Kind::Person,
        products: &["月度套餐", "宽带", "终端分期", "国际漫游"],
        unit: "月",
        purchase_yuan: (50, 900),
        purchases: (3, 12),
        standings: Standings::Designated(&[("diamond", 8), ("gold", 20), ("silver", 35)]),
        channels: &["营业厅", "网上营业厅", "客户经理"],
    },
];

/// The demo company for the shipped preset `name`.
pub fn of(name: &str) -> Option<&'static Flavour> {
    FLAVOURS.iter().find(|f| f.preset == name)
}

/// The names the demo knows.
pub fn names() -> Vec<&'static str> {
    FLAVOURS.iter().map(|f| f.preset).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_preset_has_a_demo_company_and_no_other() {
        let mut shipped: Vec<&str> = patron_presets::BUILT_IN.iter().map(|(n, _)| *n).collect();
        let mut flavours = names();
        shipped.sort_unstable();
        flavours.sort_unstable();
        assert_eq!(shipped, flavours);
    }

    #[test]
    fn designations_name_tiers_of_their_preset() {
        for flavour in FLAVOURS {
            let text = patron_presets::shipped::shipped(flavour.preset).unwrap();
            let preset = patron_presets::parse(text).unwrap();
            let designated = match flavour.standings {
                Standings::Designated(d) | Standings::RegionsAndDesignated(d) => d,
                _ => &[],
            };
            for (tier, percent) in designated {
                assert!(
                    preset.tier_codes().iter().any(|t| t == tier),
                    "{}: {tier}",
                    flavour.preset
                );
                assert!(*percent > 0 && *percent < 100);
            }
            assert!(
                flavour.purchase_yuan.0 > 0 && flavour.purchase_yuan.0 < flavour.purchase_yuan.1
            );
            assert!(flavour.purchases.0 >= 1 && flavour.purchases.0 <= flavour.purchases.1);
        }
    }
}
