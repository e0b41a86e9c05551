//! Large projects (000 3.15): a project of at least the policy's threshold
//! is tracked by an owner chosen by its amount and whether its order is
//! signed — before signing its progress (quoter, department head, vice
//! president by amount), after signing its production (coordinator, then
//! the same). A change of either chooses again, and the change of owner is
//! reported so it can be recorded.
//!
//! Amounts are minor units (`patron_vocab::money`), as the policy's bands.

use super::policy::LargeProjects;

/// Whether the project's order is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Unsigned,
    Signed,
}

/// What the owner is chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectState {
    pub amount_minor: i64,
    pub signing: Signing,
}

/// A project's owner changed: `None` is "not tracked" (below the threshold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerChange {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl LargeProjects {
    /// Whether a project of `amount_minor` is tracked as large.
    pub fn is_large(&self, amount_minor: i64) -> bool {
        amount_minor >= self.threshold_minor
    }

    /// The role that owns a project in `state`; `None` below the threshold.
    /// Each band runs from its own amount (included) to the next band's.
    pub fn owner(&self, state: ProjectState) -> Option<&str> {
        if !self.is_large(state.amount_minor) {
            return None;
        }
        let band = self
            .bands
            .iter()
            .rev()
            .find(|band| state.amount_minor >= band.from_minor)?;
        Some(match state.signing {
            Signing::Unsigned => &band.before_signing,
            Signing::Signed => &band.after_signing,
        })
    }

    /// Chooses the owner again after the project went from `before` to
    /// `after`; `None` when the owner stays the same.
    pub fn rechoose(&self, before: ProjectState, after: ProjectState) -> Option<OwnerChange> {
        let from = self.owner(before);
        let to = self.owner(after);
        (from != to).then(|| OwnerChange {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy;

    /// The industrial preset's bands (000 3.15), in fen.
    fn shipped() -> LargeProjects {
        let text = patron_presets::shipped::shipped("industrial-b2b").unwrap();
        policy::parse(&patron_presets::parse(text).unwrap())
            .unwrap()
            .large_projects
            .unwrap()
    }

    fn yuan(amount: i64) -> i64 {
        amount * 100
    }

    fn state(amount_yuan: i64, signing: Signing) -> ProjectState {
        ProjectState {
            amount_minor: yuan(amount_yuan),
            signing,
        }
    }

    #[test]
    fn owners_by_amount_on_both_sides_of_signing() {
        let projects = shipped();
        for (amount, before, after) in [
            (4_999_999, None, None),
            (5_000_000, Some("quoter"), Some("coordinator")),
            (9_999_999, Some("quoter"), Some("coordinator")),
            (10_000_000, Some("department_head"), Some("department_head")),
            (14_999_999, Some("department_head"), Some("department_head")),
            (15_000_000, Some("vice_president"), Some("vice_president")),
            (80_000_000, Some("vice_president"), Some("vice_president")),
        ] {
            assert_eq!(
                projects.owner(state(amount, Signing::Unsigned)),
                before,
                "{amount} before signing"
            );
            assert_eq!(
                projects.owner(state(amount, Signing::Signed)),
                after,
                "{amount} after signing"
            );
        }
        assert!(!projects.is_large(yuan(4_999_999) + 99), "4,999,999.99");
        assert!(projects.is_large(yuan(5_000_000)));
    }

    #[test]
    fn signing_hands_a_small_large_project_to_the_coordinator() {
        let projects = shipped();
        assert_eq!(
            projects.rechoose(
                state(6_000_000, Signing::Unsigned),
                state(6_000_000, Signing::Signed)
            ),
            Some(OwnerChange {
                from: Some("quoter".into()),
                to: Some("coordinator".into())
            })
        );
        assert_eq!(
            projects.rechoose(
                state(12_000_000, Signing::Unsigned),
                state(12_000_000, Signing::Signed)
            ),
            None,
            "the department head keeps it"
        );
    }

    #[test]
    fn a_change_of_amount_chooses_again() {
        let projects = shipped();
        let change = |from, to| {
            projects.rechoose(state(from, Signing::Unsigned), state(to, Signing::Unsigned))
        };
        assert_eq!(
            change(9_000_000, 10_000_000),
            Some(OwnerChange {
                from: Some("quoter".into()),
                to: Some("department_head".into())
            })
        );
        assert_eq!(
            change(14_000_000, 15_000_000),
            Some(OwnerChange {
                from: Some("department_head".into()),
                to: Some("vice_president".into())
            })
        );
        assert_eq!(
            change(4_999_999, 5_000_000),
            Some(OwnerChange {
                from: None,
                to: Some("quoter".into())
            }),
            "it becomes large"
        );
        assert_eq!(
            change(16_000_000, 4_000_000),
            Some(OwnerChange {
                from: Some("vice_president".into()),
                to: None
            }),
            "it is no longer tracked"
        );
        assert_eq!(change(5_000_000, 9_999_999), None, "same band");
        assert_eq!(change(1_000, 2_000), None, "never large");
    }
}
