//! Who is calling, and what they may do. Every service verifies the bearer
//! token itself (signature, issuer, audience, expiry) rather than trusting an
//! identity header, so a caller inside the cluster cannot claim to be someone
//! else. The verified token is kept so a service calling another on a user's
//! behalf can forward it.

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, metadata::MetadataMap};

use crate::config::{self, ConfigError, Secret};
use crate::error::ServiceError;

/// How tokens are checked (and, for local use, minted).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HMAC key shared by the issuer and the services (HS256).
    pub signing_secret: Secret,
    /// The only accepted `iss`.
    pub issuer: String,
    /// The only accepted `aud`.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

impl AuthConfig {
    /// Reads `PATRON_JWT_ISSUER`, `PATRON_JWT_AUDIENCE` and
    /// `PATRON_JWT_LEEWAY_SECS`; the secret is the caller's to supply.
    pub fn from_env(signing_secret: Secret) -> Result<Self, ConfigError> {
        Ok(Self {
            signing_secret,
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
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Role names, e.g. `account_manager`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadCustomers,
    EditCustomers,
    DeleteCustomers,
    ReadSensitive,
    /// List the change and access audit trails.
    ReadAudit,
    /// Name or change a customer's responsible account manager.
    AssignManagers,
    /// Record a customer's exit (VIP status revoked, or a voluntary exit).
    ExitCustomers,
    /// Keep the organisation directory: org units and staff.
    AdministerStaff,
    /// Store and activate policies (tier rules and the like).
    EditPolicies,
    /// Set a customer's tier by hand, with a reason.
    OverrideTiers,
    /// Add or take a card's points by hand, with a reason.
    AdjustPoints,
}

/// The roles the suite knows and what each grants. A role not listed grants
/// nothing, so a typo in a token fails closed.
pub fn permissions_of(role: &str) -> &'static [Permission] {
    use Permission::*;
    match role {
        "admin" => &[
            ReadCustomers,
            EditCustomers,
            DeleteCustomers,
            ReadSensitive,
            ReadAudit,
            AssignManagers,
            ExitCustomers,
            AdministerStaff,
            EditPolicies,
            OverrideTiers,
            AdjustPoints,
        ],
        "supervisor" => &[
            ReadCustomers,
            EditCustomers,
            DeleteCustomers,
            ReadSensitive,
            ReadAudit,
            AssignManagers,
            ExitCustomers,
            OverrideTiers,
            AdjustPoints,
        ],
        "account_manager" => &[ReadCustomers, EditCustomers],
        "customer_service" => &[ReadCustomers, EditCustomers],
        "auditor" => &[ReadCustomers, ReadAudit],
        "viewer" => &[ReadCustomers],
        _ => &[],
    }
}

/// How far a role reaches among customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleReach {
    /// Every customer of the company.
    Company,
    /// The customers of the staff member's unit and the units below it.
    UnitSubtree,
    /// The customers the staff member manages.
    OwnCustomers,
    /// None.
    Nothing,
}

/// The reach each role grants. Admins administer the whole company;
/// supervisors and the staff who serve customers work within their unit; an
/// account manager works with their own customers. Unknown roles reach
/// nothing, so a typo fails closed.
pub fn reach_of_role(role: &str) -> RoleReach {
    match role {
        "admin" => RoleReach::Company,
        "supervisor" | "customer_service" | "auditor" | "viewer" => RoleReach::UnitSubtree,
        "account_manager" => RoleReach::OwnCustomers,
        _ => RoleReach::Nothing,
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
                describe(permission)
            )))
        }
    }

    /// The `authorization` value to forward on this caller's behalf.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.expose())
    }
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ReadCustomers => "read customers",
        Permission::EditCustomers => "create or edit customers",
        Permission::DeleteCustomers => "delete customers",
        Permission::ReadSensitive => "read sensitive customer data",
        Permission::ReadAudit => "read the audit trails",
        Permission::AssignManagers => "assign account managers",
        Permission::ExitCustomers => "record customers' exits",
        Permission::AdministerStaff => "administer org units and staff",
        Permission::EditPolicies => "store or activate policies",
        Permission::OverrideTiers => "override customers' tiers",
        Permission::AdjustPoints => "adjust customers' points by hand",
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
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        Status::unauthenticated(err.to_string())
    }
}

