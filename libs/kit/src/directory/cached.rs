//! What a caller's reach is decided by, kept in the process: each staff
//! member's unit ([`ReachCache`]), and for a service that needs more (a
//! customer's placement, say) any value by key ([`Fresh`]). A unit-scoped
//! role needs these on every call, and they change seldom, so a read need
//! not cost a database round trip.
//!
//! An entry is trusted for a stated bound ([`FRESHNESS`]) and no longer: a
//! change made elsewhere (another replica, or an event this process has not
//! applied yet) takes effect within it. A change this process makes, or a
//! directory event it applies, is forgotten at once ([`ReachCache::forget`]);
//! a load that began before the forgetting is not kept after it.
//!
//! Expiry runs on a monotonic clock, not the kit's business clock: a test's
//! fixed "now" must not freeze the cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool};

use super::apply::ProfileFact;
use super::store;
use crate::auth::Caller;
use crate::error::ServiceError;
use patron_vocab::Reach;

/// How long a cached staff unit or unit path is trusted.
pub const FRESHNESS: Duration = Duration::from_secs(1);

/// How many entries each part keeps; past it, expired ones go first, then
/// all (the next reads load again).
pub const CAPACITY: usize = 10_000;

/// Where the cache reads the time.
pub type Now = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Values by key, each trusted for a bound from when it was read; at most
/// [`CAPACITY`] of them. Clones share the entries.
pub struct Fresh<V> {
    inner: Arc<Entries<V>>,
}

impl<V> Clone for Fresh<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Entries<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    /// Counts forgettings, so a load that straddles one is not kept.
    generation: AtomicU64,
    bound: Duration,
    now: Now,
}

impl<V: Clone> Fresh<V> {
    /// Entries trusted for `bound`.
    pub fn new(bound: Duration) -> Self {
        Self::with_clock(bound, Arc::new(Instant::now))
    }

    /// As [`new`](Self::new), reading the time from `now` (tests move it).
    pub fn with_clock(bound: Duration, now: Now) -> Self {
        Self {
            inner: Arc::new(Entries {
                entries: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                bound,
                now,
            }),
        }
    }

    /// How long an entry is trusted.
    pub fn bound(&self) -> Duration {
        self.inner.bound
    }

    /// The value at `key`: cached, or read by `load` and kept for the bound.
    pub async fn get_or_load<E, Fut>(&self, key: &str, load: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let started = (self.inner.now)();
        if let Some(value) = self.get(key, started) {
            return Ok(value);
        }
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let value = load().await?;
        // The bound counts from before the load: what was read may be as
        // old as the moment it started.
        self.put(key, value.clone(), generation, started);
        Ok(value)
    }

    /// Drops `key`; a load begun before is not kept.
    pub fn forget(&self, key: &str) {
        let mut entries = self.entries();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(key);
    }

