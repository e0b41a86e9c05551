//! The scheduling service against real PostgreSQL and Redis, beside
//! customer-profile, tiering and the gateway, with the clock moved: tasks
//! generated once by several replicas, a tier change re-planning them, a
//! contact closing a task, a leave handing tasks over and back, marketing
//! permission denied or unknown (never allowed), and a manager's day over
//! HTTP through the gateway.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone};
use patron_proto::scheduling::v1 as pb;
use patron_proto::scheduling::v1::scheduling_service_client::SchedulingServiceClient;
use patron_scheduling::domain::plan::{self, Customer};
use patron_suite_tests::{Reply, Suite};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// The health-chain preset's `[scheduling]` section, as the suite runs it.
fn policy() -> patron_scheduling::domain::policy::SchedulingPolicy {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/presets/health-chain.toml"
    );
    let text = std::fs::read_to_string(path).expect("the preset");
    patron_scheduling::policy_source::read_preset(&text)
        .expect("the section reads")
        .policy
}

/// (rule key, due day) of what the domain plans for a customer of `tier`
/// first seen today with no contacts.
fn expected_plan(suite: &Suite, tier: &str) -> BTreeSet<(String, NaiveDate)> {
    let today = suite.today();
    plan::plan(
        &policy(),
        Customer {
            tier: Some(tier),
            rank: None,
            created: today,
        },
        &[],
        today,
    )
    .into_iter()
    .map(|t| (t.rule, t.due))
    .collect()
}

fn manager_token(suite: &Suite, id: &str) -> String {
    suite.token_with(|c| {
        c.sub = id.into();
        c.roles = vec!["account_manager".into()];
    })
}

async fn place(suite: &Suite, staff: &str) {
    let placed = suite
        .admin(
            Method::POST,
            &format!("/v1/staff?staffMemberId={staff}"),
            Some(json!({"displayName": staff, "orgUnit": "orgUnits/company"})),
        )
        .await;
    assert_eq!(placed.status, 200, "{:?}", placed.body);
}

/// A customer managed by `manager`, graded `tier` by an override.
async fn customer(suite: &Suite, name: &str, manager: &str, tier: &str) -> String {
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": name})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let customer = created.body["name"].as_str().unwrap().to_owned();
    let assigned = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}:assignAccountManager"),
            Some(json!({"accountManager": manager})),
        )
        .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);
    override_tier(suite, &customer, tier).await;
    customer
}

