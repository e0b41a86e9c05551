//! Profile's deletions against a real PostgreSQL: a deleted archive leaves
//! the sweep, the rankings and the lists, and a late transaction does not
//! bring it back; a staff member's removal stays as a tombstone, so an older
//! placement arriving late grants no reach again.

use chrono::Duration;
use patron_kit::clock::Clock;
use patron_kit::directory::store as customer_facts;
use patron_kit::events::EventHandler;
use patron_kit::timestamp;
use patron_proto::common::v1::{EventEnvelope, Money};
use patron_proto::profile::v1::{
    CustomerDeleted, StaffMemberPlaced, TransactionKind, TransactionRecorded,
};
use patron_tiering::profile_events::ProfileEvents;
use patron_tiering::store::{self, Visibility};
use patron_tiering::sweep;
use prost::{Message, Name};
use uuid::Uuid;

mod common;

use common::{Fixture, fixture};

fn envelope<M: Message + Name>(message: &M) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: M::full_name(),
        payload: message.encode_to_vec(),
        ..Default::default()
    }
}

impl Fixture {
    async fn apply(&self, envelope: &EventEnvelope) {
        let handler = ProfileEvents::new(self.engine.clone(), chrono_tz::Asia::Shanghai);
        let mut tx = self.pool.begin().await.unwrap();
        let mut batch = handler.begin();
        handler.handle(&mut batch, &mut tx, envelope).await.unwrap();
        handler.finish(batch, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn purchase(&self, customer: Uuid, yuan: i64) {
        self.apply(&envelope(&TransactionRecorded {
            customer: format!("customers/{customer}"),
            transaction: format!("customers/{customer}/transactions/{}", Uuid::now_v7()),
            kind: TransactionKind::Purchase as i32,
            occur_time: Some(timestamp::to_proto(self.clock.now())),
            amount: Some(Money {
                currency_code: "CNY".into(),
                amount_minor: yuan * 100,
            }),
            ..Default::default()
        }))
        .await;
    }

    /// Customers in the company-wide spend ranking.
    async fn ranked(&self) -> Vec<Uuid> {
        let mut conn = self.pool.acquire().await.unwrap();
        let today = self.clock.now().date_naive();
        store::rank_by_spend(&mut conn, &company(), None, today, 100, 100)
            .await
            .unwrap()
            .top
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }

    async fn assigned(&self, customer: Uuid) -> bool {
        let mut conn = self.pool.acquire().await.unwrap();
        store::assignment(&mut conn, customer)
            .await
            .unwrap()
            .is_some()
    }
}

fn company() -> Visibility {
    Visibility {
        company: true,
        ..Visibility::default()
    }
}

#[tokio::test]
async fn a_deleted_archive_leaves_the_sweep_rankings_and_lists() {
    let f = fixture().await;
    let (kept, deleted) = (Uuid::now_v7(), Uuid::now_v7());
    for c in [kept, deleted] {
        f.purchase(c, 50_000).await;
    }
    assert!(f.ranked().await.contains(&deleted));
    assert!(f.assigned(deleted).await);

    f.apply(&envelope(&CustomerDeleted {
        customer: format!("customers/{deleted}"),
        archive_number: "A00000002".into(),
        version: 4,
    }))
    .await;
    assert_eq!(f.ranked().await, vec![kept]);
    assert!(!f.assigned(deleted).await);
    let mut conn = f.pool.acquire().await.unwrap();
    let pending = store::list_pending(&mut conn, &company(), None, 100)
        .await
        .unwrap();
    let at_risk = store::list_churn_risks(&f.pool, &company(), None, 100)
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .chain(&at_risk)
            .all(|a| a.customer_id != deleted)
    );
    drop(conn);

    // A late transaction and the next day's sweep leave it out.
    f.purchase(deleted, 90_000).await;
    f.clock.advance(Duration::days(1));
    let swept = sweep::run_batch(&f.pool, &f.engine, 50, &mut sweep::SweepCursor::default())
        .await
        .unwrap();
    assert_eq!(swept, 1, "only the kept customer");
    assert_eq!(f.ranked().await, vec![kept]);
    assert!(!f.assigned(deleted).await);
    let figures: i64 =
        sqlx::query_scalar("SELECT count(*) FROM daily_figures WHERE customer_id = $1")
            .bind(deleted)
            .fetch_one(&f.pool)
            .await
            .unwrap();
    assert_eq!(figures, 0);
}

#[tokio::test]
async fn a_staff_removal_outlives_an_older_placement_arriving_late() {
    let f = fixture().await;
    let placed = |removed: bool, version: i64| StaffMemberPlaced {
        staff_member: "staff/zhao".into(),
        org_unit: if removed {
            String::new()
        } else {
            "orgUnits/east".into()
        },
        removed,
        version,
        org_unit_path: if removed {
            Vec::new()
        } else {
            vec!["company".into(), "east".into()]
        },
    };
    let unit = || async {
        let mut conn = f.pool.acquire().await.unwrap();
        customer_facts::staff_unit(&mut conn, "zhao").await.unwrap()
    };
    f.apply(&envelope(&placed(false, 1))).await;
    assert_eq!(unit().await.as_deref(), Some("east"));
    // Removed at version 3; the placement of version 2 arrives after it.
    f.apply(&envelope(&placed(true, 3))).await;
    f.apply(&envelope(&placed(false, 2))).await;
    assert_eq!(unit().await, None, "the late placement grants nothing");
    // A newer placement does.
    f.apply(&envelope(&placed(false, 4))).await;
    assert_eq!(unit().await.as_deref(), Some("east"));
}
