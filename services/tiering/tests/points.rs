//! Cards and points against a real PostgreSQL: awards from transaction
//! events at the policy's rate, redemption soonest-expiring first and never
//! below zero under concurrent requests, registration deadline, a reissued
//! card keeping its points, the 31-December expiry and its warning, renewal
//! in December with unrenewed cards void after it, staff adjustments, and
//! staff reaching only their own customers and their unit's subtree.

use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use patron_kit::auth::{Authenticator, Caller};
use patron_kit::clock::{Clock, ManualClock};
use patron_kit::events::EventHandler;
use patron_kit::testing::{self, TestDatabase};
use patron_kit::timestamp;
use patron_proto::common::v1::{EventEnvelope, Money};
use patron_proto::profile::v1::{TransactionKind, TransactionRecorded};
use patron_proto::tiering::v1 as pb;
use patron_proto::tiering::v1::points_service_server::PointsService;
use patron_tiering::engine::Engine;
use patron_tiering::grpc::points_service::PointsApi;
use patron_tiering::load_preset;
use patron_tiering::profile_events::ProfileEvents;
use patron_vocab::Change;
use prost::{Message, Name};
use sqlx::PgPool;
use tonic::{Code, Request};
use uuid::Uuid;

fn date(year: i32, month: i32, day: i32) -> patron_proto::common::v1::Date {
    patron_proto::common::v1::Date { year, month, day }
}

mod common;

struct Fixture {
    _db: TestDatabase,
    pool: PgPool,
    clock: ManualClock,
    engine: Engine,
    api: PointsApi,
    caller: Caller,
}

async fn fixture() -> Fixture {
    let common::Fixture {
        _db: db,
        pool,
        clock,
        engine,
    } = common::with_preset("retail-store").await;
    let auth = Authenticator::new(&testing::auth_config());
    let token = auth.mint(
        "clerk",
        &["admin".into()],
        Utc::now(),
        StdDuration::from_secs(600),
    );
    let caller = auth.verify(&token).await.unwrap();
    let api = PointsApi {
        pool: pool.clone(),
        engine: engine.clone(),
    };
    Fixture {
        _db: db,
        pool,
        clock,
        engine,
        api,
        caller,
    }
}

