//! Upstream pools: one per app, round robin over the app's upstreams,
//! skipping those that fail their active health check.
//!
//! Built off the hot path (at start and on reload); the proxy only calls
//! [`Pools::peer`], which clones a peer prepared at build time. Every peer
//! of one backend is identical, so Pingora's connection pool (keyed by
//! `HttpPeer::reuse_hash`) reuses connections across requests.
//!
//! Addresses are resolved once, when the pools are built. A reload re-resolves
//! them; nothing else does.

use crate::config::App;
use crate::metrics::Metrics;
use async_trait::async_trait;
use pingora::ErrorType;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::lb::discovery::Static;
use pingora::lb::health_check::{HealthCheck, HttpHealthCheck, TcpHealthCheck};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, Extensions, LoadBalancer};
use pingora::protocols::ALPN;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::tls::CaType;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::upstreams::peer::{HttpPeer, PeerOptions};
use pingora::utils::tls::{WrappedX509, parse_x509};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an idle pooled connection to an upstream is kept for reuse.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The health-check interval when no app configures one (and the sleep of an
/// idle [`HealthChecker`]).
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// No app is probed more often than this, whatever its config says.
const MIN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A probe never waits longer than this for a connection or an answer, so a
/// hung upstream cannot stall a round for its full `read_timeout`.
const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One app's pool.
pub struct Pool {
    /// The app as configured in the snapshot these pools were built or
    /// reconciled for.
    pub app: App,
    /// Round robin over every resolved address of the app's upstreams; its
    /// health state is what [`Pools::run_health_checks`] updates.
    pub lb: Arc<LoadBalancer<RoundRobin>>,
    /// The part a reload keeps when the upstream settings did not change.
    core: Arc<Core>,
}

/// Everything derived from an app's upstream settings, shared by the pools of
/// successive snapshots while those settings stay the same.
struct Core {
    plan: Plan,
    /// One prepared peer per resolved address.
    peers: HashMap<SocketAddr, HttpPeer>,
    /// When the last health round of this pool started (`None`: never).
    checked_at: Mutex<Option<Instant>>,
    /// Each upstream's health as last exported (`None`: not yet), so that
    /// a change is logged once, in our words rather than Pingora's.
    last_health: Mutex<Vec<Option<bool>>>,
}

/// What an app's upstream settings resolve to. Two plans that compare equal
/// give identical peers and health checks.
#[derive(PartialEq, Eq)]
struct Plan {
    tls: bool,
    /// Resolved address → index of the upstream in `app.upstreams` that named
    /// it first (its configured host is the SNI and the metric label).
    targets: Vec<(SocketAddr, usize)>,
    /// The addresses each upstream resolved to, by index in `app.upstreams`.
    resolved: Vec<Vec<SocketAddr>>,
    /// DER certificates from `upstream_tls.ca_file`.
    ca: Option<Vec<Vec<u8>>>,
}

/// The peer chosen for a request and the upstream it belongs to.
pub struct Selected<'a> {
    pub peer: Box<HttpPeer>,
    /// The upstream as configured (its `address` is `host:port`, the `Host`
    /// to send when the app does not preserve the client's).
    pub upstream: &'a crate::config::Upstream,
}

/// One upstream's health as last observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamHealth {
    pub app: String,
    /// The address as configured (`host:port`).
    pub upstream: String,
    /// True until a check fails; an upstream whose host resolved to several
    /// addresses is healthy while any of them is.
    pub healthy: bool,
}

/// Pools by app index (the index into `config.apps` of the snapshot they
/// were built for).
#[derive(Default)]
pub struct Pools {
    pub pools: Vec<Arc<Pool>>,
}

impl Pools {
    /// Builds a pool per app. Fails, naming the app, when an upstream address
    /// does not resolve, when one app mixes `http` and `https` upstreams, or
    /// when its CA file holds no usable PEM certificate. Resolving may block
    /// on DNS: call it off the request path (from async code, inside
    /// `spawn_blocking`).
    pub fn build(apps: &[App]) -> Result<Pools, String> {
        Pools::default().reconcile(apps)
    }

