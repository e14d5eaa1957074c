//! Reload of config, rules and GeoIP without a restart, on `SIGHUP` and when
//! a watched file changes. A new snapshot is built off the hot path and put
//! in service only if all of it is valid; a bad file is logged with its
//! `file:line:column` and the current snapshot keeps serving.

use crate::snapshot::{LoadErrors, Snapshot};
use crate::state::{Gateway, now};
use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Why a reload was refused: every error, one line each.
pub type ReloadError = Vec<String>;

/// What a reload changed, for the log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// Builds a new snapshot from the config file and swaps it in. On error the
/// current snapshot stays.
pub fn reload(gateway: &Gateway) -> Result<Changes, ReloadError> {
    let result = Snapshot::load(&gateway.config_path)
        .map_err(|LoadErrors(e)| e)
        .and_then(|next| {
            let upstreams =
                crate::upstream::Upstreams::build(&next.config.apps).map_err(|e| vec![e])?;
            Ok((next, upstreams))
        });
    match result {
        Ok((next, upstreams)) => {
            let changes = diff(&gateway.snapshot.load(), &next);
            // Routes and pools must agree on app indices: swap the pools
            // first, they are a superset-compatible view for one request.
            gateway
                .upstreams
                .load()
                .retire_metrics(&upstreams, &gateway.metrics);
            gateway.upstreams.store(Arc::new(upstreams));
            gateway.snapshot.store(Arc::new(next));
            gateway
                .metrics
                .config_reloads
                .with_label_values(&["success"])
                .inc();
            gateway.metrics.config_last_reload_success.set(now() as f64);
            tracing::info!(
                added = ?changes.added,
                removed = ?changes.removed,
                changed = ?changes.changed,
                "reloaded configuration"
            );
            Ok(changes)
        }
        Err(errors) => {
            gateway
                .metrics
                .config_reloads
                .with_label_values(&["failure"])
                .inc();
            for e in &errors {
                tracing::warn!(error = %e, "reload rejected; keeping the current configuration");
            }
            Err(errors)
        }
    }
}

fn diff(old: &Snapshot, new: &Snapshot) -> Changes {
    let fingerprints = |s: &Snapshot| {
        s.rules
            .policies()
            .iter()
            .map(|p| (p.name.to_string(), p.fingerprint()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (a, b) = (fingerprints(old), fingerprints(new));
    Changes {
        added: b.keys().filter(|k| !a.contains_key(*k)).cloned().collect(),
        removed: a.keys().filter(|k| !b.contains_key(*k)).cloned().collect(),
        changed: b
            .iter()
            .filter(|(k, v)| a.get(*k).is_some_and(|old| old != *v))
            .map(|(k, _)| k.clone())
            .collect(),
    }
}

/// The files whose change triggers a reload.
fn watched_files(snapshot: &Snapshot) -> BTreeSet<PathBuf> {
    let mut files: BTreeSet<PathBuf> = snapshot.config.rule_files.iter().cloned().collect();
    files.insert(snapshot.config.path.clone());
    if let Some(g) = &snapshot.config.geoip {
        files.insert(g.country_db.clone());
    }
    files
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .collect()
}

/// The background service: waits for `SIGHUP` or a change to a watched
/// file (debounced), then reloads.
pub struct Reloader {
    pub gateway: Arc<Gateway>,
    /// Quiet time after the last file event before reloading (editors write
    /// files in several steps).
    pub debounce: Duration,
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload on file change only");
                None
            }
        };
        let mut watcher = self.watch(tx.clone());
        loop {
            let hup_recv = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = hup_recv => tracing::info!("SIGHUP: reloading"),
                Some(()) = rx.recv() => {
                    // Let the burst of events settle.
                    while let Ok(Some(())) = tokio::time::timeout(self.debounce, rx.recv()).await {}
                    tracing::info!("watched file changed: reloading");
                }
            }
            let gateway = self.gateway.clone();
            let _ = tokio::task::spawn_blocking(move || reload(&gateway)).await;
            // The set of files may have changed with the config.
            watcher = self.watch(tx.clone()).or(watcher);
        }
    }
}

impl Reloader {
    /// Watches the folders of the watched files (editors replace files by
    /// renaming, which a watch on the file itself would miss) and forwards
    /// events for those files.
    fn watch(&self, tx: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
        let files = watched_files(&self.gateway.snapshot.load());
        let dirs: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(PathBuf::from))
            .collect();
        let handler = move |event: notify::Result<notify::Event>| {
            if let Ok(e) = event
                && !e.kind.is_access()
                && e.paths.iter().any(|p| {
                    files.contains(p)
                        || p.parent().is_some_and(|d| {
                            files.iter().any(|f| f.parent() == Some(d)) && is_rule_like(p)
                        })
                })
            {
                let _ = tx.send(());
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP");
                return None;
            }
        };
        for d in &dirs {
            if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot watch folder");
            }
        }
        Some(watcher)
    }
}

/// A new YAML file in a watched folder may match a rules glob.
fn is_rule_like(p: &std::path::Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}
