//! Who makes a contact the cadence gives to a role (issue 14; 003: the
//! store manager visits A every two months and the sales manager monthly;
//! 001: the responsible leader visits the top 10 each quarter; 000 3.10:
//! senior management visits A, middle management B and C). A role is held
//! per unit: a task goes to the holder of its role for the customer's unit,
//! or for the nearest unit above it that has one. The account manager's
//! own rules (role `account_manager`) are each customer's manager's; a role
//! nobody holds on the customer's path falls back to the account manager
//! too, and the task's words say so. When a holder changes, the open tasks
//! the old holding gave someone follow the new one ([`reroute`]).

use std::collections::BTreeMap;

use super::policy::SchedulingPolicy;
use super::units;

/// The role of the rules that are each customer's own account manager's:
/// no unit holds it.
pub const ACCOUNT_MANAGER: &str = "account_manager";

/// Between a rule's own words and who the task went to, in a task's words.
const WORDS_SEPARATOR: &str = "; ";

/// The roles a unit may have a holder of under `policy`: every role its
/// contact rules name (per tier, for the top customers, for new customers)
/// but the account manager's. Sorted, each once.
pub fn unit_roles(policy: &SchedulingPolicy) -> Vec<&str> {
    let by_tier = policy.cadence.values().flatten();
    let top = policy.top_customers.iter().flat_map(|t| &t.rules);
    let mut roles: Vec<&str> = by_tier
        .chain(top)
        .map(|r| r.role.as_str())
        .chain(policy.new_customers.iter().map(|n| n.role.as_str()))
        .filter(|r| *r != ACCOUNT_MANAGER && !r.is_empty())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// Whether a unit may have a holder of `role` under `policy`; why not,
/// naming the roles it may, when it may not.
pub fn check_role(policy: &SchedulingPolicy, role: &str) -> Result<(), String> {
    let allowed = unit_roles(policy);
    if allowed.contains(&role) {
        return Ok(());
    }
    let why = if role == ACCOUNT_MANAGER {
        "is each customer's own account manager, whom no unit holds".to_owned()
    } else {
        format!("{role:?} is not a role the policy's contact rules name")
    };
    Err(if allowed.is_empty() {
        format!(
            "{why}; the policy in force gives every contact to the account manager, so no unit \
             holds a role"
        )
    } else {
        format!("{why}; one of: {}", allowed.join(", "))
    })
}

/// Who holds which role for which unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    /// Role → unit id → staff id.
    by_role: BTreeMap<String, BTreeMap<String, String>>,
}

impl Holders {
    /// Names `holder` the unit's holder of `role`; `None` leaves the unit
    /// without one.
    pub fn set(&mut self, unit: &str, role: &str, holder: Option<&str>) {
        match holder {
            Some(holder) => {
                self.by_role
                    .entry(role.to_owned())
                    .or_default()
                    .insert(unit.to_owned(), holder.to_owned());
            }
            None => {
                if let Some(units) = self.by_role.get_mut(role) {
                    units.remove(unit);
                }
            }
        }
    }

    /// The unit's own holder of `role`.
    pub fn get(&self, unit: &str, role: &str) -> Option<&str> {
        self.by_role
            .get(role)
            .and_then(|units| units.get(unit))
            .map(String::as_str)
    }
}

impl FromIterator<(String, String, String)> for Holders {
    /// From (unit id, role, staff id).
    fn from_iter<I: IntoIterator<Item = (String, String, String)>>(rows: I) -> Self {
        let mut holders = Holders::default();
        for (unit, role, holder) in rows {
            holders.set(&unit, &role, Some(&holder));
        }
        holders
    }
}

/// Who a task of a role goes to for one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A rule of the account manager's own.
    Own { manager: String },
    /// The holder of the role for `unit`: the customer's, or the nearest
    /// unit above it that has one.
    Held { unit: String, holder: String },
    /// Nobody holds the role for the customer's unit or above it: the
    /// account manager does it in their stead.
    Unheld { manager: String },
}

