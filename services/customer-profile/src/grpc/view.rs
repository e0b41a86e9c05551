//! What a caller sees of an archive: the stored row as the wire resource
//! (and back), masked unless the caller may read sensitive data, with the
//! access audit of every unmasked read.

use patron_kit::auth;
use patron_kit::{ServiceError, descriptors, etag, resource_name, timestamp};
use patron_proto::profile::v1 as pb;
use patron_vocab::roles::Permission;
use tonic::Request;
use uuid::Uuid;

use super::{COLLECTION, CustomerApi, not_found};
use crate::access;
use crate::protection::{self, Protection};
use crate::store::audit::{Access, AccessBatch};
use crate::store::{self, CustomerRow};

impl CustomerApi {
    /// The customer as a caller without the sensitive-read permission sees
    /// it, with its version: what the cache holds.
    pub(super) async fn load_masked(&self, id: Uuid) -> Result<(pb::Customer, i64), ServiceError> {
        let row = store::get(&self.pool, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok((self.view(&row, false)?, row.version))
    }

    /// A stored row as the wire resource, with its sensitive fields in the
    /// clear when `unmasked`, masked otherwise.
    pub(super) fn view(
        &self,
        row: &CustomerRow,
        unmasked: bool,
    ) -> Result<pb::Customer, ServiceError> {
        // Rows from before sealing carry their sensitive fields in the JSON.
        let (mut customer, legacy) = Protection::split(&readable(row)?);
        let sensitive = match &row.sensitive {
            Some(sealed) => self.protection.open(row.id, sealed)?,
            None => legacy,
        };
        if unmasked {
            Protection::merge(&mut customer, sensitive);
        } else {
            Protection::merge(&mut customer, Protection::mask(&sensitive));
        }
        Ok(customer)
    }
    /// `rows` as `caller` may see them: in the clear with the sensitive-read
    /// permission (and then recorded in the access audit), masked otherwise.
    pub(super) async fn show(
        &self,
        caller: &auth::Caller,
        method: &str,
        purpose: &str,
        rows: &[&CustomerRow],
    ) -> Result<Vec<pb::Customer>, ServiceError> {
        let unmasked = caller.can(Permission::ReadSensitive);
        let customers = rows
            .iter()
            .map(|row| self.view(row, unmasked))
            .collect::<Result<Vec<_>, _>>()?;
        if unmasked {
            let shown: Vec<&pb::Customer> = customers.iter().collect();
            self.audit_reveal(caller, method, purpose, &shown).await?;
        }
        Ok(customers)
    }

    /// One row as [`show`](Self::show) would show it.
    pub(super) async fn show_one(
        &self,
        caller: &auth::Caller,
        method: &str,
        purpose: &str,
        row: &CustomerRow,
    ) -> Result<pb::Customer, ServiceError> {
        let mut shown = self.show(caller, method, purpose, &[row]).await?;
        shown
            .pop()
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no customer shown")))
    }

    /// Writes the access audit for customers returned unmasked, sharing a
    /// commit with concurrent reads; a read that cannot be audited fails
    /// rather than go unrecorded.
    pub(super) async fn audit_reveal(
        &self,
        caller: &auth::Caller,
        method: &str,
        purpose: &str,
        customers: &[&pb::Customer],
    ) -> Result<(), ServiceError> {
        let reads: Vec<Access> = customers
            .iter()
            .filter_map(|c| {
                let fields = protection::present_fields(c);
                let id = resource_name::parse("name", COLLECTION, &c.name).ok()?;
                (!fields.is_empty()).then_some(Access {
                    customer_id: id,
                    fields,
                })
            })
            .collect();
        self.read_audit
            .record(AccessBatch {
                reads,
                actor: caller.subject.clone(),
                at: self.clock.now(),
                purpose: purpose.to_owned(),
                method: method.to_owned(),
            })
            .await
    }
}

/// The purpose a caller gives for reading sensitive data (`x-access-purpose`).
pub(super) fn purpose<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("x-access-purpose")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// A stored row's readable part as the wire resource. Columns are
/// authoritative for the fields they hold; the JSON holds the rest.
pub(super) fn readable(row: &CustomerRow) -> Result<pb::Customer, ServiceError> {
    let mut c: pb::Customer = descriptors::from_json(&row.profile)?;
    c.name = resource_name::format(COLLECTION, row.id);
    c.archive_number = row.archive_number.clone();
    c.kind = i32::from(row.kind);
    c.display_name = row.display_name.clone();
    c.account_manager = row.account_manager.clone();
    c.create_time = Some(timestamp::to_proto(row.created_at));
    c.update_time = Some(timestamp::to_proto(row.updated_at));
    c.created_by = row.created_by.clone();
    c.updated_by = row.updated_by.clone();
    c.etag = etag::format(row.version);
    c.last_review_time = row.last_reviewed_at.map(timestamp::to_proto);
    c.org_unit = access::unit_name(&row.org_unit_id);
    c.exit = row.exited_at.map(|at| pb::CustomerExit {
        kind: row.exit_kind.map(i32::from).unwrap_or_default(),
        reason: row.exit_reason.clone().unwrap_or_default(),
        written_request_reference: row.exit_reference.clone().unwrap_or_default(),
        exit_time: Some(timestamp::to_proto(at)),
        recorded_by: row.exited_by.clone().unwrap_or_default(),
    });
    Ok(c)
}

/// The JSON stored for a customer: everything but the service-owned fields.
pub(super) fn profile_json(c: &pb::Customer) -> Result<serde_json::Value, ServiceError> {
    let mut facts = c.clone();
    facts.name.clear();
    facts.archive_number.clear();
    facts.create_time = None;
    facts.update_time = None;
    facts.created_by.clear();
    facts.updated_by.clear();
    facts.etag.clear();
    facts.last_review_time = None;
    // Columns hold these.
    facts.account_manager.clear();
    facts.org_unit.clear();
    facts.exit = None;
    descriptors::to_json(&facts)
}
