//! Who is calling, and what they may do. Every service verifies the bearer
//! token itself (signature, issuer, audience, expiry) rather than trusting an
//! identity header, so a caller inside the cluster cannot claim to be someone
//! else. The verified token is kept so a service calling another on a user's
//! behalf can forward it.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use patron_vocab::roles::{Permission, permissions_of};
use serde::{Deserialize, Serialize};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Request, Status, metadata::MetadataMap};

use crate::config::{self, ConfigError, Secret};
use crate::error::ServiceError;

mod verified;

/// The keys tokens are verified with.
#[derive(Debug, Clone)]
pub enum VerificationKeys {
    /// HS256 with a secret shared by whoever mints tokens and every service:
    /// local development and tests. Whoever holds it can mint any token.
    Shared(Secret),
    /// RS256/ES256 (and the other asymmetric algorithms) verified against the
    /// public keys the company's identity provider publishes as a JWKS
    /// document: services hold no key that can mint a token.
    Jwks(JwksConfig),
}

/// Where the identity provider publishes its keys, and how they are cached.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// The JWKS document (`PATRON_JWT_JWKS_URL`).
    pub url: String,
    /// How long fetched keys are used before they are fetched again
    /// (`PATRON_JWT_JWKS_REFRESH_SECS`, 5 minutes): rotated keys arrive.
    pub refresh: Duration,
    /// A token naming a key (`kid`) not in the cache fetches the document
    /// again, at most once per this interval (`PATRON_JWT_JWKS_MIN_REFETCH_SECS`,
    /// 30 s), so tokens with made-up key ids cannot hammer the provider.
    pub min_refetch: Duration,
    /// Deadline of one fetch.
    pub fetch_timeout: Duration,
}

impl JwksConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh: Duration::from_secs(300),
            min_refetch: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// How tokens are checked (and, with a shared secret, minted for local use).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub keys: VerificationKeys,
    /// The only accepted `iss`.
    pub issuer: String,
    /// The audience that must be (among) the token's `aud`.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

impl AuthConfig {
    /// With `PATRON_JWT_JWKS_URL` set, tokens are verified against the
    /// identity provider's keys and `shared_secret` is never asked for;
    /// otherwise HS256 with the secret it gives. Issuer, audience and leeway
    /// from `PATRON_JWT_ISSUER`, `PATRON_JWT_AUDIENCE`, `PATRON_JWT_LEEWAY_SECS`.
    pub fn from_env(
        shared_secret: impl FnOnce() -> anyhow::Result<Secret>,
    ) -> anyhow::Result<Self> {
        let keys = match config::env_opt("PATRON_JWT_JWKS_URL") {
            Some(url) => {
                let defaults = JwksConfig::new(url);
                VerificationKeys::Jwks(JwksConfig {
                    refresh: config::env_secs("PATRON_JWT_JWKS_REFRESH_SECS", defaults.refresh)?,
                    min_refetch: config::env_secs(
                        "PATRON_JWT_JWKS_MIN_REFETCH_SECS",
                        defaults.min_refetch,
                    )?,
                    ..defaults
                })
            }
            None => VerificationKeys::Shared(shared_secret()?),
        };
        Ok(Self::with_keys(keys)?)
    }

    /// HS256 with `secret` whatever else is configured: what `patron token`
    /// mints local development tokens with.
    pub fn shared_from_env(secret: Secret) -> Result<Self, ConfigError> {
        Self::with_keys(VerificationKeys::Shared(secret))
    }

    fn with_keys(keys: VerificationKeys) -> Result<Self, ConfigError> {
        Ok(Self {
            keys,
            issuer: config::env_or("PATRON_JWT_ISSUER", "patron"),
            audience: config::env_or("PATRON_JWT_AUDIENCE", "patron"),
            leeway: config::env_secs("PATRON_JWT_LEEWAY_SECS", Duration::from_secs(30))?,
        })
    }
}

/// The claims Patron reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The staff member's id.
    pub sub: String,
    pub iss: String,
    /// One audience or several (RFC 7519 §4.1.3 allows either).
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before, seconds since the epoch: refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Role names, e.g. `account_manager`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A token's `aud`: a single string or an array of them. Validation checks
/// that ours is among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

