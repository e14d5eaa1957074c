//! Zero-downtime restarts and upgrades with one signal, and the systemd
//! readiness protocol.
//!
//! `SIGUSR2` (as nginx does it): the running gateway starts the binary at
//! its own path again, `serve --config <the same file> --upgrade`, waits
//! until that process listens on the upgrade socket, and then hands its
//! listening sockets over (Pingora's graceful upgrade, what `SIGQUIT` does):
//! the new process accepts every new connection from then on, the old one
//! finishes the requests it has and exits. No connection is refused at any
//! moment. The same steps by hand: start `serve --upgrade`, then `SIGQUIT`
//! the old process.
//!
//! While a process drains (after `SIGQUIT`, `SIGTERM` or the hand-over of
//! `SIGUSR2`) every response says `Connection: close`: a keep-alive client
//! opens its next connection, which the new process (or another replica)
//! accepts, instead of losing a request when the old process exits.
//!
//! When a process stops accepting (the end of the hand-over, `SIGTERM`),
//! the connections it accepted until then still get their request read
//! and answered ([`LateRequests`]): both processes accept on the one
//! listening socket during the hand-over, so the old one takes connections
//! up to its last moment.
//!
//! Each instance has its own pid file and upgrade socket ([`Instance`]),
//! named after its config file, so instances that share a state folder
//! never take each other's sockets; a second `serve` of a running
//! instance is refused.
//!
//! Under systemd (`Type=notify`, `NotifyAccess=all`; `deploy/systemd/`)
//! every process tells the service manager, once it accepts connections,
//! `READY=1` and `MAINPID=<its pid>`: the new process of an upgrade becomes
//! the unit's main process before the old one exits, so systemd neither
//! restarts nor stops the service.

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::H2Options;
use pingora::proxy::{HttpProxy, ProxyHttp};
use pingora::server::ShutdownWatch;
use pingora::server::configuration::ServerConf;
use pingora::services::background::BackgroundService;
use pingora::services::listening::Service;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::connections::Limited;
use crate::state::Gateway;

/// Longest the old process waits for the new one to be ready for the
/// hand-over; after that it kills the new one and keeps serving.
const NEW_PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The background service that upgrades on `SIGUSR2`.
pub struct UpgradeOnSignal {
    pub gateway: Arc<Gateway>,
    pub config_path: PathBuf,
    pub upgrade_sock: PathBuf,
}

#[async_trait]
impl BackgroundService for UpgradeOnSignal {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut usr2 = match signal(SignalKind::user_defined2()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGUSR2; upgrade with --upgrade and SIGQUIT instead");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                got = usr2.recv() => if got.is_none() { return },
            }
            match self.upgrade().await {
                // Pingora takes over from here: the sockets go to the new
                // process, this one drains and exits.
                Ok(pid) => {
                    self.gateway.draining.store(true, Ordering::Relaxed);
                    tracing::info!(new_pid = pid, "upgrade: handing the listening sockets over");
                    if let Err(e) = nix::sys::signal::kill(
                        nix::unistd::Pid::this(),
                        nix::sys::signal::Signal::SIGQUIT,
                    ) {
                        tracing::error!(error = %e, "upgrade: cannot signal the hand-over");
                    }
                    return;
                }
                Err(e) => tracing::error!(error = %e, "upgrade failed; this process keeps serving"),
            }
        }
    }
}

