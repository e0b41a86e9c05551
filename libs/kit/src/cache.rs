//! The shared Redis cache, cache-aside: values are protobuf-encoded under
//! versioned keys (`patron:cache:profile:v1:<id>`), every key has a TTL, and
//! writers invalidate after their transaction commits. In front of Redis each
//! process keeps copies of what it read, which Redis itself keeps coherent by
//! reporting every change of a key under the cache's prefix ([`near`]): a hit
//! there costs no round trip. Redis is an accelerator, never a
//! store of record: when it fails, reads fall through to Postgres, writes still
//! succeed, and the cache steps aside until a health probe finds it back.
//!
//! Two ways a stale copy could outlive a write are closed here, in Redis
//! scripts, so that they hold across every replica sharing the cache:
//!
//! - **A late put.** A reader that loaded version 1 before a writer committed
//!   version 2 must not put version 1 back after the writer's invalidation.
//!   Each entry is the record's version and the epoch it was read under, then
//!   the bytes (`<version>:<epoch>:<protobuf>`); invalidation deletes it and
//!   leaves a floor (`<key>:floor`, the new version, living as long as an
//!   entry would), and a put is refused below the floor or below the version
//!   already held.
//! - **A missed invalidation.** A write while Redis is marked down cannot
//!   invalidate. Remembering the keys to flush would not reach replicas that
//!   never saw the outage, and checking every hit against the store's version
//!   would cost the query the cache exists to save. So the process notes that
//!   it missed one, and before it resumes caching bumps an epoch
//!   (`<prefix>:cache:epoch`).
//!   Reads ignore entries of an older epoch, on every replica, including ones
//!   that never saw the outage; a put carries the epoch its reader saw before
//!   loading, so a load begun before the bump is not cached after it. This
//!   drops the whole cache once per outage in which a write happened, which
//!   is cheap next to serving a stale archive. A process that dies before
//!   Redis returns takes its note with it: its stale entries then last at most
//!   their TTL, as before.
//!
//! Callers authorise from the store, never from a cached copy: the cache may
//! serve a body, not a decision.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::config::{self, ConfigError};
use crate::metrics::CacheOutcomes;

pub mod near;
use near::Near;

/// Where the cache is and how it behaves.
#[derive(Clone)]
pub struct CacheConfig {
    pub url: String,
    /// First part of every key; tests use their own so they never collide.
    pub key_prefix: String,
    /// Lifetime of every entry (with up to 10% jitter so entries written
    /// together do not all expire together).
    pub ttl: Duration,
    /// How long one cache operation may take before it counts as a failure.
    pub op_timeout: Duration,
    /// Whether each process keeps coherent copies of what it read ([`near`]).
    pub local_copies: bool,
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("url", &config::RedactedUrl(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("ttl", &self.ttl)
            .field("op_timeout", &self.op_timeout)
            .field("local_copies", &self.local_copies)
            .finish()
    }
}

impl CacheConfig {
    /// `PATRON_REDIS_URL`, `PATRON_CACHE_PREFIX`, `PATRON_CACHE_TTL_SECS`,
    /// `PATRON_CACHE_TIMEOUT_MS`, `PATRON_CACHE_LOCAL_COPIES` (`true`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            url: config::env_or("PATRON_REDIS_URL", "redis://127.0.0.1:6379"),
            key_prefix: config::env_or("PATRON_CACHE_PREFIX", "patron"),
            ttl: config::env_secs("PATRON_CACHE_TTL_SECS", Duration::from_secs(300))?,
            op_timeout: config::env_millis("PATRON_CACHE_TIMEOUT_MS", Duration::from_millis(250))?,
            local_copies: config::env_parse("PATRON_CACHE_LOCAL_COPIES", true)?,
        })
    }
}

/// Whether a read was served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from this process's coherent copy, without asking Redis.
    Local,
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
    /// `<prefix>:cache:`, the start of every key.
    prefix: String,
    ttl: Duration,
    op_timeout: Duration,
    available: AtomicBool,
    /// An invalidation could not reach Redis since the last epoch bump.
    missed: AtomicBool,
    /// Reads by outcome, for the hit ratio.
    outcomes: CacheOutcomes,
    /// This process's copies, when kept.
    near: Option<Arc<Near>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.prefix)
            .field("available", &self.is_available())
            .field("local_copies", &self.inner.near.as_ref().map(|n| n.len()))
            .finish()
    }
}

