//! Limits on client connections, applied before a request is parsed:
//! a total deadline for each HTTP/1 request head, and a cap on concurrent
//! connections per client address (issue 14, finding 4).
//!
//! Why: Pingora's read timeout runs between reads, so a client that drips
//! one header line every few seconds kept a connection open for hours (256
//! header lines), on the public and the admin listener alike; 1,100 such
//! connections from one client made normal requests time out under
//! `ulimit -n 1024`. Now a request head must be complete within
//! `server.request_head_timeout` (default 20 s) of its first byte, and one
//! client address holds at most `server.max_connections_per_client`
//! (default 256) connections at a time. Both close the connection and count
//! it in `portcullis_connections_closed_total{reason}`.
//!
//! The client address here is the TCP peer: a peer in `trusted_proxies` (a
//! load balancer carrying many clients) is not capped. IPv6 peers are
//! counted by their /64, since one host has a whole /64 to pick from.
//!
//! HTTP/2 connections get the deadline for their preface only; their
//! streams are bounded by Pingora's HTTP/2 settings.

use crate::metrics::Metrics;
use crate::state::Gateway;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType,
};
use pingora::protocols::{SocketDigest, TimingDigest};
use pingora::server::ShutdownWatch;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The `reason` label of `portcullis_connections_closed_total`.
pub const HEAD_TIMEOUT: &str = "request_head_timeout";
pub const CLIENT_LIMIT: &str = "client_connection_limit";

