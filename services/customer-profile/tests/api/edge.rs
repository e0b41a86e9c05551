//! The edge holds: whatever a caller sends, a mistake is a 400-class status
//! naming the field, never an internal error and never a stored oddity.

use patron_proto::profile::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn create(app: &TestApp, customer: pb::Customer) -> Result<pb::Customer, tonic::Status> {
    app.client
        .clone()
        .create_customer(app.admin(pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: String::new(),
        }))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_nul_character_anywhere_is_refused_by_name() {
    let app = spawn_app().await;
    let mut c = person("Nul Case");
    c.notes = "prefers\0mornings".into();
    let contact = c.contact.as_mut().unwrap();
    contact.email = "a\0@example.com".into();
    contact.address = "1 Road\0".into();
    c.soft_facts.as_mut().unwrap().hobbies[1] = "\0".into();
    c.family_members[0].name = "Zhang\0Wei".into();
    c.product_attributes.insert("size\0".into(), "L".into());
    c.product_attributes.insert("colour".into(), "re\0d".into());
    let err = create(&app, c).await.unwrap_err();
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "customer.contact.address",
            "customer.contact.email",
            "customer.family_members[0].name",
            "customer.notes",
            r#"customer.product_attributes["colour"]"#,
            "customer.product_attributes[\"size\\u0000\"] (key)",
            "customer.soft_facts.hobbies[1]",
        ],
        "{}",
        err.message()
    );
    assert_eq!(app.count_rows().await, 0);

    // Queries too: a search term is text like any other.
    let err = app
        .client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest {
            display_name_contains: "wang\0".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["display_name_contains"]);
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_resource_exhausted() {
    let app = spawn_app().await;
    let mut c = person("Large");
    c.notes = "x".repeat(patron_kit::incoming::MAX_MESSAGE_BYTES + 1);
    let err = create(&app, c).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(app.count_rows().await, 0);
}
