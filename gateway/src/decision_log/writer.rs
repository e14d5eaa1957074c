//! The log's writer: a background service that takes entries off the
//! queue in batches, explains them (`trace::build`), appends each batch in
//! one transaction (its allows as one row, `AllowBatch`), and prunes by
//! age and count.
//!
//! It wakes on a clock ([`FLUSH_EVERY`]), not on each entry: a writer
//! parked in `recv` would be woken by every `try_send` (a cross-thread
//! wake-up per request), and would then write batches of one, each a
//! transaction of its own, a commit and a WAL append (the profile of
//! 2026-12-07: 1,806 transactions for 2,000 requests, 155k instructions
//! per request in the writer and the SQLite worker). Waking ten times a
//! second, a batch holds everything decided since, written in one
//! transaction of a few multi-row `INSERT`s. The request path never
//! waits for it: when it falls behind the queue fills and new entries are
//! dropped (counted); a batch the store refuses or does not take within
//! [`WRITE_TIMEOUT`] is dropped too (counted), so an outage loses entries,
//! never requests.

use super::DecisionLog;
use super::trace;
use crate::store::Store;
use crate::store::decisions::AllowBatch;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The longest a batch may take to be written before it is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Entries written in one transaction at most.
const BATCH: usize = 512;
// A batch's allows fit one row.
const _: () = assert!(BATCH <= AllowBatch::MAX);
/// How often the writer takes what has queued up. The queue holds
/// [`super::CAPACITY`] entries: at this interval up to ~160k decisions a
/// second are kept, far above what one replica decides.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
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
    async fn write(
        &self,
        batch: &mut Vec<super::Pending>,
        allows: &mut AllowBatch,
        last_warning: &mut Option<Instant>,
    ) {
        allows.clear();
        let rows: Vec<_> = batch
            .drain(..)
            .filter_map(|p| trace::build(&p, allows))
            .collect();
        let entries = rows.len() + allows.len();
        let result =
            tokio::time::timeout(WRITE_TIMEOUT, self.store.append_decisions(&rows, allows)).await;
        let problem = match result {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("the store did not answer within {WRITE_TIMEOUT:?}"),
        };
        self.log.lost(entries);
        if last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last_warning = Some(Instant::now());
            tracing::warn!(
                entries,
                error = %problem,
                "decision log entries dropped (portcullis_decision_log_dropped_total)"
            );
        }
    }

    /// Writes everything queued now, in batches of at most [`BATCH`];
    /// `false` once every sender is gone and the queue is empty.
    async fn drain(
        &self,
        rx: &mut mpsc::Receiver<super::Pending>,
        batch: &mut Vec<super::Pending>,
        allows: &mut AllowBatch,
        last_warning: &mut Option<Instant>,
    ) -> bool {
        loop {
            let open = loop {
                match rx.try_recv() {
                    Ok(p) => {
                        batch.push(p);
                        if batch.len() == BATCH {
                            break true;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break true,
                    Err(mpsc::error::TryRecvError::Disconnected) => break false,
                }
            };
            let full = batch.len() == BATCH;
            if !batch.is_empty() {
                self.write(batch, allows, last_warning).await;
            }
            if !full {
                return open;
            }
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
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH);
        // The allows' JSON, in one buffer kept from batch to batch.
        let mut allows = AllowBatch::default();
        let mut last_warning = None;
        loop {
            tokio::select! {
                _ = flush.tick() => {
                    if !self.drain(&mut rx, &mut batch, &mut allows, &mut last_warning).await {
                        return;
                    }
                }
                _ = prune.tick() => self.prune().await,
                _ = shutdown.changed() => break,
            }
        }
        // Shutting down: what is queued now is written once, bounded by
        // the write timeout.
        self.drain(&mut rx, &mut batch, &mut allows, &mut last_warning)
            .await;
    }
}
