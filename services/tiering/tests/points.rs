//! Cards and points against a real PostgreSQL: awards from transaction
//! events, redemption soonest-expiring first and never below zero under
//! concurrent requests, registration deadline, a reissued card keeping its
//! points, and the 31-December expiry.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use patron_kit::auth::{Authenticator, Caller};
use patron_kit::clock::{Clock, ManualClock};
use patron_kit::events::EventHandler;
use patron_kit::testing::{self, TestDatabase};
use patron_kit::{db, events, timestamp};
use patron_proto::common::v1::{EventEnvelope, Money};
use patron_proto::profile::v1::{TransactionKind, TransactionRecorded};
use patron_proto::tiering::v1 as pb;
use patron_proto::tiering::v1::points_service_server::PointsService;
use patron_tiering::engine::Engine;
use patron_tiering::grpc::points::PointsApi;
use patron_tiering::profile_events::ProfileEvents;
use patron_tiering::store::Change;
use patron_tiering::{MIGRATOR, SCHEMA, load_preset};
use prost::{Message, Name};
use sqlx::PgPool;
use tonic::{Code, Request};
use uuid::Uuid;

struct Fixture {
    _db: TestDatabase,
    pool: PgPool,
    clock: ManualClock,
    engine: Engine,
    api: PointsApi,
    caller: Caller,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db.service_config(SCHEMA)).unwrap();
    db::migrate(&pool, &MIGRATOR).await.unwrap();
    events::install(&pool).await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap());
    let engine = Engine::new(Arc::new(clock.clone()), chrono_tz::Asia::Shanghai);
    load_preset(&pool, std::path::Path::new("retail-store"), &engine)
        .await
        .unwrap();
    let auth = Authenticator::new(&testing::auth_config());
    let token = auth.mint(
        "clerk",
        &["admin".into()],
        Utc::now(),
        StdDuration::from_secs(600),
    );
    let caller = auth.verify(&token).unwrap();
    let api = PointsApi {
        pool: pool.clone(),
        clock: Arc::new(clock.clone()),
        zone: chrono_tz::Asia::Shanghai,
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

    async fn card(&self, customer: Uuid, register: bool) -> pb::Card {
        let card = self
            .api
            .issue_card(self.request(pb::IssueCardRequest {
                customer: format!("customers/{customer}"),
                card_number: String::new(),
            }))
            .await
            .unwrap()
            .into_inner();
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
        let envelope = EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: TransactionRecorded::full_name(),
            customer: event.customer.clone(),
            payload: event.encode_to_vec(),
            ..Default::default()
        };
        let handler = ProfileEvents {
            engine: self.engine.clone(),
            zone: chrono_tz::Asia::Shanghai,
        };
        let mut tx = self.pool.begin().await.unwrap();
        handler.handle(&mut tx, &envelope).await.unwrap();
        tx.commit().await.unwrap();
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

    let err = f
        .api
        .issue_card(f.request(pb::IssueCardRequest {
            customer: format!("customers/{customer}"),
            card_number: String::new(),
        }))
        .await
        .unwrap_err();
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
        patron_tiering::points::expire(&f.pool, new_year, change)
            .await
            .unwrap(),
        0,
        "valid through 31 December"
    );
    let next_year = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    assert_eq!(
        patron_tiering::points::expire(&f.pool, next_year, change)
            .await
            .unwrap(),
        1
    );
    assert_eq!(f.balance(&replacement.name).await, 0);
    assert_eq!(f.books().await, (0, 0));
}