impl UpgradeOnSignal {
    /// Starts the new process and waits until it waits for the sockets.
    async fn upgrade(&self) -> Result<u32, String> {
        let exe = own_binary()?;
        // A socket file left by an earlier upgrade would look like the new
        // process is ready before it is.
        let _ = std::fs::remove_file(&self.upgrade_sock);
        let mut child = std::process::Command::new(&exe)
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .arg("--upgrade")
            // Logs as this process does, whatever chose its format.
            .env(crate::logging::FORMAT_ENV, crate::logging::chosen_name())
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", exe.display()))?;
        let pid = child.id();
        tracing::info!(new_pid = pid, binary = %exe.display(), "upgrade: started the new process");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the new process exited with {status} before the hand-over"
                ));
            }
            if self.upgrade_sock.exists() {
                // Reap the child when it exits later, so it never lingers as
                // a zombie of this process (it outlives us normally).
                std::thread::spawn(move || child.wait());
                return Ok(pid);
            }
            if started.elapsed() > NEW_PROCESS_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the new process did not get ready for the hand-over in {NEW_PROCESS_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The path of the running binary. After a package upgrade replaced the
/// file, `/proc/self/exe` names the old, deleted inode (`… (deleted)`); the
/// path itself now holds the new binary, which is the one to start.
fn own_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding the own binary: {e}"))?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

/// The background service that marks the gateway as draining on `SIGQUIT`
/// (graceful upgrade) and `SIGTERM` (graceful shutdown). Pingora handles
/// the signals themselves; this only listens too.
pub struct DrainOnSignal {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for DrainOnSignal {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut quit), Ok(mut term)) =
            (signal(SignalKind::quit()), signal(SignalKind::terminate()))
        else {
            tracing::warn!("cannot listen for SIGQUIT/SIGTERM; draining keeps connections open");
            return;
        };
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = quit.recv() => {}
            _ = term.recv() => {}
        }
        self.gateway.draining.store(true, Ordering::Relaxed);
        tracing::info!("draining: responses now close their connections");
    }
}

/// The background service that tells systemd, once this process accepts
/// connections on `probe`, that it is ready and the unit's main process.
/// Does nothing without `NOTIFY_SOCKET`.
pub struct NotifyReady {
    pub probe: Option<SocketAddr>,
}

#[async_trait]
impl BackgroundService for NotifyReady {
    async fn start(&self, _shutdown: ShutdownWatch) {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return;
        }
        if let Some(addr) = self.probe {
            let started = Instant::now();
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                if started.elapsed() > NEW_PROCESS_TIMEOUT {
                    tracing::warn!(%addr, "not accepting connections; telling systemd ready anyway");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let pid = std::process::id();
        if let Err(e) = sd_notify::notify(&[
            sd_notify::NotifyState::MainPid(pid),
            sd_notify::NotifyState::Ready,
        ]) {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }
}

/// The proxy service: Pingora's HTTP proxy around `proxy`, answering the
/// requests of connections accepted just before it stops accepting
/// ([`LateRequests`], for half of `grace_period`), behind the connection
/// limits ([`crate::connections`]).
pub fn proxy_service<SV>(
    conf: &Arc<ServerConf>,
    proxy: SV,
    grace_period: Duration,
    gateway: Arc<Gateway>,
) -> Service<Limited<LateRequests<HttpProxy<SV>>>>
where
    SV: ProxyHttp + Send + Sync + 'static,
    SV::CTX: Send + Sync,
{
    let late = LateRequests {
        inner: Arc::new(pingora::proxy::http_proxy(conf, proxy)),
        // Requests read until then still have the other half of the
        // grace period to finish before Pingora stops the runtime.
        wait: grace_period / 2,
        open: AtomicUsize::new(0),
    };
    Service::new(
        "Pingora HTTP Proxy Service".to_string(),
        Limited::new(Arc::new(late), gateway),
    )
}

/// Pingora's HTTP app `A`, except that once the service stops accepting
/// (the end of an upgrade's hand-over, `SIGTERM`) the connections it holds
/// get `wait` more to send a request before those still waiting for one
/// are closed.
///
/// Why: Pingora calls `http_cleanup` the moment its accept loops end, and
/// the proxy's cleanup closes every connection that is waiting for a
/// request header, with no response and no log line. That includes a
/// connection accepted a moment earlier whose request is on its way (or
/// whose TLS handshake is not done): during a hand-over both processes
/// accept on the one socket for 5 s, so the old process takes connections
/// up to that instant. A soak lost 3 requests in ~140k to one `SIGUSR2`
/// this way (issue 14, finding 10). Waiting costs no time: Pingora keeps
/// the process for the whole grace period after the accept loops end.
/// Every response of a draining process closes its connection, so what is
/// still open after `wait` is a keep-alive connection idle since before
/// the drain.
pub struct LateRequests<A> {
    inner: Arc<A>,
    wait: Duration,
    /// Connections in `process_new_http`: reading a request or answering it.
    open: AtomicUsize,
}

/// Counts one open connection while it lives.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn count(open: &'a AtomicUsize) -> Open<'a> {
        open.fetch_add(1, Ordering::Relaxed);
        Open(open)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for LateRequests<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let _open = Open::count(&self.open);
        self.inner.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    // `process_custom_session` keeps the default: custom (non-HTTP)
    // sessions are off in our proxy.

    async fn http_cleanup(&self) {
        tracing::info!(
            open_connections = self.open.load(Ordering::Relaxed),
            wait = ?self.wait,
            "stopped accepting; connections already accepted may still send a request"
        );
        tokio::time::sleep(self.wait).await;
        let open = self.open.load(Ordering::Relaxed);
        if open > 0 {
            tracing::info!(
                open_connections = open,
                "closing the connections that wait for a request; requests in flight go on"
            );
        }
        self.inner.http_cleanup().await;
    }
}

/// The files of one gateway instance in its state folder: the pid file
/// (which process serves the instance now) and the upgrade socket (where
/// its next process receives the listening sockets).
///
/// Named after the config file, so that instances sharing a state folder
/// never share them: replicas on PostgreSQL all keep theirs in `$TMPDIR`,
/// as do the instances of a systemd template unit. With one socket for
/// all, two upgrades at the same moment crossed their sockets and left one
/// instance with no listener (issue 14, finding 11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub pid_file: PathBuf,
    pub upgrade_sock: PathBuf,
}

