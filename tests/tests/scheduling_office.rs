//! The scheduling service's office work against real PostgreSQL and Redis,
//! through the gateway (HTTP) and gRPC: a gift or relationship expense
//! (客情费) requested, approved within the supervisor's authority, spent and
//! reported, and refused above it; a priority notice reaching every VIP in
//! the issuer's reach, highest tier first, once however often it is sent;
//! a service plan submitted, returned, signed off, never by its author; and
//! a manager's work log reviewed for a week.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate};
use patron_proto::scheduling::v1 as pb;
use patron_proto::scheduling::v1::scheduling_service_client::SchedulingServiceClient;
use patron_suite_tests::{Reply, Suite};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// A token for `staff` holding `role`.
fn token(suite: &Suite, staff: &str, role: &str) -> String {
    suite.token_with(|c| {
        c.sub = staff.into();
        c.roles = vec![role.into()];
    })
}

/// Places staff members in the directory, at `unit`.
async fn place(suite: &Suite, unit: &str, staff: &[&str]) {
    for id in staff {
        let placed = suite
            .admin(
                Method::POST,
                &format!("/v1/staff?staffMemberId={id}"),
                Some(json!({"displayName": id, "orgUnit": unit})),
            )
            .await;
        assert_eq!(placed.status, 200, "{id}: {:?}", placed.body);
    }
}

async fn east_region(suite: &Suite) {
    let unit = suite
        .admin(
            Method::POST,
            "/v1/orgUnits?orgUnitId=east",
            Some(
                json!({"displayName": "East", "kind": "ORG_UNIT_KIND_REGION",
                        "parent": "orgUnits/company"}),
            ),
        )
        .await;
    assert_eq!(unit.status, 200, "{:?}", unit.body);
}

/// A customer of the company's unit, managed by `manager` and graded `tier`
/// by tiering (an override), once scheduling has heard of both.
async fn vip(suite: &Suite, name: &str, manager: &str, tier: &str) -> String {
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": name,
                        "accountManager": manager})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let customer = created.body["name"].as_str().unwrap().to_owned();
    suite.wait_for_tiering_to_catch_up().await;
    let path = format!("/v1/{customer}/tierAssignment:override");
    let mut done = false;
    for _ in 0..100 {
        let answer = suite
            .admin(
                Method::POST,
                &path,
                Some(json!({"tierCode": tier, "reason": "designated by the branch"})),
            )
            .await;
        if answer.status == 200 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "tiering graded {customer} {tier}");
    suite.wait_for_scheduling_to_catch_up().await;
    customer
}

async fn call(
    suite: &Suite,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    suite.call(method, path, Some(token), body).await
}

fn yuan(amount: i64) -> Value {
    json!({"currencyCode": "CNY", "amountMinor": (amount * 100).to_string()})
}

fn wire_date(d: NaiveDate) -> Value {
    json!({"year": d.year(), "month": d.month(), "day": d.day()})
}

fn date_query(field: &str, d: NaiveDate) -> String {
    format!(
        "{field}.year={}&{field}.month={}&{field}.day={}",
        d.year(),
        d.month(),
        d.day()
    )
}