    /// Drops everything; loads begun before are not kept.
    pub fn clear(&self) {
        let mut entries = self.entries();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// How many entries are held, expired ones included.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (V, Instant)>> {
        // A panic while holding the lock leaves only a map of copies.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &str, now: Instant) -> Option<V> {
        let entries = self.entries();
        entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` for the bound from `read_at`, unless something was
    /// forgotten since `generation` was read (it may predate that change).
    fn put(&self, key: &str, value: V, generation: u64, read_at: Instant) {
        let now = (self.inner.now)();
        let mut entries = self.entries();
        if self.inner.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= CAPACITY && !entries.contains_key(key) {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (value, read_at + self.inner.bound));
    }
}

/// Where staff sit, each trusted for the bound. Clones share the entries: a
/// service holds one, its API and its event handler both use it.
#[derive(Clone)]
pub struct ReachCache {
    /// Staff id → their unit; `None` when the directory does not know them.
    staff_units: Fresh<Option<String>>,
}

impl Default for ReachCache {
    fn default() -> Self {
        Self::new(FRESHNESS)
    }
}

impl std::fmt::Debug for ReachCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReachCache")
            .field("bound", &self.bound())
            .field("staff_units", &self.staff_units.len())
            .finish()
    }
}

impl ReachCache {
    /// Entries trusted for `bound`.
    pub fn new(bound: Duration) -> Self {
        Self::with_clock(bound, Arc::new(Instant::now))
    }

    /// As [`new`](Self::new), reading the time from `now` (tests move it).
    pub fn with_clock(bound: Duration, now: Now) -> Self {
        Self {
            staff_units: Fresh::with_clock(bound, now),
        }
    }

    /// How long an entry is trusted: how late a change made elsewhere may
    /// take effect here.
    pub fn bound(&self) -> Duration {
        self.staff_units.bound()
    }

    /// The unit `staff` sits in: cached, or read by `load` and kept.
    pub async fn staff_unit<E, Fut>(
        &self,
        staff: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<String>, E>
    where
        Fut: Future<Output = Result<Option<String>, E>>,
    {
        self.staff_units.get_or_load(staff, load).await
    }

    /// The caller's reach from their roles and their unit, which `load`
    /// reads (only when a role needs it and it is not cached).
    pub async fn reach<E, Fut>(
        &self,
        caller: &Caller,
        load: impl FnOnce() -> Fut,
    ) -> Result<Reach, E>
    where
        Fut: Future<Output = Result<Option<String>, E>>,
    {
        self.reach_by(&caller.roles, &caller.subject, load).await
    }

    async fn reach_by<E, Fut>(
        &self,
        roles: &[String],
        subject: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<Reach, E>
    where
        Fut: Future<Output = Result<Option<String>, E>>,
    {
        let unit = if Reach::needs_directory(roles) {
            self.staff_unit(subject, load).await?
        } else {
            None
        };
        Ok(Reach::of(roles, subject, unit))
    }

    /// [`store::reach_of`], the same answer, reading the projection only
    /// when the caller's unit is not cached.
    pub async fn reach_of(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
    ) -> Result<Reach, ServiceError> {
        self.reach(caller, || store::staff_unit(conn, &caller.subject))
            .await
    }

    /// As [`reach_of`](Self::reach_of), taking a connection from `pool`
    /// only when the caller's unit must be read.
    pub async fn reach_in(&self, pool: &PgPool, caller: &Caller) -> Result<Reach, ServiceError> {
        self.reach(caller, || async {
            let mut conn = pool.acquire().await?;
            store::staff_unit(&mut conn, &caller.subject).await
        })
        .await
    }

    /// Forgets where `staff` sits (they moved, joined or left).
    pub fn forget_staff(&self, staff: &str) {
        self.staff_units.forget(staff);
    }

    /// Forgets what an applied directory event changes.
    pub fn forget(&self, fact: &ProfileFact) {
        if let Some(staff) = fact.staff() {
            self.forget_staff(staff);
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.staff_units.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::atomic::AtomicUsize;

    /// A clock the test moves by hand.
    fn manual_clock() -> (Now, Arc<Mutex<Instant>>) {
        let at = Arc::new(Mutex::new(Instant::now()));
        let read = at.clone();
        (Arc::new(move || *read.lock().unwrap()), at)
    }

    fn advance(clock: &Arc<Mutex<Instant>>, by: Duration) {
        *clock.lock().unwrap() += by;
    }

    /// A caller: their staff id and one role.
    struct Who(&'static str, Vec<String>);

    fn caller(subject: &'static str, role: &str) -> Who {
        Who(subject, vec![role.to_owned()])
    }

    impl ReachCache {
        async fn reach_of_who<Fut>(&self, who: &Who, load: impl FnOnce() -> Fut) -> Reach
        where
            Fut: Future<Output = Result<Option<String>, Infallible>>,
        {
            self.reach_by(&who.1, who.0, load).await.unwrap()
        }
    }

    /// A directory the test edits, counting reads.
    #[derive(Default)]
    struct Directory {
        unit: Mutex<Option<String>>,
        reads: AtomicUsize,
    }

    impl Directory {
        async fn unit_of(&self) -> Result<Option<String>, Infallible> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.unit.lock().unwrap().clone())
        }

        fn place(&self, unit: &str) {
            *self.unit.lock().unwrap() = Some(unit.to_owned());
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_staff_unit_is_read_once_within_the_bound_and_again_after_it() {
        let (now, clock) = manual_clock();
        let cache = ReachCache::with_clock(Duration::from_secs(1), now);
        let directory = Directory::default();
        directory.place("east");
        let zhao = caller("zhao", "supervisor");
        let reach = cache.reach_of_who(&zhao, || directory.unit_of()).await;
        assert_eq!(reach.unit(), Some("east"));
        directory.place("west");
        advance(&clock, Duration::from_millis(999));
        let reach = cache.reach_of_who(&zhao, || directory.unit_of()).await;
        assert_eq!(reach.unit(), Some("east"), "still within the bound");
        assert_eq!(directory.reads(), 1);
        advance(&clock, Duration::from_millis(1));
        let reach = cache.reach_of_who(&zhao, || directory.unit_of()).await;
        assert_eq!(reach.unit(), Some("west"), "the bound ran out");
        assert_eq!(directory.reads(), 2);
    }

    #[tokio::test]
    async fn a_forgotten_staff_member_is_read_again_at_once() {
        let (now, _clock) = manual_clock();
        let cache = ReachCache::with_clock(Duration::from_secs(60), now);
        let directory = Directory::default();
        let zhao = caller("zhao", "viewer");
        let reach = cache.reach_of_who(&zhao, || directory.unit_of()).await;
        assert_eq!(reach.unit(), None, "not in the directory yet");
        directory.place("east");
        cache.forget(&ProfileFact::Staff {
            staff: "zhao".into(),
            unit: Some("east".into()),
            unit_path: vec!["company".into(), "east".into()],
            version: 2,
        });
        let reach = cache.reach_of_who(&zhao, || directory.unit_of()).await;
        assert_eq!(reach.unit(), Some("east"));
        assert_eq!(directory.reads(), 2);
    }

    #[tokio::test]
    async fn a_load_that_straddles_a_forgetting_is_not_kept() {
        let (now, _clock) = manual_clock();
        let cache = ReachCache::with_clock(Duration::from_secs(60), now);
        let directory = Directory::default();
        directory.place("east");
        let zhao = caller("zhao", "supervisor");
        let reach = cache
            .reach_of_who(&zhao, || async {
                let read = directory.unit_of().await;
                // The move commits and is forgotten after the read.
                directory.place("west");
                cache.forget_staff("zhao");
                read
            })
            .await;
        assert_eq!(reach.unit(), Some("east"), "the caller gets what it read");
        let reach = cache.reach_of_who(&zhao, || directory.unit_of()).await;
        assert_eq!(reach.unit(), Some("west"), "but it was not kept");
    }

    #[tokio::test]
    async fn roles_that_need_no_directory_read_none() {
        let cache = ReachCache::default();
        let directory = Directory::default();
        for role in ["admin", "account_manager"] {
            cache
                .reach_of_who(&caller("li", role), || directory.unit_of())
                .await;
        }
        assert_eq!(directory.reads(), 0);
    }

    #[tokio::test]
    async fn any_value_expires_after_the_bound_and_is_forgotten_at_once() {
        let (now, clock) = manual_clock();
        let paths: Fresh<Vec<String>> = Fresh::with_clock(Duration::from_secs(1), now);
        let reads = AtomicUsize::new(0);
        let load = |path: &'static [&'static str]| {
            reads.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Infallible>(path.iter().map(|s| s.to_string()).collect()) }
        };
        let path = paths
            .get_or_load("sh", || load(&["company", "east", "sh"]))
            .await
            .unwrap();
        assert_eq!(path, ["company", "east", "sh"]);
        paths.get_or_load("sh", || load(&[])).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        paths.forget("sh");
        let path = paths
            .get_or_load("sh", || load(&["company", "west", "sh"]))
            .await
            .unwrap();
        assert_eq!(path, ["company", "west", "sh"]);
        advance(&clock, Duration::from_secs(1));
        assert!(
            paths
                .get_or_load("sh", || load(&[]))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn it_stays_within_its_capacity() {
        let cache = ReachCache::default();
        for i in 0..CAPACITY + 10 {
            cache
                .staff_unit(&format!("s{i}"), || async { Ok::<_, Infallible>(None) })
                .await
                .unwrap();
        }
        assert!(cache.staff_units.len() <= CAPACITY);
    }
}
