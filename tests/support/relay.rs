//! A TCP relay on loopback that injects network faults between the gateway
//! and a peer (an IdP, an SMTP server, a JWKS server): pass bytes through,
//! delay them, black-hole them, reset connections, or close the port. The
//! mode can change while connections are open; it applies to every chunk.
//! Stops on `Drop`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the relay does with a connection or a chunk of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes go through as they come.
    Pass,
    /// Every chunk waits this long before it is forwarded (either way).
    Delay(Duration),
    /// Connections are accepted and read, and nothing is ever forwarded or
    /// answered (a hung peer, a firewall dropping packets).
    BlackHole,
    /// New connections are reset at once (RST, no bytes).
    Reset,
    /// The port is closed: connecting is refused. Open connections end.
    Closed,
}

pub struct Relay {
    pub addr: SocketAddr,
    mode: watch::Sender<Fault>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(128)
}

impl Relay {
    /// A relay on a free loopback port towards `target`, in mode `Pass`.
    pub fn start(target: SocketAddr) -> Relay {
        let first = listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind relay");
        let addr = first.local_addr().expect("relay address");
        let (mode, mut watch_mode) = watch::channel(Fault::Pass);
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut listener = Some(first);
            loop {
                let current = *watch_mode.borrow_and_update();
                if current == Fault::Closed {
                    listener = None;
                } else if listener.is_none() {
                    // Re-open the same port (SO_REUSEADDR); retry briefly
                    // while the old socket lingers.
                    for _ in 0..50 {
                        if let Ok(l) = listen(addr) {
                            listener = Some(l);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                let accept = async {
                    match &listener {
                        Some(l) => l.accept().await.ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    changed = watch_mode.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    Some((tcp, _)) = accept => {
                        count.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(relay(tcp, target, watch_mode.clone()));
                    }
                }
            }
        });
        Relay {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn set(&self, fault: Fault) {
        let _ = self.mode.send(fault);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, target: SocketAddr, mode: watch::Receiver<Fault>) {
    let now = *mode.borrow();
    match now {
        Fault::Reset | Fault::Closed => {
            let _ = client.set_zero_linger();
            return;
        }
        Fault::BlackHole => {
            black_hole(client, mode).await;
            return;
        }
        Fault::Pass | Fault::Delay(_) => {}
    }
    let Ok(Ok(server)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
    else {
        let _ = client.set_zero_linger();
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = tokio::spawn(pump(cr, sw, mode.clone()));
    let down = tokio::spawn(pump(sr, cw, mode));
    let _ = tokio::join!(up, down);
}

/// Reads and discards until the peer closes or the port is closed.
async fn black_hole(mut client: TcpStream, mut mode: watch::Receiver<Fault>) {
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = client.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Fault::Closed {
                    return;
                }
            }
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Fault>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    // A black hole swallows the close too: the other side
                    // keeps waiting.
                    while *mode.borrow() == Fault::BlackHole {
                        if mode.changed().await.is_err() {
                            return;
                        }
                    }
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Fault::Closed {
                    return;
                }
                continue;
            }
        };
        let fault = *mode.borrow();
        match fault {
            Fault::Pass => {}
            Fault::Delay(d) => tokio::time::sleep(d).await,
            // Swallowed: the other side waits for an answer that never comes.
            Fault::BlackHole => continue,
            Fault::Reset | Fault::Closed => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
