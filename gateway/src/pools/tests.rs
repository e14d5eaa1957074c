//! Pools and health checks against real upstreams on loopback (plain and
//! TLS), every wait bounded.

use super::*;
use crate::config::Config;
use pingora::connectors::TransportConnector;
use pingora::tls::{ServerConfig, TlsAcceptor};
use pingora::upstreams::peer::{Peer, Scheme};
use rustls_pki_types::PrivateKeyDer;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

/// A real HTTP/1.1 upstream on 127.0.0.1 (optionally behind TLS) that
/// answers every request with `status` and closes; dies on drop.
struct TestUpstream {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestUpstream {
    async fn start(status: u16, tls: Option<TlsAcceptor>) -> TestUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let status = Arc::new(AtomicU16::new(status));
        let answer = Arc::clone(&status);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let status = answer.load(Ordering::Relaxed);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(Ok(stream)) =
                                tokio::time::timeout(WAIT, acceptor.accept(tcp)).await
                            {
                                respond(stream, status).await;
                            }
                        }
                        None => respond(tcp, status).await,
                    }
                });
            }
        });
        TestUpstream { addr, status, task }
    }

    fn address(&self) -> String {
        self.addr.to_string()
    }
}

async fn respond<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S, status: u16) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match tokio::time::timeout(WAIT, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let body = "ok";
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nlocation: /\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// An address nothing listens on (bound, then released).
async fn dead_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr.to_string()
}

/// Apps as the config loader builds them from `apps:` YAML lines.
fn load_apps(dir: &Path, apps: &str) -> Vec<App> {
    std::fs::create_dir_all(dir.join("rules")).expect("mkdir");
    std::fs::write(dir.join("rules/a.yaml"), "").expect("write");
    let text = format!(
        "listen: {{ http: 127.0.0.1:8080 }}\nrules: [\"rules/*.yaml\"]\norganisation: {{ name: Tailwind Traders }}\napps:\n{apps}"
    );
    match Config::from_str(&dir.join("portcullis.yaml"), &text) {
        Ok(c) => c.apps,
        Err(e) => panic!("config: {e:?}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn health(metrics: &Metrics, app: &str, upstream: &str) -> i64 {
    metrics
        .upstream_health
        .with_label_values(&[app, upstream])
        .get()
}

fn addr_of(peer: &HttpPeer) -> SocketAddr {
    *peer.address().as_inet().expect("inet")
}

/// `n` selections for app 0, as addresses (`None`: no peer).
fn picks(u: &Pools, n: usize) -> Vec<Option<SocketAddr>> {
    (0..n).map(|_| u.peer(0).map(|p| addr_of(&p))).collect()
}

async fn round(u: &Pools, metrics: &Metrics) {
    tokio::time::timeout(WAIT, u.run_health_checks(metrics))
        .await
        .expect("a health round is bounded");
}

#[tokio::test]
async fn round_robin_across_two_live_upstreams_with_reusable_peers() {
    let (a, b) = (
        TestUpstream::start(200, None).await,
        TestUpstream::start(200, None).await,
    );
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        &format!(
            "  - {{ name: payroll, hosts: [payroll.localhost], upstreams: [{}, \"http://{}\"], connect_timeout: 2s, read_timeout: 7s }}\n",
            a.address(),
            b.address()
        ),
    );
    let ups = Pools::build(&apps).expect("build");
    let got = picks(&ups, 4);
    assert_ne!(got[0], got[1], "{got:?}");
    assert_eq!(got[0], got[2], "{got:?}");
    assert_eq!(got[1], got[3], "{got:?}");
    let both: BTreeSet<_> = got.iter().flatten().copied().collect();
    assert_eq!(both, BTreeSet::from([a.addr, b.addr]));

    // Peers of one backend are equal for Pingora's connection pool.
    let p1 = ups.peer(0).expect("peer");
    let _ = ups.peer(0);
    let p2 = ups.peer(0).expect("peer");
    assert_eq!(addr_of(&p1), addr_of(&p2));
    assert_eq!(p1.reuse_hash(), p2.reuse_hash());
    assert_eq!(p1.scheme, Scheme::HTTP);
    assert!(p1.sni.is_empty());
    assert_eq!(p1.options.alpn, ALPN::H1);
    assert_eq!(p1.options.connection_timeout, Some(Duration::from_secs(2)));
    assert_eq!(p1.options.read_timeout, Some(Duration::from_secs(7)));
    assert_eq!(p1.options.idle_timeout, Some(IDLE_TIMEOUT));

    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    assert_eq!(health(&metrics, "payroll", &a.address()), 1);
    assert_eq!(health(&metrics, "payroll", &b.address()), 1);
    let s = ups.select(0).expect("selected");
    assert!([a.address(), b.address()].contains(&s.upstream.address));
}

#[tokio::test]
async fn a_dead_upstream_leaves_the_rotation_after_one_round() {
    let live = TestUpstream::start(200, None).await;
    let dead = dead_address().await;
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        &format!(
            "  - {{ name: payroll, hosts: [payroll.localhost], upstreams: [{}, {dead}] }}\n",
            live.address()
        ),
    );
    let ups = Pools::build(&apps).expect("build");
    // Never checked counts as healthy: both are in rotation at start.
    let before: BTreeSet<_> = picks(&ups, 4).into_iter().flatten().collect();
    assert_eq!(before.len(), 2);

    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    assert_eq!(picks(&ups, 6), vec![Some(live.addr); 6]);
    assert_eq!(health(&metrics, "payroll", &live.address()), 1);
    assert_eq!(health(&metrics, "payroll", &dead), 0);
    let h = ups.health();
    assert_eq!(h.iter().filter(|h| h.healthy).count(), 1, "{h:?}");
}