/// Pingora's HTTP app `A` behind the connection limits.
pub struct Limited<A> {
    pub inner: Arc<A>,
    pub gateway: Arc<Gateway>,
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl<A> Limited<A> {
    pub fn new(inner: Arc<A>, gateway: Arc<Gateway>) -> Limited<A> {
        Limited {
            inner,
            gateway,
            counts: Arc::default(),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Limited<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // A kept-alive connection comes back here for its next request:
        // arm the deadline for that request's head.
        if let Some(limited) = stream.as_any().downcast_ref::<LimitedStream>() {
            limited.expect_head();
            return self.inner.process_new(stream, shutdown).await;
        }
        let config = &self.gateway.snapshot.load().config;
        let (deadline, cap) = (
            config.request_head_timeout,
            config.max_connections_per_client,
        );
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let slot = match peer {
            Some(ip) if !self.gateway.snapshot.load().trusted_proxies.contains(ip) => {
                match Slot::take(&self.counts, client_key(ip), cap) {
                    Some(slot) => Some(slot),
                    None => {
                        count(&self.gateway.metrics, CLIENT_LIMIT);
                        tracing::debug!(client = %ip, cap, "too many connections from one client; closed");
                        return None;
                    }
                }
            }
            _ => None,
        };
        let limited = LimitedStream {
            inner: stream,
            deadline,
            head_pending: AtomicBool::new(true),
            end: HeadEnd::default(),
            timer: Box::pin(tokio::time::sleep(deadline)),
            armed: false,
            metrics: self.gateway.metrics.clone(),
            _slot: slot,
        };
        self.inner.process_new(Box::new(limited), shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

fn count(metrics: &Metrics, reason: &str) {
    metrics
        .connections_closed
        .with_label_values(&[reason])
        .inc();
}

/// The address a client is counted under: IPv4 as is, IPv6 by its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    geoip::client_network(ip, 64)
}

/// One connection's place in its client's count; leaving it (the
/// connection is dropped, however it ends) frees the place.
struct Slot {
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
    key: IpAddr,
}

impl Slot {
    fn take(counts: &Arc<Mutex<HashMap<IpAddr, u32>>>, key: IpAddr, cap: u32) -> Option<Slot> {
        let mut map = counts.lock().ok()?;
        let n = map.entry(key).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: Arc::clone(counts),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.counts.lock()
            && let Some(n) = map.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// A client connection whose request heads have a total deadline: from the
/// first byte of a head to its blank line.
pub struct LimitedStream {
    inner: Stream,
    deadline: Duration,
    /// Set when a request head is expected (a new connection, or a kept
    /// alive one handed back for its next request).
    head_pending: AtomicBool,
    /// How much of the head's end has been seen.
    end: HeadEnd,
    /// The head's deadline: one timer per connection, reset at the first
    /// byte of a head that does not end in its first read (`armed` until
    /// the head's end).
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    metrics: Arc<Metrics>,
    _slot: Option<Slot>,
}

impl std::fmt::Debug for LimitedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedStream")
            .field("inner", &self.inner)
            .field("deadline", &self.deadline)
            .field("head_pending", &self.head_pending)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("key", &self.key).finish()
    }
}

impl LimitedStream {
    fn expect_head(&self) {
        self.head_pending.store(true, Ordering::Relaxed);
    }
}

/// Finds the end of a request head (an empty line) across reads.
/// `progress`: 0 in a line, 1 after `\r`, 2 at a line's start (after
/// `\n`), 3 after `\r` at a line's start. A bare `\n` ends a line too, as
/// lenient parsers (and Pingora's) read it.
#[derive(Debug, Default)]
struct HeadEnd {
    progress: u8,
}

impl HeadEnd {
    /// Feeds bytes of a head: true once its end is seen. Inside a line
    /// (`progress` 0 or 1) nothing but the next `\n` can change what
    /// follows, so the scan jumps to it (`memchr`); only the bytes at a
    /// line's start go through [`HeadEnd::step`]. The same answers as
    /// stepping every byte (a property test below), at a fraction of the
    /// cost on every request.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut rest = bytes;
        loop {
            while self.progress >= 2 {
                let Some((&b, tail)) = rest.split_first() else {
                    return false;
                };
                rest = tail;
                if self.step(b) {
                    return true;
                }
            }
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.progress = 2;
                    rest = &rest[i + 1..];
                }
                None => {
                    if let Some(&last) = rest.last() {
                        self.progress = if last == b'\r' { 1 } else { 0 };
                    }
                    return false;
                }
            }
        }
    }

    /// One byte: true when it ends the head.
    fn step(&mut self, b: u8) -> bool {
        self.progress = match (self.progress, b) {
            (2 | 3, b'\n') => return true,
            (_, b'\n') => 2,
            (2, b'\r') => 3,
            (_, b'\r') => 1,
            _ => 0,
        };
        false
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.armed && this.timer.as_mut().poll(cx).is_ready() {
            this.armed = false;
            this.head_pending.store(false, Ordering::Relaxed);
            count(&this.metrics, HEAD_TIMEOUT);
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request head took too long",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && this.head_pending.load(Ordering::Relaxed)
        {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                // A new head starts with this read. Most heads end in the
                // read they start in: the timer is armed only for one that
                // does not, counting from now (its first byte), so the
                // common request never touches the timer wheel.
                let starts = !this.armed;
                if starts {
                    this.end = HeadEnd::default();
                }
                if this.end.feed(new) {
                    this.armed = false;
                    this.head_pending.store(false, Ordering::Relaxed);
                } else {
                    if starts {
                        let at = tokio::time::Instant::now() + this.deadline;
                        this.timer.as_mut().reset(at);
                        this.armed = true;
                    }
                    // Registers the wake-up for the deadline.
                    let _ = this.timer.as_mut().poll(cx);
                }
            }
        }
        polled
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for LimitedStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for LimitedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for LimitedStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for LimitedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for LimitedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for LimitedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for LimitedStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends_head(chunks: &[&[u8]]) -> bool {
        let mut end = HeadEnd::default();
        chunks.iter().any(|c| end.feed(c))
    }

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        assert!(ends_head(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]));
        assert!(ends_head(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n\r", b"\n"]));
        assert!(ends_head(&[b"GET / HTTP/1.1\nHost: a\n\n"]));
        assert!(!ends_head(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]));
        assert!(!ends_head(&[b"GET / HTTP/1.1\r\nX: \r\r\n"]));
        assert!(!ends_head(&[
            b"GET / HTTP/1.1\r\n",
            b"X-a: b\r\n",
            b"X-b: c\r\n"
        ]));
    }

    proptest::proptest! {
        /// The jumping scan answers as stepping every byte does, however
        /// the bytes are split into reads.
        #[test]
        fn the_jumping_scan_agrees_with_the_byte_by_byte_one(
            bytes in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\r', b'\n', b':']), 0..64),
            cuts in proptest::collection::vec(0usize..64, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                chunks.push(&bytes[from..c]);
                from = c;
            }
            let mut stepped = HeadEnd::default();
            let mut by_step = None;
            'outer: for (n, chunk) in chunks.iter().enumerate() {
                for &b in *chunk {
                    if stepped.step(b) {
                        by_step = Some(n);
                        break 'outer;
                    }
                }
            }
            let mut jumping = HeadEnd::default();
            let by_jump = chunks.iter().position(|c| jumping.feed(c));
            proptest::prop_assert_eq!(by_jump, by_step);
            if by_step.is_none() {
                proptest::prop_assert_eq!(jumping.progress, stepped.progress);
            }
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(client_key(mapped), v4);
    }

    #[test]
    fn a_client_holds_at_most_its_cap_and_leaving_frees_a_place() {
        let counts = Arc::default();
        let key: IpAddr = "192.0.2.7".parse().expect("ip");
        let first = Slot::take(&counts, key, 2).expect("first");
        let _second = Slot::take(&counts, key, 2).expect("second");
        assert!(Slot::take(&counts, key, 2).is_none(), "over the cap");
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        assert!(Slot::take(&counts, other, 2).is_some(), "another client");
        drop(first);
        assert!(Slot::take(&counts, key, 2).is_some(), "a place was freed");
    }
}
