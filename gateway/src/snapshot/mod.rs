//! The snapshot: everything a request reads that a reload can change —
//! config values, compiled rules, GeoIP, trusted proxies, routes and the
//! upstream pools (with their health view) — as one immutable value, built
//! together and swapped whole (STYLE.md §7, docs/design-notes.md "One
//! snapshot per request").
//!
//! A request loads the current snapshot once, when it starts, and every
//! phase of that request reads that value: the app it was routed to, the
//! rules it was decided by and the pool it is sent to always belong to one
//! version, whatever reloads happen meanwhile.

pub mod routes;

use crate::config::{Config, ConfigError};
use crate::pools::Pools;
use geoip::{Country, CountryDb, TrustedProxies};
pub use routes::Routes;
use rules::{CompileContext, RuleError, RuleSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// One consistent view of everything a decision reads.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub rules: Arc<RuleSet>,
    /// `None` when no `geoip.country_db` is configured (every country is then
    /// unknown; `check` refuses rules that name countries in that case).
    pub geoip: Option<Arc<CountryDb>>,
    pub trusted_proxies: TrustedProxies,
    /// Host (and path prefix) → index into `config.apps` (the same index is
    /// the app's `rules::AppId`).
    pub routes: Routes,
    /// One upstream pool per app, by the same index as `config.apps`. Empty
    /// in a snapshot built for the CLI ([`Snapshot::load`]), which never
    /// proxies.
    pub pools: Arc<Pools>,
    /// The pages and e-mails, with `organisation.templates_dir`'s
    /// overrides, compiled once per snapshot (a reload picks up changed
    /// overrides).
    pub templates: Arc<crate::templates::Templates>,
}

/// Why a snapshot could not be built: every error found, each printable as
/// `file:line:column: message`.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<String>);

impl From<Vec<ConfigError>> for LoadErrors {
    fn from(errors: Vec<ConfigError>) -> Self {
        LoadErrors(errors.iter().map(ToString::to_string).collect())
    }
}

impl From<Vec<RuleError>> for LoadErrors {
    fn from(errors: Vec<RuleError>) -> Self {
        LoadErrors(errors.iter().map(ToString::to_string).collect())
    }
}

impl Snapshot {
    /// Loads the config file and everything it references, without upstream
    /// pools (for the CLI: `check`, `whatif`, `rules test`). Nothing is
    /// returned unless all of it is valid.
    pub fn load(config_path: &Path) -> Result<Snapshot, LoadErrors> {
        let config = Config::load(config_path)?;
        Snapshot::build(Arc::new(config))
    }

    /// Loads a snapshot to serve: like [`Snapshot::load`], with the upstream
    /// pools reconciled against `previous` (the pools in service; apps whose
    /// upstream settings did not change keep their health state). Resolves
    /// upstream addresses, which may block on DNS: call it off the request
    /// path.
    pub fn load_to_serve(config_path: &Path, previous: &Pools) -> Result<Snapshot, LoadErrors> {
        let mut next = Snapshot::load(config_path)?;
        // What `portcullis check` warns about, said again in the log of the
        // process that serves it (start and every reload).
        for w in crate::config::warnings(&next.config, &next.rules) {
            tracing::warn!(warning = %w, "configuration warning");
        }
        next.pools = Arc::new(
            previous
                .reconcile(&next.config.apps)
                .map_err(|e| LoadErrors(vec![e]))?,
        );
        Ok(next)
    }

    /// Builds a snapshot from an already checked config (rules and GeoIP are
    /// read now).
    pub fn build(config: Arc<Config>) -> Result<Snapshot, LoadErrors> {
        let mut errors = Vec::new();
        let ctx = CompileContext {
            apps: config.app_names(),
        };
        let rules = match RuleSet::load(&config.rule_files, &ctx) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.extend(e.iter().map(ToString::to_string));
                None
            }
        };
        let geoip = match &config.geoip {
            None => None,
            Some(g) => match CountryDb::open(&g.country_db) {
                Ok(db) => Some(Arc::new(db)),
                Err(e) => {
                    errors.push(format!("{}:0:0: {e}", config.path.display()));
                    None
                }
            },
        };
        if let Some(rules) = &rules
            && config.geoip.is_none()
        {
            // Country conditions without a database would silently never
            // match: a geo-block that blocks nothing.
            for loc in rules.named_locations() {
                if loc.countries.iter().any(|c| *c != Country::Unknown) {
                    errors.push(format!(
                        "{}: named location `{}` uses countries, but `geoip.country_db` is not set in {}",
                        loc.source,
                        loc.name,
                        config.path.display()
                    ));
                }
            }
        }
        match rules {
            Some(rules) if errors.is_empty() => Ok(Snapshot {
                trusted_proxies: TrustedProxies::new(&config.trusted_proxies),
                routes: Routes::new(&config.apps),
                pools: Arc::default(),
                templates: Arc::new(crate::templates::Templates::new(
                    &config.organisation.templates,
                )),
                config,
                rules: Arc::new(rules),
                geoip,
            }),
            _ => Err(LoadErrors(errors)),
        }
    }

    /// The page chrome (organisation, logo, accent, help desk) in `lang`.
    /// `logo_origin`: `scheme://host:port` to prefix the logo's path
    /// with, for a page on a host that does not serve `/.portcullis/`
    /// (the proxy's unknown-host page); `None` for a relative URL.
    pub fn chrome(
        &self,
        lang: crate::i18n::Lang,
        logo_origin: Option<&str>,
    ) -> crate::templates::Chrome {
        let o = &self.config.organisation;
        let logo = o.logo.as_ref().map(|l| match l {
            crate::config::AppIcon::Url(u) => u.clone(),
            crate::config::AppIcon::File(f) => format!(
                "{}{}?v={}",
                logo_origin.unwrap_or(""),
                crate::templates::LOGO_PATH,
                f.version
            ),
        });
        crate::templates::Chrome {
            lang,
            org: o.name.clone(),
            logo,
            accent: o.accent_colour.clone(),
            support: o.support.clone(),
        }
    }

    /// The language for a request with `Accept-Language: header`
    /// (the organisation's when none of the browser's is ours).
    pub fn language(&self, header: Option<&str>) -> crate::i18n::Lang {
        crate::i18n::negotiate(header, self.config.organisation.language)
    }

    /// The sign-in host of this configuration, if sign-in is set up.
    pub fn auth_host(&self) -> Option<&str> {
        self.config.sign_in.as_ref().map(|s| s.host.as_str())
    }

    /// The GeoIP country of an address (unknown without a database).
    pub fn country(&self, ip: IpAddr) -> Country {
        self.geoip
            .as_ref()
            .map_or(Country::Unknown, |db| db.lookup(ip))
    }
}
