//! The tier rule: given what the figures earn and the tier a customer holds,
//! which tier is in effect now, what waits for the review, and when the next
//! review falls. Upgrades apply at once and start a new period; downgrades
//! apply at once or wait for the review, as the policy says; a tier set by
//! hand holds until the review. Activating another policy version (a newer
//! one, or re-activating an older one) follows the same rule for a tier the
//! version also has; only a tier the version does not have (another
//! scheme's) gives way at once.
//! Plain Rust, no I/O: the engine reads the inputs and records the decision.

use chrono::{DateTime, Months, Utc};

use super::policy::{Downgrades, Policy};

/// Why a customer is decided again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occasion {
    /// New figures (a transaction, a standing change, a request).
    Figures,
    /// The periodic review, when downgrades take effect (and overrides end).
    Review,
    /// A staff member set the tier by hand.
    Override(Override),
}

/// A tier set by hand, with why (audited in the tier history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub tier: String,
    pub reason: String,
}

/// A tier pinned by hand until the next review: which, why and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedTier {
    pub tier: String,
    pub reason: String,
    pub by: String,
}

/// What the customer holds before this decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTier {
    /// The tier in effect; `None` for no tier.
    pub tier: Option<String>,
    /// When the current period ends and the review is due.
    pub next_review_at: DateTime<Utc>,
    /// A tier set by hand that still holds.
    pub pinned: Option<PinnedTier>,
}

/// Why the tier in effect changed, as the tier history and TierChanged say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeReason {
    Override,
    Upgrade,
    Review,
    Downgrade,
}

impl ChangeReason {
    /// The word recorded in the history and sent in TierChanged.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Override => "override",
            ChangeReason::Upgrade => "upgrade",
            ChangeReason::Review => "review",
            ChangeReason::Downgrade => "downgrade",
        }
    }
}

/// One customer's tier, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDecision {
    /// The tier in effect from now; `None` for no tier.
    pub tier: Option<String>,
    /// The tier the figures earn when it is not the one in effect (a
    /// downgrade waiting for the review, or figures under an override).
    pub pending: Option<String>,
    /// The tier set by hand that holds, if any.
    pub pinned: Option<PinnedTier>,
    /// When the period that now runs ends.
    pub next_review_at: DateTime<Utc>,
    /// Set when the tier in effect is not the one held before.
    pub change: Option<ChangeReason>,
}

/// Decides the tier in effect for a customer who holds `held` (`None`: never
/// decided) when the figures earn `earned`, on `occasion`, at `now`. `actor`
/// is who asks: an override is pinned in their name.
pub fn decide_tier(
    policy: &Policy,
    held: Option<&HeldTier>,
    earned: Option<&str>,
    occasion: &Occasion,
    actor: &str,
    now: DateTime<Utc>,
) -> TierDecision {
    let review_due = held.is_none_or(|h| h.next_review_at <= now);
    // A tier the deciding policy does not have (another scheme's, after
    // an activation) cannot wait for a review under it: it gives way at once.
    // A tier the policy has follows the rule, whichever version decided it.
    let foreign = held
        .and_then(|h| h.tier.as_deref())
        .is_some_and(|t| policy.tier(t).is_none());
    let at_review = *occasion == Occasion::Review || review_due || foreign;
    let before = held.and_then(|h| h.tier.as_deref());
    // A tier set by hand holds until the next review.
    let pinned = match occasion {
        Occasion::Override(o) => Some(PinnedTier {
            tier: o.tier.clone(),
            reason: o.reason.clone(),
            by: actor.to_owned(),
        }),
        _ if at_review => None,
        _ => held.and_then(|h| h.pinned.clone()),
    };
    let tier = match &pinned {
        Some(p) => Some(p.tier.clone()),
        None => effective_tier(policy, before, earned, at_review),
    };
    let pending = (tier.as_deref() != earned)
        .then(|| earned.map(str::to_owned))
        .flatten();
    // A new tier holds for a full period: an upgrade, like a review, starts
    // the period again.
    let upgraded = policy.rank(tier.as_deref()) < policy.rank(before);
    let next_review_at = match held {
        Some(h) if !at_review && !upgraded => h.next_review_at,
        _ => now
            .checked_add_months(Months::new(policy.review_months))
            .unwrap_or(now),
    };
    let change = (tier.as_deref() != before).then(|| {
        if matches!(occasion, Occasion::Override(_)) {
            ChangeReason::Override
        } else if upgraded {
            ChangeReason::Upgrade
        } else if *occasion == Occasion::Review {
            ChangeReason::Review
        } else {
            ChangeReason::Downgrade
        }
    });
    TierDecision {
        tier,
        pending,
        pinned,
        next_review_at,
        change,
    }
}

