use patron_kit::testing;
use patron_proto::profile::v1 as pb;
use redis::AsyncCommands;

use crate::helpers::*;

const PHONE: &str = "13800138000";
const ID_CARD: &str = "11010519491231002X";

async fn stored(app: &TestApp, name: &str) -> (String, Vec<u8>, Vec<String>) {
    let id = name.trim_start_matches("customers/");
    let mut conn = app.db.admin_connection().await;
    sqlx::query_as(
        "SELECT profile::text, COALESCE(sensitive, ''::bytea), phone_index FROM profile.customers WHERE id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn sensitive_fields_are_sealed_at_rest_and_still_found_exactly() {
    let app = spawn_app().await;
    let mut c = person("Sealed");
    c.contact.as_mut().unwrap().address = "北京市朝阳区建国路88号".into();
    c.financial = Some(pb::FinancialFacts {
        income_level: "over 1M".into(),
        ..Default::default()
    });
    let created = app.create(c).await;

    let (profile, sensitive, phone_index) = stored(&app, &created.name).await;
    for secret in [PHONE, "138-0013-8000", ID_CARD, "建国路", "over 1M"] {
        assert!(
            !profile.contains(secret),
            "{secret} in the readable record: {profile}"
        );
        assert!(
            !sensitive
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "{secret} in the sealed bytes"
        );
    }
    assert!(
        profile.contains("wang.li@example.com"),
        "e-mail stays readable"
    );
    assert_eq!(phone_index.len(), 1);
    assert!(!phone_index[0].contains(PHONE));

    let list = |req: pb::ListCustomersRequest| {
        let mut client = app.client.clone();
        let req = app.admin(req);
        async move {
            client
                .list_customers(req)
                .await
                .unwrap()
                .into_inner()
                .customers
        }
    };
    assert_eq!(
        list(pb::ListCustomersRequest {
            phone: "138 0013 8000".into(),
            ..Default::default()
        })
        .await
        .len(),
        1
    );
    assert_eq!(
        list(pb::ListCustomersRequest {
            id_card_number: "11010519491231002x".into(),
            ..Default::default()
        })
        .await
        .len(),
        1
    );

    let full = app.get(&created.name).await.unwrap();
    assert_eq!(
        full.contact.as_ref().unwrap().address,
        "北京市朝阳区建国路88号"
    );
    assert_eq!(full.financial.as_ref().unwrap().income_level, "over 1M");
}

#[tokio::test]
async fn staff_without_the_permission_see_masked_values_and_redis_never_holds_plaintext() {
    let app = spawn_app().await;
    let mut managed = person("Masked");
    managed.account_manager = STAFF.into();
    let created = app.create(managed).await;

    let req = app.as_role(
        "account_manager",
        pb::GetCustomerRequest {
            name: created.name.clone(),
        },
    );
    let masked = app
        .client
        .clone()
        .get_customer(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        masked.contact.as_ref().unwrap().mobile_phone,
        "138******8000"
    );
    assert_eq!(
        masked.person.as_ref().unwrap().id_card_number,
        "110105********002X"
    );
    assert_eq!(
        masked.contact.as_ref().unwrap().email,
        "wang.li@example.com"
    );

    let req = app.as_role("account_manager", pb::ListCustomersRequest::default());
    let listed = app
        .client
        .clone()
        .list_customers(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.customers[0].person.as_ref().unwrap().id_card_number,
        "110105********002X"
    );

    // The same cached entry serves a supervisor in the clear.
    let req = app.as_role(
        "supervisor",
        pb::GetCustomerRequest {
            name: created.name.clone(),
        },
    );
    let clear = app
        .client
        .clone()
        .get_customer(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        clear.contact.as_ref().unwrap().mobile_phone,
        "138-0013-8000"
    );
    assert_eq!(clear.person.as_ref().unwrap().id_card_number, ID_CARD);

    let key = format!(
        "{}:cache:profile:v1:{}",
        app.cache.key_prefix,
        created.name.trim_start_matches("customers/")
    );
    let mut redis = redis::Client::open(app.cache.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let cached: Vec<u8> = redis.get(&key).await.unwrap();
    assert!(!cached.is_empty());
    for secret in [PHONE.as_bytes(), b"138-0013-8000", ID_CARD.as_bytes()] {
        assert!(
            !cached.windows(secret.len()).any(|w| w == secret),
            "plaintext in Redis"
        );
    }
}

#[tokio::test]
async fn keys_rotate_without_losing_old_values() {
    let app = spawn_app().await;
    let old_key = testing::random_key();
    let old_ring = testing::key_ring_of(&[("k1", old_key)], "k1");
    let first = app.another_instance(old_ring).await;
    let created = first
        .clone()
        .create_customer(app.admin(pb::CreateCustomerRequest {
            customer: Some(person("Rotated")),
            request_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        patron_kit::crypto::key_id(&stored(&app, &created.name).await.1),
        Some("k1")
    );

    // A new active key; the old one stays in the ring to read old values.
    let rotated = testing::key_ring_of(&[("k1", old_key), ("k2", testing::random_key())], "k2");
    let second = app.another_instance(rotated).await;
    let read = second
        .clone()
        .get_customer(app.admin(pb::GetCustomerRequest {
            name: created.name.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.person.as_ref().unwrap().id_card_number, ID_CARD);

    // A write re-seals with the active key.
    second
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                notes: "touched".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into()],
            }),
        }))
        .await
        .unwrap();
    assert_eq!(
        patron_kit::crypto::key_id(&stored(&app, &created.name).await.1),
        Some("k2")
    );
    let found = second
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest {
            phone: PHONE.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.customers.len(), 1, "blind indexes survive rotation");
}

#[tokio::test]
async fn archives_written_before_sealing_are_sealed_at_start_up() {
    let app = spawn_app().await;
    // The service has migrated once it answers.
    app.client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest::default()))
        .await
        .unwrap();
    // A row as migration 0001/0002 left it: plaintext in the JSON, nothing sealed.
    let legacy = serde_json::json!({
        "kind": "CUSTOMER_KIND_PERSON",
        "displayName": "Old Timer",
        "contact": {"mobilePhone": "139-0000-1111", "email": "old@example.com"},
        "person": {"idCardNumber": ID_CARD}
    });
    let id = uuid::Uuid::now_v7();
    let mut conn = app.db.admin_connection().await;
    sqlx::query(
        "INSERT INTO profile.customers (id, archive_number, kind, display_name, profile, created_at, created_by, updated_at, updated_by)
         VALUES ($1, 'OLD-1', 1, 'Old Timer', $2, now(), 'import', now(), 'import')",
    )
    .bind(id)
    .bind(&legacy)
    .execute(&mut conn)
    .await
    .unwrap();

    let restarted = app.another_instance(testing::key_ring()).await;
    let name = format!("customers/{id}");
    let mut sealed = None;
    for _ in 0..50 {
        let (profile, sensitive, index) = stored(&app, &name).await;
        if !sensitive.is_empty() {
            sealed = Some((profile, index));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (profile, index) = sealed.expect("the legacy row was sealed");
    assert!(
        !profile.contains("139-0000-1111") && !profile.contains(ID_CARD),
        "{profile}"
    );
    assert_eq!(index.len(), 1);
    let req = app.as_role("viewer", pb::GetCustomerRequest { name: name.clone() });
    let masked = restarted
        .clone()
        .get_customer(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        masked.contact.as_ref().unwrap().mobile_phone,
        "139******1111"
    );
}