async fn override_tier(suite: &Suite, customer: &str, tier: &str) {
    suite.wait_for_tiering_to_catch_up().await;
    let path = format!("/v1/{customer}/tierAssignment");
    for _ in 0..200 {
        if suite.admin(Method::GET, &path, None).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut overridden = None;
    for _ in 0..5 {
        let answer = suite
            .admin(
                Method::POST,
                &format!("{path}:override"),
                Some(json!({"tierCode": tier, "reason": "the regional director's decision"})),
            )
            .await;
        // A loaded machine may time the call out; it is safe to repeat.
        if answer.status == 200 {
            overridden = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(overridden.is_some(), "tiering overrode the tier");
    suite.wait_for_scheduling_to_catch_up().await;
}

fn customer_id(name: &str) -> Uuid {
    name.strip_prefix("customers/").unwrap().parse().unwrap()
}

/// The customer's open cadence tasks in the store (care has its own tests,
/// `scheduling_care.rs`): (rule key, planned day, tier).
async fn open_tasks(suite: &Suite, customer: &str) -> Vec<(String, NaiveDate, String)> {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query_as(
        "SELECT rule_key, planned_date, tier FROM scheduling.tasks
          WHERE customer_id = $1 AND state = 'open' AND kind <> 'care'
          ORDER BY rule_key, planned_date",
    )
    .bind(customer_id(customer))
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Waits until the customer's open tasks are those of `tier`'s plan.
async fn wait_for_plan(suite: &Suite, customer: &str, tier: &str) {
    let expected = expected_plan(suite, tier);
    assert!(!expected.is_empty(), "tier {tier} plans something");
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = open_tasks(suite, customer).await;
        let planned: BTreeSet<(String, NaiveDate)> =
            seen.iter().map(|(r, d, _)| (r.clone(), *d)).collect();
        if planned == expected && seen.iter().all(|(_, _, t)| t == tier) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the open tasks {seen:?} are not tier {tier}'s plan {expected:?}");
}

async fn get(suite: &Suite, token: &str, path: &str) -> Reply {
    suite.call(Method::GET, path, Some(token), None).await
}

async fn post(suite: &Suite, token: &str, path: &str, body: Value) -> Reply {
    suite
        .call(Method::POST, path, Some(token), Some(body))
        .await
}

fn date_query(field: &str, d: NaiveDate) -> String {
    format!(
        "{field}.year={}&{field}.month={}&{field}.day={}",
        d.year(),
        d.month(),
        d.day()
    )
}

fn wire_date(d: NaiveDate) -> Value {
    json!({"year": d.year(), "month": d.month(), "day": d.day()})
}

#[tokio::test]
async fn replicas_create_each_task_once_and_a_tier_change_replans() {
    let suite = Suite::start().await;
    // Two replicas plan at once (the suite's and one more).
    suite
        .start_scheduling_replica("replica-2", &suite.profile_url)
        .await;
    place(&suite, "li.na").await;
    let customer = customer(&suite, "王丽", "li.na", "A").await;
    wait_for_plan(&suite, &customer, "A").await;
    // Several more passes of every replica change nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks = open_tasks(&suite, &customer).await;
    let planned: BTreeSet<(String, NaiveDate)> =
        tasks.iter().map(|(r, d, _)| (r.clone(), *d)).collect();
    assert_eq!(tasks.len(), planned.len(), "no task twice: {tasks:?}");
    assert_eq!(planned, expected_plan(&suite, "A"));
    let mut conn = suite.db.admin_connection().await;
    let all: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scheduling.tasks WHERE customer_id = $1 AND kind <> 'care'",
    )
    .bind(customer_id(&customer))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(all as usize, planned.len(), "every task created once");

    // Tier B: A's future tasks are cancelled and B's planned.
    override_tier(&suite, &customer, "B").await;
    wait_for_plan(&suite, &customer, "B").await;
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scheduling.tasks
          WHERE customer_id = $1 AND state = 'cancelled' AND tier = 'A' AND kind <> 'care'",
    )
    .bind(customer_id(&customer))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(cancelled as usize, planned.len());

    // A new manager takes the open tasks; an exit cancels them.
    place(&suite, "zhao.min").await;
    let reassigned = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}:assignAccountManager"),
            Some(json!({"accountManager": "zhao.min", "reason": "li.na moved to the west"})),
        )
        .await;
    assert_eq!(reassigned.status, 200, "{:?}", reassigned.body);
    suite.wait_for_scheduling_to_catch_up().await;
    let assignees: Vec<String> = sqlx::query_scalar(
        "SELECT assignee FROM scheduling.tasks WHERE customer_id = $1 AND state = 'open'",
    )
    .bind(customer_id(&customer))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!assignees.is_empty());
    assert!(assignees.iter().all(|a| a == "zhao.min"), "{assignees:?}");
    let exited = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}:exit"),
            Some(
                json!({"kind": "EXIT_KIND_VOLUNTARY", "reason": "moving abroad",
                        "writtenRequestReference": "letter 2026-114"}),
            ),
        )
        .await;
    assert_eq!(exited.status, 200, "{:?}", exited.body);
    suite.wait_for_scheduling_to_catch_up().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scheduling.tasks WHERE customer_id = $1 AND state = 'open'",
    )
    .bind(customer_id(&customer))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(open, 0, "an exit cancels every task, care included");
}

/// (rule key, due day, channel) of what `policy` plans for a customer of
/// `tier` first seen today with no contacts.
fn planned_channels(
    suite: &Suite,
    policy: &patron_scheduling::domain::policy::SchedulingPolicy,
    tier: &str,
) -> BTreeSet<(String, NaiveDate, String)> {
    let today = suite.today();
    plan::plan(
        policy,
        Customer {
            tier: Some(tier),
            rank: None,
            created: today,
        },
        &[],
        today,
    )
    .into_iter()
    .map(|t| (t.rule, t.due, t.channel.as_str().to_owned()))
    .collect()
}

