//! Portals' view: customers through the HTTP gateway, transcoded onto gRPC.

use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::json;

fn wang_li() -> serde_json::Value {
    json!({
        "kind": "CUSTOMER_KIND_PERSON",
        "displayName": "王丽",
        "contact": {"mobilePhone": "138-0013-8000", "email": "wang.li@example.com"},
        "person": {"gender": "GENDER_FEMALE", "birthday": {"year": 1980, "month": 3, "day": 8}},
        "softFacts": {"hobbies": ["tea"], "preferredChannel": "CONTACT_CHANNEL_PHONE"},
        "familyMembers": [{"name": "张伟", "relation": "spouse"}]
    })
}

#[tokio::test]
async fn create_find_update_read_and_delete_over_http() {
    let suite = Suite::start().await;

    let created = suite
        .admin(Method::POST, "/v1/customers", Some(wang_li()))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let name = created.body["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("customers/"));
    assert_eq!(created.body["displayName"], "王丽");
    assert_eq!(created.body["kind"], "CUSTOMER_KIND_PERSON");
    assert!(
        created.body["createTime"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 time"
    );
    assert!(created.headers.contains_key("x-request-id"));

    let found = suite
        .admin(Method::GET, "/v1/customers?phone=13800138000", None)
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["customers"][0]["name"], name.as_str());
    let by_name = suite
        .admin(
            Method::GET,
            "/v1/customers?displayNameContains=%E7%8E%8B&pageSize=10",
            None,
        )
        .await;
    assert_eq!(by_name.body["customers"].as_array().unwrap().len(), 1);
    let number = created.body["archiveNumber"].as_str().unwrap();
    let by_number = suite
        .admin(
            Method::GET,
            &format!("/v1/customers?archiveNumber={number}"),
            None,
        )
        .await;
    assert_eq!(by_number.body["customers"][0]["name"], name.as_str());

    let etag = created.body["etag"].as_str().unwrap();
    let patch = json!({"etag": etag, "notes": "prefers morning calls", "contact": {"email": "li@example.cn"}});
    let updated = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{name}?updateMask=notes,contact.email"),
            Some(patch),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["notes"], "prefers morning calls");
    assert_eq!(updated.body["contact"]["email"], "li@example.cn");
    assert_eq!(updated.body["contact"]["mobilePhone"], "138-0013-8000");

    let read = suite.admin(Method::GET, &format!("/v1/{name}"), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, updated.body);

    let deleted = suite
        .admin(Method::DELETE, &format!("/v1/{name}"), None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, json!({}));
    let gone = suite.admin(Method::GET, &format!("/v1/{name}"), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_status(), "NOT_FOUND");
}

