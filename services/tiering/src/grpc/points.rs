//! The PointsService gRPC API: membership cards and their points.

use chrono::Duration;
use patron_kit::auth::{self, Permission};
use patron_kit::clock::{self, SharedClock};
use patron_kit::{ServiceError, idempotency, paging, resource_name, timestamp};
use patron_proto::common::v1::Date;
use patron_proto::tiering::v1 as pb;
use patron_proto::tiering::v1::points_service_server::PointsService;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::points;
use crate::store::Change;
use crate::store::points::{self as store, CardRow, EntryRow, ISSUED, LOST, REGISTERED};

/// 003 第七条: registration within 30 days of issue gives formal VIP status.
const REGISTRATION_DAYS: i64 = 30;

/// The API's state.
#[derive(Clone)]
pub struct PointsApi {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub zone: chrono_tz::Tz,
}

fn card_number(field: &str, name: &str) -> Result<String, ServiceError> {
    name.strip_prefix("cards/")
        .filter(|n| check_number(n).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            ServiceError::invalid(field, "must be a card name of the form cards/{number}")
        })
}

/// 4–32 ASCII letters and digits.
fn check_number(number: &str) -> Result<(), &'static str> {
    if (4..=32).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("must be 4 to 32 letters and digits")
    }
}

fn card_view(card: &CardRow, balance: i64) -> pb::Card {
    use chrono::Datelike;
    pb::Card {
        name: format!("cards/{}", card.number),
        customer: resource_name::format("customers", card.customer_id),
        status: i32::from(card.status),
        issue_time: Some(timestamp::to_proto(card.issued_at)),
        register_by: Some(Date {
            year: card.register_by.year(),
            month: card.register_by.month() as i32,
            day: card.register_by.day() as i32,
        }),
        formal_vip: card.status == REGISTERED,
        points_balance: balance,
        replaced_by: card
            .replaced_by
            .as_deref()
            .map(|n| format!("cards/{n}"))
            .unwrap_or_default(),
    }
}

fn entry_view(entry: &EntryRow) -> pb::PointsEntry {
    pb::PointsEntry {
        points: entry.points,
        reason: entry.reason.clone(),
        reference: entry.reference.clone(),
        create_time: Some(timestamp::to_proto(entry.created_at)),
        actor: entry.actor.clone(),
        balance_after: entry.balance_after,
        note: entry.note.clone(),
    }
}

impl PointsApi {
    async fn load(
        &self,
        conn: &mut sqlx::PgConnection,
        name: &str,
    ) -> Result<CardRow, ServiceError> {
        let number = card_number("name", name)?;
        store::card(conn, &number)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("card {name}")))
    }
}

#[tonic::async_trait]
impl PointsService for PointsApi {
    async fn issue_card(
        &self,
        request: Request<pb::IssueCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        auth::caller(&request)?.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let customer = resource_name::parse("customer", "customers", &req.customer)?;
        if !req.card_number.is_empty() {
            check_number(&req.card_number)
                .map_err(|why| ServiceError::invalid("card_number", why))?;
        }
        let now = self.clock.now();
        let today = clock::today(self.clock.as_ref(), self.zone);
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let number = match req.card_number.as_str() {
            "" => store::next_number(&mut tx).await?,
            given => given.to_owned(),
        };
        let card = store::insert_card(
            &mut tx,
            &CardRow {
                number,
                account: Uuid::now_v7(),
                customer_id: customer,
                status: ISSUED,
                issued_at: now,
                register_by: today + Duration::days(REGISTRATION_DAYS),
                registered_at: None,
                replaced_by: None,
            },
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(card_view(&card, 0)))
    }

    async fn get_card(
        &self,
        request: Request<pb::GetCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let card = self.load(&mut conn, &request.get_ref().name).await?;
        let balance = store::balance(&mut conn, card.account).await?;
        Ok(Response::new(card_view(&card, balance)))
    }

