//! The decision log (issue 18): every access decision — proxied requests,
//! forward-auth questions and the re-checks of open connections — recorded
//! in the store, so a help desk can explain a 403 from its request id
//! (`portcullis explain`, `GET /api/v1/decisions/{id}`) and a rule change
//! can be replayed against real traffic (`rules diff`).
//!
//! ```text
//! decide ──record (copies facts, try_send)──▶ bounded channel ──▶ Writer
//!   (request thread, never waits)                                 (background:
//!                                                                  trace, JSON,
//!                                                                  batch insert,
//!                                                                  pruning)
//! ```
//!
//! A refusal is a row of its own, its trace whole. The allows of one flush
//! are one row between them (`store::decisions::AllowBatch`), each in a
//! compact form; the store reads them back one by one, whole, so every
//! reader sees the same trace either way.
//!
//! What the request pays: a sampling check, two `Arc` clones (config and
//! rules of its snapshot, so the writer explains against the very rules
//! that decided), one allocation holding the request's strings, and a
//! `try_send`. Everything else — the named locations, the per-policy
//! explanation, the refusal's reason, JSON — is worked out by the writer.
//! When the channel is full (the store is slow or down) the entry is
//! dropped and counted in `portcullis_decision_log_dropped_total`; so is a
//! batch the store refused or did not take within [`WRITE_TIMEOUT`].
//!
//! Kept: every refusal; allows at `decision_log.sample_allows`; a re-check
//! of an open connection only when it ends the connection (the allows
//! every 500 ms would drown the log). Public paths and CORS pre-flights
//! are not decisions about anyone and are not recorded.

mod entry;
mod replay;
mod trace;
mod writer;

pub use entry::{Early, Seen, new_request_id};
pub use replay::{Change, NotReplayable, replay};
pub use trace::{Trace, TracePolicy, TraceUser, write_policy_table};
pub use writer::{Settings, WRITE_TIMEOUT, Writer};

pub(crate) use entry::Pending;
use prometheus::IntCounter;
use std::sync::Mutex;
use tokio::sync::mpsc;
pub(crate) use trace::reason_of;

/// How many entries wait for the writer at most; beyond, new ones are
/// dropped. About 3 s of a busy replica's refusals and sampled allows.
pub const CAPACITY: usize = 16_384;

/// The request side of the log: one per process, on `Gateway`.
pub struct DecisionLog {
    tx: mpsc::Sender<Pending>,
    rx: Mutex<Option<mpsc::Receiver<Pending>>>,
    dropped: IntCounter,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog").finish_non_exhaustive()
    }
}

impl DecisionLog {
    /// A log whose entries wait for [`DecisionLog::take_receiver`]'s
    /// writer; `dropped` counts what could not be kept.
    pub fn new(dropped: IntCounter) -> DecisionLog {
        let (tx, rx) = mpsc::channel(CAPACITY);
        DecisionLog {
            tx,
            rx: Mutex::new(Some(rx)),
            dropped,
        }
    }

    /// The receiving end, for the one writer (`None` once taken).
    pub(crate) fn take_receiver(&self) -> Option<mpsc::Receiver<Pending>> {
        self.rx.lock().ok().and_then(|mut r| r.take())
    }

    /// Records one decision, if the settings keep it. Runs on the request
    /// path: never waits, never fails; a full queue drops the entry and
    /// counts it.
    pub fn record(&self, seen: &Seen<'_>) {
        if !seen.kept() {
            return;
        }
        match self.tx.try_send(seen.to_pending()) {
            Ok(()) => {}
            Err(_) => self.dropped.inc(),
        }
    }

    /// Counts entries lost after they left the queue (a failed batch).
    fn lost(&self, n: usize) {
        self.dropped.inc_by(n as u64);
    }
}

#[cfg(test)]
mod tests;
