//! Requests written byte for byte on a TcpStream: reqwest and curl normalise
//! paths and header names, an attacker does not.

use super::WAIT;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    /// `None` when the server closed the connection without a status line.
    pub status: Option<u16>,
    /// The status line and header lines.
    pub head: String,
    pub body: String,
}

impl RawResponse {
    /// The value of the first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Writes `request` as is and reads one response (bounded by `WAIT`).
pub async fn send(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect to the gateway");
    s.write_all(request).await.expect("write request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if complete(&buf) {
            break;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "no complete response within {WAIT:?}; got so far: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .map_or((text.clone(), String::new()), |(h, b)| {
            (h.to_string(), b.to_string())
        });
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    RawResponse { status, head, body }
}

/// Whether `buf` holds a whole response with a `Content-Length` body.
fn complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let length = head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    length.is_some_and(|n| buf.len() >= end + 4 + n)
}

/// A GET for `target` on `host` with extra header lines (each `Name: value`),
/// `Connection: close`.
pub fn get(target: &str, host: &str, headers: &[&str]) -> Vec<u8> {
    let mut r = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("Connection: close\r\n\r\n");
    r.into_bytes()
}

/// Writes `request` (possibly several pipelined requests, or a request with
/// bytes smuggled after it) and reads everything the server sends until it
/// closes the connection or stays quiet for `idle` (the whole exchange
/// bounded by `WAIT`). Returns the bytes read, lossily as text.
#[allow(dead_code, reason = "only the attack corpora read whole exchanges")]
pub async fn exchange(addr: SocketAddr, request: &[u8], idle: std::time::Duration) -> String {
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect to the gateway");
    // A server may answer and close before reading everything: a failed
    // write is part of what is observed, not an error here.
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let wait = (tokio::time::Instant::now() + idle).min(deadline);
        match tokio::time::timeout_at(wait, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status codes of every response in an `exchange`'s text, in order.
#[allow(dead_code, reason = "only the attack corpora read whole exchanges")]
pub fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.")
        .filter(|(i, _)| *i == 0 || text[..*i].ends_with('\n'))
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}