impl From<&str> for Audience {
    fn from(value: &str) -> Self {
        Audience::One(value.to_owned())
    }
}

impl From<String> for Audience {
    fn from(value: String) -> Self {
        Audience::One(value)
    }
}

impl From<Vec<String>> for Audience {
    fn from(value: Vec<String>) -> Self {
        Audience::Many(value)
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The staff member's id (`sub`).
    pub subject: String,
    pub roles: Vec<String>,
    permissions: HashSet<Permission>,
    /// The bearer token as received, to forward on the caller's behalf.
    token: Secret,
}

impl Caller {
    fn from_claims(claims: Claims, token: &str) -> Self {
        let permissions = claims
            .roles
            .iter()
            .flat_map(|r| permissions_of(r).iter().copied())
            .collect();
        Self {
            subject: claims.sub,
            roles: claims.roles,
            permissions,
            token: Secret::new(token),
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// PERMISSION_DENIED unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ServiceError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(format!(
                "{} (roles: {}) may not {}",
                self.subject,
                if self.roles.is_empty() {
                    "none".into()
                } else {
                    self.roles.join(", ")
                },
                permission.describe()
            )))
        }
    }

    /// The `authorization` value to forward on this caller's behalf.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.expose())
    }
}

/// Why a token was refused; each is UNAUTHENTICATED to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send `authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token is signed with a key the identity provider does not publish")]
    UnknownKey,
    #[error("the identity provider's keys cannot be fetched")]
    KeysUnavailable,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        Status::unauthenticated(err.to_string())
    }
}

/// The asymmetric algorithms accepted from an identity provider. HMAC is
/// never accepted with JWKS keys, so a public key cannot be used as an HMAC
/// secret.
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies tokens, and, with a shared secret, mints them for local use and
/// tests. Cheap to clone: clones share the JWKS cache.
#[derive(Clone)]
pub struct Authenticator {
    keys: KeySource,
    /// With a shared secret only.
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
    leeway: Duration,
    /// Tokens verified already, shared by clones.
    verified: Arc<verified::VerifiedTokens>,
}