async fn open_channels(suite: &Suite, customer: &str) -> BTreeSet<(String, NaiveDate, String)> {
    let mut conn = suite.db.admin_connection().await;
    let rows: Vec<(String, NaiveDate, String)> = sqlx::query_as(
        "SELECT rule_key, planned_date, channel FROM scheduling.tasks
          WHERE customer_id = $1 AND state = 'open' AND kind <> 'care'",
    )
    .bind(customer_id(customer))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        rows.len(),
        rows.iter().collect::<BTreeSet<_>>().len(),
        "no task twice: {rows:?}"
    );
    rows.into_iter().collect()
}

/// Waits until the customer's open tasks are `expected`.
async fn wait_for_channels(
    suite: &Suite,
    customer: &str,
    expected: &BTreeSet<(String, NaiveDate, String)>,
    why: &str,
) {
    suite.wait_for_scheduling_to_catch_up().await;
    let mut seen = BTreeSet::new();
    for _ in 0..300 {
        seen = open_channels(suite, customer).await;
        if seen == *expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, *expected, "{why}");
}

#[tokio::test]
async fn a_policy_activation_replans_every_customer() {
    let suite = Suite::start().await;
    place(&suite, "li.na").await;
    let customer = customer(&suite, "周敏", "li.na", "A").await;
    wait_for_plan(&suite, &customer, "A").await;
    let before = planned_channels(&suite, &policy(), "A");
    assert_eq!(open_channels(&suite, &customer).await, before);

    // The company changes its mind: A's store manager phones instead of
    // visiting, under the same rule.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/presets/health-chain.toml"
    );
    let original = std::fs::read_to_string(path).unwrap();
    let store_visit = "every = \"2 months\"\nchannel = \"visit\"\nrole = \"store_manager\"";
    assert!(
        original.contains(store_visit),
        "the preset's A rule as the test expects"
    );
    let changed = original.replacen(
        store_visit,
        "every = \"2 months\"\nchannel = \"phone\"\nrole = \"store_manager\"",
        1,
    );
    let changed_policy = patron_scheduling::policy_source::read_preset(&changed)
        .unwrap()
        .policy;
    let after = planned_channels(&suite, &changed_policy, "A");
    assert_ne!(before, after, "the change moves the plan");
    let activated = suite
        .admin(
            Method::POST,
            "/v1/tierPolicies",
            Some(json!({"preset": changed, "activate": true})),
        )
        .await;
    assert_eq!(activated.status, 200, "{:?}", activated.body);
    wait_for_channels(
        &suite,
        &customer,
        &after,
        "the open tasks follow the policy in force",
    )
    .await;

    // Back to the original: the cancelled tasks of the first plan come back.
    let restored = suite
        .admin(
            Method::POST,
            "/v1/tierPolicies",
            Some(json!({"preset": original, "activate": true})),
        )
        .await;
    assert_eq!(restored.status, 200, "{:?}", restored.body);
    wait_for_channels(&suite, &customer, &before, "the original plan is back").await;
}

/// How many of `manager`'s care tasks are due from `from` to `to` (the
/// lunar festivals give every customer some).
async fn care_due(suite: &Suite, manager: &str, from: NaiveDate, to: NaiveDate) -> usize {
    let mut conn = suite.db.admin_connection().await;
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scheduling.tasks
          WHERE kind = 'care' AND assignee = $1 AND state <> 'cancelled'
            AND due_date BETWEEN $2 AND $3",
    )
    .bind(manager)
    .bind(from)
    .bind(to)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    count as usize
}

