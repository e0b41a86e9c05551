//! Authorisation by the organisation: works out a caller's reach (their roles
//! plus their place in the staff directory) and checks calls on one customer
//! against it. The rules themselves are in `domain::organisation`.

use patron_kit::ServiceError;
use patron_kit::auth::Caller;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::organisation::Reach;
use crate::store::{self, ReachFilter, organisation};

/// The prefix of org unit resource names.
pub const UNITS: &str = "orgUnits";

/// Resolves reaches against the directory.
#[derive(Clone)]
pub struct AccessControl {
    pub pool: PgPool,
}

impl AccessControl {
    /// The customers `caller` may see. Reads the directory only for roles
    /// whose reach depends on the caller's unit.
    pub async fn reach(&self, caller: &Caller) -> Result<Reach, ServiceError> {
        let subtree = if Reach::needs_directory(&caller.roles) {
            organisation::subtree_of_staff(&self.pool, &caller.subject).await?
        } else {
            None
        };
        Ok(Reach::of(&caller.roles, &caller.subject, subtree))
    }

    /// Checks that `caller` reaches the customer `id`: NOT_FOUND, the same
    /// answer, when it is outside their reach or does not exist. (Company-wide
    /// callers skip the look-up; the call itself finds out.)
    pub async fn require_customer(&self, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
        self.check_customer(caller, id, false).await
    }

    /// Like [`require_customer`](Self::require_customer), but a deleted
    /// archive counts too: its audit trails outlive it.
    pub async fn require_customer_record(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<(), ServiceError> {
        self.check_customer(caller, id, true).await
    }

    async fn check_customer(
        &self,
        caller: &Caller,
        id: Uuid,
        deleted_too: bool,
    ) -> Result<(), ServiceError> {
        let reach = self.reach(caller).await?;
        if reach == Reach::Company {
            return Ok(());
        }
        let not_found = || ServiceError::not_found(customer_name(id));
        let (unit, manager, deleted) = store::placement_of(&self.pool, id)
            .await?
            .ok_or_else(not_found)?;
        if deleted && !deleted_too {
            return Err(not_found());
        }
        ensure_covers(caller, &reach, id, &unit, &manager)
    }
}

/// NOT_FOUND, as if it did not exist, unless `reach` covers the customer
/// `id` in `unit` managed by `manager`: a caller cannot tell a customer
/// outside their reach from a missing one.
pub fn ensure_covers(
    caller: &Caller,
    reach: &Reach,
    id: Uuid,
    unit: &str,
    manager: &str,
) -> Result<(), ServiceError> {
    if reach.covers(unit, manager) {
        Ok(())
    } else {
        tracing::debug!(caller = %caller.subject, customer = %id, "outside the caller's reach");
        Err(ServiceError::not_found(customer_name(id)))
    }
}

/// How a list narrows to what `reach` covers.
pub fn list_filter(reach: &Reach) -> ReachFilter {
    ReachFilter {
        units: reach.unit_filter(),
        manager: reach.manager_filter().map(str::to_owned),
    }
}

fn customer_name(id: Uuid) -> String {
    patron_kit::resource_name::format("customers", id)
}

/// The unit id in `orgUnits/{id}`; an error naming `field` otherwise.
pub fn parse_unit_name(field: &str, name: &str) -> Result<String, ServiceError> {
    if name.is_empty() {
        return Err(ServiceError::invalid(field, "is required"));
    }
    name.strip_prefix(UNITS)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| crate::domain::organisation::check_slug(id).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            ServiceError::invalid(field, "must be an org unit name of the form orgUnits/{id}")
        })
}

/// `orgUnits/{id}`.
pub fn unit_name(id: &str) -> String {
    format!("{UNITS}/{id}")
}