#[tokio::test]
async fn tokens_are_checked_at_the_gateway() {
    let suite = Suite::start().await;
    let path = "/v1/customers";

    let none = suite.call(Method::GET, path, None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.error_status(), "UNAUTHENTICATED");
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    let other_key = patron_kit::auth::Authenticator::new(&patron_kit::testing::auth_config());
    let forged = other_key.mint(
        "staff-9",
        &["admin".into()],
        chrono::Utc::now(),
        std::time::Duration::from_secs(60),
    );
    let expired = suite.token_with(|c| c.exp = c.iat - 3600);
    let wrong_audience = suite.token_with(|c| c.aud = "another-system".into());
    let wrong_issuer = suite.token_with(|c| c.iss = "someone-else".into());
    let not_yet = suite.token_with(|c| c.nbf = Some(c.iat + 3600));
    for (what, token) in [
        ("not valid for another hour", not_yet.as_str()),
        ("bad signature", forged.as_str()),
        ("expired", expired.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("wrong issuer", wrong_issuer.as_str()),
        ("garbage", "not-a-token"),
    ] {
        let reply = suite.call(Method::GET, path, Some(token), None).await;
        assert_eq!(reply.status, 401, "{what}: {:?}", reply.body);
    }

    // A valid token whose role may not act is refused by the service: 403.
    let viewer = suite.token("viewer");
    let refused = suite
        .call(Method::POST, path, Some(&viewer), Some(wang_li()))
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.error_status(), "PERMISSION_DENIED");
    let allowed = suite.call(Method::GET, path, Some(&viewer), None).await;
    assert_eq!(allowed.status, 200, "the token reached the service");
    // RFC 7519 lets `aud` be an array; ours among several is accepted by the
    // gateway and the service alike.
    let several = suite.token_with(|c| c.aud = vec!["crm".to_owned(), "patron".to_owned()].into());
    let reply = suite.call(Method::GET, path, Some(&several), None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let stranger = suite.token("intern");
    assert_eq!(
        suite
            .call(Method::GET, path, Some(&stranger), None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn service_errors_map_to_http_statuses_with_field_violations() {
    let suite = Suite::start().await;

    let mut bad = wang_li();
    bad["displayName"] = json!("");
    bad["contact"]["email"] = json!("nope");
    let invalid = suite.admin(Method::POST, "/v1/customers", Some(bad)).await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.error_status(), "INVALID_ARGUMENT");
    assert_eq!(
        invalid.violation_fields(),
        ["customer.display_name", "customer.contact.email"]
    );

    let mut numbered = wang_li();
    numbered["archiveNumber"] = json!("VIP-1");
    assert_eq!(
        suite
            .admin(Method::POST, "/v1/customers", Some(numbered.clone()))
            .await
            .status,
        200
    );
    let duplicate = suite
        .admin(Method::POST, "/v1/customers", Some(numbered))
        .await;
    assert_eq!(
        (duplicate.status, duplicate.error_status()),
        (409, "ALREADY_EXISTS")
    );

    let created = suite
        .admin(Method::POST, "/v1/customers", Some(wang_li()))
        .await;
    let name = created.body["name"].as_str().unwrap();
    let stale = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{name}?updateMask=notes"),
            Some(json!({"etag": "\"9\"", "notes": "x"})),
        )
        .await;
    assert_eq!((stale.status, stale.error_status()), (409, "ABORTED"));

    let missing = suite
        .admin(
            Method::GET,
            "/v1/customers/0190e2d4-7c1a-7000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!((missing.status, missing.error_status()), (404, "NOT_FOUND"));
    let malformed = suite.admin(Method::GET, "/v1/customers/42", None).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.violation_fields(), ["name"]);
}

#[tokio::test]
async fn malformed_http_is_refused_before_any_service_sees_it() {
    let suite = Suite::start().await;

    let unknown_route = suite.admin(Method::GET, "/v1/nothing-here", None).await;
    assert_eq!(unknown_route.status, 404);
    let wrong_method = suite.admin(Method::PUT, "/v1/customers/abc", None).await;
    assert_eq!(wrong_method.status, 405);
    assert!(
        wrong_method.headers["allow"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    let unknown_param = suite
        .admin(Method::GET, "/v1/customers?colour=red", None)
        .await;
    assert_eq!(
        (unknown_param.status, unknown_param.violation_fields()),
        (400, vec!["colour".to_string()])
    );
    let typed_param = suite
        .admin(Method::GET, "/v1/customers?pageSize=many", None)
        .await;
    assert_eq!(typed_param.violation_fields(), ["page_size"]);
    let unknown_field = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"displayName": "x", "favouriteColour": "red"})),
        )
        .await;
    assert_eq!(unknown_field.status, 400);

    let not_json = suite
        .post_raw("/v1/customers", "application/json", "{not json".into())
        .await;
    assert_eq!(not_json.status, 400);
    let too_big = suite
        .post_raw(
            "/v1/customers",
            "application/json",
            format!("{{\"notes\": \"{}\"}}", "x".repeat(100 * 1024)),
        )
        .await;
    assert_eq!(too_big.status, 413);

    // Every service is deployed: a malformed name is refused by the service.
    let task = suite.admin(Method::GET, "/v1/tasks/t-1", None).await;
    assert_eq!(
        (task.status, task.error_status()),
        (400, "INVALID_ARGUMENT")
    );
}

#[tokio::test]
async fn every_service_is_deployed_and_published() {
    let suite = Suite::start().await;
    // scheduling, the last of the four, answers through the gateway too.
    for path in ["/v1/tasks/t-1", "/v1/contactLogs"] {
        let anonymous = suite.call(Method::GET, path, None, None).await;
        assert_eq!(
            (anonymous.status, anonymous.error_status()),
            (401, "UNAUTHENTICATED"),
            "{path}"
        );
    }
    let listed = suite.admin(Method::GET, "/v1/contactLogs", None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);

    let doc = suite.call(Method::GET, "/openapi.json", None, None).await;
    let paths: Vec<&String> = doc.body["paths"].as_object().unwrap().keys().collect();
    for published in [
        "/v1/customers",
        "/v1/tierPolicies",
        "/v1/complaints",
        "/v1/tasks",
        "/v1/contactLogs",
        "/v1/leaves",
    ] {
        assert!(
            paths.iter().any(|p| p.starts_with(published)),
            "{published} is not published: {paths:?}"
        );
    }
    let schemas = doc.body["components"]["schemas"].as_object().unwrap();
    assert!(schemas.keys().any(|k| k.starts_with("patron.complaint.")));
    assert!(schemas.keys().any(|k| k.starts_with("patron.scheduling.")));
}

