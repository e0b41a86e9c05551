//! The calls that move a customer through its life with the company, each
//! one transaction with its audit entry and event: naming the responsible
//! manager, recording an exit, adding a service record.

use patron_kit::auth;
use patron_kit::{ServiceError, Violations, clock, etag, events, resource_name, timestamp};
use patron_proto::profile::v1 as pb;
use patron_vocab::Change;
use patron_vocab::roles::Permission;
use tonic::Request;

use super::change_audit::audit_changes;
use super::placement::refusal;
use super::view::{profile_json, purpose};
use super::{COLLECTION, CustomerApi};
use crate::domain::assignment::{self, Assignment, Refusal};
use crate::domain::{exit, service_record};
use crate::protection::Protection;
use crate::store::organisation::{self as directory, AssignmentRecord};
use crate::store::{self, audit as audit_store};
use crate::validate;

impl CustomerApi {
    /// AssignAccountManager.
    pub(super) async fn assign_manager(
        &self,
        request: Request<pb::AssignAccountManagerRequest>,
    ) -> Result<pb::Customer, ServiceError> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AssignManagers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let id = resource_name::parse("name", COLLECTION, &req.name)?;
        let expected = etag::parse("etag", &req.etag)?;
        let requested = req.account_manager.trim();
        if !requested.is_empty() {
            crate::domain::organisation::check_staff_id(requested)
                .map_err(|why| ServiceError::invalid("account_manager", why))?;
        }
        let (reach, mut tx, row) = self.begin_change(&caller, id, expected).await?;
        if row.exited_at.is_some() && !requested.is_empty() {
            return Err(refusal(Refusal::Exited));
        }
        let reason = match assignment::plan(&row.account_manager, requested, &req.reason)
            .map_err(refusal)?
        {
            Assignment::Unchanged => {
                tx.rollback().await?;
                return self
                    .show_one(&caller, "AssignAccountManager", &purpose, &row)
                    .await;
            }
            Assignment::Assign { reason } => {
                self.take_on(&mut tx, &reach, requested, "account_manager")
                    .await?;
                reason
            }
            Assignment::Release { reason } => reason,
        };
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        let before = self.view(&row, true)?;
        let assigned = store::set_manager(&mut tx, id, requested, change).await?;
        directory::record_assignment(
            &mut tx,
            &AssignmentRecord {
                customer_id: id,
                previous_manager: &row.account_manager,
                new_manager: requested,
                reason: &reason,
            },
            change,
        )
        .await?;
        let changes = audit_changes(&before, &self.view(&assigned, true)?)?;
        audit_store::record_change(&mut tx, id, &caller.subject, change.at, "UPDATE", &changes)
            .await?;
        let name = resource_name::format(COLLECTION, id);
        let event = pb::ManagerReassigned {
            customer: name.clone(),
            previous_manager: row.account_manager.clone(),
            account_manager: requested.to_owned(),
            reason,
            assigned_by: caller.subject.clone(),
            version: assigned.version,
        };
        events::enqueue(&mut tx, &name, &event, change.at).await?;
        tx.commit().await?;
        self.access.forget_customer(id);
        self.cache
            .invalidate(&self.cache_key(id), assigned.version)
            .await;
        tracing::info!(customer = %id, from = %row.account_manager, to = %requested, "account manager assigned");
        self.show_one(&caller, "AssignAccountManager", &purpose, &assigned)
            .await
    }

    /// ExitCustomer.
    pub(super) async fn record_exit(
        &self,
        request: Request<pb::ExitCustomerRequest>,
    ) -> Result<pb::Customer, ServiceError> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ExitCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let mut violations = Violations::new();
        let id = resource_name::parse("name", COLLECTION, &req.name)
            .map_err(|_| {
                violations.add("name", "must be a customer name of the form customers/{id}")
            })
            .ok();
        let expected = etag::parse("etag", &req.etag)
            .map_err(|e| violations.add("etag", e.to_string()))
            .ok()
            .flatten();
        let checked = exit::check(req.kind, &req.reason, &req.written_request_reference)
            .map_err(|bad| {
                for (field, why) in bad {
                    violations.add(field, why);
                }
            })
            .ok();
        violations.into_result()?;
        let (Some(id), Some(checked)) = (id, checked) else {
            return Err(ServiceError::internal(anyhow::anyhow!(
                "exit request checked without violations yet incomplete"
            )));
        };
        let (_, mut tx, row) = self.begin_change(&caller, id, expected).await?;
        if let Some(at) = row.exited_at {
            return Err(ServiceError::FailedPrecondition(format!(
                "{} already left on {}",
                resource_name::format(COLLECTION, id),
                at.to_rfc3339()
            )));
        }
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        let before = self.view(&row, true)?;
        let exited = store::set_exit(&mut tx, id, &checked, change).await?;
        let changes = audit_changes(&before, &self.view(&exited, true)?)?;
        audit_store::record_change(&mut tx, id, &caller.subject, change.at, "UPDATE", &changes)
            .await?;
        let name = resource_name::format(COLLECTION, id);
        let event = pb::CustomerExited {
            customer: name.clone(),
            kind: i32::from(checked.kind.code()),
            reason: checked.reason.clone(),
            account_manager: exited.account_manager.clone(),
            version: exited.version,
        };
        events::enqueue(&mut tx, &name, &event, change.at).await?;
        tx.commit().await?;
        self.cache
            .invalidate(&self.cache_key(id), exited.version)
            .await;
        tracing::info!(customer = %id, kind = ?checked.kind, "customer exited");
        self.show_one(&caller, "ExitCustomer", &purpose, &exited)
            .await
    }

    /// AddServiceRecord.
    pub(super) async fn record_service(
        &self,
        request: Request<pb::AddServiceRecordRequest>,
    ) -> Result<pb::Customer, ServiceError> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let id = resource_name::parse("customer", COLLECTION, &req.customer)?;
        let Some(record) = req.service_record else {
            return Err(ServiceError::invalid("service_record", "is required"));
        };
        let now = self.clock.now();
        let service_time = record.service_time.as_ref().and_then(timestamp::from_proto);
        service_record::check(service_time, &record.content, &record.result, now).map_err(
            |bad| {
                let mut violations = Violations::new();
                for (field, why) in bad {
                    violations.add(format!("service_record.{field}"), why);
                }
                ServiceError::InvalidArgument(violations)
            },
        )?;
        let (_, mut tx, row) = self.begin_change(&caller, id, None).await?;
        let before = self.view(&row, true)?;
        let mut after = before.clone();
        after.service_records.push(pb::ServiceRecord {
            service_time: record.service_time,
            content: record.content.trim().to_owned(),
            result: record.result.trim().to_owned(),
            recorded_by: caller.subject.clone(),
        });
        let today = clock::today(self.clock.as_ref(), self.zone);
        let valid =
            validate::customer("customer", &after, today).map_err(ServiceError::InvalidArgument)?;
        let change = Change {
            actor: &caller.subject,
            at: now,
        };
        let (public, sensitive) = Protection::split(&after);
        let sealed =
            self.protection
                .seal(id, &sensitive, &valid.phone_numbers, valid.id_card.as_ref());
        let updated = store::update(
            &mut tx,
            id,
            &valid,
            &row.org_unit_id,
            &profile_json(&public)?,
            &sealed,
            change,
        )
        .await?;
        let changed = vec!["service_records".into()];
        self.record_update(&mut tx, &before, &after, &updated, changed, change)
            .await?;
        tx.commit().await?;
        self.cache
            .invalidate(&self.cache_key(id), updated.version)
            .await;
        self.show_one(&caller, "AddServiceRecord", &purpose, &updated)
            .await
    }
}
