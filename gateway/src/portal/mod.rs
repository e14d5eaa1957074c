//! Everything a person sees under `/.portcullis/` (DESIGN.md): sign-in with
//! home-realm discovery, the OIDC callback, the e-mail passcode, MFA, consent,
//! the single-sign-on hand-off to app hosts, sign-out, and `jwks.json`.
//!
//! The proxy hands every reserved request here as a [`PortalRequest`] (plain
//! values: method, host, normalised path, query, headers, a bounded form
//! body) and writes back the [`Reply`]. Nothing here is ever proxied.

use crate::snapshot::Snapshot;
use crate::state::Gateway;
use bytes::Bytes;
use std::net::IpAddr;

/// Form bodies larger than this are refused (413).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Reserved endpoints.
pub mod paths {
    pub const SIGN_IN: &str = "/.portcullis/sign-in";
    pub const MFA: &str = "/.portcullis/mfa";
    pub const JWKS: &str = "/.portcullis/jwks.json";
}

/// The sign-in services built from the config at start: IdP clients, the
/// mailer, TOTP and the page templates.
pub struct Portal {}

/// A request for a reserved path, as plain values.
pub struct PortalRequest<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// Lower-case host without the port.
    pub host: &'a str,
    /// `:port` as the client wrote it in `Host` (or empty), to build URLs on
    /// other hosts of the same listener.
    pub port_suffix: &'a str,
    pub https: bool,
    /// The normalised path.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    /// The form body of a POST (at most [`MAX_FORM_BYTES`]).
    pub body: Bytes,
    pub client_ip: Option<IpAddr>,
    /// The app of this host; `None` on the auth host.
    pub app: Option<usize>,
}

/// What to answer.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The sign-in host of this configuration, if sign-in is set up.
pub fn auth_host(_snapshot: &Snapshot) -> Option<&str> {
    None
}

/// Answers a reserved request.
pub async fn serve(gateway: &Gateway, snapshot: &Snapshot, req: &PortalRequest<'_>) -> Reply {
    if req.path.eq_ignore_ascii_case(paths::JWKS) {
        return Reply {
            status: 200,
            content_type: "application/jwk-set+json",
            headers: Vec::new(),
            body: gateway.keys.load().jwks().as_bytes().to_vec(),
        };
    }
    let _ = snapshot;
    Reply {
        status: 404,
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
        body: b"not found".to_vec(),
    }
}