#[tokio::test]
async fn a_service_that_is_down_is_unavailable_not_an_error_of_the_caller() {
    let suite = Suite::start_with(false).await;
    let reply = suite.admin(Method::GET, "/v1/customers", None).await;
    assert_eq!((reply.status, reply.error_status()), (503, "UNAVAILABLE"));
    let ready = suite.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["status"], "unavailable");
}

#[tokio::test]
async fn openapi_and_health_are_served_without_a_token() {
    let suite = Suite::start().await;
    let doc = suite.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1/customers"]["post"].is_object());
    assert!(doc.body["components"]["schemas"]["patron.profile.v1.Customer"].is_object());

    assert_eq!(
        suite.call(Method::GET, "/healthz", None, None).await.status,
        200
    );
    let mut ready = suite.call(Method::GET, "/readyz", None, None).await;
    for _ in 0..50 {
        if ready.status == 200 && ready.body["status"] == "ok" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = suite.call(Method::GET, "/readyz", None, None).await;
    }
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.body["services"]["profile"]["postgres"], "up");
    assert_eq!(ready.body["services"]["profile"]["redis"], "up");
}

#[tokio::test]
async fn the_request_id_is_kept_end_to_end() {
    let suite = Suite::start().await;
    let token = suite.token("admin");
    let reply = suite
        .http
        .get(format!("{}/v1/customers", suite.base_url))
        .bearer_auth(&token)
        .header("x-request-id", "portal-req-7")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(reply.headers()["x-request-id"], "portal-req-7");

    let generated = suite.admin(Method::GET, "/v1/customers", None).await;
    assert_eq!(
        generated.headers["x-request-id"].len(),
        36,
        "a UUID when the caller sends none"
    );
}

