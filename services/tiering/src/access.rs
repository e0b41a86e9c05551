//! Whose customers a caller reaches in tiering. Account managers reach the
//! customers they manage, as profile's events last said (the same rule as
//! profile's `Reach`); a caller with any other reading role reaches what the
//! role's permissions allow. Unit-scoped reach (a supervisor's subtree) needs
//! the staff directory, which only profile holds; it is not applied here yet.

use patron_kit::ServiceError;
use patron_kit::auth::{Caller, permissions_of};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::customer_facts::{self, CustomerFacts};

/// The role whose reach is the customers its holder manages.
const ACCOUNT_MANAGER: &str = "account_manager";

/// `Some(staff id)` when the caller reaches only the customers they manage.
pub fn managed_only(caller: &Caller) -> Option<&str> {
    let broader = caller
        .roles
        .iter()
        .any(|role| role != ACCOUNT_MANAGER && !permissions_of(role).is_empty());
    let manages = caller.roles.iter().any(|role| role == ACCOUNT_MANAGER);
    (manages && !broader).then_some(caller.subject.as_str())
}

/// The customer's facts, or PERMISSION_DENIED when the caller reaches only
/// their own customers and this is not one of them.
pub async fn require_customer(
    conn: &mut PgConnection,
    caller: &Caller,
    customer: Uuid,
) -> Result<CustomerFacts, ServiceError> {
    let facts = customer_facts::get(conn, customer).await?;
    if let Some(staff) = managed_only(caller)
        && facts.account_manager != staff
    {
        return Err(ServiceError::PermissionDenied(format!(
            "{staff} may not act on customers/{customer}: it is not one of their customers"
        )));
    }
    Ok(facts)
}

/// The manager a list narrows to: the one asked for, or for an account
/// manager always themselves (asking for another's is PERMISSION_DENIED).
pub fn list_manager(caller: &Caller, requested: &str) -> Result<Option<String>, ServiceError> {
    let requested = requested.trim();
    match managed_only(caller) {
        Some(own) if requested.is_empty() || requested == own => Ok(Some(own.to_owned())),
        Some(own) => Err(ServiceError::PermissionDenied(format!(
            "{own} may list only their own customers, not {requested}'s"
        ))),
        None if requested.is_empty() => Ok(None),
        None => Ok(Some(requested.to_owned())),
    }
}
