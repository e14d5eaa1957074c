//! Real upstream servers on 127.0.0.1 that record what reaches them: plain
//! HTTP/1.1, the same behind TLS, and a WebSocket echo. Each binds port 0 and
//! dies on `Drop`.

use super::WAIT;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use pingora::tls::{ServerConfig, TlsAcceptor};
use rustls_pki_types::PrivateKeyDer;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The request target exactly as received (path and query).
    pub uri: String,
    /// Every header line, names lower-case (hyper), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The values of every header with this name (case-insensitive).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of a header; panics when it is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} repeated at the upstream: {all:?}");
        all.first().copied()
    }

    /// Names of every header, lower-case.
    pub fn names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Stops the accept loop and every open connection of a server.
struct Lifetime {
    stop: watch::Sender<bool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Lifetime {
    fn new() -> (Lifetime, watch::Receiver<bool>) {
        let (stop, rx) = watch::channel(false);
        (
            Lifetime {
                stop,
                tasks: Arc::default(),
            },
            rx,
        )
    }

    fn track(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().expect("tasks");
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Closes the listener and every connection; returns once they are gone.
    async fn end(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().expect("tasks"));
        for t in tasks {
            t.abort();
            let _ = tokio::time::timeout(WAIT, t).await;
        }
    }
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.lock().expect("tasks").iter() {
            t.abort();
        }
    }
}

/// An HTTP/1.1 upstream that answers every request `200` with the body
/// `upstream NAME ok` and records it. A request for a path starting with
/// `/set-cookie` is answered with `Set-Cookie` headers that try to plant the
/// gateway's session cookie (and one harmless cookie).
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Log,
    life: Lifetime,
}

impl Upstream {
    /// A plain HTTP upstream.
    pub async fn start(name: &str) -> Upstream {
        Upstream::spawn(name, None).await
    }

    /// The same behind TLS, with a self-signed certificate for `localhost`
    /// and `127.0.0.1` whose PEM is written to `dir/NAME-ca.pem` (returned)
    /// for `upstream_tls: { ca_file }`.
    pub async fn start_tls(name: &str, dir: &Path) -> (Upstream, PathBuf) {
        pingora::tls::install_default_crypto_provider();
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("rcgen");
        let pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem, ck.cert.pem()).expect("write CA PEM");
        let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .expect("TLS server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let up = Upstream::spawn(name, Some(TlsAcceptor::from(Arc::new(config)))).await;
        (up, pem)
    }

    async fn spawn(name: &str, tls: Option<TlsAcceptor>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let seen: Log = Arc::default();
        let (life, stop) = Lifetime::new();
        let tasks = life.tasks.clone();
        let (log, label) = (seen.clone(), name.to_string());
        let accept = tokio::spawn(async move {
            let mut stop_accept = stop.clone();
            loop {
                let tcp = tokio::select! {
                    _ = stop_accept.changed() => return,
                    r = listener.accept() => match r {
                        Ok((tcp, _)) => tcp,
                        Err(_) => continue,
                    },
                };
                let (log, label, tls, mut stop) =
                    (log.clone(), label.clone(), tls.clone(), stop.clone());
                let conn = tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = serve(tcp, tls, log, label) => {}
                    }
                });
                let mut t = tasks.lock().expect("tasks");
                t.retain(|t| !t.is_finished());
                t.push(conn);
            }
        });
        life.track(accept);
        Upstream { addr, seen, life }
    }

    /// `127.0.0.1:PORT`, for `upstreams:`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("log").len()
    }

    /// The last request received; panics when there was none.
    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received no request")
    }

    /// Closes the listener and every connection: the upstream is dead.
    pub async fn die(&self) {
        self.life.end().await;
    }
}

async fn serve(tcp: tokio::net::TcpStream, tls: Option<TlsAcceptor>, log: Log, label: String) {
    let service = service_fn(move |req: Request<Incoming>| {
        let (log, label) = (log.clone(), label.clone());
        async move { Ok::<_, Infallible>(answer(req, &log, &label).await) }
    });
    let http = hyper::server::conn::http1::Builder::new();
    match tls {
        None => {
            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
        }
        Some(acceptor) => {
            if let Ok(Ok(stream)) = tokio::time::timeout(WAIT, acceptor.accept(tcp)).await {
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            }
        }
    }
}

async fn answer(req: Request<Incoming>, log: &Log, label: &str) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(WAIT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        _ => Vec::new(),
    };
    let seen = Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let plant = seen.uri.starts_with("/set-cookie");
    log.lock().expect("log").push(seen);
    let mut resp = Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("x-upstream", label);
    if plant {
        resp = resp
            .header("set-cookie", "portcullis_session=planted; Path=/; HttpOnly")
            .header(
                "set-cookie",
                "__Host-portcullis_session=planted; Path=/; Secure",
            )
            .header("set-cookie", "app_pref=dark; Path=/");
    }
    resp.body(Full::new(Bytes::from(format!("upstream {label} ok"))))
        .expect("response")
}

/// A WebSocket upstream that echoes every text and binary message and
/// records the handshake request.
pub struct WsUpstream {
    pub addr: SocketAddr,
    seen: Log,
    _life: Lifetime,
}

impl WsUpstream {
    pub async fn start() -> WsUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind ws upstream");
        let addr = listener.local_addr().expect("ws address");
        let seen: Log = Arc::default();
        let (life, stop) = Lifetime::new();
        let tasks = life.tasks.clone();
        let log = seen.clone();
        let accept = tokio::spawn(async move {
            let mut stop_accept = stop.clone();
            loop {
                let tcp = tokio::select! {
                    _ = stop_accept.changed() => return,
                    r = listener.accept() => match r {
                        Ok((tcp, _)) => tcp,
                        Err(_) => continue,
                    },
                };
                let (log, mut stop) = (log.clone(), stop.clone());
                let conn = tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = echo(tcp, log) => {}
                    }
                });
                let mut t = tasks.lock().expect("tasks");
                t.retain(|t| !t.is_finished());
                t.push(conn);
            }
        });
        life.track(accept);
        WsUpstream {
            addr,
            seen,
            _life: life,
        }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The handshake requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

// The handshake callback's error type is tungstenite's.
#[allow(clippy::result_large_err)]
async fn echo(tcp: tokio::net::TcpStream, log: Log) {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{
        ErrorResponse, Request as WsRequest, Response as WsResponse,
    };
    let record = |req: &WsRequest, resp: WsResponse| -> Result<WsResponse, ErrorResponse> {
        log.lock().expect("log").push(Seen {
            method: req.method().to_string(),
            uri: req.uri().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: Vec::new(),
        });
        Ok(resp)
    };
    let Ok(Ok(mut ws)) =
        tokio::time::timeout(WAIT, tokio_tungstenite::accept_hdr_async(tcp, record)).await
    else {
        return;
    };
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(WAIT, ws.next()).await {
        let echo = matches!(msg, Message::Text(_) | Message::Binary(_));
        if msg.is_close() || (echo && ws.send(msg).await.is_err()) {
            return;
        }
    }
}