impl Route {
    /// Who does the task (before any leave hands it on).
    pub fn assignee(&self) -> &str {
        match self {
            Route::Own { manager } | Route::Unheld { manager } => manager,
            Route::Held { holder, .. } => holder,
        }
    }

    /// The unit whose holder does it; `None` for the account manager.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Route::Held { unit, .. } => Some(unit),
            Route::Own { .. } | Route::Unheld { .. } => None,
        }
    }

    /// A task's words: the rule's own (`base`, which never holds the
    /// separator), then who does the task of `role` when it is not the
    /// account manager's own rule.
    pub fn words(&self, base: &str, role: &str) -> String {
        match self {
            Route::Own { .. } => base.to_owned(),
            Route::Held { unit, .. } => {
                format!("{base}{WORDS_SEPARATOR}the {role} of orgUnits/{unit}")
            }
            Route::Unheld { .. } => format!(
                "{base}{WORDS_SEPARATOR}nobody holds {role} for the customer's unit or any above \
                 it, so the account manager does it"
            ),
        }
    }
}

/// The rule's own words of a task's words made by [`Route::words`].
pub fn base_words(words: &str) -> &str {
    words
        .split_once(WORDS_SEPARATOR)
        .map_or(words, |(base, _)| base)
}

/// Who a task of `role` goes to for a customer placed on `customer_path`
/// (unit ids from the company down) and managed by `account_manager`.
pub fn route<S: AsRef<str>>(
    role: &str,
    customer_path: &[S],
    account_manager: &str,
    holders: &Holders,
) -> Route {
    if role == ACCOUNT_MANAGER {
        return Route::Own {
            manager: account_manager.to_owned(),
        };
    }
    match units::nearest(customer_path, |unit| holders.get(unit, role)) {
        Some((unit, holder)) => Route::Held {
            unit: unit.to_owned(),
            holder: holder.to_owned(),
        },
        None => Route::Unheld {
            manager: account_manager.to_owned(),
        },
    }
}

/// Who holds an open task now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldTask<'a> {
    pub assignee: &'a str,
    /// Whose it is while a stand-in holds it for their leave.
    pub handed_over_from: Option<&'a str>,
}

/// What a change of holders does to one open task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reroute {
    /// Where it goes now.
    pub route: Route,
    /// Whether it changes hands; when not, only its words and unit change
    /// (the same person holds the role on both units) and whoever holds it
    /// keeps it.
    pub changes_hands: bool,
}