/// Events of `topic` the scheduling service put in its outbox.
async fn outbox_count(suite: &Suite, topic: &str) -> i64 {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query_scalar("SELECT count(*) FROM scheduling.outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

fn actions(body: &Value) -> Vec<(String, String)> {
    body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_owned(),
                s["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_gift_expense_is_requested_approved_spent_and_reported() {
    let suite = Suite::start().await;
    place(
        &suite,
        "orgUnits/company",
        &["staff-9", "li.na", "wang.sup"],
    )
    .await;
    let customer = vip(&suite, "华东钢铁采购部", "li.na", "A").await;
    let li = token(&suite, "li.na", "account_manager");
    let wang = token(&suite, "wang.sup", "supervisor");

    // The manager asks, with a request id; a retry gives the same request.
    let ask = json!({"customer": customer, "purpose": "Mid-Autumn mooncakes for the purchasing director",
                     "budget": yuan(800)});
    let request_id = Uuid::new_v4();
    let path = format!("/v1/giftExpenses?requestId={request_id}");
    let asked = call(&suite, &li, Method::POST, &path, Some(ask.clone())).await;
    assert_eq!(asked.status, 200, "{:?}", asked.body);
    assert_eq!(asked.body["state"], "GIFT_EXPENSE_STATE_REQUESTED");
    assert_eq!(asked.body["requestedBy"], "staff/li.na");
    let again = call(&suite, &li, Method::POST, &path, Some(ask)).await;
    assert_eq!(again.body["name"], asked.body["name"]);
    let name = asked.body["name"].as_str().unwrap().to_owned();

    // Bad input names its fields; another currency than the company's is refused.
    let bad = call(
        &suite,
        &li,
        Method::POST,
        "/v1/giftExpenses",
        Some(json!({"customer": "nobody", "purpose": " ", "budget": yuan(0)})),
    )
    .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let mut fields = bad.violation_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "gift_expense.budget",
            "gift_expense.customer",
            "gift_expense.purpose"
        ]
    );
    let dollars = call(
        &suite,
        &li,
        Method::POST,
        "/v1/giftExpenses",
        Some(json!({"customer": customer, "purpose": "dinner",
                    "budget": {"currencyCode": "USD", "amountMinor": "100"}})),
    )
    .await;
    assert_eq!(
        dollars.violation_fields(),
        ["gift_expense.budget.currency_code"]
    );

    // Nothing is spent before it is approved; a manager approves nothing.
    let early = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:recordSpending"),
        Some(json!({"amount": yuan(800)})),
    )
    .await;
    assert_eq!(
        early.error_status(),
        "FAILED_PRECONDITION",
        "{:?}",
        early.body
    );
    let own = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(own.status, 403, "{:?}", own.body);

    // The supervisor approves within their 1,000 yuan; a stale etag is refused.
    let approved = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{name}:approve"),
        Some(json!({"note": "within the quarter's budget", "etag": asked.body["etag"]})),
    )
    .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["state"], "GIFT_EXPENSE_STATE_APPROVED");
    assert_eq!(approved.body["approvedAmount"], yuan(800));
    let stale = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:withdraw"),
        Some(json!({"etag": asked.body["etag"]})),
    )
    .await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
    let twice = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{name}:approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(twice.error_status(), "FAILED_PRECONDITION");

    // Spent: above the 10 % the policy tolerates is refused; above the
    // approval needs a note; with one it is recorded.
    let spend = |amount: i64, note: &str| json!({"amount": yuan(amount), "note": note, "etag": approved.body["etag"]});
    let too_much = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:recordSpending"),
        Some(spend(900, "the shop raised its prices")),
    )
    .await;
    assert_eq!(too_much.error_status(), "FAILED_PRECONDITION");
    let message = too_much.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("880.00 CNY"), "{message}");
    let no_note = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:recordSpending"),
        Some(spend(850, "")),
    )
    .await;
    assert_eq!(no_note.violation_fields(), ["note"], "{:?}", no_note.body);
    let spent = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:recordSpending"),
        Some(spend(850, "two boxes more for the deputy")),
    )
    .await;
    assert_eq!(spent.status, 200, "{:?}", spent.body);
    assert_eq!(spent.body["state"], "GIFT_EXPENSE_STATE_SPENT");
    assert_eq!(spent.body["spentAmount"], yuan(850));
    assert_eq!(
        actions(&spent.body),
        pairs(&[
            ("requested", "staff/li.na"),
            ("approved", "staff/wang.sup"),
            ("spent", "staff/li.na")
        ])
    );
    for step in spent.body["history"].as_array().unwrap() {
        assert!(step["time"].is_string(), "{step:?}");
    }

    // A second request is refused, with the reason.
    let second = call(
        &suite,
        &li,
        Method::POST,
        "/v1/giftExpenses",
        Some(json!({"customer": customer, "purpose": "banquet", "budget": yuan(300)})),
    )
    .await;
    let second_name = second.body["name"].as_str().unwrap().to_owned();
    let no_reason = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{second_name}:refuse"),
        Some(json!({})),
    )
    .await;
    assert_eq!(no_reason.violation_fields(), ["note"]);
    let refused = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{second_name}:refuse"),
        Some(json!({"note": "a banquet is not a gift"})),
    )
    .await;
    assert_eq!(refused.body["state"], "GIFT_EXPENSE_STATE_REFUSED");

    // The month's report, per manager and per unit.
    let today = suite.today();
    let report = call(
        &suite,
        &wang,
        Method::GET,
        &format!(
            "/v1/giftExpenseReport?year={}&month={}",
            today.year(),
            today.month()
        ),
        None,
    )
    .await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    let expected = json!({
        "requestedCount": "2", "requested": yuan(1100),
        "approvedCount": "1", "approved": yuan(800),
        "spentCount": "1", "spent": yuan(850),
        "refusedCount": "1"
    });
    assert_eq!(report.body["managers"][0]["staffMember"], "staff/li.na");
    assert_eq!(report.body["managers"][0]["totals"], expected);
    assert_eq!(report.body["units"][0]["orgUnit"], "orgUnits/company");
    assert_eq!(report.body["units"][0]["totals"], expected);
    assert_eq!(report.body["total"], expected);
    // The month before holds none of it.
    let before = today.with_day(1).unwrap().pred_opt().unwrap();
    let earlier = call(
        &suite,
        &wang,
        Method::GET,
        &format!(
            "/v1/giftExpenseReport?year={}&month={}",
            before.year(),
            before.month()
        ),
        None,
    )
    .await;
    assert_eq!(earlier.body["managers"], json!([]), "{:?}", earlier.body);
    let bad_month = call(
        &suite,
        &wang,
        Method::GET,
        "/v1/giftExpenseReport?year=1&month=13",
        None,
    )
    .await;
    let mut fields = bad_month.violation_fields();
    fields.sort();
    assert_eq!(fields, ["month", "year"]);

    // Lists: the manager's own, by state.
    let listed = call(
        &suite,
        &li,
        Method::GET,
        "/v1/giftExpenses?state=GIFT_EXPENSE_STATE_SPENT",
        None,
    )
    .await;
    let names: Vec<&str> = listed.body["giftExpenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [name.as_str()]);

    // Every step went out as an event, with the step it took.
    assert_eq!(outbox_count(&suite, "scheduling.gifts").await, 5);
}

