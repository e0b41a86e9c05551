use chrono::{DateTime, Duration, Utc};
use patron_proto::common::v1::Money;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use tonic::Code;

use crate::helpers::*;

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(patron_kit::timestamp::to_proto(t))
}

fn purchase(external_id: &str, yuan: i64, at: DateTime<Utc>) -> pb::Transaction {
    pb::Transaction {
        external_id: external_id.into(),
        kind: pb::TransactionKind::Purchase as i32,
        occur_time: ts(at),
        product: "mooncake gift box".into(),
        quantity: "2".into(),
        unit: "box".into(),
        amount: Some(Money {
            currency_code: "CNY".into(),
            amount_minor: yuan * 100,
        }),
        payment_method: pb::PaymentMethod::Mobile as i32,
        channel: "store".into(),
        ..Default::default()
    }
}

async fn record(
    app: &TestApp,
    parent: &str,
    t: pb::Transaction,
) -> Result<pb::Transaction, tonic::Status> {
    TransactionServiceClient::new(app.channel.clone())
        .record_transaction(app.admin(pb::RecordTransactionRequest {
            parent: parent.into(),
            transaction: Some(t),
        }))
        .await
        .map(|r| r.into_inner())
}

async fn count(app: &TestApp) -> i64 {
    let mut conn = app.db.admin_connection().await;
    sqlx::query_scalar("SELECT count(*) FROM profile.transactions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// TransactionRecorded events in the outbox.
async fn transaction_events(app: &TestApp) -> i64 {
    let mut conn = app.db.admin_connection().await;
    sqlx::query_scalar("SELECT count(*) FROM profile.outbox WHERE topic = 'profile.transactions'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transaction_is_recorded_once_per_external_id() {
    let app = spawn_app().await;
    let customer = app.create(person("Buyer")).await;
    let at = app.now() - Duration::days(3);

    let first = record(&app, &customer.name, purchase("POS-1", 1280, at))
        .await
        .unwrap();
    assert!(
        first
            .name
            .starts_with(&format!("{}/transactions/", customer.name))
    );
    assert_eq!(first.quantity, "2");
    assert_eq!(first.amount.as_ref().unwrap().amount_minor, 128_000);

    // Retries, concurrent ones too, answer with the first record.
    let mut handles = Vec::new();
    for _ in 0..4 {
        let mut client = TransactionServiceClient::new(app.channel.clone());
        let req = app.admin(pb::RecordTransactionRequest {
            parent: customer.name.clone(),
            transaction: Some(purchase("POS-1", 1280, at)),
        });
        handles.push(tokio::spawn(
            async move { client.record_transaction(req).await },
        ));
    }
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap().into_inner().name, first.name);
    }
    assert_eq!(count(&app).await, 1);

    // The same external id with other facts is a conflict, not an overwrite.
    let err = record(&app, &customer.name, purchase("POS-1", 99, at))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(count(&app).await, 1);
    // Another customer's record of the id answers the same words, which
    // tell nothing of that record.
    let other = app.create(person("Someone Else")).await;
    let elsewhere = record(&app, &other.name, purchase("POS-1", 1280, at))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::AlreadyExists);
    assert_eq!(elsewhere.message(), err.message());
    assert!(
        !elsewhere.message().contains("recorded") && !elsewhere.message().contains("details"),
        "{}",
        elsewhere.message()
    );

    let events = transaction_events(&app).await;
    assert_eq!(events, 1, "one TransactionRecorded per transaction");
}

