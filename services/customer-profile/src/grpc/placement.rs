//! Where an archive sits and who may manage it: the unit a new archive goes
//! to, and the check that a manager can take one more customer.

use patron_kit::ServiceError;

use super::CustomerApi;
use crate::access;
use crate::domain::assignment::{self, Refusal};
use crate::domain::organisation::{COMPANY_UNIT, Reach};
use crate::store::organisation as directory;

/// The unit a new archive goes to: the one asked for (which must exist), or
/// the creating staff member's own, or the company.
pub(super) async fn placement_unit(
    tx: &mut sqlx::PgConnection,
    requested: Option<String>,
    creator: &str,
) -> Result<String, ServiceError> {
    match requested {
        Some(unit) => {
            directory::get_unit(tx, &unit).await?.ok_or_else(|| {
                ServiceError::invalid(
                    "customer.org_unit",
                    format!(
                        "names no org unit: {} does not exist",
                        access::unit_name(&unit)
                    ),
                )
            })?;
            Ok(unit)
        }
        None => Ok(directory::get_staff(tx, creator)
            .await?
            .map(|s| s.org_unit_id)
            .unwrap_or_else(|| COMPANY_UNIT.to_owned())),
    }
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
        let own_limit = directory::lock_staff(tx, manager).await?.ok_or_else(|| {
            ServiceError::invalid(field, format!("{manager} is not in the staff directory"))
        })?;
        if !matches!(reach, Reach::Company) {
            let in_reach = match directory::get_staff(tx, manager).await? {
                Some(s) => {
                    reach.manager() == Some(manager)
                        || reach.covers_unit(&access::unit_path(tx, &s.org_unit_id).await?)
                }
                None => false,
            };
            if !in_reach {
                return Err(ServiceError::PermissionDenied(format!(
                    "{manager} works outside the caller's unit"
                )));
            }
        }
        let limit = assignment::limit_of(own_limit, self.manager_limit);
        let managed = directory::count_managed(tx, manager).await?;
        assignment::check_capacity(manager, managed, limit).map_err(refusal)
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
