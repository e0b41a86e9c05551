//! A retail store's till and portal over HTTP: a customer qualifies with a
//! purchase recorded in customer-profile, gets a card from tiering, earns
//! points, asks which discounts apply (the birthday travels from profile to
//! tiering as an event), and staff adjust points; account managers reach only
//! their own customers' cards.

use std::time::Duration;

use chrono::Datelike;
use patron_suite_tests::{Reply, Suite};
use reqwest::Method;
use serde_json::{Value, json};

/// Calls as an account manager with the given staff id.
async fn as_manager(
    suite: &Suite,
    staff: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let token = suite.token_with(|claims| {
        claims.sub = staff.into();
        claims.roles = vec!["account_manager".into()];
    });
    suite.call(method, path, Some(&token), body).await
}

/// Polls `path` as an administrator until `done` holds for the body.
async fn wait_for(suite: &Suite, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let reply = suite.admin(Method::GET, path, None).await;
        if reply.status == 200 && done(&reply.body) {
            return reply.body;
        }
        last = reply.body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never got there: {last}");
}

#[tokio::test]
async fn a_member_qualifies_gets_a_card_earns_points_and_has_the_days_discounts() {
    let suite = Suite::start().await;
    let retail = patron_tiering::presets::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "retail-store")
        .unwrap()
        .1;
    let policy = suite
        .admin(
            Method::POST,
            "/v1/tierPolicies",
            Some(json!({"preset": retail, "activate": true})),
        )
        .await;
    assert_eq!(policy.status, 200, "{:?}", policy.body);

    let staff = suite
        .admin(
            Method::POST,
            "/v1/staff?staffMemberId=li.na",
            Some(json!({"displayName": "Li Na", "orgUnit": "orgUnits/company"})),
        )
        .await;
    assert_eq!(staff.status, 200, "{:?}", staff.body);
    let today = suite.today();
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({
                "kind": "CUSTOMER_KIND_PERSON",
                "displayName": "王丽",
                "accountManager": "li.na",
                "person": {"birthday": {"year": 1980, "month": today.month(), "day": today.day()}}
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let customer = created.body["name"].as_str().unwrap().to_owned();

    // Before qualifying there is no card to be had.
    let refused = suite
        .admin(
            Method::POST,
            "/v1/cards",
            Some(json!({"customer": customer})),
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.error_status(), "FAILED_PRECONDITION");

    let now = suite.now();
    let purchase = |id: &str, yuan: i64| {
        json!({"externalId": id, "kind": "TRANSACTION_KIND_PURCHASE",
               "occurTime": now.to_rfc3339(), "product": "coat",
               "amount": {"currencyCode": "CNY", "amountMinor": (yuan * 100).to_string()}})
    };
    let recorded = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}/transactions"),
            Some(purchase("T-1", 1_200)),
        )
        .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    let assignment = wait_for(&suite, &format!("/v1/{customer}/tierAssignment"), |a| {
        a["tierCode"] == "VIP" && a["accountManager"] == "li.na"
    })
    .await;
    assert!(
        assignment["explanation"]
            .as_str()
            .unwrap()
            .contains("1200.00"),
        "{assignment}"
    );

    let card = suite
        .admin(
            Method::POST,
            "/v1/cards",
            Some(json!({"customer": customer})),
        )
        .await;
    assert_eq!(card.status, 200, "{:?}", card.body);
    assert_eq!(card.body["status"], "CARD_STATUS_ISSUED");
    assert_eq!(card.body["formalVip"], false);
    let card_name = card.body["name"].as_str().unwrap().to_owned();
    let registered = suite
        .admin(
            Method::POST,
            &format!("/v1/{card_name}:register"),
            Some(json!({})),
        )
        .await;
    assert_eq!(registered.body["formalVip"], true, "{:?}", registered.body);

    suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}/transactions"),
            Some(purchase("T-2", 500)),
        )
        .await;
    wait_for(&suite, &format!("/v1/{card_name}"), |c| {
        c["pointsBalance"] == "500"
    })
    .await;

    // The birthday reached tiering with the archive: today both discounts apply.
    let eligibility = suite
        .admin(
            Method::GET,
            &format!("/v1/{customer}/discountEligibility"),
            None,
        )
        .await;
    assert_eq!(eligibility.status, 200, "{:?}", eligibility.body);
    let e = &eligibility.body;
    assert_eq!(e["tierCode"], "VIP");
    assert_eq!(e["card"], card_name.as_str());
    assert_eq!(e["memberDiscount"]["eligible"], true);
    assert_eq!(e["memberDiscount"]["percentOfPrice"], 88);
    assert_eq!(e["birthdayDiscount"]["eligible"], true, "{e}");
    assert_eq!(e["birthdayDiscount"]["percentOfPrice"], 60);
    assert_eq!(e["bestPercentOfPrice"], 60);
    let tomorrow = today.succ_opt().unwrap();
    let next_day = suite
        .admin(
            Method::GET,
            &format!(
                "/v1/{customer}/discountEligibility?date.year={}&date.month={}&date.day={}",
                tomorrow.year(),
                tomorrow.month(),
                tomorrow.day()
            ),
            None,
        )
        .await;
    assert_eq!(next_day.status, 200, "{:?}", next_day.body);
    assert_eq!(next_day.body["birthdayDiscount"]["eligible"], false);
    assert_eq!(next_day.body["bestPercentOfPrice"], 88);

    // Staff adjust points with a reason; account managers may not.
    let adjust = json!({"points": "20", "reason": "goodwill", "requestId": uuid::Uuid::now_v7().to_string()});
    let denied = as_manager(
        &suite,
        "li.na",
        Method::POST,
        &format!("/v1/{card_name}:adjust"),
        Some(adjust.clone()),
    )
    .await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    let adjusted = suite
        .admin(
            Method::POST,
            &format!("/v1/{card_name}:adjust"),
            Some(adjust),
        )
        .await;
    assert_eq!(adjusted.status, 200, "{:?}", adjusted.body);
    assert_eq!(adjusted.body["reason"], "adjusted");
    assert_eq!(adjusted.body["balanceAfter"], "520");
    // Points say when they lapse: 31 December of the year they were earned.
    let year_end = json!({"year": today.year(), "month": 12, "day": 31});
    assert_eq!(adjusted.body["expiresOn"], year_end, "{:?}", adjusted.body);
    let held = suite
        .admin(Method::GET, &format!("/v1/{card_name}"), None)
        .await
        .body;
    assert_eq!(held["nextExpiry"]["points"], "520", "{held}");
    assert_eq!(held["nextExpiry"]["expiresOn"], year_end, "{held}");
    assert_eq!(held["lots"].as_array().map(Vec::len), Some(2), "{held}");

    // The customer's manager reaches the card; another manager does not.
    let own = as_manager(
        &suite,
        "li.na",
        Method::GET,
        &format!("/v1/{card_name}"),
        None,
    )
    .await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    let other = as_manager(
        &suite,
        "zhao",
        Method::GET,
        &format!("/v1/{card_name}"),
        None,
    )
    .await;
    assert_eq!(other.status, 404, "{:?}", other.body);
    let other = as_manager(
        &suite,
        "zhao",
        Method::GET,
        &format!("/v1/{customer}/discountEligibility"),
        None,
    )
    .await;
    assert_eq!(other.status, 404, "{:?}", other.body);

    // Rankings cover what the caller reaches.
    let top = |staff: &'static str| {
        let suite = &suite;
        async move {
            as_manager(suite, staff, Method::GET, "/v1/topCustomers", None)
                .await
                .body
        }
    };
    assert_eq!(top("li.na").await["customerCount"], 1);
    assert_eq!(top("zhao").await["customerCount"], 0);

    // Supervisors reach the customers of their unit's subtree: the one at the
    // company reaches this customer (once tiering has heard where they sit),
    // the one in the east region does not.
    let unit = suite
        .admin(
            Method::POST,
            "/v1/orgUnits?orgUnitId=east",
            Some(json!({"displayName": "East", "kind": "ORG_UNIT_KIND_REGION", "parent": "orgUnits/company"})),
        )
        .await;
    assert_eq!(unit.status, 200, "{:?}", unit.body);
    for (staff, unit) in [
        ("sup-co", "orgUnits/company"),
        ("sup-east", "orgUnits/east"),
    ] {
        let placed = suite
            .admin(
                Method::POST,
                &format!("/v1/staff?staffMemberId={staff}"),
                Some(json!({"displayName": staff, "orgUnit": unit})),
            )
            .await;
        assert_eq!(placed.status, 200, "{:?}", placed.body);
    }
    let supervisor = |staff: &'static str| {
        suite.token_with(move |claims| {
            claims.sub = staff.into();
            claims.roles = vec!["supervisor".into()];
        })
    };
    let mut status = 0;
    for _ in 0..200 {
        status = suite
            .call(
                Method::GET,
                &format!("/v1/{card_name}"),
                Some(&supervisor("sup-co")),
                None,
            )
            .await
            .status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "the company's supervisor reaches the card");
    let east = suite
        .call(
            Method::GET,
            &format!("/v1/{card_name}"),
            Some(&supervisor("sup-east")),
            None,
        )
        .await;
    assert_eq!(east.status, 404, "{:?}", east.body);
    // As a card that does not exist answers, naming nothing of its customer.
    assert_eq!(east.error_status(), "NOT_FOUND");
    assert!(
        !east
            .body
            .to_string()
            .contains(&customer.replace("customers/", "")),
        "{:?}",
        east.body
    );

    // Renewal is the renewal month's business (December in retail-store). A
    // card is never renewable on the day it is issued: one issued in
    // December already belongs to the next card year.
    let renewed = suite
        .admin(
            Method::POST,
            &format!("/v1/{card_name}:renew"),
            Some(json!({})),
        )
        .await;
    assert_eq!(renewed.status, 400, "{:?}", renewed.body);
    assert_eq!(renewed.error_status(), "FAILED_PRECONDITION");
    let valid_through = card.body["validThrough"].clone();
    let last_year = valid_through["year"].as_i64().unwrap() as i32;
    assert_eq!(valid_through["month"], 12, "{valid_through}");
    let expected_year = if today.month() == 12 {
        today.year() + 1
    } else {
        today.year()
    };
    assert_eq!(last_year, expected_year, "issued on {today}");

    // On the first of that December it renews, keeping its points.
    suite.clock.set(
        chrono::NaiveDate::from_ymd_opt(last_year, 12, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
            .and_local_timezone(chrono_tz::Asia::Shanghai)
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let renewed = suite
        .admin(
            Method::POST,
            &format!("/v1/{card_name}:renew"),
            Some(json!({})),
        )
        .await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    assert_eq!(renewed.body["pointsBalance"], "520");
    assert_eq!(renewed.body["validThrough"]["year"], last_year + 1);
    // The points went with the renewal: the old card holds none.
    if renewed.body["name"] != json!(card_name) {
        let old = suite
            .admin(Method::GET, &format!("/v1/{card_name}"), None)
            .await;
        assert_eq!(old.status, 200, "{:?}", old.body);
        assert_eq!(
            old.body["pointsBalance"].as_str().unwrap_or("0"),
            "0",
            "{:?}",
            old.body
        );
    }
}