#[derive(Clone)]
enum KeySource {
    Shared(DecodingKey),
    Jwks(Arc<jwks::KeyCache>),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field(
                "keys",
                &match &self.keys {
                    KeySource::Shared(_) => "shared secret (HS256)",
                    KeySource::Jwks(_) => "JWKS",
                },
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Self {
        let (keys, encoding) = match &config.keys {
            VerificationKeys::Shared(secret) => {
                let key = secret.expose().as_bytes();
                (
                    KeySource::Shared(DecodingKey::from_secret(key)),
                    Some(EncodingKey::from_secret(key)),
                )
            }
            VerificationKeys::Jwks(jwks) => {
                (KeySource::Jwks(Arc::new(jwks::KeyCache::new(jwks))), None)
            }
        };
        Self {
            keys,
            encoding,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway,
            verified: Arc::default(),
        }
    }

    /// The generation of the keys in use, when tokens verified under them
    /// may be answered from [`verified`]: always with a shared secret; with
    /// a JWKS, until the keys are due to be fetched again.
    async fn key_generation(&self) -> Option<u64> {
        match &self.keys {
            KeySource::Shared(_) => Some(0),
            KeySource::Jwks(cache) => cache.fresh_generation().await,
        }
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation
    }

    /// Checks a raw token.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        // Read before the keys are: a fetch meanwhile makes the entry stale
        // rather than credited to keys it was not checked against.
        let generation = self.key_generation().await;
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if let Some(generation) = generation
            && let Some(caller) = self.verified.get(token, generation, now, leeway)
        {
            return Ok(caller);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let (key, algorithm) = match &self.keys {
            KeySource::Shared(key) => (key.clone(), Algorithm::HS256),
            KeySource::Jwks(cache) => {
                if !ASYMMETRIC.contains(&header.alg) {
                    return Err(AuthError::BadSignature);
                }
                let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
                (cache.key(kid, header.alg).await?, header.alg)
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation(algorithm))
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::BadSignature
                }
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => AuthError::Malformed,
                other => AuthError::Invalid(format!("{other:?}")),
            })?;
        let exp = data.claims.exp;
        let caller = Caller::from_claims(data.claims, token);
        if let Some(generation) = generation {
            self.verified.put(token, &caller, exp, generation, now);
        }
        Ok(caller)
    }

    /// Checks the value of an `authorization` header or metadata entry.
    pub async fn verify_header(&self, value: Option<&str>) -> Result<Caller, AuthError> {
        let value = value.ok_or(AuthError::Missing)?.trim();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        self.verify(token).await
    }

    /// Checks the bearer token in gRPC metadata.
    pub async fn verify_metadata(&self, metadata: &MetadataMap) -> Result<Caller, AuthError> {
        self.verify_header(metadata.get("authorization").and_then(|v| v.to_str().ok()))
            .await
    }

    /// Mints a token for `subject` with `roles`, valid for `ttl` from `now`.
    /// Only with a shared secret: verifying against an identity provider's
    /// keys, the authenticator holds nothing to sign with and mints an empty
    /// token (refused as missing).
    pub fn mint(
        &self,
        subject: &str,
        roles: &[String],
        now: chrono::DateTime<chrono::Utc>,
        ttl: Duration,
    ) -> String {
        self.mint_claims(&Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone().into(),
            iat: now.timestamp(),
            nbf: None,
            exp: now.timestamp() + ttl.as_secs() as i64,
            roles: roles.to_vec(),
        })
    }

    /// Mints a token with exactly these claims (tests use it for bad ones).
    pub fn mint_claims(&self, claims: &Claims) -> String {
        let Some(encoding) = &self.encoding else {
            return String::new();
        };
        // HS256 signing with an in-memory key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, encoding).unwrap_or_default()
    }

    /// `service` admitting only callers with a valid token, each with the
    /// verified [`Caller`] in the request's extensions ([`caller`] reads it).
    pub fn guard<S>(&self, service: S) -> Guarded<S> {
        Guarded {
            inner: service,
            auth: Arc::new(self.clone()),
        }
    }
}

/// A gRPC service behind token verification (see [`Authenticator::guard`]).
/// Verification is asynchronous (keys may need fetching), which a tonic
/// interceptor cannot be, hence a service wrapper.
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    /// Shared, so a call clones a pointer, not the keys and names.
    auth: Arc<Authenticator>,
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for Guarded<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone that was made ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match auth.verify_header(header).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(e) => Ok(Status::from(e).into_http()),
            }
        })
    }
}

/// The verified caller of a request that passed a [`Guarded`] service.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, ServiceError> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ServiceError::Unauthenticated("no verified caller".into()))
}

/// The identity provider's keys, fetched from its JWKS document and cached.
mod jwks {
    use std::collections::HashMap;

    use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
    use tokio::sync::{Mutex, RwLock};
    use tokio::time::Instant;

    use super::*;

    struct PublishedKey {
        key: DecodingKey,
        /// The algorithm the key is published for, when it says.
        algorithm: Option<Algorithm>,
    }

    #[derive(Default)]
    struct Fetched {
        keys: HashMap<String, PublishedKey>,
        at: Option<Instant>,
        /// Counts the fetches that succeeded: what was verified under one
        /// set of keys is not credited to the next.
        generation: u64,
    }

    pub(super) struct KeyCache {
        url: String,
        refresh: Duration,
        min_refetch: Duration,
        client: reqwest::Client,
        fetched: RwLock<Fetched>,
        /// Held while fetching, so concurrent misses fetch once; holds
        /// when the last fetch was attempted (successful or not).
        fetching: Mutex<Option<Instant>>,
    }

    impl KeyCache {
        pub(super) fn new(config: &JwksConfig) -> Self {
            Self {
                url: config.url.clone(),
                refresh: config.refresh,
                min_refetch: config.min_refetch,
                client: crate::tls::http_client(config.fetch_timeout),
                fetched: RwLock::new(Fetched::default()),
                fetching: Mutex::new(None),
            }
        }