#[tokio::test]
async fn a_large_projects_owner_follows_amount_and_signing() {
    let suite = Suite::start().await;
    let industrial = patron_tiering::presets::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "industrial-b2b")
        .unwrap()
        .1;
    let activated = suite
        .admin(
            Method::POST,
            "/v1/tierPolicies",
            Some(json!({"preset": industrial, "activate": true})),
        )
        .await;
    assert_eq!(activated.status, 200, "{:?}", activated.body);
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_ORGANIZATION", "displayName": "华东钢铁"})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let customer = created.body["name"].as_str().unwrap().to_owned();
    suite.wait_for_scheduling_to_catch_up().await;
    let yuan = |y: i64| json!({"currencyCode": "CNY", "amountMinor": (y * 100).to_string()});
    let project = |amount: i64| json!({"customer": customer, "title": "cold-rolling line", "amount": yuan(amount)});

    // Every replica reads the announced policy within a few seconds.
    let mut first = None;
    for _ in 0..100 {
        let answer = suite
            .admin(Method::POST, "/v1/projects", Some(project(5_000_000)))
            .await;
        if answer.status == 200 {
            first = Some(answer);
            break;
        }
        assert_eq!(
            answer.error_status(),
            "FAILED_PRECONDITION",
            "{:?}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = first.expect("the industrial policy tracks large projects");
    assert_eq!(first.body["ownerRole"], "quoter");
    let name = first.body["name"].as_str().unwrap().to_owned();

    let below = suite
        .admin(Method::POST, "/v1/projects", Some(project(4_999_999)))
        .await;
    assert_eq!(below.status, 400, "{:?}", below.body);
    let manager = suite.token("account_manager");
    let refused = post(&suite, &manager, "/v1/projects", project(6_000_000)).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);

    let update = |amount: i64, signed: bool, etag: &Value| json!({"amount": yuan(amount), "signed": signed, "etag": etag});
    let signed = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{name}"),
            Some(update(5_000_000, true, &first.body["etag"])),
        )
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["ownerRole"], "coordinator");
    let bigger = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{name}"),
            Some(update(15_000_000, true, &signed.body["etag"])),
        )
        .await;
    assert_eq!(
        bigger.body["ownerRole"], "vice_president",
        "{:?}",
        bigger.body
    );
    assert_eq!(bigger.body["ownerHistory"].as_array().unwrap().len(), 3);
    let stale = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{name}"),
            Some(update(9_000_000, true, &signed.body["etag"])),
        )
        .await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
}

