//! The harness of `tests/gateway.rs`: real upstreams, the real gateway
//! binary, raw sockets. Loopback only; every wait is bounded.

#[allow(dead_code)]
pub mod browser;
#[allow(dead_code)]
pub mod chromium;
pub mod gateway;
pub mod idp;
#[allow(dead_code)]
pub mod oauth2_provider;
#[allow(dead_code)]
pub mod op;
#[allow(dead_code)]
pub mod panel;
#[allow(dead_code)]
pub mod postgres;
pub mod raw;
#[allow(dead_code)]
pub mod relay;
#[allow(dead_code)]
pub mod saml_idp;
#[allow(dead_code)]
pub mod simplesaml;
#[allow(dead_code)]
pub mod smtp;
pub mod upstream;

use std::future::Future;
use std::time::{Duration, Instant};

/// The bound of every single wait (a connect, a response, a handshake).
pub const WAIT: Duration = Duration::from_secs(10);

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`;
/// returns what it returned and how long that took, or `None` on timeout.
pub async fn poll<T, F, Fut>(limit: Duration, mut check: F) -> Option<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some((v, start.elapsed()));
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
