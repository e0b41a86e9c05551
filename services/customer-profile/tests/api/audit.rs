use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::audit_service_client::AuditServiceClient;
use tonic::Code;

use crate::helpers::*;

async fn changes(
    app: &TestApp,
    role: &str,
    customer: &str,
    actor: &str,
) -> Result<Vec<pb::ChangeRecord>, tonic::Status> {
    let req = app.as_role(
        role,
        pb::ListChangeRecordsRequest {
            customer: customer.into(),
            actor: actor.into(),
            ..Default::default()
        },
    );
    AuditServiceClient::new(app.channel.clone())
        .list_change_records(req)
        .await
        .map(|r| r.into_inner().change_records)
}

async fn accesses(app: &TestApp, customer: &str) -> Vec<pb::AccessRecord> {
    let req = app.as_role(
        "auditor",
        pb::ListAccessRecordsRequest {
            customer: customer.into(),
            ..Default::default()
        },
    );
    AuditServiceClient::new(app.channel.clone())
        .list_access_records(req)
        .await
        .unwrap()
        .into_inner()
        .access_records
}

#[tokio::test]
async fn every_change_is_recorded_with_before_and_after_but_no_sensitive_values() {
    let app = spawn_app().await;
    let created = app.create(person("Audited")).await;
    let patch = pb::Customer {
        name: created.name.clone(),
        notes: "VIP since 2019".into(),
        contact: Some(pb::ContactDetails {
            mobile_phone: "139 0000 1111".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    app.client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into(), "contact.mobile_phone".into()],
            }),
        }))
        .await
        .unwrap();
    app.client
        .clone()
        .delete_customer(app.admin(pb::DeleteCustomerRequest {
            name: created.name.clone(),
            etag: String::new(),
        }))
        .await
        .unwrap();

    let records = changes(&app, "auditor", &created.name, "").await.unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["DELETE", "UPDATE", "CREATE"]);
    assert!(
        records
            .iter()
            .all(|r| r.actor == "staff-1" && r.change_time.is_some())
    );

    let update = &records[1];
    let fields: Vec<&str> = update.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["contact.mobile_phone", "notes"]);
    let phone = &update.changes[0];
    assert!(
        phone.sensitive && phone.before.is_empty() && phone.after.is_empty(),
        "{phone:?}"
    );
    let notes = &update.changes[1];
    assert_eq!(
        (notes.before.as_str(), notes.after.as_str()),
        ("", "\"VIP since 2019\"")
    );

    let create = &records[2];
    assert!(
        create
            .changes
            .iter()
            .any(|c| c.field == "display_name" && c.after == "\"Audited\"")
    );
    assert!(
        create
            .changes
            .iter()
            .any(|c| c.field == "person.id_card_number" && c.sensitive && c.after.is_empty())
    );

    assert_eq!(
        changes(&app, "admin", "", "staff-1").await.unwrap().len(),
        3,
        "per staff member too"
    );
    assert!(
        changes(&app, "admin", "", "someone-else")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        changes(&app, "account_manager", &created.name, "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn every_unmasked_read_is_recorded_with_fields_and_purpose() {
    let app = spawn_app().await;
    let created = app.create(person("Watched")).await;
    let after_create = accesses(&app, &created.name).await.len();
    assert_eq!(
        after_create, 1,
        "the creator got the record back in the clear"
    );

    let mut req = app.admin(pb::GetCustomerRequest {
        name: created.name.clone(),
    });
    req.metadata_mut()
        .insert("x-access-purpose", "complaint follow-up".parse().unwrap());
    app.client.clone().get_customer(req).await.unwrap();
    let req = app.as_role(
        "viewer",
        pb::GetCustomerRequest {
            name: created.name.clone(),
        },
    );
    app.client.clone().get_customer(req).await.unwrap();

    let records = accesses(&app, &created.name).await;
    assert_eq!(
        records.len(),
        2,
        "a masked read is not an access to sensitive data"
    );
    let read = &records[0];
    assert_eq!(read.method, "GetCustomer");
    assert_eq!(read.purpose, "complaint follow-up");
    assert_eq!(
        read.fields,
        ["person.id_card_number", "contact.mobile_phone"]
    );

    app.create(person("Second")).await;
    app.client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest::default()))
        .await
        .unwrap();
    let listed = accesses(&app, "").await;
    assert_eq!(
        listed
            .iter()
            .filter(|r| r.method == "ListCustomers")
            .count(),
        2,
        "one record per customer shown"
    );
}
