//! The PointsService gRPC API: membership cards and their points.

use chrono::NaiveDate;
use patron_kit::auth::{self, Caller};
use patron_kit::{ServiceError, Violations, clock, idempotency, paging, resource_name, timestamp};
use patron_proto::tiering::v1 as pb;
use patron_proto::tiering::v1::points_service_server::PointsService;
use patron_vocab::Change;
use patron_vocab::roles::Permission;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::access;
use crate::domain::points_rules::{self, PointsRule};
use crate::engine::Engine;
use crate::ledger::{self, date, require_live};
use crate::store as tiers;
use crate::store::cards::{
    self as store, CardRow, EntryRow, HeldLot, ISSUED, LOST, REGISTERED, RENEWED,
};

/// The API's state.
#[derive(Clone)]
pub struct PointsApi {
    pub pool: PgPool,
    /// The clock, the company's zone and the active policy (its cards rule).
    pub engine: Engine,
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

/// What a card in use holds: the account's balance and its lots.
#[derive(Default)]
struct Holding {
    balance: i64,
    lots: Vec<HeldLot>,
}

/// What `card` holds on `today`. The points belong to the customer's
/// account, and only a card in use (issued or registered) holds them: a
/// lost, renewed or void one holds none (they are on its replacement).
async fn holding(
    conn: &mut PgConnection,
    card: &CardRow,
    today: NaiveDate,
) -> Result<Holding, ServiceError> {
    if card.status != ISSUED && card.status != REGISTERED {
        return Ok(Holding::default());
    }
    Ok(Holding {
        balance: store::balance(conn, card.account).await?,
        lots: store::held_lots(conn, card.account, today).await?,
    })
}

/// A card as the caller sees it, with what it holds.
fn card_view(card: &CardRow, holding: Holding, today: NaiveDate) -> pb::Card {
    let as_rules_read: Vec<points_rules::Lot> = holding
        .lots
        .iter()
        .map(|l| (0, l.remaining, l.expires_on))
        .collect();
    let next_expiry =
        points_rules::next_expiry(&as_rules_read, today).map(|(day, points)| pb::PointsLot {
            earned_on: holding
                .lots
                .iter()
                .filter(|l| l.expires_on == day)
                .map(|l| l.earned_on)
                .min()
                .map(date),
            expires_on: Some(date(day)),
            points,
        });
    pb::Card {
        lots: holding
            .lots
            .iter()
            .map(|l| pb::PointsLot {
                earned_on: Some(date(l.earned_on)),
                expires_on: Some(date(l.expires_on)),
                points: l.remaining,
            })
            .collect(),
        next_expiry,
        name: format!("cards/{}", card.number),
        customer: resource_name::format("customers", card.customer_id),
        status: i32::from(card.status),
        issue_time: Some(timestamp::to_proto(card.issued_at)),
        register_by: Some(date(card.register_by)),
        valid_through: Some(date(card.valid_through)),
        formal_vip: card.status == REGISTERED,
        points_balance: holding.balance,
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
        expires_on: entry.expires_on.map(date),
    }
}

/// A request id that makes a retry harmless: required, a UUID.
fn required_request_id(violations: &mut Violations, text: &str) -> Option<Uuid> {
    match idempotency::parse_request_id("request_id", text) {
        Ok(Some(id)) => Some(id),
        Ok(None) => {
            violations.add(
                "request_id",
                "is required, so a retry applies nothing twice",
            );
            None
        }
        Err(_) => {
            violations.add("request_id", "must be a UUID");
            None
        }
    }
}

impl PointsApi {
    fn today(&self) -> NaiveDate {
        clock::today(self.engine.clock.as_ref(), self.engine.zone)
    }

