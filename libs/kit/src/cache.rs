//! The shared Redis cache, cache-aside: values are protobuf-encoded under
//! versioned keys (`patron:profile:v1:<id>`), every key has a TTL, and writers
//! invalidate after their transaction commits. Redis is an accelerator, never a
//! store of record: when it fails, reads fall through to Postgres, writes still
//! succeed, and the cache steps aside until a health probe finds it back.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{self, ConfigError};

/// Where the cache is and how it behaves.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub url: String,
    /// First part of every key; tests use their own so they never collide.
    pub key_prefix: String,
    /// Lifetime of every entry (with up to 10% jitter so entries written
    /// together do not all expire together).
    pub ttl: Duration,
    /// How long one cache operation may take before it counts as a failure.
    pub op_timeout: Duration,
}

impl CacheConfig {
    /// `PATRON_REDIS_URL`, `PATRON_CACHE_PREFIX`, `PATRON_CACHE_TTL_SECS`,
    /// `PATRON_CACHE_TIMEOUT_MS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            url: config::env_or("PATRON_REDIS_URL", "redis://127.0.0.1:6379"),
            key_prefix: config::env_or("PATRON_CACHE_PREFIX", "patron"),
            ttl: config::env_secs("PATRON_CACHE_TTL_SECS", Duration::from_secs(300))?,
            op_timeout: config::env_millis("PATRON_CACHE_TIMEOUT_MS", Duration::from_millis(250))?,
        })
    }
}

/// Whether a read was served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    /// Redis is unavailable; the value came from the store of record.
    Bypassed,
}

/// A handle to the cache; clones share one connection.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Option<ConnectionManager>,
    prefix: String,
    ttl: Duration,
    op_timeout: Duration,
    available: AtomicBool,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.prefix)
            .field("available", &self.is_available())
            .finish()
    }
}

impl Cache {
    /// A cache that connects on first use; a bad URL leaves it permanently
    /// bypassed (and logged) rather than failing the service. Call it inside
    /// the Tokio runtime, whose reactor the connection uses.
    pub fn new(config: &CacheConfig) -> Self {
        let connection = redis::Client::open(config.url.as_str())
            .and_then(|client| {
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.op_timeout.max(Duration::from_millis(500))))
                    .set_response_timeout(Some(config.op_timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(2));
                ConnectionManager::new_lazy_with_config(client, manager_config)
            })
            .inspect_err(
                |e| tracing::error!(error = %e, "the Redis URL is unusable; caching is off"),
            )
            .ok();
        Self {
            inner: Arc::new(Inner {
                available: AtomicBool::new(connection.is_some()),
                connection,
                prefix: config.key_prefix.clone(),
                ttl: config.ttl,
                op_timeout: config.op_timeout,
            }),
        }
    }

    /// `<prefix>:<area>:<version>:<id>`.
    pub fn key(&self, area: &str, version: &str, id: &str) -> String {
        format!("{}:{area}:{version}:{id}", self.inner.prefix)
    }

    /// Whether the cache is in use (the last operation or probe succeeded).
    pub fn is_available(&self) -> bool {
        self.inner.available.load(Ordering::Relaxed)
    }

    fn usable(&self) -> Option<ConnectionManager> {
        if self.is_available() {
            self.inner.connection.clone()
        } else {
            None
        }
    }

    fn mark_failed(&self, op: &str, error: &dyn std::fmt::Display) {
        if self.inner.available.swap(false, Ordering::Relaxed) {
            tracing::warn!(%error, op, "Redis failed; serving from Postgres until it is back");
        }
    }

    async fn run<T, F>(&self, op: &str, f: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.usable()?;
        match tokio::time::timeout(self.inner.op_timeout, f(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.mark_failed(op, &e);
                None
            }
            Err(_) => {
                self.mark_failed(op, &"timed out");
                None
            }
        }
    }

    /// The cached value at `key`, if any. An entry that no longer decodes is
    /// dropped and counts as a miss.
    pub async fn get<M: prost::Message + Default>(&self, key: &str) -> Option<M> {
        let bytes: Option<Vec<u8>> = self
            .run("GET", |mut c| async move { c.get(key).await })
            .await
            .flatten();
        let bytes = bytes?;
        match M::decode(bytes.as_slice()) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(key, error = %e, "dropping a cache entry that does not decode");
                self.invalidate(key).await;
                None
            }
        }
    }

    /// Stores `value` at `key` with the configured TTL.
    pub async fn put<M: prost::Message>(&self, key: &str, value: &M) {
        let ttl = jittered(self.inner.ttl);
        let bytes = value.encode_to_vec();
        self.run("SET", |mut c| async move {
            c.set_ex::<_, _, ()>(key, bytes, ttl.as_secs().max(1)).await
        })
        .await;
    }

    /// Drops `key`; call after the write's transaction has committed.
    pub async fn invalidate(&self, key: &str) {
        self.run("DEL", |mut c| async move { c.del::<_, ()>(key).await })
            .await;
    }

    /// Cache-aside read: the cached value, or `load`'s (then cached).
    pub async fn get_or_load<M, E, Fut>(
        &self,
        key: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<(M, CacheOutcome), E>
    where
        M: prost::Message + Default,
        Fut: Future<Output = Result<M, E>>,
    {
        let was_available = self.is_available();
        if let Some(hit) = self.get::<M>(key).await {
            return Ok((hit, CacheOutcome::Hit));
        }
        let value = load().await?;
        if self.is_available() {
            self.put(key, &value).await;
        }
        let outcome = if was_available && self.is_available() {
            CacheOutcome::Miss
        } else {
            CacheOutcome::Bypassed
        };
        Ok((value, outcome))
    }

    /// Asks Redis whether it is there, and resumes caching if it is.
    pub async fn probe(&self) -> bool {
        let Some(conn) = self.inner.connection.clone() else {
            return false;
        };
        let ok = tokio::time::timeout(
            self.inner.op_timeout.max(Duration::from_millis(500)),
            async move {
                let mut conn = conn;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            },
        )
        .await
        .is_ok_and(|r| r.is_ok());
        let was = self.inner.available.swap(ok, Ordering::Relaxed);
        if ok && !was {
            tracing::info!("Redis is back; caching resumes");
        } else if !ok && was {
            tracing::warn!("Redis does not answer; serving from Postgres");
        }
        ok
    }
}

fn jittered(ttl: Duration) -> Duration {
    let spread = ttl.as_millis() as u64 / 10;
    if spread == 0 {
        return ttl;
    }
    ttl - Duration::from_millis(rand::rng().random_range(0..spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let ttl = Duration::from_secs(300);
        for _ in 0..100 {
            let j = jittered(ttl);
            assert!(j <= ttl && j >= ttl - Duration::from_secs(30));
        }
    }

    #[tokio::test]
    async fn keys_are_versioned_and_prefixed() {
        let cache = Cache::new(&CacheConfig {
            url: "redis://127.0.0.1:1".into(),
            key_prefix: "patron".into(),
            ttl: Duration::from_secs(1),
            op_timeout: Duration::from_millis(50),
        });
        assert_eq!(cache.key("profile", "v1", "abc"), "patron:profile:v1:abc");
    }
}
