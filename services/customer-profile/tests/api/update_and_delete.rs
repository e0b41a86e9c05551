use patron_proto::profile::v1 as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::*;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

#[tokio::test]
async fn update_changes_only_the_masked_fields_and_bumps_the_etag() {
    let app = spawn_app().await;
    let created = app.create(person("王丽")).await;
    let patch = pb::Customer {
        name: created.name.clone(),
        etag: created.etag.clone(),
        display_name: "ignored: not in the mask".into(),
        contact: Some(pb::ContactDetails {
            email: "new@example.com".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch),
            update_mask: mask(&["contact.email"]),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "王丽");
    let contact = updated.contact.clone().unwrap();
    assert_eq!(contact.email, "new@example.com");
    assert_eq!(contact.mobile_phone, "138-0013-8000", "siblings kept");
    assert_eq!(updated.etag, "\"2\"");
    assert_eq!(updated.archive_number, created.archive_number);
    let seconds = |c: &pb::Customer| {
        let t = c.update_time.unwrap();
        (t.seconds, t.nanos)
    };
    assert!(seconds(&updated) >= seconds(&created));
    assert_eq!(updated.create_time, created.create_time);
    assert_eq!(app.get(&created.name).await.unwrap(), updated);
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create(person("Racer")).await;
    let update = |etag: &str, notes: &str| pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            name: created.name.clone(),
            etag: etag.into(),
            notes: notes.into(),
            ..Default::default()
        }),
        update_mask: mask(&["notes"]),
    };
    app.client
        .clone()
        .update_customer(app.admin(update(&created.etag, "first")))
        .await
        .unwrap();
    let err = app
        .client
        .clone()
        .update_customer(app.admin(update(&created.etag, "second")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(app.get(&created.name).await.unwrap().notes, "first");

    let err = app
        .client
        .clone()
        .update_customer(app.admin(update("garbage", "x")))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["customer.etag"]);
}

#[tokio::test]
async fn updates_that_would_break_the_archive_are_refused_whole() {
    let app = spawn_app().await;
    let created = app.create(person("Guarded")).await;
    let patch = pb::Customer {
        name: created.name.clone(),
        display_name: "".into(),
        contact: Some(pb::ContactDetails {
            email: "broken".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch.clone()),
            update_mask: mask(&["display_name", "contact.email"]),
        }))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["customer.display_name", "customer.contact.email"]
    );

    let err = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch),
            update_mask: mask(&["kind", "create_time", "no_such_field"]),
        }))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["update_mask", "update_mask", "update_mask"]
    );
    assert_eq!(
        app.get(&created.name).await.unwrap(),
        created,
        "nothing changed"
    );
}

#[tokio::test]
async fn update_of_a_missing_customer_is_not_found() {
    let app = spawn_app().await;
    let name = format!("customers/{}", uuid::Uuid::now_v7());
    let err = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name,
                notes: "x".into(),
                ..Default::default()
            }),
            update_mask: mask(&["notes"]),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn delete_hides_the_archive_and_keeps_its_number_taken() {
    let app = spawn_app().await;
    let created = app.create(person("Leaving")).await;

    let stale = pb::DeleteCustomerRequest {
        name: created.name.clone(),
        etag: "\"7\"".into(),
    };
    assert_eq!(
        app.client
            .clone()
            .delete_customer(app.admin(stale))
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );

    let delete = pb::DeleteCustomerRequest {
        name: created.name.clone(),
        etag: created.etag.clone(),
    };
    app.client
        .clone()
        .delete_customer(app.admin(delete.clone()))
        .await
        .unwrap();
    assert_eq!(
        app.get(&created.name).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        app.client
            .clone()
            .delete_customer(app.admin(delete))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let listed = app
        .client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.customers.is_empty());

    let mut again = person("Comeback");
    again.archive_number = created.archive_number.clone();
    let err = app
        .client
        .clone()
        .create_customer(app.admin(pb::CreateCustomerRequest {
            customer: Some(again),
            request_id: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        app.count_rows().await,
        1,
        "the archive is kept, only hidden"
    );
}
