//! Tokens signed by a company's identity provider (RS256, ES256), verified
//! against the keys it publishes: a JWKS document served here by a local HTTP
//! server, signed with key pairs generated once with openssl
//! (`tests/fixtures/jwks`, test-only keys; its README says how).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use patron_kit::auth::{
    AuthConfig, AuthError, Authenticator, Claims, JwksConfig, VerificationKeys,
};
use patron_kit::config::Secret;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn jwk(kid: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{kid}.jwk.json"))).unwrap()
}

/// The identity provider: serves whatever `keys` holds, counting fetches.
#[derive(Clone, Default)]
struct Provider {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn publish(&self, kids: &[&str]) {
        *self.keys.lock().unwrap() = kids.iter().map(|k| jwk(k)).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    async fn start(&self) -> String {
        async fn document(State(p): State<Provider>) -> axum::Json<Value> {
            p.fetches.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"keys": *p.keys.lock().unwrap()}))
        }
        let app = Router::new()
            .route("/.well-known/jwks.json", get(document))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/.well-known/jwks.json")
    }
}

fn authenticator(url: &str, min_refetch: Duration) -> Authenticator {
    Authenticator::new(&AuthConfig {
        keys: VerificationKeys::Jwks(JwksConfig {
            refresh: Duration::from_secs(3600),
            min_refetch,
            ..JwksConfig::new(url)
        }),
        issuer: "https://idp.example.com".into(),
        audience: "patron".into(),
        leeway: Duration::from_secs(5),
    })
}

fn claims() -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "li.na".into(),
        iss: "https://idp.example.com".into(),
        aud: vec!["patron".to_owned(), "crm".to_owned()].into(),
        exp: now + 600,
        nbf: None,
        iat: now,
        roles: vec!["account_manager".into()],
    }
}

/// A token signed by the provider's private key `kid`.
fn signed(kid: &str, claims: &Claims) -> String {
    let (algorithm, key) = if kid.starts_with("ec") {
        (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&fixture(&format!("{kid}.der"))),
        )
    } else {
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&fixture(&format!("{kid}.der"))),
        )
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_published_keys() {
    let provider = Provider::default();
    provider.publish(&["rsa-1", "ec-1"]);
    let url = provider.start().await;
    let auth = authenticator(&url, Duration::from_secs(3600));

    let caller = auth.verify(&signed("rsa-1", &claims())).await.unwrap();
    assert_eq!(caller.subject, "li.na");
    let caller = auth.verify(&signed("ec-1", &claims())).await.unwrap();
    assert_eq!(caller.roles, vec!["account_manager".to_owned()]);
    // Both from one fetch: the keys are cached.
    assert_eq!(provider.fetches(), 1);

    // The usual checks still apply.
    let mut late = claims();
    late.nbf = Some(chrono::Utc::now().timestamp() + 3600);
    assert_eq!(
        auth.verify(&signed("rsa-1", &late)).await.unwrap_err(),
        AuthError::NotYetValid
    );
    let mut elsewhere = claims();
    elsewhere.aud = "crm".into();
    assert_eq!(
        auth.verify(&signed("ec-1", &elsewhere)).await.unwrap_err(),
        AuthError::WrongAudience
    );
    // A token signed by rsa-2 but claiming to be rsa-1 does not verify.
    let forged = signed("rsa-2", &claims());
    let (_, rest) = forged.split_once('.').unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let header = base64_url(&serde_json::to_vec(&header).unwrap());
    assert_eq!(
        auth.verify(&format!("{header}.{rest}")).await.unwrap_err(),
        AuthError::BadSignature
    );
}

