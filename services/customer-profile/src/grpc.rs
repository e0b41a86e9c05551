//! The CustomerService gRPC API: converts between wire and domain types,
//! authorises the caller, and runs each call's transaction. Business rules
//! live in `domain`, SQL in `store`.

use chrono::Datelike;
use chrono_tz::Tz;
use patron_kit::auth;
use patron_kit::cache::Cache;
use patron_kit::clock::{self, SharedClock};
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, etag, events, fieldmask, paging, resource_name};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_server::CustomerService;
use patron_vocab::Change;
use patron_vocab::roles::Permission;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::access::{self, AccessControl};
use crate::domain::organisation::Reach;
use crate::protection::Protection;
use crate::read_audit::{ReadAudit, Reveal};
use crate::store::audit as audit_store;
use crate::store::organisation::{self as directory, AssignmentRecord};
use crate::store::{self, CustomerFilter, CustomerRow};
use crate::validate;
use change_audit::audit_changes;
use placement::placement_unit;
use view::{profile_json, purpose};

pub mod audit;
mod change_audit;
pub mod consent;
mod lifecycle;
pub mod organisation;
mod placement;
mod publish;
pub mod transactions;
mod view;

const COLLECTION: &str = "customers";
/// The stream this service's customer events go to.
/// Scope of create request ids in the idempotency table.
const CREATE_SCOPE: &str = "CreateCustomer";

/// The service's state, shared by all calls.
#[derive(Clone)]
pub struct CustomerApi {
    pub pool: PgPool,
    pub cache: Cache,
    pub protection: Protection,
    pub clock: SharedClock,
    pub zone: Tz,
    /// Prefix of archive numbers Patron assigns.
    pub archive_prefix: String,
    /// How long an archive may go without review.
    pub review_period: chrono::Duration,
    pub access: AccessControl,
    /// Where reads in the clear are recorded, in shared commits.
    pub read_audit: ReadAudit,
    /// How many customers a manager carries when their own limit is unset.
    pub manager_limit: u32,
}

impl CustomerApi {
    fn cache_key(&self, id: Uuid) -> String {
        self.cache.key("profile", "v1", &id.to_string())
    }
}