#[tokio::test]
async fn every_upstream_dead_gives_no_peer() {
    let (d1, d2) = (dead_address().await, dead_address().await);
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        &format!("  - {{ name: payroll, hosts: [payroll.localhost], upstreams: [{d1}, {d2}] }}\n"),
    );
    let ups = Pools::build(&apps).expect("build");
    assert!(
        ups.peer(0).is_some(),
        "unchecked upstreams count as healthy"
    );
    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    assert!(ups.peer(0).is_none());
    assert!(ups.peer(1).is_none(), "no such app");
    assert_eq!(health(&metrics, "payroll", &d1), 0);
    assert_eq!(health(&metrics, "payroll", &d2), 0);
}

#[tokio::test]
async fn http_check_500_marks_down_3xx_up_and_recovery_marks_up() {
    let failing = TestUpstream::start(500, None).await;
    let redirecting = TestUpstream::start(302, None).await;
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        &format!(
            "  - {{ name: wiki, hosts: [wiki.localhost], upstreams: [{}, {}], health_check: {{ path: /healthz, interval: 2s }} }}\n",
            failing.address(),
            redirecting.address()
        ),
    );
    let ups = Pools::build(&apps).expect("build");
    assert_eq!(ups.check_interval(), Duration::from_secs(2));
    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    assert_eq!(health(&metrics, "wiki", &failing.address()), 0);
    assert_eq!(health(&metrics, "wiki", &redirecting.address()), 1);
    assert_eq!(picks(&ups, 4), vec![Some(redirecting.addr); 4]);

    // One success brings it back (consecutive_success = 1).
    failing.status.store(204, Ordering::Relaxed);
    round(&ups, &metrics).await;
    assert_eq!(health(&metrics, "wiki", &failing.address()), 1);
    let both: BTreeSet<_> = picks(&ups, 4).into_iter().flatten().collect();
    assert_eq!(both.len(), 2);
}

/// A self-signed certificate for `localhost` and 127.0.0.1, its PEM
/// written to `dir/ca.pem`, and an acceptor serving it.
fn self_signed(dir: &Path) -> (TlsAcceptor, Vec<u8>) {
    pingora::tls::install_default_crypto_provider();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen");
    std::fs::write(dir.join("ca.pem"), ck.cert.pem()).expect("write pem");
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (TlsAcceptor::from(Arc::new(config)), ck.cert.der().to_vec())
}

