//! `decision_log`: retention, size bound and the share of allows recorded,
//! with defaults that depend on the store (every allow on the embedded
//! SQLite, a tenth on a PostgreSQL several replicas write to).

use super::Checker;
use crate::config::file::DecisionLogFile;
use crate::config::runtime::{DecisionLog, Store};

impl Checker<'_> {
    /// `decision_log`, with defaults.
    pub(super) fn decision_log(
        &mut self,
        f: Option<&DecisionLogFile>,
        store: &Store,
    ) -> DecisionLog {
        let mut d = DecisionLog {
            retention: DecisionLog::DEFAULT_RETENTION,
            max_entries: DecisionLog::DEFAULT_MAX_ENTRIES,
            sample_allows: match store {
                Store::Sqlite(_) => DecisionLog::DEFAULT_SAMPLE_SQLITE,
                Store::Postgres(_) => DecisionLog::DEFAULT_SAMPLE_POSTGRES,
            },
        };
        let Some(f) = f else { return d };
        if let Some(r) = f.retention.as_ref().and_then(|r| self.duration(r)) {
            d.retention = r;
        }
        if let Some(n) = f.max_entries {
            d.max_entries = n;
        }
        if let Some(s) = &f.sample_allows {
            if (0.0..=1.0).contains(&s.value) {
                d.sample_allows = s.value;
            } else {
                self.err(
                    s,
                    format_args!(
                        "decision_log.sample_allows is a share from 0.0 to 1.0, not {}",
                        s.value
                    ),
                );
            }
        }
        d
    }
}
