//! The kit's projection of profile's customers and directory, in a schema of
//! its own against real PostgreSQL: installed twice without harm, kept from
//! profile's events with late, older ones changing nothing, and answering
//! who reaches which customer by the one rule, in Rust and in SQL.

use chrono::Utc;
use patron_kit::auth::Authenticator;
use patron_kit::directory::{self, ProfileFact, Reach, Visibility};
use patron_kit::testing::{self, TestDatabase};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::{
    CustomerCreated, CustomerExited, CustomerUpdated, ManagerReassigned, StaffMemberPlaced,
};
use prost::{Message, Name};
use sqlx::PgPool;
use uuid::Uuid;

struct Fixture {
    _db: TestDatabase,
    pool: PgPool,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create(&["complaint"]).await;
    let pool = patron_kit::db::connect(&db.service_config("complaint")).unwrap();
    directory::install(&pool).await.unwrap();
    directory::install(&pool).await.unwrap();
    Fixture { _db: db, pool }
}

fn envelope<M: Message + Name>(message: &M) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: M::full_name(),
        payload: message.encode_to_vec(),
        ..Default::default()
    }
}

fn path(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

impl Fixture {
    async fn apply(&self, event: EventEnvelope) {
        let mut tx = self.pool.begin().await.unwrap();
        assert!(
            directory::apply_event(&mut tx, &event, Utc::now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
    }

    async fn created(&self, customer: Uuid, manager: &str, unit: &[&str], version: i64) {
        self.apply(envelope(&CustomerCreated {
            customer: format!("customers/{customer}"),
            account_manager: manager.into(),
            org_unit: unit.last().unwrap().to_string(),
            org_unit_path: path(unit),
            version,
            ..Default::default()
        }))
        .await;
    }

    async fn visible(&self, visibility: &Visibility) -> Vec<Uuid> {
        let sql = format!(
            "SELECT customer_id FROM customer_facts WHERE {} ORDER BY customer_id",
            Visibility::condition(1)
        );
        let query = sqlx::query_as::<_, (Uuid,)>(sqlx::AssertSqlSafe(sql));
        visibility
            .bind(query)
            .fetch_all(&self.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(id,)| id)
            .collect()
    }
}

#[tokio::test]
async fn late_events_change_nothing_and_an_exit_stays() {
    let f = fixture().await;
    let customer = Uuid::now_v7();
    f.created(customer, "li", &["company", "east", "sh"], 1)
        .await;
    f.apply(envelope(&ManagerReassigned {
        customer: format!("customers/{customer}"),
        account_manager: "zhao".into(),
        version: 3,
        ..Default::default()
    }))
    .await;
    // The update of version 2 arrives after the reassignment of version 3:
    // its unit is newer than what is kept, its manager is not.
    f.apply(envelope(&CustomerUpdated {
        customer: format!("customers/{customer}"),
        account_manager: "li".into(),
        org_unit: "west".into(),
        org_unit_path: path(&["company", "west"]),
        version: 2,
        ..Default::default()
    }))
    .await;
    f.apply(envelope(&CustomerExited {
        customer: format!("customers/{customer}"),
        account_manager: "zhao".into(),
        version: 4,
        ..Default::default()
    }))
    .await;
    // And the creation, redelivered very late, changes nothing either.
    f.created(customer, "li", &["company", "east", "sh"], 1)
        .await;

    let mut conn = f.pool.acquire().await.unwrap();
    let facts = directory::store::customer(&mut conn, customer)
        .await
        .unwrap();
    assert_eq!(facts.account_manager, "zhao");
    assert_eq!(facts.org_unit_path, path(&["company", "west"]));
    assert!(facts.exited && !facts.deleted);
    assert!(
        directory::store::live_customers_managed_by(&mut conn, "zhao")
            .await
            .unwrap()
            .is_empty(),
        "a leaver is nobody's live customer"
    );
}

#[tokio::test]
async fn staff_sit_on_their_units_path_and_reach_by_the_one_rule() {
    let f = fixture().await;
    let (sh, west) = (Uuid::now_v7(), Uuid::now_v7());
    f.created(sh, "li", &["company", "east", "sh"], 1).await;
    f.created(west, "", &["company", "west"], 1).await;
    f.apply(envelope(&StaffMemberPlaced {
        staff_member: "staff/zhao".into(),
        org_unit: "orgUnits/east".into(),
        removed: false,
        version: 1,
        org_unit_path: path(&["company", "east"]),
    }))
    .await;
    let mut conn = f.pool.acquire().await.unwrap();
    assert_eq!(
        directory::store::staff_placement(&mut conn, "zhao")
            .await
            .unwrap(),
        Some(directory::StaffPlacement {
            unit: "east".into(),
            unit_path: path(&["company", "east"]),
        })
    );
    assert_eq!(
        directory::store::live_customers_managed_by(&mut conn, "li")
            .await
            .unwrap(),
        vec![sh]
    );

    let auth = Authenticator::new(&testing::auth_config());
    let mut reach_of = async |subject: &str, role: &str| {
        let token = auth.mint(
            subject,
            &[role.into()],
            Utc::now(),
            std::time::Duration::from_secs(600),
        );
        let caller = auth.verify(&token).await.unwrap();
        directory::store::reach_of(&mut conn, &caller)
            .await
            .unwrap()
    };
    let supervisor = reach_of("zhao", "supervisor").await;
    assert_eq!(supervisor.unit(), Some("east"));
    let manager = reach_of("li", "account_manager").await;
    let admin = reach_of("boss", "admin").await;
    assert_eq!(admin, Reach::Company);
    // The SQL for lists agrees with the rule on each customer.
    for reach in [supervisor, manager, admin] {
        let mut expected = Vec::new();
        for id in [sh, west] {
            let facts = directory::store::customer(&mut conn, id).await.unwrap();
            if reach.covers(&facts.org_unit_path, &facts.account_manager) {
                expected.push(id);
            }
        }
        expected.sort();
        assert_eq!(
            f.visible(&Visibility::new(reach.clone(), "")).await,
            expected,
            "{reach:?}"
        );
    }

    // Leaving the directory ends the placement; an older one arriving late
    // does not bring it back.
    for (removed, version) in [(true, 3), (false, 2)] {
        let mut tx = f.pool.begin().await.unwrap();
        ProfileFact::read(&envelope(&StaffMemberPlaced {
            staff_member: "staff/zhao".into(),
            org_unit: "orgUnits/east".into(),
            removed,
            version,
            org_unit_path: path(&["company", "east"]),
        }))
        .unwrap()
        .unwrap()
        .apply(&mut tx, Utc::now())
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(
        directory::store::staff_placement(&mut conn, "zhao")
            .await
            .unwrap(),
        None
    );
}
