//! Whose customers a caller reaches in tiering: the organisation's rule, as
//! profile applies it. Each role reaches the company, the customers of the
//! staff member's unit subtree, or the customers they manage
//! (`patron_vocab::roles::reach_of_role`); roles combine. Tiering learns where
//! staff sit and where archives are from profile's events, so the subtree
//! test is "the staff member's unit is on the archive's unit path".

use patron_vocab::roles::{RoleReach, reach_of_role};

/// Which customers a caller may see and act on.
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
            return Reach::Company;
        }
        Reach::Limited {
            unit: staff_unit.filter(|_| reaches.contains(&RoleReach::UnitSubtree)),
            manager: reaches
                .contains(&RoleReach::OwnCustomers)
                .then(|| staff_id.to_owned()),
        }
    }

    /// Whether working out the reach needs the caller's unit.
    pub fn needs_directory(roles: &[String]) -> bool {
        let reaches: Vec<RoleReach> = roles.iter().map(|r| reach_of_role(r)).collect();
        !reaches.contains(&RoleReach::Company) && reaches.contains(&RoleReach::UnitSubtree)
    }

    /// Whether a customer on `unit_path` (unit ids from the company down)
    /// managed by `account_manager` is within reach.
    pub fn covers(&self, unit_path: &[String], account_manager: &str) -> bool {
        match self {
            Reach::Company => true,
            Reach::Limited { unit, manager } => {
                unit.as_ref().is_some_and(|u| unit_path.contains(u))
                    || manager
                        .as_deref()
                        .is_some_and(|m| !account_manager.is_empty() && m == account_manager)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    fn path(p: &[&str]) -> Vec<String> {
        roles(p)
    }

    #[test]
    fn an_admin_reaches_every_customer() {
        let reach = Reach::of(&roles(&["admin"]), "boss", None);
        assert_eq!(reach, Reach::Company);
        assert!(reach.covers(&[], ""));
        assert!(!Reach::needs_directory(&roles(&["admin", "supervisor"])));
    }

    #[test]
    fn a_supervisor_reaches_their_units_subtree() {
        let reach = Reach::of(&roles(&["supervisor"]), "sup", Some("east".into()));
        assert!(reach.covers(&path(&["company", "east"]), ""));
        assert!(reach.covers(&path(&["company", "east", "sh"]), "someone"));
        assert!(!reach.covers(&path(&["company", "west"]), ""));
        assert!(
            !reach.covers(&path(&["company"]), ""),
            "not above their unit"
        );
        assert!(Reach::needs_directory(&roles(&["viewer"])));
    }

    #[test]
    fn a_manager_reaches_the_customers_they_manage() {
        let reach = Reach::of(&roles(&["account_manager"]), "li.na", Some("east".into()));
        assert!(reach.covers(&path(&["company", "west"]), "li.na"));
        assert!(
            !reach.covers(&path(&["company", "east"]), "zhao"),
            "their unit alone gives a manager nothing"
        );
        assert!(!Reach::needs_directory(&roles(&["account_manager"])));
    }

    #[test]
    fn roles_combine_and_unknown_ones_reach_nothing() {
        let both = Reach::of(
            &roles(&["account_manager", "viewer"]),
            "li.na",
            Some("east".into()),
        );
        assert!(both.covers(&path(&["company", "east"]), "zhao"));
        assert!(both.covers(&path(&["company", "west"]), "li.na"));
        let outsider = Reach::of(&roles(&["supervisor"]), "ghost", None);
        assert!(
            !outsider.covers(&path(&["company", "east"]), ""),
            "not in the directory: no unit"
        );
        let typo = Reach::of(&roles(&["admn"]), "x", Some("company".into()));
        assert!(!typo.covers(&path(&["company"]), "x"));
        assert!(
            !Reach::of(&roles(&["account_manager"]), "li.na", None).covers(&[], ""),
            "an unmanaged customer is not a manager's"
        );
    }
}
