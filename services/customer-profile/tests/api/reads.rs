//! Cached reads decide reach without the database: the caller's unit and
//! the customer's placement are kept in each process for the kit's bound. A
//! change made by one replica takes effect on another within the bound, on
//! the one that made it at once. Reads in the clear are audited in shared commits, and
//! still fail when they cannot be audited.

use std::time::Duration;

use patron_kit::directory::cached::FRESHNESS;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::{self as pb, OrgUnitKind};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::helpers::*;

/// east and west (regions), a person placed in east with `manager`.
async fn placed_in_east(app: &TestApp, manager: &str) -> pb::Customer {
    app.add_unit("east", OrgUnitKind::Region, "company").await;
    app.add_unit("west", OrgUnitKind::Region, "company").await;
    let mut c = person("Placed");
    c.org_unit = "orgUnits/east".into();
    if !manager.is_empty() {
        app.add_staff(manager, "west", 0).await;
        c.account_manager = manager.into();
    }
    app.create(c).await
}

async fn read_as(
    app: &TestApp,
    client: &CustomerServiceClient<Channel>,
    staff: &str,
    role: &str,
    name: &str,
) -> Result<pb::Customer, Status> {
    client
        .clone()
        .get_customer(app.as_staff(staff, role, pb::GetCustomerRequest { name: name.into() }))
        .await
        .map(|r| r.into_inner())
}

/// Past the bound a change made elsewhere may take to be seen.
async fn wait_out_the_bound() {
    tokio::time::sleep(FRESHNESS + Duration::from_millis(200)).await;
}

/// Moves staff member `id` to `unit`, as the administrator.
async fn move_staff(app: &TestApp, id: &str, unit: &str) {
    app.organization()
        .update_staff_member(app.as_staff(
            "root",
            "admin",
            pb::UpdateStaffMemberRequest {
                staff_member: Some(pb::StaffMember {
                    name: format!("staff/{id}"),
                    org_unit: format!("orgUnits/{unit}"),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["org_unit".into()],
                }),
            },
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_staff_members_move_takes_effect_on_every_replica_within_the_bound() {
    let app = spawn_app().await;
    let customer = placed_in_east(&app, "").await;
    app.add_staff("zhao", "east", 0).await;
    let replica = app.another_instance(app.config.keys.clone()).await;
    for client in [&app.client, &replica] {
        for _ in 0..2 {
            let read = read_as(&app, client, "zhao", "viewer", &customer.name).await;
            assert_eq!(read.unwrap().display_name, "Placed", "east reaches it");
        }
    }

    move_staff(&app, "zhao", "west").await;
    let here = read_as(&app, &app.client, "zhao", "viewer", &customer.name).await;
    assert_eq!(
        here.unwrap_err().code(),
        Code::NotFound,
        "the replica that made the move forgets the old unit at once"
    );
    wait_out_the_bound().await;
    let there = read_as(&app, &replica, "zhao", "viewer", &customer.name).await;
    assert_eq!(
        there.unwrap_err().code(),
        Code::NotFound,
        "the other replica within the bound"
    );
    // Back in east, a supervisor's subtree holds the customer again.
    move_staff(&app, "zhao", "east").await;
    wait_out_the_bound().await;
    let there = read_as(&app, &replica, "zhao", "supervisor", &customer.name).await;
    assert_eq!(there.unwrap().display_name, "Placed");
}

#[tokio::test]
async fn a_new_manager_takes_effect_here_at_once_and_on_every_replica_within_the_bound() {
    let app = spawn_app().await;
    let customer = placed_in_east(&app, "li").await;
    app.add_staff("wang", "west", 0).await;
    let replica = app.another_instance(app.config.keys.clone()).await;
    for client in [&app.client, &replica] {
        for _ in 0..2 {
            let read = read_as(&app, client, "li", "account_manager", &customer.name).await;
            assert_eq!(read.unwrap().account_manager, "li");
        }
    }

    app.client
        .clone()
        .assign_account_manager(app.admin(pb::AssignAccountManagerRequest {
            name: customer.name.clone(),
            account_manager: "wang".into(),
            reason: "li moves on".into(),
            etag: String::new(),
        }))
        .await
        .unwrap();
    let old = read_as(&app, &app.client, "li", "account_manager", &customer.name).await;
    assert_eq!(
        old.unwrap_err().code(),
        Code::NotFound,
        "the replica that reassigned forgets the old placement at once"
    );
    wait_out_the_bound().await;
    for client in [&app.client, &replica] {
        let old = read_as(&app, client, "li", "account_manager", &customer.name).await;
        assert_eq!(old.unwrap_err().code(), Code::NotFound);
        let new = read_as(&app, client, "wang", "account_manager", &customer.name).await;
        assert_eq!(new.unwrap().account_manager, "wang");
    }
}

#[tokio::test]
async fn a_customer_moved_to_another_unit_leaves_the_old_units_reach() {
    let app = spawn_app().await;
    let customer = placed_in_east(&app, "").await;
    app.add_staff("zhao", "east", 0).await;
    let replica = app.another_instance(app.config.keys.clone()).await;
    for client in [&app.client, &replica] {
        let read = read_as(&app, client, "zhao", "viewer", &customer.name).await;
        assert!(read.is_ok());
    }
    app.client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: customer.name.clone(),
                org_unit: "orgUnits/west".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["org_unit".into()],
            }),
        }))
        .await
        .unwrap();
    let here = read_as(&app, &app.client, "zhao", "viewer", &customer.name).await;
    assert_eq!(here.unwrap_err().code(), Code::NotFound);
    wait_out_the_bound().await;
    let there = read_as(&app, &replica, "zhao", "viewer", &customer.name).await;
    assert_eq!(there.unwrap_err().code(), Code::NotFound);
}

