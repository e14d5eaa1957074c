//! The checks: file types in, runtime types out, every error collected.
//!
//! One file per section of `portcullis.yaml`; each adds its own methods to
//! [`Checker`]. [`Checker::config`] below calls them in an order that
//! matters: apps before idps (a local idp's users file names apps), idps
//! before `sign_in` and the apps' `sign_up` (both name idps). Sections that
//! belong to another module check themselves (`crate::mail::MailFile::check`,
//! `crate::oidc::OidcIdpFile::check`, `crate::local_idp::LocalIdp::load`)
//! and their errors are carried over with their positions.
//!
//! A check that finds a mistake records it and goes on with a stand-in
//! value, so one run reports every mistake; the stand-in never leaves
//! [`check`] because any error makes it return `Err`.

mod apps;
mod console;
mod data;
mod decision_log;
mod guests;
mod icons;
mod idps;
mod lint;
mod listen;
mod oauth2_idp;
mod organisation;
mod sign_in;
mod sign_up;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ConfigError;
use super::file::{ConfigFile, IdpFile, S};
use super::runtime::Config;

/// The smallest `server.session_cache_bytes`: a cache that holds ~1,000
/// sessions (a smaller one would verify nearly every request anew).
const MIN_SESSION_CACHE_BYTES: u64 = 1 << 20;

/// Checks a parsed config file read from `path`: the runtime [`Config`], or
/// every error found, the config's own first (by position), then those of
/// files it names.
pub(super) fn check(path: &Path, file: ConfigFile) -> Result<Config, Vec<ConfigError>> {
    let mut c = Checker {
        path,
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        errors: Vec::new(),
    };
    let config = c.config(file);
    if c.errors.is_empty() {
        Ok(config)
    } else {
        // The config's own errors first, then those of files it names.
        c.errors.sort_by(|a, b| {
            (a.file != path, &a.file, a.line, a.column).cmp(&(
                b.file != path,
                &b.file,
                b.line,
                b.column,
            ))
        });
        Err(c.errors)
    }
}

/// One run of the checks over one config file.
struct Checker<'p> {
    /// The config file, named in every error.
    path: &'p Path,
    /// Its folder: relative paths in the file are resolved against it.
    dir: PathBuf,
    errors: Vec<ConfigError>,
}

