//! The rate limits of the sign-in host (passwords, passcodes, sign-up
//! e-mails): what one client is, and one check per request.
//!
//! A request is checked against its client's limit first and the
//! address's after it, in one store transaction (`Store::hit_rate_limits`):
//! a client over its limit writes nothing more, so it cannot add a counter
//! per address it tries (issue 14, finding 6), and with the store slow or
//! locked the pair costs one wait, not two (c63817f).
//!
//! An IPv6 client is its address's network of `sign_in.rate_limits.
//! ipv6_prefix` bits (default /64): a host gets a whole /64 and can pick a
//! new address in it for every request, which would otherwise give each its
//! own allowance (issue 14, finding 7). An IPv4 client is its address.

use std::net::IpAddr;
use std::time::Duration;

use crate::portal::Handler;
use crate::store::{RateLimit, RateVerdict, StoreError};

impl Handler<'_> {
    /// Counts this request against `limits`, the client's limit first;
    /// `Ok(true)` when one of them refuses it (over its limit, or its
    /// counters for this window all taken). An error means no decision:
    /// the caller fails closed.
    pub(in crate::portal) async fn rate_limited(
        &self,
        limits: &[RateLimit<'_>],
        window: Duration,
    ) -> Result<bool, StoreError> {
        let max_counters = self.sign_in.rate_limits.max_counters;
        let verdict = self
            .gateway
            .store
            .hit_rate_limits(limits, window, max_counters, self.time())
            .await?;
        Ok(match verdict {
            RateVerdict::Within => false,
            RateVerdict::Over { .. } => true,
            RateVerdict::Full { bucket } => {
                // Many clients (or addresses) at once: refused until the
                // window ends, so the store stays bounded.
                tracing::warn!(
                    request_id = %self.req.request_id,
                    bucket,
                    max_counters,
                    "rate limit has no counter left in this window; refused"
                );
                true
            }
        })
    }

    /// The client this request is from, as the per-client limits count it
    /// (see [`client_key`]).
    pub(in crate::portal) fn client_key(&self) -> String {
        client_key(self.req.client_ip, self.sign_in.rate_limits.ipv6_prefix)
    }
}

/// The key a per-client limit counts `ip` under: an IPv4 address (also one
/// written as IPv4-mapped IPv6) is itself, an IPv6 address its network of
/// `ipv6_prefix` leading bits (`2001:db8:1:2::/64`). `unknown` without an
/// address.
pub(in crate::portal) fn client_key(ip: Option<IpAddr>, ipv6_prefix: u8) -> String {
    match ip.map(|ip| geoip::client_network(ip, ipv6_prefix)) {
        None => "unknown".to_string(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(net)) => format!("{net}/{ipv6_prefix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::client_key;

    fn key(ip: &str, prefix: u8) -> String {
        client_key(Some(ip.parse().expect("ip")), prefix)
    }

    /// Issue 14, finding 7: addresses of one /64 are one client.
    #[test]
    fn ipv6_clients_are_keyed_by_their_network() {
        assert_eq!(key("2001:db8:1:2::1", 64), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64),
            key("2001:db8:1:2::7", 64)
        );
        assert_ne!(key("2001:db8:1:3::1", 64), key("2001:db8:1:2::1", 64));
        assert_eq!(key("2001:db8:1:2::1", 48), key("2001:db8:1:ffff::1", 48));
        assert_eq!(key("2001:db8::1", 128), "2001:db8::1/128");
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
    }

    #[test]
    fn ipv4_clients_are_their_address() {
        assert_eq!(key("198.51.100.7", 64), "198.51.100.7");
        assert_ne!(key("198.51.100.7", 64), key("198.51.100.8", 64));
        // Written as IPv4-mapped IPv6 (a dual-stack listener): the same client.
        assert_eq!(key("::ffff:198.51.100.7", 64), "198.51.100.7");
        assert_eq!(client_key(None, 64), "unknown");
    }
}
