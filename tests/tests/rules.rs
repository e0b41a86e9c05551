//! The rules as the documents write them, over HTTP through the gateway:
//! decisions that list every comparison tried, credit allowances as ranges
//! (000 §4.6), refunds that name their purchase (003), a re-activated policy
//! version that still waits for the review to downgrade, and a churn report
//! that counts leavers without a tier apart.

use std::time::Duration;

use patron_suite_tests::{Reply, Suite};
use reqwest::Method;
use serde_json::{Value, json};

fn preset(name: &str) -> &'static str {
    patron_tiering::presets::BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
}

async fn post(suite: &Suite, path: &str, body: Value) -> Reply {
    let reply = suite.admin(Method::POST, path, Some(body)).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    reply
}

/// Polls `path` as an administrator until `done` holds for the body. Events
/// travel between services, slowly on a busy machine: the wait is generous
/// and ends as soon as it holds.
async fn wait_for(suite: &Suite, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..1200 {
        let reply = suite.admin(Method::GET, path, None).await;
        if reply.status == 200 && done(&reply.body) {
            return reply.body;
        }
        last = reply.body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never got there: {last}");
}

async fn customer(suite: &Suite, name: &str) -> String {
    let created = post(
        suite,
        "/v1/customers",
        json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": name}),
    )
    .await;
    created.body["name"].as_str().unwrap().to_owned()
}

fn transaction(suite: &Suite, id: &str, kind: &str, yuan: i64) -> Value {
    json!({"externalId": id, "kind": kind,
           "occurTime": suite.now().to_rfc3339(), "product": "order",
           "amount": {"currencyCode": "CNY", "amountMinor": (yuan * 100).to_string()}})
}

fn explanation(assignment: &Value) -> &str {
    assignment["explanation"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_industrial_customer_sees_the_bad_record_and_allowances_are_ranges() {
    let suite = Suite::start().await;
    let policy = post(
        &suite,
        "/v1/tierPolicies",
        json!({"preset": preset("industrial-b2b"), "activate": true}),
    )
    .await;
    // 000 §4.6: A more than 500,000, B 300,000 to 500,000, C under 300,000.
    let ranges: Vec<(&str, &Value)> = policy.body["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["creditAllowanceRange"]["description"]
                    .as_str()
                    .unwrap_or_default(),
                &t["creditAllowance"],
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            ("more than 500000.00 CNY", &Value::Null),
            ("300000.00 CNY to 500000.00 CNY", &Value::Null),
            ("under 300000.00 CNY", &Value::Null),
        ],
        "{}",
        policy.body
    );
    let a = &policy.body["tiers"][0]["creditAllowanceRange"];
    assert_eq!(
        (
            &a["lower"]["amountMinor"],
            &a["lowerExclusive"],
            &a["upper"]
        ),
        (&json!("50000000"), &json!(true), &Value::Null)
    );

    // 5,000,000 of sales, credit grade A, one bad record: no tier, and the
    // decision says the bad record is why.
    let buyer = customer(&suite, "Heavy Industry Co").await;
    let standing = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{buyer}/standing"),
            Some(json!({"creditGrade": "A", "badRecords": 1})),
        )
        .await;
    assert_eq!(standing.status, 200, "{:?}", standing.body);
    post(
        &suite,
        &format!("/v1/{buyer}/transactions"),
        transaction(&suite, "SO-1", "TRANSACTION_KIND_PURCHASE", 5_000_000),
    )
    .await;
    let decided = wait_for(&suite, &format!("/v1/{buyer}/tierAssignment"), |a| {
        a["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["value"] == "5000000.00"))
    })
    .await;
    assert_eq!(decided["tierCode"].as_str().unwrap_or_default(), "");
    assert!(
        explanation(&decided).contains("A needs bad_records now ≤ 0 (has 1)"),
        "{decided}"
    );
    let checks = decided["checks"].as_array().unwrap();
    let failing: Vec<(&str, &str, &str)> = checks
        .iter()
        .filter(|c| c["held"] != true)
        .map(|c| {
            (
                c["ruleTierCode"].as_str().unwrap(),
                c["figure"].as_str().unwrap(),
                c["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failing,
        [
            ("A", "bad_records", "1"),
            ("B", "bad_records", "1"),
            ("C", "bad_records", "1")
        ],
        "every rule tried, only the bad record failing"
    );
    let grade = checks
        .iter()
        .find(|c| c["figure"] == "credit_grade")
        .unwrap();
    assert_eq!(
        (&grade["value"], &grade["threshold"]),
        (&json!("A"), &json!("A")),
        "grades read as grades"
    );

    // A range that cannot hold names its field.
    let bad = preset("industrial-b2b").replace(
        "credit_allowance = { below = 300000 }",
        "credit_allowance = { above = 300000, at_least = 1 }",
    );
    let refused = suite
        .admin(
            Method::POST,
            "/v1/tierPolicies",
            Some(json!({"preset": bad, "activate": false})),
        )
        .await;
    assert_eq!(
        refused.error_status(),
        "INVALID_ARGUMENT",
        "{:?}",
        refused.body
    );
    assert!(
        refused
            .body
            .to_string()
            .contains("preset.tiering.benefits.C.credit_allowance.at_least"),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn a_refund_naming_its_purchase_lowers_what_it_counts_for() {
    let suite = Suite::start().await;
    post(
        &suite,
        "/v1/tierPolicies",
        json!({"preset": preset("retail-store"), "activate": true}),
    )
    .await;
    // 003: "one purchase of 1,000 actually paid". 1,200 with 300 refunded
    // is 900 paid.
    let buyer = customer(&suite, "Refunded Buyer").await;
    let bought = post(
        &suite,
        &format!("/v1/{buyer}/transactions"),
        transaction(&suite, "TILL-1", "TRANSACTION_KIND_PURCHASE", 1_200),
    )
    .await;
    let mut refund = transaction(&suite, "TILL-2", "TRANSACTION_KIND_REFUND", 300);
    refund["refundedTransaction"] = json!("TILL-1");
    let refunded = post(&suite, &format!("/v1/{buyer}/transactions"), refund).await;
    assert_eq!(refunded.body["refundedTransaction"], bought.body["name"]);
    let decided = wait_for(&suite, &format!("/v1/{buyer}/tierAssignment"), |a| {
        explanation(a).contains("(has 900.00)")
    })
    .await;
    assert!(
        explanation(&decided).contains("largest_purchase"),
        "{decided}"
    );
    // More than is left is refused, with what is left.
    let mut too_much = transaction(&suite, "TILL-3", "TRANSACTION_KIND_REFUND", 901);
    too_much["refundedTransaction"] = bought.body["name"].clone();
    let refused = suite
        .admin(
            Method::POST,
            &format!("/v1/{buyer}/transactions"),
            Some(too_much),
        )
        .await;
    assert_eq!(
        refused.error_status(),
        "FAILED_PRECONDITION",
        "{:?}",
        refused.body
    );
}

#[tokio::test]
async fn re_activating_an_older_version_waits_for_the_review_to_downgrade() {
    let suite = Suite::start().await;
    // Version 2 puts A at 1,000 yuan; version 1 (the shipped one) at 1,200.
    let lower = preset("health-chain").replace("at_least = 1200", "at_least = 1000");
    post(
        &suite,
        "/v1/tierPolicies",
        json!({"preset": lower, "activate": true}),
    )
    .await;
    let held = customer(&suite, "Held A").await;
    post(
        &suite,
        &format!("/v1/{held}/transactions"),
        transaction(&suite, "V-1", "TRANSACTION_KIND_PURCHASE", 1_000),
    )
    .await;
    let path = format!("/v1/{held}/tierAssignment");
    let under_v2 = wait_for(&suite, &path, |a| a["tierCode"] == "A").await;
    assert_eq!(under_v2["policyVersion"], 2);

    post(
        &suite,
        "/v1/tierPolicies/health-chain:activate",
        json!({"version": 1}),
    )
    .await;
    let again = post(&suite, &format!("{path}:evaluate"), json!({}))
        .await
        .body;
    assert_eq!(again["policyVersion"], 1, "{again}");
    assert_eq!(
        (&again["tierCode"], &again["pendingTierCode"]),
        (&json!("A"), &json!("B")),
        "1,000 earns B under version 1; the downgrade waits: {again}"
    );
    assert_eq!(
        again["nextReviewTime"], under_v2["nextReviewTime"],
        "the period runs on"
    );
    let changes = suite
        .admin(Method::GET, &format!("/v1/{held}/tierChanges"), None)
        .await;
    assert_eq!(
        changes.body["tierChanges"].as_array().map(Vec::len),
        Some(1),
        "only the upgrade to A: {}",
        changes.body
    );
}

#[tokio::test]
async fn a_leaver_without_a_tier_is_counted_apart() {
    let suite = Suite::start().await;
    let leaver = customer(&suite, "Never Tiered").await;
    post(
        &suite,
        &format!("/v1/{leaver}:exit"),
        json!({"kind": "EXIT_KIND_VOLUNTARY", "reason": "moved away",
               "writtenRequestReference": "letter 1"}),
    )
    .await;
    let report = wait_for(&suite, "/v1/churnReport", |r| r["churned"] == 1).await;
    assert_eq!(report["untiered"], 1, "{report}");
    let by_tier = report["byTier"].as_object().cloned().unwrap_or_default();
    assert!(!by_tier.contains_key(""), "{report}");
    for rate in report["rates"].as_array().cloned().unwrap_or_default() {
        assert_ne!(
            rate["tierCode"].as_str().unwrap_or_default(),
            "",
            "{report}"
        );
        assert_ne!(
            rate["ratePercent"].as_str().unwrap_or_default(),
            "",
            "{report}"
        );
    }
}

#[tokio::test]
async fn a_lost_card_holds_no_points_and_an_unregistered_one_is_told_its_date() {
    use chrono::Datelike;

    let suite = Suite::start().await;
    post(
        &suite,
        "/v1/tierPolicies",
        json!({"preset": preset("retail-store"), "activate": true}),
    )
    .await;
    let today = suite.today();
    let created = post(
        &suite,
        "/v1/customers",
        json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": "Card Holder",
               "person": {"birthday": {"year": 1984, "month": today.month(), "day": today.day()}}}),
    )
    .await;
    let holder = created.body["name"].as_str().unwrap().to_owned();
    post(
        &suite,
        &format!("/v1/{holder}/transactions"),
        transaction(&suite, "C-1", "TRANSACTION_KIND_PURCHASE", 1_200),
    )
    .await;
    wait_for(&suite, &format!("/v1/{holder}/tierAssignment"), |a| {
        a["tierCode"] == "VIP"
    })
    .await;
    let card = post(&suite, "/v1/cards", json!({"customer": holder}))
        .await
        .body;
    let card_name = card["name"].as_str().unwrap().to_owned();

    // Inside its registration window the card is told to register by its
    // date, not that it was too late.
    let discounts = wait_for(&suite, &format!("/v1/{holder}/discountEligibility"), |e| {
        e["card"] == card_name.as_str()
    })
    .await;
    let why = discounts["birthdayDiscount"]["reason"].as_str().unwrap();
    let register_by = &card["registerBy"];
    let by = format!(
        "{}-{:02}-{:02}",
        register_by["year"],
        register_by["month"].as_i64().unwrap(),
        register_by["day"].as_i64().unwrap()
    );
    assert!(
        why.contains("not registered yet") && why.contains(&by) && !why.contains("was not"),
        "{why}"
    );

    // Registered, it earns; reported lost, its replacement holds the points
    // and the lost card none.
    post(&suite, &format!("/v1/{card_name}:register"), json!({})).await;
    post(
        &suite,
        &format!("/v1/{holder}/transactions"),
        transaction(&suite, "C-2", "TRANSACTION_KIND_PURCHASE", 300),
    )
    .await;
    wait_for(&suite, &format!("/v1/{card_name}"), |c| {
        c["pointsBalance"] == "300"
    })
    .await;
    let replacement = post(&suite, &format!("/v1/{card_name}:reportLost"), json!({}))
        .await
        .body;
    assert_eq!(replacement["pointsBalance"], "300", "{replacement}");
    assert_eq!(replacement["nextExpiry"]["points"], "300", "{replacement}");
    let lost = suite
        .admin(Method::GET, &format!("/v1/{card_name}"), None)
        .await
        .body;
    assert_eq!(lost["status"], "CARD_STATUS_LOST");
    assert_eq!(lost["pointsBalance"].as_str().unwrap_or("0"), "0", "{lost}");
    assert!(
        lost["lots"].as_array().is_none_or(Vec::is_empty) && lost["nextExpiry"].is_null(),
        "{lost}"
    );
}