    async fn register_card(
        &self,
        request: Request<pb::RegisterCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        auth::caller(&request)?.require(Permission::EditCustomers)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let card = self.load(&mut tx, &request.get_ref().name).await?;
        let today = clock::today(self.clock.as_ref(), self.zone);
        let card = match card.status {
            REGISTERED => card,
            LOST => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "card {} was reported lost",
                    card.number
                ))
                .into());
            }
            _ if today > card.register_by => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "registration closed on {}: card {} stays a discount card without formal VIP status",
                    card.register_by, card.number
                ))
                .into());
            }
            _ => {
                store::set_status(
                    &mut tx,
                    &card.number,
                    REGISTERED,
                    Some(self.clock.now()),
                    None,
                )
                .await?
            }
        };
        let balance = store::balance(&mut tx, card.account).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(card_view(&card, balance)))
    }

    async fn report_card_lost(
        &self,
        request: Request<pb::ReportCardLostRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        auth::caller(&request)?.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        if !req.replacement_number.is_empty() {
            check_number(&req.replacement_number)
                .map_err(|why| ServiceError::invalid("replacement_number", why))?;
        }
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let lost = self.load(&mut tx, &req.name).await?;
        if lost.status == LOST {
            return Err(ServiceError::FailedPrecondition(format!(
                "card {} was already reported lost",
                lost.number
            ))
            .into());
        }
        store::lock_account(&mut tx, lost.account).await?;
        let number = match req.replacement_number.as_str() {
            "" => store::next_number(&mut tx).await?,
            given => given.to_owned(),
        };
        store::set_status(&mut tx, &lost.number, LOST, None, Some(&number)).await?;
        // The replacement keeps the account, so the points follow the holder.
        let replacement = store::insert_card(
            &mut tx,
            &CardRow {
                number,
                issued_at: self.clock.now(),
                replaced_by: None,
                ..lost.clone()
            },
        )
        .await?;
        let balance = store::balance(&mut tx, replacement.account).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(card_view(&replacement, balance)))
    }

    async fn redeem_points(
        &self,
        request: Request<pb::RedeemPointsRequest>,
    ) -> Result<Response<pb::PointsEntry>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let mut violations = patron_kit::Violations::new();
        if req.points <= 0 {
            violations.add("points", "must be positive");
        }
        let reward = req.reward.trim();
        if reward.is_empty() || reward.chars().count() > 200 {
            violations.add("reward", "is required (at most 200 characters)");
        }
        let request_id = match idempotency::parse_request_id("request_id", &req.request_id) {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                violations.add("request_id", "is required, so a retry spends nothing twice");
                None
            }
            Err(_) => {
                violations.add("request_id", "must be a UUID");
                None
            }
        };
        violations.into_result()?;
        let Some(request_id) = request_id else {
            return Err(ServiceError::invalid("request_id", "is required").into());
        };
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let number = card_number("card", &req.card)?;
        let card = store::card(&mut tx, &number)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("card {}", req.card)))?;
        let today = clock::today(self.clock.as_ref(), self.zone);
        let change = Change {
            actor: &caller.subject,
            at: self.clock.now(),
        };
        let entry = points::redeem(
            &mut tx, &card, req.points, reward, request_id, today, change,
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(entry_view(&entry)))
    }

    async fn list_points_entries(
        &self,
        request: Request<pb::ListPointsEntriesRequest>,
    ) -> Result<Response<pb::ListPointsEntriesResponse>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let number = card_number("card", &req.card)?;
        let card = store::card(&mut conn, &number)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("card {}", req.card)))?;
        let fingerprint = paging::filter_fingerprint(&[&req.card]);
        let before: Option<i64> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::entries(&self.pool, card.account, before, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| r.id);
        Ok(Response::new(pb::ListPointsEntriesResponse {
            points_entries: rows.iter().map(entry_view).collect(),
            next_page_token,
        }))
    }
}
