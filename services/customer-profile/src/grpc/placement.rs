//! Where an archive sits and who may manage it, read from the directory:
//! the unit a new archive goes to, and the check that a manager can take one
//! more customer. The rules are `domain::placement`'s; this reads what they
//! need and says their refusals to the caller.

use patron_kit::ServiceError;

use super::CustomerApi;
use crate::access;
use crate::domain::assignment::Refusal;
use crate::domain::organisation::Reach;
use crate::domain::placement::{self, PlacementRefusal};
use crate::store::organisation as directory;

/// The unit a new archive goes to: the one asked for (which must exist), or
/// the creating staff member's own, or the company.
pub(super) async fn placement_unit(
    tx: &mut sqlx::PgConnection,
    requested: Option<String>,
    creator: &str,
) -> Result<String, ServiceError> {
    // Only what the rule will read is looked up: the unit asked for, or
    // else the creator's own.
    let (requested_exists, creator_unit) = match &requested {
        Some(unit) => (directory::get_unit(tx, unit).await?.is_some(), None),
        None => (
            false,
            directory::get_staff(tx, creator)
                .await?
                .map(|s| s.org_unit_id),
        ),
    };
    placement::unit_for_new_archive(requested, requested_exists, creator_unit)
        .map_err(|r| placement_refusal(r, "customer.org_unit"))
}

impl CustomerApi {
    /// Checks, under the manager's lock, that `manager` is a staff member the
    /// caller reaches who can take one more customer. The lock is held until
    /// the transaction ends, so concurrent assignments to one manager queue
    /// and each counts the ones before it.
    pub(super) async fn take_on(
        &self,
        tx: &mut sqlx::PgConnection,
        reach: &Reach,
        manager: &str,
        field: &str,
    ) -> Result<(), ServiceError> {
        let refuse = |r| placement_refusal(r, field);
        let Some(own_limit) = directory::lock_staff(tx, manager).await? else {
            return Err(refuse(PlacementRefusal::NotInDirectory {
                manager: manager.to_owned(),
            }));
        };
        // The company reaches everyone: the manager's unit is not read then.
        if !matches!(reach, Reach::Company) {
            let path = match directory::get_staff(tx, manager).await? {
                Some(s) => Some(access::unit_path(tx, &s.org_unit_id).await?),
                None => None,
            };
            placement::check_reach(reach, manager, path.as_deref()).map_err(refuse)?;
        }
        let managed = directory::count_managed(tx, manager).await?;
        placement::check_capacity(manager, own_limit, self.manager_limit, managed).map_err(refuse)
    }
}

/// A placement refusal as the caller learns it; `field` names the manager
/// or unit asked for.
fn placement_refusal(refused: PlacementRefusal, field: &str) -> ServiceError {
    match refused {
        PlacementRefusal::NoSuchUnit { unit } => ServiceError::invalid(
            field,
            format!(
                "names no org unit: {} does not exist",
                access::unit_name(&unit)
            ),
        ),
        PlacementRefusal::NotInDirectory { manager } => {
            ServiceError::invalid(field, format!("{manager} is not in the staff directory"))
        }
        PlacementRefusal::OutsideReach { manager } => {
            ServiceError::PermissionDenied(format!("{manager} works outside the caller's unit"))
        }
        PlacementRefusal::Assignment(r) => refusal(r),
    }
}

/// An assignment refusal as the caller learns it.
pub(super) fn refusal(refusal: Refusal) -> ServiceError {
    match refusal {
        Refusal::Invalid(field, why) => ServiceError::invalid(field, why),
        Refusal::AtLimit { manager, limit } => ServiceError::FailedPrecondition(format!(
            "{manager} already manages {limit} customers, their limit; reassign one first or raise the limit"
        )),
        Refusal::Exited => ServiceError::FailedPrecondition(
            "the customer has left; an exited customer takes no manager".into(),
        ),
    }
}