impl Fixture {
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.extensions_mut().insert(self.caller.clone());
        request
    }

    async fn issue(&self, customer: Uuid) -> Result<tonic::Response<pb::Card>, tonic::Status> {
        self.api
            .issue_card(self.request(pb::IssueCardRequest {
                customer: format!("customers/{customer}"),
                card_number: String::new(),
            }))
            .await
    }

    /// A card for a customer who qualified with one purchase of 1,000 yuan
    /// (made before the card, so it earns nothing).
    async fn card(&self, customer: Uuid, register: bool) -> pb::Card {
        self.transaction(customer, "qualifying", TransactionKind::Purchase, 100_000)
            .await;
        let card = self.issue(customer).await.unwrap().into_inner();
        if !register {
            return card;
        }
        self.api
            .register_card(self.request(pb::RegisterCardRequest { name: card.name }))
            .await
            .unwrap()
            .into_inner()
    }

    /// A transaction event, applied as the consumer would.
    async fn transaction(&self, customer: Uuid, id: &str, kind: TransactionKind, minor: i64) {
        self.apply_all(&[self.purchase_event(customer, id, kind, minor)])
            .await;
    }

    fn purchase_event(
        &self,
        customer: Uuid,
        id: &str,
        kind: TransactionKind,
        minor: i64,
    ) -> EventEnvelope {
        let event = TransactionRecorded {
            customer: format!("customers/{customer}"),
            transaction: format!("customers/{customer}/transactions/{id}"),
            kind: kind as i32,
            occur_time: Some(timestamp::to_proto(self.clock.now())),
            amount: Some(Money {
                currency_code: "CNY".into(),
                amount_minor: minor,
            }),
            ..Default::default()
        };
        EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: TransactionRecorded::full_name(),
            customer: event.customer.clone(),
            payload: event.encode_to_vec(),
            ..Default::default()
        }
    }

    /// Applies an event as the consumer would.
    async fn apply(&self, envelope: &EventEnvelope) {
        self.apply_all(std::slice::from_ref(envelope)).await;
    }

    /// Applies events in one transaction, as the consumer applies a batch.
    async fn apply_all(&self, envelopes: &[EventEnvelope]) {
        let handler = ProfileEvents::new(self.engine.clone(), chrono_tz::Asia::Shanghai);
        let mut tx = self.pool.begin().await.unwrap();
        let mut batch = handler.begin();
        for envelope in envelopes {
            handler.handle(&mut batch, &mut tx, envelope).await.unwrap();
        }
        handler.finish(batch, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// A request as another staff member with other roles.
    fn request_as<T>(&self, subject: &str, roles: &[&str], message: T) -> Request<T> {
        let auth = Authenticator::new(&testing::auth_config());
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let token = auth.mint(subject, &roles, Utc::now(), StdDuration::from_secs(600));
        let mut request = Request::new(message);
        request
            .extensions_mut()
            // With a shared secret verification never waits on anything.
            .insert(futures::executor::block_on(auth.verify(&token)).unwrap());
        request
    }

    async fn get(&self, card: &str) -> pb::Card {
        self.api
            .get_card(self.request(pb::GetCardRequest { name: card.into() }))
            .await
            .unwrap()
            .into_inner()
    }

    async fn adjust(
        &self,
        card: &str,
        points: i64,
        reason: &str,
        request_id: Uuid,
    ) -> Result<pb::PointsEntry, tonic::Status> {
        self.api
            .adjust_points(self.request(pb::AdjustPointsRequest {
                card: card.into(),
                points,
                reason: reason.into(),
                request_id: request_id.to_string(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn renew(&self, card: &str) -> Result<pb::Card, tonic::Status> {
        self.api
            .renew_card(self.request(pb::RenewCardRequest {
                name: card.into(),
                new_number: String::new(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    /// Moves the clock to noon of a day in the company's zone.
    fn set_day(&self, y: i32, m: u32, d: u32) {
        let noon = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, 12, 0, 0)
            .unwrap();
        self.clock.set(noon.with_timezone(&Utc));
    }

    /// The PointsExpiring events in the outbox.
    async fn expiry_warnings(&self) -> Vec<pb::PointsExpiring> {
        let envelopes: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT envelope FROM outbox WHERE topic = 'tiering.points' ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap();
        envelopes
            .iter()
            .map(|bytes| {
                let envelope = EventEnvelope::decode(bytes.as_slice()).unwrap();
                assert_eq!(envelope.event_type, pb::PointsExpiring::full_name());
                pb::PointsExpiring::decode(envelope.payload.as_slice()).unwrap()
            })
            .collect()
    }

    async fn balance(&self, card: &str) -> i64 {
        self.api
            .get_card(self.request(pb::GetCardRequest { name: card.into() }))
            .await
            .unwrap()
            .into_inner()
            .points_balance
    }

    async fn redeem(
        &self,
        card: &str,
        points: i64,
        request_id: Uuid,
    ) -> Result<pb::PointsEntry, tonic::Status> {
        self.api
            .redeem_points(self.request(pb::RedeemPointsRequest {
                card: card.into(),
                points,
                reward: "tea set".into(),
                request_id: request_id.to_string(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    /// (sum of the ledger, sum of what the lots hold): always equal.
    async fn books(&self) -> (i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT COALESCE(sum(points), 0)::bigint FROM point_entries),
                    (SELECT COALESCE(sum(remaining), 0)::bigint FROM point_lots)",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn points_are_earned_taken_back_and_redeemed_never_below_zero() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    assert!(card.formal_vip);

    f.transaction(customer, "t1", TransactionKind::Purchase, 128_050)
        .await;
    assert_eq!(
        f.balance(&card.name).await,
        1_280,
        "one point per whole yuan paid"
    );
    // A redelivered award changes nothing (one entry per transaction).
    f.transaction(customer, "t1", TransactionKind::Purchase, 128_050)
        .await;
    assert_eq!(f.balance(&card.name).await, 1_280);
    f.transaction(customer, "r1", TransactionKind::Refund, 30_000)
        .await;
    assert_eq!(f.balance(&card.name).await, 980);

    let first = Uuid::now_v7();
    let spent = f.redeem(&card.name, 500, first).await.unwrap();
    assert_eq!(
        (spent.points, spent.balance_after, spent.note.as_str()),
        (-500, 480, "tea set")
    );
    let again = f.redeem(&card.name, 500, first).await.unwrap();
    assert_eq!(again.balance_after, 480, "a retry spends nothing twice");
    let err = f.redeem(&card.name, 481, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("the card has 480"),
        "{}",
        err.message()
    );

    // Ten redemptions of 100 at once: four fit.
    let attempts = (0..10).map(|_| f.redeem(&card.name, 100, Uuid::now_v7()));
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
    assert_eq!(f.balance(&card.name).await, 80);
    assert_eq!(
        f.books().await,
        (80, 80),
        "the balance is the ledger's sum and the lots agree"
    );
    let mut conn = f.pool.acquire().await.unwrap();
    let tier = patron_tiering::store::assignment(&mut conn, customer)
        .await
        .unwrap()
        .and_then(|a| a.tier);
    assert_eq!(
        tier.as_deref(),
        Some("VIP"),
        "tiers follow what was paid, never the points balance"
    );

    let entries = f
        .api
        .list_points_entries(f.request(pb::ListPointsEntriesRequest {
            card: card.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .points_entries;
    let reasons: Vec<&str> = entries.iter().rev().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons[..3], ["earned", "reversed", "redeemed"]);
    assert!(entries.iter().all(|e| e.balance_after >= 0));
}

#[tokio::test]
async fn an_unregistered_card_is_a_discount_card_and_registration_closes_after_30_days() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, false).await;
    assert!(!card.formal_vip);
    f.transaction(customer, "t1", TransactionKind::Purchase, 50_000)
        .await;
    assert_eq!(
        f.balance(&card.name).await,
        0,
        "no points before registration"
    );
    let err = f.redeem(&card.name, 1, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    f.clock.advance(Duration::days(31));
    let err = f
        .api
        .register_card(f.request(pb::RegisterCardRequest {
            name: card.name.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("discount card"), "{}", err.message());

    let err = f.issue(customer).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::AlreadyExists,
        "one live card per customer"
    );
}

#[tokio::test]
async fn a_reissued_card_keeps_its_points_until_they_expire_on_31_december() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    f.transaction(customer, "t1", TransactionKind::Purchase, 20_000)
        .await;

    let replacement = f
        .api
        .report_card_lost(f.request(pb::ReportCardLostRequest {
            name: card.name.clone(),
            replacement_number: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(replacement.name, card.name);
    assert_eq!(replacement.points_balance, 200);
    assert!(replacement.formal_vip);
    // The points say when they lapse: earned on 2 March, valid through the
    // end of the year.
    let lot = pb::PointsLot {
        earned_on: Some(date(2026, 3, 2)),
        expires_on: Some(date(2026, 12, 31)),
        points: 200,
    };
    assert_eq!(replacement.lots, [lot]);
    assert_eq!(replacement.next_expiry, Some(lot));
    let lost = f
        .api
        .get_card(f.request(pb::GetCardRequest {
            name: card.name.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lost.status, pb::CardStatus::Lost as i32);
    assert_eq!(lost.replaced_by, replacement.name);
    assert_eq!(lost.points_balance, 0, "the points are on the replacement");
    assert!(lost.lots.is_empty() && lost.next_expiry.is_none());
    let err = f.redeem(&card.name, 10, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "a lost card spends nothing"
    );

    let change = Change {
        actor: "review",
        at: f.clock.now(),
    };
    let new_year = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
    assert_eq!(
        patron_tiering::ledger::expire(&f.pool, new_year, change)
            .await
            .unwrap(),
        0,
        "valid through 31 December"
    );
    let next_year = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    assert_eq!(
        patron_tiering::ledger::expire(&f.pool, next_year, change)
            .await
            .unwrap(),
        1
    );
    assert_eq!(f.balance(&replacement.name).await, 0);
    assert_eq!(f.books().await, (0, 0));
    let entries = f
        .api
        .list_points_entries(f.request(pb::ListPointsEntriesRequest {
            card: replacement.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .points_entries;
    let read: Vec<(&str, i64, Option<patron_proto::common::v1::Date>, &str)> = entries
        .iter()
        .map(|e| (e.reason.as_str(), e.points, e.expires_on, e.note.as_str()))
        .collect();
    assert_eq!(
        read,
        [
            (
                "expired",
                -200,
                Some(date(2026, 12, 31)),
                "200 points valid through 2026-12-31 expired"
            ),
            ("earned", 200, Some(date(2026, 12, 31)), ""),
        ]
    );
    assert_eq!(
        entries[0].reference,
        "valid through 2026-12-31, expired on 2027-01-01"
    );
    let emptied = f.get(&replacement.name).await;
    assert!(emptied.lots.is_empty() && emptied.next_expiry.is_none());
}

#[tokio::test]
async fn a_card_is_issued_only_to_a_customer_who_qualified() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let err = f.issue(customer).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("holds no tier"), "{}", err.message());
    let card = f.card(customer, false).await;
    assert_eq!(
        card.register_by.unwrap().day,
        1,
        "2 March + 30 days = 1 April"
    );
    assert_eq!(card.valid_through, Some(date(2026, 12, 31)));
}

#[tokio::test]
async fn cards_are_renewed_in_december_and_unrenewed_cards_are_void_after_it() {
    let f = fixture().await;
    let renewer = Uuid::now_v7();
    let forgetful = Uuid::now_v7();
    let card = f.card(renewer, true).await;
    let other = f.card(forgetful, true).await;
    f.transaction(renewer, "t1", TransactionKind::Purchase, 50_000)
        .await;

    let err = f.renew(&card.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("from 2026-12-01 to 2026-12-31"),
        "{}",
        err.message()
    );

    f.set_day(2026, 12, 5);
    let renewed = f.renew(&card.name).await.unwrap();
    assert_ne!(renewed.name, card.name);
    assert_eq!(renewed.valid_through.as_ref().unwrap().year, 2027);
    assert!(renewed.formal_vip, "registration carries over");
    assert_eq!(renewed.points_balance, 500, "the points follow the holder");
    let old = f.get(&card.name).await;
    assert_eq!(old.status, pb::CardStatus::Renewed as i32);
    assert_eq!(old.replaced_by, renewed.name);
    let err = f.renew(&card.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "renewed once");
    assert!(err.message().contains(&renewed.name), "{}", err.message());

    // After December the card nobody renewed is void; the renewed one works.
    f.set_day(2027, 1, 1);
    patron_tiering::ledger::daily_upkeep(&f.pool, &f.engine)
        .await
        .unwrap();
    assert_eq!(f.get(&other.name).await.status, pb::CardStatus::Void as i32);
    assert_eq!(
        f.get(&renewed.name).await.status,
        pb::CardStatus::Registered as i32
    );
    let err = f.redeem(&other.name, 1, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("void"), "{}", err.message());
    f.transaction(forgetful, "t2", TransactionKind::Purchase, 10_000)
        .await;
    assert_eq!(f.balance(&other.name).await, 0, "a void card earns nothing");
    f.transaction(renewer, "t3", TransactionKind::Purchase, 10_000)
        .await;
    assert_eq!(
        f.balance(&renewed.name).await,
        100,
        "last year's 500 expired on 31 December; this year's purchase earns"
    );
    // The holder of the void card may be issued a new one.
    let fresh = f.issue(forgetful).await;
    assert!(fresh.is_ok(), "{fresh:?}");
}

#[tokio::test]
async fn points_about_to_expire_are_warned_of_once_the_policys_days_ahead() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    f.transaction(customer, "t1", TransactionKind::Purchase, 30_000)
        .await;

    f.set_day(2026, 11, 30);
    patron_tiering::ledger::daily_upkeep(&f.pool, &f.engine)
        .await
        .unwrap();
    assert!(
        f.expiry_warnings().await.is_empty(),
        "31 days ahead: not yet"
    );

    f.set_day(2026, 12, 1);
    patron_tiering::ledger::daily_upkeep(&f.pool, &f.engine)
        .await
        .unwrap();
    f.set_day(2026, 12, 2);
    patron_tiering::ledger::daily_upkeep(&f.pool, &f.engine)
        .await
        .unwrap();
    let warnings = f.expiry_warnings().await;
    assert_eq!(warnings.len(), 1, "once per card and expiry day");
    assert_eq!(warnings[0].card, card.name);
    assert_eq!(warnings[0].customer, format!("customers/{customer}"));
    assert_eq!(warnings[0].points, 300);
    assert_eq!(warnings[0].expires_on, Some(date(2026, 12, 31)));
}

#[tokio::test]
async fn staff_adjust_points_with_a_reason_and_never_below_zero() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    let goodwill = Uuid::now_v7();
    let added = f
        .adjust(&card.name, 50, "goodwill after a late delivery", goodwill)
        .await
        .unwrap();
    assert_eq!(
        (added.points, added.reason.as_str(), added.balance_after),
        (50, "adjusted", 50)
    );
    assert_eq!(added.note, "goodwill after a late delivery");
    assert_eq!(added.actor, "clerk");
    let again = f
        .adjust(&card.name, 50, "goodwill after a late delivery", goodwill)
        .await
        .unwrap();
    assert_eq!(again.balance_after, 50, "a retry adds nothing twice");

    let err = f
        .adjust(&card.name, -51, "correction", Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let taken = f
        .adjust(&card.name, -20, "correction", Uuid::now_v7())
        .await
        .unwrap();
    assert_eq!(taken.balance_after, 30);
    assert_eq!(f.books().await, (30, 30));

    let err = f
        .adjust(&card.name, 0, " ", Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let message = err.message();
    assert!(
        message.contains("points") && message.contains("reason"),
        "{message}"
    );

    let err = f
        .api
        .adjust_points(f.request_as(
            "li.na",
            &["account_manager"],
            pb::AdjustPointsRequest {
                card: card.name.clone(),
                points: 5,
                reason: "why not".into(),
                request_id: Uuid::now_v7().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_points_rate_is_the_policys() {
    let f = fixture().await;
    let doubled = patron_tiering::presets::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "retail-store")
        .unwrap()
        .1
        .replace("per_yuan = 1", "per_yuan = 2");
    let path = std::env::temp_dir().join(format!("retail-doubled-{}.toml", Uuid::now_v7()));
    std::fs::write(&path, doubled).unwrap();
    load_preset(&f.pool, &path, &f.engine).await.unwrap();
    std::fs::remove_file(&path).unwrap();

    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    f.transaction(customer, "t1", TransactionKind::Purchase, 12_345)
        .await;
    assert_eq!(f.balance(&card.name).await, 246, "2 points per whole yuan");
}

#[tokio::test]
async fn staff_reach_their_own_customers_and_their_units_subtree_only() {
    use patron_proto::profile::v1::{CustomerCreated, StaffMemberPlaced};

    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    let event = |event_type: String, payload: Vec<u8>| EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type,
        payload,
        ..Default::default()
    };
    let created = CustomerCreated {
        customer: format!("customers/{customer}"),
        account_manager: "li.na".into(),
        org_unit: "orgUnits/sh".into(),
        org_unit_path: vec!["company".into(), "east".into(), "sh".into()],
        version: 1,
        ..Default::default()
    };
    f.apply(&event(
        CustomerCreated::full_name(),
        created.encode_to_vec(),
    ))
    .await;
    for (staff, unit) in [("zhao", "east"), ("qian", "west")] {
        let placed = StaffMemberPlaced {
            staff_member: format!("staff/{staff}"),
            org_unit: format!("orgUnits/{unit}"),
            removed: false,
            version: 1,
            org_unit_path: vec!["company".into(), unit.into()],
        };
        f.apply(&event(
            StaffMemberPlaced::full_name(),
            placed.encode_to_vec(),
        ))
        .await;
    }
    let get = |staff: &str, roles: &[&str]| {
        f.api.get_card(f.request_as(
            staff,
            roles,
            pb::GetCardRequest {
                name: card.name.clone(),
            },
        ))
    };
    assert!(
        get("li.na", &["account_manager"]).await.is_ok(),
        "their own"
    );
    let code = |r: Result<tonic::Response<pb::Card>, tonic::Status>| r.unwrap_err().code();
    assert_eq!(
        code(get("zhao", &["account_manager"]).await),
        Code::NotFound,
        "another manager's customer"
    );
    assert!(
        get("zhao", &["supervisor"]).await.is_ok(),
        "east's supervisor reaches east/sh"
    );
    assert_eq!(
        code(get("qian", &["supervisor"]).await),
        Code::NotFound,
        "west's does not"
    );
    assert_eq!(
        code(get("sun", &["viewer"]).await),
        Code::NotFound,
        "not in the directory: reaches nothing"
    );

    // Moving to the west, zhao's reach moves with him; an older placement
    // arriving late changes nothing; leaving the directory ends it.
    let placed = |unit: &str, removed: bool, version: i64| StaffMemberPlaced {
        staff_member: "staff/zhao".into(),
        org_unit: if removed {
            String::new()
        } else {
            format!("orgUnits/{unit}")
        },
        removed,
        version,
        org_unit_path: if removed {
            Vec::new()
        } else {
            vec!["company".into(), unit.into()]
        },
    };
    f.apply(&event(
        StaffMemberPlaced::full_name(),
        placed("west", false, 3).encode_to_vec(),
    ))
    .await;
    f.apply(&event(
        StaffMemberPlaced::full_name(),
        placed("east", false, 2).encode_to_vec(),
    ))
    .await;
    assert_eq!(code(get("zhao", &["supervisor"]).await), Code::NotFound);
    f.apply(&event(
        StaffMemberPlaced::full_name(),
        placed("east", false, 4).encode_to_vec(),
    ))
    .await;
    assert!(get("zhao", &["supervisor"]).await.is_ok());
    f.apply(&event(
        StaffMemberPlaced::full_name(),
        placed("", true, 5).encode_to_vec(),
    ))
    .await;
    assert_eq!(code(get("zhao", &["supervisor"]).await), Code::NotFound);
}

#[tokio::test]
async fn archive_facts_from_profile_keep_the_newest_version() {
    use patron_kit::directory::store as customer_facts;
    use patron_proto::common::v1::Date;
    use patron_proto::profile::v1::{CustomerCreated, CustomerUpdated, ManagerReassigned};

    let f = fixture().await;
    let customer = Uuid::now_v7();
    let name = format!("customers/{customer}");
    let envelope = |event_type: String, payload: Vec<u8>| EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type,
        customer: name.clone(),
        payload,
        ..Default::default()
    };
    let birthday = |month, day| {
        Some(Date {
            year: 0,
            month,
            day,
        })
    };
    let created = CustomerCreated {
        customer: name.clone(),
        account_manager: "a".into(),
        birthday: birthday(3, 8),
        org_unit: "orgUnits/east".into(),
        version: 1,
        ..Default::default()
    };
    let updated = |version, manager: &str, month, day| CustomerUpdated {
        customer: name.clone(),
        account_manager: manager.into(),
        birthday: birthday(month, day),
        org_unit: "orgUnits/east".into(),
        version,
        ..Default::default()
    };
    let reassigned = |version, manager: &str| ManagerReassigned {
        customer: name.clone(),
        account_manager: manager.into(),
        version,
        ..Default::default()
    };
    f.apply(&envelope(
        CustomerCreated::full_name(),
        created.encode_to_vec(),
    ))
    .await;
    f.apply(&envelope(
        CustomerUpdated::full_name(),
        updated(3, "b", 4, 1).encode_to_vec(),
    ))
    .await;
    // Older events arriving late change nothing.
    f.apply(&envelope(
        ManagerReassigned::full_name(),
        reassigned(2, "c").encode_to_vec(),
    ))
    .await;
    f.apply(&envelope(
        CustomerUpdated::full_name(),
        updated(2, "c", 5, 5).encode_to_vec(),
    ))
    .await;
    let mut conn = f.pool.acquire().await.unwrap();
    let facts = customer_facts::customer(&mut conn, customer).await.unwrap();
    assert_eq!(facts.account_manager, "b");
    assert_eq!(facts.birthday(), Some((4, 1)));
    assert_eq!(facts.org_unit, "orgUnits/east");

    f.apply(&envelope(
        ManagerReassigned::full_name(),
        reassigned(4, "").encode_to_vec(),
    ))
    .await;
    let facts = customer_facts::customer(&mut conn, customer).await.unwrap();
    assert_eq!(facts.account_manager, "", "released");
    assert_eq!(facts.birthday(), Some((4, 1)));
}

#[tokio::test]
async fn a_customer_who_leaves_loses_their_card() {
    use patron_proto::profile::v1::{CustomerExited, ExitKind};

    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    let exited = CustomerExited {
        customer: format!("customers/{customer}"),
        kind: ExitKind::RevokedForBreach as i32,
        reason: "fraudulent returns".into(),
        version: 3,
        ..Default::default()
    };
    f.apply(&EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: CustomerExited::full_name(),
        customer: exited.customer.clone(),
        payload: exited.encode_to_vec(),
        ..Default::default()
    })
    .await;
    assert_eq!(f.get(&card.name).await.status, pb::CardStatus::Void as i32);
    let err = f.redeem(&card.name, 1, Uuid::now_v7()).await.unwrap_err();
    assert!(err.message().contains("holder left"), "{}", err.message());
}

#[tokio::test]
async fn a_batch_of_events_re_decides_each_customer_once() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let purchase = TransactionKind::Purchase;
    let batch: Vec<EventEnvelope> = (1..=3)
        .map(|i| f.purchase_event(customer, &format!("t{i}"), purchase, 40_000))
        .collect();
    f.apply_all(&batch).await;
    let mut conn = f.pool.acquire().await.unwrap();
    let assignment = patron_tiering::store::assignment(&mut conn, customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(assignment.tier, None, "1,200 yuan: not yet a VIP");
    assert_eq!(assignment.version, 1, "decided once for the three events");
    let batch: Vec<EventEnvelope> = (4..=5)
        .map(|i| f.purchase_event(customer, &format!("t{i}"), purchase, 40_000))
        .collect();
    f.apply_all(&batch).await;
    let assignment = patron_tiering::store::assignment(&mut conn, customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        assignment.tier.as_deref(),
        Some("VIP"),
        "2,000 in six months"
    );
    assert_eq!(assignment.version, 2);
    let changes = patron_tiering::store::list_changes(&f.pool, customer, None, 10)
        .await
        .unwrap();
    assert_eq!(
        changes.len(),
        1,
        "one change for the batch that made the difference"
    );

    // Listed twice, a customer is still decided once.
    let active = f.engine.active(&mut conn).await.unwrap().unwrap();
    let mut tx = f.pool.begin().await.unwrap();
    let twice = [
        (customer, patron_tiering::engine::Occasion::Figures),
        (customer, patron_tiering::engine::Occasion::Review),
    ];
    let decided = f
        .engine
        .reevaluate_many(&mut tx, &active, &twice, "test")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].version, 3);
}

#[tokio::test]
async fn an_abandoned_transaction_leaves_nothing_to_re_decide() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let handler = ProfileEvents::new(f.engine.clone(), chrono_tz::Asia::Shanghai);
    let event = f.purchase_event(customer, "t1", TransactionKind::Purchase, 150_000);
    let mut tx = f.pool.begin().await.unwrap();
    let mut abandoned = handler.begin();
    handler
        .handle(&mut abandoned, &mut tx, &event)
        .await
        .unwrap();
    // Rolled back: the batch goes with its transaction.
    drop(abandoned);
    tx.rollback().await.unwrap();

    let mut tx = f.pool.begin().await.unwrap();
    handler.finish(handler.begin(), &mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let mut conn = f.pool.acquire().await.unwrap();
    assert!(
        patron_tiering::store::assignment(&mut conn, customer)
            .await
            .unwrap()
            .is_none(),
        "the rolled-back batch's customer is not decided by the next one"
    );
}

#[tokio::test]
async fn a_redemption_that_read_the_card_before_its_loss_spends_nothing() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let card = f.card(customer, true).await;
    f.transaction(customer, "t1", TransactionKind::Purchase, 20_000)
        .await;
    let number = card.name.trim_start_matches("cards/").to_owned();
    // A redemption reads the card (live, registered)…
    let mut conn = f.pool.acquire().await.unwrap();
    let read = patron_tiering::store::cards::card(&mut conn, &number)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    // …then the loss commits before it takes the account's lock.
    f.api
        .report_card_lost(f.request(pb::ReportCardLostRequest {
            name: card.name.clone(),
            replacement_number: String::new(),
        }))
        .await
        .unwrap();
    let mut tx = f.pool.begin().await.unwrap();
    let refused = patron_tiering::ledger::redeem(
        &mut tx,
        &read,
        100,
        "tea set",
        Uuid::now_v7(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        Change {
            actor: "clerk",
            at: f.clock.now(),
        },
    )
    .await
    .unwrap_err();
    tx.rollback().await.unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");
    assert!(refused.to_string().contains("reported lost"), "{refused}");
    // A loss that raced another loss is refused the same way.
    let mut tx = f.pool.begin().await.unwrap();
    let again = patron_tiering::ledger::succeed(
        &mut tx,
        &read,
        patron_tiering::store::cards::LOST,
        "",
        f.clock.now(),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    )
    .await
    .unwrap_err();
    tx.rollback().await.unwrap();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again}");
    // No point was spent: the ledger and the lots still hold all 200.
    assert_eq!(f.books().await, (200, 200));
}

/// 003's "one purchase of 1,000 actually paid": a refund that names its
/// purchase lowers what that purchase counts for; one that names none
/// lowers the spend only.
#[tokio::test]
async fn a_refund_naming_its_purchase_lowers_the_largest_purchase() {
    let f = fixture().await;
    let refund_of = |customer: Uuid, id: &str, purchase: &str, minor: i64| {
        let mut envelope = f.purchase_event(customer, id, TransactionKind::Refund, minor);
        let mut event = TransactionRecorded::decode(envelope.payload.as_slice()).unwrap();
        event.refunded_transaction = format!("customers/{customer}/transactions/{purchase}");
        envelope.payload = event.encode_to_vec();
        envelope
    };
    let decided = |customer: Uuid| {
        let pool = f.pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            patron_tiering::store::assignment(&mut conn, customer)
                .await
                .unwrap()
                .unwrap()
        }
    };

    // Purchase and refund in one batch: 1,200 paid, 300 back, 900 counts.
    let together = Uuid::now_v7();
    f.apply_all(&[
        f.purchase_event(together, "p1", TransactionKind::Purchase, 120_000),
        refund_of(together, "r1", "p1", 30_000),
    ])
    .await;
    let a = decided(together).await;
    assert_eq!(a.tier, None, "{}", a.explanation);
    assert!(a.explanation.contains("(has 900.00)"), "{}", a.explanation);

    // Apart: the purchase places the customer at once; the refund leaves
    // the tier to the review (downgrades wait), and the figures say 900.
    let apart = Uuid::now_v7();
    f.transaction(apart, "p2", TransactionKind::Purchase, 120_000)
        .await;
    assert_eq!(decided(apart).await.tier.as_deref(), Some("VIP"));
    f.apply(&refund_of(apart, "r2", "p2", 30_000)).await;
    let a = decided(apart).await;
    assert_eq!(a.tier.as_deref(), Some("VIP"));
    assert!(a.explanation.contains("(has 900.00)"), "{}", a.explanation);

    // A refund that names no purchase lowers the spend, not the purchase.
    let unnamed = Uuid::now_v7();
    f.apply_all(&[
        f.purchase_event(unnamed, "p3", TransactionKind::Purchase, 120_000),
        f.purchase_event(unnamed, "r3", TransactionKind::Refund, 30_000),
    ])
    .await;
    let a = decided(unnamed).await;
    assert_eq!(a.tier.as_deref(), Some("VIP"), "{}", a.explanation);
    assert!(a.explanation.contains("1200.00"), "{}", a.explanation);
}