/// Verifies tokens, and mints them for local use and tests.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.leeway = config.leeway.as_secs();
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let key = config.signing_secret.expose().as_bytes();
        Self {
            decoding: DecodingKey::from_secret(key),
            encoding: EncodingKey::from_secret(key),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        }
    }

    /// Checks a raw token.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::BadSignature
                }
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => AuthError::Malformed,
                other => AuthError::Invalid(format!("{other:?}")),
            })?;
        Ok(Caller::from_claims(data.claims, token))
    }

    /// Checks the value of an `authorization` header or metadata entry.
    pub fn verify_header(&self, value: Option<&str>) -> Result<Caller, AuthError> {
        let value = value.ok_or(AuthError::Missing)?.trim();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        self.verify(token)
    }

    /// Checks the bearer token in gRPC metadata.
    pub fn verify_metadata(&self, metadata: &MetadataMap) -> Result<Caller, AuthError> {
        self.verify_header(metadata.get("authorization").and_then(|v| v.to_str().ok()))
    }

    /// Mints a token for `subject` with `roles`, valid for `ttl` from `now`.
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
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl.as_secs() as i64,
            roles: roles.to_vec(),
        })
    }

    /// Mints a token with exactly these claims (tests use it for bad ones).
    pub fn mint_claims(&self, claims: &Claims) -> String {
        // HS256 signing with an in-memory key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }
}

/// A tonic interceptor that admits only callers with a valid token and puts
/// the verified [`Caller`] in the request's extensions.
pub fn interceptor(
    auth: Authenticator,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let caller = auth.verify_metadata(request.metadata())?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The verified caller of a request that passed the [`interceptor`].
pub fn caller<T>(request: &Request<T>) -> Result<Caller, ServiceError> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ServiceError::Unauthenticated("no verified caller".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: &str) -> Authenticator {
        Authenticator::new(&AuthConfig {
            signing_secret: Secret::new(secret),
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
            exp: now + exp_offset,
            roles: vec!["account_manager".into()],
        }
    }

    #[test]
    fn valid_token_gives_caller_with_role_permissions() {
        let a = auth("k1");
        let token = a.mint(
            "alice",
            &["account_manager".into()],
            chrono::Utc::now(),
            Duration::from_secs(60),
        );
        let caller = a.verify_header(Some(&format!("Bearer {token}"))).unwrap();
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

    #[test]
    fn refusals_say_why() {
        let a = auth("k1");
        assert_eq!(a.verify_header(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            a.verify_header(Some("Basic abc")).unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(a.verify("not.a.jwt").unwrap_err(), AuthError::Malformed);
        let other = auth("k2").mint_claims(&claims(60));
        assert_eq!(a.verify(&other).unwrap_err(), AuthError::BadSignature);
        assert_eq!(
            a.verify(&a.mint_claims(&claims(-120))).unwrap_err(),
            AuthError::Expired
        );
        let mut c = claims(60);
        c.aud = "elsewhere".into();
        assert_eq!(
            a.verify(&a.mint_claims(&c)).unwrap_err(),
            AuthError::WrongAudience
        );
        let mut c = claims(60);
        c.iss = "mallory".into();
        assert_eq!(
            a.verify(&a.mint_claims(&c)).unwrap_err(),
            AuthError::WrongIssuer
        );
    }

    #[test]
    fn unknown_roles_grant_nothing() {
        assert!(permissions_of("root").is_empty());
        assert!(permissions_of("Admin").is_empty());
        assert!(permissions_of("admin").contains(&Permission::DeleteCustomers));
    }
}