// The shared value checks: each records an error at the value's position
// and returns what the sections use (or `None`).
impl Checker<'_> {
    /// Records an error at `at`'s position in the config file.
    fn err<T>(&mut self, at: &S<T>, message: impl fmt::Display) {
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            message: message.to_string(),
        });
    }

    /// Records an error at a position another module found (`mail`, `oidc`).
    fn err_at(&mut self, line: u64, column: u64, message: String) {
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
        });
    }

    /// An `IP:PORT` socket address.
    fn addr(&mut self, s: &S<String>) -> Option<SocketAddr> {
        match s.value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    s,
                    format_args!(
                        "`{}` is not an address; use IP:PORT such as 127.0.0.1:8080 or [::]:443",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// A path relative to the config file that must exist.
    fn existing_file(&mut self, s: &S<String>, what: &str) -> PathBuf {
        let p = self.dir.join(&s.value);
        if !p.is_file() {
            self.err(
                s,
                format_args!(
                    "{what} `{}` does not exist (paths are relative to the config file)",
                    p.display()
                ),
            );
        }
        p
    }

    /// A duration such as `30s` (`rules::parse_duration`; never zero).
    fn duration(&mut self, s: &S<String>) -> Option<Duration> {
        let d = rules::parse_duration(&s.value);
        if d.is_none() {
            self.err(
                s,
                format_args!("`{}` is not a duration; use 30s, 5m or 1h", s.value),
            );
        }
        d
    }

    /// The whole file, section by section; the order is explained at the
    /// top of this module.
    fn config(&mut self, f: ConfigFile) -> Config {
        let listen = self.listen(&f.listen);
        let admin = self.admin(f.admin.as_ref(), &listen);
        let trusted_proxies = self.trusted_proxies(&f.trusted_proxies);
        let geoip = self.geoip(f.geoip.as_ref());
        let rule_files = self.rule_files(&f.rules);
        let store = self.store(f.store.as_ref());
        let organisation = self.organisation(&f.organisation);
        // Apps first: a local idp's users file names apps.
        let mut apps = self.apps(&f.apps);
        let app_names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
        let idps = self.idps(&f.idps, &organisation.member_domains, &app_names);
        let sign_in = self.sign_in(&f, &apps);
        let guests = self.guests(f.guests.as_ref());
        let decision_log = self.decision_log(f.decision_log.as_ref(), &store);
        let lint = self.lint(f.lint.as_ref());
        let console = self.console(f.console.as_ref(), sign_in.is_some());
        // Owners and sign-up after the idps, which sign-up names.
        let idp_files: Vec<&IdpFile> = f.idps.iter().map(|i| &i.value).collect();
        for (app, file) in apps.iter_mut().zip(f.apps.value.iter()) {
            app.owners = self.owners(&file.value);
            app.sign_up = self.sign_up(&file.value, &idp_files);
        }
        let grace_period = f
            .server
            .as_ref()
            .and_then(|s| s.grace_period.as_ref())
            .and_then(|g| self.duration(g))
            .unwrap_or(Duration::from_secs(30));
        let request_head_timeout = f
            .server
            .as_ref()
            .and_then(|s| s.request_head_timeout.as_ref())
            .and_then(|t| self.duration(t))
            .unwrap_or(Duration::from_secs(20));
        let max_connections_per_client = match f
            .server
            .as_ref()
            .and_then(|s| s.max_connections_per_client.as_ref())
        {
            Some(n) if n.value == 0 => {
                self.err(n, "`max_connections_per_client` must be at least 1");
                1
            }
            Some(n) => n.value,
            None => 256,
        };
        let session_cache_bytes = match f
            .server
            .as_ref()
            .and_then(|s| s.session_cache_bytes.as_ref())
        {
            Some(n) if n.value < MIN_SESSION_CACHE_BYTES => {
                self.err(
                    n,
                    format!(
                        "`session_cache_bytes` must be at least {MIN_SESSION_CACHE_BYTES} (1 MiB), not {}",
                        n.value
                    ),
                );
                MIN_SESSION_CACHE_BYTES
            }
            Some(n) => n.value,
            None => crate::session::DEFAULT_CACHE_BYTES,
        };
        Config {
            path: self.path.to_path_buf(),
            listen,
            admin,
            trusted_proxies,
            geoip,
            rule_files,
            store,
            organisation,
            idps,
            apps,
            grace_period,
            threads: f.server.as_ref().and_then(|s| s.threads),
            request_head_timeout,
            max_connections_per_client,
            session_cache_bytes,
            state_dir: f
                .server
                .as_ref()
                .and_then(|s| s.state_dir.as_ref())
                .map(|d| self.dir.join(&d.value)),
            demo_app: f.demo_app.as_ref().and_then(|d| self.addr(&d.address)),
            mail: f.mail.as_ref().and_then(|m| self.mail(m)),
            sign_in,
            guests,
            owner_groups: owner_groups(self.path, &f),
            written: written(&f),
            decision_log,
            lint,
            console,
        }
    }

    /// `mail`: the `mail` module checks its own section.
    fn mail(&mut self, m: &S<crate::mail::MailFile>) -> Option<crate::mail::MailConfig> {
        match m.value.check(&self.dir) {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in errors {
                    self.err_at(e.line, e.column, e.message);
                }
                None
            }
        }
    }
}

/// Where the sections `warnings.rs` points at are written.
fn written(f: &ConfigFile) -> super::runtime::Written {
    fn at<T>(s: &S<T>) -> (u64, u64) {
        (s.referenced.line(), s.referenced.column())
    }
    super::runtime::Written {
        admin: f.admin.as_ref().map(at),
        demo_app: f.demo_app.as_ref().map(|d| at(&d.address)),
        idps: f
            .idps
            .iter()
            .map(|i| {
                let (line, column) = at(i);
                (i.value.name.value.clone(), line, column)
            })
            .collect(),
    }
}

/// Every `owners: group:NAME` entry with its position (`warnings.rs`).
fn owner_groups(path: &Path, f: &ConfigFile) -> Vec<super::runtime::GroupRef> {
    f.apps
        .value
        .iter()
        .flat_map(|a| a.value.owners.iter())
        .filter_map(|o| {
            let g = o.value.trim().strip_prefix("group:")?.trim();
            (!g.is_empty()).then(|| super::runtime::GroupRef {
                name: g.to_ascii_lowercase(),
                file: path.to_path_buf(),
                line: o.referenced.line(),
                column: o.referenced.column(),
            })
        })
        .collect()
}
