//! The role holder RPCs: check the caller and the request, call the use
//! cases in `crate::role_holders`, answer with what is stored.

use patron_kit::auth;
use patron_kit::{ServiceError, paging, timestamp};
use patron_proto::scheduling::v1 as pb;
use patron_vocab::roles::Permission;
use tonic::{Request, Response, Status};

use super::SchedulingApi;
use super::activities::unit_id;
use crate::generation_job::staff_name;
use crate::role_holders::{RoleHolderChange, role_holder_name};
use crate::store::role_holders::{self as store, ListFilter, RoleHolderRow};

/// A role's key as the policy writes it: lower-case letters, digits and
/// underscores, from a letter, at most 63.
fn role_key(field: &str, role: &str) -> Result<String, ServiceError> {
    let well_formed = (1..=63).contains(&role.len())
        && role.starts_with(|c: char| c.is_ascii_lowercase())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if well_formed {
        Ok(role.to_owned())
    } else {
        Err(ServiceError::invalid(
            field,
            "must be a role's key like store_manager (lower-case letters, digits and \
             underscores, at most 63)",
        ))
    }
}

/// `orgUnits/{unit}/roleHolders/{role}` → (unit, role).
fn parse_name(field: &str, name: &str) -> Result<(String, String), ServiceError> {
    let bad = || {
        ServiceError::invalid(
            field,
            "must be of the form orgUnits/{unit}/roleHolders/{role}",
        )
    };
    let (unit, role) = name.split_once("/roleHolders/").ok_or_else(bad)?;
    Ok((
        unit_id(field, unit).map_err(|_| bad())?,
        role_key(field, role).map_err(|_| bad())?,
    ))
}

fn role_holder_view(row: &RoleHolderRow) -> pb::RoleHolder {
    pb::RoleHolder {
        name: role_holder_name(&row.org_unit, &row.role),
        org_unit: format!("orgUnits/{}", row.org_unit),
        role: row.role.clone(),
        holder: staff_name(&row.holder),
        set_by: staff_name(&row.set_by),
        set_time: Some(timestamp::to_proto(row.set_at)),
    }
}

fn change_view(change: &RoleHolderChange) -> pb::RoleHolderChange {
    pb::RoleHolderChange {
        role_holder: Some(role_holder_view(&change.row)),
        previous_holder: change
            .previous
            .as_deref()
            .map(staff_name)
            .unwrap_or_default(),
        tasks_moved: i64::try_from(change.moved).unwrap_or(i64::MAX),
    }
}

impl SchedulingApi {
    pub(super) async fn set_role_holder_call(
        &self,
        request: Request<pb::SetRoleHolderRequest>,
    ) -> Result<Response<pb::RoleHolderChange>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AssignManagers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let unit = unit_id("org_unit", &req.org_unit)
            .map_err(|e| v.add("org_unit", e.to_string()))
            .ok();
        let role = role_key("role", &req.role)
            .map_err(|e| v.add("role", e.to_string()))
            .ok();
        let holder = super::staff_id("holder", &req.holder)
            .map_err(|e| v.add("holder", e.to_string()))
            .ok();
        v.into_result()?;
        let change = (self.scheduling)
            .set_role_holder(
                &caller,
                &unit.expect("checked"),
                &role.expect("checked"),
                &holder.expect("checked"),
            )
            .await?;
        Ok(Response::new(change_view(&change)))
    }

    pub(super) async fn list_role_holders_call(
        &self,
        request: Request<pb::ListRoleHoldersRequest>,
    ) -> Result<Response<pb::ListRoleHoldersResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut v = patron_kit::Violations::new();
        let mut filter = ListFilter::default();
        if !req.org_unit.is_empty() {
            filter.org_unit = unit_id("org_unit", &req.org_unit)
                .map_err(|e| v.add("org_unit", e.to_string()))
                .ok();
        }
        if !req.role.is_empty() {
            filter.role = role_key("role", &req.role)
                .map_err(|e| v.add("role", e.to_string()))
                .ok();
        }
        let limit = paging::page_size("page_size", req.page_size)
            .map_err(|e| v.add("page_size", e.to_string()))
            .ok();
        v.into_result()?;
        let limit = limit.expect("checked");
        let fingerprint = paging::filter_fingerprint(&[&req.org_unit, &req.role]);
        let after: Option<(String, String)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::list(&self.scheduling.pool, &filter, after, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| {
            (r.org_unit.clone(), r.role.clone())
        });
        Ok(Response::new(pb::ListRoleHoldersResponse {
            role_holders: rows.iter().map(role_holder_view).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn remove_role_holder_call(
        &self,
        request: Request<pb::RemoveRoleHolderRequest>,
    ) -> Result<Response<pb::RoleHolderChange>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AssignManagers)?;
        let (unit, role) = parse_name("name", &request.get_ref().name)?;
        let change = (self.scheduling)
            .remove_role_holder(&caller, &unit, &role)
            .await?;
        Ok(Response::new(change_view(&change)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_keys_are_the_policys_spelling() {
        for good in ["store_manager", "a", "vice_president2"] {
            assert_eq!(role_key("role", good).unwrap(), good);
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "Store_Manager",
            "_x",
            "2x",
            "store manager",
            "store-manager",
            &long,
        ] {
            assert!(role_key("role", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_read_back_and_bad_ones_are_refused() {
        let name = role_holder_name("store-1", "store_manager");
        assert_eq!(
            parse_name("name", &name).unwrap(),
            ("store-1".to_owned(), "store_manager".to_owned())
        );
        for bad in [
            "",
            "orgUnits/store-1",
            "orgUnits/store-1/roleHolders/",
            "orgUnits//roleHolders/store_manager",
            "units/store-1/roleHolders/store_manager",
            "orgUnits/Store/roleHolders/store_manager",
            "orgUnits/store-1/roleHolders/store manager",
        ] {
            assert!(parse_name("name", bad).is_err(), "{bad:?}");
        }
    }
}
