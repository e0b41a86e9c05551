//! The edge holds: whatever a caller sends, a mistake is a 400-class status
//! naming the field, never an internal error and never a stored oddity.

use patron_proto::common::v1::{Date, Money};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use patron_vocab::money::MAX_AMOUNT_MINOR;
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

async fn record(app: &TestApp, parent: &str, t: pb::Transaction) -> Result<(), tonic::Status> {
    TransactionServiceClient::new(app.channel.clone())
        .record_transaction(app.admin(pb::RecordTransactionRequest {
            parent: parent.into(),
            transaction: Some(t),
        }))
        .await
        .map(|_| ())
}

fn purchase(
    app: &TestApp,
    external_id: &str,
    currency: &str,
    amount_minor: i64,
) -> pb::Transaction {
    pb::Transaction {
        external_id: external_id.into(),
        kind: pb::TransactionKind::Purchase as i32,
        occur_time: Some(patron_kit::timestamp::to_proto(
            app.now() - chrono::Duration::days(1),
        )),
        product: "gift box".into(),
        amount: Some(Money {
            currency_code: currency.into(),
            amount_minor,
        }),
        payment_method: pb::PaymentMethod::Mobile as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn money_is_bounded_and_its_sums_hold() {
    let app = spawn_app().await;
    let customer = app.create(person("Big Spender")).await;
    let err = record(
        &app,
        &customer.name,
        purchase(&app, "T-max", "CNY", i64::MAX),
    )
    .await
    .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["transaction.amount"],
        "{}",
        err.message()
    );
    let over = MAX_AMOUNT_MINOR + 1;
    let err = record(&app, &customer.name, purchase(&app, "T-over", "CNY", over))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["transaction.amount"]);

    // At the bound, twice: the summary still adds up.
    for id in ["T-1", "T-2"] {
        record(
            &app,
            &customer.name,
            purchase(&app, id, "CNY", MAX_AMOUNT_MINOR),
        )
        .await
        .unwrap();
    }
    let summary = TransactionServiceClient::new(app.channel.clone())
        .summarize_transactions(app.admin(pb::SummarizeTransactionsRequest {
            parent: customer.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summary.totals[0].purchased.as_ref().unwrap().amount_minor,
        2 * MAX_AMOUNT_MINOR
    );

    // The database holds the same bound, whatever writes to it.
    let mut conn = app.db.admin_connection().await;
    let refused = sqlx::query("UPDATE profile.transactions SET amount_minor = $1")
        .bind(over)
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("transactions_amount_minor_bounded"),
        "{refused}"
    );
}

#[tokio::test]
async fn currencies_are_iso_4217_and_years_plausible() {
    let app = spawn_app().await;
    let customer = app.create(person("Careful Buyer")).await;
    let err = record(&app, &customer.name, purchase(&app, "T-xyz", "XYZ", 100))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["transaction.amount"]);
    assert!(err.message().contains("ISO 4217"), "{}", err.message());

    let mut year_one = purchase(&app, "T-year-1", "CNY", 100);
    year_one.occur_time = Some(prost_types::Timestamp {
        seconds: -62_135_596_800, // 0001-01-01T00:00:00Z
        nanos: 0,
    });
    let err = record(&app, &customer.name, year_one).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["transaction.occur_time"]);

    let mut old = person("Very Old");
    old.person.as_mut().unwrap().birthday = Some(Date {
        year: 1,
        month: 1,
        day: 1,
    });
    let err = create(&app, old).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["customer.person.birthday"]);
}

#[tokio::test]
async fn an_invisible_name_is_a_blank_name() {
    let app = spawn_app().await;
    for blank in ["\u{200B}", "\u{FEFF} \u{200B}", "\u{2060}\u{200E}"] {
        let err = create(&app, person(blank)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["customer.display_name"], "{blank:?}");
    }
    let mut c = person("Visible");
    c.family_members[0].relation = "\u{200B}".into();
    let err = create(&app, c).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["customer.family_members[0].relation"]);
    assert_eq!(app.count_rows().await, 0);
    // Invisible edges are trimmed; the name itself is kept.
    let kept = create(&app, person("\u{200B}王丽\u{FEFF}")).await.unwrap();
    assert_eq!(kept.display_name, "王丽");
}