/// The tier that takes effect: upgrades at once; downgrades at once or only
/// at the periodic review, as the policy says.
pub fn effective_tier(
    policy: &Policy,
    current: Option<&str>,
    decided: Option<&str>,
    at_review: bool,
) -> Option<String> {
    let is_downgrade = policy.rank(decided) > policy.rank(current);
    if is_downgrade && policy.downgrades == Downgrades::AtReview && !at_review {
        current.map(str::to_owned)
    } else {
        decided.map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::policy::{Benefits, Tier};

    /// Tiers A (best), B and C (the fallback), reviewed yearly.
    fn policy(downgrades: Downgrades) -> Policy {
        let tier = |code: &str| Tier {
            code: code.into(),
            name: code.into(),
            benefits: Benefits::default(),
            owner_level: None,
        };
        Policy {
            id: "test".into(),
            title: "test".into(),
            currency: "CNY".into(),
            tiers: vec![tier("A"), tier("B"), tier("C")],
            rules: vec![],
            scorecard: None,
            fallback: Some("C".into()),
            downgrades,
            review_months: 12,
            regional_coefficients: BTreeMap::new(),
            activity: None,
            churn: None,
            churn_targets: BTreeMap::new(),
            points: None,
        }
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().into()
    }

    /// Mid-period: the held tier's review is in January 2027.
    fn now() -> DateTime<Utc> {
        at("2026-06-01T00:00:00Z")
    }

    fn review() -> DateTime<Utc> {
        at("2027-01-01T00:00:00Z")
    }

    /// A full period from `now()`.
    fn new_period() -> DateTime<Utc> {
        at("2027-06-01T00:00:00Z")
    }

    fn held(tier: Option<&str>) -> HeldTier {
        HeldTier {
            tier: tier.map(str::to_owned),
            next_review_at: review(),
            pinned: None,
        }
    }

    fn pin(tier: &str) -> PinnedTier {
        PinnedTier {
            tier: tier.into(),
            reason: "complaint goodwill".into(),
            by: "mgr-wang".into(),
        }
    }

    fn by_hand(tier: &str) -> Occasion {
        Occasion::Override(Override {
            tier: tier.into(),
            reason: "complaint goodwill".into(),
        })
    }

    fn decide(held: Option<&HeldTier>, earned: Option<&str>, occasion: &Occasion) -> TierDecision {
        decide_tier(
            &policy(Downgrades::AtReview),
            held,
            earned,
            occasion,
            "mgr-wang",
            now(),
        )
    }

    #[test]
    fn an_upgrade_applies_at_once_and_starts_a_new_period() {
        let d = decide(Some(&held(Some("B"))), Some("A"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.pending, None);
        assert_eq!(d.next_review_at, new_period());
        assert_eq!(d.change, Some(ChangeReason::Upgrade));
        assert_eq!(d.pinned, None);
    }

    #[test]
    fn from_no_tier_to_a_tier_is_an_upgrade() {
        let d = decide(Some(&held(None)), Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.change, Some(ChangeReason::Upgrade));
        assert_eq!(d.next_review_at, new_period());
    }

    #[test]
    fn a_downgrade_before_the_review_waits_for_it() {
        let d = decide(Some(&held(Some("A"))), Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.pending.as_deref(), Some("C"));
        assert_eq!(d.next_review_at, review(), "the period runs on");
        assert_eq!(d.change, None);
    }

    #[test]
    fn losing_every_tier_before_the_review_waits_too() {
        let d = decide(Some(&held(Some("A"))), None, &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.pending, None, "no tier is nothing to wait for");
        assert_eq!(d.change, None);
    }

    #[test]
    fn a_downgrade_applies_when_the_review_is_due() {
        let mut due = held(Some("A"));
        due.next_review_at = now();
        let d = decide(Some(&due), Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.pending, None);
        assert_eq!(d.next_review_at, new_period());
        assert_eq!(d.change, Some(ChangeReason::Downgrade));
    }

    #[test]
    fn a_downgrade_at_the_review_is_recorded_as_the_review() {
        let d = decide(Some(&held(Some("A"))), Some("C"), &Occasion::Review);
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.next_review_at, new_period());
        assert_eq!(d.change, Some(ChangeReason::Review));
    }

    #[test]
    fn a_downgrade_applies_at_once_when_the_policy_says_so() {
        let d = decide_tier(
            &policy(Downgrades::Immediately),
            Some(&held(Some("A"))),
            Some("C"),
            &Occasion::Figures,
            "mgr-wang",
            now(),
        );
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.pending, None);
        assert_eq!(d.next_review_at, review(), "a downgrade keeps the period");
        assert_eq!(d.change, Some(ChangeReason::Downgrade));
    }

    #[test]
    fn another_policy_version_with_the_held_tier_follows_the_rule() {
        // Re-activating an older version (or a newer one) is one more
        // re-evaluation: a downgrade waits for the review, an upgrade does not.
        let d = decide(Some(&held(Some("A"))), Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.pending.as_deref(), Some("C"));
        assert_eq!(d.next_review_at, review());
        assert_eq!(d.change, None);
        let d = decide(Some(&held(Some("C"))), Some("A"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.change, Some(ChangeReason::Upgrade));
    }

    #[test]
    fn a_tier_the_policy_does_not_have_gives_way_at_once() {
        let mut other_scheme = held(Some("Diamond"));
        other_scheme.pinned = Some(pin("Diamond"));
        let d = decide(Some(&other_scheme), Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.pinned, None, "the pin ends with the scheme");
        assert_eq!(d.next_review_at, new_period());
        // Tiers of two schemes do not compare: one the policy does not rank
        // ranks below all of its own, so taking any of them starts a period.
        assert_eq!(d.change, Some(ChangeReason::Upgrade));
    }

    #[test]
    fn an_override_pins_the_tier_in_the_callers_name() {
        let d = decide(Some(&held(Some("B"))), Some("B"), &by_hand("C"));
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.pinned, Some(pin("C")));
        assert_eq!(d.pending.as_deref(), Some("B"), "the figures still earn B");
        assert_eq!(
            d.next_review_at,
            review(),
            "lowering by hand keeps the period"
        );
        assert_eq!(d.change, Some(ChangeReason::Override));
    }

    #[test]
    fn an_override_upwards_starts_a_new_period() {
        let d = decide(Some(&held(Some("B"))), Some("B"), &by_hand("A"));
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.next_review_at, new_period());
        assert_eq!(d.change, Some(ChangeReason::Override));
    }

    #[test]
    fn an_override_to_the_tier_held_changes_nothing_but_pins_it() {
        let d = decide(Some(&held(Some("B"))), Some("C"), &by_hand("B"));
        assert_eq!(d.tier.as_deref(), Some("B"));
        assert_eq!(d.pinned, Some(pin("B")));
        assert_eq!(d.change, None);
    }

    #[test]
    fn a_pinned_tier_holds_against_new_figures_until_the_review() {
        let mut pinned = held(Some("C"));
        pinned.pinned = Some(pin("C"));
        for earned in [Some("A"), Some("B"), None] {
            let d = decide(Some(&pinned), earned, &Occasion::Figures);
            assert_eq!(d.tier.as_deref(), Some("C"), "{earned:?}");
            assert_eq!(d.pinned, Some(pin("C")));
            assert_eq!(d.pending.as_deref(), earned);
            assert_eq!(d.next_review_at, review());
            assert_eq!(d.change, None);
        }
    }

    #[test]
    fn the_review_ends_a_pin() {
        let mut pinned = held(Some("C"));
        pinned.pinned = Some(pin("C"));
        let d = decide(Some(&pinned), Some("A"), &Occasion::Review);
        assert_eq!(d.tier.as_deref(), Some("A"));
        assert_eq!(d.pinned, None);
        assert_eq!(d.change, Some(ChangeReason::Upgrade));
        assert_eq!(d.next_review_at, new_period());

        let mut due = pinned.clone();
        due.next_review_at = now();
        let d = decide(Some(&due), Some("C"), &Occasion::Figures);
        assert_eq!(d.pinned, None, "a review that is due ends it too");
        assert_eq!(d.change, None);
    }

    #[test]
    fn an_unchanged_tier_keeps_its_period() {
        let d = decide(Some(&held(Some("B"))), Some("B"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("B"));
        assert_eq!(d.pending, None);
        assert_eq!(d.pinned, None);
        assert_eq!(d.next_review_at, review());
        assert_eq!(d.change, None);
    }

    #[test]
    fn an_unchanged_tier_at_the_review_starts_a_new_period() {
        let d = decide(Some(&held(Some("B"))), Some("B"), &Occasion::Review);
        assert_eq!(d.tier.as_deref(), Some("B"));
        assert_eq!(d.next_review_at, new_period());
        assert_eq!(d.change, None);
    }

    #[test]
    fn a_first_decision_takes_what_the_figures_earn_even_the_fallback() {
        let d = decide(None, Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.pending, None);
        assert_eq!(d.next_review_at, new_period());
        assert_eq!(d.change, Some(ChangeReason::Upgrade));
    }

    #[test]
    fn a_first_decision_without_a_tier_records_no_change() {
        let d = decide(None, None, &Occasion::Figures);
        assert_eq!(d.tier, None);
        assert_eq!(d.change, None);
        assert_eq!(d.next_review_at, new_period());
    }

    #[test]
    fn falling_to_the_fallback_waits_for_the_review() {
        let d = decide(Some(&held(Some("B"))), Some("C"), &Occasion::Figures);
        assert_eq!(d.tier.as_deref(), Some("B"));
        assert_eq!(d.pending.as_deref(), Some("C"));
        let d = decide(Some(&held(Some("B"))), Some("C"), &Occasion::Review);
        assert_eq!(d.tier.as_deref(), Some("C"));
        assert_eq!(d.change, Some(ChangeReason::Review));
    }

    #[test]
    fn upgrades_apply_at_once_and_downgrades_as_the_policy_says() {
        let now = policy(Downgrades::Immediately);
        let later = policy(Downgrades::AtReview);
        assert_eq!(
            effective_tier(&later, Some("B"), Some("A"), false).as_deref(),
            Some("A")
        );
        assert_eq!(
            effective_tier(&later, Some("A"), Some("C"), false).as_deref(),
            Some("A")
        );
        assert_eq!(
            effective_tier(&later, Some("A"), Some("C"), true).as_deref(),
            Some("C")
        );
        assert_eq!(
            effective_tier(&now, Some("A"), Some("C"), false).as_deref(),
            Some("C")
        );
        assert_eq!(
            effective_tier(&later, Some("A"), None, false).as_deref(),
            Some("A")
        );
        assert_eq!(
            effective_tier(&later, None, Some("C"), false).as_deref(),
            Some("C")
        );
    }
}