impl CustomerApi {
    /// The start of a change to one archive: the caller's reach, then a
    /// transaction holding the live archive locked, refused when the caller's
    /// etag is stale (the check and the change then see the same version) or
    /// the archive is outside the caller's reach.
    async fn begin_change(
        &self,
        caller: &auth::Caller,
        id: Uuid,
        expected: Option<i64>,
    ) -> Result<
        (
            Reach,
            sqlx::Transaction<'static, sqlx::Postgres>,
            CustomerRow,
        ),
        ServiceError,
    > {
        let reach = self.access.reach(caller).await?;
        let mut tx = self.pool.begin().await?;
        let row = store::lock(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        etag::check(
            expected,
            row.version,
            &resource_name::format(COLLECTION, id),
        )?;
        let unit_path = access::unit_path(&mut tx, &row.org_unit_id).await?;
        access::ensure_covers(caller, &reach, id, &unit_path, &row.account_manager)?;
        Ok((reach, tx, row))
    }
}

fn not_found(id: Uuid) -> ServiceError {
    ServiceError::not_found(resource_name::format(COLLECTION, id))
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl CustomerApi {
    /// What every update of an archive writes in its transaction besides the
    /// row: the change audit (each field before and after) and CustomerUpdated.
    async fn record_update(
        &self,
        tx: &mut sqlx::PgConnection,
        before: &pb::Customer,
        after: &pb::Customer,
        updated: &CustomerRow,
        changed_fields: Vec<String>,
        change: Change<'_>,
    ) -> Result<(), ServiceError> {
        let changes = audit_changes(before, after)?;
        audit_store::record_change(tx, updated.id, change.actor, change.at, "UPDATE", &changes)
            .await?;
        let name = resource_name::format(COLLECTION, updated.id);
        let this_year = change.at.with_timezone(&self.zone).year();
        let event = publish::updated(tx, &name, updated, after, changed_fields, this_year).await?;
        events::enqueue(tx, &name, &event, change.at).await?;
        Ok(())
    }

    /// The unit ids of the subtree rooted at `unit`; INVALID_ARGUMENT naming
    /// `field` when there is no such unit.
    async fn subtree(&self, unit: &str, field: &str) -> Result<Vec<String>, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let found = directory::get_unit(&mut conn, unit).await?.ok_or_else(|| {
            ServiceError::invalid(field, format!("{} does not exist", access::unit_name(unit)))
        })?;
        // One connection at a time: holding this one while the pool is
        // asked for another can starve it.
        drop(conn);
        directory::subtree_ids(&self.pool, &found.path).await
    }
}

#[tonic::async_trait]
impl CustomerService for CustomerApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let request_id = idempotency::parse_request_id("request_id", &req.request_id)?;
        let Some(sent) = &req.customer else {
            return Err(ServiceError::invalid("customer", "is required").into());
        };
        // Output-only facts are the service's to set (AIP-203).
        let mut customer = sent.clone();
        customer.service_records.clear();
        customer.exit = None;
        let today = clock::today(self.clock.as_ref(), self.zone);
        let mut valid = validate::customer("customer", &customer, today)
            .map_err(ServiceError::InvalidArgument)?;
        let requested_unit = match customer.org_unit.as_str() {
            "" => None,
            name => Some(access::parse_unit_name("customer.org_unit", name)?),
        };
        let reach = self.access.reach(&caller).await?;

        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        if let Some(request_id) = request_id {
            let fingerprint = idempotency::fingerprint(&prost::Message::encode_to_vec(&req));
            if let Claim::Replay(existing) =
                idempotency::claim(&mut tx, CREATE_SCOPE, request_id, &fingerprint, id).await?
            {
                tx.rollback().await.map_err(ServiceError::from)?;
                tracing::info!(%request_id, customer = %existing, "replaying an applied create");
                let row = store::get(&self.pool, existing)
                    .await?
                    .ok_or_else(|| not_found(existing))?;
                return Ok(idempotency::replayed(
                    self.show_one(&caller, "CreateCustomer", &purpose, &row)
                        .await?,
                ));
            }
        }
        let unit = placement_unit(&mut tx, requested_unit, &caller.subject).await?;
        let unit_path = access::unit_path(&mut tx, &unit).await?;
        // A manager opening an archive outside their unit's reach takes it on.
        if valid.account_manager.is_empty()
            && !reach.covers(&unit_path, "")
            && reach.manager() == Some(caller.subject.as_str())
        {
            valid.account_manager = caller.subject.clone();
        }
        if !reach.covers(&unit_path, &valid.account_manager) {
            return Err(ServiceError::PermissionDenied(format!(
                "{} may not open archives in {} for {}",
                caller.subject,
                access::unit_name(&unit),
                if valid.account_manager.is_empty() {
                    "no manager".to_owned()
                } else {
                    valid.account_manager.clone()
                }
            ))
            .into());
        }
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        if !valid.account_manager.is_empty() {
            self.take_on(
                &mut tx,
                &reach,
                &valid.account_manager,
                "customer.account_manager",
            )
            .await?;
        }
        let (public, sensitive) = Protection::split(&customer);
        let profile = profile_json(&public)?;
        let row = store::insert(
            &mut tx,
            id,
            &valid,
            &unit,
            &profile,
            &self
                .protection
                .seal(id, &sensitive, &valid.phone_numbers, valid.id_card.as_ref()),
            &self.archive_prefix,
            change,
        )
        .await?;
        if !row.account_manager.is_empty() {
            directory::record_assignment(
                &mut tx,
                &AssignmentRecord {
                    customer_id: id,
                    previous_manager: "",
                    new_manager: &row.account_manager,
                    reason: "named when the archive was opened",
                },
                change,
            )
            .await?;
        }
        let name = resource_name::format(COLLECTION, row.id);
        let stored = self.view(&row, true)?;
        let this_year = change.at.with_timezone(&self.zone).year();
        let event = publish::created(&mut tx, &name, &row, &stored, this_year).await?;
        let changes = audit_changes(&pb::Customer::default(), &stored)?;
        audit_store::record_change(&mut tx, id, &caller.subject, change.at, "CREATE", &changes)
            .await?;
        events::enqueue(&mut tx, &name, &event, change.at).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.access.forget_customer(row.id);
        tracing::info!(customer = %row.id, archive_number = %row.archive_number, "customer created");
        Ok(Response::new(
            self.show_one(&caller, "CreateCustomer", &purpose, &row)
                .await?,
        ))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let purpose = purpose(&request);
        let id = resource_name::parse("name", COLLECTION, &request.get_ref().name)?;
        // Reach is decided from the customer's manager and unit as the store
        // had them within the bound, never from the cached body, which may
        // lag a reassignment.
        self.access.require_customer_recently(&caller, id).await?;
        let (mut customer, outcome) = self
            .cache
            .get_or_load(&self.cache_key(id), || self.load_masked(id))
            .await?;
        // The cache holds the masked view only; the clear values come from
        // the sealed column, for callers allowed to see them.
        if caller.can(Permission::ReadSensitive) {
            let sensitive = self
                .read_audit
                .reveal(Reveal {
                    customer: id,
                    actor: caller.subject.clone(),
                    at: self.clock.now(),
                    purpose,
                    method: "GetCustomer".into(),
                })
                .await?
                .ok_or_else(|| not_found(id))?;
            Protection::merge(&mut customer, sensitive);
        }
        tracing::debug!(customer = %id, ?outcome, "customer read");
        Ok(Response::new(customer))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;