#[tokio::test]
async fn an_hs256_token_is_refused_when_keys_come_from_the_provider() {
    let provider = Provider::default();
    provider.publish(&["rsa-1"]);
    let url = provider.start().await;
    let auth = authenticator(&url, Duration::from_secs(3600));
    // Whoever holds the local development secret cannot mint for this service.
    let local = Authenticator::new(&AuthConfig {
        keys: VerificationKeys::Shared(Secret::new("a local development secret, 32+ chars")),
        issuer: "https://idp.example.com".into(),
        audience: "patron".into(),
        leeway: Duration::from_secs(5),
    });
    let token = local.mint_claims(&claims());
    assert_eq!(
        auth.verify(&token).await.unwrap_err(),
        AuthError::BadSignature
    );
    // And the JWKS-backed authenticator holds nothing to mint with.
    assert_eq!(
        auth.mint(
            "x",
            &["admin".into()],
            chrono::Utc::now(),
            Duration::from_secs(60)
        ),
        ""
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let provider = Provider::default();
    provider.publish(&["rsa-1"]);
    let url = provider.start().await;
    let auth = authenticator(&url, Duration::ZERO);
    auth.verify(&signed("rsa-1", &claims())).await.unwrap();
    assert_eq!(provider.fetches(), 1);

    // The provider rotates: rsa-2 signs from now on, rsa-1 is retired.
    provider.publish(&["rsa-2"]);
    let caller = auth.verify(&signed("rsa-2", &claims())).await.unwrap();
    assert_eq!(caller.subject, "li.na");
    assert_eq!(provider.fetches(), 2);
    // The retired key is gone with the refetch.
    assert_eq!(
        auth.verify(&signed("rsa-1", &claims())).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test]
async fn a_token_verified_before_stops_counting_once_its_key_is_withdrawn() {
    let provider = Provider::default();
    provider.publish(&["rsa-1"]);
    let url = provider.start().await;
    let refresh = Duration::from_millis(300);
    let auth = Authenticator::new(&AuthConfig {
        keys: VerificationKeys::Jwks(JwksConfig {
            refresh,
            min_refetch: Duration::ZERO,
            ..JwksConfig::new(&url)
        }),
        issuer: "https://idp.example.com".into(),
        audience: "patron".into(),
        leeway: Duration::from_secs(5),
    });
    let token = signed("rsa-1", &claims());
    auth.verify(&token).await.unwrap();
    // Answered again from what was verified, without asking the provider.
    auth.verify(&token).await.unwrap();
    assert_eq!(provider.fetches(), 1);

    // The provider withdraws the key: once the keys are due again, the
    // token is checked against what is published now.
    provider.publish(&[]);
    tokio::time::sleep(refresh + Duration::from_millis(50)).await;
    assert_eq!(
        auth.verify(&token).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test]
async fn unknown_key_ids_refetch_at_most_once_per_interval() {
    let provider = Provider::default();
    provider.publish(&["rsa-1"]);
    let url = provider.start().await;
    let auth = authenticator(&url, Duration::from_secs(3600));
    auth.verify(&signed("rsa-1", &claims())).await.unwrap();
    assert_eq!(provider.fetches(), 1);

    // Tokens naming keys nobody published: refused, and the provider is
    // not asked again within the interval.
    let mut header = Header::new(Algorithm::RS256);
    for kid in ["made-up-1", "made-up-2", "made-up-3"] {
        header.kid = Some(kid.into());
        let token = signed("rsa-1", &claims());
        let (_, rest) = token.split_once('.').unwrap();
        let head = base64_url(&serde_json::to_vec(&header).unwrap());
        assert_eq!(
            auth.verify(&format!("{head}.{rest}")).await.unwrap_err(),
            AuthError::UnknownKey
        );
    }
    assert_eq!(provider.fetches(), 1);
    // Clones share the cache.
    auth.clone()
        .verify(&signed("rsa-1", &claims()))
        .await
        .unwrap();
    assert_eq!(provider.fetches(), 1);
}

#[tokio::test]
async fn an_unreachable_provider_refuses_tokens_without_a_panic() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    drop(listener);
    let auth = authenticator(&url, Duration::ZERO);
    assert_eq!(
        auth.verify(&signed("rsa-1", &claims())).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
