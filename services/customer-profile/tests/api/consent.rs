use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::consent_service_client::ConsentServiceClient;
use tonic::Code;

use crate::helpers::*;

const EMAIL: i32 = pb::ContactChannel::Email as i32;
const SMS: i32 = pb::ContactChannel::Sms as i32;
const PHONE: i32 = pb::ContactChannel::Phone as i32;
const MARKETING: i32 = pb::ContactPurpose::Marketing as i32;
const SERVICE: i32 = pb::ContactPurpose::Service as i32;

async fn check(app: &TestApp, customer: &str, channel: i32, purpose: i32) -> pb::ContactPermission {
    ConsentServiceClient::new(app.channel.clone())
        .check_contact_permission(app.as_role(
            "viewer",
            pb::CheckContactPermissionRequest {
                customer: customer.into(),
                channel,
                purpose,
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn record(
    app: &TestApp,
    customer: &str,
    channel: i32,
    purpose: i32,
    status: pb::ConsentStatus,
) {
    ConsentServiceClient::new(app.channel.clone())
        .record_consent(app.admin(pb::RecordConsentRequest {
            parent: customer.into(),
            consent: Some(pb::Consent {
                channel,
                purpose,
                status: status as i32,
                source: "signed form".into(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap();
}

#[tokio::test]
async fn contact_questions_follow_the_consents_in_force() {
    let app = spawn_app().await;
    let c = app.create(person("Consenting")).await;
    let name = c.name.as_str();

    let email = check(&app, name, EMAIL, MARKETING).await;
    assert!(
        !email.allowed,
        "e-mail marketing needs opt-in: {}",
        email.reason
    );
    assert!(
        !check(&app, name, SMS, MARKETING).await.allowed,
        "SMS promotions need notice first"
    );
    assert!(check(&app, name, PHONE, SERVICE).await.allowed);

    record(&app, name, EMAIL, MARKETING, pb::ConsentStatus::OptedIn).await;
    record(&app, name, SMS, MARKETING, pb::ConsentStatus::NoticeGiven).await;
    assert!(check(&app, name, EMAIL, MARKETING).await.allowed);
    assert!(check(&app, name, SMS, MARKETING).await.allowed);

    // Changing one's mind: the newest record is in force, the history is kept.
    record(&app, name, EMAIL, MARKETING, pb::ConsentStatus::OptedOut).await;
    let denied = check(&app, name, EMAIL, MARKETING).await;
    assert!(!denied.allowed);
    assert!(denied.reason.contains("opted out"), "{}", denied.reason);
    let listed = ConsentServiceClient::new(app.channel.clone())
        .list_consents(app.admin(pb::ListConsentsRequest {
            parent: name.into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .consents;
    assert_eq!(listed.len(), 2, "one in force per channel and purpose");
    let email_now = listed.iter().find(|c| c.channel == EMAIL).unwrap();
    assert_eq!(email_now.status, pb::ConsentStatus::OptedOut as i32);
    assert_eq!(email_now.recorded_by, "staff-1");
}

#[tokio::test]
async fn a_customer_who_declines_promotions_gets_none() {
    let app = spawn_app().await;
    let mut c = person("No Promotions");
    c.soft_facts.as_mut().unwrap().promotion_acceptance = pb::PromotionAcceptance::Declines as i32;
    let created = app.create(c).await;
    record(
        &app,
        &created.name,
        SMS,
        MARKETING,
        pb::ConsentStatus::NoticeGiven,
    )
    .await;
    assert!(!check(&app, &created.name, SMS, MARKETING).await.allowed);
    assert!(
        check(&app, &created.name, SMS, SERVICE).await.allowed,
        "service contact still allowed"
    );
}

#[tokio::test]
async fn bad_consent_requests_are_refused_by_field() {
    let app = spawn_app().await;
    let c = app.create(person("Careful")).await;
    let err = ConsentServiceClient::new(app.channel.clone())
        .record_consent(app.admin(pb::RecordConsentRequest {
            parent: c.name.clone(),
            consent: Some(pb::Consent {
                channel: 0,
                purpose: 9,
                status: 0,
                ..Default::default()
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["consent.channel", "consent.purpose", "consent.status"]
    );

    let missing = format!("customers/{}", uuid::Uuid::now_v7());
    let err = ConsentServiceClient::new(app.channel.clone())
        .check_contact_permission(app.admin(pb::CheckContactPermissionRequest {
            customer: missing,
            channel: EMAIL,
            purpose: MARKETING,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let req = app.as_role(
        "viewer",
        pb::RecordConsentRequest {
            parent: c.name.clone(),
            consent: Some(pb::Consent {
                channel: EMAIL,
                purpose: MARKETING,
                status: 1,
                ..Default::default()
            }),
        },
    );
    let err = ConsentServiceClient::new(app.channel.clone())
        .record_consent(req)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}