impl Cache {
    /// A cache that connects on first use; a bad URL leaves it permanently
    /// bypassed (and logged) rather than failing the service. Call it inside
    /// the Tokio runtime, whose reactor the connection uses.
    pub fn new(config: &CacheConfig) -> Self {
        Self::measured(config, CacheOutcomes::default())
    }

    /// As [`Cache::new`], counting each read's outcome in `outcomes`.
    pub fn measured(config: &CacheConfig, outcomes: CacheOutcomes) -> Self {
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
        let prefix = keys_prefix(&config.key_prefix);
        let near = if config.local_copies && connection.is_some() {
            near::start(&config.url, prefix.clone(), epoch_key(&prefix), config.ttl)
        } else {
            None
        };
        Self {
            inner: Arc::new(Inner {
                near,
                available: AtomicBool::new(connection.is_some()),
                missed: AtomicBool::new(false),
                connection,
                prefix,
                ttl: config.ttl,
                op_timeout: config.op_timeout,
                outcomes,
            }),
        }
    }

    /// `<prefix>:cache:<area>:<version>:<id>`: every key of the cache under
    /// `<prefix>:cache:`, which is what the change reports cover (the event
    /// streams' keys, `<prefix>:events:`, are not).
    pub fn key(&self, area: &str, version: &str, id: &str) -> String {
        format!("{}{area}:{version}:{id}", self.inner.prefix)
    }

    /// How many local copies (and reservations) this process holds; `None`
    /// when it keeps none.
    pub fn local_copies(&self) -> Option<usize> {
        self.inner.near.as_ref().map(|near| near.len())
    }

    /// Whether local copies are in use: kept, and their change reports
    /// arriving.
    pub fn local_copies_live(&self) -> bool {
        self.inner.near.as_ref().is_some_and(|near| near.is_live())
    }

    /// Whether the cache is in use (the last operation or probe succeeded).
    pub fn is_available(&self) -> bool {
        self.inner.available.load(Ordering::SeqCst)
    }

    fn usable(&self) -> Option<ConnectionManager> {
        if self.is_available() {
            self.inner.connection.clone()
        } else {
            None
        }
    }

