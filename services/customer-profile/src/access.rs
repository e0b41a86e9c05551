//! Authorisation by the organisation: works out a caller's reach (their roles
//! plus their place in the staff directory) and checks calls on one customer
//! against it. The rule itself is the kit's (`patron_kit::directory::Reach`),
//! decided here on profile's own directory: the caller's unit from `staff`,
//! a customer's unit path from `org_units`.
//!
//! The caller's unit, and for reads each customer's placement (unit path,
//! manager, deletion), are kept in the process for the kit's
//! bound (`patron_kit::directory::cached::FRESHNESS`, one second): a change
//! this process makes is forgotten at once, one another replica makes takes
//! effect here within the bound. The cached customer body never decides: it
//! may lag a reassignment by more than that.

use patron_kit::ServiceError;
use patron_kit::auth::Caller;
use patron_kit::directory::ReachCache;
use patron_kit::directory::cached::{FRESHNESS, Fresh};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::organisation::Reach;
use crate::store::{self, ReachFilter, organisation};

/// The prefix of org unit resource names.
pub const UNITS: &str = "orgUnits";

/// A customer's unit path, manager and whether the archive was deleted;
/// `None` when there is no such customer.
type Placement = Option<(Vec<String>, String, bool)>;

/// Resolves reaches against the directory.
#[derive(Clone)]
pub struct AccessControl {
    pub pool: PgPool,
    /// Where staff sit, each trusted for the cache's bound.
    pub directory: ReachCache,
    /// Customers' placements by id, trusted for the same bound.
    placements: Fresh<Placement>,
}

impl AccessControl {
    /// Decides on `pool`'s directory, caching for the kit's bound.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            directory: ReachCache::new(FRESHNESS),
            placements: Fresh::new(FRESHNESS),
        }
    }

    /// The customers `caller` may see. Reads the directory only for roles
    /// whose reach depends on the caller's unit, and only when their unit
    /// is not cached.
    pub async fn reach(&self, caller: &Caller) -> Result<Reach, ServiceError> {
        self.directory
            .reach(caller, || {
                organisation::unit_of_staff(&self.pool, &caller.subject)
            })
            .await
    }

    /// Like [`require_customer`](Self::require_customer), deciding from the
    /// customer's placement as the store had it within the bound: a read
    /// then costs no round trip once the caller and the customer are cached.
    pub async fn require_customer_recently(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<(), ServiceError> {
        let reach = self.reach(caller).await?;
        if reach == Reach::Company {
            return Ok(());
        }
        let placement = self
            .placements
            .get_or_load(&id.to_string(), || store::placement_of(&self.pool, id))
            .await?;
        match placement {
            Some((unit_path, manager, false)) => {
                ensure_covers(caller, &reach, id, &unit_path, &manager)
            }
            _ => Err(ServiceError::not_found(customer_name(id))),
        }
    }

    /// Forgets the customer's cached placement: this process just changed
    /// their manager or unit, created or deleted them.
    pub fn forget_customer(&self, id: Uuid) {
        self.placements.forget(&id.to_string());
    }

    /// How a list narrows to what `reach` covers: the customers of the
    /// units of the reached subtree (the units whose path holds the
    /// caller's), or managed by the caller.
    pub async fn list_filter(&self, reach: &Reach) -> Result<ReachFilter, ServiceError> {
        let units = match reach {
            Reach::Company => None,
            Reach::Limited { unit: None, .. } => Some(Vec::new()),
            Reach::Limited {
                unit: Some(unit), ..
            } => Some(organisation::subtree_of_unit(&self.pool, unit).await?),
        };
        Ok(ReachFilter {
            units,
            manager: reach.manager().map(str::to_owned),
        })
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
        let (unit_path, manager, deleted) = store::placement_of(&self.pool, id)
            .await?
            .ok_or_else(not_found)?;
        if deleted && !deleted_too {
            return Err(not_found());
        }
        ensure_covers(caller, &reach, id, &unit_path, &manager)
    }
}

/// NOT_FOUND, as if it did not exist, unless `reach` covers the customer
/// `id` placed on `unit_path` and managed by `manager`: a caller cannot tell
/// a customer outside their reach from a missing one.
pub fn ensure_covers(
    caller: &Caller,
    reach: &Reach,
    id: Uuid,
    unit_path: &[String],
    manager: &str,
) -> Result<(), ServiceError> {
    if reach.covers(unit_path, manager) {
        Ok(())
    } else {
        tracing::debug!(caller = %caller.subject, customer = %id, "outside the caller's reach");
        Err(ServiceError::not_found(customer_name(id)))
    }
}

/// The path of `unit` (unit ids from the company down to it), which the
/// reach rule decides by.
pub async fn unit_path(conn: &mut PgConnection, unit: &str) -> Result<Vec<String>, ServiceError> {
    organisation::unit_path(conn, unit).await
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
