//! The AuditService gRPC API: the change and access trails, listed per
//! customer and per staff member, never altered.

use patron_kit::auth::{self, Caller};
use patron_kit::{ServiceError, paging, resource_name, timestamp};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::audit_service_server::AuditService;
use patron_vocab::roles::Permission;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::access::AccessControl;
use crate::domain::organisation::{COMPANY_UNIT, Reach};
use crate::store::audit as store;
use crate::store::organisation as directory;

/// The audit API's state.
#[derive(Clone)]
pub struct AuditApi {
    pub pool: PgPool,
    pub access: AccessControl,
}

impl AuditApi {
    /// Checks a list's narrowing against the caller's reach: a customer they
    /// reach, or a staff member of their units (or themselves). Only callers
    /// with company-wide reach (admins, and staff of the company unit) may
    /// list the whole trail.
    async fn authorise(
        &self,
        caller: &Caller,
        customer: Option<Uuid>,
        actor: Option<&str>,
    ) -> Result<(), ServiceError> {
        if let Some(id) = customer {
            return self.access.require_customer_record(caller, id).await;
        }
        let reach = self.access.reach(caller).await?;
        if reach == Reach::Company || reach.covers_unit(&[COMPANY_UNIT]) {
            return Ok(());
        }
        let Some(actor) = actor else {
            return Err(ServiceError::PermissionDenied(format!(
                "{} may list the audit trail only of a customer or staff member within their unit",
                caller.subject
            )));
        };
        let mut conn = self.pool.acquire().await?;
        let staff_unit_path = match directory::get_staff(&mut conn, actor).await? {
            Some(s) => Some(directory::unit_path(&mut conn, &s.org_unit_id).await?),
            None => None,
        };
        if actor == caller.subject || staff_unit_path.is_some_and(|path| reach.covers_unit(&path)) {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(format!(
                "{actor} does not work within {}'s unit",
                caller.subject
            )))
        }
    }
}

/// The customer and actor a list is narrowed by, and its fingerprint.
fn narrowing(
    customer: &str,
    actor: &str,
) -> Result<(Option<Uuid>, Option<String>, String), ServiceError> {
    let id = if customer.is_empty() {
        None
    } else {
        Some(resource_name::parse("customer", "customers", customer)?)
    };
    let actor = (!actor.trim().is_empty()).then(|| actor.trim().to_owned());
    let fingerprint = paging::filter_fingerprint(&[customer, actor.as_deref().unwrap_or("")]);
    Ok((id, actor, fingerprint))
}

fn text(value: Option<&serde_json::Value>) -> String {
    value
        .filter(|v| !v.is_null())
        .map(|v| v.to_string())
        .unwrap_or_default()
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_change_records(
        &self,
        request: Request<pb::ListChangeRecordsRequest>,
    ) -> Result<Response<pb::ListChangeRecordsResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadAudit)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let (customer, actor, fingerprint) = narrowing(&req.customer, &req.actor)?;
        self.authorise(&caller, customer, actor.as_deref()).await?;
        let before: Option<i64> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows =
            store::list_changes(&self.pool, customer, actor.as_deref(), before, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| r.id);
        let change_records = rows
            .iter()
            .map(|r| pb::ChangeRecord {
                customer: resource_name::format("customers", r.customer_id),
                actor: r.actor.clone(),
                change_time: Some(timestamp::to_proto(r.changed_at)),
                action: r.action.clone(),
                changes: r
                    .changes
                    .as_array()
                    .map(|changes| {
                        changes
                            .iter()
                            .map(|c| pb::FieldChange {
                                field: c["field"].as_str().unwrap_or_default().to_owned(),
                                before: text(c.get("before")),
                                after: text(c.get("after")),
                                sensitive: c["sensitive"].as_bool().unwrap_or(false),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::ListChangeRecordsResponse {
            change_records,
            next_page_token,
        }))
    }

    async fn list_access_records(
        &self,
        request: Request<pb::ListAccessRecordsRequest>,
    ) -> Result<Response<pb::ListAccessRecordsResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadAudit)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let (customer, actor, fingerprint) = narrowing(&req.customer, &req.actor)?;
        self.authorise(&caller, customer, actor.as_deref()).await?;
        let before: Option<i64> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows =
            store::list_access(&self.pool, customer, actor.as_deref(), before, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| r.id);
        let access_records = rows
            .into_iter()
            .map(|r| pb::AccessRecord {
                customer: resource_name::format("customers", r.customer_id),
                actor: r.actor,
                access_time: Some(timestamp::to_proto(r.accessed_at)),
                fields: r.fields,
                purpose: r.purpose,
                method: r.method,
            })
            .collect();
        Ok(Response::new(pb::ListAccessRecordsResponse {
            access_records,
            next_page_token,
        }))
    }
}