    fn mark_failed(&self, op: &str, error: &dyn std::fmt::Display) {
        if self.inner.available.swap(false, Ordering::SeqCst) {
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

    /// Cache-aside read: the cached value, or `load`'s (then cached). `load`
    /// returns the value with the version the store holds, which orders it
    /// against the entries and floors of other readers and writers.
    pub async fn get_or_load<M, E, Fut>(
        &self,
        key: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<(M, CacheOutcome), E>
    where
        M: prost::Message + Default,
        Fut: Future<Output = Result<(M, i64), E>>,
    {
        let was_available = self.is_available();
        let near = self.inner.near.as_deref().filter(|_| was_available);
        if let Some(near) = near
            && let Some(copy) = near.get(key)
        {
            match M::decode(copy) {
                Ok(value) => {
                    self.inner.outcomes.local.inc();
                    return Ok((value, CacheOutcome::Local));
                }
                Err(_) => near.changed(key),
            }
        }
        // Reserved before the read is sent: a change reported after Redis
        // answers must find the reservation (see `near`).
        let ticket = near.and_then(|near| near.reserve(key));
        // The epoch is read before loading: a load begun before an outage's
        // epoch bump must not be cached after it.
        let epoch = match self.read::<M>(key).await {
            Some((_, Some((hit, bytes)))) => {
                if let (Some(near), Some(ticket)) = (near, ticket) {
                    near.keep(key, ticket, bytes);
                }
                self.inner.outcomes.hit.inc();
                return Ok((hit, CacheOutcome::Hit));
            }
            Some((epoch, None)) => Some(epoch),
            None => None,
        };
        if let (Some(near), Some(ticket)) = (near, ticket) {
            near.release(key, ticket);
        }
        let (value, version) = load().await?;
        if let Some(epoch) = epoch {
            self.put(key, &value, version, epoch).await;
        }
        let outcome = if was_available && self.is_available() {
            self.inner.outcomes.miss.inc();
            CacheOutcome::Miss
        } else {
            self.inner.outcomes.bypassed.inc();
            CacheOutcome::Bypassed
        };
        Ok((value, outcome))
    }

    /// The current epoch and the value at `key` (with its bytes) if it was
    /// cached under it; `None` when Redis is not in use. An entry that no
    /// longer decodes is dropped and counts as a miss.
    async fn read<M: prost::Message + Default>(
        &self,
        key: &str,
    ) -> Option<(i64, Option<(M, Bytes)>)> {
        let epoch_key = self.epoch_key();
        let (epoch, bytes): (i64, Option<Vec<u8>>) = self
            .run("GET", |mut c| async move {
                READ.key(key).key(epoch_key).invoke_async(&mut c).await
            })
            .await?;
        let Some(bytes) = bytes else {
            return Some((epoch, None));
        };
        let bytes = Bytes::from(bytes);
        match M::decode(bytes.clone()) {
            Ok(m) => Some((epoch, Some((m, bytes)))),
            Err(e) => {
                tracing::warn!(key, error = %e, "dropping a cache entry that does not decode");
                self.run("DEL", |mut c| async move { c.del::<_, ()>(key).await })
                    .await;
                Some((epoch, None))
            }
        }
    }

    /// Stores `value`, `version` of its record as read under `epoch`, unless
    /// the epoch moved on, a floor forbids it or the entry holds as new.
    async fn put<M: prost::Message>(&self, key: &str, value: &M, version: i64, epoch: i64) {
        let ttl = jittered(self.inner.ttl).as_millis().max(1) as u64;
        let keys = [key.to_owned(), floor_key(key), self.epoch_key()];
        let bytes = value.encode_to_vec();
        let stored: Option<bool> = self
            .run("SET", |mut c| async move {
                PUT.key(&keys)
                    .arg(version)
                    .arg(epoch)
                    .arg(bytes)
                    .arg(ttl)
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        if stored == Some(false) {
            tracing::debug!(key, version, "a put older than the cache's was refused");
        }
    }

    /// Drops `key` and refuses puts older than `version`, the record's
    /// version after the write; call after the write's transaction has
    /// committed. When Redis cannot be reached the miss is noted, and the
    /// cache resumes only after bumping the epoch.
    pub async fn invalidate(&self, key: &str, version: i64) {
        let ttl = self.inner.ttl.as_millis().max(1) as u64;
        let keys = [key.to_owned(), floor_key(key)];
        let done: Option<()> = self
            .run("DEL", |mut c| async move {
                INVALIDATE
                    .key(&keys)
                    .arg(version)
                    .arg(ttl)
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        // This process's copy goes now, not when Redis's report arrives: the
        // writer's next read must see its write.
        if let Some(near) = &self.inner.near {
            near.changed(key);
        }
        if done.is_none() {
            // Noted before marking down, so that a probe resuming meanwhile
            // either bumps for this miss or is undone here (see `probe`).
            self.inner.missed.store(true, Ordering::SeqCst);
            self.inner.available.store(false, Ordering::SeqCst);
        }
    }

    /// Asks Redis whether it is there, and resumes caching if it is, after
    /// bumping the epoch when an invalidation was missed meanwhile.
    pub async fn probe(&self) -> bool {
        let Some(conn) = self.inner.connection.clone() else {
            return false;
        };
        let ok = self.ping(conn.clone()).await && self.bump_epoch_if_missed(conn).await;
        let was = self.inner.available.swap(ok, Ordering::SeqCst);
        // A write that missed after the bump either marks the cache down
        // after this swap, or its note is seen here.
        if ok && self.inner.missed.load(Ordering::SeqCst) {
            self.inner.available.store(false, Ordering::SeqCst);
            return false;
        }
        if ok && !was {
            tracing::info!("Redis is back; caching resumes");
        } else if !ok && was {
            tracing::warn!("Redis does not answer; serving from Postgres");
        }
        ok
    }

    async fn ping(&self, mut conn: ConnectionManager) -> bool {
        let limit = self.inner.op_timeout.max(Duration::from_millis(500));
        tokio::time::timeout(limit, redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Moves every replica off the entries cached before a missed
    /// invalidation; false when the bump could not be made.
    async fn bump_epoch_if_missed(&self, mut conn: ConnectionManager) -> bool {
        if !self.inner.missed.swap(false, Ordering::SeqCst) {
            return true;
        }
        let bump = conn.incr::<_, _, i64>(self.epoch_key(), 1);
        match tokio::time::timeout(self.inner.op_timeout, bump).await {
            Ok(Ok(epoch)) => {
                if let Some(near) = &self.inner.near {
                    near.forget_all();
                }
                tracing::info!(
                    epoch,
                    "an invalidation was missed; entries cached before are ignored"
                );
                true
            }
            _ => {
                self.inner.missed.store(true, Ordering::SeqCst);
                false
            }
        }
    }

    fn epoch_key(&self) -> String {
        epoch_key(&self.inner.prefix)
    }
}

/// `<prefix>:cache:`, under which every key of the cache lives.
fn keys_prefix(key_prefix: &str) -> String {
    format!("{key_prefix}:cache:")
}

/// The epoch's key among the keys under `prefix` (a [`keys_prefix`]).
fn epoch_key(prefix: &str) -> String {
    format!("{prefix}epoch")
}

fn floor_key(key: &str) -> String {
    format!("{key}:floor")
}

/// KEYS: entry, epoch. The current epoch, and the entry's bytes if it was
/// cached under it (anything else there, such as an older format, is a miss).
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = redis.call('GET', KEYS[1])
if held then
  local e, rest = string.match(held, '^%d+:(%d+):()')
  if e and tonumber(e) == epoch then return {epoch, string.sub(held, rest)} end
end
return {epoch, false}
",
    )
});

/// KEYS: entry, floor, epoch; ARGV: version, epoch read under, bytes, TTL in
/// ms. 1 when stored, 0 when refused.
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = tonumber(ARGV[1])
local epoch = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[2]) ~= epoch then return 0 end
if v < tonumber(redis.call('GET', KEYS[2]) or ARGV[1]) then return 0 end
local held = redis.call('GET', KEYS[1])
if held then
  local hv, he = string.match(held, '^(%d+):(%d+):')
  if he and tonumber(he) == epoch and tonumber(hv) >= v then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3], 'PX', ARGV[4])
return 1
",
    )
});

