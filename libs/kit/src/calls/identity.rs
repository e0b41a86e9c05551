//! A service's own identity for its calls to other services: a short-lived
//! token whose subject and only role are `service:<name>`, never a person's.
//! With the shared secret (HS256) the kit mints it; with an identity
//! provider (`PATRON_JWT_JWKS_URL`) it is fetched from the provider's token
//! endpoint by OAuth2 client credentials. Either way it is kept until shortly
//! before it expires, and the callee verifies it as it verifies any token.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tonic::Status;

use crate::auth::{AuthConfig, Authenticator, VerificationKeys};
use crate::config::{self, ConfigError, Secret};

/// How long a minted token lives.
const MINTED_TTL: Duration = Duration::from_secs(300);

/// How long before its expiry a token is replaced, so none expires in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// The subject (and role) of service `name`'s tokens: `service:<name>`.
pub fn service_subject(name: &str) -> String {
    format!("service:{name}")
}

/// Where a service's tokens come from.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Minted by the kit with the shared secret the callee verifies with.
    Minted(AuthConfig),
    /// Fetched from the identity provider.
    ClientCredentials(ClientCredentials),
}

/// An OAuth2 client of the identity provider (RFC 6749 §4.4).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The token endpoint (`PATRON_SERVICE_TOKEN_URL`).
    pub token_url: String,
    /// `PATRON_SERVICE_CLIENT_ID`.
    pub client_id: String,
    /// `PATRON_SERVICE_CLIENT_SECRET`.
    pub client_secret: Secret,
    /// Asked for when set (`PATRON_SERVICE_TOKEN_SCOPE`): some providers
    /// choose the token's audience or roles by it.
    pub scope: Option<String>,
    /// Deadline of one fetch.
    pub fetch_timeout: Duration,
}

impl Credentials {
    /// The kit mints with the shared secret; with JWKS verification the
    /// tokens come from the provider, and its client settings are required.
    pub fn from_env(auth: &AuthConfig) -> Result<Self, ConfigError> {
        match &auth.keys {
            VerificationKeys::Shared(_) => Ok(Self::Minted(auth.clone())),
            VerificationKeys::Jwks(_) => {
                let required = |name: &str| {
                    config::env_opt(name).ok_or_else(|| ConfigError {
                        name: name.to_owned(),
                        reason: "is required when tokens are verified against \
                                 PATRON_JWT_JWKS_URL: a service's own token comes from the \
                                 identity provider"
                            .into(),
                    })
                };
                Ok(Self::ClientCredentials(ClientCredentials {
                    token_url: required("PATRON_SERVICE_TOKEN_URL")?,
                    client_id: required("PATRON_SERVICE_CLIENT_ID")?,
                    client_secret: Secret::new(required("PATRON_SERVICE_CLIENT_SECRET")?),
                    scope: config::env_opt("PATRON_SERVICE_TOKEN_SCOPE"),
                    fetch_timeout: Duration::from_secs(5),
                }))
            }
        }
    }
}

/// A service's identity: the `authorization` value of its calls. Cheap to
/// clone; clones share the token.
#[derive(Clone)]
pub struct ServiceIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    source: TokenSource,
    /// The current token and when to replace it; the lock also makes
    /// concurrent callers wait for one fetch rather than each fetching.
    current: Mutex<Option<(Secret, Instant)>>,
}

enum TokenSource {
    Minted(Authenticator),
    Fetched {
        credentials: ClientCredentials,
        client: reqwest::Client,
    },
}

impl std::fmt::Debug for ServiceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceIdentity")
            .field("service", &self.inner.service)
            .field(
                "source",
                &match &self.inner.source {
                    TokenSource::Minted(_) => "minted (HS256)",
                    TokenSource::Fetched { .. } => "client credentials",
                },
            )
            .finish_non_exhaustive()
    }
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; a provider that leaves it out gets the minted tokens' life.
    expires_in: Option<u64>,
}

