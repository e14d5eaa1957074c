//! `rules`, `geoip` and `store`: the files and the database the gateway
//! reads its policies, countries and state from. Their contents are loaded
//! by their own loaders; here they must exist (or match).

use std::path::PathBuf;

use super::Checker;
use crate::config::file::{GeoIpFile, S, StoreFile};
use crate::config::runtime::{GeoIp, Store};

impl Checker<'_> {
    /// `rules`: every glob must match at least one file; the matches,
    /// sorted, without duplicates.
    pub(super) fn rule_files(&mut self, patterns: &S<Vec<S<String>>>) -> Vec<PathBuf> {
        if patterns.value.is_empty() {
            self.err(patterns, "`rules` lists no file; a gateway without rules would only check sign-in and assignments");
        }
        let mut files = Vec::new();
        for p in &patterns.value {
            let full = self.dir.join(&p.value);
            let matched: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
                Ok(paths) => paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect(),
                Err(e) => {
                    self.err(
                        p,
                        format_args!("`{}` is not a valid glob: {}", p.value, e.msg),
                    );
                    continue;
                }
            };
            if matched.is_empty() {
                self.err(p, format_args!("`{}` matches no file", p.value));
            }
            files.extend(matched);
        }
        files.sort();
        files.dedup();
        files
    }

    /// `geoip`: the country database must exist.
    pub(super) fn geoip(&mut self, f: Option<&GeoIpFile>) -> Option<GeoIp> {
        f.map(|g| GeoIp {
            country_db: self.existing_file(&g.country_db, "GeoIP database"),
        })
    }

    /// `store`: exactly one of `sqlite` and `postgres`; by default SQLite at
    /// `var/portcullis.db` beside the config.
    pub(super) fn store(&mut self, f: Option<&S<StoreFile>>) -> Store {
        match f {
            None => Store::Sqlite(self.dir.join("var/portcullis.db")),
            Some(s) => match (&s.value.sqlite, &s.value.postgres) {
                (Some(p), None) => Store::Sqlite(self.dir.join(&p.value)),
                (None, Some(url))
                    if url.value.starts_with("postgres://")
                        || url.value.starts_with("postgresql://") =>
                {
                    Store::Postgres(url.value.clone())
                }
                (None, Some(url)) => {
                    self.err(
                        url,
                        "the PostgreSQL URL must start with postgres:// or postgresql://",
                    );
                    Store::Postgres(url.value.clone())
                }
                _ => {
                    self.err(s, "`store` needs exactly one of `sqlite` or `postgres`");
                    Store::Sqlite(PathBuf::new())
                }
            },
        }
    }
}
