//! Everything the running gateway shares between its services: the current
//! snapshot (swapped whole on reload), signing keys, caches, the store and
//! metrics. Built once by `server::run`. The data path's and the portal's
//! own state live with them (`proxy::Proxy`, `portal::Portal`), so this
//! module names neither.

use crate::metrics::Metrics;
use crate::session::{
    AssertionCache, BearerVerifier, DEFAULT_LEEWAY_SECS, KeyRing, RevokedSessions, VerifiedCache,
};
use crate::snapshot::Snapshot;
use crate::store::{DirectoryCache, Store, StoreError};
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The running gateway's shared state.
pub struct Gateway {
    /// The config file, re-read on reload.
    pub config_path: PathBuf,
    /// Config, rules, GeoIP, trusted proxies, routes and upstream pools: one
    /// value, swapped whole on reload. A request loads it once
    /// (`load_full`, in `Proxy::new_ctx`) so every phase sees one version.
    pub snapshot: ArcSwap<Snapshot>,
    /// The gateway's own signing keys (session cookies, upstream
    /// assertions), rotated by `replica_sync` apart from reloads. A request
    /// loads the set once and signs its assertion with the set that
    /// verified its session.
    pub keys: ArcSwap<KeyRing>,
    /// Verifiers for `idps` of type `jwt` (bearer tokens), built at start.
    pub bearer: Vec<Arc<BearerVerifier>>,
    pub store: Store,
    pub directory: DirectoryCache,
    /// Verified session cookies and bearer tokens, by token hash.
    pub sessions: VerifiedCache,
    /// Revoked session ids (sign-out), checked after every cookie
    /// verification, cache hits included; fed by [`Gateway::revoke_session`]
    /// and by the store poll of `replica_sync` (other replicas).
    pub revoked: RevokedSessions,
    /// Set once a graceful shutdown or upgrade has begun: every response
    /// then closes its connection, so keep-alive clients reconnect (to the
    /// new process of an upgrade) instead of being cut off when this one
    /// exits. See `upgrade`.
    pub draining: AtomicBool,
    pub assertions: AssertionCache,
    /// Platform by User-Agent string (see `proxy::context`), bounded.
    pub platforms: moka::sync::Cache<String, rules::Platform>,
    pub metrics: Arc<Metrics>,
    /// The decision log's queue (`decision_log`): the request path records
    /// into it without waiting; `server::run` starts its writer.
    pub decision_log: Arc<crate::decision_log::DecisionLog>,
    /// The portal's mailer (invitations, reminders); `None` until
    /// `server::run` has built the portal, and when mail is not configured.
    pub mailer: arc_swap::ArcSwapOption<crate::mail::Mailer>,
    /// True once the first snapshot is in service and the store answered;
    /// `/readyz` reports it.
    ready: AtomicBool,
}

impl Gateway {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config_path: PathBuf,
        snapshot: Snapshot,
        keys: KeyRing,
        bearer: Vec<Arc<BearerVerifier>>,
        store: Store,
        directory: DirectoryCache,
        metrics: Metrics,
    ) -> Gateway {
        let session_cache_bytes = snapshot.config.session_cache_bytes;
        Gateway {
            config_path,
            snapshot: ArcSwap::from_pointee(snapshot),
            keys: ArcSwap::from_pointee(keys),
            bearer,
            store,
            directory,
            sessions: VerifiedCache::new(session_cache_bytes),
            revoked: RevokedSessions::default(),
            draining: AtomicBool::new(false),
            assertions: AssertionCache::new(100_000),
            platforms: moka::sync::Cache::new(10_000),
            decision_log: Arc::new(crate::decision_log::DecisionLog::new(
                metrics.decision_log_dropped.clone(),
            )),
            metrics: Arc::new(metrics),
            mailer: arc_swap::ArcSwapOption::empty(),
            ready: AtomicBool::new(false),
        }
    }

    /// The session cache's gauges, read at scrape time (the cache keeps
    /// its own weight; nothing on the request path updates a gauge).
    pub fn set_cache_metrics(&self) {
        let m = &self.metrics;
        m.session_cache_bytes
            .set(i64::try_from(self.sessions.weighted_bytes()).unwrap_or(i64::MAX));
        m.session_cache_entries
            .set(i64::try_from(self.sessions.entry_count()).unwrap_or(i64::MAX));
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Revokes session `sid`, whose token expires at `expires_at` (Unix
    /// seconds): recorded in the store for every replica (they deny it within
    /// about a second, see `replica_sync`), and in this replica's set at
    /// once. The local set is updated even when the store write fails, so
    /// this replica denies the session either way; the error tells the
    /// caller (sign-out) that other replicas may not know yet.
    pub async fn revoke_session(&self, sid: &str, expires_at: i64) -> Result<(), StoreError> {
        let now = now();
        self.revoked
            .insert(sid, expires_at.saturating_add(DEFAULT_LEEWAY_SECS), now);
        self.metrics.revoked_sessions.set(self.revoked.len() as i64);
        self.store
            .revoke_session(sid, time_of(expires_at)?, time_of(now)?)
            .await
    }

    /// Ends every live session of `user_id` ("sign out everywhere"): in the
    /// store, then in this replica's set at once. Returns the sids revoked
    /// now. The store does not return their ends, so locally they are kept
    /// for the longest session (they only leave the set later than needed).
    pub async fn revoke_sessions_of_user(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let now = now();
        let sids = self
            .store
            .revoke_sessions_of_user(user_id, time_of(now)?)
            .await?;
        let until = now
            .saturating_add(crate::session::MAX_SESSION)
            .saturating_add(DEFAULT_LEEWAY_SECS);
        self.revoked
            .insert_all(sids.iter().map(|s| (s.as_str(), until)), now);
        self.metrics.revoked_sessions.set(self.revoked.len() as i64);
        Ok(sids)
    }
}

/// Seconds since the Unix epoch (the one clock the data path reads).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn time_of(unix: i64) -> Result<time::OffsetDateTime, StoreError> {
    time::OffsetDateTime::from_unix_timestamp(unix).map_err(|_| StoreError::Invalid {
        op: "revoke_session",
        reason: "the time is out of range",
    })
}
