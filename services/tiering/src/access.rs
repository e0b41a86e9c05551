//! Whose customers a caller reaches in tiering, worked out from the caller's
//! roles and what profile's events told tiering of the directory (where each
//! staff member sits) and of each archive (its unit path and manager). The
//! rules are in `domain::reach`; a customer outside reach answers NOT_FOUND
//! as a missing one does, and lists show only what the caller reaches.

use patron_kit::ServiceError;
use patron_kit::auth::Caller;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::reach::Reach;
use crate::store::Visibility;
use crate::store::customer_facts::{self, CustomerFacts};

/// The caller's reach; reads the directory only when a role needs it.
pub async fn reach(conn: &mut PgConnection, caller: &Caller) -> Result<Reach, ServiceError> {
    let unit = if Reach::needs_directory(&caller.roles) {
        customer_facts::staff_unit(conn, &caller.subject).await?
    } else {
        None
    };
    Ok(Reach::of(&caller.roles, &caller.subject, unit))
}

/// The customer's facts; NOT_FOUND, word for word the same, when the
/// archive was deleted or the customer is outside the caller's reach (a
/// customer profile has said nothing of yet is only within company-wide
/// reach), so a caller cannot tell which ids exist.
pub async fn require_customer(
    conn: &mut PgConnection,
    caller: &Caller,
    customer: Uuid,
) -> Result<CustomerFacts, ServiceError> {
    let reach = reach(conn, caller).await?;
    let facts = customer_facts::get(conn, customer).await?;
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
    conn: &mut PgConnection,
    caller: &Caller,
    manager_asked: &str,
) -> Result<Visibility, ServiceError> {
    let manager_asked = Some(manager_asked.trim())
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    Ok(match reach(conn, caller).await? {
        Reach::Company => Visibility {
            manager_asked,
            company: true,
            ..Visibility::default()
        },
        Reach::Limited { unit, manager } => Visibility {
            manager_asked,
            company: false,
            unit,
            managed_by: manager,
        },
    })
}
