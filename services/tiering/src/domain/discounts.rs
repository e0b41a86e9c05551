//! Which discounts a customer may have on a day (003 第九、十四条): members
//! pay the tier's member price except on promotions and special-price goods;
//! on their birthday itself, with the original ID card, formal VIPs pay the
//! tier's birthday price. Under a scheme with cards (003 第七条), any live card
//! carries the member discount (an unregistered card is still a discount
//! card), while the birthday discount is a formal VIP's, so it needs a card
//! registered in time.

use chrono::NaiveDate;
use patron_vocab::calendar::is_anniversary;

use super::policy::Tier;

/// The customer's live card on the day asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardHeld {
    /// No live card valid on the day.
    None,
    /// Issued and not registered yet, with the last day registering gives
    /// formal VIP status (still ahead, or passed): a discount card until then.
    DiscountCard { register_by: NaiveDate },
    /// Registered in time: formal VIP status.
    FormalVip,
}

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct DiscountFacts<'a> {
    /// The tier in effect, with its benefits.
    pub tier: Option<&'a Tier>,
    /// Whether the scheme works with membership cards.
    pub scheme_has_cards: bool,
    pub card: CardHeld,
    /// (month, day), when profile knows it.
    pub birthday: Option<(u32, u32)>,
    pub day: NaiveDate,
}

/// One discount's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    pub eligible: bool,
    /// Percent of the price paid; 0 when the tier offers none.
    pub percent_of_price: u32,
    pub reason: String,
    /// What the till checks.
    pub conditions: Vec<String>,
}

impl Discount {
    fn no(percent_of_price: u32, reason: impl Into<String>) -> Self {
        Self {
            eligible: false,
            percent_of_price,
            reason: reason.into(),
            conditions: Vec::new(),
        }
    }
}

/// The member discount (8.8折 in 003).
pub fn member(facts: &DiscountFacts) -> Discount {
    let Some(tier) = facts.tier else {
        return Discount::no(0, "the customer holds no tier");
    };
    let Some(percent) = tier.benefits.member_discount_percent else {
        return Discount::no(0, format!("tier {} has no member discount", tier.code));
    };
    if facts.scheme_has_cards && facts.card == CardHeld::None {
        return Discount::no(
            percent,
            "the customer holds no valid membership card (issued, registered or renewed)",
        );
    }
    Discount {
        eligible: true,
        percent_of_price: percent,
        reason: format!("tier {} pays {percent}% of the price", tier.code),
        conditions: vec!["not on promotions or special-price goods".into()],
    }
}

/// The birthday discount (6折 on the day, 003 第十四条).
pub fn birthday(facts: &DiscountFacts) -> Discount {
    let Some(tier) = facts.tier else {
        return Discount::no(0, "the customer holds no tier");
    };
    let Some(percent) = tier.benefits.birthday_discount_percent else {
        return Discount::no(0, format!("tier {} has no birthday discount", tier.code));
    };
    if facts.scheme_has_cards {
        match facts.card {
            CardHeld::FormalVip => {}
            CardHeld::None => {
                return Discount::no(
                    percent,
                    "only formal VIPs have it: the customer holds no valid membership card",
                );
            }
            CardHeld::DiscountCard { register_by } if register_by >= facts.day => {
                return Discount::no(
                    percent,
                    format!(
                        "only formal VIPs have it: the card is not registered yet; registering it \
                         by {register_by} makes the holder one"
                    ),
                );
            }
            CardHeld::DiscountCard { register_by } => {
                return Discount::no(
                    percent,
                    format!(
                        "only formal VIPs have it: the card was not registered by {register_by}"
                    ),
                );
            }
        }
    }
    let Some((month, day)) = facts.birthday else {
        return Discount::no(percent, "the customer's birthday is not on file");
    };
    // A 29 February birthday falls on 28 February in common years.
    if !is_anniversary(month, day, facts.day) {
        return Discount::no(
            percent,
            format!("{} is not the customer's birthday", facts.day),
        );
    }
    Discount {
        eligible: true,
        percent_of_price: percent,
        reason: format!("birthday: tier {} pays {percent}% of the price", tier.code),
        conditions: vec!["on the birthday itself, on showing the original ID card".into()],
    }
}