/// The longest path a Unix socket can be bound to on Linux (`sun_path`,
/// less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Instance {
    /// `<state_dir>/portcullis-<id>.pid` and `<state_dir>/portcullis-<id>.upgrade.sock`,
    /// where `<id>` is the first 8 hex digits of the SHA-256 of the config
    /// file's absolute path (stable across builds: an upgrade's new binary
    /// must find the old one's socket). The path is made absolute but not
    /// canonical, so that a deploy that swaps a symlink to the config keeps
    /// its instance. The listen addresses are not part of it: an upgrade
    /// that changes them must still find the old process's socket.
    pub fn new(state_dir: &Path, config: &Path) -> Instance {
        let config = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
        let digest = Sha256::digest(config.as_os_str().as_encoded_bytes());
        let id: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Instance {
            pid_file: state_dir.join(format!("portcullis-{id}.pid")),
            upgrade_sock: state_dir.join(format!("portcullis-{id}.upgrade.sock")),
        }
    }

    /// At start: refuses (the error names the pid file and the process)
    /// when another live process serves this instance, unless this is the
    /// new process of an upgrade (`upgrade`), which takes over from it.
    /// Warns when the upgrade socket's path is too long to bind, which
    /// would make every upgrade fail.
    pub fn check(&self, upgrade: bool) -> Result<(), String> {
        let socket_path = self.upgrade_sock.as_os_str().len();
        if socket_path > MAX_SOCKET_PATH {
            tracing::warn!(
                path = %self.upgrade_sock.display(),
                "the upgrade socket's path is {socket_path} bytes, more than a Unix socket may have \
                 ({MAX_SOCKET_PATH}): upgrades (SIGUSR2, --upgrade) will fail; use a shorter state folder"
            );
        }
        match self.holder() {
            Some(pid) if !upgrade => Err(format!(
                "{}: another portcullis (pid {pid}) serves this config, and would share its upgrade \
                 socket {} with this one; stop it first, or upgrade it in place with `kill -USR2 {pid}`",
                self.pid_file.display(),
                self.upgrade_sock.display()
            )),
            _ => Ok(()),
        }
    }

    /// Records this process as the one serving the instance; called once
    /// it holds the listening sockets (after the hand-over for the new
    /// process of an upgrade). Written whole (a temporary file renamed), so
    /// a reader never sees half a pid. Without it another `serve` of the
    /// config is not refused, which is worth a warning but not a refusal.
    pub fn claim(&self) {
        let pid = std::process::id();
        let tmp = self.pid_file.with_extension(format!("pid.{pid}"));
        let written = std::fs::write(&tmp, format!("{pid}\n"))
            .and_then(|()| std::fs::rename(&tmp, &self.pid_file));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(
                %error,
                path = %self.pid_file.display(),
                "cannot write the pid file; a second `serve` of this config will not be refused"
            );
        }
    }

    /// The process serving this instance, from its pid file: `None` when
    /// there is no pid file, or it names this process, a process that has
    /// exited, or one that is not a `portcullis serve` (a stale file whose
    /// pid the system has given to another program).
    pub fn holder(&self) -> Option<u32> {
        let text = std::fs::read_to_string(&self.pid_file).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        (pid != std::process::id() && serves(pid)).then_some(pid)
    }
}

