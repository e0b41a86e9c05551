use std::time::Duration;

use patron_kit::server::{POSTGRES_HEALTH, REDIS_HEALTH};
use patron_kit::testing;
use patron_proto::profile::v1 as pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::*;

async fn status_of(app: &TestApp, service: &str) -> ServingStatus {
    let resp = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    ServingStatus::try_from(resp.status).unwrap()
}

async fn wait_for(app: &TestApp, service: &str, want: ServingStatus) {
    for _ in 0..100 {
        if HealthClient::new(app.channel.clone())
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .is_ok_and(|r| r.into_inner().status == want as i32)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{service} never became {want:?}");
}

#[tokio::test]
async fn with_redis_down_reads_and_writes_work_and_health_says_so() {
    let app = spawn_app_with_cache(testing::unreachable_cache_config()).await;

    let created = app.create(person("No Cache")).await;
    assert_eq!(app.get(&created.name).await.unwrap(), created);
    let updated = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                notes: "still works".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into()],
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(app.get(&created.name).await.unwrap(), updated);

    wait_for(&app, REDIS_HEALTH, ServingStatus::NotServing).await;
    assert_eq!(status_of(&app, "").await, ServingStatus::Serving);
    assert_eq!(
        status_of(&app, "patron.profile.v1.CustomerService").await,
        ServingStatus::Serving
    );
    assert_eq!(
        status_of(&app, POSTGRES_HEALTH).await,
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn with_redis_up_health_reports_every_dependency_serving() {
    let app = spawn_app().await;
    wait_for(&app, REDIS_HEALTH, ServingStatus::Serving).await;
    wait_for(&app, POSTGRES_HEALTH, ServingStatus::Serving).await;
    assert_eq!(status_of(&app, "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn a_write_while_redis_is_unreachable_is_read_once_it_is_back() {
    let relay = testing::TcpProxy::to_redis().await;
    let app = spawn_app_with_cache(relay.cache_config()).await;
    wait_for(&app, REDIS_HEALTH, ServingStatus::Serving).await;
    let created = app.create(person("Outage")).await;
    assert_eq!(app.get(&created.name).await.unwrap(), created, "now cached");

    relay.cut();
    wait_for(&app, REDIS_HEALTH, ServingStatus::NotServing).await;
    let updated = app
        .client
        .clone()
        .update_customer(app.admin(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                notes: "written while Redis was away".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["notes".into()],
            }),
        }))
        .await
        .unwrap()
        .into_inner();

    relay.restore();
    wait_for(&app, REDIS_HEALTH, ServingStatus::Serving).await;
    assert_eq!(app.get(&created.name).await.unwrap(), updated);
}