async fn grpc(suite: &Suite) -> SchedulingServiceClient<tonic::transport::Channel> {
    SchedulingServiceClient::connect(suite.scheduling_url.clone())
        .await
        .unwrap()
}

fn authorised<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn cny(yuan: i64) -> patron_proto::common::v1::Money {
    patron_proto::common::v1::Money {
        currency_code: "CNY".into(),
        amount_minor: yuan * 100,
    }
}

#[tokio::test]
async fn above_the_supervisors_authority_is_refused_naming_the_limit() {
    let suite = Suite::start().await;
    place(
        &suite,
        "orgUnits/company",
        &["staff-9", "li.na", "wang.sup"],
    )
    .await;
    let customer = vip(&suite, "王丽", "li.na", "B").await;
    let li = token(&suite, "li.na", "account_manager");
    let wang = token(&suite, "wang.sup", "supervisor");
    let boss = token(&suite, "boss", "admin");
    let mut client = grpc(&suite).await;
    let ask = |purpose: &str| pb::CreateGiftExpenseRequest {
        gift_expense: Some(pb::GiftExpense {
            customer: customer.clone(),
            purpose: purpose.into(),
            budget: Some(cny(1500)),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let first = client
        .create_gift_expense(authorised(ask("a wedding gift"), &li))
        .await
        .unwrap()
        .into_inner();

    // 1,500 yuan is above the health chain's 1,000 for a supervisor.
    let refused = client
        .approve_gift_expense(authorised(
            pb::ApproveGiftExpenseRequest {
                name: first.name.clone(),
                ..Default::default()
            },
            &wang,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(
        refused.message().contains("1000.00 CNY") && refused.message().contains("1500.00 CNY"),
        "{}",
        refused.message()
    );
    // An administrator's authority is unlimited.
    let approved = client
        .approve_gift_expense(authorised(
            pb::ApproveGiftExpenseRequest {
                name: first.name.clone(),
                ..Default::default()
            },
            &boss,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.state, pb::GiftExpenseState::Approved as i32);

    // The supervisor may approve less, within their authority; never more
    // than the budget.
    let second = client
        .create_gift_expense(authorised(ask("a hospital visit"), &li))
        .await
        .unwrap()
        .into_inner();
    let over_budget = client
        .approve_gift_expense(authorised(
            pb::ApproveGiftExpenseRequest {
                name: second.name.clone(),
                amount: Some(cny(1600)),
                ..Default::default()
            },
            &boss,
        ))
        .await
        .unwrap_err();
    assert_eq!(over_budget.code(), tonic::Code::InvalidArgument);
    let less = client
        .approve_gift_expense(authorised(
            pb::ApproveGiftExpenseRequest {
                name: second.name.clone(),
                amount: Some(cny(1000)),
                note: "flowers and fruit suffice".into(),
                etag: second.etag.clone(),
            },
            &wang,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(less.approved_amount, Some(cny(1000)));
    assert_eq!(less.history[1].note, "flowers and fruit suffice");
    assert_eq!(less.history[1].actor, "staff/wang.sup");

    // A supervisor outside the customer's unit neither sees nor approves it.
    east_region(&suite).await;
    place(&suite, "orgUnits/east", &["east.sup"]).await;
    suite.wait_for_scheduling_to_catch_up().await;
    let east = token(&suite, "east.sup", "supervisor");
    let third = client
        .create_gift_expense(authorised(ask("a birthday gift"), &li))
        .await
        .unwrap()
        .into_inner();
    let outside = client
        .approve_gift_expense(authorised(
            pb::ApproveGiftExpenseRequest {
                name: third.name.clone(),
                amount: Some(cny(100)),
                ..Default::default()
            },
            &east,
        ))
        .await
        .unwrap_err();
    assert_eq!(outside.code(), tonic::Code::NotFound);
    // Nobody approves their own request, whatever their authority.
    let own_ask = client
        .create_gift_expense(authorised(ask("a gift from the top"), &boss))
        .await
        .unwrap()
        .into_inner();
    let own = client
        .approve_gift_expense(authorised(
            pb::ApproveGiftExpenseRequest {
                name: own_ask.name.clone(),
                ..Default::default()
            },
            &boss,
        ))
        .await
        .unwrap_err();
    assert_eq!(own.code(), tonic::Code::PermissionDenied);
}

/// The notice tasks `staff` is assigned, in the order ListTasks gives:
/// (customer, tier, assignee).
async fn notice_tasks(suite: &Suite, token: &str, staff: &str) -> Vec<(String, String)> {
    let listed = call(
        suite,
        token,
        Method::GET,
        &format!("/v1/tasks?assignee=staff/{staff}&state=TASK_STATE_OPEN&pageSize=500"),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "TASK_KIND_NOTICE")
        .map(|t| {
            (
                t["customer"].as_str().unwrap().to_owned(),
                t["tier"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_priority_notice_reaches_every_vip_highest_tier_first() {
    let suite = Suite::start().await;
    place(
        &suite,
        "orgUnits/company",
        &["staff-9", "li.na", "zhao.min", "wang.lead"],
    )
    .await;
    // Created lowest tier first, so only the notice's order puts A first.
    let c = vip(&suite, "陈", "li.na", "C").await;
    let a = vip(&suite, "安", "li.na", "A").await;
    let b = vip(&suite, "白", "li.na", "B").await;
    let zhao_a = vip(&suite, "赵", "zhao.min", "A").await;
    let supervisor = token(&suite, "staff-9", "supervisor");
    let today = suite.today();
    let due = today.checked_add_days(Days::new(3)).unwrap();

    // zhao.min is on leave today: their customer's notice goes to the lead.
    let leave = call(
        &suite,
        &supervisor,
        Method::POST,
        "/v1/leaves",
        Some(
            json!({"staffMember": "staff/zhao.min", "standIn": "staff/wang.lead",
                    "startDate": wire_date(today), "endDate": wire_date(due)}),
        ),
    )
    .await;
    assert_eq!(leave.status, 200, "{:?}", leave.body);

    let li = token(&suite, "li.na", "account_manager");
    let notice = json!({"title": "Price list 2027", "text": "Prices of imported modules rise 3 % on 1 March.",
                        "dueDate": wire_date(due)});
    // A manager does not issue notices.
    let refused = call(
        &suite,
        &li,
        Method::POST,
        "/v1/priorityNotices",
        Some(notice.clone()),
    )
    .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let unknown = call(
        &suite,
        &supervisor,
        Method::POST,
        "/v1/priorityNotices",
        Some(json!({"title": "x", "text": "y", "dueDate": wire_date(due), "tiers": ["A", "Z"]})),
    )
    .await;
    assert_eq!(unknown.violation_fields(), ["priority_notice.tiers[1]"]);
    let past = call(
        &suite,
        &supervisor,
        Method::POST,
        "/v1/priorityNotices",
        Some(json!({"title": "x", "text": "y",
                    "dueDate": wire_date(today.pred_opt().unwrap())})),
    )
    .await;
    assert_eq!(past.violation_fields(), ["priority_notice.due_date"]);

    let request_id = Uuid::new_v4();
    let path = format!("/v1/priorityNotices?requestId={request_id}");
    let issued = call(
        &suite,
        &supervisor,
        Method::POST,
        &path,
        Some(notice.clone()),
    )
    .await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    assert_eq!(issued.body["taskCount"], "4");
    assert_eq!(issued.body["channel"], "CONTACT_CHANNEL_PHONE");
    assert_eq!(
        issued.body["tierTasks"],
        json!([{"tier": "A", "tasks": "2"}, {"tier": "B", "tasks": "1"}, {"tier": "C", "tasks": "1"}])
    );
    // Sent again, it creates nothing more.
    let again = call(&suite, &supervisor, Method::POST, &path, Some(notice)).await;
    assert_eq!(again.body["name"], issued.body["name"]);

    assert_eq!(
        notice_tasks(&suite, &li, "li.na").await,
        [
            (a.clone(), "A".to_string()),
            (b.clone(), "B".to_string()),
            (c.clone(), "C".to_string())
        ],
        "highest tier first"
    );
    let lead = token(&suite, "wang.lead", "account_manager");
    assert_eq!(
        notice_tasks(&suite, &lead, "wang.lead").await,
        [(zhao_a.clone(), "A".to_string())]
    );
    let leaves = call(
        &suite,
        &supervisor,
        Method::GET,
        "/v1/leaves?staffMember=staff/zhao.min",
        None,
    )
    .await;
    let handed: Vec<&Value> = leaves.body["leaves"][0]["handovers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["toStaff"] == "staff/wang.lead")
        .collect();
    assert!(!handed.is_empty(), "{:?}", leaves.body);

    // Narrowed to C and A (asked in that order), by gRPC: the policy's order.
    let mut client = grpc(&suite).await;
    let narrowed = client
        .issue_priority_notice(authorised(
            pb::IssuePriorityNoticeRequest {
                priority_notice: Some(pb::PriorityNotice {
                    title: "Service hours".into(),
                    text: "The hotline opens at 8:00.".into(),
                    tiers: vec!["C".into(), "A".into()],
                    due_date: Some(patron_proto::common::v1::Date {
                        year: due.year(),
                        month: due.month() as i32,
                        day: due.day() as i32,
                    }),
                    channel: pb::ContactChannel::Sms as i32,
                    ..Default::default()
                }),
                request_id: Uuid::new_v4().to_string(),
            },
            &supervisor,
        ))
        .await
        .unwrap()
        .into_inner();
    let tiers: Vec<(&str, i64)> = narrowed
        .tier_tasks
        .iter()
        .map(|t| (t.tier.as_str(), t.tasks))
        .collect();
    assert_eq!(tiers, [("A", 2), ("C", 1)]);
    let read = client
        .get_priority_notice(authorised(
            pb::GetPriorityNoticeRequest {
                name: narrowed.name.clone(),
            },
            &supervisor,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, narrowed);

    // A supervisor of the east region reaches none of these customers.
    east_region(&suite).await;
    place(&suite, "orgUnits/east", &["east.sup"]).await;
    suite.wait_for_scheduling_to_catch_up().await;
    let east = token(&suite, "east.sup", "supervisor");
    let none = call(
        &suite,
        &east,
        Method::POST,
        "/v1/priorityNotices",
        Some(json!({"title": "x", "text": "y", "dueDate": wire_date(due)})),
    )
    .await;
    assert_eq!(none.status, 200, "{:?}", none.body);
    assert_eq!(none.body["taskCount"], "0");

    let mut conn = suite.db.admin_connection().await;
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduling.tasks WHERE kind = 'notice'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(created, 4 + 3, "each notice's tasks once");
    assert!(outbox_count(&suite, "scheduling.tasks").await >= 3);
}

#[tokio::test]
async fn a_service_plan_is_signed_off_by_a_supervisor_never_by_its_author() {
    let suite = Suite::start().await;
    east_region(&suite).await;
    place(
        &suite,
        "orgUnits/company",
        &["staff-9", "li.na", "wang.sup"],
    )
    .await;
    place(&suite, "orgUnits/east", &["east.sup"]).await;
    let customer = vip(&suite, "王丽", "li.na", "A").await;
    let li = token(&suite, "li.na", "account_manager");
    let wang = token(&suite, "wang.sup", "supervisor");
    let east = token(&suite, "east.sup", "supervisor");
    let today = suite.today();
    let month = today.with_day(1).unwrap();

    // The manager writes the month's plan; a retry gives the same plan.
    let plan = json!({"period": "PLAN_PERIOD_MONTH", "periodStart": wire_date(month),
                      "text": "Visit every A customer; Mid-Autumn gifts.",
                      "items": ["visit 王丽", "call the new customers"]});
    let request_id = Uuid::new_v4();
    let path = format!("/v1/servicePlans?requestId={request_id}");
    let created = call(&suite, &li, Method::POST, &path, Some(plan.clone())).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["state"], "SERVICE_PLAN_STATE_DRAFT");
    assert_eq!(created.body["staffMember"], "staff/li.na");
    let again = call(&suite, &li, Method::POST, &path, Some(plan.clone())).await;
    assert_eq!(again.body["name"], created.body["name"]);
    let name = created.body["name"].as_str().unwrap().to_owned();
    let twice = call(&suite, &li, Method::POST, "/v1/servicePlans", Some(plan)).await;
    assert_eq!(twice.status, 409, "{:?}", twice.body);
    let misaligned = call(
        &suite,
        &li,
        Method::POST,
        "/v1/servicePlans",
        Some(json!({"period": "PLAN_PERIOD_WEEK",
                    "periodStart": wire_date(month.with_day(2).unwrap()), "items": [" "]})),
    )
    .await;
    let mut fields = misaligned.violation_fields();
    fields.sort();
    // 2 of a month is a Monday in some months: then only the item is refused.
    let monday = month.with_day(2).unwrap().weekday() == chrono::Weekday::Mon;
    let mut expected = vec!["service_plan.items[0]".to_string()];
    if !monday {
        expected.push("service_plan.period_start".to_string());
    }
    expected.sort();
    assert_eq!(fields, expected, "{:?}", misaligned.body);

    // Edited by its author, within the mask; the state is not theirs to set.
    let edited = call(
        &suite,
        &li,
        Method::PATCH,
        &format!("/v1/{name}?updateMask=text"),
        Some(json!({"text": "Visit every A customer twice.", "etag": created.body["etag"]})),
    )
    .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    assert_eq!(edited.body["text"], "Visit every A customer twice.");
    assert_eq!(edited.body["items"].as_array().unwrap().len(), 2);
    let output_only = call(
        &suite,
        &li,
        Method::PATCH,
        &format!("/v1/{name}?updateMask=state"),
        Some(json!({"state": "SERVICE_PLAN_STATE_SIGNED_OFF"})),
    )
    .await;
    assert_eq!(output_only.status, 400, "{:?}", output_only.body);

    // Submitted; the manager cannot review it, nor a supervisor elsewhere.
    let submitted = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:submit"),
        Some(json!({"etag": edited.body["etag"]})),
    )
    .await;
    assert_eq!(submitted.body["state"], "SERVICE_PLAN_STATE_SUBMITTED");
    let sign_off = json!({"decision": "REVIEW_DECISION_SIGN_OFF"});
    let by_li = call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:review"),
        Some(sign_off.clone()),
    )
    .await;
    assert_eq!(by_li.status, 403, "{:?}", by_li.body);
    let by_east = call(
        &suite,
        &east,
        Method::POST,
        &format!("/v1/{name}:review"),
        Some(sign_off.clone()),
    )
    .await;
    assert_eq!(by_east.status, 404, "{:?}", by_east.body);

    // Returned with a note (required), reworked, resubmitted, signed off.
    let no_note = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{name}:review"),
        Some(json!({"decision": "REVIEW_DECISION_RETURN"})),
    )
    .await;
    assert_eq!(no_note.violation_fields(), ["note"]);
    let returned = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{name}:review"),
        Some(
            json!({"decision": "REVIEW_DECISION_RETURN", "note": "add the B customers",
                    "etag": submitted.body["etag"]}),
        ),
    )
    .await;
    assert_eq!(returned.body["state"], "SERVICE_PLAN_STATE_RETURNED");
    let stale = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{name}:review"),
        Some(json!({"decision": "REVIEW_DECISION_SIGN_OFF", "etag": submitted.body["etag"]})),
    )
    .await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
    let reworked = call(
        &suite,
        &li,
        Method::PATCH,
        &format!("/v1/{name}"),
        Some(json!({"items": ["visit 王丽", "call the new customers", "visit the B customers"]})),
    )
    .await;
    assert_eq!(reworked.status, 200, "{:?}", reworked.body);
    assert_eq!(reworked.body["text"], "Visit every A customer twice.");
    call(
        &suite,
        &li,
        Method::POST,
        &format!("/v1/{name}:submit"),
        Some(json!({})),
    )
    .await;
    let signed = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{name}:review"),
        Some(sign_off.clone()),
    )
    .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["state"], "SERVICE_PLAN_STATE_SIGNED_OFF");
    assert_eq!(
        actions(&signed.body),
        pairs(&[
            ("created", "staff/li.na"),
            ("edited", "staff/li.na"),
            ("submitted", "staff/li.na"),
            ("returned", "staff/wang.sup"),
            ("edited", "staff/li.na"),
            ("submitted", "staff/li.na"),
            ("signed_off", "staff/wang.sup"),
        ])
    );
    assert_eq!(signed.body["history"][3]["note"], "add the B customers");
    let late_edit = call(
        &suite,
        &li,
        Method::PATCH,
        &format!("/v1/{name}"),
        Some(json!({"text": "changed afterwards"})),
    )
    .await;
    assert_eq!(late_edit.error_status(), "FAILED_PRECONDITION");

    // A supervisor's own plan is not theirs to sign off.
    let own = call(
        &suite,
        &wang,
        Method::POST,
        "/v1/servicePlans",
        Some(json!({"period": "PLAN_PERIOD_YEAR",
                    "periodStart": wire_date(NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap())})),
    )
    .await;
    let own_name = own.body["name"].as_str().unwrap().to_owned();
    call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{own_name}:submit"),
        Some(json!({})),
    )
    .await;
    let self_review = call(
        &suite,
        &wang,
        Method::POST,
        &format!("/v1/{own_name}:review"),
        Some(sign_off),
    )
    .await;
    assert_eq!(self_review.status, 403, "{:?}", self_review.body);

    // Lists by manager, period and state, within reach.
    let listed = call(
        &suite,
        &wang,
        Method::GET,
        &format!(
            "/v1/servicePlans?staffMember=staff/li.na&period=PLAN_PERIOD_MONTH&state=SERVICE_PLAN_STATE_SIGNED_OFF&{}",
            date_query("periodStart", month)
        ),
        None,
    )
    .await;
    let names: Vec<&str> = listed.body["servicePlans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [name.as_str()], "{:?}", listed.body);
    let east_sees = call(&suite, &east, Method::GET, "/v1/servicePlans", None).await;
    assert_eq!(east_sees.body["servicePlans"], json!([]));
    let li_sees = call(&suite, &li, Method::GET, "/v1/servicePlans", None).await;
    assert_eq!(li_sees.body["servicePlans"].as_array().unwrap().len(), 1);

    // The week's work log: one contact, reviewed by the supervisor once.
    let logged = call(
        &suite,
        &li,
        Method::POST,
        "/v1/contactLogs",
        Some(
            json!({"customer": customer, "channel": "CONTACT_CHANNEL_PHONE",
                    "summary": "told of the new hotline hours"}),
        ),
    )
    .await;
    assert_eq!(logged.status, 200, "{:?}", logged.body);
    let week = today
        .checked_sub_days(Days::new(today.weekday().num_days_from_monday().into()))
        .unwrap();
    let log = call(
        &suite,
        &wang,
        Method::GET,
        &format!(
            "/v1/contactLogs?staffMember=staff/li.na&{}&{}",
            date_query("startDate", week),
            date_query("endDate", week.checked_add_days(Days::new(6)).unwrap())
        ),
        None,
    )
    .await;
    assert_eq!(
        log.body["contactLogs"].as_array().unwrap().len(),
        1,
        "{:?}",
        log.body
    );
    let review = json!({"staffMember": "staff/li.na", "period": "PLAN_PERIOD_WEEK",
                        "periodStart": wire_date(week), "decision": "REVIEW_DECISION_SIGN_OFF"});
    let by_manager = call(
        &suite,
        &li,
        Method::POST,
        "/v1/workLogReviews",
        Some(review.clone()),
    )
    .await;
    assert_eq!(by_manager.status, 403);
    let own_log = call(
        &suite,
        &wang,
        Method::POST,
        "/v1/workLogReviews",
        Some(
            json!({"staffMember": "staff/wang.sup", "period": "PLAN_PERIOD_WEEK",
                    "periodStart": wire_date(week), "decision": "REVIEW_DECISION_SIGN_OFF"}),
        ),
    )
    .await;
    assert_eq!(own_log.status, 403, "{:?}", own_log.body);
    let reviewed = call(
        &suite,
        &wang,
        Method::POST,
        "/v1/workLogReviews",
        Some(review.clone()),
    )
    .await;
    assert_eq!(reviewed.status, 200, "{:?}", reviewed.body);
    assert_eq!(reviewed.body["contactCount"], "1");
    assert_eq!(reviewed.body["reviewer"], "staff/wang.sup");
    let again = call(
        &suite,
        &wang,
        Method::POST,
        "/v1/workLogReviews",
        Some(review),
    )
    .await;
    assert_eq!(again.error_status(), "FAILED_PRECONDITION");
    let reviews = call(
        &suite,
        &li,
        Method::GET,
        "/v1/workLogReviews?staffMember=staff/li.na",
        None,
    )
    .await;
    assert_eq!(reviews.body["workLogReviews"].as_array().unwrap().len(), 1);

    // Every step of the plan and the log's review went out as events.
    assert_eq!(outbox_count(&suite, "scheduling.plans").await, 7 + 2 + 1);
}
