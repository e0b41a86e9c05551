//! Tokens verified already. A client sends the same bearer token with every
//! call until it expires, and verifying it (the header and claims decoded,
//! the signature computed) cost a masked read a seventh of its server time.
//! A token whose exact bytes verified before is answered from here: what
//! verification decided depends only on those bytes, the keys and the time,
//! so an entry keeps the token's expiry, checked on every use, and the keys'
//! generation it verified under (a JWKS fetch starts a new one, so a key the
//! identity provider withdrew stops counting at the next refresh). Refusals
//! are never kept: they take the full path each time.

use std::collections::HashMap;
use std::sync::RwLock;

use super::Caller;

/// At most this many tokens are kept (a few hundred bytes each); past it
/// the expired ones go, and if that is not enough, all of them.
pub(super) const CAPACITY: usize = 4096;

struct Entry {
    caller: Caller,
    /// Expiry, seconds since the epoch.
    exp: i64,
    /// The keys' generation the token verified under.
    generation: u64,
}

#[derive(Default)]
pub(super) struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Entry>>,
}

impl VerifiedTokens {
    /// The caller `token` verified as, if it verified under keys of
    /// `generation` and is not expired at `now` (seconds since the epoch)
    /// give or take `leeway` seconds, as verification itself would judge.
    pub(super) fn get(
        &self,
        token: &str,
        generation: u64,
        now: i64,
        leeway: i64,
    ) -> Option<Caller> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(token)?;
        (entry.generation == generation && entry.exp >= now - leeway).then(|| entry.caller.clone())
    }

    /// Keeps what `token` verified as.
    pub(super) fn put(&self, token: &str, caller: &Caller, exp: i64, generation: u64, now: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(token) {
            entries.retain(|_, e| e.exp >= now && e.generation == generation);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Entry {
                caller: caller.clone(),
                exp,
                generation,
            },
        );
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn caller(subject: &str) -> Caller {
        Caller {
            subject: subject.into(),
            roles: vec!["viewer".into()],
            permissions: Default::default(),
            token: Secret::new("t"),
        }
    }

    #[test]
    fn a_kept_token_counts_until_its_expiry_and_the_leeway_pass() {
        let kept = VerifiedTokens::default();
        kept.put("tok", &caller("alice"), 1_000, 0, 900);
        assert_eq!(kept.get("tok", 0, 1_000, 0).unwrap().subject, "alice");
        assert!(kept.get("tok", 0, 1_001, 0).is_none());
        assert!(kept.get("tok", 0, 1_030, 30).is_some());
        assert!(kept.get("tok", 0, 1_031, 30).is_none());
        assert!(kept.get("other", 0, 900, 0).is_none());
    }

    #[test]
    fn new_keys_forget_what_the_old_ones_verified() {
        let kept = VerifiedTokens::default();
        kept.put("tok", &caller("alice"), 1_000, 3, 900);
        assert!(kept.get("tok", 3, 900, 0).is_some());
        assert!(kept.get("tok", 4, 900, 0).is_none());
    }

    #[test]
    fn a_full_cache_drops_the_expired_first_then_everything() {
        let kept = VerifiedTokens::default();
        for i in 0..CAPACITY {
            // Every other token expired by t = 500.
            let exp = if i % 2 == 0 { 100 } else { 1_000 };
            kept.put(&format!("t{i}"), &caller("x"), exp, 0, 0);
        }
        assert_eq!(kept.len(), CAPACITY);
        kept.put("new", &caller("y"), 1_000, 0, 500);
        assert_eq!(kept.len(), CAPACITY / 2 + 1);
        assert!(kept.get("t1", 0, 500, 0).is_some());
        assert!(kept.get("new", 0, 500, 0).is_some());

        let full = VerifiedTokens::default();
        for i in 0..CAPACITY {
            full.put(&format!("t{i}"), &caller("x"), 1_000, 0, 0);
        }
        full.put("new", &caller("y"), 1_000, 0, 500);
        assert_eq!(full.len(), 1);
    }
}
