//! Reload of config, rules, GeoIP and upstream pools without a restart, on
//! `SIGHUP` and when a watched file changes. A new snapshot is built off the
//! hot path and put in service, in one store, only if all of it is valid; a
//! bad file is logged with its `file:line:column` and the current snapshot
//! keeps serving.
//!
//! `SIGHUP` reloads at once. File events are debounced (editors write a file
//! in several steps), but never for longer than [`MAX_DEBOUNCE`] from the
//! first event: a config rewritten more often than the debounce is still
//! reloaded at least that often (a pure quiet-time debounce was starved by
//! such a stream and made a `SIGHUP` wait behind it).

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
    let current = gateway.snapshot.load_full();
    match Snapshot::load_to_serve(&gateway.config_path, &current.pools) {
        Ok(next) => {
            let changes = diff(&current, &next);
            current.pools.retire_metrics(&next.pools, &gateway.metrics);
            // One store: routes, rules and pools change together.
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
        Err(LoadErrors(errors)) => {
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

/// The longest a file change waits for the burst of events to settle.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(1);

/// The background service: waits for `SIGHUP` (reloads at once) or a
/// change to a watched file (debounced, at most [`MAX_DEBOUNCE`]), then
/// reloads.
pub struct Reloader {
    pub gateway: Arc<Gateway>,
    /// Quiet time after the last file event before reloading (editors write
    /// files in several steps); bounded by [`MAX_DEBOUNCE`] in all.
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
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = next_hup(&mut hup) => tracing::info!("SIGHUP: reloading"),
                Some(()) = rx.recv() => {
                    // A SIGHUP during the debounce ends it: reload now.
                    tokio::select! {
                        () = settle(&mut rx, self.debounce, MAX_DEBOUNCE) => {
                            tracing::info!("watched file changed: reloading");
                        }
                        _ = next_hup(&mut hup) => tracing::info!("SIGHUP: reloading"),
                    }
                }
            }
            let gateway = self.gateway.clone();
            let _ = tokio::task::spawn_blocking(move || reload(&gateway)).await;
            self.gateway
                .snapshot
                .load()
                .config
                .keep_saml_metadata_fresh();
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

/// The next `SIGHUP`; never, when it cannot be listened for.
async fn next_hup(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup.as_mut() {
        Some(h) => h.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits until no event has come for `quiet`, or `max` has passed since
/// this call (the first event), whichever is first; drains the events that
/// came meanwhile.
async fn settle(rx: &mut mpsc::UnboundedReceiver<()>, quiet: Duration, max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        let wait = quiet.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < deadline => continue,
            _ => break,
        }
    }
    while rx.try_recv().is_ok() {}
}

/// A new YAML file in a watched folder may match a rules glob.
fn is_rule_like(p: &std::path::Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of events closer together than the quiet time still ends
    /// the wait by the maximum (issue 13: reloads were starved). Real time,
    /// scaled down: quiet 60 ms, at most 250 ms, an event every 10 ms.
    #[tokio::test]
    async fn a_steady_stream_of_events_settles_by_the_maximum() {
        let (quiet, max) = (Duration::from_millis(60), Duration::from_millis(250));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(async move {
            for _ in 0..500 {
                if tx.send(()).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let start = std::time::Instant::now();
        settle(&mut rx, quiet, max).await;
        let waited = start.elapsed();
        writer.abort();
        assert!(waited >= max, "{waited:?}");
        // The writer never stops, so only the maximum can end the wait;
        // the bound is loose for a busy machine.
        assert!(waited < max * 4, "{waited:?}");
    }

    #[tokio::test]
    async fn a_burst_settles_after_the_quiet_time() {
        let (quiet, max) = (Duration::from_millis(60), Duration::from_secs(5));
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..3 {
            tx.send(()).expect("send");
        }
        let start = std::time::Instant::now();
        settle(&mut rx, quiet, max).await;
        let waited = start.elapsed();
        assert!(waited >= quiet && waited < max, "{waited:?}");
        assert!(rx.try_recv().is_err(), "drained");
    }
}
