//! `portcullis serve`: builds the shared state and runs the Pingora server
//! with the proxy, admin and background services.

use crate::config::{Config, IdpKind, JwksSource, Store as StoreConfig};
use crate::metrics::Metrics;
use crate::pools::Pools;
use crate::proxy::Proxy;
use crate::reload::Reloader;
use crate::session::{self, BearerConfig, BearerVerifier};
use crate::snapshot::{LoadErrors, Snapshot};
use crate::state::{Gateway, now};
use crate::store::{DirectoryCache, DirectoryCacheConfig, Store};
use pingora::listeners::tls::TlsSettings;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::background::background_service;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// mimalloc instead of the system allocator (cargo feature `mimalloc`): the
/// data path allocates (and frees) a few dozen small blocks per request,
/// mostly inside Pingora, and glibc's malloc spent about 12% of the proxy's
/// CPU on them; mimalloc costs memory in exchange (benches/LOAD.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use crate::session::ISSUER;

/// Options of `portcullis serve`.
pub struct ServeOptions {
    pub config: PathBuf,
    /// Take over the listening sockets of a running instance (graceful upgrade).
    pub upgrade: bool,
}

/// Starts the gateway; returns only on a start-up error (every line of it).
pub fn run(opts: ServeOptions) -> Result<std::convert::Infallible, Vec<String>> {
    let snapshot =
        Snapshot::load_to_serve(&opts.config, &Pools::default()).map_err(|LoadErrors(e)| e)?;
    let config = snapshot.config.clone();
    // Before anything is opened: a second `serve` of a running instance
    // would share its upgrade socket.
    let instance = crate::upgrade::Instance::new(&state_dir(&config), &opts.config);
    instance.check(opts.upgrade).map_err(|e| vec![e])?;

    // One small runtime for the store and token refresh tasks; it lives as
    // long as the process.
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("portcullis-bg")
            .enable_all()
            .build()
            .map_err(|e| vec![format!("cannot start the background runtime: {e}")])?,
    ));
    let _guard = runtime.enter();
    let store = runtime.block_on(open_store(&config))?;
    let keys = runtime
        .block_on(crate::replica_sync::load_keys(&store, now()))
        .map_err(|e| vec![e])?;
    let bearer = bearer_verifiers(&config).map_err(|e| vec![e])?;
    for v in &bearer {
        v.spawn_refresh();
    }
    let directory = DirectoryCache::new(store.clone(), DirectoryCacheConfig::default());
    let metrics = Metrics::new();
    metrics.config_last_reload_success.set(now() as f64);
    let gateway = Arc::new(Gateway::new(
        opts.config.clone(),
        snapshot,
        keys,
        bearer,
        store,
        directory,
        metrics,
    ));
    let portal = runtime.block_on(start_portal(&config, &gateway))?;

    // Revocations already recorded (a restart must not forget a sign-out).
    let revocations_since = runtime
        .block_on(crate::replica_sync::load_revocations(&gateway, 0))
        .map_err(|e| vec![format!("session revocations: {e}")])?;

    let threads = config
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let conf = ServerConf {
        threads,
        work_stealing: work_stealing(threads),
        grace_period_seconds: Some(config.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.grace_period.as_secs().max(1)),
        pid_file: path_str(&instance.pid_file),
        upgrade_sock: path_str(&instance.upgrade_sock),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    // With --upgrade: receives the listening sockets (or exits).
    server.bootstrap();
    instance.claim();

    let live = Arc::new(crate::proxy::live::LiveConnections::default());
    let access_log = Arc::new(crate::proxy::access_log::AccessLog::default());
    let mut proxy = crate::upgrade::proxy_service(
        &server.configuration,
        Proxy {
            gateway: gateway.clone(),
            reserved: Arc::new(crate::portal::PortalService {
                gateway: gateway.clone(),
                portal,
            }),
            live: live.clone(),
            access_log: access_log.clone(),
        },
        config.grace_period,
        gateway.clone(),
    );
    if let Some(addr) = config.listen.http {
        proxy.add_tcp(&addr.to_string());
    }
    if let Some(https) = &config.listen.https {
        let mut tls = TlsSettings::intermediate(&path_str(&https.cert), &path_str(&https.key))
            .map_err(|e| {
                vec![format!(
                    "{}: TLS certificate or key: {e}",
                    config.path.display()
                )]
            })?;
        tls.enable_h2();
        proxy.add_tls_with_settings(&https.address.to_string(), None, tls);
        // For the certificate-expiry alert (deploy/prometheus/alerts.yaml).
        // Read once: the listener serves this certificate until a restart.
        match crate::metrics::certificate_not_after(&https.cert) {
            Ok(not_after) => gateway.metrics.set_tls_certificate_expiry(not_after),
            Err(error) => tracing::warn!(%error, "cannot read the certificate's expiry"),
        }
    }
    server.add_service(proxy);
    if let Some(admin) = &config.admin {
        server.add_service(crate::admin::service(gateway.clone(), admin).map_err(|e| vec![e])?);
    }
    if let Some(addr) = config.demo_app {
        server.add_service(crate::demo::service(addr));
    }
    server.add_service(background_service(
        "health checks",
        crate::pools::HealthChecker::new(
            {
                let gateway = gateway.clone();
                Arc::new(move || gateway.snapshot.load().pools.clone())
            },
            gateway.metrics.clone(),
        )
        .after_listening(config.demo_app),
    ));
    server.add_service(background_service(
        "access log",
        crate::proxy::access_log::Flusher { log: access_log },
    ));
    server.add_service(background_service(
        "decision log",
        crate::decision_log::Writer {
            log: gateway.decision_log.clone(),
            store: gateway.store.clone(),
            settings: {
                let gateway = gateway.clone();
                Box::new(move || gateway.snapshot.load().config.decision_log.clone())
            },
        },
    ));
    server.add_service(background_service(
        "session sync",
        crate::replica_sync::SessionSync {
            gateway: gateway.clone(),
            revocations_since,
        },
    ));
    server.add_service(background_service(
        "upgrade on SIGUSR2",
        crate::upgrade::UpgradeOnSignal {
            gateway: gateway.clone(),
            config_path: opts.config.clone(),
            upgrade_sock: instance.upgrade_sock.clone(),
        },
    ));
    server.add_service(background_service(
        "drain on SIGQUIT and SIGTERM",
        crate::upgrade::DrainOnSignal {
            gateway: gateway.clone(),
        },
    ));
    server.add_service(background_service(
        "systemd readiness",
        crate::upgrade::NotifyReady {
            probe: config
                .listen
                .http
                .or(config.listen.https.as_ref().map(|h| h.address)),
        },
    ));
    server.add_service(background_service(
        "live connection checks",
        crate::proxy::live::Rechecker {
            gateway: gateway.clone(),
            connections: live,
        },
    ));
    server.add_service(background_service(
        "reload",
        Reloader {
            gateway: gateway.clone(),
            debounce: Duration::from_millis(300),
        },
    ));
    gateway.set_ready(true);
    tracing::info!(
        http = ?config.listen.http,
        https = ?config.listen.https.as_ref().map(|h| h.address),
        apps = config.apps.len(),
        policies = gateway.snapshot.load().rules.policies().len(),
        open = %open_urls(&config).join(" "),
        "portcullis serving"
    );
    server.run_forever()
}

