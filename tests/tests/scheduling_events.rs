//! Scheduling's activities, calendar feeds and overdue escalation against
//! real PostgreSQL and Redis, beside customer-profile, tiering and the
//! gateway, with the clock moved: an overdue task escalated to the group
//! lead once by two replicas; a manager's feed served as iCalendar at its
//! secret URL with no token, and gone once revoked; a year's coverage and
//! participation per unit.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::scheduling::v1 as pb;
use patron_suite_tests::{Reply, SCHEDULING_PUBLIC_URL, Suite};
use prost::Message;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn token_of(suite: &Suite, id: &str, role: &str) -> String {
    suite.token_with(|c| {
        c.sub = id.into();
        c.roles = vec![role.into()];
    })
}

async fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

async fn unit(suite: &Suite, id: &str, parent: &str, kind: &str) {
    ok(suite
        .admin(
            Method::POST,
            &format!("/v1/orgUnits?orgUnitId={id}"),
            Some(json!({"displayName": id, "kind": kind, "parent": format!("orgUnits/{parent}")})),
        )
        .await)
    .await;
}

async fn place(suite: &Suite, staff: &str, unit: &str) {
    ok(suite
        .admin(
            Method::POST,
            &format!("/v1/staff?staffMemberId={staff}"),
            Some(json!({"displayName": staff, "orgUnit": format!("orgUnits/{unit}")})),
        )
        .await)
    .await;
}

/// A customer of `unit` managed by `manager`.
async fn customer(suite: &Suite, name: &str, unit: &str, manager: &str) -> String {
    let body = ok(suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": name,
                        "orgUnit": format!("orgUnits/{unit}"), "accountManager": manager})),
        )
        .await)
    .await;
    body["name"].as_str().unwrap().to_owned()
}

fn id_of(name: &str) -> Uuid {
    name.rsplit('/').next().unwrap().parse().unwrap()
}