    /// Builds the pools for a new config (on reload). An app with the same
    /// name whose upstream settings, resolved addresses and CA certificates
    /// are unchanged keeps its load balancer, so its health state survives
    /// the reload; when nothing at all changed in the app, its `Arc<Pool>` is
    /// reused as is. Fails like [`Pools::build`]; `self` is untouched.
    pub fn reconcile(&self, apps: &[App]) -> Result<Pools, String> {
        let pools = apps
            .iter()
            .map(|app| {
                let plan = Plan::new(app)?;
                let old = self.pools.iter().find(|p| p.app.name == app.name);
                Ok(match old {
                    Some(old) if old.core.plan == plan && same_upstream_settings(&old.app, app) => {
                        if same_app(&old.app, app) {
                            Arc::clone(old)
                        } else {
                            Arc::new(Pool {
                                app: app.clone(),
                                lb: Arc::clone(&old.lb),
                                core: Arc::clone(&old.core),
                            })
                        }
                    }
                    _ => Arc::new(Pool::new(app, plan)),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Pools { pools })
    }

    /// A peer for the app (round robin over its healthy upstreams), or `None`
    /// when every upstream is down (the proxy then answers 502) or `app` is
    /// out of range. An upstream that was never checked counts as healthy.
    pub fn peer(&self, app: usize) -> Option<Box<HttpPeer>> {
        self.select(app).map(|s| s.peer)
    }

    /// Like [`Pools::peer`], with the configured upstream the peer
    /// belongs to.
    pub fn select(&self, app: usize) -> Option<Selected<'_>> {
        let pool = self.pools.get(app)?;
        let backend = pool.lb.select(b"", 256)?;
        let addr = backend.addr.as_inet()?;
        let peer = pool.core.peers.get(addr)?;
        let upstream = pool
            .core
            .plan
            .targets
            .iter()
            .find(|(a, _)| a == addr)
            .and_then(|(_, i)| pool.app.upstreams.get(*i))?;
        Some(Selected {
            peer: Box::new(peer.clone()),
            upstream,
        })
    }

    /// Runs one health-check round for every pool (the pools concurrently,
    /// the upstreams of a pool concurrently) and then sets
    /// `portcullis_upstream_health{app,upstream}` to 1 or 0 for each.
    pub async fn run_health_checks(&self, metrics: &Metrics) {
        self.run_rounds(metrics, false).await;
    }

    /// Like [`Pools::run_health_checks`], for the pools whose interval has
    /// passed since their last round (what [`HealthChecker`] runs).
    pub async fn run_due_health_checks(&self, metrics: &Metrics) {
        self.run_rounds(metrics, true).await;
    }

    async fn run_rounds(&self, metrics: &Metrics, only_due: bool) {
        let now = Instant::now();
        let mut rounds = tokio::task::JoinSet::new();
        for pool in &self.pools {
            if only_due && !pool.due(now) {
                continue;
            }
            if let Ok(mut at) = pool.core.checked_at.lock() {
                *at = Some(now);
            }
            let pool = Arc::clone(pool);
            // Dropping the JoinSet (shutdown) aborts the rounds in flight.
            rounds.spawn(async move {
                pool.lb.backends().run_health_check(true).await;
                pool
            });
        }
        while let Some(done) = rounds.join_next().await {
            match done {
                Ok(pool) => pool.export(metrics),
                Err(e) => tracing::warn!(error = %e, "an upstream health round failed"),
            }
        }
    }

    /// The health of every configured upstream as last observed.
    pub fn health(&self) -> Vec<UpstreamHealth> {
        self.pools.iter().flat_map(|p| p.health()).collect()
    }

    /// The shortest health-check interval of any app (default 5 s, at
    /// least 1 s): how long [`HealthChecker`] sleeps between rounds.
    pub fn check_interval(&self) -> Duration {
        self.pools
            .iter()
            .map(|p| p.interval())
            .min()
            .unwrap_or(DEFAULT_CHECK_INTERVAL)
    }

    /// Removes the health metrics of upstreams that `next` (the pools that
    /// replace these on reload) no longer has, so a removed upstream does
    /// not keep reporting its last state.
    pub fn retire_metrics(&self, next: &Pools, metrics: &Metrics) {
        let keep: BTreeSet<(String, String)> = next
            .health()
            .into_iter()
            .map(|h| (h.app, h.upstream))
            .collect();
        for h in self.health() {
            if !keep.contains(&(h.app.clone(), h.upstream.clone())) {
                let _ = metrics
                    .upstream_health
                    .remove_label_values(&[&h.app, &h.upstream]);
            }
        }
    }
}

impl Pool {
    fn new(app: &App, plan: Plan) -> Pool {
        let ca = plan.ca.as_ref().map(|ders| {
            let certs: Vec<WrappedX509> = ders
                .iter()
                .map(|d| WrappedX509::new(d.clone(), parse_x509))
                .collect();
            Arc::<CaType>::from(certs)
        });
        // The reuse hash of a peer does not cover its CA: keep connections
        // verified against different trust anchors apart.
        let group_key = plan.ca.as_ref().map_or(0, |ders| {
            let mut h = DefaultHasher::new();
            ders.hash(&mut h);
            h.finish()
        });
        let mut peers = HashMap::new();
        let mut checks: HashMap<SocketAddr, Box<dyn HealthCheck + Send + Sync>> = HashMap::new();
        let mut backends = BTreeSet::new();
        for &(addr, index) in &plan.targets {
            let upstream = &app.upstreams[index];
            let sni = if plan.tls {
                sni(app, &upstream.address)
            } else {
                String::new()
            };
            let mut peer = HttpPeer::new(addr, plan.tls, sni.clone());
            peer.group_key = group_key;
            peer_options(&mut peer.options, app, ca.as_ref(), plan.tls);
            peer.options.connection_timeout = Some(app.connect_timeout);
            peer.options.read_timeout = Some(app.read_timeout);
            // An upstream that stops reading a request body is as stuck as
            // one that stops answering.
            peer.options.write_timeout = Some(app.read_timeout);
            peer.options.idle_timeout = Some(IDLE_TIMEOUT);
            peers.insert(addr, peer);
            checks.insert(
                addr,
                probe(app, &upstream.address, &sni, ca.as_ref(), plan.tls),
            );
            backends.insert(Backend {
                addr: PeerAddr::Inet(addr),
                weight: 1,
                ext: Extensions::new(),
            });
        }
        let mut view = Backends::new(Static::new(backends));
        view.set_health_check(Box::new(PoolCheck {
            app: app.name.clone(),
            upstreams: plan
                .targets
                .iter()
                .map(|&(a, i)| (a, app.upstreams[i].address.clone()))
                .collect(),
            checks,
        }));
        let lb = LoadBalancer::<RoundRobin>::from_backends(view);
        // Static discovery answers at once; this publishes the backends.
        let published = futures_now(lb.update());
        debug_assert!(matches!(published, Some(Ok(()))), "static discovery");
        Pool {
            app: app.clone(),
            lb: Arc::new(lb),
            core: Arc::new(Core {
                plan,
                peers,
                checked_at: Mutex::new(None),
                last_health: Mutex::new(Vec::new()),
            }),
        }
    }

    fn interval(&self) -> Duration {
        self.app.health_check.interval.max(MIN_CHECK_INTERVAL)
    }

    fn due(&self, now: Instant) -> bool {
        match self.core.checked_at.lock().ok().and_then(|at| *at) {
            None => true,
            Some(at) => now.duration_since(at) >= self.interval(),
        }
    }

    fn health(&self) -> Vec<UpstreamHealth> {
        self.app
            .upstreams
            .iter()
            .enumerate()
            .map(|(index, u)| UpstreamHealth {
                app: self.app.name.clone(),
                upstream: u.address.clone(),
                healthy: self
                    .core
                    .plan
                    .resolved
                    .get(index)
                    .is_some_and(|addrs| addrs.iter().any(|a| self.ready(*a))),
            })
            .collect()
    }

    fn ready(&self, addr: SocketAddr) -> bool {
        self.lb.backends().ready(&Backend {
            addr: PeerAddr::Inet(addr),
            weight: 1,
            ext: Extensions::new(),
        })
    }

    fn export(&self, metrics: &Metrics) {
        let health = self.health();
        if let Ok(mut last) = self.core.last_health.lock() {
            last.resize(health.len(), None);
            for (h, was) in health.iter().zip(last.iter_mut()) {
                match (*was, h.healthy) {
                    (Some(true) | None, false) => tracing::warn!(
                        app = %h.app,
                        upstream = %h.upstream,
                        "upstream is not answering its health check; requests go to the app's other upstreams"
                    ),
                    (Some(false), true) => {
                        tracing::info!(app = %h.app, upstream = %h.upstream, "upstream is healthy again")
                    }
                    _ => {}
                }
                *was = Some(h.healthy);
            }
        }
        for h in health {
            metrics
                .upstream_health
                .with_label_values(&[&h.app, &h.upstream])
                .set(i64::from(h.healthy));
        }
    }
}

impl Plan {
    fn new(app: &App) -> Result<Plan, String> {
        let tls = app.upstreams.first().is_some_and(|u| u.tls);
        if app.upstreams.iter().any(|u| u.tls != tls) {
            return Err(format!(
                "app `{}`: upstreams mix http and https; use one scheme for all upstreams of an app",
                app.name
            ));
        }
        if app.upstream_tls.sni.as_deref().is_some_and(str::is_empty) {
            // Pingora skips certificate verification without SNI; turning
            // verification off must stay explicit (`insecure_skip_verify`).
            return Err(format!(
                "app `{}`: `upstream_tls.sni` must not be empty; leave it out to use the upstream's host",
                app.name
            ));
        }
        let mut resolved = Vec::with_capacity(app.upstreams.len());
        let mut targets: Vec<(SocketAddr, usize)> = Vec::new();
        for (index, u) in app.upstreams.iter().enumerate() {
            let mut addrs: Vec<SocketAddr> = u
                .address
                .to_socket_addrs()
                .map_err(|e| {
                    format!(
                        "app `{}`: upstream `{}` does not resolve: {e}",
                        app.name, u.address
                    )
                })?
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "app `{}`: upstream `{}` resolves to no address",
                    app.name, u.address
                ));
            }
            for &addr in &addrs {
                // Two upstreams naming one address share one backend; the
                // first one's host is its SNI.
                if !targets.iter().any(|(a, _)| *a == addr) {
                    targets.push((addr, index));
                }
            }
            // DNS answers may come in any order; a reload compares sets.
            addrs.sort();
            resolved.push(addrs);
        }
        targets.sort();
        let ca =
            match &app.upstream_tls.ca_file {
                Some(path) => Some(load_ca(path).map_err(|e| {
                    format!("app `{}`: CA file `{}`: {e}", app.name, path.display())
                })?),
                None => None,
            };
        Ok(Plan {
            tls,
            targets,
            resolved,
            ca,
        })
    }
}

