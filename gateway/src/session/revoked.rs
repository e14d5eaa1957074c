//! The local set of revoked session ids, checked on every request after the
//! session cookie was verified (or served from the verified-token cache).
//!
//! Revocations are written to the store (sign-out, "revoke all sessions of a
//! user", admin action) and reach every replica through a background poll of
//! [`crate::store::Store::revocations_since`] (`replica_sync`). The request
//! path only reads this set: it never waits on the store.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default bound on the number of revoked sessions kept in memory: about
/// 80 MiB at most (a sid is 22 bytes). Entries leave when their session
/// would have expired, so the set holds the sign-outs of one session
/// lifetime (7 days); a million is far above that for any organisation
/// this gateway serves.
pub const DEFAULT_REVOKED_CAPACITY: usize = 1_000_000;

/// Revoked session ids, each kept until the session it ends would have
/// expired anyway (its `exp` plus the verifier's clock-skew leeway).
///
/// Bounded by `capacity`. When full, the entries closest to their expiry
/// are dropped first and [`RevokedSessions::insert`] reports the overflow:
/// such a session would be accepted again for the rest of its life, so the
/// caller logs it loudly. With the default capacity this does not happen in
/// practice.
pub struct RevokedSessions {
    /// sid → Unix second from which the entry is no longer needed.
    inner: RwLock<HashMap<String, i64>>,
    /// `inner.len()`, readable without the lock: an empty set (the usual
    /// case) costs the request path one atomic load.
    len: AtomicUsize,
    capacity: usize,
}

impl std::fmt::Debug for RevokedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokedSessions")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for RevokedSessions {
    fn default() -> Self {
        RevokedSessions::new(DEFAULT_REVOKED_CAPACITY)
    }
}

impl RevokedSessions {
    /// An empty set holding at most `capacity` sids (at least 1).
    pub fn new(capacity: usize) -> Self {
        RevokedSessions {
            inner: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// True when `sid` is revoked. An empty sid is never revoked (bearer
    /// tokens without `jti`). Runs on every signed-in request: one atomic
    /// load when the set is empty, else a read lock and one hash lookup.
    ///
    /// A poisoned lock (a panic while the set was written) answers `true`:
    /// any error while deciding access is a deny.
    pub fn contains(&self, sid: &str) -> bool {
        if sid.is_empty() || self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        match self.inner.read() {
            Ok(set) => set.contains_key(sid),
            Err(_) => true,
        }
    }

    /// Records that `sid` is revoked until `until` (Unix seconds; the
    /// session's `exp` plus leeway). Revoking again keeps the later end.
    /// Returns how many other entries had to be dropped to stay within the
    /// capacity (normally 0).
    pub fn insert(&self, sid: &str, until: i64, now: i64) -> usize {
        self.insert_all(std::iter::once((sid, until)), now)
    }

    /// [`RevokedSessions::insert`] for many entries under one lock.
    pub fn insert_all<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, i64)>,
        now: i64,
    ) -> usize {
        let mut set = match self.inner.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut dropped = 0;
        for (sid, until) in entries {
            if sid.is_empty() || until <= now {
                continue;
            }
            if let Some(old) = set.get_mut(sid) {
                *old = (*old).max(until);
                continue;
            }
            if set.len() >= self.capacity {
                set.retain(|_, u| *u > now);
            }
            if set.len() >= self.capacity {
                // Still full of live revocations: drop the one that ends
                // soonest (it does the least harm). O(n), and only ever
                // reached far beyond any realistic sign-out rate.
                if let Some(victim) = set.iter().min_by_key(|(_, u)| **u).map(|(s, _)| s.clone()) {
                    set.remove(&victim);
                    dropped += 1;
                }
            }
            set.insert(sid.to_string(), until);
        }
        self.len.store(set.len(), Ordering::Release);
        dropped
    }

    /// Forgets entries whose sessions have expired by `now`; returns how
    /// many were removed.
    pub fn prune(&self, now: i64) -> usize {
        let mut set = match self.inner.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let before = set.len();
        set.retain(|_, u| *u > now);
        self.len.store(set.len(), Ordering::Release);
        before - set.len()
    }

    /// Number of revoked sessions held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// True when no session is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_sid_is_found_until_its_end() {
        let set = RevokedSessions::new(10);
        assert!(!set.contains("a"));
        assert_eq!(set.insert("a", 200, 100), 0);
        assert!(set.contains("a"));
        assert!(!set.contains("b"));
        assert!(!set.contains(""), "an empty sid is never revoked");
        assert_eq!(set.prune(199), 0);
        assert!(set.contains("a"));
        assert_eq!(set.prune(200), 1);
        assert!(!set.contains("a"));
        assert!(set.is_empty());
    }

    #[test]
    fn revoking_again_keeps_the_later_end_and_expired_ones_are_ignored() {
        let set = RevokedSessions::new(10);
        set.insert("a", 300, 100);
        set.insert("a", 200, 100);
        set.prune(250);
        assert!(set.contains("a"));
        set.insert("old", 50, 100);
        set.insert("", 500, 100);
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn a_full_set_drops_expired_entries_then_the_one_ending_soonest() {
        let set = RevokedSessions::new(3);
        set.insert_all([("a", 110), ("b", 500), ("c", 400)], 100);
        // "a" has expired by 120: it makes room without losing a live entry.
        assert_eq!(set.insert("d", 600, 120), 0);
        assert!(!set.contains("a"));
        assert_eq!(set.len(), 3);
        // All live: the soonest to end ("c") goes, and that is reported.
        assert_eq!(set.insert("e", 700, 120), 1);
        assert!(!set.contains("c"));
        for sid in ["b", "d", "e"] {
            assert!(set.contains(sid), "{sid}");
        }
    }
}