#[tokio::test]
async fn tls_upstream_with_ca_file_verifies_against_it() {
    let dir = tempdir();
    let (acceptor, der) = self_signed(dir.path());
    let up = TestUpstream::start(200, Some(acceptor)).await;
    let port = up.addr.port();
    let apps = load_apps(
        dir.path(),
        &format!(
            "  - {{ name: hr, hosts: [hr.localhost], upstreams: [\"https://localhost:{port}\"], upstream_tls: {{ ca_file: ca.pem }}, health_check: {{ path: /health }} }}\n\
             \x20 - {{ name: ip, hosts: [ip.localhost], upstreams: [\"https://127.0.0.1:{port}\"], upstream_tls: {{ ca_file: ca.pem, sni: localhost }} }}\n\
             \x20 - {{ name: sys, hosts: [sys.localhost], upstreams: [\"https://127.0.0.1:{port}\"] }}\n"
        ),
    );
    let ups = Pools::build(&apps).expect("build");

    // SNI is the host as configured, not the resolved address.
    let hr = ups.peer(0).expect("peer");
    assert_eq!(hr.scheme, Scheme::HTTPS);
    assert_eq!(hr.sni, "localhost");
    assert!(hr.options.verify_cert && hr.options.verify_hostname);
    assert_eq!(hr.options.alpn, ALPN::H2H1);
    let ca = hr.options.ca.as_ref().expect("CA set");
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0].borrow_raw_cert(), &der);
    assert_ne!(hr.group_key, 0);
    let ip = ups.peer(1).expect("peer");
    assert_eq!(addr_of(&ip), up.addr);
    assert_eq!(ip.sni, "localhost", "upstream_tls.sni wins");
    let sys = ups.peer(2).expect("peer");
    assert_eq!(sys.sni, "127.0.0.1");
    assert!(sys.options.ca.is_none(), "system roots");
    assert!(sys.options.verify_cert && sys.options.verify_hostname);
    assert_eq!(sys.group_key, 0);

    // A real handshake through Pingora's connector trusts the CA file.
    let connector = TransportConnector::new(None);
    let stream = tokio::time::timeout(WAIT, connector.new_stream(&*ip))
        .await
        .expect("bounded");
    assert!(stream.is_ok(), "{:?}", stream.err());
    // Without it, the self-signed certificate is refused.
    let refused = tokio::time::timeout(WAIT, connector.new_stream(&*sys))
        .await
        .expect("bounded");
    let refused = refused.expect_err("refused").to_string();
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    // Health checks use the same TLS settings (HTTP over TLS for `hr`,
    // a TLS handshake for the others).
    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    let label = format!("127.0.0.1:{port}");
    assert_eq!(health(&metrics, "ip", &label), 1);
    assert_eq!(health(&metrics, "sys", &label), 0, "untrusted certificate");
    assert!(ups.peer(2).is_none());
    assert!(ups.peer(1).is_some());
    // `localhost` may also resolve to ::1, where nothing listens; the
    // upstream is healthy while one of its addresses is.
    assert_eq!(health(&metrics, "hr", &format!("localhost:{port}")), 1);
    assert_eq!(ups.peer(0).map(|p| addr_of(&p)), Some(up.addr));
}

#[tokio::test]
async fn insecure_skip_verify_turns_verification_off() {
    let dir = tempdir();
    let (acceptor, _) = self_signed(dir.path());
    let up = TestUpstream::start(200, Some(acceptor)).await;
    let apps = load_apps(
        dir.path(),
        &format!(
            "  - {{ name: legacy, hosts: [legacy.localhost], upstreams: [\"https://{}\"], upstream_tls: {{ insecure_skip_verify: true }}, health_check: {{ path: / }} }}\n",
            up.address()
        ),
    );
    let ups = Pools::build(&apps).expect("build");
    let p = ups.peer(0).expect("peer");
    assert!(!p.options.verify_cert);
    assert!(!p.options.verify_hostname);
    assert_eq!(p.sni, "127.0.0.1");
    let stream = tokio::time::timeout(WAIT, TransportConnector::new(None).new_stream(&*p))
        .await
        .expect("bounded");
    assert!(stream.is_ok(), "{:?}", stream.err());
    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    assert_eq!(health(&metrics, "legacy", &up.address()), 1);
}

#[tokio::test]
async fn reconcile_keeps_unchanged_pools_and_their_health() {
    let live = TestUpstream::start(200, None).await;
    let dead = dead_address().await;
    let dir = tempdir();
    let before = format!(
        "  - {{ name: a, hosts: [a.localhost], upstreams: [{dead}] }}\n\
         \x20 - {{ name: b, hosts: [b.localhost], upstreams: [{l}] }}\n\
         \x20 - {{ name: c, hosts: [c.localhost], upstreams: [{l}] }}\n",
        l = live.address()
    );
    let ups = Pools::build(&load_apps(dir.path(), &before)).expect("build");
    let metrics = Metrics::new();
    round(&ups, &metrics).await;
    assert!(ups.peer(0).is_none());

    // `a` unchanged (now at index 1), `b` has a new upstream, `c` a new
    // public path, `d` is new.
    let after = format!(
        "  - {{ name: d, hosts: [d.localhost], upstreams: [{l}] }}\n\
         \x20 - {{ name: a, hosts: [a.localhost], upstreams: [{dead}] }}\n\
         \x20 - {{ name: b, hosts: [b.localhost], upstreams: [{l}, {dead}] }}\n\
         \x20 - {{ name: c, hosts: [c.localhost], upstreams: [{l}], public_paths: [/health] }}\n",
        l = live.address()
    );
    let next = ups
        .reconcile(&load_apps(dir.path(), &after))
        .expect("reconcile");
    assert!(Arc::ptr_eq(&ups.pools[0], &next.pools[1]), "a reused");
    assert!(next.peer(1).is_none(), "a keeps its health state");
    assert!(
        !Arc::ptr_eq(&ups.pools[1].lb, &next.pools[2].lb),
        "b rebuilt"
    );
    assert!(
        !Arc::ptr_eq(&ups.pools[2], &next.pools[3]),
        "c has a new app"
    );
    assert!(
        Arc::ptr_eq(&ups.pools[2].lb, &next.pools[3].lb),
        "c keeps its pool"
    );
    assert_eq!(next.pools[3].app.public_paths, ["/health"]);
    assert_eq!(next.pools[0].app.name, "d");

    // Removed upstreams stop reporting.
    round(&next, &metrics).await;
    assert_eq!(health(&metrics, "b", &dead), 0);
    let gone = Pools::build(&load_apps(
        dir.path(),
        &format!(
            "  - {{ name: b, hosts: [b.localhost], upstreams: [{}] }}\n",
            live.address()
        ),
    ))
    .expect("build");
    next.retire_metrics(&gone, &metrics);
    let text = String::from_utf8(metrics.render()).expect("utf-8");
    assert!(!text.contains(&format!("upstream=\"{dead}\"")), "{text}");
    assert!(text.contains(&format!("app=\"b\",upstream=\"{}\"", live.address())));
}

