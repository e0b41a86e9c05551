//! Whose customers a caller reaches in tiering, worked out from the caller's
//! roles and the kit's projection of profile's directory and archives
//! (`patron_kit::directory`: where each staff member sits, each archive's
//! unit path and manager) by the kit's one reach rule. A customer outside
//! reach answers NOT_FOUND as a missing one does, and lists show only what
//! the caller reaches.

use patron_kit::ServiceError;
use patron_kit::auth::Caller;
use patron_kit::directory::{self, CustomerFacts, Reach, ReachCache, Visibility};
use sqlx::PgConnection;
use uuid::Uuid;

/// The caller's reach; reads the directory only when a role needs it and
/// `cached` does not know their unit.
pub async fn reach(
    cached: &ReachCache,
    conn: &mut PgConnection,
    caller: &Caller,
) -> Result<Reach, ServiceError> {
    cached.reach_of(conn, caller).await
}

/// The customer's facts; NOT_FOUND, word for word the same, when the
/// archive was deleted or the customer is outside the caller's reach (a
/// customer profile has said nothing of yet is only within company-wide
/// reach), so a caller cannot tell which ids exist.
pub async fn require_customer(
    cached: &ReachCache,
    conn: &mut PgConnection,
    caller: &Caller,
    customer: Uuid,
) -> Result<CustomerFacts, ServiceError> {
    let reach = reach(cached, conn, caller).await?;
    let facts = directory::store::customer(conn, customer).await?;
    let name = format!("customers/{customer}");
    if facts.deleted {
        return Err(ServiceError::not_found(name));
    }
    if reach.covers(&facts.org_unit_path, &facts.account_manager) {
        Ok(facts)
    } else {
        tracing::debug!(caller = %caller.subject, %name, "outside the caller's reach");
        Err(ServiceError::not_found(name))
    }
}

/// What a list shows the caller: what they reach, narrowed to the manager
/// asked for, if any.
pub async fn visibility(
    cached: &ReachCache,
    conn: &mut PgConnection,
    caller: &Caller,
    manager_asked: &str,
) -> Result<Visibility, ServiceError> {
    Ok(Visibility::new(
        reach(cached, conn, caller).await?,
        manager_asked,
    ))
}
