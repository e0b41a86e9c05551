//! The OrganizationService gRPC API: org units and the staff directory.
//! Anyone signed in may read them; only staff administrators change them.

use patron_kit::auth;
use patron_kit::{ServiceError, Violations, etag, events, fieldmask, paging, timestamp};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::organization_service_server::OrganizationService;
use patron_vocab::Change;
use patron_vocab::roles::Permission;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::access::{parse_unit_name, unit_name};
use crate::domain::assignment::limit_of;
use crate::domain::organisation::{self as org, OrgUnitKind};
use crate::store::organisation::{self as store, OrgUnitRow, StaffRow};

const STAFF: &str = "staff";

/// The organisation API's state.
#[derive(Clone)]
pub struct OrganizationApi {
    pub pool: PgPool,
    pub clock: patron_kit::clock::SharedClock,
    /// The policy's default customer limit, shown for staff without their own.
    pub manager_limit: u32,
    /// What reaches are decided by, shared with the other APIs: forgotten
    /// here as soon as a change to it commits.
    pub directory: patron_kit::directory::ReachCache,
}

fn unit_view(row: &OrgUnitRow) -> pb::OrgUnit {
    pb::OrgUnit {
        name: unit_name(&row.id),
        display_name: row.display_name.clone(),
        kind: i32::from(row.kind),
        parent: row.parent_id.as_deref().map(unit_name).unwrap_or_default(),
        ancestors: org::ancestors(&row.path)
            .into_iter()
            .map(unit_name)
            .collect(),
        create_time: Some(timestamp::to_proto(row.created_at)),
        etag: etag::format(row.version),
    }
}

fn staff_view(row: &StaffRow, policy_limit: u32) -> pb::StaffMember {
    pb::StaffMember {
        name: staff_name(&row.id),
        display_name: row.display_name.clone(),
        org_unit: unit_name(&row.org_unit_id),
        customer_limit: row.customer_limit.unwrap_or(0),
        managed_customers: i32::try_from(row.managed).unwrap_or(i32::MAX),
        effective_customer_limit: i32::try_from(limit_of(row.customer_limit, policy_limit))
            .unwrap_or(i32::MAX),
        create_time: Some(timestamp::to_proto(row.created_at)),
        etag: etag::format(row.version),
    }
}

fn staff_name(id: &str) -> String {
    format!("{STAFF}/{id}")
}

fn parse_staff_name(field: &str, name: &str) -> Result<String, ServiceError> {
    let id = name
        .strip_prefix(STAFF)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or_default();
    org::check_staff_id(id)
        .map(|_| id.to_owned())
        .map_err(|_| ServiceError::invalid(field, "must be a staff name of the form staff/{id}"))
}

/// A display name: trimmed, 1–200 characters.
fn display_name(violations: &mut Violations, field: &str, raw: &str) -> String {
    let name = patron_vocab::text::trim(raw);
    if name.is_empty() {
        violations.add(field, "is required");
    } else if name.chars().count() > 200 {
        violations.add(field, "must be at most 200 characters");
    }
    name.to_owned()
}

/// A staff member's own limit: 0 means "the policy's".
fn own_limit(violations: &mut Violations, field: &str, raw: i32) -> Option<i32> {
    if raw < 0 {
        violations.add(field, "must not be negative (0 follows the policy)");
    }
    (raw > 0).then_some(raw)
}

impl OrganizationApi {
    async fn unit(&self, field: &str, name: &str) -> Result<OrgUnitRow, ServiceError> {
        let id = parse_unit_name(field, name)?;
        let mut conn = self.pool.acquire().await?;
        store::get_unit(&mut conn, &id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("org unit {}", unit_name(&id))))
    }

    fn change<'a>(&self, actor: &'a str) -> Change<'a> {
        Change {
            actor,
            at: self.clock.now(),
        }
    }
}

