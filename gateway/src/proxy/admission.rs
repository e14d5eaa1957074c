//! The one way in: turns a raw request into one [`Admitted`] value (the
//! checked authority, the normalised path and what is forwarded, the route,
//! the client IP) or a [`Refusal`], before anything is decided. The proxy
//! admits the request it received; forward-auth admits the original request
//! that the calling proxy describes. Both then decide with `decide` and
//! write identity headers with `headers::identity`; neither repeats a step.
//!
//! Order: framing first (the proxy's own request; a body two parsers could
//! read differently is never looked at), then the path (the decided path is
//! the forwarded path), the authority, the route, and last the client IP,
//! whose forwarding headers are read only through `trusted_proxies`.

use super::authority::{self, Authority, BadAuthority};
use super::path::{self, PathError};
use crate::snapshot::Snapshot;
use geoip::ClientIpError;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::net::IpAddr;

/// A request as it reached a door, before any check.
pub struct Raw<'a> {
    /// `host[:port]` as sent (absolute-form URI or `Host`).
    pub authority: &'a str,
    /// The path as sent, not yet normalised.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The client's connection was HTTPS (ours, or a trusted proxy's word).
    pub https: bool,
    /// The TCP peer; `None` for a Unix socket.
    pub peer: Option<IpAddr>,
    /// The headers the client IP is read from (`X-Forwarded-For`, `Forwarded`).
    pub headers: &'a RequestHeader,
}

/// Where an admitted request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An app, by its index in the snapshot's `config.apps` (the same index
    /// names its pool and its `rules::AppId`).
    App(usize),
    /// The sign-in host: served by the portal, never proxied.
    AuthHost,
}

/// A request that passed every check before the decision.
#[derive(Debug)]
pub struct Admitted {
    /// The checked authority; its `to_string()` is the `Host` we forward.
    pub authority: Authority,
    /// The normalised path: what is decided and what is forwarded.
    pub path: String,
    /// The normalised path plus the raw query: the forwarded target.
    pub forward_uri: String,
    pub client_ip: IpAddr,
    pub https: bool,
    pub target: Target,
}

impl Admitted {
    /// The lower-case host without the port: routes, the cookie's audience.
    pub fn host(&self) -> &str {
        &self.authority.host
    }

    /// The routed app, if this is not the sign-in host.
    pub fn app(&self) -> Option<usize> {
        match self.target {
            Target::App(i) => Some(i),
            Target::AuthHost => None,
        }
    }

    /// A path under `/.portcullis/`: answered by the gateway, never proxied.
    pub fn is_reserved(&self) -> bool {
        path::is_reserved(&self.path)
    }
}

/// Why a request was refused before deciding.
#[derive(Debug)]
pub enum Refusal {
    Path(PathError),
    Authority(BadAuthority),
    /// No app at this host and path (and not the sign-in host).
    UnknownHost,
    ForwardingHeaders(ClientIpError),
    /// No TCP peer address (a Unix socket): never guess a client.
    NoPeer,
}

impl Refusal {
    /// A short name for the log line (never shown to the client).
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::Path(e) => e.as_str(),
            Refusal::Authority(e) => e.as_str(),
            Refusal::UnknownHost => "unknown_host",
            Refusal::ForwardingHeaders(_) => "bad_forwarding_headers",
            Refusal::NoPeer => "no_peer_address",
        }
    }
}

/// Admits `raw` on `snapshot` (the request's own), or says why not.
pub fn admit(snapshot: &Snapshot, raw: &Raw<'_>) -> Result<Admitted, Refusal> {
    let path = path::normalize(raw.path).map_err(Refusal::Path)?;
    let authority = match authority::parse(raw.authority) {
        Ok(a) => a,
        // No host at all names no app (as an unknown one does).
        Err(BadAuthority::Empty) => return Err(Refusal::UnknownHost),
        Err(e) => return Err(Refusal::Authority(e)),
    };
    let target = if snapshot.auth_host() == Some(authority.host.as_str()) {
        Target::AuthHost
    } else {
        match snapshot.routes.find(&authority.host, &path) {
            Some(i) => Target::App(i),
            None => return Err(Refusal::UnknownHost),
        }
    };
    let peer = raw.peer.ok_or(Refusal::NoPeer)?;
    let client_ip = super::context::client_ip(snapshot, peer, raw.headers)
        .map_err(Refusal::ForwardingHeaders)?;
    Ok(Admitted {
        forward_uri: path::forward_target(&path, raw.query),
        path,
        authority,
        client_ip,
        https: raw.https,
        target,
    })
}