/// The settings a pool is built from; other app fields (hosts, paths,
/// policies) do not touch upstream connections or their health.
fn same_upstream_settings(a: &App, b: &App) -> bool {
    a.upstreams == b.upstreams
        && a.upstream_tls.ca_file == b.upstream_tls.ca_file
        && a.upstream_tls.insecure_skip_verify == b.upstream_tls.insecure_skip_verify
        && a.upstream_tls.sni == b.upstream_tls.sni
        && a.connect_timeout == b.connect_timeout
        && a.read_timeout == b.read_timeout
        && a.health_check.path == b.health_check.path
        && a.health_check.interval == b.health_check.interval
}

/// Whether two apps are the same in every field. `App` has no `PartialEq`
/// (it is the config loader's type); its `Debug` form covers every field and
/// is deterministic, and this runs only on reload.
fn same_app(a: &App, b: &App) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// The name sent as SNI and verified against the certificate:
/// `upstream_tls.sni`, else the upstream's host as written in the config
/// (never the resolved address, which the certificate does not name).
fn sni(app: &App, address: &str) -> String {
    if let Some(sni) = &app.upstream_tls.sni {
        return sni.clone();
    }
    host_of(address).to_string()
}

/// `host` of `host:port` or `[v6]:port`, without brackets (an IP address is
/// then verified against the certificate's IP names).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// TLS settings shared by the proxy's peers and the health probes.
fn peer_options(options: &mut PeerOptions, app: &App, ca: Option<&Arc<CaType>>, tls: bool) {
    if !tls {
        return;
    }
    options.alpn = ALPN::H2H1;
    options.ca = ca.cloned();
    // Explicit only: an upstream certificate is verified (system roots, or
    // `ca_file`) unless the operator opts out, which stops a network attacker
    // from impersonating the app to the gateway.
    if app.upstream_tls.insecure_skip_verify {
        options.verify_cert = false;
        options.verify_hostname = false;
    }
}