/// What becomes of an open task whose route was `before` and is `after`
/// once the holders changed: `None` when its route is the same, or when
/// it is no longer with whom `before` gave it (nor with a stand-in for
/// their leave), since someone moved it on purpose.
pub fn reroute(task: HeldTask<'_>, before: &Route, after: &Route) -> Option<Reroute> {
    if before == after {
        return None;
    }
    let theirs = before.assignee();
    let held = task.assignee == theirs || task.handed_over_from == Some(theirs);
    held.then(|| Reroute {
        route: after.clone(),
        changes_hands: after.assignee() != theirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: [&str; 3] = ["company", "east", "store-1"];

    fn holders(rows: &[(&str, &str, &str)]) -> Holders {
        rows.iter()
            .map(|(u, r, h)| (u.to_string(), r.to_string(), h.to_string()))
            .collect()
    }

    fn held(unit: &str, holder: &str) -> Route {
        Route::Held {
            unit: unit.into(),
            holder: holder.into(),
        }
    }

    fn unheld(manager: &str) -> Route {
        Route::Unheld {
            manager: manager.into(),
        }
    }

    #[test]
    fn the_holder_of_the_customers_own_unit_comes_first() {
        let h = holders(&[
            ("store-1", "store_manager", "zhang"),
            ("east", "store_manager", "wu"),
            ("company", "store_manager", "ceo"),
        ]);
        assert_eq!(
            route("store_manager", &STORE, "li", &h),
            held("store-1", "zhang")
        );
    }

    #[test]
    fn the_nearest_unit_above_with_a_holder_serves() {
        let h = holders(&[
            ("east", "sales_manager", "zhao"),
            ("company", "sales_manager", "qian"),
            ("store-2", "sales_manager", "sun"),
        ]);
        assert_eq!(
            route("sales_manager", &STORE, "li", &h),
            held("east", "zhao")
        );
        let top = holders(&[("company", "responsible_leader", "boss")]);
        assert_eq!(
            route("responsible_leader", &STORE, "li", &top),
            held("company", "boss")
        );
    }

    #[test]
    fn another_roles_holder_does_not_count() {
        let h = holders(&[("store-1", "store_manager", "zhang")]);
        assert_eq!(route("sales_manager", &STORE, "li", &h), unheld("li"));
    }

    #[test]
    fn nobody_holding_it_falls_back_to_the_account_manager_and_says_so() {
        let r = route("store_manager", &STORE, "li", &Holders::default());
        assert_eq!(r, unheld("li"));
        assert_eq!(r.assignee(), "li");
        assert_eq!(r.unit(), None);
        let words = r.words("visit by store_manager (cadence.A[0])", "store_manager");
        assert!(
            words.starts_with("visit by store_manager (cadence.A[0]); nobody holds store_manager")
                && words.ends_with("so the account manager does it"),
            "{words}"
        );
        // A customer placed nowhere yet: the account manager too.
        assert_eq!(
            route::<&str>(
                "store_manager",
                &[],
                "li",
                &holders(&[("company", "store_manager", "x")])
            ),
            unheld("li")
        );
    }

    #[test]
    fn the_account_managers_own_rules_are_theirs_whoever_holds_what() {
        let h = holders(&[("store-1", ACCOUNT_MANAGER, "zhang")]);
        let r = route(ACCOUNT_MANAGER, &STORE, "li", &h);
        assert_eq!(
            r,
            Route::Own {
                manager: "li".into()
            }
        );
        assert_eq!(
            r.words("phone by account_manager (cadence.A[1])", ACCOUNT_MANAGER),
            "phone by account_manager (cadence.A[1])"
        );
    }

    #[test]
    fn words_name_the_holders_unit_and_read_back_to_the_rules_own() {
        let base = "visit by store_manager (cadence.A[0])";
        let words = held("store-1", "zhang").words(base, "store_manager");
        assert_eq!(
            words,
            "visit by store_manager (cadence.A[0]); the store_manager of orgUnits/store-1"
        );
        assert_eq!(base_words(&words), base);
        assert_eq!(base_words(&unheld("li").words(base, "store_manager")), base);
        assert_eq!(base_words(base), base);
        let follow_up = "new-customer follow-up by store_manager (phone), on time until 2027-01-07";
        assert_eq!(
            base_words(&held("east", "wu").words(follow_up, "store_manager")),
            follow_up
        );
    }

    #[test]
    fn holders_are_set_replaced_and_removed() {
        let mut h = holders(&[("store-1", "store_manager", "zhang")]);
        h.set("store-1", "store_manager", Some("wang"));
        assert_eq!(h.get("store-1", "store_manager"), Some("wang"));
        h.set("store-1", "store_manager", None);
        assert_eq!(h.get("store-1", "store_manager"), None);
        h.set("east", "nobody_yet", None);
        assert_eq!(
            h,
            Holders {
                by_role: BTreeMap::from([("store_manager".into(), BTreeMap::new())])
            }
        );
    }

    fn task<'a>(assignee: &'a str, from: Option<&'a str>) -> HeldTask<'a> {
        HeldTask {
            assignee,
            handed_over_from: from,
        }
    }

    #[test]
    fn a_new_holder_takes_the_tasks_the_old_route_gave() {
        // Set where nobody held it: the account manager's fallback tasks.
        let moved = reroute(task("li", None), &unheld("li"), &held("store-1", "zhang"));
        assert_eq!(
            moved,
            Some(Reroute {
                route: held("store-1", "zhang"),
                changes_hands: true
            })
        );
        // Replaced: the old holder's.
        let moved = reroute(
            task("zhang", None),
            &held("store-1", "zhang"),
            &held("store-1", "wang"),
        )
        .unwrap();
        assert!(moved.changes_hands);
        // Removed: back to the holder above, or the account manager.
        assert_eq!(
            reroute(
                task("zhang", None),
                &held("store-1", "zhang"),
                &unheld("li")
            )
            .unwrap()
            .route,
            unheld("li")
        );
    }

    #[test]
    fn a_task_a_stand_in_holds_for_the_old_holder_moves_too() {
        let moved = reroute(
            task("lead", Some("zhang")),
            &held("store-1", "zhang"),
            &held("store-1", "wang"),
        );
        assert!(moved.is_some_and(|m| m.changes_hands));
    }

    #[test]
    fn a_task_someone_else_holds_or_whose_route_is_the_same_stays() {
        assert_eq!(
            reroute(
                task("chen", None),
                &held("store-1", "zhang"),
                &held("store-1", "wang")
            ),
            None
        );
        assert_eq!(
            reroute(
                task("zhang", None),
                &held("store-1", "zhang"),
                &held("store-1", "zhang")
            ),
            None
        );
    }

    #[test]
    fn the_same_person_on_another_unit_keeps_the_task_with_new_words() {
        let moved = reroute(
            task("lead", Some("zhang")),
            &held("store-1", "zhang"),
            &held("east", "zhang"),
        )
        .unwrap();
        assert_eq!(moved.route, held("east", "zhang"));
        assert!(!moved.changes_hands, "the stand-in keeps it for zhang");
    }

    #[test]
    fn a_role_outside_the_policy_is_refused_naming_the_allowed_ones() {
        let health = super::super::policy::parse(
            &patron_presets::parse(patron_presets::shipped::shipped("health-chain").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(check_role(&health, "store_manager"), Ok(()));
        let pilot = check_role(&health, "pilot").unwrap_err();
        assert!(
            pilot.contains("\"pilot\"")
                && pilot.ends_with(
                    "one of: outreach_staff, outreach_supervisor, sales_manager, store_manager"
                ),
            "{pilot}"
        );
        let own = check_role(&health, ACCOUNT_MANAGER).unwrap_err();
        assert!(own.contains("own account manager"), "{own}");
        // A role of the closed list the policy does not use is refused too.
        assert!(check_role(&health, "vice_president").is_err());
        let telecom = super::super::policy::parse(
            &patron_presets::parse(patron_presets::shipped::shipped("telecom-vip").unwrap())
                .unwrap(),
        )
        .unwrap();
        let none = check_role(&telecom, "store_manager").unwrap_err();
        assert!(none.contains("no unit holds a role"), "{none}");
    }

    #[test]
    fn the_roles_a_unit_may_hold_are_the_policys_but_the_account_managers() {
        let policy = |name| {
            super::super::policy::parse(
                &patron_presets::parse(patron_presets::shipped::shipped(name).unwrap()).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            unit_roles(&policy("health-chain")),
            [
                "outreach_staff",
                "outreach_supervisor",
                "sales_manager",
                "store_manager"
            ]
        );
        assert_eq!(
            unit_roles(&policy("industrial-b2b")),
            ["middle_management", "senior_management"],
            "000 3.10: the tiers' visitors"
        );
        assert_eq!(
            unit_roles(&policy("postal-key-accounts")),
            ["responsible_leader"],
            "001: the top 10's leader; new customers are the manager's"
        );
        assert!(
            unit_roles(&policy("telecom-vip")).is_empty(),
            "every telecom rule is the account manager's"
        );
    }
}
