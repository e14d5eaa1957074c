//! The directory cache of the request hot path.
//!
//! # Contract
//!
//! - [`DirectoryCache::cached`] never touches the database and never waits:
//!   `Some` is the answer, `None` a miss.
//! - On a miss the caller either treats the request as undecidable (deny) or
//!   awaits [`DirectoryCache::get_or_load`], which asks the store with a hard
//!   time bound (default 500 ms). An unanswerable question — database error,
//!   closed pool, timeout — is an `Err`, and the caller turns it into a deny
//!   (DESIGN.md: fail closed). A user the directory does not know is *not* an
//!   error: it is `Ok` with `user_exists: false`, and is cached like any answer.
//! - Entries live for a short TTL (default 4 s); events that change a user
//!   (block, group change, assignment revoked) call
//!   [`DirectoryCache::invalidate_user`] so this replica sees the change at
//!   once. Other replicas see it within the TTL.
//! - Assignment liveness is never cached: an entry holds the assignment's end,
//!   and `assigned_live` is worked out against the `now` of each read, so a
//!   time-limited assignment that ends while cached is denied from that second.
//!
//! Entries are keyed by user id, not by (user, app): one load answers every
//! app of the user (assignments are few), a lookup borrows the id without
//! allocating, and `invalidate_user` removes exactly one key instead of
//! scanning for the user's pairs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use time::OffsetDateTime;

use super::{DirectoryFacts, DirectoryUser, Store, StoreError};

/// Settings of [`DirectoryCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectoryCacheConfig {
    /// How long a loaded entry answers without asking the store again.
    /// The longest a change made on another replica goes unseen. Default
    /// 4 s, so that with the request itself a change is in force everywhere
    /// within the 5 s the replicas promise (measured: 4.1 s end to end).
    pub ttl: Duration,
    /// Most users held; the least recently used go first. Default 100 000.
    pub max_users: u64,
    /// Bound on one store load on the request path. Default 500 ms.
    pub load_timeout: Duration,
}

impl Default for DirectoryCacheConfig {
    fn default() -> Self {
        DirectoryCacheConfig {
            ttl: Duration::from_secs(4),
            max_users: 100_000,
            load_timeout: Duration::from_millis(500),
        }
    }
}

/// Cached directory facts for the request path. Cheap to clone; clones share
/// the entries.
#[derive(Clone)]
pub struct DirectoryCache {
    store: Store,
    /// `None` values remember that a user id is unknown.
    entries: Cache<String, Option<Arc<DirectoryUser>>>,
    /// Bumped by every invalidation. A load that overlaps one must not store
    /// what it read: the data may predate the change (a guest blocked while
    /// their entry was being loaded would otherwise be cached as active).
    epoch: Arc<AtomicU64>,
    load_timeout: Duration,
}

impl std::fmt::Debug for DirectoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryCache")
            .field("entries", &self.entries.entry_count())
            .field("load_timeout", &self.load_timeout)
            .finish_non_exhaustive()
    }
}

impl DirectoryCache {
    /// An empty cache in front of `store`.
    pub fn new(store: Store, config: DirectoryCacheConfig) -> Self {
        DirectoryCache {
            store,
            entries: Cache::builder()
                .name("portcullis-directory")
                .max_capacity(config.max_users)
                .time_to_live(config.ttl)
                .build(),
            epoch: Arc::new(AtomicU64::new(0)),
            load_timeout: config.load_timeout,
        }
    }

    /// The facts for `user_id` and `app` at `now` if the user's entry is
    /// cached and fresh; `None` on a miss. Never touches the store, never
    /// waits; safe on the hot path.
    pub fn cached(&self, user_id: &str, app: &str, now: OffsetDateTime) -> Option<DirectoryFacts> {
        let user = self.entries.get(user_id)?;
        Some(DirectoryFacts::evaluate(user.as_deref(), app, now))
    }

    /// The cached facts, or else loads the user from the store (bounded by
    /// the load timeout), caches the entry and answers from it.
    ///
    /// `Err` means the question went unanswered (database error, timeout);
    /// the caller must deny. Concurrent misses for one user each load; the
    /// pool size bounds how many run at once.
    pub async fn get_or_load(
        &self,
        user_id: &str,
        app: &str,
        now: OffsetDateTime,
    ) -> Result<DirectoryFacts, StoreError> {
        if let Some(facts) = self.cached(user_id, app, now) {
            return Ok(facts);
        }
        let user = self.load(user_id).await?;
        Ok(DirectoryFacts::evaluate(user.as_deref(), app, now))
    }

    /// Loads the user's entry from the store now and caches it, replacing any
    /// cached one; for event handlers that want the next request to hit.
    /// On `Err` the cache is left as it was.
    pub async fn refresh(&self, user_id: &str) -> Result<(), StoreError> {
        self.load(user_id).await.map(drop)
    }

    /// Drops the user's entry so the next request loads fresh facts, and
    /// makes loads already under way not cache what they read. Call after any
    /// change to the user, their groups or their assignments.
    pub fn invalidate_user(&self, user_id: &str) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(user_id);
    }

    /// Drops every entry (e.g. after a bulk import).
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    async fn load(&self, user_id: &str) -> Result<Option<Arc<DirectoryUser>>, StoreError> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let user = tokio::time::timeout(self.load_timeout, self.store.directory_user(user_id))
            .await
            .map_err(|_| StoreError::Timeout {
                op: "directory_user",
                after: self.load_timeout,
            })??
            .map(Arc::new);
        if self.epoch.load(Ordering::SeqCst) == epoch {
            self.entries.insert(user_id.to_owned(), user.clone());
            // An invalidation between the check and the insert bumped the
            // epoch before removing; seeing it now, undo our insert.
            if self.epoch.load(Ordering::SeqCst) != epoch {
                self.entries.invalidate(user_id);
            }
        }
        Ok(user)
    }
}
