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
    /// Receive complaints and move them through their workflow (sign-off is
    /// further bounded by the policy's authority amounts).
    HandleComplaints,
    /// Record a customer's satisfaction with a closed complaint.
    RecordSurveys,
    /// Review managers' service plans and work logs: sign them off or
    /// return them (within the reviewer's unit subtree, never their own).
    ReviewPlans,
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
            HandleComplaints,
            RecordSurveys,
            ReviewPlans,
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
            HandleComplaints,
            RecordSurveys,
            ReviewPlans,
        ],
        // An account manager takes complaints that reach them (channel
        // "via the account manager") and works their own customers'.
        "account_manager" => &[ReadCustomers, EditCustomers, HandleComplaints],
        "customer_service" => &[
            ReadCustomers,
            EditCustomers,
            HandleComplaints,
            RecordSurveys,
        ],
        "auditor" => &[ReadCustomers, ReadAudit],
        "viewer" => &[ReadCustomers],
        _ => service_role(role).map_or(&[], |(permissions, _)| permissions),
    }
}

/// The roles of services calling another with their own identity (subject
/// and role `service:<name>`), kept apart from the staff roles: each grants
/// only what that service needs, and reaches the whole company (a service
/// acts for no one unit).
pub fn service_role(role: &str) -> Option<(&'static [Permission], RoleReach)> {
    use Permission::*;
    match role {
        // A complaint about a customer it has not heard of yet.
        "service:complaint" => Some((&[ReadCustomers], RoleReach::Company)),
        // Whom to contact, and whether they may be contacted.
        "service:scheduling" => Some((&[ReadCustomers], RoleReach::Company)),
        _ => None,
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
        _ => service_role(role).map_or(RoleReach::Nothing, |(_, reach)| reach),
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
            Permission::HandleComplaints => "handle complaints",
            Permission::RecordSurveys => "record complaint surveys",
            Permission::ReviewPlans => "review service plans and work logs",
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

    #[test]
    fn a_service_reads_customers_company_wide_and_does_nothing_else() {
        assert_eq!(
            permissions_of("service:complaint"),
            [Permission::ReadCustomers]
        );
        assert_eq!(reach_of_role("service:complaint"), RoleReach::Company);
        assert!(permissions_of("service:unknown").is_empty());
        assert_eq!(reach_of_role("service:unknown"), RoleReach::Nothing);
    }
}
