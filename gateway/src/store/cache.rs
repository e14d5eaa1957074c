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
//! - **Store outages.** When a reload fails, an entry loaded within
//!   `stale_if_error` (default 5 min) still answers: signed-in users keep
//!   working through a database restart or fail-over, from the last facts
//!   the store gave. A user with no such entry is still an `Err` (deny). For
//!   a second after a failure, stale entries answer without asking the store
//!   again, so an unreachable database costs requests no load timeout each.
//!   This is not a pass on error: the facts are the store's own, at most
//!   `stale_if_error` old, and a change made on this replica during the
//!   outage (`invalidate_user`) drops the user's entry, which then denies.
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
use std::time::{Duration, Instant};

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
    /// How long past its TTL an entry may still answer while the store
    /// fails (see the module's contract). Default 5 min; zero turns it off.
    pub stale_if_error: Duration,
}

impl Default for DirectoryCacheConfig {
    fn default() -> Self {
        DirectoryCacheConfig {
            ttl: Duration::from_secs(4),
            max_users: 100_000,
            load_timeout: Duration::from_millis(500),
            stale_if_error: Duration::from_secs(5 * 60),
        }
    }
}

/// Cached directory facts for the request path. Cheap to clone; clones share
/// the entries.
#[derive(Clone)]
pub struct DirectoryCache {
    store: Store,
    entries: Cache<String, Entry>,
    /// How long an entry answers without asking the store.
    ttl: Duration,
    /// How long past `ttl` an entry answers while the store fails.
    stale_if_error: Duration,
    /// Until when (ms after `clock_base`) stale entries answer without a
    /// load: set for a second by every failed load.
    store_failing_until_ms: Arc<AtomicU64>,
    clock_base: Instant,
    /// Bumped by every invalidation. A load that overlaps one must not store
    /// what it read: the data may predate the change (a guest blocked while
    /// their entry was being loaded would otherwise be cached as active).
    epoch: Arc<AtomicU64>,
    load_timeout: Duration,
}

/// One cached user. `user: None` remembers that the id is unknown.
#[derive(Clone)]
struct Entry {
    loaded: Instant,
    user: Option<Arc<DirectoryUser>>,
}

/// How long stale entries answer without a load after a failed one.
const STORE_FAILURE_BACKOFF: Duration = Duration::from_secs(1);

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
                .time_to_live(config.ttl + config.stale_if_error)
                .build(),
            ttl: config.ttl,
            stale_if_error: config.stale_if_error,
            store_failing_until_ms: Arc::new(AtomicU64::new(0)),
            clock_base: Instant::now(),
            epoch: Arc::new(AtomicU64::new(0)),
            load_timeout: config.load_timeout,
        }
    }

    fn ms_since_base(&self) -> u64 {
        self.clock_base.elapsed().as_millis() as u64
    }

    /// Whether a load failed within the last [`STORE_FAILURE_BACKOFF`].
    fn store_failing(&self) -> bool {
        self.ms_since_base() < self.store_failing_until_ms.load(Ordering::Relaxed)
    }

    /// Whether `entry` may still answer for a store that fails.
    fn within_stale_bound(&self, entry: &Entry) -> bool {
        entry.loaded.elapsed() < self.ttl + self.stale_if_error
    }

    /// The facts for `user_id` and `app` at `now` if the user's entry is
    /// cached and fresh; `None` on a miss. Never touches the store, never
    /// waits; safe on the hot path.
    pub fn cached(&self, user_id: &str, app: &str, now: OffsetDateTime) -> Option<DirectoryFacts> {
        let entry = self.entries.get(user_id)?;
        let fresh = entry.loaded.elapsed() < self.ttl;
        if !(fresh || (self.store_failing() && self.within_stale_bound(&entry))) {
            return None;
        }
        Some(DirectoryFacts::evaluate(entry.user.as_deref(), app, now))
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
        match self.load(user_id).await {
            Ok(user) => Ok(DirectoryFacts::evaluate(user.as_deref(), app, now)),
            Err(e) => {
                self.store_failing_until_ms.store(
                    self.ms_since_base() + STORE_FAILURE_BACKOFF.as_millis() as u64,
                    Ordering::Relaxed,
                );
                match self
                    .entries
                    .get(user_id)
                    .filter(|entry| self.within_stale_bound(entry))
                {
                    Some(entry) => Ok(DirectoryFacts::evaluate(entry.user.as_deref(), app, now)),
                    None => Err(e),
                }
            }
        }
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
            self.entries.insert(
                user_id.to_owned(),
                Entry {
                    loaded: Instant::now(),
                    user: user.clone(),
                },
            );
            // An invalidation between the check and the insert bumped the
            // epoch before removing; seeing it now, undo our insert.
            if self.epoch.load(Ordering::SeqCst) != epoch {
                self.entries.invalidate(user_id);
            }
        }
        Ok(user)
    }
}