impl ServiceIdentity {
    /// The identity of service `service` (e.g. `complaint`).
    pub fn new(service: &str, credentials: Credentials) -> Self {
        let source = match credentials {
            Credentials::Minted(auth) => TokenSource::Minted(Authenticator::new(&auth)),
            Credentials::ClientCredentials(credentials) => TokenSource::Fetched {
                client: crate::tls::http_client(credentials.fetch_timeout),
                credentials,
            },
        };
        Self {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                source,
                current: Mutex::new(None),
            }),
        }
    }

    /// Service `service`'s identity as the environment configures it
    /// ([`Credentials::from_env`]).
    pub fn from_env(service: &str, auth: &AuthConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(service, Credentials::from_env(auth)?))
    }

    /// `service:<name>`.
    pub fn subject(&self) -> String {
        service_subject(&self.inner.service)
    }

    /// `Bearer <token>`, renewed shortly before the token expires.
    /// UNAVAILABLE when the identity provider cannot give one.
    pub async fn authorization(&self) -> Result<String, Status> {
        let mut current = self.inner.current.lock().await;
        if let Some((token, renew_at)) = current.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(format!("Bearer {}", token.expose()));
        }
        let (token, lifetime) = self.new_token().await?;
        // Replace it before it expires; a very short-lived one halfway.
        let keep = lifetime.checked_sub(RENEW_BEFORE).unwrap_or(lifetime / 2);
        let bearer = format!("Bearer {token}");
        *current = Some((Secret::new(token), Instant::now() + keep));
        Ok(bearer)
    }

    async fn new_token(&self) -> Result<(String, Duration), Status> {
        match &self.inner.source {
            TokenSource::Minted(authenticator) => {
                let subject = self.subject();
                // Wall-clock time: the callee checks `exp` against its own.
                let token = authenticator.mint(
                    &subject,
                    std::slice::from_ref(&subject),
                    chrono::Utc::now(),
                    MINTED_TTL,
                );
                Ok((token, MINTED_TTL))
            }
            TokenSource::Fetched {
                credentials,
                client,
            } => fetch(client, credentials).await,
        }
    }
}

/// Asks the token endpoint for a token, the client authenticating with
/// HTTP Basic (RFC 6749 §2.3.1, which every provider must accept).
async fn fetch(
    client: &reqwest::Client,
    credentials: &ClientCredentials,
) -> Result<(String, Duration), Status> {
    let unavailable = |reason: String| {
        tracing::warn!(url = %credentials.token_url, %reason, "no service token");
        Status::unavailable(format!(
            "the service's token could not be obtained from the identity provider: {reason}"
        ))
    };
    let mut body = String::from("grant_type=client_credentials");
    if let Some(scope) = &credentials.scope {
        body.push_str("&scope=");
        body.push_str(&form_encode(scope));
    }
    let response = client
        .post(&credentials.token_url)
        .basic_auth(
            form_encode(&credentials.client_id),
            Some(form_encode(credentials.client_secret.expose())),
        )
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(unavailable(format!("the token endpoint answered {status}")));
    }
    let answer: TokenResponse = response
        .json()
        .await
        .map_err(|e| unavailable(format!("the token endpoint's answer is not a token: {e}")))?;
    let lifetime = answer.expires_in.map_or(MINTED_TTL, Duration::from_secs);
    Ok((answer.access_token, lifetime))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use patron_vocab::roles::Permission;

    fn shared() -> AuthConfig {
        AuthConfig {
            keys: VerificationKeys::Shared(Secret::new("a-test-secret-of-some-length")),
            issuer: "patron".into(),
            audience: "patron".into(),
            leeway: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_minted_identity_is_the_service_with_only_its_own_permissions() {
        let identity = ServiceIdentity::new("complaint", Credentials::Minted(shared()));
        let bearer = identity.authorization().await.unwrap();
        assert_eq!(
            identity.authorization().await.unwrap(),
            bearer,
            "kept until shortly before it expires"
        );
        let caller = Authenticator::new(&shared())
            .verify_header(Some(&bearer))
            .await
            .unwrap();
        assert_eq!(caller.subject, "service:complaint");
        assert_eq!(caller.roles, ["service:complaint"]);
        assert!(caller.can(Permission::ReadCustomers));
        assert!(!caller.can(Permission::EditCustomers));
        assert!(!caller.can(Permission::ReadSensitive));
        assert_eq!(
            patron_vocab::roles::reach_of_role("service:complaint"),
            patron_vocab::roles::RoleReach::Company
        );

        // A service the role table does not know may do nothing.
        let stranger = ServiceIdentity::new("stranger", Credentials::Minted(shared()));
        let caller = Authenticator::new(&shared())
            .verify_header(Some(&stranger.authorization().await.unwrap()))
            .await
            .unwrap();
        assert!(!caller.can(Permission::ReadCustomers));
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("complaint-svc"), "complaint-svc");
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