#[tokio::test]
async fn bad_transactions_name_each_field_and_need_a_live_customer() {
    let app = spawn_app().await;
    let customer = app.create(person("Buyer")).await;
    let bad = pb::Transaction {
        external_id: "has space".into(),
        kind: 0,
        occur_time: ts(app.now() + Duration::days(1)),
        product: " ".into(),
        quantity: "1.2345".into(),
        amount: Some(Money {
            currency_code: "CNY".into(),
            amount_minor: -1,
        }),
        payment_method: 99,
        ..Default::default()
    };
    let err = record(&app, &customer.name, bad).await.unwrap_err();
    assert_eq!(
        bad_fields(&err),
        [
            "transaction.external_id",
            "transaction.kind",
            "transaction.occur_time",
            "transaction.product",
            "transaction.quantity",
            "transaction.amount",
            "transaction.payment_method",
        ]
    );
    let missing = pb::Transaction {
        amount: None,
        occur_time: None,
        ..purchase("X-1", 1, app.now())
    };
    let err = record(&app, &customer.name, missing).await.unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["transaction.occur_time", "transaction.amount"]
    );

    let unknown = format!("customers/{}", uuid::Uuid::now_v7());
    assert_eq!(
        record(&app, &unknown, purchase("X-2", 1, app.now()))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        bad_fields(
            &record(&app, "nobody", purchase("X-3", 1, app.now()))
                .await
                .unwrap_err()
        ),
        ["parent"]
    );

    app.client
        .clone()
        .delete_customer(app.admin(pb::DeleteCustomerRequest {
            name: customer.name.clone(),
            etag: String::new(),
        }))
        .await
        .unwrap();
    let err = record(&app, &customer.name, purchase("X-4", 1, app.now()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(count(&app).await, 0);
}

#[tokio::test]
async fn list_and_sum_over_a_period() {
    let app = spawn_app().await;
    let customer = app.create(person("Regular")).await;
    let other = app.create(person("Someone Else")).await;
    let now = app.now();
    for (i, days_ago, yuan) in [(1, 400, 5000), (2, 200, 1000), (3, 100, 3000), (4, 10, 200)] {
        record(
            &app,
            &customer.name,
            purchase(&format!("P-{i}"), yuan, now - Duration::days(days_ago)),
        )
        .await
        .unwrap();
    }
    let refund = pb::Transaction {
        kind: pb::TransactionKind::Refund as i32,
        ..purchase("R-1", 500, now - Duration::days(5))
    };
    record(&app, &customer.name, refund).await.unwrap();
    record(
        &app,
        &other.name,
        purchase("O-1", 9999, now - Duration::days(1)),
    )
    .await
    .unwrap();

    let mut client = TransactionServiceClient::new(app.channel.clone());
    let year = pb::SummarizeTransactionsRequest {
        parent: customer.name.clone(),
        start_time: ts(now - Duration::days(365)),
        end_time: ts(now),
    };
    let summary = client
        .summarize_transactions(app.admin(year))
        .await
        .unwrap()
        .into_inner();
    let totals = &summary.totals[0];
    assert_eq!(totals.purchased.as_ref().unwrap().amount_minor, 420_000);
    assert_eq!(totals.refunded.as_ref().unwrap().amount_minor, 50_000);
    assert_eq!(totals.net.as_ref().unwrap().amount_minor, 370_000);
    assert_eq!(
        totals.largest_purchase.as_ref().unwrap().amount_minor,
        300_000
    );
    assert_eq!((summary.purchase_count, summary.refund_count), (3, 1));

    let all = client
        .summarize_transactions(app.admin(pb::SummarizeTransactionsRequest {
            parent: customer.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.totals[0]
            .largest_purchase
            .as_ref()
            .unwrap()
            .amount_minor,
        500_000
    );

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_transactions(app.admin(pb::ListTransactionsRequest {
                parent: customer.name.clone(),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.transactions.into_iter().map(|t| t.external_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        ["R-1", "P-4", "P-3", "P-2", "P-1"],
        "newest first, every one once"
    );

    let backwards = pb::SummarizeTransactionsRequest {
        parent: customer.name.clone(),
        start_time: ts(now),
        end_time: ts(now - Duration::days(1)),
    };
    let err = client
        .summarize_transactions(app.admin(backwards))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["end_time"]);
}

/// 003's "one purchase of 1,000 actually paid": a refund names the purchase
/// it takes back (by name or external id), never takes back more than it
/// paid, and the purchase then counts for what is left.
#[tokio::test]
async fn a_refund_names_its_purchase_and_takes_back_no_more_than_it_paid() {
    use patron_proto::common::v1::EventEnvelope;
    use prost::Message;

    let app = spawn_app().await;
    let customer = app.create(person("Refunded")).await;
    let other = app.create(person("Someone Else")).await;
    let now = app.now();
    let bought = record(
        &app,
        &customer.name,
        purchase("P-1200", 1200, now - Duration::days(2)),
    )
    .await
    .unwrap();
    let refund = |external_id: &str, yuan: i64, of: &str| pb::Transaction {
        kind: pb::TransactionKind::Refund as i32,
        refunded_transaction: of.into(),
        ..purchase(external_id, yuan, now - Duration::days(1))
    };

    // By external id; the answer names the purchase.
    let first = record(&app, &customer.name, refund("R-1", 200, "P-1200"))
        .await
        .unwrap();
    assert_eq!(first.refunded_transaction, bought.name);
    // A retry is the same refund, not a second one.
    let again = record(&app, &customer.name, refund("R-1", 200, "P-1200"))
        .await
        .unwrap();
    assert_eq!(again.name, first.name);
    // By name.
    record(&app, &customer.name, refund("R-2", 100, &bought.name))
        .await
        .unwrap();
    // 300 of 1,200 are back: 901 more is too much.
    let err = record(&app, &customer.name, refund("R-3", 901, "P-1200"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("at most 900.00"),
        "{}",
        err.message()
    );

    let field_of = |err: tonic::Status| {
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        patron_kit::error::violations_of(&err)
            .into_iter()
            .map(|v| v.field)
            .collect::<Vec<_>>()
    };
    for (t, why) in [
        (
            pb::Transaction {
                refunded_transaction: "P-1200".into(),
                ..purchase("P-2", 10, now)
            },
            "only refunds name a purchase",
        ),
        (refund("R-4", 10, "NO-SUCH"), "unknown purchase"),
        (refund("R-5", 10, "R-1"), "a refund is no purchase"),
        (
            refund("R-6", 10, &bought.name.replace(&customer.name, &other.name)),
            "another customer's",
        ),
    ] {
        assert_eq!(
            field_of(record(&app, &customer.name, t).await.unwrap_err()),
            ["transaction.refunded_transaction"],
            "{why}"
        );
    }
    let early = pb::Transaction {
        occur_time: ts(now - Duration::days(3)),
        ..refund("R-7", 10, "P-1200")
    };
    assert_eq!(
        field_of(record(&app, &customer.name, early).await.unwrap_err()),
        ["transaction.occur_time"]
    );

    // The purchase counts for what it paid less its refunds.
    let summary = TransactionServiceClient::new(app.channel.clone())
        .summarize_transactions(app.admin(pb::SummarizeTransactionsRequest {
            parent: customer.name.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let totals = &summary.totals[0];
    assert_eq!(
        totals.largest_purchase.as_ref().unwrap().amount_minor,
        90_000
    );
    assert_eq!(totals.refunded.as_ref().unwrap().amount_minor, 30_000);

    // The event names the purchase for tiering.
    let mut conn = app.db.admin_connection().await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM profile.outbox ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let named: Vec<String> = envelopes
        .iter()
        .filter_map(|bytes| {
            patron_kit::events::payload::<pb::TransactionRecorded>(
                &EventEnvelope::decode(bytes.as_slice()).unwrap(),
            )
        })
        .filter(|e| e.kind == pb::TransactionKind::Refund as i32)
        .map(|e| e.refunded_transaction)
        .collect();
    assert_eq!(named, [bought.name.clone(), bought.name]);
}

#[tokio::test]
async fn a_purchase_after_the_customer_left_is_refused_naming_the_exit() {
    let app = spawn_app().await;
    let customer = app.create(person("Leaver")).await;
    let before_exit = app.now() - Duration::days(2);
    app.client
        .clone()
        .exit_customer(app.admin(pb::ExitCustomerRequest {
            name: customer.name.clone(),
            kind: pb::ExitKind::Voluntary as i32,
            reason: "moving abroad".into(),
            written_request_reference: "letter 2026-114".into(),
            etag: String::new(),
        }))
        .await
        .unwrap();

    let after_exit = app.now() + Duration::minutes(1);
    let err = record(&app, &customer.name, purchase("POS-9", 1200, after_exit))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains(&customer.name) && err.message().contains("left the programme"),
        "{}",
        err.message()
    );
    assert_eq!(count(&app).await, 0, "nothing recorded");

    // What happened while they were a member is still theirs: a late
    // purchase from before the exit, and its refund after it.
    record(&app, &customer.name, purchase("POS-8", 300, before_exit))
        .await
        .unwrap();
    let refund = pb::Transaction {
        kind: pb::TransactionKind::Refund as i32,
        refunded_transaction: "POS-8".into(),
        ..purchase("POS-8-R", 300, after_exit)
    };
    record(&app, &customer.name, refund).await.unwrap();
    assert_eq!(count(&app).await, 2);
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_a_refusal_costs_the_others_nothing() {
    let app = spawn_app().await;
    let now = app.now();
    let mut customers = Vec::new();
    for i in 0..8 {
        customers.push(app.create(person(&format!("Buyer {i}"))).await.name);
    }
    let bought = record(
        &app,
        &customers[0],
        purchase("BIG-1", 1000, now - Duration::days(2)),
    )
    .await
    .unwrap();

    // Sent together, so they meet in groups, and groups in flight meet each
    // other: purchases for every customer, one for a customer that does not
    // exist, and eight refunds of 400 yuan each of a 1,000-yuan purchase
    // (only two may be taken back).
    let mut calls = Vec::new();
    for (i, customer) in customers.iter().enumerate() {
        for n in 0..4 {
            calls.push((
                customer.clone(),
                purchase(&format!("C{i}-{n}"), 10 + n, now - Duration::days(1)),
            ));
        }
    }
    calls.push((
        format!("customers/{}", uuid::Uuid::now_v7()),
        purchase("NOBODY-1", 10, now - Duration::days(1)),
    ));
    // Retries of one of them sent with it (a group may hold the first and
    // its retry), and an external id stored before reused for other facts
    // (a group's insert that finds some of its rows already there).
    for _ in 0..3 {
        calls.push((
            customers[1].clone(),
            purchase("C1-0", 10, now - Duration::days(1)),
        ));
    }
    calls.push((
        customers[0].clone(),
        purchase("BIG-1", 999, now - Duration::days(2)),
    ));
    for n in 0..8 {
        calls.push((
            customers[0].clone(),
            pb::Transaction {
                kind: pb::TransactionKind::Refund as i32,
                refunded_transaction: bought.name.clone(),
                ..purchase(&format!("R-{n}"), 400, now - Duration::days(1))
            },
        ));
    }
    let mut handles = Vec::new();
    for (parent, t) in calls {
        let mut client = TransactionServiceClient::new(app.channel.clone());
        let req = app.admin(pb::RecordTransactionRequest {
            parent,
            transaction: Some(t),
        });
        handles.push(tokio::spawn(async move {
            client.record_transaction(req).await.map(|r| r.into_inner())
        }));
    }
    let mut answers = Vec::new();
    for h in handles {
        answers.push(h.await.unwrap());
    }
    let (purchases, rest) = answers.split_at(32);
    assert!(purchases.iter().all(Result::is_ok), "{purchases:?}");
    assert_eq!(rest[0].as_ref().unwrap_err().code(), Code::NotFound);
    let first_of_c1 = &purchases[4].as_ref().unwrap().name;
    for retry in &rest[1..4] {
        assert_eq!(&retry.as_ref().unwrap().name, first_of_c1);
    }
    assert_eq!(rest[4].as_ref().unwrap_err().code(), Code::AlreadyExists);
    let refunds = &rest[5..];
    let taken = refunds.iter().filter(|r| r.is_ok()).count();
    assert_eq!(taken, 2, "{refunds:?}");
    for refused in refunds.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    }

    // 1 + 32 purchases and the two refunds, each with its event.
    assert_eq!(count(&app).await, 35);
    let events = transaction_events(&app).await;
    assert_eq!(events, 35);
}

#[tokio::test]
async fn a_refund_check_waits_for_another_refund_of_the_same_purchase() {
    use patron_customer_profile::store::transactions::{PurchaseRef, named_purchase};

    let app = spawn_app().await;
    let customer = app.create(person("Refunded Twice")).await;
    let id: uuid::Uuid = customer.name["customers/".len()..].parse().unwrap();
    record(
        &app,
        &customer.name,
        purchase("P-500", 500, app.now() - Duration::days(2)),
    )
    .await
    .unwrap();
    let connect = || async {
        let mut conn = app.db.admin_connection().await;
        sqlx::query("SET search_path TO profile")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    };

    // The first refund's transaction has checked the purchase and is still
    // open (the customer is only share-locked, so nothing else holds the
    // second back).
    let mut first = connect().await;
    sqlx::query("BEGIN").execute(&mut first).await.unwrap();
    named_purchase(
        &mut first,
        id,
        &PurchaseRef::ExternalId("P-500".into()),
        "R-A",
    )
    .await
    .unwrap()
    .unwrap();
    let mut second = connect().await;
    let second_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut second)
        .await
        .unwrap();
    let checking = tokio::spawn(async move {
        sqlx::query("BEGIN").execute(&mut second).await.unwrap();
        named_purchase(
            &mut second,
            id,
            &PurchaseRef::ExternalId("P-500".into()),
            "R-B",
        )
        .await
        .unwrap()
    });

    // The second check waits on the purchase's lock until the first ends.
    let mut watcher = app.db.admin_connection().await;
    let mut waited = false;
    for _ in 0..250 {
        let waiting: Option<String> =
            sqlx::query_scalar("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1")
                .bind(second_pid)
                .fetch_one(&mut watcher)
                .await
                .unwrap();
        if waiting.as_deref() == Some("Lock") {
            waited = true;
            break;
        }
        assert!(
            !checking.is_finished(),
            "the second refund read the purchase while the first was open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        waited,
        "the second refund's check never waited for the first"
    );
    sqlx::query("ROLLBACK").execute(&mut first).await.unwrap();
    assert!(checking.await.unwrap().is_some());
}