/// Makes every write to the access audit fail (or work again).
async fn break_the_access_audit(app: &TestApp, broken: bool) {
    let mut conn = app.db.admin_connection().await;
    let sql = if broken {
        "CREATE FUNCTION profile.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'the audit is out of order'; END $$;
         CREATE TRIGGER refuse_audit BEFORE INSERT ON profile.access_audit
           FOR EACH ROW EXECUTE FUNCTION profile.refuse_audit();"
    } else {
        "DROP TRIGGER refuse_audit ON profile.access_audit;
         DROP FUNCTION profile.refuse_audit();"
    };
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

async fn accesses_of(app: &TestApp, customer: &str) -> i64 {
    let id = customer.trim_start_matches("customers/");
    let mut conn = app.db.admin_connection().await;
    sqlx::query_scalar("SELECT count(*) FROM profile.access_audit WHERE customer_id = $1::uuid")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_read_in_the_clear_that_cannot_be_audited_fails() {
    let app = spawn_app().await;
    let customer = app.create(person("Guarded")).await;
    let before = accesses_of(&app, &customer.name).await;
    break_the_access_audit(&app, true).await;
    // Several at once, so they share a group that fails and are then each
    // tried alone.
    let reads = (0..4).map(|_| app.get(&customer.name));
    for read in futures::future::join_all(reads).await {
        let err = read.unwrap_err();
        assert_ne!(err.code(), Code::Ok);
        assert!(
            !err.message().contains("11010519491231002X"),
            "no clear value leaks in the error"
        );
    }
    let masked = read_as(&app, &app.client, STAFF, "viewer", &customer.name).await;
    assert!(masked.is_ok(), "a masked read needs no audit");
    break_the_access_audit(&app, false).await;
    let read = app.get(&customer.name).await.unwrap();
    assert_eq!(read.person.unwrap().id_card_number, "11010519491231002X");
    assert_eq!(accesses_of(&app, &customer.name).await, before + 1);
}

#[tokio::test]
async fn concurrent_reads_in_the_clear_are_each_audited() {
    let app = spawn_app().await;
    let customer = app.create(person("Popular")).await;
    let before = accesses_of(&app, &customer.name).await;
    let reads = (0..40).map(|_| app.get(&customer.name));
    for read in futures::future::join_all(reads).await {
        assert_eq!(
            read.unwrap().person.unwrap().id_card_number,
            "11010519491231002X"
        );
    }
    assert_eq!(accesses_of(&app, &customer.name).await, before + 40);
}
