//! Where an archive sits and who may manage it (000 3.2): a new archive goes
//! to the unit asked for, or to its creator's own unit, or to the company; a
//! manager named for a customer must be in the directory, within the
//! caller's reach, and below their limit of customers. The directory is
//! read by the caller; these are the rules it applies, without I/O.

use super::assignment::{self, Refusal};
use super::organisation::{COMPANY_UNIT, Reach};

/// Why a placement or a manager is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementRefusal {
    /// The unit asked for does not exist.
    NoSuchUnit { unit: String },
    /// The manager named is not in the staff directory.
    NotInDirectory { manager: String },
    /// The manager works outside the caller's reach.
    OutsideReach { manager: String },
    /// The manager cannot take one more customer.
    Assignment(Refusal),
}

/// The unit a new archive goes to: the one asked for, when it exists (`None`
/// when it was not looked up because none was asked for); otherwise the
/// creator's own unit, or the company when the creator is not in the
/// directory.
pub fn unit_for_new_archive(
    requested: Option<String>,
    requested_exists: bool,
    creator_unit: Option<String>,
) -> Result<String, PlacementRefusal> {
    match requested {
        Some(unit) if requested_exists => Ok(unit),
        Some(unit) => Err(PlacementRefusal::NoSuchUnit { unit }),
        None => Ok(creator_unit.unwrap_or_else(|| COMPANY_UNIT.to_owned())),
    }
}

/// Whether a caller with `reach` may hand a customer to `manager`, who works
/// in the unit at the end of `manager_unit_path` (`None` when the directory
/// does not place them): the unit must be within reach, or the manager must
/// be the caller themself.
pub fn check_reach(
    reach: &Reach,
    manager: &str,
    manager_unit_path: Option<&[String]>,
) -> Result<(), PlacementRefusal> {
    let in_reach = match reach {
        Reach::Company => true,
        Reach::Limited { .. } => manager_unit_path
            .is_some_and(|path| reach.covers_unit(path) || reach.manager() == Some(manager)),
    };
    if in_reach {
        Ok(())
    } else {
        Err(PlacementRefusal::OutsideReach {
            manager: manager.to_owned(),
        })
    }
}

/// Whether `manager`, who manages `managed` customers now under their own
/// limit `own_limit` (unset or non-positive: the policy's `policy_limit`),
/// may take one more.
pub fn check_capacity(
    manager: &str,
    own_limit: Option<i32>,
    policy_limit: u32,
    managed: i64,
) -> Result<(), PlacementRefusal> {
    let limit = assignment::limit_of(own_limit, policy_limit);
    assignment::check_capacity(manager, managed, limit).map_err(PlacementRefusal::Assignment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(unit: Option<&str>, manager: Option<&str>) -> Reach {
        Reach::Limited {
            unit: unit.map(str::to_owned),
            manager: manager.map(str::to_owned),
        }
    }

    /// The path from the company down to `unit`.
    fn path(units: &[&str]) -> Vec<String> {
        units.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn a_new_archive_goes_where_asked_or_to_its_creators_unit_or_the_company() {
        assert_eq!(
            unit_for_new_archive(Some("east".into()), true, Some("west".into())),
            Ok("east".into())
        );
        assert_eq!(
            unit_for_new_archive(None, false, Some("west".into())),
            Ok("west".into())
        );
        assert_eq!(
            unit_for_new_archive(None, false, None),
            Ok(COMPANY_UNIT.into())
        );
    }

    #[test]
    fn a_unit_that_does_not_exist_is_refused_not_replaced() {
        assert_eq!(
            unit_for_new_archive(Some("nowhere".into()), false, Some("west".into())),
            Err(PlacementRefusal::NoSuchUnit {
                unit: "nowhere".into()
            })
        );
    }

    #[test]
    fn the_company_reaches_every_manager_even_unplaced_ones() {
        let east = path(&["company", "east"]);
        assert_eq!(check_reach(&Reach::Company, "mgr-1", Some(&east)), Ok(()));
        assert_eq!(check_reach(&Reach::Company, "mgr-1", None), Ok(()));
    }

    #[test]
    fn a_limited_reach_takes_managers_of_its_units_or_the_caller_themself() {
        let reach = limited(Some("east"), Some("mgr-self"));
        let (east, shanghai, west) = (
            path(&["company", "east"]),
            path(&["company", "east", "sh"]),
            path(&["company", "west"]),
        );
        assert_eq!(check_reach(&reach, "mgr-1", Some(&east)), Ok(()));
        assert_eq!(
            check_reach(&reach, "mgr-1", Some(&shanghai)),
            Ok(()),
            "below the unit"
        );
        assert_eq!(check_reach(&reach, "mgr-self", Some(&west)), Ok(()));
        assert_eq!(
            check_reach(&reach, "mgr-2", Some(&west)),
            Err(PlacementRefusal::OutsideReach {
                manager: "mgr-2".into()
            })
        );
        assert_eq!(
            check_reach(&reach, "mgr-self", None),
            Err(PlacementRefusal::OutsideReach {
                manager: "mgr-self".into()
            }),
            "a manager the directory does not place is out of a limited reach"
        );
        assert!(check_reach(&limited(None, None), "mgr-1", Some(&east)).is_err());
    }

    #[test]
    fn capacity_uses_the_managers_own_limit_or_the_policys() {
        assert_eq!(check_capacity("m", None, 3, 2), Ok(()));
        assert_eq!(
            check_capacity("m", None, 3, 3),
            Err(PlacementRefusal::Assignment(Refusal::AtLimit {
                manager: "m".into(),
                limit: 3
            }))
        );
        assert_eq!(check_capacity("m", Some(10), 3, 9), Ok(()));
        assert!(check_capacity("m", Some(10), 3, 10).is_err());
        assert!(
            check_capacity("m", Some(0), 3, 3).is_err(),
            "a zero own limit is unset"
        );
    }
}
