use patron_proto::common::v1::Date;
use patron_proto::profile::v1 as pb;

use crate::helpers::*;

async fn create_err(
    app: &TestApp,
    customer: Option<pb::Customer>,
    request_id: &str,
) -> tonic::Status {
    app.client
        .clone()
        .create_customer(app.admin(pb::CreateCustomerRequest {
            customer,
            request_id: request_id.into(),
        }))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn each_bad_field_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;

    type Breakage = Box<dyn Fn(&mut pb::Customer)>;
    let cases: Vec<(&str, Breakage)> = vec![
        ("customer.kind", Box::new(|c| c.kind = 0)),
        ("customer.kind", Box::new(|c| c.kind = 42)),
        (
            "customer.display_name",
            Box::new(|c| c.display_name = "   ".into()),
        ),
        (
            "customer.archive_number",
            Box::new(|c| c.archive_number = "no spaces".into()),
        ),
        (
            "customer.contact.email",
            Box::new(|c| c.contact.as_mut().unwrap().email = "x@".into()),
        ),
        (
            "customer.contact.mobile_phone",
            Box::new(|c| c.contact.as_mut().unwrap().mobile_phone = "12ab".into()),
        ),
        (
            "customer.person.id_card_number",
            Box::new(|c| c.person.as_mut().unwrap().id_card_number = "110105194912310021".into()),
        ),
        (
            "customer.person.birthday",
            Box::new(|c| {
                c.person.as_mut().unwrap().birthday = Some(Date {
                    year: 2099,
                    month: 1,
                    day: 1,
                })
            }),
        ),
        (
            "customer.person.birthday",
            Box::new(|c| {
                c.person.as_mut().unwrap().birthday = Some(Date {
                    year: 1990,
                    month: 2,
                    day: 30,
                })
            }),
        ),
        (
            "customer.family_members[0].relation",
            Box::new(|c| c.family_members[0].relation.clear()),
        ),
        (
            "customer.organization",
            Box::new(|c| c.organization = Some(pb::OrganizationFacts::default())),
        ),
        (
            "customer.referred_by",
            Box::new(|c| c.referred_by = "somebody".into()),
        ),
    ];
    for (field, break_it) in cases {
        let mut c = person("Valid Base");
        break_it(&mut c);
        let err = create_err(&app, Some(c), "").await;
        assert_eq!(bad_fields(&err), [field], "{}", err.message());
    }

    assert_eq!(bad_fields(&create_err(&app, None, "").await), ["customer"]);
    assert_eq!(
        bad_fields(&create_err(&app, Some(person("x")), "not-a-uuid").await),
        ["request_id"]
    );
    assert_eq!(app.count_rows().await, 0);
}

#[tokio::test]
async fn bad_names_and_paging_arguments_are_invalid() {
    let app = spawn_app().await;
    for name in [
        "",
        "customers/42",
        "orders/0190e2d4-7c1a-7000-8000-000000000000",
    ] {
        assert_eq!(
            bad_fields(&app.get(name).await.unwrap_err()),
            ["name"],
            "{name}"
        );
    }
    let err = app
        .client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest {
            page_size: -1,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["page_size"]);
    let err = app
        .client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest {
            page_token: "garbage".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["page_token"]);
    let err = app
        .client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest {
            phone: "call me".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["phone"]);
}
