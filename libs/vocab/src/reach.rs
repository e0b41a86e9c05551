//! Who reaches which customer: the organisation's one rule, with no I/O.
//! Each role reaches the whole company, the customers of the staff member's
//! unit and the units below it, or the customers they manage
//! ([`reach_of_role`]); roles combine. A unit is known by its path (unit ids
//! from the company down to it, itself included), so "inside the caller's
//! subtree" is "the caller's unit is on the path".

use crate::roles::{RoleReach, reach_of_role};

/// Which customers (and units) a caller may see and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Company,
    /// Customers whose unit path holds `unit`, or managed by `manager`.
    Limited {
        unit: Option<String>,
        manager: Option<String>,
    },
}

impl Reach {
    /// A caller's reach from their roles, their staff id and the unit they
    /// sit in (`None` when the directory does not know them).
    pub fn of(roles: &[String], staff_id: &str, staff_unit: Option<String>) -> Self {
        let reaches: Vec<RoleReach> = roles.iter().map(|r| reach_of_role(r)).collect();
        if reaches.contains(&RoleReach::Company) {
            return Self::Company;
        }
        Self::Limited {
            unit: staff_unit.filter(|_| reaches.contains(&RoleReach::UnitSubtree)),
            manager: reaches
                .contains(&RoleReach::OwnCustomers)
                .then(|| staff_id.to_owned()),
        }
    }

    /// Whether working out the reach needs the caller's unit, so the
    /// directory is read only when it matters.
    pub fn needs_directory(roles: &[String]) -> bool {
        let reaches: Vec<RoleReach> = roles.iter().map(|r| reach_of_role(r)).collect();
        !reaches.contains(&RoleReach::Company) && reaches.contains(&RoleReach::UnitSubtree)
    }

    /// Whether a customer placed on `unit_path` and managed by
    /// `account_manager` (empty: nobody) is within reach.
    pub fn covers<S: AsRef<str>>(&self, unit_path: &[S], account_manager: &str) -> bool {
        self.covers_unit(unit_path)
            || self
                .manager()
                .is_some_and(|m| !account_manager.is_empty() && m == account_manager)
    }

    /// Whether the unit at `unit_path` (its staff, and the customers placed
    /// there) is within the caller's subtree.
    pub fn covers_unit<S: AsRef<str>>(&self, unit_path: &[S]) -> bool {
        match self {
            Self::Company => true,
            Self::Limited { unit, .. } => unit
                .as_deref()
                .is_some_and(|u| unit_path.iter().any(|p| p.as_ref() == u)),
        }
    }

    /// The unit whose subtree a limited caller reaches.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Self::Company => None,
            Self::Limited { unit, .. } => unit.as_deref(),
        }
    }

    /// The manager whose customers a limited caller reaches.
    pub fn manager(&self) -> Option<&str> {
        match self {
            Self::Company => None,
            Self::Limited { manager, .. } => manager.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    const ROLES: [&str; 7] = [
        "admin",
        "supervisor",
        "customer_service",
        "auditor",
        "viewer",
        "account_manager",
        "admn",
    ];

    #[test]
    fn an_admin_reaches_every_customer_and_unit() {
        let reach = Reach::of(&strings(&["viewer", "admin"]), "boss", None);
        assert_eq!(reach, Reach::Company);
        assert!(reach.covers::<&str>(&[], ""));
        assert!(reach.covers_unit(&["anything"]));
        assert_eq!((reach.unit(), reach.manager()), (None, None));
        assert!(!Reach::needs_directory(&strings(&["admin", "supervisor"])));
    }

    #[test]
    fn unit_roles_reach_their_units_subtree_and_not_above() {
        for role in ["supervisor", "customer_service", "auditor", "viewer"] {
            assert!(Reach::needs_directory(&strings(&[role])), "{role}");
            let reach = Reach::of(&strings(&[role]), "sup", Some("east".into()));
            assert_eq!(reach.unit(), Some("east"));
            assert!(reach.covers(&["company", "east"], ""));
            assert!(reach.covers(&["company", "east", "sh"], "someone"));
            assert!(!reach.covers(&["company", "west"], ""));
            assert!(
                !reach.covers(&["company", "west"], "sup"),
                "supervising is not managing"
            );
            assert!(!reach.covers(&["company"], ""), "not above their unit");
            assert!(reach.covers_unit(&["company", "east", "sh"]));
            assert!(!reach.covers_unit(&["company"]));
            assert!(
                !reach.covers_unit(&["company", "eastern"]),
                "a sibling whose id starts alike is not inside"
            );
        }
    }

    #[test]
    fn a_manager_reaches_the_customers_they_manage() {
        assert!(!Reach::needs_directory(&strings(&["account_manager"])));
        let reach = Reach::of(&strings(&["account_manager"]), "li.na", Some("east".into()));
        assert_eq!((reach.unit(), reach.manager()), (None, Some("li.na")));
        assert!(reach.covers(&["company", "west"], "li.na"));
        assert!(
            !reach.covers(&["company", "east"], "zhao"),
            "their unit alone gives a manager nothing"
        );
        assert!(!reach.covers(&["company", "east"], ""));
        assert!(!reach.covers_unit(&["company", "east"]));
        assert!(
            !Reach::of(&strings(&["account_manager"]), "li.na", None).covers::<&str>(&[], ""),
            "an unmanaged customer is not a manager's"
        );
    }

    #[test]
    fn roles_combine() {
        let both = Reach::of(
            &strings(&["account_manager", "viewer"]),
            "li.na",
            Some("east".into()),
        );
        assert!(both.covers(&["company", "east"], "zhao"));
        assert!(both.covers(&["company", "west"], "li.na"));
        assert!(!both.covers(&["company", "west"], "zhao"));
        assert!(Reach::needs_directory(&strings(&[
            "account_manager",
            "viewer"
        ])));
    }

    #[test]
    fn staff_outside_the_directory_and_unknown_roles_reach_nothing() {
        let outsider = Reach::of(&strings(&["supervisor"]), "ghost", None);
        assert!(!outsider.covers(&["company", "east"], ""));
        assert!(!outsider.covers(&["company"], "ghost"));
        let typo = Reach::of(&strings(&["admn"]), "x", Some("company".into()));
        assert_eq!(
            typo,
            Reach::Limited {
                unit: None,
                manager: None
            }
        );
        assert!(!typo.covers(&["company"], "x"));
        assert!(!Reach::needs_directory(&strings(&["admn"])));
        assert!(!Reach::of(&[], "x", Some("company".into())).covers(&["company"], "x"));
    }

    /// Every pair of roles, against every placement: the reach is the union
    /// of what each role alone reaches.
    #[test]
    fn a_pair_of_roles_reaches_what_either_reaches() {
        let paths: [&[&str]; 4] = [
            &[],
            &["company"],
            &["company", "east"],
            &["company", "east", "sh"],
        ];
        for a in ROLES {
            for b in ROLES {
                let of = |roles: &[&str]| Reach::of(&strings(roles), "me", Some("east".into()));
                let (pair, alone_a, alone_b) = (of(&[a, b]), of(&[a]), of(&[b]));
                for path in paths {
                    for manager in ["", "me", "other"] {
                        assert_eq!(
                            pair.covers(path, manager),
                            alone_a.covers(path, manager) || alone_b.covers(path, manager),
                            "{a}+{b} on {path:?} managed by {manager:?}"
                        );
                    }
                    assert_eq!(
                        pair.covers_unit(path),
                        alone_a.covers_unit(path) || alone_b.covers_unit(path)
                    );
                }
            }
        }
    }
}
