use patron_proto::profile::v1 as pb;
use redis::AsyncCommands;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn create_assigns_name_number_and_etag_and_get_reads_it_back() {
    let app = spawn_app().await;
    let created = app.create(person("王丽")).await;
    assert!(created.name.starts_with("customers/"));
    assert_eq!(
        created.archive_number.len(),
        9,
        "T + 8 digits: {}",
        created.archive_number
    );
    assert!(created.archive_number.starts_with('T'));
    assert_eq!(created.etag, "\"1\"");
    assert_eq!(created.created_by, "staff-1");
    assert!(created.create_time.is_some());

    let got = app.get(&created.name).await.unwrap();
    assert_eq!(got, created);
    assert_eq!(got.family_members[0].relation, "spouse");
    assert_eq!(got.soft_facts.unwrap().hobbies, ["tea", "calligraphy"]);
}

#[tokio::test]
async fn get_is_served_cache_aside() {
    let app = spawn_app().await;
    let created = app.create(person("Cache Me")).await;
    let id = created.name.trim_start_matches("customers/");
    let key = format!("{}:cache:profile:v1:{id}", app.cache.key_prefix);
    let mut redis = redis::Client::open(app.cache.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists: bool = redis.exists(&key).await.unwrap();
    assert!(!exists, "nothing cached before the first read");

    // Miss: read from Postgres, then cached with a TTL.
    app.get(&created.name).await.unwrap();
    let ttl: i64 = redis.ttl(&key).await.unwrap();
    assert!(ttl > 0, "cached with a TTL, got {ttl}");

    // Change the row behind the service's back: a hit still shows the cached value.
    let mut conn = app.db.admin_connection().await;
    sqlx::query("UPDATE profile.customers SET display_name = 'Changed Behind' WHERE id = $1::uuid")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        app.get(&created.name).await.unwrap().display_name,
        "Cache Me"
    );

    // A write through the service invalidates the entry.
    app.client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                notes: "vip".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into()],
            }),
        }))
        .await
        .unwrap();
    let exists: bool = redis.exists(&key).await.unwrap();
    assert!(!exists, "invalidated after the update committed");
    let fresh = app.get(&created.name).await.unwrap();
    assert_eq!(fresh.display_name, "Changed Behind");
    assert_eq!(fresh.notes, "vip");
}

#[tokio::test]
async fn a_retried_create_is_applied_once() {
    let app = spawn_app().await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = || pb::CreateCustomerRequest {
        customer: Some(organization("Acme Steel")),
        request_id: request_id.clone(),
    };

    // Concurrent retries race on the same request id.
    let mut handles = Vec::new();
    for _ in 0..5 {
        let mut client = app.client.clone();
        let req = app.admin(request());
        handles.push(tokio::spawn(
            async move { client.create_customer(req).await },
        ));
    }
    let mut names = Vec::new();
    for h in handles {
        names.push(h.await.unwrap().unwrap().into_inner().name);
    }
    names.dedup();
    assert_eq!(names.len(), 1, "every retry answers with the same customer");
    assert_eq!(app.count_rows().await, 1);

    // The same id with a different body is refused, not answered with the first customer.
    let mut other = request();
    other.customer.as_mut().unwrap().display_name = "Someone Else".into();
    let err = app
        .client
        .clone()
        .create_customer(app.admin(other))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["request_id"]);
    assert_eq!(app.count_rows().await, 1);
}

