//! The complaint service against real PostgreSQL and Redis, beside
//! customer-profile, tiering and the gateway: the whole flow over HTTP,
//! gap-free numbers under concurrent intake on two instances, retried
//! intakes, the month boundary in the company's zone, repeats on day 7 and
//! day 8, a customer complaint has not heard of yet, and a deadline that
//! escalates exactly once across two instances.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Datelike, TimeZone};
use patron_proto::complaint::v1 as pb;
use patron_proto::complaint::v1::complaint_service_client::ComplaintServiceClient;
use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::{Value, json};
use tonic::metadata::MetadataValue;

const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A customer in profile, managed by no one, in the company unit.
async fn customer(suite: &Suite, name: &str) -> String {
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": name})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    created.body["name"].as_str().unwrap().to_owned()
}

/// Places the tokens' subject (`staff-9`) in the directory at the company,
/// so unit-scoped roles reach every customer, and waits until complaint
/// knows.
async fn place_staff(suite: &Suite) {
    let placed = suite
        .admin(
            Method::POST,
            "/v1/staff?staffMemberId=staff-9",
            Some(json!({"displayName": "Zhao Min", "orgUnit": "orgUnits/company"})),
        )
        .await;
    assert_eq!(placed.status, 200, "{:?}", placed.body);
    suite.wait_for_complaint_to_catch_up().await;
}

fn intake(customer: &str) -> Value {
    json!({
        "customer": customer,
        "channel": "COMPLAINT_CHANNEL_HOTLINE",
        "demand": "CUSTOMER_DEMAND_EXCHANGE",
        "orderNumber": "SO-2026-0113",
        "item": "coated steel 0.5 mm",
        "quantity": {"notYetDetermined": true, "unit": "t"},
        "reason": "colour differs from the sample",
        "description": "the second batch is off-colour",
        "attachments": [{"fileName": "batch2.jpg", "mediaType": "image/jpeg",
                         "sizeBytes": "120345", "uri": "https://files.example.com/batch2.jpg"}]
    })
}

async fn advance(suite: &Suite, role: &str, name: &str, body: Value) -> patron_suite_tests::Reply {
    let token = suite.token(role);
    suite
        .call(
            Method::POST,
            &format!("/v1/{name}:advance"),
            Some(&token),
            Some(body),
        )
        .await
}

/// The complaint number's month part for `at` in Shanghai.
fn yymm(at: chrono::DateTime<chrono::Utc>) -> String {
    let local = at.with_timezone(&SHANGHAI);
    format!("{:02}{:02}", local.year() % 100, local.month())
}

async fn event_types(suite: &Suite) -> Vec<String> {
    use prost::Message;
    let mut conn = suite.db.admin_connection().await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM complaint.outbox ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    envelopes
        .iter()
        .map(|e| {
            patron_proto::common::v1::EventEnvelope::decode(e.as_slice())
                .unwrap()
                .event_type
        })
        .collect()
}

