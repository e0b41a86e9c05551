//! Sign-off authority (核决权限): each role may settle a complaint up to a
//! loss amount; a resolution above the resolver's authority waits until
//! someone whose authority covers it signs it off. Amounts are minor units.

use std::collections::BTreeMap;

/// How much loss a person may settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Authority {
    /// Up to this many minor units.
    UpTo(i64),
    Unlimited,
}

impl Authority {
    pub fn covers(self, loss_minor: i64) -> bool {
        match self {
            Authority::Unlimited => true,
            Authority::UpTo(limit) => loss_minor <= limit,
        }
    }
}

/// The policy's authority per role; a role not listed may settle no loss.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorityTable {
    pub per_role: BTreeMap<String, Authority>,
}

impl AuthorityTable {
    /// A person's authority: the highest of their roles'.
    pub fn of(&self, roles: &[String]) -> Authority {
        roles
            .iter()
            .filter_map(|r| self.per_role.get(r).copied())
            .max()
            .unwrap_or(Authority::UpTo(0))
    }

    /// Whether a resolution with this loss, by a person with these roles,
    /// must wait for sign-off.
    pub fn needs_sign_off(&self, resolver_roles: &[String], loss_minor: i64) -> bool {
        !self.of(resolver_roles).covers(loss_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AuthorityTable {
        AuthorityTable {
            per_role: [
                ("customer_service".to_string(), Authority::UpTo(100_000)),
                ("supervisor".to_string(), Authority::UpTo(2_000_000)),
                ("admin".to_string(), Authority::Unlimited),
            ]
            .into(),
        }
    }

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_loss_within_authority_needs_no_sign_off() {
        let t = table();
        assert!(!t.needs_sign_off(&roles(&["customer_service"]), 0));
        assert!(
            !t.needs_sign_off(&roles(&["customer_service"]), 100_000),
            "the limit itself"
        );
        assert!(t.needs_sign_off(&roles(&["customer_service"]), 100_001));
    }

    #[test]
    fn the_highest_role_counts() {
        let t = table();
        let both = roles(&["customer_service", "supervisor"]);
        assert_eq!(t.of(&both), Authority::UpTo(2_000_000));
        assert!(!t.needs_sign_off(&both, 1_500_000));
        assert_eq!(t.of(&roles(&["supervisor", "admin"])), Authority::Unlimited);
        assert!(!t.needs_sign_off(&roles(&["admin"]), i64::MAX));
    }

    #[test]
    fn an_unlisted_role_settles_nothing_with_a_loss() {
        let t = table();
        assert_eq!(t.of(&roles(&["viewer"])), Authority::UpTo(0));
        assert!(!t.needs_sign_off(&roles(&["viewer"]), 0));
        assert!(t.needs_sign_off(&roles(&["viewer"]), 1));
        assert!(t.needs_sign_off(&[], 1));
    }

    #[test]
    fn a_signer_must_cover_the_loss() {
        let t = table();
        assert!(t.of(&roles(&["supervisor"])).covers(2_000_000));
        assert!(!t.of(&roles(&["supervisor"])).covers(2_000_001));
        assert!(t.of(&roles(&["admin"])).covers(2_000_001));
    }
}
