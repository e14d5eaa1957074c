//! The paths under `/.portcullis/` and the contract between the data path
//! and the pages served there: the proxy answers every reserved request by
//! handing a [`PortalRequest`] (plain values) to a [`ReservedPaths`]
//! service and writing back its [`Reply`]. The proxy knows only this
//! module, not the portal that implements it (`server` wires the two), so
//! the data path and the pages can change apart.

use crate::snapshot::Snapshot;
use bytes::Bytes;
use std::net::IpAddr;

/// Form bodies larger than this are refused (413) before a page sees them.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The reserved endpoints, one constant each; nothing under
/// `/.portcullis/` is ever proxied (`proxy::path::is_reserved`).
pub mod paths {
    pub const SIGN_IN: &str = "/.portcullis/sign-in";
    pub const SIGN_IN_PASSWORD: &str = "/.portcullis/sign-in/password";
    pub const SIGN_IN_CHOOSE: &str = "/.portcullis/sign-in/choose";
    pub const SIGN_IN_PASSCODE: &str = "/.portcullis/sign-in/passcode";
    /// "Sign in with a passkey" (`sign_in.passkeys.sign_in`).
    pub const SIGN_IN_PASSKEY: &str = "/.portcullis/sign-in/passkey";
    pub const CALLBACK: &str = "/.portcullis/callback";
    /// Where `type: oauth2` providers send the browser back.
    pub const OAUTH2_CALLBACK: &str = "/.portcullis/oauth2/callback";
    pub const CONSENT: &str = "/.portcullis/consent";
    pub const MFA: &str = "/.portcullis/mfa";
    /// "I lost my authenticator" (issue 20): a guest asks; under it the
    /// owners' `review` and the guest's `reenrol` link.
    pub const MFA_LOST: &str = "/.portcullis/mfa/lost";
    /// The signed-in person's passkeys (auth host).
    pub const PASSKEYS: &str = "/.portcullis/security/passkeys";
    /// The passkey script of the portal's pages (auth host).
    pub const PASSKEYS_JS: &str = "/.portcullis/static/passkeys.js";
    pub const SESSION: &str = "/.portcullis/session";
    pub const SIGN_OUT: &str = "/.portcullis/sign-out";
    pub const INVITE: &str = "/.portcullis/invite";
    /// The access panel: the apps shared with the signed-in person.
    pub const APPS: &str = "/.portcullis/apps";
    /// The signed-in person's security info: authenticator, recovery codes,
    /// sessions.
    pub const SECURITY: &str = "/.portcullis/security";
    /// Apps' icon files (`apps[].icon`): `/.portcullis/icons/APP?v=VERSION`.
    pub const ICONS: &str = "/.portcullis/icons/";
    /// The organisation's logo file (`organisation.logo`):
    /// `/.portcullis/logo?v=VERSION`, on every host, cached for a year.
    pub const LOGO: &str = crate::templates::LOGO_PATH;
    /// App owners' pages (`/.portcullis/manage/…`).
    pub const MANAGE: &str = "/.portcullis/manage";
    /// Self-service sign-up (`/.portcullis/sign-up?app=…`, `…/sign-up/…`).
    pub const SIGN_UP: &str = "/.portcullis/sign-up";
    pub const JWKS: &str = "/.portcullis/jwks.json";
    /// The forward-auth decision for Traefik `forwardAuth` and Caddy
    /// `forward_auth` (answered by the proxy module on any host, see
    /// `proxy::forward_auth`).
    pub const AUTH: &str = "/.portcullis/auth";
    /// The same for nginx `auth_request`: 401 plus `Location`, never 302.
    pub const AUTH_NGINX: &str = "/.portcullis/auth/nginx";
    /// The same for Envoy's HTTP `ext_authz` (`path_prefix`): the original
    /// path follows it.
    pub const AUTH_ENVOY: &str = "/.portcullis/auth/envoy";
}

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

/// A reply header naming a refusal's reason (`crate::refusal::Reason`):
/// the proxy writes it to the access log and does not send it on.
pub const REASON_HEADER: &str = "x-portcullis-reason";

/// What to answer.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What answers reserved requests (the portal).
#[async_trait::async_trait]
pub trait ReservedPaths: Send + Sync {
    /// Answers `req`, decided on `snapshot` (the request's own); never
    /// proxies, never fails (errors are pages).
    async fn serve(&self, snapshot: &Snapshot, req: &PortalRequest<'_>) -> Reply;
}