#[test]
fn mixed_schemes_and_bad_ca_files_are_rejected() {
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        "  - { name: mixed, hosts: [m.localhost], upstreams: [127.0.0.1:1, \"https://127.0.0.1:2\"] }\n",
    );
    let e = Pools::build(&apps).err().expect("mixed");
    assert!(
        e.starts_with("app `mixed`: upstreams mix http and https"),
        "{e}"
    );

    std::fs::write(dir.path().join("bad.pem"), "not a certificate").expect("write");
    let apps = load_apps(
        dir.path(),
        "  - { name: hr, hosts: [hr.localhost], upstreams: [\"https://127.0.0.1:2\"], upstream_tls: { ca_file: bad.pem } }\n",
    );
    let e = Pools::build(&apps).err().expect("bad CA");
    assert!(e.starts_with("app `hr`: CA file `"), "{e}");
    assert!(e.ends_with("holds no `BEGIN CERTIFICATE` block"), "{e}");

    std::fs::write(
        dir.path().join("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let apps = load_apps(
        dir.path(),
        "  - { name: hr, hosts: [hr.localhost], upstreams: [\"https://127.0.0.1:2\"], upstream_tls: { ca_file: garbage.pem } }\n",
    );
    let e = Pools::build(&apps).err().expect("garbage CA");
    assert!(e.contains("does not parse"), "{e}");

    let apps = load_apps(
        dir.path(),
        "  - { name: hr, hosts: [hr.localhost], upstreams: [\"https://127.0.0.1:2\"], upstream_tls: { sni: \"\" } }\n",
    );
    let e = Pools::build(&apps).err().expect("empty SNI");
    assert!(
        e.starts_with("app `hr`: `upstream_tls.sni` must not be empty"),
        "{e}"
    );
}

#[test]
fn builds_outside_a_runtime_and_finds_apps_by_index() {
    // `server::run` builds the pools before Pingora starts its runtimes.
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        "  - { name: a, hosts: [a.localhost], upstreams: [\"https://localhost:1\"], health_check: { path: /health } }\n\
         \x20 - { name: b, hosts: [b.localhost], upstreams: [127.0.0.1:2] }\n",
    );
    let ups = Pools::build(&apps).expect("build");
    assert_eq!(ups.check_interval(), DEFAULT_CHECK_INTERVAL);
    let b = ups.peer(1).expect("app b by its index");
    assert_eq!(addr_of(&b), SocketAddr::from(([127, 0, 0, 1], 2)));
    assert!(ups.peer(2).is_none(), "no app at that index");
}

#[test]
fn host_of_strips_port_and_brackets() {
    assert_eq!(host_of("payroll.internal:443"), "payroll.internal");
    assert_eq!(host_of("[::1]:8443"), "::1");
    assert_eq!(host_of("10.0.0.5:443"), "10.0.0.5");
}

#[tokio::test]
async fn health_loop_runs_rounds_and_stops_on_shutdown() {
    let dead = dead_address().await;
    let dir = tempdir();
    let apps = load_apps(
        dir.path(),
        &format!("  - {{ name: a, hosts: [a.localhost], upstreams: [{dead}] }}\n"),
    );
    let swap = Arc::new(arc_swap::ArcSwap::from_pointee(
        Pools::build(&apps).expect("build"),
    ));
    let current = {
        let swap = Arc::clone(&swap);
        move || swap.load_full()
    };
    let metrics = Metrics::new();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let probe = async {
        let deadline = Instant::now() + WAIT;
        while swap.load().peer(0).is_some() {
            assert!(Instant::now() < deadline, "no round ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = tx.send(true);
    };
    tokio::time::timeout(WAIT, async {
        tokio::join!(health_loop(&current, &metrics, rx), probe);
    })
    .await
    .expect("the loop stops on shutdown");
    assert_eq!(health(&metrics, "a", &dead), 0);
}