/// KEYS: entry, floor; ARGV: the version written, the floor's TTL in ms.
/// The floor only rises.
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) > floor then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
",
    )
});

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
            local_copies: true,
        });
        assert_eq!(
            cache.key("profile", "v1", "abc"),
            "patron:cache:profile:v1:abc"
        );
    }

    use patron_proto::profile::v1::Customer;
    use std::convert::Infallible;

    /// A cache on the tests' Redis under a prefix of its own.
    fn test_config() -> CacheConfig {
        CacheConfig {
            url: config::env_or("PATRON_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
            key_prefix: format!("patron-test-{}", uuid::Uuid::new_v4().simple()),
            ttl: Duration::from_secs(60),
            op_timeout: Duration::from_millis(500),
            local_copies: true,
        }
    }

    fn named(name: &str) -> Customer {
        Customer {
            display_name: name.into(),
            ..Default::default()
        }
    }

    async fn loaded(name: &str, version: i64) -> Result<(Customer, i64), Infallible> {
        Ok((named(name), version))
    }

    /// What `cache` answers for `key`, loading `fallback` on a miss.
    async fn read(cache: &Cache, key: &str, fallback: (&str, i64)) -> (String, CacheOutcome) {
        let (c, outcome) = cache
            .get_or_load(key, || loaded(fallback.0, fallback.1))
            .await
            .unwrap();
        (c.display_name, outcome)
    }

    #[tokio::test]
    async fn a_put_older_than_an_invalidation_is_refused() {
        let cache = Cache::new(&test_config());
        let key = cache.key("t", "v1", "race");
        // The reader misses and loads version 1; before it puts, a writer
        // commits version 2 and invalidates.
        let (first, _) = cache
            .get_or_load(&key, || async {
                cache.invalidate(&key, 2).await;
                loaded("one", 1).await
            })
            .await
            .unwrap();
        assert_eq!(
            first.display_name, "one",
            "the reader still gets what it loaded"
        );
        assert_eq!(
            read(&cache, &key, ("two", 2)).await,
            ("two".into(), CacheOutcome::Miss),
            "version 1 was not put back"
        );
        assert_eq!(
            read(&cache, &key, ("unused", 2)).await,
            ("two".into(), CacheOutcome::Hit)
        );
    }

    #[tokio::test]
    async fn an_older_version_never_replaces_a_newer_one() {
        let cache = Cache::new(&test_config());
        let key = cache.key("t", "v1", "order");
        // A slow reader of version 1 puts after a quick reader of version 2.
        cache
            .get_or_load(&key, || async {
                read(&cache, &key, ("two", 2)).await;
                loaded("one", 1).await
            })
            .await
            .unwrap();
        assert_eq!(
            read(&cache, &key, ("unused", 2)).await,
            ("two".into(), CacheOutcome::Hit)
        );
    }

    #[tokio::test]
    async fn a_write_missed_while_redis_was_down_is_not_served_once_it_is_back() {
        let config = test_config();
        // Two replicas; only the writer notices the outage.
        let (writer, reader) = (Cache::new(&config), Cache::new(&config));
        let key = writer.key("t", "v1", "outage");
        assert_eq!(
            read(&reader, &key, ("one", 1)).await,
            ("one".into(), CacheOutcome::Miss)
        );
        writer.inner.available.store(false, Ordering::SeqCst);
        writer.invalidate(&key, 2).await;
        assert!(!writer.is_available());
        assert!(writer.probe().await, "Redis is back");
        assert_eq!(
            read(&reader, &key, ("two", 2)).await,
            ("two".into(), CacheOutcome::Miss),
            "the replica that never saw the outage drops version 1"
        );
        assert_eq!(
            read(&writer, &key, ("unused", 2)).await,
            ("two".into(), CacheOutcome::Hit)
        );
    }

    #[tokio::test]
    async fn a_load_begun_before_an_outage_is_not_cached_after_it() {
        let config = test_config();
        let (writer, reader) = (Cache::new(&config), Cache::new(&config));
        let key = writer.key("t", "v1", "straddle");
        // The reader loads version 1 while the writer, cut off, writes
        // version 2 and then finds Redis back.
        reader
            .get_or_load(&key, || async {
                writer.inner.available.store(false, Ordering::SeqCst);
                writer.invalidate(&key, 2).await;
                assert!(writer.probe().await);
                loaded("one", 1).await
            })
            .await
            .unwrap();
        assert_eq!(
            read(&reader, &key, ("two", 2)).await,
            ("two".into(), CacheOutcome::Miss)
        );
    }

    /// Waits (boundedly) until `cache`'s change reports are subscribed.
    async fn until_local_copies_live(cache: &Cache) {
        for _ in 0..100 {
            if cache.local_copies_live() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the tracking connection never subscribed");
    }

    /// Reads `key` until it is no longer served from the local copy (Redis's
    /// report is asynchronous); what the first other read answered.
    async fn until_not_local(
        cache: &Cache,
        key: &str,
        fallback: (&str, i64),
    ) -> (String, CacheOutcome) {
        for _ in 0..100 {
            let read = read(cache, key, fallback).await;
            if read.1 != CacheOutcome::Local {
                return read;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the local copy of {key} was never dropped");
    }

    /// Reads `key` until this process holds its copy: a miss that loads
    /// `value`, a hit that is kept, then a read served locally.
    async fn copy_held(cache: &Cache, key: &str, value: &str) {
        read(cache, key, (value, 1)).await;
        read(cache, key, ("unused", 1)).await;
        assert_eq!(
            read(cache, key, ("unused", 1)).await,
            (value.into(), CacheOutcome::Local)
        );
    }

    #[tokio::test]
    async fn a_hit_is_kept_locally_until_another_replica_changes_it() {
        let config = test_config();
        let (reader, writer) = (Cache::new(&config), Cache::new(&config));
        until_local_copies_live(&reader).await;
        let key = reader.key("t", "v1", "near");
        assert_eq!(read(&reader, &key, ("one", 1)).await.1, CacheOutcome::Miss);
        assert_eq!(
            read(&reader, &key, ("unused", 1)).await.1,
            CacheOutcome::Hit
        );
        assert_eq!(
            read(&reader, &key, ("unused", 1)).await,
            ("one".into(), CacheOutcome::Local),
            "the hit was kept; no round trip now"
        );
        writer.invalidate(&key, 2).await;
        assert_eq!(
            until_not_local(&reader, &key, ("two", 2)).await,
            ("two".into(), CacheOutcome::Miss),
            "Redis reported the change and the copy went"
        );
    }

    #[tokio::test]
    async fn the_writing_replica_drops_its_copy_before_its_write_returns() {
        let cache = Cache::new(&test_config());
        until_local_copies_live(&cache).await;
        let key = cache.key("t", "v1", "own");
        copy_held(&cache, &key, "one").await;
        cache.invalidate(&key, 2).await;
        assert_eq!(
            read(&cache, &key, ("two", 2)).await,
            ("two".into(), CacheOutcome::Miss),
            "no wait for the report"
        );
    }

    #[tokio::test]
    async fn an_epoch_bump_elsewhere_drops_every_local_copy() {
        let config = test_config();
        let (reader, writer) = (Cache::new(&config), Cache::new(&config));
        until_local_copies_live(&reader).await;
        let key = reader.key("t", "v1", "epoch");
        copy_held(&reader, &key, "one").await;
        // The writer misses an invalidation of another key, then bumps.
        writer.inner.available.store(false, Ordering::SeqCst);
        writer.invalidate(&writer.key("t", "v1", "other"), 2).await;
        assert!(writer.probe().await);
        assert_eq!(
            until_not_local(&reader, &key, ("again", 1)).await,
            ("again".into(), CacheOutcome::Miss),
            "entries of the old epoch are not served, locally or from Redis"
        );
    }

    #[tokio::test]
    async fn a_lost_tracking_connection_turns_local_copies_off_until_it_is_back() {
        let config = test_config();
        let cache = Cache::new(&config);
        until_local_copies_live(&cache).await;
        let key = cache.key("t", "v1", "kill");
        copy_held(&cache, &key, "one").await;
        // Reports sent while the connection is down are lost: kill this
        // cache's tracking connection.
        let mut admin = redis::Client::open(config.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let name = near::connection_name(&keys_prefix(&config.key_prefix));
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut admin)
            .await
            .unwrap();
        let tracking: Vec<&str> = list
            .lines()
            .filter(|line| line.contains(&format!("name={name} ")))
            .filter_map(|line| line.split_whitespace().next()?.strip_prefix("id="))
            .collect();
        assert!(!tracking.is_empty(), "{list}");
        for id in tracking {
            redis::cmd("CLIENT")
                .arg(&["KILL", "ID", id][..])
                .query_async::<i64>(&mut admin)
                .await
                .unwrap();
        }
        let dropped = until_not_local(&cache, &key, ("unused", 1)).await;
        assert_eq!(
            dropped,
            ("one".into(), CacheOutcome::Hit),
            "served from Redis meanwhile"
        );
        until_local_copies_live(&cache).await;
        read(&cache, &key, ("unused", 1)).await;
        assert_eq!(
            read(&cache, &key, ("unused", 1)).await.1,
            CacheOutcome::Local,
            "copies resume once subscribed again"
        );
    }

    #[tokio::test]
    async fn local_copies_can_be_turned_off() {
        let cache = Cache::new(&CacheConfig {
            local_copies: false,
            ..test_config()
        });
        let key = cache.key("t", "v1", "off");
        read(&cache, &key, ("one", 1)).await;
        for _ in 0..3 {
            assert_eq!(read(&cache, &key, ("unused", 1)).await.1, CacheOutcome::Hit);
        }
        assert_eq!(cache.local_copies(), None);
    }
}