#[tokio::test]
async fn a_complaint_runs_from_intake_to_survey_through_the_gateway() {
    let suite = Suite::start().await;
    place_staff(&suite).await;
    let customer = customer(&suite, "王丽").await;

    // The body is the complaint itself (`body: "complaint"`).
    let created = suite
        .admin(Method::POST, "/v1/complaints", Some(intake(&customer)))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let c = &created.body;
    let name = c["name"].as_str().unwrap().to_owned();
    assert_eq!(c["complaintNumber"], format!("{}-0001", yymm(suite.now())));
    assert_eq!(c["state"], "COMPLAINT_STATE_RECEIVED");
    assert_eq!(c["quantity"]["notYetDetermined"], true);
    assert!(c["dueTime"].is_string(), "{c:?}");
    assert_eq!(c["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(c["attachments"][0]["fileName"], "batch2.jpg");
    assert_eq!(c["orgUnit"], "orgUnits/company", "the unit named once");

    // A move the state does not allow names the state and what it allows.
    let refused = advance(
        &suite,
        "admin",
        &name,
        json!({"move": "COMPLAINT_MOVE_CLOSE"}),
    )
    .await;
    assert_eq!(
        refused.error_status(),
        "FAILED_PRECONDITION",
        "{:?}",
        refused.body
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("received") && message.contains("accept"),
        "{message}"
    );

    let step = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_ACCEPT"}),
    )
    .await;
    assert_eq!(step.status, 200, "{:?}", step.body);
    let step = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_INVESTIGATE",
               "investigation": {"cause": "pigment lot changed", "responsibleDepartment": "quality",
                                 "responsiblePerson": "Qian Lei"}}),
    )
    .await;
    assert_eq!(
        step.body["state"], "COMPLAINT_STATE_INVESTIGATING",
        "{:?}",
        step.body
    );

    // A root cause outside the policy's list is named.
    let bad = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_RESOLVE",
               "resolution": {"action": "replace", "rootCause": "bad luck",
                              "lossAmount": {"currencyCode": "CNY", "amountMinor": "500000"}}}),
    )
    .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert!(
        bad.violation_fields()
            .contains(&"resolution.root_cause".to_string())
    );

    // 5,000 yuan is above customer service's 1,000: it waits for sign-off.
    let resolve = json!({"move": "COMPLAINT_MOVE_RESOLVE",
        "resolution": {"action": "replace the batch", "rootCause": "product quality",
                       "penalty": "warning", "prevention": "check each pigment lot",
                       "lossAmount": {"currencyCode": "CNY", "amountMinor": "500000"}}});
    let step = advance(&suite, "customer_service", &name, resolve).await;
    assert_eq!(
        step.body["state"], "COMPLAINT_STATE_AWAITING_SIGN_OFF",
        "{:?}",
        step.body
    );
    let refused = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_SIGN_OFF"}),
    )
    .await;
    assert_eq!(
        refused.error_status(),
        "PERMISSION_DENIED",
        "{:?}",
        refused.body
    );
    let step = advance(
        &suite,
        "supervisor",
        &name,
        json!({"move": "COMPLAINT_MOVE_SIGN_OFF", "note": "approved"}),
    )
    .await;
    assert_eq!(
        step.body["state"], "COMPLAINT_STATE_RESOLVED",
        "{:?}",
        step.body
    );
    let etag = step.body["etag"].as_str().unwrap().to_owned();

    // A stale etag is ABORTED.
    let stale = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_GIVE_FEEDBACK", "etag": "\"1\""}),
    )
    .await;
    assert_eq!(stale.error_status(), "ABORTED", "{:?}", stale.body);
    let step = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_GIVE_FEEDBACK", "etag": etag}),
    )
    .await;
    assert_eq!(
        step.body["state"], "COMPLAINT_STATE_FEEDBACK_GIVEN",
        "{:?}",
        step.body
    );
    let step = advance(
        &suite,
        "customer_service",
        &name,
        json!({"move": "COMPLAINT_MOVE_CLOSE"}),
    )
    .await;
    assert_eq!(
        step.body["state"], "COMPLAINT_STATE_CLOSED",
        "{:?}",
        step.body
    );

    let token = suite.token("customer_service");
    let survey = suite
        .call(
            Method::POST,
            &format!("/v1/{name}:survey"),
            Some(&token),
            Some(json!({"score": 4, "comment": "quick replacement"})),
        )
        .await;
    assert_eq!(survey.status, 200, "{:?}", survey.body);
    assert_eq!(survey.body["survey"]["score"], 4);
    let again = suite
        .call(
            Method::POST,
            &format!("/v1/{name}:survey"),
            Some(&token),
            Some(json!({"score": 5})),
        )
        .await;
    assert_eq!(
        again.error_status(),
        "FAILED_PRECONDITION",
        "{:?}",
        again.body
    );
    let viewer = suite.token("viewer");
    let denied = suite
        .call(
            Method::POST,
            &format!("/v1/{name}:survey"),
            Some(&viewer),
            Some(json!({"score": 5})),
        )
        .await;
    assert_eq!(
        denied.error_status(),
        "PERMISSION_DENIED",
        "{:?}",
        denied.body
    );

    // The timeline tells the whole story, the chain of sign-off included.
    let read = suite.admin(Method::GET, &format!("/v1/{name}"), None).await;
    let kinds: Vec<&str> = read.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "received",
            "accepted",
            "investigating",
            "resolved",
            "signed_off",
            "feedback_given",
            "closed",
            "survey"
        ]
    );
    assert_eq!(
        read.body["resolution"]["lossAmount"]["amountMinor"],
        "500000"
    );
    assert_eq!(read.body["investigation"]["cause"], "pigment lot changed");

    // Its events, through the outbox, in the order they happened.
    let types = event_types(&suite).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| t.ends_with("ComplaintStateChanged"))
            .count(),
        6
    );
    for one in ["ComplaintReceived", "ComplaintClosed", "ComplaintSurveyed"] {
        assert_eq!(
            types.iter().filter(|t| t.ends_with(one)).count(),
            1,
            "{one}: {types:?}"
        );
    }

    // The figures 001 asks for.
    let today = suite.today();
    let figures = suite
        .admin(
            Method::GET,
            &format!(
                "/v1/complaintFigures?startDate.year={}&startDate.month={}&startDate.day=1&endDate.year={}&endDate.month={}&endDate.day={}",
                today.year(), today.month(), today.year(), today.month(), today.day()
            ),
            None,
        )
        .await;
    assert_eq!(figures.status, 200, "{:?}", figures.body);
    assert_eq!(figures.body["received"], "1");
    assert_eq!(figures.body["closed"], "1");
    assert_eq!(figures.body["onTimeRate"], 1.0);
    assert_eq!(figures.body["onTimeTarget"], 0.99);
    assert_eq!(
        figures.body["topRootCauses"][0]["rootCause"],
        "product quality"
    );
    assert_eq!(figures.body["meanSatisfaction"], 4.0);
    let stages = figures.body["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 6, "{stages:?}");
}

