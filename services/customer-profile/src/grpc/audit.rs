//! The AuditService gRPC API: the change and access trails, listed per
//! customer and per staff member, never altered.

use patron_kit::auth::{self, Permission};
use patron_kit::{ServiceError, paging, resource_name, timestamp};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::audit_service_server::AuditService;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::audit as store;

/// The audit API's state.
#[derive(Clone)]
pub struct AuditApi {
    pub pool: PgPool,
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
        auth::caller(&request)?.require(Permission::ReadAudit)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let (customer, actor, fingerprint) = narrowing(&req.customer, &req.actor)?;
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
        auth::caller(&request)?.require(Permission::ReadAudit)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let (customer, actor, fingerprint) = narrowing(&req.customer, &req.actor)?;
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
