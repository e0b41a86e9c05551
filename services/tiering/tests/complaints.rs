//! Complaint's events reach tiering's churn early warning against real
//! PostgreSQL and Redis: written to a complaint outbox, relayed to the
//! `complaint.complaints` stream, read by tiering's own consumer (its topics,
//! group and handler), and turned into churn reasons for that customer only,
//! listed and raised; a replayed complaint counts once, and the reasons age
//! out with the window at the daily sweep.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use patron_kit::clock::Clock;
use patron_kit::events::{self, Consumer, ConsumerConfig};
use patron_kit::testing::{self, TestDatabase};
use patron_kit::{db, timestamp};
use patron_proto::complaint::v1::{ComplaintReceived, ComplaintSurveyed};
use patron_tiering::profile_events::ProfileEvents;
use patron_tiering::store::{self, Visibility};
use patron_tiering::{READER, sweep};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod common;

use common::{Fixture, with_preset};

/// The complaint service's side: an outbox of its own and the relay.
struct Complaints {
    _db: TestDatabase,
    pool: PgPool,
    prefix: String,
}

impl Complaints {
    async fn new() -> Self {
        let db = TestDatabase::create(&["complaint"]).await;
        let pool = db::connect(&db.service_config("complaint")).unwrap();
        events::install(&pool).await.unwrap();
        Self {
            _db: db,
            pool,
            prefix: format!("patron-test-{}", testing::unique_suffix()),
        }
    }

    /// Commits the event to the outbox, as the complaint service does.
    async fn publish<M: events::Event>(&self, customer: Uuid, event: &M, at: DateTime<Utc>) {
        let mut tx = self.pool.begin().await.unwrap();
        events::enqueue(&mut tx, &format!("customers/{customer}"), event, at)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn received(&self, customer: Uuid, complaint: &str, at: DateTime<Utc>) {
        let event = ComplaintReceived {
            complaint: format!("complaints/{complaint}"),
            complaint_number: "2603-000001".into(),
            customer: format!("customers/{customer}"),
            tier: "gold".into(),
            repeat_of: String::new(),
            receive_time: Some(timestamp::to_proto(at)),
        };
        self.publish(customer, &event, at).await;
    }

    async fn surveyed(&self, customer: Uuid, complaint: &str, score: i32, at: DateTime<Utc>) {
        let event = ComplaintSurveyed {
            complaint: format!("complaints/{complaint}"),
            customer: format!("customers/{customer}"),
            score,
            record_time: Some(timestamp::to_proto(at)),
        };
        self.publish(customer, &event, at).await;
    }

    /// Relays everything waiting in the outbox to the streams.
    async fn relay_all(&self) {
        let mut redis = events::relay_connection(&testing::redis_url()).unwrap();
        while events::relay_once(&self.pool, &mut redis, &self.prefix, 100)
            .await
            .unwrap()
            > 0
        {}
    }

    /// Tiering's consumer as `serve` runs it, on this test's streams.
    fn consumer_config(&self) -> ConsumerConfig {
        ConsumerConfig {
            redis_url: testing::redis_url(),
            stream_prefix: self.prefix.clone(),
            group: READER.group.into(),
            consumer: "tiering-test".into(),
            topics: READER.topics.to_vec(),
            batch_size: 200,
            block: Duration::from_millis(100),
            claim_idle: Duration::from_secs(30),
            max_failures: 10,
        }
    }
}

impl Fixture {
    async fn reasons(&self, customer: Uuid) -> Option<Vec<String>> {
        let mut conn = self.pool.acquire().await.unwrap();
        store::assignment(&mut conn, customer)
            .await
            .unwrap()
            .map(|a| a.churn_reasons)
    }

    async fn at_risk(&self) -> Vec<(Uuid, Vec<String>)> {
        let company = Visibility {
            company: true,
            ..Visibility::default()
        };
        store::list_churn_risks(&self.pool, &company, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.customer_id, a.churn_reasons))
            .collect()
    }

    async fn churn_risks_raised(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE position('ChurnRiskRaised'::bytea in envelope) > 0",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn complaints_and_a_low_score_become_churn_reasons_for_that_customer_only() {
    // telecom-vip: 2 complaints, or a score of 2 of 5 or less, within 90 days.
    let f = with_preset("telecom-vip").await;
    let complaints = Complaints::new().await;
    let (unhappy, content) = (Uuid::now_v7(), Uuid::now_v7());
    let now = f.clock.now();
    let days_ago = |n: i64| now - chrono::Duration::days(n);

    complaints.received(unhappy, "c1", days_ago(10)).await;
    complaints.received(unhappy, "c2", days_ago(1)).await;
    // The same complaint published again under another event id (a replay):
    // it counts once.
    complaints.received(unhappy, "c2", days_ago(1)).await;
    complaints.surveyed(unhappy, "c1", 1, days_ago(3)).await;
    // The other customer: one complaint now, one long ago, a good score.
    complaints.received(content, "c3", days_ago(2)).await;
    complaints.received(content, "c4", days_ago(200)).await;
    complaints.surveyed(content, "c3", 4, days_ago(1)).await;
    complaints.relay_all().await;

    let handler = Arc::new(ProfileEvents::new(
        f.engine.clone(),
        chrono_tz::Asia::Shanghai,
    ));
    let consumer = Consumer::connect(complaints.consumer_config(), f.pool.clone(), handler)
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer.run(stop.clone()));
    let mut waited = 0;
    while f.reasons(content).await.is_none() || f.reasons(unhappy).await.is_none() {
        waited += 1;
        assert!(waited < 200, "tiering never heard of the complaints");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();

    // 27 February 2026, 12:00 in Shanghai, three days before the clock's 2 March.
    let expected = vec![
        "2 complaints in the last 90 days".to_owned(),
        "satisfaction 1 of 5 on 2026-02-27".to_owned(),
    ];
    assert_eq!(f.reasons(unhappy).await, Some(expected.clone()));
    assert_eq!(f.reasons(content).await, Some(Vec::new()));
    assert_eq!(f.at_risk().await, vec![(unhappy, expected)]);
    assert_eq!(
        f.churn_risks_raised().await,
        1,
        "raised once, for one customer"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM complaints_received")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(kept, 4, "c2 once");

    // Past the window, the daily sweep lets the reasons go.
    f.clock.advance(chrono::Duration::days(90));
    sweep::run_batch(&f.pool, &f.engine, 50, &mut sweep::SweepCursor::default())
        .await
        .unwrap();
    assert_eq!(f.reasons(unhappy).await, Some(Vec::new()));
    assert!(f.at_risk().await.is_empty());
}