#[tokio::test]
async fn a_given_archive_number_is_kept_and_must_be_unique() {
    let app = spawn_app().await;
    let mut c = person("Numbered");
    c.archive_number = "vip-0001".into();
    let created = app.create(c.clone()).await;
    assert_eq!(created.archive_number, "VIP-0001");

    let err = app
        .client
        .clone()
        .create_customer(app.admin(pb::CreateCustomerRequest {
            customer: Some(c),
            request_id: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("VIP-0001"), "{}", err.message());
    assert_eq!(app.count_rows().await, 1);
}

#[tokio::test]
async fn callers_need_a_token_and_a_role_that_may_act() {
    let app = spawn_app().await;
    let err = app
        .client
        .clone()
        .get_customer(pb::GetCustomerRequest {
            name: "customers/x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let req = app.as_role(
        "viewer",
        pb::CreateCustomerRequest {
            customer: Some(person("Nope")),
            request_id: String::new(),
        },
    );
    let err = app.client.clone().create_customer(req).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(app.count_rows().await, 0);

    let created = app.create(person("Readable")).await;
    let req = app.as_role(
        "viewer",
        pb::GetCustomerRequest {
            name: created.name.clone(),
        },
    );
    assert!(app.client.clone().get_customer(req).await.is_ok());
    let req = app.as_role(
        "account_manager",
        pb::DeleteCustomerRequest {
            name: created.name,
            etag: String::new(),
        },
    );
    assert_eq!(
        app.client
            .clone()
            .delete_customer(req)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn times_come_from_the_injected_clock_and_today_is_the_companys() {
    use patron_kit::clock::ManualClock;
    use patron_proto::common::v1::Date;

    // 2030-06-30 20:00 UTC is already 1 July in Shanghai.
    let start = chrono::DateTime::parse_from_rfc3339("2030-06-30T20:00:00Z")
        .unwrap()
        .to_utc();
    let clock = ManualClock::new(start);
    let app = spawn_app_with(
        patron_kit::testing::cache_config(),
        std::sync::Arc::new(clock.clone()),
    )
    .await;

    let mut born_today = person("Born Today");
    born_today.person.as_mut().unwrap().birthday = Some(Date {
        year: 2030,
        month: 7,
        day: 1,
    });
    let created = app.create(born_today).await;
    assert_eq!(created.create_time.unwrap().seconds, start.timestamp());

    let mut tomorrow = person("Not Yet Born");
    tomorrow.person.as_mut().unwrap().birthday = Some(Date {
        year: 2030,
        month: 7,
        day: 2,
    });
    let err = app
        .client
        .clone()
        .create_customer(app.admin(pb::CreateCustomerRequest {
            customer: Some(tomorrow),
            request_id: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["customer.person.birthday"]);

    clock.advance(chrono::Duration::hours(3));
    let updated = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                notes: "later".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into()],
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated.update_time.unwrap().seconds - updated.create_time.unwrap().seconds,
        3 * 3600
    );
}

#[tokio::test]
async fn the_request_id_travels_back_to_the_caller() {
    let app = spawn_app().await;
    let created = app.create(person("Traced")).await;
    let mut req = app.admin(pb::GetCustomerRequest { name: created.name });
    req.metadata_mut()
        .insert("x-request-id", "req-42".parse().unwrap());
    let resp = app.client.clone().get_customer(req).await.unwrap();
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "req-42");

    // Without one, the service makes one up so logs can still be joined.
    let req = app.admin(pb::ListCustomersRequest::default());
    let resp = app.client.clone().list_customers(req).await.unwrap();
    assert!(!resp.metadata().get("x-request-id").unwrap().is_empty());
}

#[tokio::test]
async fn each_change_publishes_its_event_and_a_refused_one_publishes_none() {
    use patron_kit::events;
    use patron_proto::common::v1::EventEnvelope;
    use prost::Message;

    let app = spawn_app().await;
    let created = app.create(person("Evented")).await;
    let bad = pb::CreateCustomerRequest {
        customer: Some(pb::Customer::default()),
        request_id: String::new(),
    };
    assert!(
        app.client
            .clone()
            .create_customer(app.admin(bad))
            .await
            .is_err()
    );
    app.client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                notes: "n".into(),
                ..Default::default()
            }),
            update_mask: None,
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

    let key = events::stream_key(
        &app.cache.key_prefix,
        events::topics::PROFILE_CUSTOMERS.name(),
    );
    let mut redis = redis::Client::open(app.cache.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut envelopes = Vec::new();
    for _ in 0..100 {
        let reply: redis::streams::StreamRangeReply = redis.xrange_all(&key).await.unwrap();
        envelopes = reply
            .ids
            .iter()
            .map(|e| match e.map.get("envelope") {
                Some(redis::Value::BulkString(b)) => EventEnvelope::decode(b.as_slice()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        if envelopes.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let kinds: Vec<&str> = envelopes.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "patron.profile.v1.CustomerCreated",
            "patron.profile.v1.CustomerUpdated",
            "patron.profile.v1.CustomerDeleted"
        ]
    );
    assert!(
        envelopes
            .iter()
            .all(|e| e.customer == created.name && e.occurred_at.is_some())
    );
    let updated: pb::CustomerUpdated = events::payload(&envelopes[1]).unwrap();
    assert_eq!(updated.changed_fields, ["notes"], "the implied mask");
    assert_eq!(updated.version, 2);
    let deleted: pb::CustomerDeleted = events::payload(&envelopes[2]).unwrap();
    assert_eq!(
        (deleted.version, deleted.archive_number),
        (3, created.archive_number)
    );
}

/// The archive events carry what scheduling plans care and contact windows
/// by: the year of birth (from the birthday, else the approximate age), the
/// wedding anniversary, the family members' birthdays and the stated contact
/// time; an update carries them as they are after it.
#[tokio::test]
async fn archive_events_carry_the_facts_scheduling_needs() {
    use chrono::Datelike;
    use patron_kit::events;
    use patron_proto::common::v1::{Date, EventEnvelope};
    use prost::Message;

    let app = spawn_app().await;
    let mut customer = person("周先生");
    let facts = customer.person.as_mut().unwrap();
    facts.birthday = Some(Date {
        year: 0,
        month: 2,
        day: 29,
    });
    facts.approximate_age = 60;
    facts.wedding_anniversary = Some(Date {
        year: 1990,
        month: 10,
        day: 1,
    });
    customer.family_members = vec![
        pb::FamilyMember {
            name: "张伟".into(),
            relation: "spouse".into(),
            birthday: Some(Date {
                year: 1962,
                month: 9,
                day: 20,
            }),
            ..Default::default()
        },
        pb::FamilyMember {
            name: "周小明".into(),
            relation: "child".into(),
            ..Default::default()
        },
    ];
    customer.soft_facts = Some(pb::SoftFacts {
        preferred_contact_time: "weekday evenings".into(),
        ..Default::default()
    });
    let created = app.create(customer).await;
    let updated = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                person: Some(pb::PersonFacts {
                    birthday: Some(Date {
                        year: 1966,
                        month: 2,
                        day: 28,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["person.birthday".into()],
            }),
        }))
        .await;
    assert!(updated.is_ok(), "{updated:?}");

    let mut conn = app.db.admin_connection().await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM profile.outbox ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let envelopes: Vec<EventEnvelope> = envelopes
        .iter()
        .map(|b| EventEnvelope::decode(b.as_slice()).unwrap())
        .collect();
    let created_event = envelopes
        .iter()
        .find_map(events::payload::<pb::CustomerCreated>)
        .expect("CustomerCreated");
    let this_year = app.now().with_timezone(&chrono_tz::Asia::Shanghai).year();
    assert_eq!(created_event.birth_year, this_year - 60, "from the age");
    assert_eq!(
        created_event.wedding_anniversary,
        Some(Date {
            year: 1990,
            month: 10,
            day: 1
        })
    );
    assert_eq!(
        created_event.family_dates,
        [pb::FamilyDate {
            name: "张伟".into(),
            relation: "spouse".into(),
            birthday: Some(Date {
                year: 1962,
                month: 9,
                day: 20
            }),
        }],
        "only members with a birthday"
    );
    assert_eq!(created_event.preferred_contact_time, "weekday evenings");
    let updated_event = envelopes
        .iter()
        .find_map(events::payload::<pb::CustomerUpdated>)
        .expect("CustomerUpdated");
    assert_eq!(updated_event.birth_year, 1966, "the birthday's year now");
    assert_eq!(updated_event.family_dates, created_event.family_dates);
    assert_eq!(updated_event.preferred_contact_time, "weekday evenings");
    assert_eq!(
        updated_event.wedding_anniversary,
        created_event.wedding_anniversary
    );
}