/// Reads a PEM file of CA certificates as DER. Each certificate is checked
/// with the parsers Pingora uses at connect time, so a bad file is refused
/// here instead of failing (or panicking in `WrappedX509`) per connection.
fn load_ca(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut ders = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("not PEM: {e}"))?;
        x509_parser::parse_x509_certificate(&cert)
            .map_err(|e| format!("certificate {} does not parse: {e}", ders.len() + 1))?;
        pingora::tls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("certificate {} is not a usable CA: {e}", ders.len() + 1))?;
        ders.push(cert.to_vec());
    }
    if ders.is_empty() {
        return Err("holds no `BEGIN CERTIFICATE` block".to_string());
    }
    Ok(ders)
}

/// The health probe of one resolved address: an HTTP `GET health_check.path`
/// that must answer 2xx or 3xx, or else a TCP connect (plus the TLS handshake
/// for `https` upstreams, so a certificate the gateway would refuse marks the
/// upstream down). One failure marks it down and one success up again: the
/// proxy retries nothing on its own, so a dead upstream should leave the
/// rotation within one interval, and a flapping one costs at most one
/// interval of errors.
fn probe(
    app: &App,
    address: &str,
    sni: &str,
    ca: Option<&Arc<CaType>>,
    tls: bool,
) -> Box<dyn HealthCheck + Send + Sync> {
    let timeout = app
        .health_check
        .interval
        .clamp(MIN_CHECK_INTERVAL, MAX_CHECK_TIMEOUT);
    let connect_timeout = app.connect_timeout.min(timeout);
    match &app.health_check.path {
        Some(path) => {
            // The `Host` a virtual-hosted upstream expects: the SNI name when
            // one is configured, else the address as written.
            let host = app.upstream_tls.sni.as_deref().unwrap_or(address);
            let mut check = HttpHealthCheck::new(host, tls);
            if let Ok(mut req) = RequestHeader::build("GET", path.as_bytes(), None) {
                let _ = req.insert_header("Host", host);
                let _ = req.insert_header("User-Agent", "portcullis-health-check");
                check.req = req;
            }
            check.peer_template.sni = sni.to_string();
            peer_options(&mut check.peer_template.options, app, ca, tls);
            // Probes speak HTTP/1.1: one request per fresh connection.
            check.peer_template.options.alpn = ALPN::H1;
            check.peer_template.options.connection_timeout = Some(connect_timeout);
            check.peer_template.options.read_timeout = Some(timeout);
            check.peer_template.options.write_timeout = Some(timeout);
            check.consecutive_success = 1;
            check.consecutive_failure = 1;
            check.validator = Some(Box::new(|resp: &ResponseHeader| {
                let s = resp.status.as_u16();
                if (200..400).contains(&s) {
                    Ok(())
                } else {
                    pingora::Error::e_explain(
                        ErrorType::CustomCode("health check status", s),
                        "expected 2xx or 3xx",
                    )
                }
            }));
            Box::new(check)
        }
        None => {
            let mut check = if tls {
                TcpHealthCheck::new_tls(sni)
            } else {
                TcpHealthCheck::new()
            };
            peer_options(&mut check.peer_template.options, app, ca, tls);
            check.peer_template.options.alpn = ALPN::H1;
            check.peer_template.options.connection_timeout = Some(connect_timeout);
            check.consecutive_success = 1;
            check.consecutive_failure = 1;
            check
        }
    }
}

