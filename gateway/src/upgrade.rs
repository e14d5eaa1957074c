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
//! Under systemd (`Type=notify`, `NotifyAccess=all`; `deploy/systemd/`)
//! every process tells the service manager, once it accepts connections,
//! `READY=1` and `MAINPID=<its pid>`: the new process of an upgrade becomes
//! the unit's main process before the old one exits, so systemd neither
//! restarts nor stops the service.

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

/// Where the upgrade socket of a gateway whose state lives in `state_dir`
/// is.
pub fn upgrade_sock(state_dir: &Path) -> PathBuf {
    state_dir.join("portcullis-upgrade.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_binary_is_a_file_that_exists() {
        let exe = own_binary().expect("own binary");
        assert!(exe.is_file(), "{}", exe.display());
    }
}
