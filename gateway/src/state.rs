//! Everything the running gateway shares between its services: the current
//! snapshot (swapped whole on reload), upstream pools, signing keys, caches,
//! the store and metrics. Built once by `server::run`.

use crate::metrics::Metrics;
use crate::session::{AssertionCache, BearerVerifier, KeyRing, VerifiedCache};
use crate::snapshot::Snapshot;
use crate::store::{DirectoryCache, Store};
use crate::upstream::Upstreams;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The running gateway's shared state.
pub struct Gateway {
    /// The config file, re-read on reload.
    pub config_path: PathBuf,
    /// Config, rules, GeoIP, trusted proxies and routes. A request loads it
    /// once (`load_full`) so every phase sees one version.
    pub snapshot: ArcSwap<Snapshot>,
    /// Upstream pools by app index of the current snapshot.
    pub upstreams: ArcSwap<Upstreams>,
    /// The gateway's own signing keys (session cookies, upstream assertions).
    pub keys: ArcSwap<KeyRing>,
    /// Verifiers for `idps` of type `jwt` (bearer tokens), built at start.
    pub bearer: Vec<Arc<BearerVerifier>>,
    pub store: Store,
    pub directory: DirectoryCache,
    /// Verified session cookies and bearer tokens, by token hash.
    pub sessions: VerifiedCache,
    pub assertions: AssertionCache,
    /// Platform by User-Agent string (see `proxy::context`), bounded.
    pub platforms: moka::sync::Cache<String, rules::Platform>,
    pub metrics: Metrics,
    /// The sign-in services (IdP clients, mailer, MFA); `None` until
    /// `server::run` has built them, and when sign-in is not configured.
    pub portal: arc_swap::ArcSwapOption<crate::portal::Portal>,
    /// True once the first snapshot is in service and the store answered;
    /// `/readyz` reports it.
    ready: AtomicBool,
}

impl Gateway {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config_path: PathBuf,
        snapshot: Snapshot,
        upstreams: Upstreams,
        keys: KeyRing,
        bearer: Vec<Arc<BearerVerifier>>,
        store: Store,
        directory: DirectoryCache,
        metrics: Metrics,
    ) -> Gateway {
        Gateway {
            config_path,
            snapshot: ArcSwap::from_pointee(snapshot),
            upstreams: ArcSwap::from_pointee(upstreams),
            keys: ArcSwap::from_pointee(keys),
            bearer,
            store,
            directory,
            sessions: VerifiedCache::new(100_000),
            assertions: AssertionCache::new(100_000),
            platforms: moka::sync::Cache::new(10_000),
            metrics,
            portal: arc_swap::ArcSwapOption::empty(),
            ready: AtomicBool::new(false),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// Seconds since the Unix epoch (the one clock the data path reads).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