/// The lowest percent of the price among the eligible discounts; 100 when none.
pub fn best_percent(discounts: &[&Discount]) -> u32 {
    discounts
        .iter()
        .filter(|d| d.eligible)
        .map(|d| d.percent_of_price)
        .min()
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Benefits;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn vip() -> Tier {
        Tier {
            code: "VIP".into(),
            name: "VIP".into(),
            owner_level: None,
            benefits: Benefits {
                member_discount_percent: Some(88),
                birthday_discount_percent: Some(60),
                ..Benefits::default()
            },
        }
    }

    fn facts(tier: Option<&Tier>, card: CardHeld, on: NaiveDate) -> DiscountFacts<'_> {
        DiscountFacts {
            tier,
            scheme_has_cards: true,
            card,
            birthday: Some((3, 8)),
            day: on,
        }
    }

    #[test]
    fn members_pay_the_member_price_with_any_live_card_except_on_promotions() {
        let tier = vip();
        let registered = member(&facts(Some(&tier), CardHeld::FormalVip, day(2026, 5, 1)));
        assert!(registered.eligible);
        assert_eq!(registered.percent_of_price, 88);
        assert_eq!(
            registered.conditions,
            vec!["not on promotions or special-price goods"]
        );
        assert!(
            member(&facts(
                Some(&tier),
                CardHeld::DiscountCard {
                    register_by: day(2026, 1, 31)
                },
                day(2026, 5, 1)
            ))
            .eligible
        );
        let without = member(&facts(Some(&tier), CardHeld::None, day(2026, 5, 1)));
        assert!(!without.eligible);
        assert_eq!(
            without.percent_of_price, 88,
            "the price the card would give"
        );
        assert!(!member(&facts(None, CardHeld::FormalVip, day(2026, 5, 1))).eligible);
    }

    #[test]
    fn a_scheme_without_cards_gives_the_tier_discount_to_the_tier() {
        let tier = vip();
        let f = DiscountFacts {
            scheme_has_cards: false,
            ..facts(Some(&tier), CardHeld::None, day(2026, 3, 8))
        };
        assert!(member(&f).eligible);
        assert!(birthday(&f).eligible);
    }

    #[test]
    fn the_birthday_price_is_a_formal_vips_on_the_day_itself() {
        let tier = vip();
        let on_the_day = birthday(&facts(Some(&tier), CardHeld::FormalVip, day(2026, 3, 8)));
        assert!(on_the_day.eligible);
        assert_eq!(on_the_day.percent_of_price, 60);
        assert!(on_the_day.conditions[0].contains("original ID card"));
        assert!(!birthday(&facts(Some(&tier), CardHeld::FormalVip, day(2026, 3, 9))).eligible);
        assert!(
            !birthday(&facts(
                Some(&tier),
                CardHeld::DiscountCard {
                    register_by: day(2026, 1, 31)
                },
                day(2026, 3, 8)
            ))
            .eligible,
            "an unregistered card is a discount card only"
        );
        let lapsed = birthday(&facts(
            Some(&tier),
            CardHeld::DiscountCard {
                register_by: day(2026, 1, 31),
            },
            day(2026, 3, 8),
        ));
        assert!(
            lapsed.reason.contains("was not registered by 2026-01-31"),
            "{}",
            lapsed.reason
        );
        let waiting = birthday(&facts(
            Some(&tier),
            CardHeld::DiscountCard {
                register_by: day(2026, 3, 31),
            },
            day(2026, 3, 8),
        ));
        assert!(!waiting.eligible);
        assert!(
            waiting.reason.contains("not registered yet")
                && waiting.reason.contains("by 2026-03-31"),
            "a card inside its window is not told it was too late: {}",
            waiting.reason
        );
        let unknown = DiscountFacts {
            birthday: None,
            ..facts(Some(&tier), CardHeld::FormalVip, day(2026, 3, 8))
        };
        assert!(birthday(&unknown).reason.contains("not on file"));
    }

    #[test]
    fn a_tier_without_the_benefit_has_no_discount() {
        let plain = Tier {
            benefits: Benefits::default(),
            ..vip()
        };
        let f = facts(Some(&plain), CardHeld::FormalVip, day(2026, 3, 8));
        assert_eq!(member(&f).percent_of_price, 0);
        assert!(!member(&f).eligible);
        assert!(!birthday(&f).eligible);
    }

    #[test]
    fn the_best_price_is_the_lowest_eligible_one() {
        let tier = vip();
        let f = facts(Some(&tier), CardHeld::FormalVip, day(2026, 3, 8));
        assert_eq!(best_percent(&[&member(&f), &birthday(&f)]), 60);
        let g = facts(Some(&tier), CardHeld::FormalVip, day(2026, 3, 9));
        assert_eq!(best_percent(&[&member(&g), &birthday(&g)]), 88);
        assert_eq!(best_percent(&[]), 100);
    }
}