        let mut violations = patron_kit::Violations::new();
        let archive_number = non_empty(&req.archive_number).and_then(|raw| {
            crate::domain::archive_number::ArchiveNumber::parse(&raw)
                .map(|n| n.as_str().to_owned())
                .map_err(|why| violations.add("archive_number", why))
                .ok()
        });
        let phone_index = non_empty(&req.phone).and_then(|raw| {
            crate::domain::contact::PhoneNumber::parse(&raw)
                .map(|p| self.protection.phone_index(p.normalized()))
                .map_err(|why| violations.add("phone", why))
                .ok()
        });
        let id_card_index = non_empty(&req.id_card_number).and_then(|raw| {
            crate::domain::identity_card::IdCardNumber::parse(&raw)
                .map(|c| self.protection.id_card_index(c.as_str()))
                .map_err(|why| violations.add("id_card_number", why))
                .ok()
        });
        let within = non_empty(&req.within).and_then(|raw| {
            access::parse_unit_name("within", &raw)
                .map_err(|e| violations.add("within", e.to_string()))
                .ok()
        });
        violations.into_result()?;
        let within_units = match &within {
            Some(unit) => Some(self.subtree(unit, "within").await?),
            None => None,
        };
        let filter = CustomerFilter {
            archive_number,
            display_name_contains: non_empty(&req.display_name_contains),
            phone_index,
            id_card_index,
            account_manager: non_empty(&req.account_manager),
            within_units,
        };
        let reach = self
            .access
            .list_filter(&self.access.reach(&caller).await?)
            .await?;
        let fingerprint = paging::filter_fingerprint(&[
            filter.archive_number.as_deref().unwrap_or(""),
            filter.display_name_contains.as_deref().unwrap_or(""),
            filter.phone_index.as_deref().unwrap_or(""),
            filter.id_card_index.as_deref().unwrap_or(""),
            filter.account_manager.as_deref().unwrap_or(""),
            within.as_deref().unwrap_or(""),
        ]);
        let after: Option<Uuid> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;

        // One extra row tells whether another page follows.
        let rows = store::list(&self.pool, &filter, &reach, after, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| r.id);
        let customers = self
            .show(
                &caller,
                "ListCustomers",
                &purpose,
                &rows.iter().collect::<Vec<_>>(),
            )
            .await?;
        Ok(Response::new(pb::ListCustomersResponse {
            customers,
            next_page_token,
        }))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let Some(patch) = &req.customer else {
            return Err(ServiceError::invalid("customer", "is required").into());
        };
        let id = resource_name::parse("customer.name", COLLECTION, &patch.name)?;
        let expected = etag::parse("customer.etag", &patch.etag)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();

