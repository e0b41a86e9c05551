//! Scheduling's role holders against real PostgreSQL and Redis, beside
//! customer-profile, tiering and the gateway: under the health-chain preset
//! an A customer's store-manager visit goes to the store's manager and the
//! sales-manager visit to the account manager until a unit above holds that
//! role; the holder reads and closes their task; a change of holder moves
//! the open tasks at once; a removed holder's tasks, and new ones, go back
//! to the account manager; a holder on leave has their stand-in.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::scheduling::v1 as pb;
use patron_suite_tests::{Reply, Suite};
use prost::Message;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// health-chain's A rules: the store manager's visit, the sales manager's.
const STORE_VISIT: &str = "cadence.A[0]";
const SALES_VISIT: &str = "cadence.A[1]";

fn token_of(suite: &Suite, id: &str, role: &str) -> String {
    suite.token_with(|c| {
        c.sub = id.into();
        c.roles = vec![role.into()];
    })
}

fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

async fn admin(suite: &Suite, method: Method, path: &str, body: Option<Value>) -> Reply {
    suite.admin(method, path, body).await
}

async fn org_unit(suite: &Suite, id: &str, parent: &str, kind: &str) {
    ok(admin(
        suite,
        Method::POST,
        &format!("/v1/orgUnits?orgUnitId={id}"),
        Some(json!({"displayName": id, "kind": kind,
                    "parent": format!("orgUnits/{parent}")})),
    )
    .await);
}

async fn staff(suite: &Suite, id: &str, unit: &str) {
    ok(admin(
        suite,
        Method::POST,
        &format!("/v1/staff?staffMemberId={id}"),
        Some(json!({"displayName": id, "orgUnit": format!("orgUnits/{unit}")})),
    )
    .await);
}