    fn change<'a>(&self, caller: &'a Caller) -> Change<'a> {
        Change {
            actor: &caller.subject,
            at: self.engine.clock.now(),
        }
    }

    /// The card `name` (a field of the request called `field`), when the
    /// caller reaches its holder.
    async fn load(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        field: &str,
        name: &str,
    ) -> Result<CardRow, ServiceError> {
        let number = card_number(field, name)?;
        let card = store::card(conn, &number)
            .await?
            .ok_or_else(|| ServiceError::not_found(name))?;
        // A card outside reach is as missing as one that never existed, and
        // names nothing of its customer.
        access::require_customer(&self.engine.reach, conn, caller, card.customer_id)
            .await
            .map_err(|e| match e {
                ServiceError::NotFound(_) => ServiceError::not_found(name),
                other => other,
            })?;
        Ok(card)
    }

    /// Checks the request id (with the request's other `violations`), then
    /// adds or takes `points` on the card as `reason` in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn change_points(
        &self,
        caller: &Caller,
        card: &str,
        points: i64,
        reason: &str,
        note: &str,
        request_id: &str,
        mut violations: Violations,
    ) -> Result<EntryRow, ServiceError> {
        let request_id = required_request_id(&mut violations, request_id);
        violations.into_result()?;
        let Some(request_id) = request_id else {
            return Err(ServiceError::invalid("request_id", "is required"));
        };
        let mut tx = self.pool.begin().await?;
        let card = self.load(&mut tx, caller, "card", card).await?;
        let request = ledger::PointsRequest {
            reason,
            note,
            request_id,
        };
        let (today, change) = (self.today(), self.change(caller));
        match ledger::apply_request(&mut tx, &card, points, request, today, change).await {
            Ok(entry) => {
                tx.commit().await?;
                Ok(entry)
            }
            Err(refused) => {
                // Rolled back before the answer, so the account's lock is
                // free when the caller hears of the refusal (a dropped
                // transaction is rolled back a moment later, in the pool).
                tx.rollback().await?;
                Err(refused)
            }
        }
    }

    /// The active scheme's cards rule; FAILED_PRECONDITION when it has no cards.
    async fn cards_rule(&self, conn: &mut PgConnection) -> Result<PointsRule, ServiceError> {
        let Some((row, policy)) = self.engine.active(conn).await? else {
            return Err(ServiceError::FailedPrecondition(
                "no tier policy is active yet".into(),
            ));
        };
        policy.points.clone().ok_or_else(|| {
            ServiceError::FailedPrecondition(format!(
                "the active policy {} v{} issues no membership cards (it has no [tiering.points])",
                row.id, row.version
            ))
        })
    }
}

#[tonic::async_trait]
impl PointsService for PointsApi {
    async fn issue_card(
        &self,
        request: Request<pb::IssueCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.get_ref();
        let customer = resource_name::parse("customer", "customers", &req.customer)?;
        if !req.card_number.is_empty() {
            check_number(&req.card_number)
                .map_err(|why| ServiceError::invalid("card_number", why))?;
        }
        let now = self.engine.clock.now();
        let today = self.today();
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        access::require_customer(&self.engine.reach, &mut tx, &caller, customer).await?;
        let rule = self.cards_rule(&mut tx).await?;
        // 003 第六条: the card is issued once the customer qualifies.
        let tier = tiers::assignment(&mut tx, customer)
            .await?
            .and_then(|a| a.tier);
        if tier.is_none() {
            return Err(ServiceError::FailedPrecondition(format!(
                "customers/{customer} holds no tier yet: a card is issued once the customer qualifies"
            ))
            .into());
        }
        let number = store::number_or_next(&mut tx, &req.card_number).await?;
        let card = store::insert_card(
            &mut tx,
            &CardRow {
                number,
                account: Uuid::now_v7(),
                customer_id: customer,
                status: ISSUED,
                issued_at: now,
                register_by: rule.register_by(today),
                registered_at: None,
                replaced_by: None,
                valid_through: rule.valid_through(today),
            },
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(card_view(&card, Holding::default(), today)))
    }

    async fn get_card(
        &self,
        request: Request<pb::GetCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let card = self
            .load(&mut conn, &caller, "name", &request.get_ref().name)
            .await?;
        let today = self.today();
        let holding = holding(&mut conn, &card, today).await?;
        Ok(Response::new(card_view(&card, holding, today)))
    }

