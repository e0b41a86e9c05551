//! The daily sweep against a real PostgreSQL, with a clock the test moves:
//! windows move past old purchases, reviews apply downgrades, and two
//! replicas sweeping at once evaluate each customer once.

use chrono::Duration;
use patron_kit::clock::Clock;
use patron_kit::events::EventHandler;
use patron_kit::timestamp;
use patron_proto::common::v1::{EventEnvelope, Money};
use patron_proto::profile::v1::{CustomerExited, ExitKind, TransactionKind, TransactionRecorded};
use patron_tiering::profile_events::ProfileEvents;
use patron_tiering::{store, sweep};
use prost::{Message, Name};
use uuid::Uuid;

mod common;

use common::{Fixture, fixture};

impl Fixture {
    /// Applies a purchase as the event consumer would.
    async fn purchase(&self, customer: Uuid, yuan: i64) {
        let event = TransactionRecorded {
            customer: format!("customers/{customer}"),
            kind: TransactionKind::Purchase as i32,
            occur_time: Some(timestamp::to_proto(self.clock.now())),
            amount: Some(Money {
                currency_code: "CNY".into(),
                amount_minor: yuan * 100,
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
        let handler = ProfileEvents::new(self.engine.clone(), chrono_tz::Asia::Shanghai);
        let mut tx = self.pool.begin().await.unwrap();
        let mut batch = handler.begin();
        handler
            .handle(&mut batch, &mut tx, &envelope)
            .await
            .unwrap();
        handler.finish(batch, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// Applies the customer's exit from the programme as the consumer would.
    async fn exit(&self, customer: Uuid) {
        let event = CustomerExited {
            customer: format!("customers/{customer}"),
            kind: ExitKind::Voluntary as i32,
            reason: "moving abroad".into(),
            version: 2,
            ..Default::default()
        };
        self.apply(EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: CustomerExited::full_name(),
            customer: event.customer.clone(),
            occurred_at: Some(timestamp::to_proto(self.clock.now())),
            payload: event.encode_to_vec(),
            ..Default::default()
        })
        .await;
    }

    async fn apply(&self, envelope: EventEnvelope) {
        let handler = ProfileEvents::new(self.engine.clone(), chrono_tz::Asia::Shanghai);
        let mut tx = self.pool.begin().await.unwrap();
        let mut batch = handler.begin();
        handler
            .handle(&mut batch, &mut tx, &envelope)
            .await
            .unwrap();
        handler.finish(batch, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn tier(&self, customer: Uuid) -> (Option<String>, Option<String>) {
        let mut conn = self.pool.acquire().await.unwrap();
        let a = store::assignment(&mut conn, customer)
            .await
            .unwrap()
            .unwrap();
        (a.tier, a.pending_tier)
    }

    async fn sweep_all(&self) -> usize {
        let mut total = 0;
        let mut cursor = sweep::SweepCursor::default();
        loop {
            let n = sweep::run_batch(&self.pool, &self.engine, 50, &mut cursor)
                .await
                .unwrap();
            if n == 0 {
                return total;
            }
            total += n;
        }
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[tokio::test]
async fn old_purchases_leave_the_window_and_the_review_applies_the_downgrade() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    f.purchase(customer, 100).await;
    assert_eq!(f.tier(customer).await, (some("E"), None));
    // A month later a big purchase: A at once, for a full year from now.
    f.clock.advance(Duration::days(31));
    f.purchase(customer, 1_100).await;
    assert_eq!(f.tier(customer).await, (some("A"), None));

    // Seven months on, both purchases still count; nothing changes.
    f.clock.advance(Duration::days(7 * 30));
    assert_eq!(f.sweep_all().await, 1);
    assert_eq!(f.tier(customer).await, (some("A"), None));
    assert_eq!(f.sweep_all().await, 0, "once a day");

    // When the first purchase leaves the twelve-month window the figures
    // earn B, but the health chain waits for the review.
    f.clock.advance(Duration::days(4 * 30 + 20));
    f.sweep_all().await;
    assert_eq!(f.tier(customer).await, (some("A"), some("B")));

    // At the review (a year after the upgrade) the second purchase has
    // left the window too.
    f.clock.advance(Duration::days(31));
    f.sweep_all().await;
    assert_eq!(f.tier(customer).await, (some("E"), None));

    let changes = store::list_changes(&f.pool, customer, None, 10)
        .await
        .unwrap();
    let reasons: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c.reason.as_str(), c.actor.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("review", "review"),
            ("upgrade", "tiering"),
            ("upgrade", "tiering")
        ]
    );
}

#[tokio::test]
async fn two_replicas_sweeping_at_once_evaluate_each_customer_once() {
    let f = fixture().await;
    let customers: Vec<Uuid> = (0..60).map(|_| Uuid::now_v7()).collect();
    for (i, c) in customers.iter().enumerate() {
        f.purchase(*c, 100 * (i as i64 % 15)).await;
    }
    f.clock.advance(Duration::days(1));
    let (a, b) = tokio::join!(
        async {
            let (mut n, mut cursor) = (0, sweep::SweepCursor::default());
            while let k @ 1.. = sweep::run_batch(&f.pool, &f.engine, 7, &mut cursor)
                .await
                .unwrap()
            {
                n += k;
            }
            n
        },
        async {
            let (mut n, mut cursor) = (0, sweep::SweepCursor::default());
            while let k @ 1.. = sweep::run_batch(&f.pool, &f.engine, 7, &mut cursor)
                .await
                .unwrap()
            {
                n += k;
            }
            n
        }
    );
    assert_eq!(a + b, customers.len(), "shared: {a} + {b}");
    let stale: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments WHERE decided_at < $1")
        .bind(f.clock.now() - Duration::hours(1))
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(stale, 0);
}

#[tokio::test]
async fn a_customer_that_cannot_be_decided_is_set_aside_and_the_rest_move_on() {
    let f = fixture().await;
    let customers: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    for c in &customers {
        f.purchase(*c, 300).await;
    }
    // One customer's figures cannot be summed: two days that together pass
    // what a bigint holds (as an overflowed amount once made them).
    let poison = customers[5];
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    sqlx::query(
        "INSERT INTO daily_figures (customer_id, day, spend_minor, purchases)
         VALUES ($1, $2, $3, 1), ($1, $4, $3, 1)
         ON CONFLICT (customer_id, day) DO UPDATE SET spend_minor = excluded.spend_minor",
    )
    .bind(poison)
    .bind(today)
    .bind(i64::MAX)
    .bind(today - Duration::days(1))
    .execute(&f.pool)
    .await
    .unwrap();
    f.clock.advance(Duration::days(1));

    // One batch holds them all: it fails, and the sweep does not claim the
    // same batch for ever. Everyone else is decided today.
    assert_eq!(f.sweep_all().await, 11);
    let stale: Vec<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM assignments WHERE decided_at < $1")
            .bind(f.clock.now() - Duration::hours(1))
            .fetch_all(&f.pool)
            .await
            .unwrap();
    assert_eq!(stale, [poison]);
    let set_aside = sweep::set_aside_on(&f.pool, today + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0].0, poison);
    assert!(
        set_aside[0].1.contains("out of range"),
        "{}",
        set_aside[0].1
    );
    assert_eq!(f.sweep_all().await, 0, "set aside for the rest of the day");
}

#[tokio::test]
async fn a_customer_who_left_is_never_decided_again_and_the_sweep_passes_them_by() {
    let f = fixture().await;
    let leavers: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for c in &leavers {
        f.purchase(*c, 100).await;
        f.exit(*c).await;
    }
    let staying = Uuid::now_v7();
    f.purchase(staying, 100).await;

    // A purchase from before the exit, recorded late, counts in the figures
    // but moves no tier: the leaver keeps the one they left with.
    f.purchase(leavers[0], 1_100).await;
    assert_eq!(f.tier(leavers[0]).await, (some("E"), None));

    // The next day the sweep claims only who is still a member, though the
    // leavers were decided earlier and a batch has room for two.
    f.clock.advance(Duration::days(1));
    assert_eq!(
        sweep::run_batch(&f.pool, &f.engine, 2, &mut sweep::SweepCursor::default())
            .await
            .unwrap(),
        1,
        "the member is reached"
    );
    assert_eq!(f.sweep_all().await, 0);
    let decided_today: Vec<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM assignments WHERE decided_at >= $1")
            .bind(f.clock.now() - Duration::hours(1))
            .fetch_all(&f.pool)
            .await
            .unwrap();
    assert_eq!(decided_today, [staying]);
    assert_eq!(f.tier(leavers[0]).await, (some("E"), None));
}

#[tokio::test]
async fn the_backlog_counts_who_is_due_until_the_day_is_finished() {
    use patron_kit::metrics::DueWork;
    let f = fixture().await;
    let customers: Vec<Uuid> = (0..9).map(|_| Uuid::now_v7()).collect();
    for c in &customers {
        f.purchase(*c, 100).await;
    }
    f.exit(customers[0]).await;
    let backlog = sweep::SweepBacklog {
        engine: f.engine.clone(),
    };
    assert_eq!(
        backlog.due(&f.pool).await.unwrap().items,
        0,
        "all decided today"
    );

    // The next day everyone who is still a member is due, and the walk in
    // batches of two (leapfrogging a second replica's) reaches them all.
    f.clock.advance(Duration::days(1));
    let due = backlog.due(&f.pool).await.unwrap();
    assert_eq!(due.items, 8, "the leaver is never due");
    let mut cursor = sweep::SweepCursor::default();
    let first = sweep::run_batch(&f.pool, &f.engine, 2, &mut cursor)
        .await
        .unwrap();
    assert_eq!(first, 2);
    assert_eq!(backlog.due(&f.pool).await.unwrap().items, 6);
    let mut other = sweep::SweepCursor::default();
    let mut decided = first;
    loop {
        let a = sweep::run_batch(&f.pool, &f.engine, 2, &mut other)
            .await
            .unwrap();
        let b = sweep::run_batch(&f.pool, &f.engine, 2, &mut cursor)
            .await
            .unwrap();
        decided += a + b;
        if a + b == 0 {
            break;
        }
    }
    assert_eq!(decided, 8);
    let finished: i64 = sqlx::query_scalar("SELECT count(*) FROM sweep_days")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(finished, 1, "the day is marked finished once");
    let due = backlog.due(&f.pool).await.unwrap();
    assert_eq!((due.items, due.oldest), (0, std::time::Duration::ZERO));

    // The next day starts a new walk: everyone again, once.
    f.clock.advance(Duration::days(1));
    assert_eq!(f.sweep_all().await, 8);
    assert_eq!(f.sweep_all().await, 0, "once a day");
}

#[tokio::test]
async fn a_decision_the_sweep_confirms_is_stamped_and_versioned_like_any_other() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    f.purchase(customer, 300).await;
    let mut conn = f.pool.acquire().await.unwrap();
    let before = store::assignment(&mut conn, customer)
        .await
        .unwrap()
        .unwrap();

    // Nothing the rules read has moved by the next day: the same decision,
    // stamped with the day's time and a new version.
    f.clock.advance(Duration::days(1));
    assert_eq!(f.sweep_all().await, 1);
    let after = store::assignment(&mut conn, customer)
        .await
        .unwrap()
        .unwrap();
    assert!(after.same_decision(&before));
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        after.decided_at.timestamp_micros(),
        f.clock.now().timestamp_micros()
    );

    // A purchase moves the tier: written in full.
    f.purchase(customer, 1_100).await;
    let moved = store::assignment(&mut conn, customer)
        .await
        .unwrap()
        .unwrap();
    assert!(!moved.same_decision(&after));
    assert_eq!(moved.tier.as_deref(), Some("A"));
    assert_eq!(moved.version, after.version + 1);
}