/// An A customer of `unit` managed by `manager`, graded by an override and
/// known to scheduling.
async fn a_customer(suite: &Suite, name: &str, unit: &str, manager: &str) -> Uuid {
    let created = ok(admin(
        suite,
        Method::POST,
        "/v1/customers",
        Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": name,
                    "orgUnit": format!("orgUnits/{unit}"), "accountManager": manager})),
    )
    .await);
    let customer = created["name"].as_str().unwrap().to_owned();
    suite.wait_for_tiering_to_catch_up().await;
    let path = format!("/v1/{customer}/tierAssignment");
    for _ in 0..200 {
        if admin(suite, Method::GET, &path, None).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut graded = false;
    for _ in 0..5 {
        let reply = admin(
            suite,
            Method::POST,
            &format!("{path}:override"),
            Some(json!({"tierCode": "A", "reason": "the region's flagship customer"})),
        )
        .await;
        // A loaded machine may time the call out; it is safe to repeat.
        if reply.status == 200 {
            graded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(graded, "tiering graded {customer} A");
    suite.wait_for_scheduling_to_catch_up().await;
    customer
        .strip_prefix("customers/")
        .unwrap()
        .parse()
        .unwrap()
}

/// A customer's cadence task as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Stored {
    id: Uuid,
    rule_key: String,
    rule: String,
    assignee: String,
    handed_over_from: Option<String>,
    role_unit: Option<String>,
    state: String,
    due_date: NaiveDate,
}

async fn tasks_of(suite: &Suite, customer: Uuid) -> Vec<Stored> {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query_as(
        "SELECT id, rule_key, rule, assignee, handed_over_from, role_unit, state, due_date
           FROM scheduling.tasks
          WHERE customer_id = $1 AND kind = 'cadence' ORDER BY rule_key, due_date",
    )
    .bind(customer)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// The customer's open task of `rule` due first, once it is planned.
async fn open_task(suite: &Suite, customer: Uuid, rule: &str) -> Stored {
    for _ in 0..300 {
        if let Some(task) = tasks_of(suite, customer)
            .await
            .into_iter()
            .find(|t| t.rule_key == rule && t.state == "open")
        {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no open {rule} task was planned for customers/{customer}");
}

async fn task(suite: &Suite, id: Uuid) -> Stored {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query_as(
        "SELECT id, rule_key, rule, assignee, handed_over_from, role_unit, state, due_date
           FROM scheduling.tasks WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// The payloads of scheduling's RoleHolderChanged events in its outbox.
async fn role_events(suite: &Suite) -> Vec<pb::RoleHolderChanged> {
    let mut conn = suite.db.admin_connection().await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM scheduling.outbox ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    envelopes
        .iter()
        .map(|bytes| EventEnvelope::decode(bytes.as_slice()).unwrap())
        .filter(|e| e.event_type == <pb::RoleHolderChanged as prost::Name>::full_name())
        .map(|e| pb::RoleHolderChanged::decode(e.payload.as_slice()).unwrap())
        .collect()
}

fn wire_date(d: NaiveDate) -> Value {
    json!({"year": d.year(), "month": d.month(), "day": d.day()})
}

async fn set_holder(suite: &Suite, token: &str, unit: &str, role: &str, holder: &str) -> Reply {
    suite
        .call(
            Method::POST,
            &format!("/v1/orgUnits/{unit}/roleHolders"),
            Some(token),
            Some(json!({"role": role, "holder": holder})),
        )
        .await
}

#[tokio::test]
async fn a_roles_tasks_go_to_its_holder_and_back_to_the_account_manager_when_removed() {
    let suite = Suite::start().await;
    org_unit(&suite, "east", "company", "ORG_UNIT_KIND_REGION").await;
    org_unit(&suite, "store-1", "east", "ORG_UNIT_KIND_BRANCH").await;
    org_unit(&suite, "west", "company", "ORG_UNIT_KIND_REGION").await;
    for (id, unit) in [
        ("li.na", "store-1"),
        ("chen.bo", "store-1"),
        ("zhang.store", "store-1"),
        ("zhao.sales", "east"),
        ("wang.lead", "east"),
        ("sun.west", "west"),
    ] {
        staff(&suite, id, unit).await;
    }
    suite.wait_for_scheduling_to_catch_up().await;
    let admin_token = suite.token("admin");
    let li = token_of(&suite, "li.na", "account_manager");
    let zhang = token_of(&suite, "zhang.store", "account_manager");
    let chen = token_of(&suite, "chen.bo", "account_manager");
    let west_supervisor = token_of(&suite, "sun.west", "supervisor");

    // Who may name a holder, of which role, where.
    let manager = set_holder(&suite, &li, "store-1", "store_manager", "staff/zhang.store").await;
    assert_eq!(manager.status, 403, "{:?}", manager.body);
    let outside = set_holder(
        &suite,
        &west_supervisor,
        "store-1",
        "store_manager",
        "staff/zhang.store",
    )
    .await;
    assert_eq!(outside.status, 403, "{:?}", outside.body);
    let malformed = set_holder(&suite, &admin_token, "Store1", "Store_Manager", "zhang").await;
    assert_eq!(malformed.status, 400, "{:?}", malformed.body);
    let mut fields = malformed.violation_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["holder", "org_unit", "role"],
        "{:?}",
        malformed.body
    );
    let pilot = set_holder(
        &suite,
        &admin_token,
        "store-1",
        "pilot",
        "staff/zhang.store",
    )
    .await;
    assert_eq!(pilot.violation_fields(), ["role"], "{:?}", pilot.body);
    let words = pilot.body.to_string();
    assert!(
        words.contains("store_manager") && words.contains("sales_manager"),
        "the allowed roles are listed: {words}"
    );
    let own = set_holder(
        &suite,
        &admin_token,
        "store-1",
        "account_manager",
        "staff/zhang.store",
    )
    .await;
    assert_eq!(own.violation_fields(), ["role"], "{:?}", own.body);
    let above = set_holder(
        &suite,
        &admin_token,
        "store-1",
        "store_manager",
        "staff/zhao.sales",
    )
    .await;
    assert_eq!(
        above.error_status(),
        "FAILED_PRECONDITION",
        "the holder sits in the unit or below: {:?}",
        above.body
    );

    // The store's manager, named before the customer arrives.
    let named = ok(set_holder(
        &suite,
        &admin_token,
        "store-1",
        "store_manager",
        "staff/zhang.store",
    )
    .await);
    assert_eq!(
        named["roleHolder"]["name"],
        "orgUnits/store-1/roleHolders/store_manager"
    );
    assert_eq!(named["roleHolder"]["holder"], "staff/zhang.store");
    assert_eq!(named["previousHolder"], "");
    // Named again: nothing changes.
    let again = ok(set_holder(
        &suite,
        &admin_token,
        "store-1",
        "store_manager",
        "staff/zhang.store",
    )
    .await);
    assert_eq!(again["tasksMoved"], "0");

    let first = a_customer(&suite, "王丽", "store-1", "li.na").await;
    let store_visit = open_task(&suite, first, STORE_VISIT).await;
    assert_eq!(store_visit.assignee, "zhang.store");
    assert_eq!(store_visit.role_unit.as_deref(), Some("store-1"));
    assert!(
        store_visit
            .rule
            .ends_with("the store_manager of orgUnits/store-1"),
        "{}",
        store_visit.rule
    );
    let sales_visit = open_task(&suite, first, SALES_VISIT).await;
    assert_eq!(sales_visit.assignee, "li.na", "nobody holds sales_manager");
    assert_eq!(sales_visit.role_unit, None);
    assert!(
        sales_visit.rule.contains("nobody holds sales_manager")
            && sales_visit.rule.ends_with("so the account manager does it"),
        "{}",
        sales_visit.rule
    );

    // A sales manager for the region above: the open sales visit is theirs
    // at once.
    let region = ok(set_holder(
        &suite,
        &admin_token,
        "east",
        "sales_manager",
        "staff/zhao.sales",
    )
    .await);
    assert_eq!(region["tasksMoved"], "1", "{region:?}");
    let moved = task(&suite, sales_visit.id).await;
    assert_eq!(moved.assignee, "zhao.sales");
    assert_eq!(moved.role_unit.as_deref(), Some("east"));
    assert!(
        moved.rule.ends_with("the sales_manager of orgUnits/east"),
        "{}",
        moved.rule
    );
    let listed = ok(suite
        .call(Method::GET, "/v1/roleHolders", Some(&li), None)
        .await);
    let names: Vec<&str> = listed["roleHolders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "orgUnits/east/roleHolders/sales_manager",
            "orgUnits/store-1/roleHolders/store_manager"
        ]
    );
    let only_store = ok(suite
        .call(
            Method::GET,
            "/v1/roleHolders?orgUnit=orgUnits/store-1&pageSize=1",
            Some(&li),
            None,
        )
        .await);
    assert_eq!(only_store["roleHolders"][0]["holder"], "staff/zhang.store");
    assert_eq!(only_store["nextPageToken"], "");

    // The store's manager sees their task and logs the visit that closes it;
    // another manager of the store does not see it, and the holder reaches
    // the customer only through it.
    let path = format!("/v1/tasks/{}", store_visit.id);
    let seen = ok(suite.call(Method::GET, &path, Some(&zhang), None).await);
    assert_eq!(seen["assignee"], "staff/zhang.store");
    assert_eq!(seen["role"], "store_manager");
    let theirs = ok(suite
        .call(
            Method::GET,
            "/v1/tasks?state=TASK_STATE_OPEN",
            Some(&zhang),
            None,
        )
        .await);
    assert!(
        theirs["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == format!("tasks/{}", store_visit.id)),
        "{theirs:?}"
    );
    let not_theirs = suite.call(Method::GET, &path, Some(&chen), None).await;
    assert_eq!(not_theirs.status, 404);
    let customer_name = format!("customers/{first}");
    let without_task = suite
        .call(
            Method::POST,
            "/v1/contactLogs",
            Some(&zhang),
            Some(json!({"customer": customer_name, "channel": "CONTACT_CHANNEL_VISIT"})),
        )
        .await;
    assert_eq!(without_task.status, 404, "{:?}", without_task.body);
    let someone_elses = suite
        .call(
            Method::POST,
            "/v1/contactLogs",
            Some(&zhang),
            Some(
                json!({"customer": customer_name, "task": format!("tasks/{}", sales_visit.id),
                        "channel": "CONTACT_CHANNEL_VISIT"}),
            ),
        )
        .await;
    assert_eq!(someone_elses.status, 404, "{:?}", someone_elses.body);
    let logged = ok(suite
        .call(
            Method::POST,
            "/v1/contactLogs",
            Some(&zhang),
            Some(
                json!({"customer": customer_name, "task": format!("tasks/{}", store_visit.id),
                        "channel": "CONTACT_CHANNEL_VISIT", "summary": "store visit"}),
            ),
        )
        .await);
    assert_eq!(logged["staffMember"], "staff/zhang.store");
    let done = ok(suite.call(Method::GET, &path, Some(&zhang), None).await);
    assert_eq!(done["state"], "TASK_STATE_DONE");

    // A second customer of the store; a new manager takes them over, and
    // the holders' tasks stay with the holders.
    let second = a_customer(&suite, "李强", "store-1", "li.na").await;
    let second_store = open_task(&suite, second, STORE_VISIT).await;
    assert_eq!(second_store.assignee, "zhang.store");
    let second_sales = open_task(&suite, second, SALES_VISIT).await;
    assert_eq!(second_sales.assignee, "zhao.sales");
    ok(admin(
        &suite,
        Method::POST,
        &format!("/v1/customers/{second}:assignAccountManager"),
        Some(json!({"accountManager": "chen.bo", "reason": "li.na moves to key accounts"})),
    )
    .await);
    suite.wait_for_scheduling_to_catch_up().await;
    assert_eq!(task(&suite, second_store.id).await.assignee, "zhang.store");
    assert_eq!(task(&suite, second_sales.id).await.assignee, "zhao.sales");

    // The store's manager removed: their open task goes to the customer's
    // account manager, saying nobody holds the role.
    let by_manager = suite
        .call(
            Method::DELETE,
            "/v1/orgUnits/store-1/roleHolders/store_manager",
            Some(&li),
            None,
        )
        .await;
    assert_eq!(by_manager.status, 403);
    let removed = ok(admin(
        &suite,
        Method::DELETE,
        "/v1/orgUnits/store-1/roleHolders/store_manager",
        None,
    )
    .await);
    assert_eq!(removed["tasksMoved"], "1", "{removed:?}");
    assert_eq!(removed["previousHolder"], "staff/zhang.store");
    let back = task(&suite, second_store.id).await;
    assert_eq!(back.assignee, "chen.bo");
    assert_eq!(back.role_unit, None);
    assert!(
        back.rule
            .starts_with("visit by store_manager (cadence.A[0]); nobody holds"),
        "{}",
        back.rule
    );
    assert_eq!(
        task(&suite, store_visit.id).await.state,
        "done",
        "a closed task stays as it is"
    );
    let gone = admin(
        &suite,
        Method::DELETE,
        "/v1/orgUnits/store-1/roleHolders/store_manager",
        None,
    )
    .await;
    assert_eq!(gone.status, 404);
    let malformed = admin(
        &suite,
        Method::DELETE,
        "/v1/orgUnits/store-1/roleHolders/Store%20Manager",
        None,
    )
    .await;
    assert_eq!(
        malformed.violation_fields(),
        ["name"],
        "{:?}",
        malformed.body
    );

    // The region's sales manager goes on leave: a new customer's store visit
    // is the account manager's, their sales visit the stand-in's.
    let today = suite.today();
    ok(admin(
        &suite,
        Method::POST,
        "/v1/leaves",
        Some(
            json!({"staffMember": "staff/zhao.sales", "standIn": "staff/wang.lead",
                    "startDate": wire_date(today),
                    "endDate": wire_date(today + Days::new(3))}),
        ),
    )
    .await);
    let third = a_customer(&suite, "赵敏", "store-1", "li.na").await;
    let third_store = open_task(&suite, third, STORE_VISIT).await;
    assert_eq!(
        third_store.assignee, "li.na",
        "nobody holds store_manager now"
    );
    assert!(
        third_store.rule.contains("nobody holds store_manager"),
        "{}",
        third_store.rule
    );
    let third_sales = open_task(&suite, third, SALES_VISIT).await;
    assert_eq!(third_sales.assignee, "wang.lead");
    assert_eq!(third_sales.handed_over_from.as_deref(), Some("zhao.sales"));
    assert_eq!(third_sales.role_unit.as_deref(), Some("east"));
    assert!(third_sales.due_date >= today);

    // Every change announced once, with what moved.
    let events = role_events(&suite).await;
    let seen: Vec<(&str, &str, &str, i64)> = events
        .iter()
        .map(|e| {
            (
                e.role_holder.as_str(),
                e.holder.as_str(),
                e.previous_holder.as_str(),
                e.tasks_moved,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "orgUnits/store-1/roleHolders/store_manager",
                "staff/zhang.store",
                "",
                0
            ),
            (
                "orgUnits/east/roleHolders/sales_manager",
                "staff/zhao.sales",
                "",
                1
            ),
            (
                "orgUnits/store-1/roleHolders/store_manager",
                "",
                "staff/zhang.store",
                1
            ),
        ]
    );
    assert!(
        events.iter().all(|e| e.changed_by == "staff/staff-9"),
        "{events:?}"
    );
}