/// Publishes where a staff member now sits (`None`: they left), with the
/// unit's path so consumers know the chain above them, in the transaction
/// of the change.
async fn publish_placement(
    tx: &mut sqlx::PgConnection,
    staff_id: &str,
    unit: Option<&OrgUnitRow>,
    version: i64,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    let event = pb::StaffMemberPlaced {
        staff_member: staff_name(staff_id),
        org_unit: unit.map(|u| unit_name(&u.id)).unwrap_or_default(),
        removed: unit.is_none(),
        version,
        org_unit_path: unit
            .map(|u| {
                org::path_ids(&u.path)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    events::enqueue(tx, &event.staff_member, &event, change.at).await?;
    Ok(())
}

/// A unit a request refers to (not the one it is about): INVALID_ARGUMENT
/// rather than NOT_FOUND when it does not exist.
async fn referred_unit(
    conn: &mut sqlx::PgConnection,
    field: &str,
    name: &str,
) -> Result<OrgUnitRow, ServiceError> {
    let id = parse_unit_name(field, name)?;
    store::get_unit(conn, &id)
        .await?
        .ok_or_else(|| ServiceError::invalid(field, format!("{} does not exist", unit_name(&id))))
}

#[tonic::async_trait]
impl OrganizationService for OrganizationApi {
    async fn create_org_unit(
        &self,
        request: Request<pb::CreateOrgUnitRequest>,
    ) -> Result<Response<pb::OrgUnit>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let req = request.into_inner();
        let Some(unit) = req.org_unit else {
            return Err(ServiceError::invalid("org_unit", "is required").into());
        };
        let mut violations = Violations::new();
        if let Err(why) = org::check_slug(&req.org_unit_id) {
            violations.add("org_unit_id", why);
        }
        let name = display_name(&mut violations, "org_unit.display_name", &unit.display_name);
        let kind = OrgUnitKind::from_code(unit.kind);
        match kind {
            None => violations.add("org_unit.kind", "must be REGION, CITY or BRANCH"),
            Some(OrgUnitKind::Company) => violations.add(
                "org_unit.kind",
                "there is one company unit, orgUnits/company; new units go below it",
            ),
            Some(_) => {}
        }
        if unit.parent.is_empty() {
            violations.add("org_unit.parent", "is required");
        }
        violations.into_result()?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let parent = referred_unit(&mut tx, "org_unit.parent", &unit.parent).await?;
        let kind = kind.unwrap_or(OrgUnitKind::Branch);
        let parent_kind = OrgUnitKind::from_code(i32::from(parent.kind))
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("stored unit kind")))?;
        if !kind.may_sit_below(parent_kind) {
            return Err(ServiceError::invalid(
                "org_unit.kind",
                format!(
                    "a {kind:?} unit cannot sit below {} ({parent_kind:?})",
                    unit_name(&parent.id)
                ),
            )
            .into());
        }
        let created = store::insert_unit(
            &mut tx,
            &OrgUnitRow {
                id: req.org_unit_id.clone(),
                parent_id: Some(parent.id.clone()),
                kind: kind.code(),
                display_name: name,
                path: org::child_path(&parent.path, &req.org_unit_id),
                version: 1,
                created_at: self.clock.now(),
            },
            self.change(&caller.subject),
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        tracing::info!(unit = %created.id, parent = %parent.id, "org unit created");
        Ok(Response::new(unit_view(&created)))
    }

    async fn get_org_unit(
        &self,
        request: Request<pb::GetOrgUnitRequest>,
    ) -> Result<Response<pb::OrgUnit>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let row = self.unit("name", &request.get_ref().name).await?;
        Ok(Response::new(unit_view(&row)))
    }

    async fn list_org_units(
        &self,
        request: Request<pb::ListOrgUnitsRequest>,
    ) -> Result<Response<pb::ListOrgUnitsResponse>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let within = match req.within.as_str() {
            "" => None,
            name => Some(self.unit("within", name).await?.path),
        };
        let fingerprint = paging::filter_fingerprint(&["units", &req.within]);
        let after: Option<String> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows =
            store::list_units(&self.pool, within.as_deref(), after.as_deref(), limit + 1).await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| r.path.clone());
        Ok(Response::new(pb::ListOrgUnitsResponse {
            org_units: rows.iter().map(unit_view).collect(),
            next_page_token,
        }))
    }

    async fn update_org_unit(
        &self,
        request: Request<pb::UpdateOrgUnitRequest>,
    ) -> Result<Response<pb::OrgUnit>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let req = request.into_inner();
        let Some(patch) = &req.org_unit else {
            return Err(ServiceError::invalid("org_unit", "is required").into());
        };
        let id = parse_unit_name("org_unit.name", &patch.name)?;
        let expected = etag::parse("org_unit.etag", &patch.etag)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let row = store::lock_unit(&mut tx, &id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("org unit {}", unit_name(&id))))?;
        etag::check(expected, row.version, &unit_name(&id))?;
        let merged = fieldmask::apply(&unit_view(&row), patch, &paths, "update_mask")?;
        let mut violations = Violations::new();
        let name = display_name(
            &mut violations,
            "org_unit.display_name",
            &merged.display_name,
        );
        violations.into_result()?;
        let updated = store::rename_unit(&mut tx, &id, &name, self.change(&caller.subject)).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(unit_view(&updated)))
    }

    async fn delete_org_unit(
        &self,
        request: Request<pb::DeleteOrgUnitRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let id = parse_unit_name("name", &request.get_ref().name)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let row = store::lock_unit(&mut tx, &id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("org unit {}", unit_name(&id))))?;
        if row.parent_id.is_none() {
            return Err(ServiceError::FailedPrecondition(
                "the company unit cannot be deleted".into(),
            )
            .into());
        }
        let (units, staff, customers) = store::unit_contents(&mut tx, &id).await?;
        if units + staff + customers > 0 {
            return Err(ServiceError::FailedPrecondition(format!(
                "{} still holds {units} units, {staff} staff and {customers} customers; move them first",
                unit_name(&id)
            ))
            .into());
        }
        store::delete_unit(&mut tx, &id).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        tracing::info!(unit = %id, by = %caller.subject, "org unit deleted");
        Ok(Response::new(()))
    }

    async fn create_staff_member(
        &self,
        request: Request<pb::CreateStaffMemberRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let req = request.into_inner();
        let Some(member) = req.staff_member else {
            return Err(ServiceError::invalid("staff_member", "is required").into());
        };
        let mut violations = Violations::new();
        if let Err(why) = org::check_staff_id(&req.staff_member_id) {
            violations.add("staff_member_id", why);
        }
        let name = display_name(
            &mut violations,
            "staff_member.display_name",
            &member.display_name,
        );
        let limit = own_limit(
            &mut violations,
            "staff_member.customer_limit",
            member.customer_limit,
        );
        if member.org_unit.is_empty() {
            violations.add("staff_member.org_unit", "is required");
        }
        violations.into_result()?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let unit = referred_unit(&mut tx, "staff_member.org_unit", &member.org_unit).await?;
        let created = store::insert_staff(
            &mut tx,
            &req.staff_member_id,
            &name,
            &unit.id,
            limit,
            self.change(&caller.subject),
        )
        .await?;
        publish_placement(
            &mut tx,
            &created.id,
            Some(&unit),
            created.version,
            self.change(&caller.subject),
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.directory.forget_staff(&created.id);
        tracing::info!(staff = %created.id, unit = %unit.id, "staff member added");
        Ok(Response::new(staff_view(&created, self.manager_limit)))
    }

    async fn get_staff_member(
        &self,
        request: Request<pb::GetStaffMemberRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let id = parse_staff_name("name", &request.get_ref().name)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let row = store::get_staff(&mut conn, &id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("staff member {}", staff_name(&id))))?;
        Ok(Response::new(staff_view(&row, self.manager_limit)))
    }

    async fn list_staff_members(
        &self,
        request: Request<pb::ListStaffMembersRequest>,
    ) -> Result<Response<pb::ListStaffMembersResponse>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let units = match req.within.as_str() {
            "" => None,
            name => {
                let root = self.unit("within", name).await?;
                Some(store::subtree_ids(&self.pool, &root.path).await?)
            }
        };
        let fingerprint = paging::filter_fingerprint(&["staff", &req.within]);
        let after: Option<String> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows =
            store::list_staff(&self.pool, units.as_deref(), after.as_deref(), limit + 1).await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| r.id.clone());
        Ok(Response::new(pb::ListStaffMembersResponse {
            staff_members: rows
                .iter()
                .map(|r| staff_view(r, self.manager_limit))
                .collect(),
            next_page_token,
        }))
    }

    async fn update_staff_member(
        &self,
        request: Request<pb::UpdateStaffMemberRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let req = request.into_inner();
        let Some(patch) = &req.staff_member else {
            return Err(ServiceError::invalid("staff_member", "is required").into());
        };
        let id = parse_staff_name("staff_member.name", &patch.name)?;
        let expected = etag::parse("staff_member.etag", &patch.etag)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        if store::lock_staff(&mut tx, &id).await?.is_none() {
            return Err(ServiceError::NotFound(format!("staff member {}", staff_name(&id))).into());
        }
        let row = store::get_staff(&mut tx, &id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("staff member {}", staff_name(&id))))?;
        etag::check(expected, row.version, &staff_name(&id))?;
        let merged = fieldmask::apply(
            &staff_view(&row, self.manager_limit),
            patch,
            &paths,
            "update_mask",
        )?;
        let mut violations = Violations::new();
        let name = display_name(
            &mut violations,
            "staff_member.display_name",
            &merged.display_name,
        );
        let limit = own_limit(
            &mut violations,
            "staff_member.customer_limit",
            merged.customer_limit,
        );
        violations.into_result()?;
        let unit = referred_unit(&mut tx, "staff_member.org_unit", &merged.org_unit).await?;
        let updated = store::update_staff(
            &mut tx,
            &id,
            &name,
            &unit.id,
            limit,
            self.change(&caller.subject),
        )
        .await?;
        publish_placement(
            &mut tx,
            &id,
            Some(&unit),
            updated.version,
            self.change(&caller.subject),
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.directory.forget_staff(&id);
        Ok(Response::new(staff_view(&updated, self.manager_limit)))
    }

    async fn delete_staff_member(
        &self,
        request: Request<pb::DeleteStaffMemberRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdministerStaff)?;
        let id = parse_staff_name("name", &request.get_ref().name)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let not_found = || ServiceError::NotFound(format!("staff member {}", staff_name(&id)));
        store::lock_staff(&mut tx, &id)
            .await?
            .ok_or_else(not_found)?;
        let version = store::get_staff(&mut tx, &id)
            .await?
            .ok_or_else(not_found)?
            .version;
        let managed = store::count_managed(&mut tx, &id).await?;
        if managed > 0 {
            return Err(ServiceError::FailedPrecondition(format!(
                "{} still manages {managed} customers; reassign them first",
                staff_name(&id)
            ))
            .into());
        }
        store::delete_staff(&mut tx, &id).await?;
        publish_placement(
            &mut tx,
            &id,
            None,
            version + 1,
            self.change(&caller.subject),
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.directory.forget_staff(&id);
        tracing::info!(staff = %id, by = %caller.subject, "staff member removed");
        Ok(Response::new(()))
    }
}
