//! Long-lived connections — WebSocket upgrades, server-sent events, gRPC
//! streams — outlive the decision made when they opened. A guest removed or
//! a session revoked must not keep a socket to the app for hours, so every
//! such connection is decided again, with the request it opened with, every
//! [`RECHECK_INTERVAL`]; once the answer is no longer `allow` its upstream
//! socket is shut down, which ends both sides. (Teleport's locks do this;
//! Pomerium, oauth2-proxy and IAP check only at the upgrade.)
//!
//! How the socket is reached: for a long-lived request the upstream peer
//! gets a connector of ours ([`WatchedConnect`]) that dials the app itself
//! and keeps a clone of the socket (`try_clone`, a second descriptor of the
//! same socket, owned by us, so shutting it down can never hit a descriptor
//! number reused by another connection). The peer also gets a group key of
//! its own, so the request never borrows a pooled connection, and a zero
//! idle timeout, so its connection never goes back to the pool.
//!
//! The re-check is the proxy's own decision (`decide::decide`): the same
//! session verification (revocations, expiry), directory (blocked, removed,
//! assignment ended) and rules (reloaded policies apply to open
//! connections too).

use super::decide::{self, Question};
use crate::metrics::Metrics;
use crate::state::Gateway;
use async_trait::async_trait;
use pingora::connectors::L4Connect;
use pingora::http::RequestHeader;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::l4::stream::Stream;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, OrErr, Result};
use rules::{ClientApp, Decision};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often every live connection is decided again. With the directory's
/// 4 s cache a removal made on another replica ends a connection within
/// 4.5 s; a revocation (1 s sync) within 1.5 s.
pub const RECHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Bound on dialling the app for a watched connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a request opens a connection that may outlive its decision:
/// an `Upgrade` (WebSocket), an event stream, or gRPC.
pub fn is_long_lived(req: &RequestHeader) -> bool {
    // Runs for every allowed request: compare bytes without allocating.
    let has = |name: &str, needle: &[u8]| {
        req.headers.get(name).is_some_and(|v| {
            v.as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        })
    };
    req.headers.contains_key("upgrade")
        || has("accept", b"text/event-stream")
        || has("content-type", b"application/grpc")
}

/// One watched connection: the request it opened with, and our clone of its
/// upstream socket once connected.
pub struct Live {
    req: RequestHeader,
    app: String,
    host: String,
    path: String,
    client_ip: IpAddr,
    client_app: ClientApp,
    https: bool,
    /// The user, for the log line when it ends.
    user: String,
    socket: Mutex<Option<std::net::TcpStream>>,
}

impl Live {
    /// Shuts the upstream socket down (both directions): the app sees the
    /// connection end, the gateway's proxy loop reads EOF and ends the
    /// client's side.
    fn end(&self) {
        let socket = self.socket.lock().map(|mut s| s.take());
        if let Ok(Some(socket)) = socket {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Every watched connection of this process.
#[derive(Default)]
pub struct LiveConnections {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Live>>>,
}

impl LiveConnections {
    /// How many connections are watched now.
    pub fn len(&self) -> usize {
        self.open.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn all(&self) -> Vec<Arc<Live>> {
        self.open
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// A watched connection's place in [`LiveConnections`]; leaving it (the
/// request's context is dropped when the request ends, however it ends)
/// removes the entry and closes our socket clone.
pub struct Registration {
    id: u64,
    live: Arc<Live>,
    connections: Arc<LiveConnections>,
    metrics: Arc<Metrics>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.remove(&self.id);
            self.metrics.live_connections.set(open.len() as i64);
        }
    }
}

/// What [`watch`] needs to know about an allowed request: the question
/// it was decided on, and for whom.
pub struct Opened<'a> {
    pub req: &'a RequestHeader,
    pub app: &'a str,
    pub question: &'a Question<'a>,
    pub user: &'a str,
}

/// Registers an allowed long-lived request; the caller keeps the
/// registration in the request's context and gives its upstream peer to
/// [`Registration::arm`].
pub fn watch(
    connections: &Arc<LiveConnections>,
    metrics: &Arc<Metrics>,
    opened: Opened<'_>,
) -> Registration {
    let live = Arc::new(Live {
        req: opened.req.clone(),
        app: opened.app.to_string(),
        host: opened.question.host.to_string(),
        path: opened.question.path.to_string(),
        client_ip: opened.question.client_ip,
        client_app: opened.question.client_app,
        https: opened.question.https,
        user: opened.user.to_string(),
        socket: Mutex::new(None),
    });
    let id = connections.next_id.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut open) = connections.open.lock() {
        open.insert(id, live.clone());
        metrics.live_connections.set(open.len() as i64);
    }
    Registration {
        id,
        live,
        connections: Arc::clone(connections),
        metrics: Arc::clone(metrics),
    }
}

impl Registration {
    /// Makes `peer` dial through [`WatchedConnect`] on a connection of its
    /// own that is never pooled.
    pub fn arm(&self, peer: &mut HttpPeer) {
        peer.group_key = self.id.wrapping_add(1) | (1 << 63);
        peer.options.idle_timeout = Some(Duration::ZERO);
        peer.options.custom_l4 = Some(Arc::new(WatchedConnect {
            live: self.live.clone(),
        }));
    }
}

/// Dials the app and keeps a clone of the socket in the [`Live`] entry.
#[derive(Clone)]
pub struct WatchedConnect {
    live: Arc<Live>,
}

impl std::fmt::Debug for WatchedConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedConnect").finish_non_exhaustive()
    }
}

