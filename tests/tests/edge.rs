//! The edge holds over HTTP: bad input is a 400 naming the field, and an error
//! body never contradicts the status it comes with.

use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::json;

async fn customer(suite: &Suite) -> String {
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": "王丽"})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    created.body["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_nul_character_is_a_400_naming_the_field() {
    let suite = Suite::start().await;
    let name = customer(&suite).await;
    let created = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({
                "kind": "CUSTOMER_KIND_PERSON",
                "displayName": "x",
                "notes": "a\u{0000}b",
                "contact": {"address": "\u{0000}"},
                "productAttributes": {"region": "\u{0000}"}
            })),
        )
        .await;
    assert_eq!(created.status, 400, "{:?}", created.body);
    let mut fields = created.violation_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "customer.contact.address",
            "customer.notes",
            r#"customer.product_attributes["region"]"#
        ]
    );

    let search = suite
        .admin(Method::GET, "/v1/customers?displayNameContains=%00", None)
        .await;
    assert_eq!(
        (search.status, search.violation_fields()),
        (400, vec!["display_name_contains".to_owned()])
    );

    let recorded = suite
        .admin(
            Method::POST,
            &format!("/v1/{name}/transactions"),
            Some(json!({
                "externalId": "T-1", "kind": "TRANSACTION_KIND_PURCHASE",
                "occurTime": "2026-01-05T02:00:00Z", "product": "tea\u{0000}",
                "unit": "\u{0000}", "channel": "\u{0000}", "orderNumber": "\u{0000}",
                "amount": {"currencyCode": "CNY", "amountMinor": "100"}
            })),
        )
        .await;
    assert_eq!(recorded.status, 400, "{:?}", recorded.body);
    let mut fields = recorded.violation_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "transaction.channel",
            "transaction.order_number",
            "transaction.product",
            "transaction.unit"
        ]
    );
}

#[tokio::test]
async fn json_that_does_not_fit_names_the_field() {
    let suite = Suite::start().await;
    let name = customer(&suite).await;
    let path = format!("/v1/{name}/transactions");
    let cases = [
        (
            json!({"amount": {"currencyCode": "CNY", "amountMinor": "abc"}}),
            "transaction.amount.amount_minor",
        ),
        (
            json!({"amount": {"currencyCode": "CNY", "amountMinor": ""}}),
            "transaction.amount.amount_minor",
        ),
        (
            json!({"occurTime": "2026-13-45T00:00:00Z"}),
            "transaction.occur_time",
        ),
    ];
    for (body, field) in cases {
        let reply = suite.admin(Method::POST, &path, Some(body)).await;
        assert_eq!(
            (reply.status, reply.violation_fields()),
            (400, vec![field.to_owned()]),
            "{:?}",
            reply.body
        );
    }
    let month = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({
                "kind": "CUSTOMER_KIND_PERSON", "displayName": "x",
                "person": {"birthday": {"year": 1980, "month": "March", "day": 8}}
            })),
        )
        .await;
    assert_eq!(month.violation_fields(), ["customer.person.birthday.month"]);
}

#[tokio::test]
async fn an_error_body_carries_the_status_it_is_sent_with() {
    let suite = Suite::start().await;
    let wrong_method = suite.admin(Method::PUT, "/v1/customers/abc", None).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body["error"]["code"], 405);

    let too_big = suite
        .post_raw(
            "/v1/customers",
            "application/json",
            format!("{{\"notes\": \"{}\"}}", "x".repeat(100 * 1024)),
        )
        .await;
    assert_eq!(too_big.status, 413);
    let body = &too_big.body;
    assert_eq!(body["error"]["code"], 413);
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");

    let not_json = suite
        .post_raw("/v1/customers", "text/plain", "{}".into())
        .await;
    assert_eq!(not_json.status, 415);
    let body = &not_json.body;
    assert_eq!(body["error"]["code"], 415);
}

#[tokio::test]
async fn the_openapi_document_and_the_gateway_agree() {
    let suite = Suite::start().await;
    let doc: serde_json::Value = suite
        .http
        .get(format!("{}/openapi.json", suite.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer = &doc["components"]["schemas"]["patron.profile.v1.Customer"];
    let mut required: Vec<String> = customer["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("customer.{}", r.as_str().unwrap()))
        .collect();
    required.sort();
    assert_eq!(required, ["customer.displayName", "customer.kind"]);
    // What the document requires, the gateway refuses without (in proto names).
    let missing = suite
        .admin(Method::POST, "/v1/customers", Some(json!({})))
        .await;
    let mut fields = missing.violation_fields();
    fields.sort();
    assert_eq!(fields, ["customer.display_name", "customer.kind"]);
    // What the document forbids (a field not in the schema), it refuses.
    assert_eq!(customer["additionalProperties"], false);
    let unknown = suite
        .admin(
            Method::POST,
            "/v1/customers",
            Some(json!({"kind": "CUSTOMER_KIND_PERSON", "displayName": "x", "colour": "red"})),
        )
        .await;
    assert_eq!(unknown.status, 400);
    let param = &doc["paths"]["/v1/customers/{name}"]["get"]["parameters"][0];
    assert_eq!(param["schema"]["pattern"], "^[^/]+$");
}