/// The addresses a person opens: each app's first host, then the sign-in
/// host, on the HTTPS listener if there is one (else the HTTP one), with
/// its port unless it is the scheme's default.
pub fn open_urls(config: &Config) -> Vec<String> {
    let (scheme, port, default) = match (&config.listen.https, config.listen.http) {
        (Some(h), _) => ("https", h.address.port(), 443),
        (None, Some(a)) => ("http", a.port(), 80),
        (None, None) => return Vec::new(),
    };
    let port = if port == default {
        String::new()
    } else {
        format!(":{port}")
    };
    config
        .apps
        .iter()
        .filter_map(|a| a.hosts.first())
        .chain(config.sign_in.as_ref().map(|s| &s.host))
        .map(|host| format!("{scheme}://{host}{port}/"))
        .collect()
}

/// Environment variable choosing Pingora's runtime flavour: `1` a
/// work-stealing runtime per service, `0` one single-threaded runtime per
/// thread. See [`work_stealing`].
pub const WORK_STEALING_ENV: &str = "PORTCULLIS_WORK_STEALING";

/// Whether the proxy's threads share one work-stealing runtime. With one
/// thread there is nothing to steal from, and the single-threaded runtime is
/// cheaper per request (no cross-thread wake-up machinery; benches/LOAD.md),
/// so that is the default then; with more threads Pingora's default
/// (stealing) stays. [`WORK_STEALING_ENV`] overrides either way.
fn work_stealing(threads: usize) -> bool {
    match std::env::var(WORK_STEALING_ENV)
        .ok()
        .as_deref()
        .map(str::trim)
    {
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        _ => threads > 1,
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The folder of the pid file and the upgrade socket: `server.state_dir`,
/// else beside the SQLite store, else the system's temporary folder. Shared by every instance
/// whose state is there; [`crate::upgrade::Instance`] names the files.
fn state_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.state_dir {
        return dir.clone();
    }
    match &config.store {
        StoreConfig::Sqlite(p) => p
            .parent()
            .map_or_else(std::env::temp_dir, Path::to_path_buf),
        StoreConfig::Postgres(_) => std::env::temp_dir(),
    }
}

/// Opens (and migrates) the store the config names; also used by the CLI.
pub async fn open_store(config: &Config) -> Result<Store, Vec<String>> {
    match &config.store {
        StoreConfig::Sqlite(path) => Store::open_sqlite(path).await.map_err(|e| {
            vec![format!(
                "{}: store {}: {e}",
                config.path.display(),
                path.display()
            )]
        }),
        StoreConfig::Postgres(url) => Store::open(url)
            .await
            .map_err(|e| vec![format!("{}: store: {e}", config.path.display())]),
    }
}

fn bearer_verifiers(config: &Config) -> Result<Vec<Arc<BearerVerifier>>, String> {
    config
        .idps
        .iter()
        .filter_map(|idp| match &idp.kind {
            IdpKind::Jwt {
                issuer,
                audience,
                jwks,
                algorithms,
                groups_claim,
                domains,
            } => Some(bearer_verifier(
                config,
                idp,
                issuer,
                audience,
                jwks,
                algorithms,
                groups_claim.as_deref(),
                domains,
            )),
            // Browser sign-in IdPs are not bearer-token issuers.
            IdpKind::Oidc(_) | IdpKind::Oauth2(_) | IdpKind::Local(_) | IdpKind::Saml(_) => None,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn bearer_verifier(
    config: &Config,
    idp: &crate::config::Idp,
    issuer: &str,
    audience: &str,
    jwks: &JwksSource,
    algorithms: &[String],
    groups_claim: Option<&str>,
    domains: &[String],
) -> Result<Arc<BearerVerifier>, String> {
    let source = match jwks {
        JwksSource::File(p) => session::JwksSource::File(p.clone()),
        JwksSource::Url(u) => session::JwksSource::Url(u.clone()),
    };
    let name = idp.name.as_str();
    let mut cfg = BearerConfig::new(name, issuer, audience, source);
    cfg.trust = idp.trust.clone();
    cfg.algorithms = algorithms
        .iter()
        .map(|a| session::parse_algorithm(a))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("idp `{name}`: {e}"))?;
    if let Some(c) = groups_claim {
        cfg.groups_claim = c.to_string();
    }
    cfg.member_domains = config.organisation.member_domains.clone();
    cfg.domains = domains.to_vec();
    BearerVerifier::new(cfg)
        .map(Arc::new)
        .map_err(|e| format!("idp `{name}`: {e}"))
}

/// Sign-in: the local IdPs' accounts into the store (renewed at each start),
/// then the portal (mailer, IdP discovery) when `sign_in` is configured.
async fn start_portal(
    config: &Config,
    gateway: &Arc<Gateway>,
) -> Result<Option<Arc<crate::portal::Portal>>, Vec<String>> {
    let today = time::OffsetDateTime::now_utc();
    for idp in &config.idps {
        if let IdpKind::Local(local) = &idp.kind {
            local
                .seed(&gateway.store, today)
                .await
                .map_err(|e| vec![format!("idp {}: cannot store its users: {e}", idp.name)])?;
        }
    }
    // Expired sign-in state (pending sign-ins, hand-off codes, passcodes,
    // rate-limit windows, ended sessions) is deleted every 10 minutes; it
    // is refused by its expiry long before, so this only bounds the tables.
    let store = gateway.store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = time::OffsetDateTime::now_utc();
            let pruned = (
                store.prune_tickets(now).await,
                store.prune_passcodes(now).await,
                store.prune_rate_limits(now).await,
                store.prune_sessions(now).await,
            );
            if let (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) =
                pruned
            {
                tracing::warn!(error = %e, "pruning expired sign-in state failed; retried in 10 minutes");
            }
        }
    });
    config.keep_saml_metadata_fresh();
    let portal = match config.sign_in {
        Some(_) => Some(Arc::new(
            crate::portal::Portal::build(config)
                .await
                .map_err(|e| vec![e])?,
        )),
        None => None,
    };
    // Guest lifecycle: reminders, expiry, block, sign-out and deletion
    // (every 5 minutes; `lifecycle::INTERVAL_ENV` overrides it).
    gateway.mailer.store(
        portal
            .as_ref()
            .and_then(|p| p.mailer().cloned())
            .map(Arc::new),
    );
    crate::lifecycle::spawn(gateway.clone());
    Ok(portal)
}