#[tokio::test]
async fn a_managers_day_over_http() {
    let suite = Suite::start().await;
    // The tokens' own subject supervises the company.
    place(&suite, "staff-9").await;
    place(&suite, "li.na").await;
    place(&suite, "zhao.min").await;
    let customer = customer(&suite, "王丽", "li.na", "A").await;
    wait_for_plan(&suite, &customer, "A").await;
    let li = manager_token(&suite, "li.na");
    let today = suite.today();

    // Today's tasks: the customer's two visits (store manager, sales manager).
    let listed = get(
        &suite,
        &li,
        &format!(
            "/v1/tasks?state=TASK_STATE_OPEN&{}",
            date_query("dueBy", today)
        ),
    )
    .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let tasks: Vec<Value> = listed.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] != "TASK_KIND_CARE")
        .cloned()
        .collect();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["assignee"], "staff/li.na");
        assert_eq!(task["customer"], customer.as_str());
        assert_eq!(task["channel"], "CONTACT_CHANNEL_VISIT");
        assert_eq!(task["tier"], "A");
    }
    let task = tasks[0]["name"].as_str().unwrap().to_owned();

    // Another manager sees none of it.
    let zhao = manager_token(&suite, "zhao.min");
    let theirs = get(&suite, &zhao, "/v1/tasks").await;
    assert_eq!(theirs.status, 200);
    assert!(theirs.body["tasks"].as_array().unwrap().is_empty());
    assert_eq!(get(&suite, &zhao, &format!("/v1/{task}")).await.status, 404);

    // A snooze needs a reason, and moves the task.
    let tomorrow = today.succ_opt().unwrap();
    let second = tasks[1]["name"].as_str().unwrap().to_owned();
    let refused = post(
        &suite,
        &li,
        &format!("/v1/{second}:snooze"),
        json!({"dueDate": wire_date(tomorrow), "reason": " "}),
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.violation_fields(), vec!["reason".to_string()]);
    let snoozed = post(
        &suite,
        &li,
        &format!("/v1/{second}:snooze"),
        json!({"dueDate": wire_date(tomorrow), "reason": "the customer is travelling",
               "etag": tasks[1]["etag"]}),
    )
    .await;
    assert_eq!(snoozed.status, 200, "{:?}", snoozed.body);
    assert_eq!(snoozed.body["snoozeReason"], "the customer is travelling");
    assert_eq!(snoozed.body["dueDate"], wire_date(tomorrow));
    let stale = post(
        &suite,
        &li,
        &format!("/v1/{second}:snooze"),
        json!({"dueDate": wire_date(tomorrow), "reason": "again", "etag": tasks[1]["etag"]}),
    )
    .await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);

    // When to call: the policy's window for a younger customer, from the
    // suite's now (inside it on the default date; the next morning at 23:59).
    let next = get(
        &suite,
        &li,
        &format!("/v1/{customer}/nextContactTime?channel=CONTACT_CHANNEL_PHONE"),
    )
    .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    let at = chrono::DateTime::parse_from_rfc3339(next.body["time"].as_str().unwrap()).unwrap();
    let expected = patron_scheduling::domain::contact_window::next_good_time(
        suite.now(),
        SHANGHAI,
        patron_scheduling::domain::contact_window::Channel::Call,
        &Default::default(),
        &policy().contact_windows,
    );
    assert_eq!(at.with_timezone(&chrono::Utc), expected);

    // The visit made: logged against the task, retried with the same id.
    let request_id = Uuid::new_v4().to_string();
    let log = json!({"customer": customer, "task": task, "channel": "CONTACT_CHANNEL_VISIT",
                     "summary": "annual check-up discussed"});
    let logged = post(
        &suite,
        &li,
        &format!("/v1/contactLogs?requestId={request_id}"),
        log.clone(),
    )
    .await;
    assert_eq!(logged.status, 200, "{:?}", logged.body);
    assert_eq!(logged.body["staffMember"], "staff/li.na");
    let again = post(
        &suite,
        &li,
        &format!("/v1/contactLogs?requestId={request_id}"),
        log,
    )
    .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["name"], logged.body["name"]);
    let done = get(&suite, &li, &format!("/v1/{task}")).await;
    assert_eq!(done.body["state"], "TASK_STATE_DONE", "{:?}", done.body);
    assert_eq!(done.body["contactLog"], logged.body["name"]);
    let logs = get(&suite, &li, &format!("/v1/contactLogs?customer={customer}")).await;
    assert_eq!(logs.body["contactLogs"].as_array().unwrap().len(), 1);
    // Logging against a closed task is refused.
    let closed = post(
        &suite,
        &li,
        "/v1/contactLogs",
        json!({"customer": customer, "task": task, "channel": "CONTACT_CHANNEL_VISIT"}),
    )
    .await;
    assert_eq!(closed.status, 400, "{:?}", closed.body);
    assert_eq!(closed.error_status(), "FAILED_PRECONDITION");

    // The day's figures for the manager.
    let figures = get(
        &suite,
        &suite.token("supervisor"),
        &format!(
            "/v1/contactFigures?{}&{}",
            date_query("startDate", today),
            date_query("endDate", tomorrow)
        ),
    )
    .await;
    assert_eq!(figures.status, 200, "{:?}", figures.body);
    let li_figures = figures.body["managers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["staffMember"] == "staff/li.na")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", figures.body));
    let due = 2 + care_due(&suite, "li.na", today, tomorrow).await;
    assert_eq!(li_figures["due"], due.to_string());
    assert_eq!(li_figures["doneOnTime"], "1");
}

