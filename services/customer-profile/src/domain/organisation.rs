//! The organisation (001: company > region > city > branch) and who may see
//! which customers because of it. Units are identified by short slugs and
//! located by a materialised path of slugs from the company down, so "is this
//! unit inside that one" is a prefix test.

use std::collections::HashSet;

/// The id of the company unit every deployment starts with.
pub const COMPANY_UNIT: &str = "company";

/// A level of the hierarchy, top first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrgUnitKind {
    Company = 1,
    Region = 2,
    City = 3,
    Branch = 4,
}

impl OrgUnitKind {
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::Company),
            2 => Some(Self::Region),
            3 => Some(Self::City),
            4 => Some(Self::Branch),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        self as i16
    }

    /// Whether a unit of this kind may sit directly below a `parent` unit:
    /// only further down, though levels may be skipped (a small company has
    /// branches right under the company).
    pub fn may_sit_below(self, parent: OrgUnitKind) -> bool {
        self > parent
    }
}

/// Checks a unit or staff id: 1–63 lower-case ASCII letters, digits and
/// dashes, starting and ending with a letter or digit (so it is safe in
/// resource names, paths and prefix matches).
pub fn check_slug(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("is required");
    }
    if id.len() > 63 {
        return Err("must be at most 63 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may hold only lower-case letters, digits and dashes");
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

/// Checks a staff id (the subject of their tokens): 1–128 visible ASCII
/// characters without `/`, so it fits a resource name.
pub fn check_staff_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("is required");
    }
    if id.len() > 128 {
        return Err("must be at most 128 characters");
    }
    if !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err("may hold only visible ASCII characters other than '/'");
    }
    Ok(())
}

/// The path of a unit below `parent_path`.
pub fn child_path(parent_path: &str, id: &str) -> String {
    format!("{parent_path}{id}/")
}

/// The ids of the units from the company down to the unit at `path`.
pub fn path_ids(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The ids of a unit's ancestors from the company down, given its path.
pub fn ancestors(path: &str) -> Vec<&str> {
    let mut ids = path_ids(path);
    ids.pop();
    ids
}

/// Whether the unit at `path` lies in the subtree rooted at `root_path`
/// (itself included).
pub fn is_within(path: &str, root_path: &str) -> bool {
    path.starts_with(root_path)
}

use patron_vocab::roles::{RoleReach, reach_of_role};

/// Which customers a caller may see and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Company,
    /// Customers in one of `units`, or managed by `manager`.
    Limited {
        units: HashSet<String>,
        manager: Option<String>,
    },
}

impl Reach {
    /// A caller's reach from their roles, their staff id, and the units of
    /// their own unit's subtree (`None` when they are not in the directory).
    pub fn of(roles: &[String], staff_id: &str, subtree: Option<Vec<String>>) -> Self {
        let reaches: Vec<RoleReach> = roles.iter().map(|r| reach_of_role(r)).collect();
        if reaches.contains(&RoleReach::Company) {
            return Reach::Company;
        }
        let units = if reaches.contains(&RoleReach::UnitSubtree) {
            subtree.unwrap_or_default().into_iter().collect()
        } else {
            HashSet::new()
        };
        let manager = reaches
            .contains(&RoleReach::OwnCustomers)
            .then(|| staff_id.to_owned());
        Reach::Limited { units, manager }
    }

    /// Whether the roles need the caller's place in the directory to work
    /// out the reach (so the directory is only read when it matters).
    pub fn needs_directory(roles: &[String]) -> bool {
        let reaches: Vec<RoleReach> = roles.iter().map(|r| reach_of_role(r)).collect();
        !reaches.contains(&RoleReach::Company) && reaches.contains(&RoleReach::UnitSubtree)
    }

    /// Whether a customer in `unit` managed by `account_manager` is within reach.
    pub fn covers(&self, unit: &str, account_manager: &str) -> bool {
        match self {
            Reach::Company => true,
            Reach::Limited { units, manager } => {
                units.contains(unit)
                    || manager
                        .as_deref()
                        .is_some_and(|m| !account_manager.is_empty() && m == account_manager)
            }
        }
    }

    /// Whether a unit (its staff, and customers placed there) is within reach.
    pub fn covers_unit(&self, unit: &str) -> bool {
        match self {
            Reach::Company => true,
            Reach::Limited { units, .. } => units.contains(unit),
        }
    }

    /// The units to narrow a list to, `None` for the whole company.
    pub fn unit_filter(&self) -> Option<Vec<String>> {
        match self {
            Reach::Company => None,
            Reach::Limited { units, .. } => Some(units.iter().cloned().collect()),
        }
    }