#[tokio::test]
async fn transactions_are_on_http_without_gateway_code() {
    let suite = Suite::start().await;
    let created = suite
        .admin(Method::POST, "/v1/customers", Some(wang_li()))
        .await;
    let name = created.body["name"].as_str().unwrap();
    let purchase = json!({
        "externalId": "POS-77",
        "kind": "TRANSACTION_KIND_PURCHASE",
        "occurTime": (suite.now() - chrono::Duration::days(30)).to_rfc3339(),
        "product": "tea set",
        "quantity": "1.5",
        "amount": {"currencyCode": "CNY", "amountMinor": "128000"}
    });
    let recorded = suite
        .admin(
            Method::POST,
            &format!("/v1/{name}/transactions"),
            Some(purchase),
        )
        .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    assert_eq!(recorded.body["quantity"], "1.5");
    let summary = suite
        .admin(
            Method::GET,
            &format!(
                "/v1/{name}/transactions:summarize?startTime={}",
                (suite.now() - chrono::Duration::days(365)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            None,
        )
        .await;
    assert_eq!(summary.status, 200, "{:?}", summary.body);
    assert_eq!(summary.body["totals"][0]["net"]["amountMinor"], "128000");
    let listed = suite
        .admin(
            Method::GET,
            &format!("/v1/{name}/transactions?pageSize=10"),
            None,
        )
        .await;
    assert_eq!(listed.body["transactions"][0]["externalId"], "POS-77");
}

#[tokio::test]
async fn contact_questions_are_on_http_with_custom_verbs() {
    let suite = Suite::start().await;
    let created = suite
        .admin(Method::POST, "/v1/customers", Some(wang_li()))
        .await;
    let name = created.body["name"].as_str().unwrap();
    let ask = format!(
        "/v1/{name}:checkContactPermission?channel=CONTACT_CHANNEL_EMAIL&purpose=CONTACT_PURPOSE_MARKETING"
    );
    let before = suite.admin(Method::GET, &ask, None).await;
    assert_eq!(before.status, 200, "{:?}", before.body);
    assert_eq!(before.body["allowed"], false);
    let consent = json!({"channel": "CONTACT_CHANNEL_EMAIL", "purpose": "CONTACT_PURPOSE_MARKETING", "status": "CONSENT_STATUS_OPTED_IN"});
    assert_eq!(
        suite
            .admin(Method::POST, &format!("/v1/{name}/consents"), Some(consent))
            .await
            .status,
        200
    );
    assert_eq!(
        suite.admin(Method::GET, &ask, None).await.body["allowed"],
        true
    );
}

#[tokio::test]
async fn the_organisation_and_a_customers_life_over_http() {
    let suite = Suite::start().await;
    let unit = suite
        .admin(
            Method::POST,
            "/v1/orgUnits?orgUnitId=east",
            Some(json!({"displayName": "East region", "kind": "ORG_UNIT_KIND_REGION", "parent": "orgUnits/company"})),
        )
        .await;
    assert_eq!(unit.status, 200, "{:?}", unit.body);
    assert_eq!(unit.body["ancestors"], json!(["orgUnits/company"]));
    let staff = suite
        .admin(
            Method::POST,
            "/v1/staff?staffMemberId=mgr-1",
            Some(json!({"displayName": "Li Na", "orgUnit": "orgUnits/east", "customerLimit": 1})),
        )
        .await;
    assert_eq!(staff.status, 200, "{:?}", staff.body);
    let staff_list = suite
        .admin(Method::GET, "/v1/staff?within=orgUnits%2Feast", None)
        .await;
    assert_eq!(staff_list.body["staffMembers"][0]["name"], "staff/mgr-1");

    let mut body = wang_li();
    body["orgUnit"] = json!("orgUnits/east");
    let created = suite.admin(Method::POST, "/v1/customers", Some(body)).await;
    let name = created.body["name"].as_str().unwrap().to_owned();
    let assigned = suite
        .admin(
            Method::POST,
            &format!("/v1/{name}:assignAccountManager"),
            Some(json!({"accountManager": "mgr-1"})),
        )
        .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);
    assert_eq!(assigned.body["accountManager"], "mgr-1");

    let second = suite
        .admin(Method::POST, "/v1/customers", Some(wang_li()))
        .await;
    let over = suite
        .admin(
            Method::POST,
            &format!(
                "/v1/{}:assignAccountManager",
                second.body["name"].as_str().unwrap()
            ),
            Some(json!({"accountManager": "mgr-1"})),
        )
        .await;
    assert_eq!(over.status, 400, "{:?}", over.body);
    assert_eq!(over.error_status(), "FAILED_PRECONDITION");

    let served = suite
        .admin(
            Method::POST,
            &format!("/v1/{name}/serviceRecords"),
            Some(json!({"serviceTime": "2026-01-05T02:00:00Z", "content": "site visit", "result": "order confirmed"})),
        )
        .await;
    assert_eq!(served.status, 200, "{:?}", served.body);
    assert_eq!(served.body["serviceRecords"][0]["content"], "site visit");

    let exited = suite
        .admin(
            Method::POST,
            &format!("/v1/{name}:exit"),
            Some(json!({"kind": "EXIT_KIND_REVOKED_FOR_BREACH", "reason": "forged invoices"})),
        )
        .await;
    assert_eq!(exited.status, 200, "{:?}", exited.body);
    assert_eq!(exited.body["exit"]["reason"], "forged invoices");
    let missing_reason = suite
        .admin(
            Method::POST,
            &format!("/v1/{name}:exit"),
            Some(json!({"kind": "EXIT_KIND_VOLUNTARY"})),
        )
        .await;
    assert_eq!(missing_reason.status, 400);
    assert_eq!(
        missing_reason.violation_fields(),
        ["reason", "written_request_reference"]
    );
}

#[tokio::test]
async fn the_access_purpose_header_reaches_the_audit() {
    let suite = Suite::start().await;
    let created = suite
        .admin(Method::POST, "/v1/customers", Some(wang_li()))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let name = created.body["name"].as_str().unwrap().to_owned();

    let read = suite
        .http
        .get(format!("{}/v1/{name}", suite.base_url))
        .bearer_auth(suite.token("admin"))
        .header("x-access-purpose", "complaint follow-up")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);

    let records = suite
        .admin(
            Method::GET,
            &format!("/v1/accessRecords?customer={name}"),
            None,
        )
        .await;
    assert_eq!(records.status, 200, "{:?}", records.body);
    let newest = &records.body["accessRecords"][0];
    assert_eq!(newest["method"], "GetCustomer", "{:?}", records.body);
    assert_eq!(newest["purpose"], "complaint follow-up");

    // And the OpenAPI document says so.
    let doc = suite.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(
        doc.body["components"]["parameters"]["AccessPurpose"]["name"],
        "x-access-purpose"
    );
    let get = &doc.body["paths"]["/v1/customers/{name}"]["get"];
    assert!(
        get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["$ref"] == "#/components/parameters/AccessPurpose"),
        "{get}"
    );
}
