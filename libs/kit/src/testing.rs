//! The test harness: each test gets its own database, provisioned exactly as
//! production is (service roles, schemas), and its own Redis key prefix, so
//! tests run in parallel against the real servers without meeting.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::auth::AuthConfig;
use crate::cache::CacheConfig;
use crate::config::{self, Secret};
use crate::db::{self, DbConfig};

/// The administrator URL tests provision with (`PATRON_TEST_ADMIN_URL`).
pub fn admin_url() -> String {
    config::env_or(
        "PATRON_TEST_ADMIN_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// The Redis tests use (`PATRON_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    config::env_or("PATRON_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// The moment a test's clock starts at: `PATRON_TEST_NOW` (RFC 3339) when
/// set, so the whole suite can be run at a moment that matters (test.sh runs
/// it again on 31 December 23:59 and 1 January 00:01 in Shanghai), else an
/// ordinary fixed day. Never the machine's date: a test that passes today
/// must pass on any day.
pub fn test_now() -> chrono::DateTime<chrono::Utc> {
    const DEFAULT: &str = "2026-06-15T10:00:00+08:00";
    let raw = config::env_or("PATRON_TEST_NOW", DEFAULT);
    chrono::DateTime::parse_from_rfc3339(&raw)
        .unwrap_or_else(|e| panic!("PATRON_TEST_NOW={raw:?} is not an RFC 3339 time: {e}"))
        .with_timezone(&chrono::Utc)
}

/// A clock standing at [`test_now`] until the test moves it.
pub fn test_clock() -> crate::clock::ManualClock {
    crate::clock::ManualClock::new(test_now())
}

/// A short random suffix.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// `url` pointing at database `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A database of one test's own, dropped when the value is.
pub struct TestDatabase {
    pub name: String,
    admin: String,
}

impl TestDatabase {
    /// Creates and provisions a fresh database with `schemas`.
    pub async fn create(schemas: &[&str]) -> Self {
        let name = format!("patron_t_{}", unique_suffix());
        let admin = admin_url();
        db::provision(&admin, &name, schemas)
            .await
            .unwrap_or_else(|e| panic!("provisioning test database {name}: {e:#}"));
        Self { name, admin }
    }

    /// How the service owning `schema` connects to this database.
    pub fn service_config(&self, schema: &str) -> DbConfig {
        let url = db::with_user(
            &with_database(&self.admin, &self.name),
            &db::role_for(schema),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        DbConfig {
            url,
            schema: schema.to_owned(),
            max_connections: 5,
            acquire_timeout: Duration::from_secs(10),
        }
    }

    /// An administrator connection to this database, for a test to look at
    /// (or tamper with) what a service stored.
    pub async fn admin_connection(&self) -> PgConnection {
        PgConnection::connect(&with_database(&self.admin, &self.name))
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = self.admin.clone();
        // Drop runs inside the test's runtime; a thread of its own may block.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Token settings with a fresh random signing key.
pub fn auth_config() -> AuthConfig {
    AuthConfig {
        keys: crate::auth::VerificationKeys::Shared(Secret::new(format!(
            "test-{}-{}",
            unique_suffix(),
            unique_suffix()
        ))),
        issuer: "patron".into(),
        audience: "patron".into(),
        leeway: Duration::from_secs(5),
    }
}

/// A key ring with one fresh random key.
pub fn key_ring() -> crate::crypto::KeyRing {
    key_ring_of(&[("k1", random_key())], "k1")
}

/// A fresh random 32-byte key.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    key
}

/// A ring of the given keys sealing with `active`, and a fixed index key (so
/// rings built for one test find each other's indexes).
pub fn key_ring_of(keys: &[(&str, [u8; 32])], active: &str) -> crate::crypto::KeyRing {
    let keys: Vec<(String, [u8; 32])> = keys.iter().map(|(id, k)| (id.to_string(), *k)).collect();
    crate::crypto::KeyRing::new(&keys, active, &[7u8; 32]).unwrap_or_else(|e| panic!("{e}"))
}

/// A cache under a key prefix of the test's own.
pub fn cache_config() -> CacheConfig {
    CacheConfig {
        url: redis_url(),
        key_prefix: format!("patron-test-{}", unique_suffix()),
        ttl: Duration::from_secs(60),
        op_timeout: Duration::from_millis(500),
    }
}

/// Events on the tests' Redis under `prefix` (a test's cache prefix, so
/// producers and consumers of one test meet and no others).
pub fn events_config(prefix: &str) -> crate::events::EventsConfig {
    crate::events::EventsConfig {
        redis_url: redis_url(),
        stream_prefix: prefix.to_owned(),
        retention: crate::events::Retention::default(),
    }
}

/// A cache pointed at a port nothing listens on: Redis "down".
pub fn unreachable_cache_config() -> CacheConfig {
    CacheConfig {
        url: "redis://127.0.0.1:1".into(),
        ..cache_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h/postgres?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