        /// The keys' generation while they are fresh; `None` once they are
        /// due to be fetched again (or were never fetched).
        pub(super) async fn fresh_generation(&self) -> Option<u64> {
            let fetched = self.fetched.read().await;
            fetched
                .at
                .is_some_and(|at| at.elapsed() < self.refresh)
                .then_some(fetched.generation)
        }

        /// The key `kid` for a token signed with `algorithm`.
        pub(super) async fn key(
            &self,
            kid: &str,
            algorithm: Algorithm,
        ) -> Result<DecodingKey, AuthError> {
            let stale = {
                let fetched = self.fetched.read().await;
                fetched.at.is_none_or(|at| at.elapsed() >= self.refresh)
            };
            if stale {
                self.fetch(|last| last.is_none_or(|at| at.elapsed() >= self.refresh))
                    .await;
            }
            if let Some(key) = self.lookup(kid, algorithm).await? {
                return Ok(key);
            }
            // A key not seen yet may have just been rotated in.
            self.fetch(|last| last.is_none_or(|at| at.elapsed() >= self.min_refetch))
                .await;
            match self.lookup(kid, algorithm).await? {
                Some(key) => Ok(key),
                None if self.fetched.read().await.at.is_none() => Err(AuthError::KeysUnavailable),
                None => Err(AuthError::UnknownKey),
            }
        }

        async fn lookup(
            &self,
            kid: &str,
            algorithm: Algorithm,
        ) -> Result<Option<DecodingKey>, AuthError> {
            let fetched = self.fetched.read().await;
            match fetched.keys.get(kid) {
                None => Ok(None),
                Some(published) if published.algorithm.is_some_and(|a| a != algorithm) => {
                    Err(AuthError::BadSignature)
                }
                Some(published) => Ok(Some(published.key.clone())),
            }
        }

        /// Fetches the document if `due` says so given the last attempt;
        /// a failed fetch keeps the keys already known.
        async fn fetch(&self, due: impl FnOnce(Option<Instant>) -> bool) {
            let mut last = self.fetching.lock().await;
            if !due(*last) {
                return;
            }
            *last = Some(Instant::now());
            match self.download().await {
                Ok(keys) => {
                    tracing::info!(url = %self.url, keys = keys.len(), "fetched the identity provider's keys");
                    let mut fetched = self.fetched.write().await;
                    *fetched = Fetched {
                        keys,
                        at: Some(Instant::now()),
                        generation: fetched.generation + 1,
                    };
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "cannot fetch the identity provider's keys");
                }
            }
        }

        async fn download(&self) -> anyhow::Result<HashMap<String, PublishedKey>> {
            let set: JwkSet = self
                .client
                .get(&self.url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let mut keys = HashMap::new();
            for jwk in &set.keys {
                let Some(kid) = jwk.common.key_id.clone() else {
                    continue;
                };
                if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                    continue;
                }
                let algorithm = match jwk.common.key_algorithm {
                    Some(a) => match Algorithm::try_from(a) {
                        Ok(a) if ASYMMETRIC.contains(&a) => Some(a),
                        // Keys for other uses (or HMAC) are never used.
                        _ => continue,
                    },
                    None => None,
                };
                match DecodingKey::from_jwk(jwk) {
                    Ok(key) if key.family() != jsonwebtoken::AlgorithmFamily::Hmac => {
                        keys.insert(kid, PublishedKey { key, algorithm });
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(%kid, error = %e, "skipping a published key"),
                }
            }
            Ok(keys)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: &str) -> Authenticator {
        Authenticator::new(&AuthConfig {
            keys: VerificationKeys::Shared(Secret::new(secret)),
            issuer: "patron".into(),
            audience: "patron".into(),
            leeway: Duration::from_secs(5),
        })
    }

    fn claims(exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "alice".into(),
            iss: "patron".into(),
            aud: "patron".into(),
            iat: now,
            nbf: None,
            exp: now + exp_offset,
            roles: vec!["account_manager".into()],
        }
    }

