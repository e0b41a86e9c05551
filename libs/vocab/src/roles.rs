//! The roles the suite knows: what each may do ([`permissions_of`]) and how
//! far among customers it reaches ([`reach_of_role`]). One table for every
//! service, so a role means the same in profile, tiering and whatever comes
//! next; the kit's auth grants permissions from it, the services' reach rules
//! read the reach from it.

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadCustomers,
    EditCustomers,
    DeleteCustomers,
    ReadSensitive,
    /// List the change and access audit trails.
    ReadAudit,
    /// Name or change a customer's responsible account manager.
    AssignManagers,
    /// Record a customer's exit (VIP status revoked, or a voluntary exit).
    ExitCustomers,
    /// Keep the organisation directory: org units and staff.
    AdministerStaff,
    /// Store and activate policies (tier rules and the like).
    EditPolicies,
    /// Set a customer's tier by hand, with a reason.
    OverrideTiers,
    /// Add or take a card's points by hand, with a reason.
    AdjustPoints,
}

/// The roles the suite knows and what each grants. A role not listed grants
/// nothing, so a typo in a token fails closed.
pub fn permissions_of(role: &str) -> &'static [Permission] {
    use Permission::*;
    match role {
        "admin" => &[
            ReadCustomers,
            EditCustomers,
            DeleteCustomers,
            ReadSensitive,
            ReadAudit,
            AssignManagers,
            ExitCustomers,
            AdministerStaff,
            EditPolicies,
            OverrideTiers,
            AdjustPoints,
        ],
        "supervisor" => &[
            ReadCustomers,
            EditCustomers,
            DeleteCustomers,
            ReadSensitive,
            ReadAudit,
            AssignManagers,
            ExitCustomers,
            OverrideTiers,
            AdjustPoints,
        ],
        "account_manager" => &[ReadCustomers, EditCustomers],
        "customer_service" => &[ReadCustomers, EditCustomers],
        "auditor" => &[ReadCustomers, ReadAudit],
        "viewer" => &[ReadCustomers],
        _ => &[],
    }
}

/// How far a role reaches among customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleReach {
    /// Every customer of the company.
    Company,
    /// The customers of the staff member's unit and the units below it.
    UnitSubtree,
    /// The customers the staff member manages.
    OwnCustomers,
    /// None.
    Nothing,
}

/// The reach each role grants. Admins administer the whole company;
/// supervisors and the staff who serve customers work within their unit; an
/// account manager works with their own customers. Unknown roles reach
/// nothing, so a typo fails closed.
pub fn reach_of_role(role: &str) -> RoleReach {
    match role {
        "admin" => RoleReach::Company,
        "supervisor" | "customer_service" | "auditor" | "viewer" => RoleReach::UnitSubtree,
        "account_manager" => RoleReach::OwnCustomers,
        _ => RoleReach::Nothing,
    }
}

impl Permission {
    /// What the permission allows, in words for a refusal ("… may not read
    /// the audit trails").
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadCustomers => "read customers",
            Permission::EditCustomers => "create or edit customers",
            Permission::DeleteCustomers => "delete customers",
            Permission::ReadSensitive => "read sensitive customer data",
            Permission::ReadAudit => "read the audit trails",
            Permission::AssignManagers => "assign account managers",
            Permission::ExitCustomers => "record customers' exits",
            Permission::AdministerStaff => "administer org units and staff",
            Permission::EditPolicies => "store or activate policies",
            Permission::OverrideTiers => "override customers' tiers",
            Permission::AdjustPoints => "adjust customers' points by hand",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_roles_grant_nothing() {
        assert!(permissions_of("root").is_empty());
        assert!(permissions_of("Admin").is_empty());
        assert!(permissions_of("admin").contains(&Permission::DeleteCustomers));
    }

    #[test]
    fn unknown_roles_reach_nothing() {
        assert_eq!(reach_of_role("admin"), RoleReach::Company);
        assert_eq!(reach_of_role("viewer"), RoleReach::UnitSubtree);
        assert_eq!(reach_of_role("account_manager"), RoleReach::OwnCustomers);
        assert_eq!(reach_of_role("Admin"), RoleReach::Nothing);
        assert_eq!(reach_of_role(""), RoleReach::Nothing);
    }
}