#[async_trait]
impl L4Connect for WatchedConnect {
    async fn connect(&self, addr: &SocketAddr) -> Result<Stream> {
        let SocketAddr::Inet(addr) = addr else {
            return Error::e_explain(ErrorType::ConnectError, "watched connections are TCP only");
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .or_err(ErrorType::ConnectTimedout, "connecting to the app")?
            .or_err(ErrorType::ConnectRefused, "connecting to the app")?;
        let std_stream = stream
            .into_std()
            .or_err(ErrorType::ConnectError, "taking the app's socket")?;
        let clone = std_stream
            .try_clone()
            .or_err(ErrorType::ConnectError, "cloning the app's socket")?;
        if let Ok(mut slot) = self.live.socket.lock() {
            *slot = Some(clone);
        }
        let stream = tokio::net::TcpStream::from_std(std_stream)
            .or_err(ErrorType::ConnectError, "registering the app's socket")?;
        Ok(Stream::from(stream))
    }
}

/// Decides `live` again against the current snapshot; `Some(why)` when the
/// connection must end.
async fn recheck(g: &Gateway, live: &Live) -> Option<&'static str> {
    let snapshot = g.snapshot.load_full();
    let Some(app) = snapshot.config.apps.iter().position(|a| a.name == live.app) else {
        return Some("app_removed");
    };
    let q = Question {
        app,
        host: &live.host,
        path: &live.path,
        method: live.req.method.as_str(),
        client_ip: live.client_ip,
        client_app: live.client_app,
        https: live.https,
        recheck: true,
    };
    match decide::decide(g, &snapshot, &live.req, &q, "live-recheck").await {
        Ok(v) if v.decision == Decision::Allow => None,
        Ok(v) => Some(v.decision.as_str()),
        Err(decide::Unavailable) => Some("error"),
    }
}

/// The background service deciding live connections again.
pub struct Rechecker {
    pub gateway: Arc<Gateway>,
    pub connections: Arc<LiveConnections>,
}

#[async_trait]
impl BackgroundService for Rechecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(RECHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {}
            }
            let g = &self.gateway;
            for live in self.connections.all() {
                if let Some(why) = recheck(g, &live).await {
                    tracing::info!(
                        user = %live.user,
                        app = %live.app,
                        decision = why,
                        "ended a live connection: access no longer allowed"
                    );
                    g.metrics
                        .live_connections_ended
                        .with_label_values(&[why])
                        .inc();
                    live.end();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("request");
        for (n, v) in headers {
            r.insert_header(n.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn long_lived_requests_are_upgrades_event_streams_and_grpc_in_any_case() {
        assert!(is_long_lived(&req(&[("upgrade", "websocket")])));
        assert!(is_long_lived(&req(&[("accept", "Text/Event-Stream")])));
        assert!(is_long_lived(&req(&[(
            "content-type",
            "application/grpc+proto"
        )])));
        assert!(!is_long_lived(&req(&[("accept", "text/html")])));
        assert!(!is_long_lived(&req(&[])));
    }
}