/// Grades `customer` by an override and waits until scheduling knows it.
async fn grade(suite: &Suite, customer: &str, tier: &str) {
    suite.wait_for_tiering_to_catch_up().await;
    let path = format!("/v1/{customer}/tierAssignment");
    for _ in 0..200 {
        if suite.admin(Method::GET, &path, None).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut done = false;
    for _ in 0..5 {
        let answer = suite
            .admin(
                Method::POST,
                &format!("{path}:override"),
                Some(json!({"tierCode": tier, "reason": "designated by the region"})),
            )
            .await;
        if answer.status == 200 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(done, "tiering overrode the tier");
    suite.wait_for_scheduling_to_catch_up().await;
}

/// Waits until the generation job has planned `customer` under `tier`
/// (a grade re-plans them on a later pass: until then the tasks of their
/// first plan stand); their open tasks then, ids and due days.
async fn open_tasks(suite: &Suite, customer: &str, tier: &str) -> Vec<(Uuid, NaiveDate)> {
    let mut conn = suite.db.admin_connection().await;
    for _ in 0..600 {
        let tasks: Vec<(Uuid, NaiveDate, String)> = sqlx::query_as(
            "SELECT id, due_date, tier FROM scheduling.tasks
              WHERE customer_id = $1 AND state = 'open' ORDER BY due_date, id",
        )
        .bind(id_of(customer))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        // A pass plans a customer in one transaction: once a task of the
        // tier is there, the re-plan is whole.
        if tasks.iter().any(|(_, _, t)| t == tier) {
            return tasks.into_iter().map(|(id, due, _)| (id, due)).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no task was planned for {customer}");
}

fn local(day: NaiveDate, hour: u32, minute: u32) -> chrono::DateTime<chrono::Utc> {
    SHANGHAI
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// The payloads of scheduling's events of type `M` in its outbox.
async fn events_of<M: Message + Default + prost::Name>(suite: &Suite) -> Vec<M> {
    let mut conn = suite.db.admin_connection().await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM scheduling.outbox ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    envelopes
        .iter()
        .map(|bytes| EventEnvelope::decode(bytes.as_slice()).unwrap())
        .filter(|e| e.event_type == M::full_name())
        .map(|e| M::decode(e.payload.as_slice()).unwrap())
        .collect()
}

#[tokio::test]
async fn an_overdue_task_is_escalated_to_the_group_lead_once_by_two_replicas() {
    let suite = Suite::start().await;
    suite
        .start_scheduling_replica("replica-2", &suite.profile_url)
        .await;
    unit(&suite, "east", "company", "ORG_UNIT_KIND_REGION").await;
    unit(&suite, "pudong", "east", "ORG_UNIT_KIND_BRANCH").await;
    place(&suite, "li.na", "pudong").await;
    place(&suite, "wang.lead", "pudong").await;
    place(&suite, "zhao.min", "pudong").await;
    let customer = customer(&suite, "王丽", "pudong", "li.na").await;
    grade(&suite, &customer, "A").await;
    let planned = open_tasks(&suite, &customer, "A").await;

    // Naming the lead: a manager may not; the lead must sit in the unit.
    let admin = suite.token("admin");
    let li = token_of(&suite, "li.na", "account_manager");
    let lead = json!({"lead": "staff/wang.lead"});
    let refused = suite
        .call(
            Method::POST,
            "/v1/orgUnits/pudong/groupLead",
            Some(&li),
            Some(lead.clone()),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let elsewhere = suite
        .call(
            Method::POST,
            "/v1/orgUnits/nowhere/groupLead",
            Some(&admin),
            Some(lead.clone()),
        )
        .await;
    assert_eq!(
        elsewhere.error_status(),
        "FAILED_PRECONDITION",
        "{:?}",
        elsewhere.body
    );
    let named = ok(suite
        .call(
            Method::POST,
            "/v1/orgUnits/pudong/groupLead",
            Some(&admin),
            Some(lead),
        )
        .await)
    .await;
    assert_eq!(named["lead"], "staff/wang.lead");
    let leads = ok(suite
        .call(Method::GET, "/v1/groupLeads", Some(&admin), None)
        .await)
    .await;
    assert_eq!(leads["groupLeads"][0]["orgUnit"], "orgUnits/pudong");

    // Three days on, what was due is overdue: both replicas pass over it.
    let later = suite.today() + chrono::Days::new(3);
    suite.clock.set(local(later, 9, 30));
    let overdue: Vec<Uuid> = planned
        .iter()
        .filter(|(_, due)| *due < later)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        !overdue.is_empty(),
        "the tier's first visits were due: {planned:?}"
    );
    let mut conn = suite.db.admin_connection().await;
    for _ in 0..300 {
        let announced: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM scheduling.tasks WHERE id = ANY($1) AND overdue_announced",
        )
        .bind(&overdue)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if announced as usize == overdue.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More passes of both replicas change nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let escalated: Vec<(Uuid, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT id, escalated_to, assignee, version FROM scheduling.tasks WHERE id = ANY($1)",
    )
    .bind(&overdue)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(escalated.len(), overdue.len());
    for (id, to, assignee, _) in &escalated {
        assert_eq!(to.as_deref(), Some("wang.lead"), "task {id}");
        assert_eq!(assignee, "li.na", "the task stays the manager's");
    }
    let announced: Vec<pb::TaskOverdue> = events_of(&suite).await;
    let mut per_task: BTreeMap<String, usize> = BTreeMap::new();
    for event in &announced {
        *per_task.entry(event.task.clone()).or_default() += 1;
        assert_eq!(event.escalated_to, "staff/wang.lead");
        assert_eq!(event.assignee, "staff/li.na");
    }
    let expected: BTreeMap<String, usize> = overdue
        .iter()
        .map(|id| (format!("tasks/{id}"), 1))
        .collect();
    assert_eq!(per_task, expected, "each overdue task announced once");

    // The lead reaches the escalated task; another manager does not.
    let task = format!("/v1/tasks/{}", overdue[0]);
    let wang = token_of(&suite, "wang.lead", "account_manager");
    let seen = ok(suite.call(Method::GET, &task, Some(&wang), None).await).await;
    assert_eq!(seen["escalatedTo"], "staff/wang.lead");
    assert_eq!(seen["assignee"], "staff/li.na");
    assert!(seen["escalationTime"].is_string(), "{seen:?}");
    let zhao = token_of(&suite, "zhao.min", "account_manager");
    assert_eq!(
        suite
            .call(Method::GET, &task, Some(&zhao), None)
            .await
            .status,
        404
    );
}

/// The path of a feed URL made under the suite's public address.
fn feed_path(url: &str) -> String {
    url.strip_prefix(SCHEDULING_PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {SCHEDULING_PUBLIC_URL}"))
        .to_owned()
}

async fn fetch(suite: &Suite, path: &str) -> (u16, String, String) {
    let response = suite
        .http
        .get(format!("{}{path}", suite.base_url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn a_managers_feed_is_icalendar_at_its_secret_url_until_revoked() {
    use icalendar::Component;
    let suite = Suite::start().await;
    place(&suite, "li.na", "company").await;
    place(&suite, "zhao.min", "company").await;
    let customer = customer(&suite, "王丽", "company", "li.na").await;
    grade(&suite, &customer, "A").await;
    let tasks = open_tasks(&suite, &customer, "A").await;
    let li = token_of(&suite, "li.na", "account_manager");
    let today = suite.today();

    // A task moved to tomorrow, with its reason.
    let tomorrow = today.succ_opt().unwrap();
    let (moved, _) = tasks[0];
    let snoozed = suite
        .call(
            Method::POST,
            &format!("/v1/tasks/{moved}:snooze"),
            Some(&li),
            Some(
                json!({"dueDate": {"year": tomorrow.year(), "month": tomorrow.month(),
                                    "day": tomorrow.day()},
                        "reason": "the customer is travelling; back on Friday, call then"}),
            ),
        )
        .await;
    assert_eq!(snoozed.status, 200, "{:?}", snoozed.body);

    // Another manager may not make li.na's link; li.na may, and a
    // supervisor over her unit may.
    let zhao = token_of(&suite, "zhao.min", "account_manager");
    let refused = suite
        .call(
            Method::POST,
            "/v1/staff/li.na/calendarFeed",
            Some(&zhao),
            Some(json!({})),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(
        suite
            .call(Method::GET, "/v1/staff/li.na/calendarFeed", Some(&li), None)
            .await
            .status,
        404,
        "no link yet"
    );
    let made = ok(suite
        .call(
            Method::POST,
            "/v1/staff/li.na/calendarFeed",
            Some(&li),
            Some(json!({})),
        )
        .await)
    .await;
    assert_eq!(made["name"], "staff/li.na/calendarFeed");
    let path = feed_path(made["url"].as_str().unwrap());
    assert!(
        path.starts_with("/calendar/") && path.ends_with(".ics"),
        "{path}"
    );

    // Polled with no token: the manager's tasks, in iCalendar.
    let (status, kind, text) = fetch(&suite, &path).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "text/calendar; charset=utf-8");
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    for line in text.split("\r\n") {
        assert!(
            line.len() <= 75,
            "a line of {} octets: {line:?}",
            line.len()
        );
        assert!(!line.contains('\n') && !line.contains('\r'));
    }
    let calendar: icalendar::Calendar = text.parse().expect("the feed parses");
    let events: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .collect();
    let uids: Vec<String> = events
        .iter()
        .map(|e| e.get_uid().unwrap().to_owned())
        .collect();
    let mut conn = suite.db.admin_connection().await;
    let open: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM scheduling.tasks WHERE assignee = 'li.na' AND state = 'open'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(open.len() >= tasks.len(), "{open:?}");
    let mut expected: Vec<String> = open.iter().map(|id| format!("task-{id}@patron")).collect();
    expected.sort();
    let mut got = uids.clone();
    got.sort();
    assert_eq!(got, expected, "each open task once");
    for event in &events {
        assert!(event.get_timestamp().is_some(), "DTSTAMP");
        assert!(
            event.get_summary().unwrap().contains(&customer),
            "{:?}",
            event.get_summary()
        );
        assert!(matches!(
            event.get_start(),
            Some(icalendar::DatePerhapsTime::Date(_))
        ));
    }
    let moved_event = events
        .iter()
        .find(|e| e.get_uid() == Some(format!("task-{moved}@patron").as_str()))
        .unwrap();
    assert!(
        moved_event
            .get_description()
            .unwrap()
            .contains("Moved: the customer is travelling; back on Friday, call then"),
        "{:?}",
        moved_event.get_description()
    );
    assert_eq!(
        moved_event.get_start(),
        Some(icalendar::DatePerhapsTime::Date(tomorrow))
    );

    // Reading the link never shows its URL again.
    let read = ok(suite
        .call(Method::GET, "/v1/staff/li.na/calendarFeed", Some(&li), None)
        .await)
    .await;
    assert!(read.get("url").is_none_or(|u| u == ""), "{read:?}");
    assert!(read.get("revokeTime").is_none(), "{read:?}");

    // Revoked: the URL answers 404; a second revoke finds nothing.
    let revoked = ok(suite
        .call(
            Method::POST,
            "/v1/staff/li.na/calendarFeed:revoke",
            Some(&li),
            Some(json!({})),
        )
        .await)
    .await;
    assert!(revoked["revokeTime"].is_string(), "{revoked:?}");
    assert_eq!(fetch(&suite, &path).await.0, 404);
    let again = suite
        .call(
            Method::POST,
            "/v1/staff/li.na/calendarFeed:revoke",
            Some(&li),
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status, 404, "{:?}", again.body);

    // A new link works; the old one stays dead; a supervisor may make one,
    // which ends the manager's.
    let renewed = ok(suite
        .call(
            Method::POST,
            "/v1/staff/li.na/calendarFeed",
            Some(&li),
            Some(json!({})),
        )
        .await)
    .await;
    let new_path = feed_path(renewed["url"].as_str().unwrap());
    assert_ne!(new_path, path);
    assert_eq!(fetch(&suite, &new_path).await.0, 200);
    assert_eq!(fetch(&suite, &path).await.0, 404);
    place(&suite, "staff-9", "company").await;
    suite.wait_for_scheduling_to_catch_up().await;
    let by_supervisor = ok(suite
        .call(
            Method::POST,
            "/v1/staff/li.na/calendarFeed",
            Some(&suite.token("supervisor")),
            Some(json!({})),
        )
        .await)
    .await;
    assert_eq!(by_supervisor["createdBy"], "staff/staff-9");
    assert_eq!(fetch(&suite, &new_path).await.0, 404);
    assert_eq!(
        fetch(&suite, &feed_path(by_supervisor["url"].as_str().unwrap()))
            .await
            .0,
        200
    );

    // Anything else under /calendar is simply not there.
    for bad in [
        "/calendar/nothing.ics",
        "/calendar/nothing",
        &new_path.replace(".ics", ""),
    ] {
        assert_eq!(fetch(&suite, bad).await.0, 404, "{bad}");
    }
}

/// The figures of `unit` in an ActivityFigures answer.
fn unit_figures<'a>(figures: &'a Value, unit: &str) -> &'a Value {
    figures["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["orgUnit"] == format!("orgUnits/{unit}"))
        .unwrap_or_else(|| panic!("no {unit} in {figures:?}"))
}

fn units_of(figures: &Value) -> Vec<String> {
    figures["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["orgUnit"].as_str().unwrap().to_owned())
        .collect()
}

/// (VIPs, invited, held, attended, coverage met, participation met).
fn counts(u: &Value) -> (i64, i64, i64, i64, bool, bool) {
    let n = |f: &str| u[f].as_str().unwrap_or("0").parse::<i64>().unwrap();
    (
        n("vipCustomers"),
        n("vipsInvited"),
        n("invitationsHeld"),
        n("attended"),
        u["coverageMet"].as_bool().unwrap_or(false),
        u["participationMet"].as_bool().unwrap_or(false),
    )
}

#[tokio::test]
async fn a_years_activities_cover_vips_and_count_participation_per_unit() {
    let suite = Suite::start().await;
    unit(&suite, "east", "company", "ORG_UNIT_KIND_REGION").await;
    unit(&suite, "pudong", "east", "ORG_UNIT_KIND_BRANCH").await;
    unit(&suite, "jingan", "east", "ORG_UNIT_KIND_BRANCH").await;
    place(&suite, "li.na", "pudong").await;
    place(&suite, "zhao.min", "jingan").await;
    place(&suite, "staff-9", "jingan").await;
    let p1 = customer(&suite, "P1", "pudong", "li.na").await;
    let p2 = customer(&suite, "P2", "pudong", "li.na").await;
    let p3 = customer(&suite, "P3", "pudong", "li.na").await;
    let j1 = customer(&suite, "J1", "jingan", "zhao.min").await;
    let j2 = customer(&suite, "J2", "jingan", "zhao.min").await;
    for c in [&p1, &p2, &p3, &j1, &j2] {
        grade(&suite, c, "B").await;
    }
    let admin = suite.token("admin");
    let li = token_of(&suite, "li.na", "account_manager");

    // Two activities tomorrow, in the same local year.
    let day = suite.today() + chrono::Days::new(1);
    let year = day.year();
    let activity = |title: &str, kind: &str, unit: &str, hour: u32| {
        json!({"title": title, "kind": kind, "orgUnit": format!("orgUnits/{unit}"),
               "startTime": local(day, hour, 0).to_rfc3339(),
               "endTime": local(day, hour + 2, 0).to_rfc3339(), "location": "Hall 3"})
    };
    let request_id = Uuid::new_v4();
    let symposium = activity("VIP 座谈会", "ACTIVITY_KIND_SYMPOSIUM", "east", 10);
    let first = ok(suite
        .call(
            Method::POST,
            &format!("/v1/activities?requestId={request_id}"),
            Some(&admin),
            Some(symposium.clone()),
        )
        .await)
    .await;
    let retried = ok(suite
        .call(
            Method::POST,
            &format!("/v1/activities?requestId={request_id}"),
            Some(&admin),
            Some(symposium),
        )
        .await)
    .await;
    assert_eq!(
        first["name"], retried["name"],
        "a retried create is applied once"
    );
    let a1 = first["name"].as_str().unwrap().to_owned();
    let refused = suite
        .call(
            Method::POST,
            "/v1/activities",
            Some(&li),
            Some(activity("tea", "ACTIVITY_KIND_REWARD", "pudong", 15)),
        )
        .await;
    assert_eq!(refused.status, 403, "a manager does not plan activities");
    let bad = suite
        .call(
            Method::POST,
            "/v1/activities",
            Some(&admin),
            Some(json!({"title": " ", "orgUnit": "east", "endTime": "2027-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let mut fields = bad.violation_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "activity.kind",
            "activity.org_unit",
            "activity.start_time",
            "activity.title"
        ]
    );
    let a2 = ok(suite
        .call(
            Method::POST,
            "/v1/activities",
            Some(&admin),
            Some(activity("中秋回馈", "ACTIVITY_KIND_REWARD", "pudong", 15)),
        )
        .await)
    .await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = ok(suite
        .call(
            Method::GET,
            &format!("/v1/activities?year={year}&orgUnit=orgUnits/pudong"),
            Some(&li),
            None,
        )
        .await)
    .await;
    assert_eq!(
        listed["activities"].as_array().unwrap().len(),
        1,
        "{listed:?}"
    );

    // Invitations: a manager invites only her own customers.
    let invite = |activity: &str, customers: &[&String]| {
        (
            format!("/v1/{activity}/invitations:batchCreate"),
            json!({"customers": customers}),
        )
    };
    let (path, body) = invite(&a1, &[&p1, &j1]);
    let outside = suite.call(Method::POST, &path, Some(&li), Some(body)).await;
    assert_eq!(outside.status, 400, "{:?}", outside.body);
    assert_eq!(outside.violation_fields(), ["customers[1]"]);
    let (path, body) = invite(&a1, &[&p1, &p2]);
    let invited = ok(suite.call(Method::POST, &path, Some(&li), Some(body)).await).await;
    assert_eq!(invited["newlyInvited"], "2");
    let (path, body) = invite(&a1, &[&j1, &p1]);
    let again = ok(suite
        .call(Method::POST, &path, Some(&admin), Some(body))
        .await)
    .await;
    assert_eq!(again["newlyInvited"], "1", "p1 was invited already");
    assert_eq!(again["invitations"][1]["invitedBy"], "staff/li.na");
    let (path, body) = invite(&a2, &[&p1, &p3]);
    ok(suite.call(Method::POST, &path, Some(&li), Some(body)).await).await;
    let mine = ok(suite
        .call(
            Method::GET,
            &format!("/v1/{a1}/invitations"),
            Some(&li),
            None,
        )
        .await)
    .await;
    assert_eq!(
        mine["invitations"].as_array().unwrap().len(),
        2,
        "li.na reaches p1 and p2"
    );

    // Before they begin: coverage counts, nothing is held yet.
    let figures_path = format!("/v1/activityFigures?year={year}");
    let figures = ok(suite
        .call(Method::GET, &figures_path, Some(&admin), None)
        .await)
    .await;
    assert_eq!(figures["coverageTarget"], 1.0);
    assert_eq!(figures["participationTarget"], 0.85);
    assert_eq!(
        units_of(&figures),
        [
            "orgUnits/company",
            "orgUnits/east",
            "orgUnits/jingan",
            "orgUnits/pudong"
        ]
    );
    assert_eq!(
        counts(unit_figures(&figures, "pudong")),
        (3, 3, 0, 0, true, false)
    );
    assert_eq!(
        counts(unit_figures(&figures, "jingan")),
        (2, 1, 0, 0, false, false)
    );
    assert_eq!(
        counts(unit_figures(&figures, "east")),
        (5, 4, 0, 0, false, false)
    );
    assert_eq!(unit_figures(&figures, "east")["coverageRate"], 0.8);
    let attend = |activity: &str, customer: &str, state: &str| {
        (
            format!(
                "/v1/{activity}/invitations/{}:recordAttendance",
                id_of(customer)
            ),
            json!({"state": state}),
        )
    };
    let (path, body) = attend(&a1, &p1, "INVITATION_STATE_ATTENDED");
    let early = suite.call(Method::POST, &path, Some(&li), Some(body)).await;
    assert_eq!(
        early.error_status(),
        "FAILED_PRECONDITION",
        "{:?}",
        early.body
    );

    // Both held; attendance recorded.
    suite.clock.set(local(day, 18, 0));
    for (activity, customer, state, token) in [
        (&a1, &p1, "INVITATION_STATE_ATTENDED", &li),
        (&a1, &p2, "INVITATION_STATE_ABSENT", &li),
        (&a1, &j1, "INVITATION_STATE_ATTENDED", &admin),
        (&a2, &p1, "INVITATION_STATE_ATTENDED", &li),
        (&a2, &p3, "INVITATION_STATE_ATTENDED", &li),
    ] {
        let (path, body) = attend(activity, customer, state);
        let recorded = ok(suite
            .call(Method::POST, &path, Some(token), Some(body))
            .await)
        .await;
        assert_eq!(recorded["state"], state);
    }
    let (path, body) = attend(&a1, &j1, "INVITATION_STATE_INVITED");
    assert_eq!(
        suite
            .call(Method::POST, &path, Some(&admin), Some(body))
            .await
            .violation_fields(),
        ["state"]
    );
    let (path, body) = attend(&a1, &j1, "INVITATION_STATE_ABSENT");
    assert_eq!(
        suite
            .call(Method::POST, &path, Some(&li), Some(body))
            .await
            .status,
        404,
        "li.na does not reach j1"
    );
    let (path, body) = attend(&a2, &j2, "INVITATION_STATE_ATTENDED");
    assert_eq!(
        suite
            .call(Method::POST, &path, Some(&admin), Some(body))
            .await
            .status,
        404,
        "j2 was not invited"
    );

    let figures = ok(suite
        .call(Method::GET, &figures_path, Some(&admin), None)
        .await)
    .await;
    // pudong: p1 twice, p2 and p3 once, 3 of 4 attended (75%).
    assert_eq!(
        counts(unit_figures(&figures, "pudong")),
        (3, 3, 4, 3, true, false)
    );
    assert_eq!(unit_figures(&figures, "pudong")["participationRate"], 0.75);
    assert_eq!(
        counts(unit_figures(&figures, "jingan")),
        (2, 1, 1, 1, false, true)
    );
    assert_eq!(
        counts(unit_figures(&figures, "east")),
        (5, 4, 5, 4, false, false)
    );

    // p2 came after all (the etag guards the correction): pudong 4 of 4.
    let (path, _) = attend(&a1, &p2, "");
    let stale = suite
        .call(
            Method::POST,
            &path,
            Some(&li),
            Some(json!({"state": "INVITATION_STATE_ATTENDED", "etag": "W/\"1\""})),
        )
        .await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
    let (path, body) = attend(&a1, &p2, "INVITATION_STATE_ATTENDED");
    ok(suite.call(Method::POST, &path, Some(&li), Some(body)).await).await;
    let figures = ok(suite
        .call(Method::GET, &figures_path, Some(&admin), None)
        .await)
    .await;
    assert_eq!(
        counts(unit_figures(&figures, "pudong")),
        (3, 3, 4, 4, true, true)
    );
    assert_eq!(
        counts(unit_figures(&figures, "east")),
        (5, 4, 5, 5, false, true)
    );

    // A supervisor of jingan sees jingan only; the manager, her customers'
    // own unit; the next year has nothing held.
    let supervisor = suite.token("supervisor");
    let theirs = ok(suite
        .call(Method::GET, &figures_path, Some(&supervisor), None)
        .await)
    .await;
    assert_eq!(units_of(&theirs), ["orgUnits/jingan"]);
    let hers = ok(suite
        .call(Method::GET, &figures_path, Some(&li), None)
        .await)
    .await;
    assert_eq!(units_of(&hers), ["orgUnits/pudong"]);
    assert_eq!(
        counts(unit_figures(&hers, "pudong")),
        (3, 3, 4, 4, true, true)
    );
    let narrowed = ok(suite
        .call(
            Method::GET,
            &format!("{figures_path}&orgUnit=orgUnits/east"),
            Some(&admin),
            None,
        )
        .await)
    .await;
    assert_eq!(
        units_of(&narrowed),
        ["orgUnits/east", "orgUnits/jingan", "orgUnits/pudong"]
    );
    let next = ok(suite
        .call(
            Method::GET,
            &format!("/v1/activityFigures?year={}", year + 1),
            Some(&admin),
            None,
        )
        .await)
    .await;
    assert_eq!(
        counts(unit_figures(&next, "east")),
        (5, 0, 0, 0, false, false)
    );
    let bad_year = suite
        .call(
            Method::GET,
            "/v1/activityFigures?year=0",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(bad_year.violation_fields(), ["year"]);

    // The activity counts, and every change went out with its event.
    let a1_now = ok(suite
        .call(Method::GET, &format!("/v1/{a1}"), Some(&li), None)
        .await)
    .await;
    assert_eq!(
        (a1_now["invited"].clone(), a1_now["attended"].clone()),
        (json!("3"), json!("3"))
    );
    assert_eq!(events_of::<pb::ActivityPlanned>(&suite).await.len(), 2);
    assert_eq!(events_of::<pb::CustomerInvited>(&suite).await.len(), 5);
    let recorded: Vec<pb::AttendanceRecorded> = events_of(&suite).await;
    assert_eq!(recorded.len(), 6);
    assert_eq!(recorded[5].state, pb::InvitationState::Attended as i32);
    assert_eq!(recorded[5].customer, p2);
}