#[tokio::test]
async fn a_leave_hands_tasks_over_and_back() {
    let suite = Suite::start().await;
    place(&suite, "li.na").await;
    place(&suite, "wang.lead").await;
    let customer = customer(&suite, "王丽", "li.na", "A").await;
    wait_for_plan(&suite, &customer, "A").await;
    let today = suite.today();
    let end = today + chrono::Days::new(3);

    // A manager may not record leaves; a supervisor may.
    let leave = json!({"staffMember": "staff/li.na", "standIn": "staff/wang.lead",
                       "startDate": wire_date(today), "endDate": wire_date(end)});
    let li = manager_token(&suite, "li.na");
    assert_eq!(
        post(&suite, &li, "/v1/leaves", leave.clone()).await.status,
        403
    );
    let supervisor = suite.token("supervisor");
    // The two visits due today, and any care due during the leave.
    let due = 2 + care_due(&suite, "li.na", today, end).await;
    let created = post(&suite, &supervisor, "/v1/leaves", leave.clone()).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let handovers = created.body["handovers"].as_array().unwrap().clone();
    assert_eq!(
        handovers.len(),
        due,
        "every task due by its end: {handovers:?}"
    );
    assert!(handovers.iter().all(|h| h["toStaff"] == "staff/wang.lead"));
    let lead = manager_token(&suite, "wang.lead");
    let covered = get(&suite, &lead, "/v1/tasks?assignee=staff/wang.lead").await;
    assert_eq!(
        covered.body["tasks"].as_array().unwrap().len(),
        due,
        "{:?}",
        covered.body
    );
    // An overlapping leave is refused.
    let overlapping = post(&suite, &supervisor, "/v1/leaves", leave).await;
    assert_eq!(overlapping.error_status(), "FAILED_PRECONDITION");

    // The leave over, what the lead did not do goes back.
    suite.clock.set(
        SHANGHAI
            .from_local_datetime(&(end + chrono::Days::new(1)).and_hms_opt(9, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let mut listed = Value::Null;
    for _ in 0..200 {
        listed = get(&suite, &supervisor, "/v1/leaves?staffMember=staff/li.na")
            .await
            .body;
        if listed["leaves"][0]["handovers"].as_array().map(Vec::len) == Some(2 * due) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = listed["leaves"][0]["handovers"].as_array().unwrap();
    assert_eq!(all.len(), 2 * due, "{listed:?}");
    assert!(
        all[due..]
            .iter()
            .all(|h| h["fromStaff"] == "staff/wang.lead" && h["toStaff"] == "staff/li.na")
    );
    let back = get(
        &suite,
        &li,
        "/v1/tasks?assignee=staff/li.na&state=TASK_STATE_OPEN",
    )
    .await;
    let names: BTreeSet<&str> = back.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for h in &handovers {
        assert!(
            names.contains(h["task"].as_str().unwrap()),
            "{:?}",
            back.body
        );
    }
}

#[tokio::test]
async fn marketing_is_never_allowed_when_refused_or_unknown() {
    let suite = Suite::start().await;
    place(&suite, "li.na").await;
    let customer = customer(&suite, "王丽", "li.na", "A").await;
    let li = manager_token(&suite, "li.na");
    let path =
        format!("/v1/{customer}/nextContactTime?channel=CONTACT_CHANNEL_PHONE&marketing=true");
    let consent = |status: &str| {
        json!({"channel": "CONTACT_CHANNEL_PHONE", "purpose": "CONTACT_PURPOSE_MARKETING",
               "status": status, "source": "signed form"})
    };
    let recorded = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}/consents"),
            Some(consent("CONSENT_STATUS_OPTED_IN")),
        )
        .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    let allowed = get(&suite, &li, &path).await;
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);
    assert_eq!(allowed.body["permission"], "CONTACT_PERMISSION_ALLOWED");

    let withdrawn = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}/consents"),
            Some(consent("CONSENT_STATUS_OPTED_OUT")),
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{:?}", withdrawn.body);
    let denied = get(&suite, &li, &path).await;
    assert_eq!(
        denied.body["permission"], "CONTACT_PERMISSION_DENIED",
        "{:?}",
        denied.body
    );

    // A replica whose customer-profile is down answers "unknown".
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let replica = suite.start_scheduling_replica("cut-off", &dead_url).await;
    let mut client = SchedulingServiceClient::connect(replica).await.unwrap();
    let mut request = tonic::Request::new(pb::GetNextContactTimeRequest {
        customer: customer.clone(),
        channel: pb::ContactChannel::Phone as i32,
        marketing: true,
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {li}").parse().unwrap());
    let answer = client
        .get_next_contact_time(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.permission, pb::ContactPermission::Unknown as i32);
    assert!(answer.time.is_some());
}
