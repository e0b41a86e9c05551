//! The lock order (store's documentation) against a real PostgreSQL: work
//! that used to take the same locks in opposite orders, and deadlock, now
//! queues. Each test sets up the interleaving that deadlocked before.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Duration;
use patron_kit::clock::Clock;
use patron_kit::events::EventHandler;
use patron_kit::timestamp;
use patron_proto::common::v1::{EventEnvelope, Money};
use patron_proto::profile::v1::{TransactionKind, TransactionRecorded};
use patron_tiering::profile_events::ProfileEvents;
use patron_tiering::{store, sweep};
use prost::{Message, Name};
use uuid::Uuid;

mod common;

use common::{Fixture, fixture};

impl Fixture {
    fn purchase(&self, customer: Uuid) -> EventEnvelope {
        let event = TransactionRecorded {
            customer: format!("customers/{customer}"),
            transaction: format!("customers/{customer}/transactions/{}", Uuid::now_v7()),
            kind: TransactionKind::Purchase as i32,
            occur_time: Some(timestamp::to_proto(self.clock.now())),
            amount: Some(Money {
                currency_code: "CNY".into(),
                amount_minor: 10_000,
            }),
            ..Default::default()
        };
        EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: TransactionRecorded::full_name(),
            payload: event.encode_to_vec(),
            ..Default::default()
        }
    }

    fn replica(&self) -> ProfileEvents {
        ProfileEvents::new(self.engine.clone(), chrono_tz::Asia::Shanghai)
    }

    /// Whether some session waits for an advisory lock in this database.
    async fn someone_waits_for_a_customer(&self) -> bool {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                             WHERE datname = current_database()
                               AND wait_event_type = 'Lock' AND wait_event = 'advisory')",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn two_consumers_applying_the_same_customers_in_opposite_orders_queue() {
    let f = fixture().await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let (a, b) = (f.replica(), f.replica());
    let mut ta = f.pool.begin().await.unwrap();
    let mut tb = f.pool.begin().await.unwrap();
    let (mut batch_a, mut batch_b) = (a.begin(), b.begin());
    // Replica a reads the first customer's event, replica b the second's...
    a.handle(&mut batch_a, &mut ta, &f.purchase(first))
        .await
        .unwrap();
    b.handle(&mut batch_b, &mut tb, &f.purchase(second))
        .await
        .unwrap();
    // ...then each the other's: in stream order, each held a row the other
    // wanted next.
    let (ea, eb) = (f.purchase(second), f.purchase(first));
    let (ra, rb) = tokio::join!(
        async {
            a.handle(&mut batch_a, &mut ta, &ea).await?;
            a.finish(batch_a, &mut ta).await?;
            ta.commit().await?;
            anyhow::Ok(())
        },
        async {
            b.handle(&mut batch_b, &mut tb, &eb).await?;
            b.finish(batch_b, &mut tb).await?;
            tb.commit().await?;
            anyhow::Ok(())
        }
    );
    ra.unwrap();
    rb.unwrap();
    let purchases: Vec<i64> = sqlx::query_scalar(
        "SELECT sum(purchases)::bigint FROM daily_figures
          WHERE customer_id = ANY($1) GROUP BY customer_id",
    )
    .bind([first, second])
    .fetch_all(&f.pool)
    .await
    .unwrap();
    assert_eq!(purchases, [2, 2]);
}

#[tokio::test]
async fn the_sweep_never_waits_for_a_customer_someone_is_deciding() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    let replica = f.replica();
    let mut tx = f.pool.begin().await.unwrap();
    let mut batch = replica.begin();
    replica
        .handle(&mut batch, &mut tx, &f.purchase(customer))
        .await
        .unwrap();
    replica.finish(batch, &mut tx).await.unwrap();
    tx.commit().await.unwrap();
    f.clock.advance(Duration::days(1));

    // A consumer holds the customer's lock and is about to write their
    // assignment; the sweep claims the assignment row meanwhile.
    let mut consumer = f.pool.begin().await.unwrap();
    store::lock_customers(&mut consumer, &[customer])
        .await
        .unwrap();
    let swept = AtomicBool::new(false);
    let mut cursor = sweep::SweepCursor::default();
    let (sweeping, writing) = tokio::join!(
        async {
            let n = sweep::run_batch(&f.pool, &f.engine, 10, &mut cursor).await;
            swept.store(true, Ordering::SeqCst);
            n
        },
        async {
            // Before the order was kept, the sweep would now wait for the
            // customer's lock while holding the row the consumer writes next.
            while !swept.load(Ordering::SeqCst) && !f.someone_waits_for_a_customer().await {
                tokio::task::yield_now().await;
            }
            sqlx::query("UPDATE assignments SET version = version WHERE customer_id = $1")
                .bind(customer)
                .execute(&mut *consumer)
                .await?;
            consumer.commit().await
        }
    );
    writing.unwrap();
    assert_eq!(sweeping.unwrap(), 0, "the busy customer is left for later");
    // The replica's walk has passed the customer; back at the start, the
    // next batch takes it.
    assert_eq!(
        sweep::run_batch(&f.pool, &f.engine, 10, &mut cursor)
            .await
            .unwrap(),
        1
    );
}
