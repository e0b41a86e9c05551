//! Health as an orchestrator reads it: liveness is the process, readiness
//! the dependencies. A service started while Postgres is away waits for it
//! instead of exiting; an outage makes it unready, never "dead"; and no
//! health entry ever answers NOT_FOUND once the port serves.

use std::time::Duration;

use patron_customer_profile as profile;
use patron_kit::server::{DEAD_LETTERS_HEALTH, POSTGRES_HEALTH, READINESS_HEALTH, REDIS_HEALTH};
use patron_kit::testing::{self, TestDatabase};
use patron_suite_tests::profile_config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// The status of `service`, or the gRPC code when there is none.
async fn check(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Code> {
    let reply = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map_err(|s| s.code())?;
    Ok(match reply.into_inner().status {
        1 => ServingStatus::Serving,
        2 => ServingStatus::NotServing,
        _ => ServingStatus::Unknown,
    })
}

async fn wait_for(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
    want: ServingStatus,
) {
    let mut last = Err(tonic::Code::Unknown);
    for _ in 0..300 {
        last = check(client, service).await;
        if last == Ok(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{service} never became {want:?}: {last:?}");
}

#[tokio::test]
async fn a_service_waits_for_postgres_and_an_outage_makes_it_unready_not_dead() {
    let db = TestDatabase::create(&[profile::SCHEMA]).await;
    let proxy = testing::TcpProxy::to_postgres().await;
    let mut db_config = proxy.db_config(db.service_config(profile::SCHEMA));
    db_config.acquire_timeout = Duration::from_millis(500);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cache = testing::cache_config();
    let config = profile_config(
        addr,
        db_config,
        &cache,
        &testing::auth_config(),
        &testing::test_clock(),
    );
    // Postgres is away when the service starts.
    proxy.cut();
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(profile::serve(config, listener, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !served.is_finished(),
        "the service waits instead of exiting"
    );
    proxy.restore();

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    // From the first answer on, every entry has a status.
    for service in [
        "",
        READINESS_HEALTH,
        "patron.profile.v1.CustomerService",
        POSTGRES_HEALTH,
        REDIS_HEALTH,
        DEAD_LETTERS_HEALTH,
    ] {
        assert!(
            check(&mut client, service).await.is_ok(),
            "{service:?} answers a status"
        );
    }
    wait_for(&mut client, READINESS_HEALTH, ServingStatus::Serving).await;

    // An outage: unready, still alive; back when Postgres is.
    proxy.cut();
    wait_for(&mut client, READINESS_HEALTH, ServingStatus::NotServing).await;
    assert_eq!(
        check(&mut client, "patron.profile.v1.CustomerService").await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(
        check(&mut client, POSTGRES_HEALTH).await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(check(&mut client, "").await, Ok(ServingStatus::Serving));
    proxy.restore();
    wait_for(&mut client, READINESS_HEALTH, ServingStatus::Serving).await;
    assert_eq!(
        check(&mut client, DEAD_LETTERS_HEALTH).await,
        Ok(ServingStatus::Serving)
    );

    shutdown.cancel();
    served.await.unwrap().unwrap();
}

#[tokio::test]
async fn reflection_lists_what_the_port_serves_in_both_versions() {
    use tonic_reflection::pb::{v1, v1alpha};
    let suite = patron_suite_tests::Suite::start().await;
    let channel = tonic::transport::Endpoint::from_shared(suite.tiering_url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut listed = Vec::new();
    let request = v1::ServerReflectionRequest {
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
        ..Default::default()
    };
    let mut replies = v1::server_reflection_client::ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    while let Some(reply) = replies.message().await.unwrap() {
        if let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            reply.message_response
        {
            listed.extend(list.service.into_iter().map(|s| s.name));
        }
    }
    listed.sort();
    assert_eq!(
        listed,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "patron.tiering.v1.PointsService",
            "patron.tiering.v1.TieringService",
        ]
    );

    // Older clients (Python's grpcio-reflection, older grpcurl) speak
    // v1alpha, and can describe health.
    let request = v1alpha::ServerReflectionRequest {
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "grpc.health.v1.Health".into(),
            ),
        ),
        ..Default::default()
    };
    let mut replies = v1alpha::server_reflection_client::ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    assert!(
        matches!(
            reply.message_response,
            Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
        ),
        "{reply:?}"
    );
}