    async fn register_card(
        &self,
        request: Request<pb::RegisterCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let card = self
            .load(&mut tx, &caller, "name", &request.get_ref().name)
            .await?;
        let today = self.today();
        require_live(&card)?;
        let card = match card.status {
            REGISTERED => card,
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
                    Some(self.engine.clock.now()),
                    None,
                )
                .await?
            }
        };
        let holding = holding(&mut tx, &card, today).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(card_view(&card, holding, today)))
    }

    async fn report_card_lost(
        &self,
        request: Request<pb::ReportCardLostRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.get_ref();
        if !req.replacement_number.is_empty() {
            check_number(&req.replacement_number)
                .map_err(|why| ServiceError::invalid("replacement_number", why))?;
        }
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let lost = self.load(&mut tx, &caller, "name", &req.name).await?;
        require_live(&lost)?;
        let replacement = ledger::succeed(
            &mut tx,
            &lost,
            LOST,
            &req.replacement_number,
            self.engine.clock.now(),
            lost.valid_through,
        )
        .await?;
        let today = self.today();
        let holding = holding(&mut tx, &replacement, today).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(card_view(&replacement, holding, today)))
    }

    async fn redeem_points(
        &self,
        request: Request<pb::RedeemPointsRequest>,
    ) -> Result<Response<pb::PointsEntry>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.get_ref();
        let mut violations = Violations::new();
        if req.points <= 0 {
            violations.add("points", "must be positive");
        }
        let reward = req.reward.trim();
        if reward.is_empty() || reward.chars().count() > 200 {
            violations.add("reward", "is required (at most 200 characters)");
        }
        let entry = self
            .change_points(
                &caller,
                &req.card,
                -req.points,
                "redeemed",
                reward,
                &req.request_id,
                violations,
            )
            .await?;
        Ok(Response::new(entry_view(&entry)))
    }

    async fn renew_card(
        &self,
        request: Request<pb::RenewCardRequest>,
    ) -> Result<Response<pb::Card>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.get_ref();
        if !req.new_number.is_empty() {
            check_number(&req.new_number)
                .map_err(|why| ServiceError::invalid("new_number", why))?;
        }
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let old = self.load(&mut tx, &caller, "name", &req.name).await?;
        require_live(&old)?;
        let rule = self.cards_rule(&mut tx).await?;
        let today = self.today();
        if !rule.may_renew(old.valid_through, today) {
            return Err(ServiceError::FailedPrecondition(format!(
                "card {} is valid through {}; it can be renewed from {} to {}",
                old.number,
                old.valid_through,
                rule.renewal_opens(old.valid_through),
                old.valid_through
            ))
            .into());
        }
        // The new card is the coming year's.
        let renewed = ledger::succeed(
            &mut tx,
            &old,
            RENEWED,
            &req.new_number,
            self.engine.clock.now(),
            rule.valid_through(today),
        )
        .await?;
        let holding = holding(&mut tx, &renewed, today).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        tracing::info!(old = %old.number, new = %renewed.number, "card renewed");
        Ok(Response::new(card_view(&renewed, holding, today)))
    }

    async fn adjust_points(
        &self,
        request: Request<pb::AdjustPointsRequest>,
    ) -> Result<Response<pb::PointsEntry>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AdjustPoints)?;
        let req = request.get_ref();
        let mut violations = Violations::new();
        if req.points == 0 {
            violations.add("points", "must not be zero: positive adds, negative takes");
        } else if req.points.unsigned_abs() > 100_000_000 {
            violations.add("points", "must be at most 100,000,000 either way");
        }
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            violations.add(
                "reason",
                "is required: an adjustment says why (at most 500 characters)",
            );
        }
        let entry = self
            .change_points(
                &caller,
                &req.card,
                req.points,
                "adjusted",
                reason,
                &req.request_id,
                violations,
            )
            .await?;
        tracing::info!(card = %req.card, points = req.points, by = %caller.subject, "points adjusted");
        Ok(Response::new(entry_view(&entry)))
    }

    async fn list_points_entries(
        &self,
        request: Request<pb::ListPointsEntriesRequest>,
    ) -> Result<Response<pb::ListPointsEntriesResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.get_ref();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let card = self.load(&mut conn, &caller, "card", &req.card).await?;
        let fingerprint = paging::filter_fingerprint(&[&req.card]);
        let before: Option<i64> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::entries(&mut conn, card.account, before, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| r.id);
        Ok(Response::new(pb::ListPointsEntriesResponse {
            points_entries: rows.iter().map(entry_view).collect(),
            next_page_token,
        }))
    }
}