    #[tokio::test]
    async fn valid_token_gives_caller_with_role_permissions() {
        let a = auth("k1");
        let token = a.mint(
            "alice",
            &["account_manager".into()],
            chrono::Utc::now(),
            Duration::from_secs(60),
        );
        let caller = a
            .verify_header(Some(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!(caller.subject, "alice");
        assert!(caller.can(Permission::EditCustomers));
        assert!(!caller.can(Permission::DeleteCustomers));
        assert_eq!(
            caller
                .require(Permission::DeleteCustomers)
                .unwrap_err()
                .code(),
            tonic::Code::PermissionDenied
        );
        assert_eq!(caller.bearer(), format!("Bearer {token}"));
    }

    #[tokio::test]
    async fn refusals_say_why() {
        let a = auth("k1");
        assert_eq!(a.verify_header(None).await.unwrap_err(), AuthError::Missing);
        assert_eq!(
            a.verify_header(Some("Basic abc")).await.unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            a.verify("not.a.jwt").await.unwrap_err(),
            AuthError::Malformed
        );
        let other = auth("k2").mint_claims(&claims(60));
        assert_eq!(a.verify(&other).await.unwrap_err(), AuthError::BadSignature);
        assert_eq!(
            a.verify(&a.mint_claims(&claims(-120))).await.unwrap_err(),
            AuthError::Expired
        );
        let mut c = claims(60);
        c.aud = "elsewhere".into();
        assert_eq!(
            a.verify(&a.mint_claims(&c)).await.unwrap_err(),
            AuthError::WrongAudience
        );
        let mut c = claims(60);
        c.iss = "mallory".into();
        assert_eq!(
            a.verify(&a.mint_claims(&c)).await.unwrap_err(),
            AuthError::WrongIssuer
        );
    }

    #[tokio::test]
    async fn a_token_is_refused_before_its_nbf() {
        let a = auth("k1");
        let now = chrono::Utc::now().timestamp();
        let mut c = claims(7200);
        c.nbf = Some(now + 3600);
        assert_eq!(
            a.verify(&a.mint_claims(&c)).await.unwrap_err(),
            AuthError::NotYetValid
        );
        // Within the leeway (5 s here) it is accepted, and so once it has passed.
        c.nbf = Some(now + 2);
        assert!(a.verify(&a.mint_claims(&c)).await.is_ok());
        c.nbf = Some(now - 60);
        assert!(a.verify(&a.mint_claims(&c)).await.is_ok());
    }

    #[tokio::test]
    async fn a_token_verified_once_is_answered_again_and_its_forgeries_are_not() {
        let a = auth("k1");
        let token = a.mint_claims(&claims(60));
        let first = a.verify(&token).await.unwrap();
        // A clone shares what was verified.
        let again = a.clone().verify(&token).await.unwrap();
        assert_eq!((again.subject, again.roles), (first.subject, first.roles));
        assert_eq!(a.verified.len(), 1);
        // The same claims signed with another key, and the token with its
        // signature altered, are other bytes: each is verified, and refused.
        let forged = auth("k2").mint_claims(&claims(60));
        assert_eq!(
            a.verify(&forged).await.unwrap_err(),
            AuthError::BadSignature
        );
        let mut altered = token.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(a.verify(&altered).await.is_err());
        // An expired token is refused, and never kept.
        let expired = a.mint_claims(&claims(-60));
        assert_eq!(a.verify(&expired).await.unwrap_err(), AuthError::Expired);
        assert_eq!(a.verified.len(), 1);
    }

    #[tokio::test]
    async fn an_audience_may_be_an_array_that_includes_ours() {
        let a = auth("k1");
        let mut c = claims(60);
        c.aud = vec!["crm".to_owned(), "patron".to_owned()].into();
        let token = a.mint_claims(&c);
        assert!(token.contains('.'));
        let caller = a.verify(&token).await.unwrap();
        assert_eq!(caller.subject, "alice");
        c.aud = vec!["crm".to_owned(), "billing".to_owned()].into();
        assert_eq!(
            a.verify(&a.mint_claims(&c)).await.unwrap_err(),
            AuthError::WrongAudience
        );
        assert!(Audience::from(vec!["x".to_owned(), "patron".to_owned()]).contains("patron"));
    }
}