        let (reach, mut tx, row) = self.begin_change(&caller, id, expected).await?;
        let before = self.view(&row, true)?;
        let merged = fieldmask::apply(&before, patch, &paths, "update_mask")?;
        if merged.account_manager != before.account_manager {
            return Err(ServiceError::invalid(
                "customer.account_manager",
                "changes only through AssignAccountManager, which checks the manager's limit and records why",
            )
            .into());
        }
        let unit = if merged.org_unit == before.org_unit {
            row.org_unit_id.clone()
        } else {
            let unit = access::parse_unit_name("customer.org_unit", &merged.org_unit)?;
            placement_unit(&mut tx, Some(unit.clone()), &caller.subject).await?;
            let unit_path = access::unit_path(&mut tx, &unit).await?;
            if !reach.covers(&unit_path, &row.account_manager) {
                return Err(ServiceError::PermissionDenied(format!(
                    "{} may not move customers to {}",
                    caller.subject,
                    access::unit_name(&unit)
                ))
                .into());
            }
            unit
        };
        let today = clock::today(self.clock.as_ref(), self.zone);
        let valid = validate::customer("customer", &merged, today)
            .map_err(ServiceError::InvalidArgument)?;
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        // Re-sealing on every write also moves the value to the active key.
        let (public, sensitive) = Protection::split(&merged);
        let sealed =
            self.protection
                .seal(id, &sensitive, &valid.phone_numbers, valid.id_card.as_ref());
        let updated = store::update(
            &mut tx,
            id,
            &valid,
            &unit,
            &profile_json(&public)?,
            &sealed,
            change,
        )
        .await?;
        let changed_fields = if paths.is_empty() {
            fieldmask::implied_paths(patch)?
        } else {
            paths
        };
        self.record_update(&mut tx, &before, &merged, &updated, changed_fields, change)
            .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.access.forget_customer(id);
        self.cache
            .invalidate(&self.cache_key(id), updated.version)
            .await;
        tracing::info!(customer = %id, version = updated.version, "customer updated");
        Ok(Response::new(
            self.show_one(&caller, "UpdateCustomer", &purpose, &updated)
                .await?,
        ))
    }

    async fn mark_customer_reviewed(
        &self,
        request: Request<pb::MarkCustomerReviewedRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let id = resource_name::parse("name", COLLECTION, &req.name)?;
        let expected = etag::parse("etag", &req.etag)?;

        let (_, mut tx, row) = self.begin_change(&caller, id, expected).await?;
        let before = self.view(&row, true)?;
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        let reviewed = store::mark_reviewed(&mut tx, id, change).await?;
        let after = self.view(&reviewed, true)?;
        let changed = vec!["last_review_time".into()];
        self.record_update(&mut tx, &before, &after, &reviewed, changed, change)
            .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.cache
            .invalidate(&self.cache_key(id), reviewed.version)
            .await;
        Ok(Response::new(
            self.show_one(&caller, "MarkCustomerReviewed", &purpose, &reviewed)
                .await?,
        ))
    }

    async fn list_customers_due_for_review(
        &self,
        request: Request<pb::ListCustomersDueForReviewRequest>,
    ) -> Result<Response<pb::ListCustomersDueForReviewResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let purpose = purpose(&request);
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let manager = non_empty(&req.account_manager);
        let fingerprint = paging::filter_fingerprint(&["due", manager.as_deref().unwrap_or("")]);
        let after: Option<(chrono::DateTime<chrono::Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let cutoff = crate::domain::review::due_cutoff(self.clock.now(), self.review_period);
        let reach = self
            .access
            .list_filter(&self.access.reach(&caller).await?)
            .await?;
        let rows = store::list_due_for_review(
            &self.pool,
            cutoff,
            manager.as_deref(),
            &reach,
            after,
            limit + 1,
        )
        .await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| {
            (r.last_reviewed_at.unwrap_or(r.created_at), r.id)
        });
        let customers = self
            .show(
                &caller,
                "ListCustomersDueForReview",
                &purpose,
                &rows.iter().collect::<Vec<_>>(),
            )
            .await?;
        Ok(Response::new(pb::ListCustomersDueForReviewResponse {
            customers,
            next_page_token,
        }))
    }

    async fn assign_account_manager(
        &self,
        request: Request<pb::AssignAccountManagerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.assign_manager(request).await?))
    }

    async fn exit_customer(
        &self,
        request: Request<pb::ExitCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.record_exit(request).await?))
    }

    async fn add_service_record(
        &self,
        request: Request<pb::AddServiceRecordRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        Ok(Response::new(self.record_service(request).await?))
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::DeleteCustomers)?;
        let req = request.into_inner();
        let id = resource_name::parse("name", COLLECTION, &req.name)?;
        let expected = etag::parse("etag", &req.etag)?;

        let (_, mut tx, row) = self.begin_change(&caller, id, expected).await?;
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        store::mark_deleted(&mut tx, id, change).await?;
        let no_fields = serde_json::Value::Array(Vec::new());
        audit_store::record_change(
            &mut tx,
            id,
            &caller.subject,
            change.at,
            "DELETE",
            &no_fields,
        )
        .await?;
        let name = resource_name::format(COLLECTION, id);
        let event = pb::CustomerDeleted {
            customer: name.clone(),
            archive_number: row.archive_number,
            version: row.version + 1,
        };
        events::enqueue(&mut tx, &name, &event, change.at).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        self.access.forget_customer(id);
        self.cache
            .invalidate(&self.cache_key(id), event.version)
            .await;
        tracing::info!(customer = %id, "customer deleted");
        Ok(Response::new(()))
    }
}
