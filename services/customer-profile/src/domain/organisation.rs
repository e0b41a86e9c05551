//! The organisation (001: company > region > city > branch) and who may see
//! which customers because of it. Units are identified by short slugs and
//! located by a materialised path of slugs from the company down, so "is this
//! unit inside that one" is a prefix test.

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

/// Which customers a caller may see and act on: the kit's one rule, which
/// every service decides by. Profile gives it the caller's unit from its own
/// staff table and a customer's (or unit's) path from `org_units`, so "in
/// the caller's subtree" is "the caller's unit is on the path".
pub use patron_vocab::Reach;

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
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

    // Profile's cases of the reach rule, with its units as paths: east
    // under the company, sh under east, west beside it.
    const SH: [&str; 3] = ["company", "east", "sh"];
    const EAST: [&str; 2] = ["company", "east"];
    const WEST: [&str; 2] = ["company", "west"];
    const COMPANY: [&str; 1] = [COMPANY_UNIT];

    fn unit(id: &str) -> Option<String> {
        Some(id.to_owned())
    }

    #[test]
    fn admins_reach_the_company() {
        let r = Reach::of(&roles(&["viewer", "admin"]), "a", None);
        assert_eq!(r, Reach::Company);
        assert!(r.covers(&["anything"], ""));
        assert!(r.covers_unit(&["anything"]));
        assert_eq!(r.unit(), None);
        assert!(!Reach::needs_directory(&roles(&["admin", "supervisor"])));
    }

    #[test]
    fn supervisors_reach_their_subtree() {
        assert!(Reach::needs_directory(&roles(&["supervisor"])));
        let r = Reach::of(&roles(&["supervisor"]), "sup", unit("east"));
        assert!(r.covers(&SH, "someone"));
        assert!(r.covers(&EAST, ""));
        assert!(!r.covers(&WEST, "sup"), "supervising is not managing");
        assert!(r.covers_unit(&SH));
        assert!(!r.covers_unit(&COMPANY));
    }

    #[test]
    fn managers_reach_their_own_customers() {
        assert!(!Reach::needs_directory(&roles(&["account_manager"])));
        let r = Reach::of(&roles(&["account_manager"]), "mgr-1", unit("sh"));
        assert!(r.covers(&WEST, "mgr-1"));
        assert!(!r.covers(&SH, "mgr-2"), "their unit is not theirs to see");
        assert!(!r.covers(&SH, ""));
        assert_eq!(r.manager(), Some("mgr-1"));
    }

    #[test]
    fn roles_combine() {
        let r = Reach::of(&roles(&["account_manager", "viewer"]), "mgr-1", unit("sh"));
        assert!(r.covers(&SH, "mgr-2"));
        assert!(r.covers(&WEST, "mgr-1"));
        assert!(!r.covers(&WEST, "mgr-2"));
    }

    #[test]
    fn staff_outside_the_directory_and_unknown_roles_reach_nothing() {
        let r = Reach::of(&roles(&["supervisor"]), "ghost", None);
        assert!(!r.covers(&COMPANY, ""));
        let r = Reach::of(&roles(&["root"]), "x", unit("company"));
        assert!(!r.covers(&COMPANY, "x"));
        assert_eq!(r.manager(), None);
        assert!(!r.covers(&COMPANY, ""), "no manager matches an empty one");
    }
}
