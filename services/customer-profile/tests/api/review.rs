use std::sync::Arc;

use patron_kit::clock::Clock;
use patron_proto::profile::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn due(app: &TestApp) -> Vec<String> {
    app.client
        .clone()
        .list_customers_due_for_review(
            app.as_role("viewer", pb::ListCustomersDueForReviewRequest::default()),
        )
        .await
        .unwrap()
        .into_inner()
        .customers
        .into_iter()
        .map(|c| c.display_name)
        .collect()
}

#[tokio::test]
async fn archives_fall_due_a_year_after_their_last_review() {
    let clock = patron_kit::testing::test_clock();
    let app = spawn_app_with(patron_kit::testing::cache_config(), Arc::new(clock.clone())).await;
    let older = app.create(person("Older")).await;
    clock.advance(chrono::Duration::days(10));
    let newer = app.create(person("Newer")).await;
    assert!(due(&app).await.is_empty(), "new archives are not due");

    clock.advance(chrono::Duration::days(360));
    assert_eq!(due(&app).await, ["Older"]);
    clock.advance(chrono::Duration::days(10));
    assert_eq!(due(&app).await, ["Older", "Newer"], "longest overdue first");

    let stale = pb::MarkCustomerReviewedRequest {
        name: older.name.clone(),
        etag: "\"9\"".into(),
    };
    assert_eq!(
        app.client
            .clone()
            .mark_customer_reviewed(app.admin(stale))
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    let viewer = app.as_role(
        "viewer",
        pb::MarkCustomerReviewedRequest {
            name: older.name.clone(),
            etag: String::new(),
        },
    );
    assert_eq!(
        app.client
            .clone()
            .mark_customer_reviewed(viewer)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    let reviewed = app
        .client
        .clone()
        .mark_customer_reviewed(app.admin(pb::MarkCustomerReviewedRequest {
            name: older.name.clone(),
            etag: older.etag,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reviewed.etag, "\"2\"");
    assert_eq!(
        reviewed.last_review_time.unwrap().seconds,
        clock.now().timestamp()
    );
    assert_eq!(due(&app).await, ["Newer"]);
    assert!(
        app.get(&newer.name)
            .await
            .unwrap()
            .last_review_time
            .is_none()
    );
}
