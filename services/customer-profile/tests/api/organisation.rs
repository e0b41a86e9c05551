//! The organisation: units and staff, authorisation by them, manager
//! assignment under a limit, exits and service records.

use patron_kit::events;
use patron_proto::common::v1::EventEnvelope;
use patron_proto::profile::v1::consent_service_client::ConsentServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use patron_proto::profile::v1::{self as pb, OrgUnitKind};
use prost::Message;
use tonic::Code;

use crate::helpers::*;

/// east (region) > sh (city) > sh-1 (branch), and west (region).
async fn org(app: &TestApp) {
    app.add_unit("east", OrgUnitKind::Region, "company").await;
    app.add_unit("sh", OrgUnitKind::City, "east").await;
    app.add_unit("sh-1", OrgUnitKind::Branch, "sh").await;
    app.add_unit("west", OrgUnitKind::Region, "company").await;
}

/// A person placed in `unit` with `manager` (empty for none), created by an admin.
async fn customer_in(app: &TestApp, name: &str, unit: &str, manager: &str) -> pb::Customer {
    let mut c = person(name);
    c.org_unit = format!("orgUnits/{unit}");
    c.account_manager = manager.into();
    app.create(c).await
}

async fn get_as(
    app: &TestApp,
    staff: &str,
    role: &str,
    name: &str,
) -> Result<pb::Customer, tonic::Status> {
    app.client
        .clone()
        .get_customer(app.as_staff(staff, role, pb::GetCustomerRequest { name: name.into() }))
        .await
        .map(|r| r.into_inner())
}

async fn list_as(
    app: &TestApp,
    staff: &str,
    role: &str,
    request: pb::ListCustomersRequest,
) -> Vec<String> {
    let mut names: Vec<String> = app
        .client
        .clone()
        .list_customers(app.as_staff(staff, role, request))
        .await
        .unwrap()
        .into_inner()
        .customers
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    names.sort();
    names
}

async fn assign(
    app: &TestApp,
    customer: &str,
    manager: &str,
    reason: &str,
) -> Result<pb::Customer, tonic::Status> {
    app.client
        .clone()
        .assign_account_manager(app.admin(pb::AssignAccountManagerRequest {
            name: customer.into(),
            account_manager: manager.into(),
            reason: reason.into(),
            etag: String::new(),
        }))
        .await
        .map(|r| r.into_inner())
}

/// The payloads of type `M` in the outbox, in commit order.
async fn outbox<M: Message + prost::Name + Default>(app: &TestApp) -> Vec<M> {
    let mut conn = app.db.admin_connection().await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM profile.outbox ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    envelopes
        .iter()
        .filter_map(|bytes| events::payload::<M>(&EventEnvelope::decode(bytes.as_slice()).unwrap()))
        .collect()
}