/// One app's health check: dispatches each resolved address to its own
/// probe (each upstream has its own SNI and `Host`), and logs changes.
struct PoolCheck {
    app: String,
    /// Resolved address → the upstream as configured.
    upstreams: HashMap<SocketAddr, String>,
    checks: HashMap<SocketAddr, Box<dyn HealthCheck + Send + Sync>>,
}

#[async_trait]
impl HealthCheck for PoolCheck {
    async fn check(&self, target: &Backend) -> pingora::Result<()> {
        let check = target.addr.as_inet().and_then(|a| self.checks.get(a));
        let Some(check) = check else {
            return pingora::Error::e_explain(ErrorType::InternalError, "no probe for backend");
        };
        let result = check.check(target).await;
        if let Err(e) = &result {
            tracing::debug!(app = %self.app, backend = %target.addr, error = %e, "health check failed");
        }
        result
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        let upstream = target
            .addr
            .as_inet()
            .and_then(|a| self.upstreams.get(a))
            .map_or("?", String::as_str);
        if healthy {
            tracing::info!(app = %self.app, upstream, backend = %target.addr, "upstream is healthy again");
        } else {
            tracing::warn!(app = %self.app, upstream, backend = %target.addr, "upstream failed its health check; taken out of rotation");
        }
    }