/// Whether `pid` is a live `portcullis serve`. Where `/proc` shows its
/// command line (Linux, same user), that says so; a zombie's is empty.
/// Where it does not, any live process counts.
fn serves(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.split(|b| *b == 0).any(|arg| arg == b"serve"),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_binary_is_a_file_that_exists() {
        let exe = own_binary().expect("own binary");
        assert!(exe.is_file(), "{}", exe.display());
    }

    #[test]
    fn each_config_has_its_own_files_in_a_shared_state_folder() {
        let state = Path::new("/var/lib/portcullis");
        let a = Instance::new(state, Path::new("/etc/portcullis/a.yaml"));
        let b = Instance::new(state, Path::new("/etc/portcullis/b.yaml"));
        assert_ne!(a.pid_file, b.pid_file);
        assert_ne!(a.upgrade_sock, b.upgrade_sock);
        assert_eq!(a, Instance::new(state, Path::new("/etc/portcullis/a.yaml")));
        // Fixed by the path alone (SHA-256), not by the build: the new
        // binary of an upgrade finds the old one's socket.
        assert_eq!(
            a.upgrade_sock,
            Path::new("/var/lib/portcullis/portcullis-86c695b9.upgrade.sock")
        );
        assert_eq!(a.pid_file.parent(), Some(state));
        assert!(a.upgrade_sock.as_os_str().len() <= MAX_SOCKET_PATH);
    }

    #[test]
    fn a_relative_config_path_names_the_same_instance_as_its_absolute_path() {
        let cwd = std::env::current_dir().expect("cwd");
        let state = Path::new("/tmp");
        assert_eq!(
            Instance::new(state, Path::new("portcullis.yaml")),
            Instance::new(state, &cwd.join("portcullis.yaml"))
        );
    }

    #[test]
    fn only_a_live_serve_holds_an_instance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let instance = Instance::new(dir.path(), Path::new("/etc/portcullis/x.yaml"));
        assert_eq!(instance.holder(), None, "no pid file");
        instance.check(false).expect("free");

        // This process: not another instance.
        instance.claim();
        let text = std::fs::read_to_string(&instance.pid_file).expect("pid file");
        assert_eq!(text, format!("{}\n", std::process::id()));
        assert_eq!(instance.holder(), None);

        // A live process that is not a `portcullis serve` (a reused pid).
        let mut sleep = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        std::fs::write(&instance.pid_file, format!("{}\n", sleep.id())).expect("write");
        assert_eq!(instance.holder(), None, "a reused pid");
        let _ = sleep.kill();
        let _ = sleep.wait();

        // A process that has exited; garbage.
        std::fs::write(&instance.pid_file, format!("{}\n", sleep.id())).expect("write");
        assert_eq!(instance.holder(), None, "an exited process");
        std::fs::write(&instance.pid_file, "not a pid").expect("write");
        assert_eq!(instance.holder(), None, "garbage");
    }

    #[test]
    fn a_live_serve_is_refused_a_second_start_but_not_its_upgrade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let instance = Instance::new(dir.path(), Path::new("/etc/portcullis/y.yaml"));
        // A live process whose command line says `serve` (as sh -c shows it).
        let mut serve = std::process::Command::new("sh")
            .args(["-c", "sleep 30; exit 0", "serve"])
            .spawn()
            .expect("spawn");
        // Until the child has exec'd, its command line is still ours: wait
        // (bounded) for `sh … serve` to show, as it does for a real serve.
        let cmdline = format!("/proc/{}/cmdline", serve.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read(&cmdline).is_ok_and(|c| c.windows(5).any(|w| w == b"serve"))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(&instance.pid_file, format!("{}\n", serve.id())).expect("write");
        let held = instance.holder();
        let refused = instance.check(false);
        let upgrade = instance.check(true);
        let _ = serve.kill();
        let _ = serve.wait();
        assert_eq!(held, Some(serve.id()));
        let error = refused.expect_err("refused");
        assert!(
            error.contains(&instance.pid_file.display().to_string())
                && error.contains(&format!("pid {}", serve.id())),
            "{error}"
        );
        upgrade.expect("the new process of an upgrade takes over");
    }
}