    /// The manager whose customers a list also includes.
    pub fn manager_filter(&self) -> Option<&str> {
        match self {
            Reach::Company => None,
            Reach::Limited { manager, .. } => manager.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    fn subtree(ids: &[&str]) -> Option<Vec<String>> {
        Some(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn kinds_only_go_down() {
        use OrgUnitKind::*;
        assert!(Region.may_sit_below(Company));
        assert!(Branch.may_sit_below(Company), "levels may be skipped");
        assert!(!Region.may_sit_below(Region));
        assert!(!City.may_sit_below(Branch));
        assert!(!Company.may_sit_below(Company));
        for code in 1..=4 {
            assert_eq!(
                OrgUnitKind::from_code(code).unwrap().code(),
                code as i16,
                "codes round-trip"
            );
        }
        assert_eq!(OrgUnitKind::from_code(0), None);
        assert_eq!(OrgUnitKind::from_code(5), None);
    }

    #[test]
    fn slugs() {
        assert!(check_slug("east-china").is_ok());
        assert!(check_slug("sh01").is_ok());
        assert_eq!(check_slug(""), Err("is required"));
        assert!(check_slug("East").is_err());
        assert!(check_slug("a_b").is_err(), "underscore is a LIKE wildcard");
        assert!(check_slug("a/b").is_err());
        assert!(check_slug("-a").is_err());
        assert!(check_slug("a-").is_err());
        assert!(check_slug(&"a".repeat(63)).is_ok());
        assert!(check_slug(&"a".repeat(64)).is_err());
    }

    #[test]
    fn staff_ids() {
        assert!(check_staff_id("mgr-7").is_ok());
        assert!(check_staff_id("li.wei@example.com").is_ok());
        assert!(check_staff_id("").is_err());
        assert!(check_staff_id("a/b").is_err());
        assert!(check_staff_id("a b").is_err());
        assert!(check_staff_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn paths_and_ancestors() {
        let east = child_path("/company/", "east");
        assert_eq!(east, "/company/east/");
        let sh = child_path(&east, "sh");
        assert_eq!(ancestors(&sh), vec!["company", "east"]);
        assert_eq!(path_ids(&sh), vec!["company", "east", "sh"]);
        assert_eq!(ancestors("/company/"), Vec::<&str>::new());
        assert!(is_within(&sh, &east));
        assert!(is_within(&east, &east));
        assert!(!is_within(&east, &sh));
        assert!(
            !is_within("/company/eastern/", "/company/east/"),
            "a sibling whose id starts alike is not inside"
        );
    }

    #[test]
    fn admins_reach_the_company() {
        let r = Reach::of(&roles(&["viewer", "admin"]), "a", None);
        assert_eq!(r, Reach::Company);
        assert!(r.covers("anything", ""));
        assert!(r.covers_unit("anything"));
        assert_eq!(r.unit_filter(), None);
        assert!(!Reach::needs_directory(&roles(&["admin", "supervisor"])));
    }

    #[test]
    fn supervisors_reach_their_subtree() {
        assert!(Reach::needs_directory(&roles(&["supervisor"])));
        let r = Reach::of(&roles(&["supervisor"]), "sup", subtree(&["east", "sh"]));
        assert!(r.covers("sh", "someone"));
        assert!(r.covers("east", ""));
        assert!(!r.covers("west", "sup"), "supervising is not managing");
        assert!(r.covers_unit("sh"));
        assert!(!r.covers_unit("company"));
    }

    #[test]
    fn managers_reach_their_own_customers() {
        assert!(!Reach::needs_directory(&roles(&["account_manager"])));
        let r = Reach::of(&roles(&["account_manager"]), "mgr-1", subtree(&["sh"]));
        assert!(r.covers("west", "mgr-1"));
        assert!(!r.covers("sh", "mgr-2"), "their unit is not theirs to see");
        assert!(!r.covers("sh", ""));
        assert_eq!(r.manager_filter(), Some("mgr-1"));
    }

    #[test]
    fn roles_combine() {
        let r = Reach::of(
            &roles(&["account_manager", "viewer"]),
            "mgr-1",
            subtree(&["sh"]),
        );
        assert!(r.covers("sh", "mgr-2"));
        assert!(r.covers("west", "mgr-1"));
        assert!(!r.covers("west", "mgr-2"));
    }

    #[test]
    fn staff_outside_the_directory_and_unknown_roles_reach_nothing() {
        let r = Reach::of(&roles(&["supervisor"]), "ghost", None);
        assert!(!r.covers("company", ""));
        let r = Reach::of(&roles(&["root"]), "x", subtree(&["company"]));
        assert!(!r.covers("company", "x"));
        assert_eq!(r.manager_filter(), None);
        assert!(!r.covers("company", ""), "no manager matches an empty one");
    }
}
