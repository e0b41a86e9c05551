//! The organisation (customer-profile's directory): the units under the
//! company and the staff who work in them.

use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::organization_service_client::OrganizationServiceClient;
use tonic::Code;

use super::Target;
use super::calls::retrying;
use super::calls::{ADMIN, refused};
use super::plan::{self, UnitKind};

/// How many customers an account manager may carry in the demo: enough for
/// a few hundred customers over eight managers, whatever the policy's default.
const CUSTOMER_LIMIT: i32 = 500;

/// Creates the units and the staff; what a run stopped halfway already
/// created is kept (the ids are the demo's own).
pub async fn load(target: &Target) -> anyhow::Result<(usize, usize)> {
    let mut client = OrganizationServiceClient::new(target.profile.clone());
    for unit in plan::UNITS {
        let kind = match unit.kind {
            UnitKind::Region => pb::OrgUnitKind::Region,
            UnitKind::City => pb::OrgUnitKind::City,
            UnitKind::Branch => pb::OrgUnitKind::Branch,
        };
        let request = pb::CreateOrgUnitRequest {
            org_unit: Some(pb::OrgUnit {
                display_name: unit.name.into(),
                kind: kind as i32,
                parent: format!("orgUnits/{}", unit.parent),
                ..Default::default()
            }),
            org_unit_id: unit.id.into(),
        };
        match retrying!(client, create_org_unit, target, ADMIN, request) {
            Ok(_) => {}
            Err(status) if status.code() == Code::AlreadyExists => {}
            Err(status) => return Err(refused(format!("create org unit {}", unit.id), status)),
        }
    }
    let staff = plan::staff();
    for member in &staff {
        let request = pb::CreateStaffMemberRequest {
            staff_member: Some(pb::StaffMember {
                display_name: member.name.clone(),
                org_unit: format!("orgUnits/{}", member.unit),
                customer_limit: CUSTOMER_LIMIT,
                ..Default::default()
            }),
            staff_member_id: member.id.clone(),
        };
        match retrying!(client, create_staff_member, target, ADMIN, request) {
            Ok(_) => {}
            Err(status) if status.code() == Code::AlreadyExists => {}
            Err(status) => {
                return Err(refused(format!("add staff member {}", member.id), status));
            }
        }
    }
    Ok((plan::UNITS.len(), staff.len()))
}