#[tokio::test]
async fn an_account_manager_sees_only_their_own_customers() {
    let app = spawn_app().await;
    org(&app).await;
    app.add_staff("mgr-a", "sh-1", 0).await;
    app.add_staff("mgr-b", "sh-1", 0).await;
    let mine = customer_in(&app, "Mine", "sh-1", "mgr-a").await;
    let theirs = customer_in(&app, "Theirs", "sh-1", "mgr-b").await;

    assert!(
        get_as(&app, "mgr-a", "account_manager", &mine.name)
            .await
            .is_ok()
    );
    let denied = get_as(&app, "mgr-a", "account_manager", &theirs.name)
        .await
        .unwrap_err();
    // Outside reach is told apart from missing by nothing, not even the words.
    assert_eq!(denied.code(), Code::NotFound, "{denied:?}");
    let missing = get_as(
        &app,
        "mgr-a",
        "account_manager",
        "customers/01a235c2-e524-735e-915f-bbc07dfec85f",
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        denied.message().replace(&theirs.name, "customers/ID"),
        missing.message().replace(
            "customers/01a235c2-e524-735e-915f-bbc07dfec85f",
            "customers/ID"
        )
    );
    assert_eq!(
        list_as(&app, "mgr-a", "account_manager", Default::default()).await,
        ["Mine"]
    );

    // Every call on a customer is authorised the same way.
    let mut patch = theirs.clone();
    patch.notes = "mine now".into();
    let err = app
        .client
        .clone()
        .update_customer(app.as_staff(
            "mgr-a",
            "account_manager",
            pb::UpdateCustomerRequest {
                customer: Some(patch),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["notes".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = TransactionServiceClient::new(app.channel.clone())
        .list_transactions(app.as_staff(
            "mgr-a",
            "account_manager",
            pb::ListTransactionsRequest {
                parent: theirs.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // A write checks the reach against the customer it locks: outside it,
    // NOT_FOUND and nothing stored; inside it, recorded.
    let purchase = |external_id: &str| pb::Transaction {
        external_id: external_id.into(),
        kind: pb::TransactionKind::Purchase as i32,
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_780_000_000,
            nanos: 0,
        }),
        product: "tea".into(),
        quantity: "1".into(),
        unit: "box".into(),
        amount: Some(patron_proto::common::v1::Money {
            currency_code: "CNY".into(),
            amount_minor: 9_900,
        }),
        payment_method: pb::PaymentMethod::Mobile as i32,
        channel: "store".into(),
        ..Default::default()
    };
    let record_as_mgr_a = |parent: &str, external_id: &str| {
        let request = app.as_staff(
            "mgr-a",
            "account_manager",
            pb::RecordTransactionRequest {
                parent: parent.into(),
                transaction: Some(purchase(external_id)),
            },
        );
        let mut client = TransactionServiceClient::new(app.channel.clone());
        async move { client.record_transaction(request).await }
    };
    let err = record_as_mgr_a(&theirs.name, "T-THEIRS").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    record_as_mgr_a(&mine.name, "T-MINE").await.unwrap();
    let mut conn = app.db.admin_connection().await;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM profile.transactions ORDER BY external_id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(stored, ["T-MINE"]);
    let err = ConsentServiceClient::new(app.channel.clone())
        .check_contact_permission(app.as_staff(
            "mgr-a",
            "account_manager",
            pb::CheckContactPermissionRequest {
                customer: theirs.name.clone(),
                channel: pb::ContactChannel::Phone as i32,
                purpose: pb::ContactPurpose::Service as i32,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // A manager opening an archive becomes its manager.
    let opened = app
        .client
        .clone()
        .create_customer(app.as_staff(
            "mgr-a",
            "account_manager",
            pb::CreateCustomerRequest {
                customer: Some(person("Opened")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.account_manager, "mgr-a");
    assert_eq!(opened.org_unit, "orgUnits/sh-1", "the manager's own unit");
}

#[tokio::test]
async fn a_supervisor_sees_their_units_subtree_and_nothing_else() {
    let app = spawn_app().await;
    org(&app).await;
    app.add_staff("sup-east", "east", 0).await;
    let east = customer_in(&app, "East branch customer", "sh-1", "").await;
    customer_in(&app, "Shanghai city customer", "sh", "").await;
    let west = customer_in(&app, "West customer", "west", "").await;

    assert!(
        get_as(&app, "sup-east", "supervisor", &east.name)
            .await
            .is_ok()
    );
    assert_eq!(
        get_as(&app, "sup-east", "supervisor", &west.name)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        list_as(&app, "sup-east", "supervisor", Default::default()).await,
        ["East branch customer", "Shanghai city customer"]
    );
    assert_eq!(
        list_as(
            &app,
            "sup-east",
            "supervisor",
            pb::ListCustomersRequest {
                within: "orgUnits/sh-1".into(),
                ..Default::default()
            }
        )
        .await,
        ["East branch customer"]
    );
    // The company-level staff member sees everything.
    assert_eq!(
        list_as(&app, STAFF, "viewer", Default::default())
            .await
            .len(),
        3
    );

    // Someone with a valid token but not in the directory sees nothing.
    assert!(
        list_as(&app, "stranger", "viewer", Default::default())
            .await
            .is_empty()
    );
    assert_eq!(
        get_as(&app, "stranger", "viewer", &east.name)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // A supervisor cannot move a customer out of their reach, nor open one there.
    let mut moved = east.clone();
    moved.org_unit = "orgUnits/west".into();
    let err = app
        .client
        .clone()
        .update_customer(app.as_staff(
            "sup-east",
            "supervisor",
            pb::UpdateCustomerRequest {
                customer: Some(moved),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["org_unit".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut elsewhere = person("Elsewhere");
    elsewhere.org_unit = "orgUnits/west".into();
    let err = app
        .client
        .clone()
        .create_customer(app.as_staff(
            "sup-east",
            "supervisor",
            pb::CreateCustomerRequest {
                customer: Some(elsewhere),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_manager_limit_holds_under_concurrent_assignments() {
    let app = spawn_app().await;
    app.add_staff("busy", "company", 0).await; // the policy's limit: 3
    let mut customers = Vec::new();
    for i in 0..8 {
        customers.push(app.create(person(&format!("Customer {i}"))).await.name);
    }
    // Eight assignments and four creates naming the manager, all at once.
    let assigns = customers.iter().map(|name| {
        let app = &app;
        async move { assign(app, name, "busy", "").await.map(|_| ()) }
    });
    let creates = (0..4).map(|i| {
        let app = &app;
        async move {
            let mut c = person(&format!("New {i}"));
            c.account_manager = "busy".into();
            app.client
                .clone()
                .create_customer(app.admin(pb::CreateCustomerRequest {
                    customer: Some(c),
                    request_id: String::new(),
                }))
                .await
                .map(|_| ())
        }
    });
    let (assigned, created) = tokio::join!(
        futures::future::join_all(assigns),
        futures::future::join_all(creates)
    );
    let outcomes: Vec<_> = assigned.into_iter().chain(created).collect();
    let succeeded = outcomes.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, 3, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("limit"), "{}", refused.message());
    }
    let mut conn = app.db.admin_connection().await;
    let managed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM profile.customers WHERE account_manager = 'busy'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(managed, 3);
    let staff = app
        .organization()
        .get_staff_member(app.admin(pb::GetStaffMemberRequest {
            name: "staff/busy".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (staff.managed_customers, staff.effective_customer_limit),
        (3, 3)
    );

    // A staff member's own limit overrides the policy's.
    app.add_staff("senior", "company", 5).await;
    for name in &customers[..5] {
        let current = app.get(name).await.unwrap().account_manager;
        let reason = if current.is_empty() {
            ""
        } else {
            "senior takes over"
        };
        assign(&app, name, "senior", reason).await.unwrap();
    }
    let err = assign(&app, &customers[5], "senior", "rebalancing")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_reassignment_needs_a_reason_and_is_recorded() {
    let app = spawn_app().await;
    app.add_staff("mgr-a", "company", 0).await;
    app.add_staff("mgr-b", "company", 0).await;
    let created = app.create(person("Moved")).await;
    let first = assign(&app, &created.name, "mgr-a", "").await.unwrap();
    assert_eq!(first.account_manager, "mgr-a");

    let err = assign(&app, &created.name, "mgr-b", " ").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(patron_kit::error::violations_of(&err)[0].field, "reason");
    let err = assign(&app, &created.name, "nobody", "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    let moved = assign(&app, &created.name, "mgr-b", "mgr-a on leave")
        .await
        .unwrap();
    assert_eq!(moved.account_manager, "mgr-b");
    assert_ne!(moved.etag, first.etag);
    // Asking again for the same manager changes nothing.
    let again = assign(&app, &created.name, "mgr-b", "").await.unwrap();
    assert_eq!(again.etag, moved.etag);

    let events = outbox::<pb::ManagerReassigned>(&app).await;
    let reasons: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.previous_manager.as_str(),
                e.account_manager.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [("", "mgr-a", ""), ("mgr-a", "mgr-b", "mgr-a on leave")]
    );
    let mut conn = app.db.admin_connection().await;
    let history: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT previous_manager, new_manager, reason FROM profile.manager_assignments ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].2, "mgr-a on leave");

    // The archive's update cannot go around the assignment.
    let mut patch = moved.clone();
    patch.account_manager = "mgr-a".into();
    let err = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["account_manager".into()],
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        patron_kit::error::violations_of(&err)[0].field,
        "customer.account_manager"
    );
    // Account managers may not assign.
    let err = app
        .client
        .clone()
        .assign_account_manager(app.as_staff(
            "mgr-b",
            "account_manager",
            pb::AssignAccountManagerRequest {
                name: created.name.clone(),
                account_manager: "mgr-a".into(),
                reason: "swap".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Nor can a manager who still manages customers leave the directory.
    let err = app
        .organization()
        .delete_staff_member(app.admin(pb::DeleteStaffMemberRequest {
            name: "staff/mgr-b".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

async fn exit(
    app: &TestApp,
    name: &str,
    kind: pb::ExitKind,
    reason: &str,
    reference: &str,
) -> Result<pb::Customer, tonic::Status> {
    app.client
        .clone()
        .exit_customer(app.admin(pb::ExitCustomerRequest {
            name: name.into(),
            kind: kind as i32,
            reason: reason.into(),
            written_request_reference: reference.into(),
            etag: String::new(),
        }))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn an_exit_keeps_its_reason_and_frees_the_managers_place() {
    let app = spawn_app().await;
    app.add_staff("solo", "company", 1).await;
    let leaving = app.create(person("Leaving")).await;
    assign(&app, &leaving.name, "solo", "").await.unwrap();
    let waiting = app.create(person("Waiting")).await;
    assert_eq!(
        assign(&app, &waiting.name, "solo", "")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    let err = exit(
        &app,
        &leaving.name,
        pb::ExitKind::Voluntary,
        "moving abroad",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        patron_kit::error::violations_of(&err)[0].field,
        "written_request_reference"
    );
    let err = exit(&app, &leaving.name, pb::ExitKind::Unspecified, "", "")
        .await
        .unwrap_err();
    let fields: Vec<String> = patron_kit::error::violations_of(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["kind", "reason"]);

    let exited = exit(
        &app,
        &leaving.name,
        pb::ExitKind::Voluntary,
        "moving abroad",
        "letter 2026-114",
    )
    .await
    .unwrap();
    let record = exited.exit.clone().unwrap();
    assert_eq!(record.kind, pb::ExitKind::Voluntary as i32);
    assert_eq!(record.reason, "moving abroad");
    assert_eq!(record.written_request_reference, "letter 2026-114");
    assert_eq!(record.recorded_by, STAFF);
    assert_eq!(
        app.get(&leaving.name).await.unwrap().exit,
        exited.exit,
        "kept with the archive"
    );

    let again = exit(
        &app,
        &leaving.name,
        pb::ExitKind::RevokedForBreach,
        "fraud",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let events = outbox::<pb::CustomerExited>(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].reason.as_str(),
            events[0].account_manager.as_str()
        ),
        ("moving abroad", "solo")
    );

    // The manager's place is free again, and no one markets to the leaver.
    assign(&app, &waiting.name, "solo", "").await.unwrap();
    let answer = ConsentServiceClient::new(app.channel.clone())
        .check_contact_permission(app.admin(pb::CheckContactPermissionRequest {
            customer: leaving.name.clone(),
            channel: pb::ContactChannel::Phone as i32,
            purpose: pb::ContactPurpose::Marketing as i32,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.allowed, "{}", answer.reason);
    let released = assign(&app, &leaving.name, "", "left").await.unwrap();
    assert_eq!(released.account_manager, "", "a leaver can be released");
}

#[tokio::test]
async fn service_records_are_appended_with_who_recorded_them() {
    let app = spawn_app().await;
    let created = app.create(person("Served")).await;
    let add = |content: &str, days_ago: i64| {
        let app = &app;
        let request = pb::AddServiceRecordRequest {
            customer: created.name.clone(),
            service_record: Some(pb::ServiceRecord {
                service_time: Some(patron_kit::timestamp::to_proto(
                    app.now() - chrono::Duration::days(days_ago),
                )),
                content: content.into(),
                result: "done".into(),
                recorded_by: "someone else".into(),
            }),
        };
        async move {
            app.client
                .clone()
                .add_service_record(app.as_role("customer_service", request))
                .await
                .map(|r| r.into_inner())
        }
    };
    add("installed the new boiler", 3).await.unwrap();
    let served = add("yearly maintenance visit", 1).await.unwrap();
    let contents: Vec<(&str, &str)> = served
        .service_records
        .iter()
        .map(|r| (r.content.as_str(), r.recorded_by.as_str()))
        .collect();
    assert_eq!(
        contents,
        [
            ("installed the new boiler", STAFF),
            ("yearly maintenance visit", STAFF)
        ]
    );
    let err = add(" ", 1).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        patron_kit::error::violations_of(&err)[0].field,
        "service_record.content"
    );
    // An update keeps them, and cannot write them.
    let mut patch = served.clone();
    patch.notes = "prefers mornings".into();
    patch.service_records.clear();
    let updated = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into()],
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.service_records.len(), 2);
    let mut patch = updated.clone();
    patch.service_records.clear();
    let err = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(patch),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["service_records".into()],
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn org_units_form_a_checked_hierarchy() {
    let app = spawn_app().await;
    org(&app).await;
    let org_client = app.organization();
    let create = |id: &str, kind: OrgUnitKind, parent: &str| pb::CreateOrgUnitRequest {
        org_unit: Some(pb::OrgUnit {
            display_name: format!("Unit {id}"),
            kind: kind as i32,
            parent: parent.into(),
            ..Default::default()
        }),
        org_unit_id: id.into(),
    };
    let err = org_client
        .clone()
        .create_org_unit(app.admin(create("pudong", OrgUnitKind::Region, "orgUnits/sh")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "a region below a city");
    let err = org_client
        .clone()
        .create_org_unit(app.admin(create("Bad_Id", OrgUnitKind::Branch, "orgUnits/nowhere")))
        .await
        .unwrap_err();
    let fields: Vec<String> = patron_kit::error::violations_of(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["org_unit_id"]);
    let err = org_client
        .clone()
        .create_org_unit(app.admin(create("sh", OrgUnitKind::Branch, "orgUnits/west")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = org_client
        .clone()
        .create_org_unit(app.as_role(
            "supervisor",
            create("x", OrgUnitKind::Branch, "orgUnits/west"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let listed = org_client
        .clone()
        .list_org_units(app.as_role(
            "viewer",
            pb::ListOrgUnitsRequest {
                within: "orgUnits/east".into(),
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = listed.org_units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["orgUnits/east", "orgUnits/sh"], "parents first");
    let rest = org_client
        .clone()
        .list_org_units(app.as_role(
            "viewer",
            pb::ListOrgUnitsRequest {
                within: "orgUnits/east".into(),
                page_size: 2,
                page_token: listed.next_page_token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.org_units.len(), 1);
    assert_eq!(
        rest.org_units[0].ancestors,
        ["orgUnits/company", "orgUnits/east", "orgUnits/sh"]
    );

    customer_in(&app, "Branch customer", "sh-1", "").await;
    let err = org_client
        .clone()
        .delete_org_unit(app.admin(pb::DeleteOrgUnitRequest {
            name: "orgUnits/sh-1".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    org_client
        .clone()
        .delete_org_unit(app.admin(pb::DeleteOrgUnitRequest {
            name: "orgUnits/west".into(),
        }))
        .await
        .unwrap();
    let err = org_client
        .clone()
        .get_org_unit(app.admin(pb::GetOrgUnitRequest {
            name: "orgUnits/west".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn a_manager_reassigned_away_no_longer_reaches_the_customer_even_while_a_copy_is_cached() {
    let app = spawn_app().await;
    org(&app).await;
    app.add_staff("mgr-a", "sh-1", 0).await;
    app.add_staff("mgr-b", "sh-1", 0).await;
    let created = customer_in(&app, "Moved On", "sh-1", "mgr-a").await;
    get_as(&app, "mgr-a", "account_manager", &created.name)
        .await
        .unwrap();

    // Keep the copy cached while mgr-a managed the customer, and put it back
    // after the reassignment, as a lagging cache (another replica's late
    // write, a missed invalidation) would.
    let id = created.name.trim_start_matches("customers/");
    let key = format!("{}:cache:profile:v1:{id}", app.cache.key_prefix);
    let mut redis = redis::Client::open(app.cache.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let copy: Vec<u8> = redis::cmd("DUMP")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assign(&app, &created.name, "mgr-b", "rebalancing")
        .await
        .unwrap();
    redis::cmd("RESTORE")
        .arg(&key)
        .arg(60_000)
        .arg(copy)
        .arg("REPLACE")
        .query_async::<()>(&mut redis)
        .await
        .unwrap();

    let err = get_as(&app, "mgr-a", "account_manager", &created.name)
        .await
        .unwrap_err();
    // Outside reach reads as missing (it tells no one which ids exist).
    assert_eq!(err.code(), Code::NotFound);
    let read = get_as(&app, "mgr-b", "account_manager", &created.name)
        .await
        .unwrap();
    assert_eq!(read.name, created.name);
}
