//! This process's own copies of the cache entries it reads, kept coherent by
//! Redis: a connection of the process's own asks Redis to report every change
//! of a key under the cache's prefix (`CLIENT TRACKING ON BCAST`, RESP3 push
//! messages), and each report drops the copy. A hit then costs no round trip.
//!
//! Two rules keep a copy from outliving a change:
//!
//! - **Copies are trusted only while the tracking connection is subscribed.**
//!   When it drops, or stops answering its ping, every copy is forgotten and
//!   none is kept until it has subscribed again (a report sent meanwhile is
//!   lost, so nothing read before can be trusted).
//! - **A copy is kept only if no report of its key came between the read and
//!   the keeping.** A slot is reserved before the read is sent; a report of the
//!   key removes whatever the slot holds, and the copy is kept only into the
//!   slot it reserved. A change made after Redis answered the read is reported
//!   after the reservation, so it either finds the slot (and empties it) or
//!   finds the copy (and drops it).
//!
//! Copies live at most the cache's TTL and there are at most [`CAPACITY`] of
//! them, so memory stays bounded whatever is read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;

/// How many copies a process keeps; past it, expired ones go first, then all.
pub const CAPACITY: usize = 10_000;

/// How often the tracking connection is pinged: a connection that stopped
/// answering cannot be trusted to report changes.
const PING_EVERY: Duration = Duration::from_millis(500);

/// The wait before subscribing again after the connection failed.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The copies and whether they may be used.
pub struct Near {
    state: Mutex<State>,
    ttl: Duration,
}

#[derive(Default)]
struct State {
    /// The tracking connection is subscribed: reports are arriving.
    live: bool,
    next_ticket: u64,
    slots: HashMap<String, Slot>,
}

enum Slot {
    /// A read was sent; its copy may be kept if the slot is still this one.
    Reserved(u64),
    Held {
        bytes: Bytes,
        expires: Instant,
    },
}