    fn backend_summary(&self, target: &Backend) -> String {
        format!("app `{}` upstream {}", self.app, target.addr)
    }

    fn health_threshold(&self, _success: bool) -> usize {
        1
    }
}

/// Polls a future that is known to be ready (static discovery).
fn futures_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Where [`HealthChecker`] finds the pools in service: the current
/// snapshot's, read again every round so reloaded pools are picked up.
pub type CurrentPools = Arc<dyn Fn() -> Arc<Pools> + Send + Sync>;

/// The background service that keeps upstream health current: every round
/// it takes the current pools (from the snapshot in service), checks those
/// whose interval has passed, exports the metric, then sleeps the shortest
/// configured interval (default 5 s). Stops on shutdown, abandoning a round
/// in flight.
pub struct HealthChecker {
    current: CurrentPools,
    metrics: Arc<Metrics>,
    /// A listener of this process to wait for before the first round.
    wait_for: Option<SocketAddr>,
}

/// How long the first round waits for [`HealthChecker::after_listening`].
const FIRST_ROUND_WAIT: Duration = Duration::from_secs(5);

impl HealthChecker {
    pub fn new(current: CurrentPools, metrics: Arc<Metrics>) -> HealthChecker {
        HealthChecker {
            current,
            metrics,
            wait_for: None,
        }
    }

    /// Starts the first round once `addr` accepts connections (at most
    /// [`FIRST_ROUND_WAIT`]): an upstream served by this same process (the
    /// built-in demo app) starts alongside the checker, and checking it
    /// first would report it unhealthy for a round.
    pub fn after_listening(mut self, addr: Option<SocketAddr>) -> HealthChecker {
        self.wait_for = addr;
        self
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if let Some(addr) = self.wait_for {
            let listening = async {
                while tokio::net::TcpStream::connect(addr).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                _ = tokio::time::timeout(FIRST_ROUND_WAIT, listening) => {}
                _ = shutdown.changed() => return,
            }
        }
        health_loop(&*self.current, &self.metrics, shutdown).await;
    }
}

/// [`HealthChecker`]'s loop over any source of current pools.
async fn health_loop(
    current_pools: &(dyn Fn() -> Arc<Pools> + Send + Sync),
    metrics: &Metrics,
    mut shutdown: ShutdownWatch,
) {
    let mut previous: Option<Arc<Pools>> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let current = current_pools();
        if let Some(prev) = &previous
            && !Arc::ptr_eq(prev, &current)
        {
            prev.retire_metrics(&current, metrics);
        }
        previous = Some(Arc::clone(&current));
        tokio::select! {
            () = current.run_due_health_checks(metrics) => {}
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(current.check_interval()) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests;
