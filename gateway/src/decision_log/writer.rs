//! The log's writer: a background service that takes entries off the
//! queue in batches, explains them (`trace::build`), appends each batch in
//! one transaction, and prunes by age and count. The request path never
//! waits for it: when it falls behind the queue fills and new entries are
//! dropped (counted); a batch the store refuses or does not take within
//! [`WRITE_TIMEOUT`] is dropped too (counted), so an outage loses entries,
//! never requests.

use super::DecisionLog;
use super::trace;
use crate::store::Store;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a batch may take to be written before it is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Entries written in one transaction at most.
const BATCH: usize = 512;
/// How often old entries are pruned (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// At most one warning per this interval while writes fail.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// What pruning needs from the current config (`decision_log`).
pub type Settings = Box<dyn Fn() -> crate::config::DecisionLog + Send + Sync>;

/// The background writer; `server::run` starts one per process.
pub struct Writer {
    pub log: Arc<DecisionLog>,
    pub store: Store,
    /// The current snapshot's `decision_log` settings.
    pub settings: Settings,
}

impl Writer {
    async fn write(&self, batch: &mut Vec<super::Pending>, last_warning: &mut Option<Instant>) {
        let rows: Vec<_> = batch.drain(..).map(|p| trace::build(&p)).collect();
        let result = tokio::time::timeout(WRITE_TIMEOUT, self.store.append_decisions(&rows)).await;
        let problem = match result {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("the store did not answer within {WRITE_TIMEOUT:?}"),
        };
        self.log.lost(rows.len());
        if last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last_warning = Some(Instant::now());
            tracing::warn!(
                entries = rows.len(),
                error = %problem,
                "decision log entries dropped (portcullis_decision_log_dropped_total)"
            );
        }
    }

    async fn prune(&self) {
        let s = (self.settings)();
        let before = time::OffsetDateTime::now_utc()
            - time::Duration::try_from(s.retention).unwrap_or(time::Duration::days(30));
        match tokio::time::timeout(
            WRITE_TIMEOUT * 5,
            self.store.prune_decisions(before, s.max_entries),
        )
        .await
        {
            Ok(Ok(n)) if n > 0 => tracing::info!(pruned = n, "decision log pruned"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "decision log pruning failed"),
            Err(_) => tracing::warn!("decision log pruning timed out"),
        }
    }
}

#[async_trait]
impl BackgroundService for Writer {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(mut rx) = self.log.take_receiver() else {
            return;
        };
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_warning = None;
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return;
                    }
                    self.write(&mut batch, &mut last_warning).await;
                }
                _ = prune.tick() => self.prune().await,
                _ = shutdown.changed() => break,
            }
        }
        // Shutting down: what is queued now is written once, bounded by
        // the write timeout.
        while let Ok(p) = rx.try_recv() {
            batch.push(p);
            if batch.len() == BATCH {
                self.write(&mut batch, &mut last_warning).await;
            }
        }
        if !batch.is_empty() {
            self.write(&mut batch, &mut last_warning).await;
        }
    }
}