/// A reservation for the copy of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl Near {
    /// Copies kept at most `ttl`; none until [`track`] has subscribed.
    pub fn new(ttl: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ttl,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only copies behind.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The copy of `key`, when one is held and may be trusted.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let state = self.state();
        if !state.live {
            return None;
        }
        match state.slots.get(key) {
            Some(Slot::Held { bytes, expires }) if *expires > Instant::now() => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Reserves the slot of `key` before its read is sent; `None` when copies
    /// cannot be trusted now. Readers of the same key share a reservation.
    pub fn reserve(&self, key: &str) -> Option<Ticket> {
        let mut state = self.state();
        if !state.live {
            return None;
        }
        if let Some(Slot::Reserved(ticket)) = state.slots.get(key) {
            return Some(Ticket(*ticket));
        }
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        let now = Instant::now();
        if state.slots.len() >= CAPACITY && !state.slots.contains_key(key) {
            state.slots.retain(|_, slot| match slot {
                Slot::Held { expires, .. } => *expires > now,
                Slot::Reserved(_) => true,
            });
            if state.slots.len() >= CAPACITY {
                state.slots.clear();
            }
        }
        state.slots.insert(key.to_owned(), Slot::Reserved(ticket));
        Some(Ticket(ticket))
    }

    /// Keeps `bytes`, read under `ticket`, unless a change of `key` (or of
    /// the connection) was reported since the reservation.
    pub fn keep(&self, key: &str, ticket: Ticket, bytes: Bytes) {
        let mut state = self.state();
        let expires = Instant::now() + self.ttl;
        if let Some(slot) = state.slots.get_mut(key)
            && matches!(slot, Slot::Reserved(t) if *t == ticket.0)
        {
            *slot = Slot::Held { bytes, expires };
        }
    }

    /// Gives up a reservation that will not be filled (the read missed or
    /// failed), so the slot does not linger.
    pub fn release(&self, key: &str, ticket: Ticket) {
        let mut state = self.state();
        if matches!(state.slots.get(key), Some(Slot::Reserved(t)) if *t == ticket.0) {
            state.slots.remove(key);
        }
    }

    /// Redis reported that `key` changed.
    pub fn changed(&self, key: &str) {
        self.state().slots.remove(key);
    }

    /// Forgets every copy and reservation (the epoch moved, Redis was
    /// flushed).
    pub fn forget_all(&self) {
        self.state().slots.clear();
    }

    /// Whether copies may be used: the tracking connection is subscribed.
    pub fn is_live(&self) -> bool {
        self.state().live
    }

    /// How many copies and reservations are held.
    pub fn len(&self) -> usize {
        self.state().slots.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts or stops trusting copies; either way what was held goes.
    fn set_live(&self, live: bool) {
        let mut state = self.state();
        state.live = live;
        state.slots.clear();
    }
}

/// Keeps `near` coherent for as long as it exists: subscribes a connection of
/// its own to reports of changes under `prefix`, applies them, and forgets
/// everything whenever the connection is lost, subscribing again.
/// `epoch_key`'s change drops every copy.
async fn track(client: redis::Client, prefix: String, epoch_key: String, near: Weak<Near>) {
    let name = connection_name(&prefix);
    let mut subscribed_once = false;
    loop {
        let Some(strong) = near.upgrade() else { return };
        match subscribe(&client, &name, &prefix).await {
            Ok((mut conn, mut reports)) => {
                strong.set_live(true);
                if subscribed_once {
                    tracing::info!("the cache's change reports are back; local copies resume");
                }
                subscribed_once = true;
                drop(strong);
                let why = follow(&mut conn, &mut reports, &epoch_key, &near).await;
                let Some(strong) = near.upgrade() else { return };
                strong.set_live(false);
                tracing::warn!(
                    why,
                    "lost the cache's change reports; local copies are off until they are back"
                );
            }
            Err(error) => {
                tracing::debug!(%error, "could not subscribe to the cache's change reports");
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

type Reports = mpsc::UnboundedReceiver<PushInfo>;

/// The name the tracking connection shows in `CLIENT LIST`:
/// `patron-cache-tracking@<prefix>`, spaces and other characters Redis
/// refuses in a name replaced.
pub fn connection_name(prefix: &str) -> String {
    let shown: String = prefix
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    format!("patron-cache-tracking@{shown}")
}

async fn subscribe(
    client: &redis::Client,
    name: &str,
    prefix: &str,
) -> redis::RedisResult<(redis::aio::MultiplexedConnection, Reports)> {
    let (sender, reports) = mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_push_sender(sender)
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(PING_EVERY));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .query_async::<()>(&mut conn)
        .await?;
    redis::cmd("CLIENT")
        .arg(&["TRACKING", "ON", "BCAST", "PREFIX"][..])
        .arg(prefix)
        .query_async::<()>(&mut conn)
        .await?;
    Ok((conn, reports))
}

/// Applies reports until the connection is lost or `near` is dropped; why
/// it stopped.
async fn follow(
    conn: &mut redis::aio::MultiplexedConnection,
    reports: &mut Reports,
    epoch_key: &str,
    near: &Weak<Near>,
) -> &'static str {
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            report = reports.recv() => {
                let Some(report) = report else { return "the connection closed" };
                let Some(near) = near.upgrade() else { return "the cache was dropped" };
                match report.kind {
                    PushKind::Invalidate => apply(&near, &report.data, epoch_key),
                    PushKind::Disconnection => return "the connection closed",
                    _ => {}
                }
            }
            _ = ping.tick() => {
                if near.strong_count() == 0 {
                    return "the cache was dropped";
                }
                let pong = redis::cmd("PING").query_async::<String>(conn).await;
                if pong.is_err() {
                    return "the connection stopped answering";
                }
            }
        }
    }
}

/// One `invalidate` report: the keys that changed, or nil after a flush.
fn apply(near: &Near, data: &[Value], epoch_key: &str) {
    match data.first() {
        Some(Value::Array(keys)) => {
            for key in keys {
                let Value::BulkString(key) = key else {
                    continue;
                };
                let Ok(key) = std::str::from_utf8(key) else {
                    continue;
                };
                if key == epoch_key {
                    near.forget_all();
                } else {
                    // A floor (`<key>:floor`) changes with its entry, which
                    // is reported too; dropping by either name is harmless.
                    near.changed(key);
                }
            }
        }
        _ => near.forget_all(),
    }
}

/// Copies kept at most `ttl`, coherent with the Redis at `url` for the keys
/// under `prefix`, tracked on the Tokio runtime over a RESP3 connection of
/// their own; `None` when the URL cannot be used (copies then stay off).
pub fn start(url: &str, prefix: String, epoch_key: String, ttl: Duration) -> Option<Arc<Near>> {
    let info = redis::IntoConnectionInfo::into_connection_info(url).ok()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings)).ok()?;
    let near = Arc::new(Near::new(ttl));
    tokio::spawn(track(client, prefix, epoch_key, Arc::downgrade(&near)));
    Some(near)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Near {
        let near = Near::new(Duration::from_secs(60));
        near.set_live(true);
        near
    }

    #[test]
    fn nothing_is_kept_or_served_until_subscribed() {
        let near = Near::new(Duration::from_secs(60));
        assert_eq!(near.reserve("k"), None);
        near.set_live(true);
        let ticket = near.reserve("k").unwrap();
        near.keep("k", ticket, Bytes::from_static(b"v"));
        assert_eq!(near.get("k").as_deref(), Some(&b"v"[..]));
        near.set_live(false);
        assert_eq!(near.get("k"), None, "a lost subscription drops every copy");
        near.set_live(true);
        assert_eq!(near.get("k"), None, "and they do not come back with it");
    }

    #[test]
    fn a_change_reported_between_the_read_and_the_keeping_wins() {
        let near = live();
        let ticket = near.reserve("k").unwrap();
        near.changed("k");
        near.keep("k", ticket, Bytes::from_static(b"old"));
        assert_eq!(near.get("k"), None);
        // A later read reserves anew and is kept.
        let again = near.reserve("k").unwrap();
        assert_ne!(again, ticket);
        near.keep("k", ticket, Bytes::from_static(b"old"));
        assert_eq!(near.get("k"), None, "the old ticket fills nothing");
        near.keep("k", again, Bytes::from_static(b"new"));
        assert_eq!(near.get("k").as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn a_change_reported_after_the_keeping_drops_the_copy() {
        let near = live();
        let ticket = near.reserve("k").unwrap();
        near.keep("k", ticket, Bytes::from_static(b"v"));
        near.changed("k");
        assert_eq!(near.get("k"), None);
    }

    #[test]
    fn concurrent_readers_share_a_reservation_and_the_first_copy_stays() {
        let near = live();
        let first = near.reserve("k").unwrap();
        let second = near.reserve("k").unwrap();
        assert_eq!(first, second);
        near.keep("k", first, Bytes::from_static(b"a"));
        near.keep("k", second, Bytes::from_static(b"b"));
        assert_eq!(near.get("k").as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn an_epoch_change_or_a_flush_drops_everything() {
        let near = live();
        for key in ["a", "b"] {
            let ticket = near.reserve(key).unwrap();
            near.keep(key, ticket, Bytes::from_static(b"v"));
        }
        let report = |keys: Vec<&str>| {
            Value::Array(
                keys.into_iter()
                    .map(|k| Value::BulkString(k.as_bytes().to_vec()))
                    .collect(),
            )
        };
        apply(&near, &[report(vec!["a:floor", "a"])], "p:epoch");
        assert_eq!(near.get("a"), None);
        assert!(near.get("b").is_some());
        apply(&near, &[report(vec!["p:epoch"])], "p:epoch");
        assert!(near.is_empty());
        let ticket = near.reserve("b").unwrap();
        near.keep("b", ticket, Bytes::from_static(b"v"));
        apply(&near, &[Value::Nil], "p:epoch");
        assert!(near.is_empty(), "FLUSHALL is reported as nil");
    }

    #[test]
    fn a_released_reservation_leaves_no_slot() {
        let near = live();
        let ticket = near.reserve("k").unwrap();
        near.release("k", ticket);
        assert!(near.is_empty());
    }

    #[test]
    fn copies_expire_and_the_count_stays_bounded() {
        let near = Near::new(Duration::ZERO);
        near.set_live(true);
        let ticket = near.reserve("k").unwrap();
        near.keep("k", ticket, Bytes::from_static(b"v"));
        assert_eq!(near.get("k"), None, "expired");
        for i in 0..CAPACITY + 10 {
            let key = format!("k{i}");
            let ticket = near.reserve(&key).unwrap();
            near.keep(&key, ticket, Bytes::from_static(b"v"));
        }
        assert!(near.len() <= CAPACITY);
    }
}
