//! A service's own identity when tokens come from the company's identity
//! provider: fetched by OAuth2 client credentials from its token endpoint,
//! kept until shortly before expiry, and verified by the callee against the
//! provider's published keys like any other token. The provider is served
//! here by a local HTTP server signing with the test-only fixture keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use patron_kit::auth::{AuthConfig, Authenticator, Claims, JwksConfig, VerificationKeys};
use patron_kit::calls::{ClientCredentials, Credentials, ServiceIdentity};
use patron_kit::config::Secret;
use patron_vocab::roles::Permission;
use serde_json::{Value, json};
use tonic::Code;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks");
const ISSUER: &str = "https://idp.example.com";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// The provider: one client (`complaint`), tokens living `lifetime_secs`.
#[derive(Clone)]
struct Provider {
    issued: Arc<AtomicUsize>,
    lifetime_secs: u64,
}

impl Provider {
    async fn start(&self) -> String {
        async fn jwks() -> axum::Json<Value> {
            let key: Value = serde_json::from_slice(&fixture("rsa-1.jwk.json")).unwrap();
            axum::Json(json!({ "keys": [key] }))
        }
        async fn token(State(p): State<Provider>, headers: HeaderMap, body: String) -> Response {
            let basic = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            if basic.as_deref() != Some(b"complaint:s3cret".as_slice()) {
                return (StatusCode::UNAUTHORIZED, "invalid_client").into_response();
            }
            if body != "grant_type=client_credentials" {
                return (StatusCode::BAD_REQUEST, "unsupported_grant_type").into_response();
            }
            p.issued.fetch_add(1, Ordering::SeqCst);
            let now = chrono::Utc::now().timestamp();
            let claims = Claims {
                sub: "service:complaint".into(),
                iss: ISSUER.into(),
                aud: "patron".into(),
                exp: now + p.lifetime_secs as i64,
                nbf: None,
                iat: now,
                roles: vec!["service:complaint".into()],
            };
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("rsa-1".into());
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_rsa_der(&fixture("rsa-1.der")),
            )
            .unwrap();
            axum::Json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": p.lifetime_secs,
            }))
            .into_response()
        }
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }
}

fn identity(base: &str, secret: &str) -> ServiceIdentity {
    ServiceIdentity::new(
        "complaint",
        Credentials::ClientCredentials(ClientCredentials {
            token_url: format!("{base}/token"),
            client_id: "complaint".into(),
            client_secret: Secret::new(secret),
            scope: None,
            fetch_timeout: Duration::from_secs(2),
        }),
    )
}

/// The callee: verifies against the provider's keys.
fn callee(base: &str) -> Authenticator {
    Authenticator::new(&AuthConfig {
        keys: VerificationKeys::Jwks(JwksConfig::new(format!("{base}/jwks"))),
        issuer: ISSUER.into(),
        audience: "patron".into(),
        leeway: Duration::from_secs(5),
    })
}

#[tokio::test]
async fn the_token_comes_from_the_provider_once_and_the_callee_verifies_it() {
    let provider = Provider {
        issued: Arc::default(),
        lifetime_secs: 600,
    };
    let base = provider.start().await;
    let identity = identity(&base, "s3cret");
    let bearer = identity.authorization().await.unwrap();
    assert_eq!(identity.clone().authorization().await.unwrap(), bearer);
    assert_eq!(
        provider.issued.load(Ordering::SeqCst),
        1,
        "kept, not fetched per call"
    );

    let caller = callee(&base).verify_header(Some(&bearer)).await.unwrap();
    assert_eq!(caller.subject, "service:complaint");
    assert!(caller.can(Permission::ReadCustomers));
    assert!(!caller.can(Permission::EditCustomers));
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let provider = Provider {
        issued: Arc::default(),
        lifetime_secs: 2,
    };
    let base = provider.start().await;
    let identity = identity(&base, "s3cret");
    identity.authorization().await.unwrap();
    // Kept for half of so short a life, then replaced.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    identity.authorization().await.unwrap();
    assert_eq!(provider.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_or_unreachable_provider_is_unavailable() {
    let provider = Provider {
        issued: Arc::default(),
        lifetime_secs: 600,
    };
    let base = provider.start().await;
    let refused = identity(&base, "wrong").authorization().await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(refused.message().contains("401"), "{refused:?}");
    assert!(!refused.message().contains("wrong"), "no secret in errors");

    let unreachable = identity("http://127.0.0.1:1", "s3cret")
        .authorization()
        .await
        .unwrap_err();
    assert_eq!(unreachable.code(), Code::Unavailable);
}
