//! What profile publishes about an archive: the facts its events carry
//! for the other services.

use patron_kit::ServiceError;
use patron_proto::profile::v1 as pb;

use crate::access;
use crate::store::CustomerRow;
use crate::store::organisation as directory;

/// CustomerCreated for a newly opened archive, `stored` being its resource
/// unmasked.
pub(super) async fn created(
    tx: &mut sqlx::PgConnection,
    name: &str,
    row: &CustomerRow,
    stored: &pb::Customer,
) -> Result<pb::CustomerCreated, ServiceError> {
    Ok(pb::CustomerCreated {
        customer: name.to_owned(),
        archive_number: row.archive_number.clone(),
        kind: i32::from(row.kind),
        display_name: row.display_name.clone(),
        account_manager: row.account_manager.clone(),
        version: row.version,
        birthday: birthday_of(stored),
        org_unit: access::unit_name(&row.org_unit_id),
        org_unit_path: unit_path(tx, &row.org_unit_id).await?,
    })
}

/// CustomerUpdated for an archive's write, `after` being its resource
/// unmasked.
pub(super) async fn updated(
    tx: &mut sqlx::PgConnection,
    name: &str,
    updated: &CustomerRow,
    after: &pb::Customer,
    changed_fields: Vec<String>,
) -> Result<pb::CustomerUpdated, ServiceError> {
    Ok(pb::CustomerUpdated {
        customer: name.to_owned(),
        changed_fields,
        version: updated.version,
        account_manager: updated.account_manager.clone(),
        birthday: birthday_of(after),
        org_unit: access::unit_name(&updated.org_unit_id),
        org_unit_path: unit_path(tx, &updated.org_unit_id).await?,
    })
}

/// A person's birthday, carried on archive events for the services that
/// act on it (birthday discounts, care).
fn birthday_of(customer: &pb::Customer) -> Option<patron_proto::common::v1::Date> {
    customer.person.as_ref().and_then(|p| p.birthday)
}

/// The ids of the units from the company down to `unit`, carried on archive
/// events so other services can tell whose subtree an archive is in.
async fn unit_path(tx: &mut sqlx::PgConnection, unit: &str) -> Result<Vec<String>, ServiceError> {
    let row = directory::get_unit(tx, unit).await?.ok_or_else(|| {
        ServiceError::internal(anyhow::anyhow!("the archive's unit {unit} is missing"))
    })?;
    Ok(crate::domain::organisation::path_ids(&row.path)
        .into_iter()
        .map(str::to_owned)
        .collect())
}