#[tokio::test]
async fn bad_intakes_name_each_field_and_store_nothing() {
    let suite = Suite::start().await;
    let refused = suite
        .admin(
            Method::POST,
            "/v1/complaints",
            Some(json!({"customer": "clients/1", "description": " ",
                        "quantity": {"amountMilli": "5", "notYetDetermined": true}})),
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let fields = refused.violation_fields();
    for f in [
        "complaint.customer",
        "complaint.channel",
        "complaint.demand",
        "complaint.description",
        "complaint.quantity.amount_milli",
    ] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
    // A customer that does not exist is NOT_FOUND, and takes no serial.
    let missing = suite
        .admin(
            Method::POST,
            "/v1/complaints",
            Some(intake(&format!("customers/{}", uuid::Uuid::now_v7()))),
        )
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    let customer = customer(&suite, "李雷").await;
    let created = suite
        .admin(Method::POST, "/v1/complaints", Some(intake(&customer)))
        .await;
    assert_eq!(
        created.body["complaintNumber"],
        format!("{}-0001", yymm(suite.now()))
    );
}

/// Sends an administrator's token with every call.
#[derive(Clone)]
struct AsAdmin(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for AsAdmin {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Client = ComplaintServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, AsAdmin>,
>;

/// A gRPC client of the complaint instance at `url`, as an administrator.
async fn grpc(suite: &Suite, url: &str) -> Client {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", suite.token("admin")).parse().unwrap();
    ComplaintServiceClient::with_interceptor(channel, AsAdmin(bearer))
}

fn grpc_intake(customer: &str) -> pb::Complaint {
    pb::Complaint {
        customer: customer.to_owned(),
        channel: pb::ComplaintChannel::Web as i32,
        demand: pb::CustomerDemand::Compensation as i32,
        description: "late delivery".into(),
        ..Default::default()
    }
}

/// An intake of `customer` with no request id.
async fn take_in(client: &mut Client, customer: &str) -> Result<pb::Complaint, tonic::Status> {
    client
        .create_complaint(pb::CreateComplaintRequest {
            complaint: Some(grpc_intake(customer)),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_hundred_concurrent_intakes_on_two_instances_number_1_to_100() {
    let suite = Suite::start().await;
    let second = suite.start_complaint_replica("suite-2").await;
    let customer = customer(&suite, "张伟").await;
    suite.wait_for_complaint_to_catch_up().await;
    let urls = [suite.complaint_url.clone(), second];
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut client = grpc(&suite, &urls[i % 2]).await;
        let complaint = grpc_intake(&customer);
        tasks.push(tokio::spawn(async move {
            client
                .create_complaint(pb::CreateComplaintRequest {
                    complaint: Some(complaint),
                    request_id: uuid::Uuid::now_v7().to_string(),
                })
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut by_number = std::collections::BTreeMap::new();
    for task in tasks {
        let complaint = task.await.unwrap().expect("every intake is accepted");
        by_number.insert(complaint.complaint_number.clone(), complaint);
    }
    let month = yymm(suite.now());
    let expected: BTreeSet<String> = (1..=100).map(|n| format!("{month}-{n:04}")).collect();
    let numbers: BTreeSet<String> = by_number.keys().cloned().collect();
    assert_eq!(numbers, expected);
    // The same customer each time: in number order, each complaint repeats
    // the one before it, however the intakes were grouped or spread.
    let in_order: Vec<_> = by_number.values().collect();
    assert_eq!(in_order[0].repeat_of, "", "the first is no repeat");
    for pair in in_order.windows(2) {
        assert_eq!(
            pair[1].repeat_of, pair[0].name,
            "{} repeats {}",
            pair[1].complaint_number, pair[0].complaint_number
        );
    }
}

#[tokio::test]
async fn a_retried_intake_returns_the_same_complaint_and_number() {
    let suite = Suite::start().await;
    let customer = customer(&suite, "陈静").await;
    let mut client = grpc(&suite, &suite.complaint_url).await;
    let request = pb::CreateComplaintRequest {
        complaint: Some(grpc_intake(&customer)),
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let first = client
        .create_complaint(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_complaint(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.name, again.name);
    assert_eq!(first.complaint_number, again.complaint_number);
    // The same id for another request is refused, not answered with the first.
    let mut other = request;
    other.complaint.as_mut().unwrap().description = "something else".into();
    let refused = client.create_complaint(other).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let next = client
        .create_complaint(pb::CreateComplaintRequest {
            complaint: Some(grpc_intake(&customer)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        next.complaint_number.ends_with("-0002"),
        "{}",
        next.complaint_number
    );
}

#[tokio::test]
async fn numbers_follow_the_companys_month_and_repeats_count_calendar_days() {
    let suite = Suite::start().await;
    let customer = customer(&suite, "周杰").await;
    let mut client = grpc(&suite, &suite.complaint_url).await;
    let mut receive = async |at: chrono::DateTime<chrono::Utc>| {
        suite.clock.set(at);
        client
            .create_complaint(pb::CreateComplaintRequest {
                complaint: Some(grpc_intake(&customer)),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    };
    let local = |y, m, d, h, min| {
        SHANGHAI
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    // 23:30 on the last day of the month, then 00:10 on the first of the
    // next, in Shanghai (both still the 30th in UTC).
    let late = receive(local(2026, 11, 30, 23, 30)).await;
    let early = receive(local(2026, 12, 1, 0, 10)).await;
    assert_eq!(late.complaint_number, "2611-0001");
    assert_eq!(early.complaint_number, "2612-0001");
    assert_eq!(early.repeat_of, late.name, "a day later repeats it");

    // Day 7 after a complaint repeats it; day 8 does not.
    let first = receive(local(2027, 3, 1, 10, 0)).await;
    assert_eq!(first.repeat_of, "", "three months later is no repeat");
    let day7 = receive(local(2027, 3, 8, 22, 0)).await;
    assert_eq!(day7.repeat_of, first.name);
    let day8_of_day7 = receive(local(2027, 3, 16, 9, 0)).await;
    assert_eq!(day8_of_day7.repeat_of, "", "day 8 after the last one");
}

#[tokio::test]
async fn a_customer_complaint_has_not_heard_of_is_asked_of_profile() {
    let suite = Suite::start().await;
    let customer = customer(&suite, "孙悦").await;
    suite.wait_for_complaint_to_catch_up().await;
    // As if profile's events were late: complaint's projection forgets them.
    let mut conn = suite.db.admin_connection().await;
    sqlx::query("DELETE FROM complaint.customer_facts")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut client = grpc(&suite, &suite.complaint_url).await;
    let accepted = take_in(&mut client, &customer)
        .await
        .expect("a late event never refuses a real customer");
    assert_eq!(accepted.customer, customer);

    // An exited customer may still complain about an order: accepted, marked.
    let exited = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}:exit"),
            Some(
                json!({"kind": "EXIT_KIND_VOLUNTARY", "reason": "moved abroad",
                        "writtenRequestReference": "letter 2026-117"}),
            ),
        )
        .await;
    assert_eq!(exited.status, 200, "{:?}", exited.body);
    suite.wait_for_complaint_to_catch_up().await;
    let marked = take_in(&mut client, &customer).await.unwrap();
    assert!(marked.customer_exited);

    // The intakes above left the customer in the service's in-process copy
    // of the projection; the deletion, once applied, refuses them at once.
    let deleted = suite
        .admin(Method::DELETE, &format!("/v1/{customer}"), None)
        .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    suite.wait_for_complaint_to_catch_up().await;
    let refused = take_in(&mut client, &customer)
        .await
        .expect_err("a deleted customer cannot complain");
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
}

#[tokio::test]
async fn a_passed_deadline_escalates_exactly_once_across_two_instances() {
    let suite = Suite::start().await;
    let _second = suite.start_complaint_replica("suite-2").await;
    let customer = customer(&suite, "吴刚").await;
    let mut client = grpc(&suite, &suite.complaint_url).await;
    let complaint = client
        .create_complaint(pb::CreateComplaintRequest {
            complaint: Some(grpc_intake(&customer)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let due = patron_kit::timestamp::from_proto(complaint.due_time.as_ref().unwrap()).unwrap();
    // Past the deadline, before the next escalation interval (4 h).
    suite.clock.set(due + chrono::Duration::minutes(10));
    let mut escalated = 0;
    for _ in 0..100 {
        let read = client
            .get_complaint(pb::GetComplaintRequest {
                name: complaint.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        escalated = read
            .timeline
            .iter()
            .filter(|t| t.kind == "escalated")
            .count();
        if escalated > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(escalated, 1);
    // Both instances' jobs keep looking; none escalates it again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let read = client
        .get_complaint(pb::GetComplaintRequest {
            name: complaint.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<&str> = read.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "escalated").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(read.escalation_level, 1);
    let types = event_types(&suite).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| t.ends_with("ComplaintEscalated"))
            .count(),
        1,
        "{types:?}"
    );
}

#[tokio::test]
async fn a_units_handler_receives_its_new_complaints_with_both_unit_paths_stored() {
    let suite = Suite::start().await;
    place_staff(&suite).await;
    let named = suite
        .admin(
            Method::POST,
            "/v1/orgUnits/company/complaintHandler",
            Some(json!({"handler": "staff/staff-9"})),
        )
        .await;
    assert_eq!(named.status, 200, "{:?}", named.body);
    let customer = customer(&suite, "钱明").await;
    let created = suite
        .admin(Method::POST, "/v1/complaints", Some(intake(&customer)))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["handler"], "staff/staff-9");
    let timeline = created.body["timeline"][0]["note"].as_str().unwrap();
    assert!(timeline.contains("handler staff/staff-9"), "{timeline}");

    // The paths travel to the insert as JSON and are stored as arrays.
    let mut conn = suite.db.admin_connection().await;
    let (org_unit_path, handler_unit_path): (Vec<String>, Vec<String>) = sqlx::query_as(
        "SELECT org_unit_path, handler_unit_path FROM complaint.complaints WHERE number = $1",
    )
    .bind(created.body["complaintNumber"].as_str().unwrap())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(org_unit_path, ["company"]);
    assert_eq!(handler_unit_path, ["company"]);
}

/// A connection working in complaint's schema, for calling its store directly.
async fn complaint_schema_connection(suite: &Suite) -> sqlx::PgConnection {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query("SET search_path TO complaint")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[tokio::test]
async fn one_statement_takes_each_months_serials_in_turn_and_reads_the_latest() {
    use patron_complaint::store::complaints::take_serials_and_read_latest;
    use std::collections::BTreeMap;

    let suite = Suite::start().await;
    let mut conn = complaint_schema_connection(&suite).await;
    let nobody = [uuid::Uuid::now_v7()];
    let since = suite.now() - chrono::Duration::days(7);
    let counts = BTreeMap::from([("2026-11".to_owned(), 3), ("2026-12".to_owned(), 2)]);
    let first = take_serials_and_read_latest(&mut conn, &counts, &nobody, since)
        .await
        .unwrap();
    assert_eq!(
        first.last_before,
        BTreeMap::from([("2026-11".to_owned(), 0), ("2026-12".to_owned(), 0)]),
        "a month's first serials start after 0"
    );
    assert!(first.latest.is_empty(), "no complaints yet");
    let counts = BTreeMap::from([("2026-12".to_owned(), 4)]);
    let second = take_serials_and_read_latest(&mut conn, &counts, &nobody, since)
        .await
        .unwrap();
    assert_eq!(
        second.last_before,
        BTreeMap::from([("2026-12".to_owned(), 2)])
    );
}

#[tokio::test]
async fn the_handlers_statement_locks_the_customers_even_when_no_unit_has_a_handler() {
    use patron_complaint::store::unit_handlers::lock_customers_and_find_nearest;
    use sqlx::Connection;

    let suite = Suite::start().await;
    let mut group = complaint_schema_connection(&suite).await;
    let customer = uuid::Uuid::now_v7();
    let path = ["company".to_owned(), "east".to_owned()];
    let mut tx = group.begin().await.unwrap();
    let nearest = lock_customers_and_find_nearest(&mut tx, &[customer], &[&path[..]])
        .await
        .unwrap();
    assert!(nearest[0].is_none(), "no unit has a handler");

    // Another intake of the customer would wait for this group's commit.
    let mut other = suite.db.admin_connection().await;
    let try_lock =
        "SELECT pg_try_advisory_xact_lock(hashtext('complaint.repeats'), hashtext($1::text))";
    let free: bool = sqlx::query_scalar(try_lock)
        .bind(customer)
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert!(!free, "the customer is locked until the group commits");
    tx.commit().await.unwrap();
    let free: bool = sqlx::query_scalar(try_lock)
        .bind(customer)
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert!(free, "and free after");
}
