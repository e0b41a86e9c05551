//! The ConsentService gRPC API: recording consents and answering "may I
//! contact this customer on this channel for this purpose now?" for the
//! other services. The rules are in `domain::consent`.

use patron_kit::auth;
use patron_kit::clock::SharedClock;
use patron_kit::{ServiceError, Violations, descriptors, resource_name, timestamp};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::consent_service_server::ConsentService;
use patron_vocab::roles::Permission;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::consent::{Channel, ConsentStatus, Purpose, may_contact_customer};
use crate::store;
use crate::store::consents::{self as consents, ConsentRow};

/// The consent API's state.
#[derive(Clone)]
pub struct ConsentApi {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub access: crate::access::AccessControl,
}

fn customer_id(field: &str, name: &str) -> Result<Uuid, ServiceError> {
    resource_name::parse(field, "customers", name)
}

fn to_wire(row: &ConsentRow) -> pb::Consent {
    pb::Consent {
        channel: i32::from(row.channel),
        purpose: i32::from(row.purpose),
        status: i32::from(row.status),
        source: row.source.clone(),
        record_time: Some(timestamp::to_proto(row.recorded_at)),
        recorded_by: row.recorded_by.clone(),
    }
}

/// The channel and purpose of a request, each checked and named when bad.
fn channel_and_purpose(
    prefix: &str,
    channel: i32,
    purpose: i32,
    v: &mut Violations,
) -> Option<(Channel, Purpose)> {
    let channel = Channel::from_code(channel).or_else(|| {
        v.add(
            format!("{prefix}channel"),
            "must be a contact channel such as CONTACT_CHANNEL_EMAIL",
        );
        None
    });
    let purpose = Purpose::from_code(purpose).or_else(|| {
        v.add(
            format!("{prefix}purpose"),
            "must be CONTACT_PURPOSE_SERVICE or CONTACT_PURPOSE_MARKETING",
        );
        None
    });
    channel.zip(purpose)
}

#[tonic::async_trait]
impl ConsentService for ConsentApi {
    async fn record_consent(
        &self,
        request: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let id = customer_id("parent", &req.parent)?;
        self.access.require_customer(&caller, id).await?;
        let Some(consent) = &req.consent else {
            return Err(ServiceError::invalid("consent", "is required").into());
        };
        let mut v = Violations::new();
        channel_and_purpose("consent.", consent.channel, consent.purpose, &mut v);
        if ConsentStatus::from_code(consent.status).is_none() {
            v.add(
                "consent.status",
                "must be OPTED_IN, OPTED_OUT or NOTICE_GIVEN",
            );
        }
        if consent.source.chars().count() > 200 {
            v.add("consent.source", "must be at most 200 characters");
        }
        v.into_result()?;

        let row = ConsentRow {
            channel: consent.channel as i16,
            purpose: consent.purpose as i16,
            status: consent.status as i16,
            source: consent.source.trim().to_owned(),
            recorded_at: self.clock.now(),
            recorded_by: caller.subject.clone(),
        };
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        if !store::lock_live_customer(&mut tx, id).await? {
            return Err(ServiceError::not_found(&req.parent).into());
        }
        consents::record(&mut tx, id, &row).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(to_wire(&row)))
    }

    async fn list_consents(
        &self,
        request: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let id = customer_id("parent", &request.get_ref().parent)?;
        self.access.require_customer(&caller, id).await?;
        if store::get(&self.pool, id).await?.is_none() {
            return Err(ServiceError::not_found(&request.get_ref().parent).into());
        }
        let rows = consents::current(&self.pool, id).await?;
        Ok(Response::new(pb::ListConsentsResponse {
            consents: rows.iter().map(to_wire).collect(),
        }))
    }

    async fn check_contact_permission(
        &self,
        request: Request<pb::CheckContactPermissionRequest>,
    ) -> Result<Response<pb::ContactPermission>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let id = customer_id("customer", &req.customer)?;
        self.access.require_customer(&caller, id).await?;
        let mut v = Violations::new();
        let asked = channel_and_purpose("", req.channel, req.purpose, &mut v);
        v.into_result()?;
        let Some((channel, purpose)) = asked else {
            return Err(ServiceError::invalid("channel", "is required").into());
        };
        let row = store::get(&self.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(&req.customer))?;
        let archive: pb::Customer = descriptors::from_json(&row.profile)?;
        let declines = archive
            .soft_facts
            .is_some_and(|s| s.promotion_acceptance == pb::PromotionAcceptance::Declines as i32);
        let consent = consents::current(&self.pool, id)
            .await?
            .into_iter()
            .find(|c| i32::from(c.channel) == req.channel && i32::from(c.purpose) == req.purpose)
            .and_then(|c| ConsentStatus::from_code(i32::from(c.status)));
        let decision =
            may_contact_customer(channel, purpose, consent, declines, row.exited_at.is_some());
        Ok(Response::new(pb::ContactPermission {
            allowed: decision.allowed,
            reason: decision.reason,
        }))
    }
}
