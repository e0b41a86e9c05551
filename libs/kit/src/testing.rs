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
        local_copies: true,
    }
}

/// Events on the tests' Redis under `prefix` (a test's cache prefix, so
/// producers and consumers of one test meet and no others).
pub fn events_config(prefix: &str) -> crate::events::EventsConfig {
    crate::events::EventsConfig {
        redis_url: redis_url(),
        stream_prefix: prefix.to_owned(),
        retention: crate::events::Retention::default(),
        claim_idle: crate::events::DEFAULT_CLAIM_IDLE,
    }
}

/// A cache pointed at a port nothing listens on: Redis "down".
pub fn unreachable_cache_config() -> CacheConfig {
    CacheConfig {
        url: "redis://127.0.0.1:1".into(),
        ..cache_config()
    }
}

/// A TCP proxy in front of the tests' Redis or PostgreSQL, to make it fail
/// as networks do without disturbing the other tests that share it: cut
/// (every open connection dropped, new ones refused) or stalled (connections
/// stay open but no byte passes, as with a half-open connection).
pub struct TcpProxy {
    addr: std::net::SocketAddr,
    /// 0 passing, 1 cut, 2 stalled.
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    links: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

const PASSING: u8 = 0;
const CUT: u8 = 1;
const STALLED: u8 = 2;

impl TcpProxy {
    /// A proxy, passing, on a port of its own, to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the proxy's address: {e}"));
        let target = target.to_owned();
        let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(PASSING));
        let links = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let accept = tokio::spawn({
            let (mode, links) = (mode.clone(), links.clone());
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if mode.load(Ordering::SeqCst) == CUT {
                        continue;
                    }
                    let (target, mode) = (target.clone(), mode.clone());
                    let mut links = links.lock().unwrap_or_else(|e| e.into_inner());
                    links.spawn(async move {
                        if let Ok(outbound) = tokio::net::TcpStream::connect(&target).await {
                            let (in_read, in_write) = inbound.into_split();
                            let (out_read, out_write) = outbound.into_split();
                            tokio::select! {
                                _ = pump(in_read, out_write, &mode) => {}
                                _ = pump(out_read, in_write, &mode) => {}
                            }
                        }
                    });
                }
            }
        });
        Self {
            addr,
            mode,
            links,
            accept,
        }
    }

    /// A proxy to the tests' Redis.
    pub async fn to_redis() -> Self {
        let (_, _, target) = split_url(&redis_url());
        Self::start(&target).await
    }

    /// A proxy to the tests' PostgreSQL.
    pub async fn to_postgres() -> Self {
        let (_, _, target) = split_url(&admin_url());
        Self::start(&target).await
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `url` (redis:// or postgres://) with its host and port this proxy's.
    pub fn url_through(&self, url: &str) -> String {
        let (prefix, rest, _) = split_url(url);
        format!("{prefix}{}{rest}", self.addr)
    }

    /// A cache (under a prefix of its own) reaching Redis through the proxy.
    pub fn cache_config(&self) -> CacheConfig {
        CacheConfig {
            url: self.url_through(&redis_url()),
            ..cache_config()
        }
    }

    /// `config` reaching its database through the proxy.
    pub fn db_config(&self, config: DbConfig) -> DbConfig {
        DbConfig {
            url: self.url_through(&config.url),
            ..config
        }
    }

    /// Every open connection dropped, new ones refused, until [`Self::restore`].
    pub fn cut(&self) {
        self.mode.store(CUT, std::sync::atomic::Ordering::SeqCst);
        self.links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort_all();
    }

    /// Connections stay open but no byte passes, until [`Self::restore`].
    pub fn stall(&self) {
        self.mode
            .store(STALLED, std::sync::atomic::Ordering::SeqCst);
    }

    /// Passing again.
    pub fn restore(&self) {
        self.mode
            .store(PASSING, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Copies bytes one way; while stalled it holds them, as a network that
/// stopped answering.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: &std::sync::atomic::AtomicU8,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer).await {
        while mode.load(std::sync::atomic::Ordering::SeqCst) == STALLED {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// A URL split around its `host:port`: what comes before it (scheme and
/// user), what comes after (path and query), and the `host:port` itself.
fn split_url(url: &str) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = rest
        .find(['/', '?'])
        .map_or((rest, ""), |i| rest.split_at(i));
    let (user, host) = authority
        .rsplit_once('@')
        .map_or((String::new(), authority), |(u, h)| (format!("{u}@"), h));
    (
        format!("{scheme}://{user}"),
        tail.to_owned(),
        host.to_owned(),
    )
}

/// A service's common settings as the tests run it: listening on `listen`,
/// events beside `cache`, the company in Shanghai, quick health checks and
/// relay.
pub fn common_config(
    listen: std::net::SocketAddr,
    db: DbConfig,
    cache: &CacheConfig,
    auth: &AuthConfig,
    clock: crate::clock::SharedClock,
) -> crate::runtime::CommonConfig {
    crate::runtime::CommonConfig {
        listen,
        db,
        cache: cache.clone(),
        events: events_config(&cache.key_prefix),
        auth: auth.clone(),
        zone: chrono_tz::Asia::Shanghai,
        health_interval: Duration::from_millis(100),
        relay_poll: Duration::from_millis(20),
        clock,
        // No endpoint unless a test asks for one (ports of its own).
        metrics: crate::metrics::MetricsConfig::off(Duration::from_secs(1)),
        shutdown_grace: Duration::from_secs(30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_around_their_host() {
        assert_eq!(
            split_url("postgres://patron_profile@127.0.0.1:5432/db?x=1"),
            (
                "postgres://patron_profile@".to_owned(),
                "/db?x=1".to_owned(),
                "127.0.0.1:5432".to_owned()
            )
        );
        assert_eq!(
            split_url("redis://127.0.0.1:6379"),
            (
                "redis://".to_owned(),
                String::new(),
                "127.0.0.1:6379".to_owned()
            )
        );
    }

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