/// The proxy's own request as a [`Raw`]. A request target that is neither
/// origin- nor absolute-form is refused here (RFC 9112 §3.2; see
/// `path::target_path`).
pub fn raw_of(session: &Session, https: bool) -> Result<Raw<'_>, Refusal> {
    let req = session.req_header();
    Ok(Raw {
        authority: authority::raw(req),
        path: path::target_path(req).map_err(Refusal::Path)?,
        query: req.uri.query(),
        https,
        peer: peer_ip(session),
        headers: req,
    })
}

/// The TCP peer's address, if the connection has one.
pub fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// Whether the request's framing is one two HTTP parsers could read
/// differently (request smuggling, RFC 9112 §6.3), or it carries several
/// `Host` headers: refused before anything else.
pub fn framing_is_ambiguous(session: &Session) -> bool {
    let req = session.req_header();
    ambiguous_framing(req)
        || raw_length_with_chunked(session)
        || req.headers.get_all("host").iter().count() > 1
}

/// Refuses requests whose framing two HTTP parsers could read differently
/// (request smuggling, RFC 9112 §6.3): both `Content-Length` and
/// `Transfer-Encoding`, several differing lengths, or a transfer coding
/// other than a final `chunked`.
fn ambiguous_framing(req: &RequestHeader) -> bool {
    let te: Vec<&[u8]> = req
        .headers
        .get_all("transfer-encoding")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let cl: Vec<&[u8]> = req
        .headers
        .get_all("content-length")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if !te.is_empty() && !cl.is_empty() {
        return true;
    }
    if te.len() > 1
        || te
            .first()
            .is_some_and(|v| !v.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    {
        return true;
    }
    let mut lengths = cl
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|v| v.trim_ascii());
    match lengths.next() {
        None => false,
        Some(first) => {
            !first.iter().all(u8::is_ascii_digit) || first.is_empty() || lengths.any(|v| v != first)
        }
    }
}

/// Pingora drops `Content-Length` when `Transfer-Encoding` is also present
/// (RFC 9112 §6.3 lets a proxy do that), so the parsed header cannot show
/// the conflict; the raw header bytes still can. We refuse such requests
/// rather than guess which length an upstream or a later hop would use.
fn raw_length_with_chunked(session: &Session) -> bool {
    use pingora::protocols::http::server::Session as Downstream;
    if !session
        .req_header()
        .headers
        .contains_key("transfer-encoding")
    {
        return false;
    }
    match session.as_downstream() {
        Downstream::H1(h1) => h1
            .get_headers_raw_bytes()
            .split(|&b| b == b'\n')
            .any(|line| line.len() >= 15 && line[..15].eq_ignore_ascii_case(b"content-length:")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/", None).expect("request");
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn framing_that_two_parsers_could_read_differently_is_refused() {
        assert!(ambiguous_framing(&req(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked")
        ])));
        assert!(ambiguous_framing(&req(&[
            ("content-length", "5"),
            ("content-length", "6")
        ])));
        assert!(ambiguous_framing(&req(&[("content-length", "5, 6")])));
        assert!(ambiguous_framing(&req(&[("content-length", "+5")])));
        assert!(ambiguous_framing(&req(&[(
            "transfer-encoding",
            "gzip, chunked"
        )])));
        assert!(ambiguous_framing(&req(&[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked")
        ])));
        assert!(!ambiguous_framing(&req(&[("content-length", "5")])));
        assert!(!ambiguous_framing(&req(&[
            ("content-length", "5"),
            ("content-length", "5")
        ])));
        assert!(!ambiguous_framing(&req(&[(
            "transfer-encoding",
            "Chunked"
        )])));
        assert!(!ambiguous_framing(&req(&[])));
    }
}
