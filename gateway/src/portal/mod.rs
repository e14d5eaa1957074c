//! Everything a person sees under `/.portcullis/` (DESIGN.md): sign-in with
//! home-realm discovery, the OIDC callback, the e-mail passcode, MFA, consent,
//! the single-sign-on hand-off to app hosts, sign-out, and `jwks.json`.
//!
//! # Hosts
//!
//! People sign in on one **auth host** (`sign_in.host`), which keeps its own
//! host-only session cookie. An app host never shares a cookie with it: the
//! auth host hands the app host a one-time code (`/.portcullis/session?code=`,
//! single use, 60 s) that the app host turns into its own host-only cookie.
//! So no cookie is ever scoped to a parent domain, and a return URL can only
//! ever name an app host of this gateway.
//!
//! # Forms
//!
//! Every form is a POST carrying a CSRF token derived from a per-browser
//! random "flow" cookie (host-only, `HttpOnly`, `SameSite=Lax`); the pending
//! OIDC sign-in is bound to the same cookie, so a callback finished in
//! another browser is refused (login CSRF). A POST with a foreign `Origin` is
//! refused as well.
//!
//! The proxy hands every reserved request here as a [`PortalRequest`] (plain
//! values) and writes back the [`Reply`]. Nothing here is ever proxied.

mod apphost;
mod console;
mod device;
mod icons;
mod invitation;
mod manage;
mod mfa_step;
mod passkeys_page;
mod recovery;
mod refusals;
mod security;
mod signin;
mod signup;

use crate::config::Config;
use crate::i18n::{Lang, t};
use crate::mail::{MailQueue, Mailer};
use crate::mfa::Totp;
use crate::oidc::{OidcClient, OidcError};
use crate::session::SessionClaims;
use crate::snapshot::Snapshot;
use crate::state::Gateway;
use base64::Engine as _;
use openidconnect::url::form_urlencoded;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a hand-off code or a pending sign-in lives.
const HANDOFF_TTL_SECS: i64 = 60;
const PENDING_TTL_SECS: i64 = 10 * 60;

use crate::reserved::ReservedPaths;
pub use crate::reserved::{MAX_FORM_BYTES, PortalRequest, Reply, paths};

/// The sign-in services built from the config at start: IdP clients, the
/// mailer, TOTP and the page templates. IdPs that could not be reached at
/// start are discovered again on their first use.
pub struct Portal {
    totp: Totp,
    mailer: Option<Mailer>,
    /// The mailer's queue for sign-in passcodes: sent after the answer, so
    /// asking for a code takes as long for an address that gets one as for
    /// one that does not (`signin::passcode`).
    passcodes: Option<MailQueue>,
    oidc_configs: HashMap<String, crate::oidc::OidcIdpConfig>,
    oidc: tokio::sync::RwLock<HashMap<String, Arc<OidcClient>>>,
    /// The `type: oauth2` idps' clients (no discovery: built at start).
    oauth2: HashMap<String, Arc<crate::oauth2::Oauth2Client>>,
}

impl Portal {
    /// Builds the portal for `config`: the mailer (an error is fatal: a
    /// broken outbox or SMTP setting must not show up only when someone
    /// asks for a code) and each OIDC IdP's discovery (an unreachable IdP is
    /// logged and retried when someone picks it).
    pub async fn build(config: &Config) -> Result<Portal, String> {
        let mailer = match &config.mail {
            Some(m) => Some(
                Mailer::branded(
                    m,
                    &config.organisation.name,
                    &config.organisation.mail_branding(),
                )
                .map_err(|e| format!("{}: mail: {e}", config.path.display()))?,
            ),
            None => None,
        };
        let mut oidc_configs = HashMap::new();
        let mut clients = HashMap::new();
        for idp in &config.idps {
            if let crate::config::IdpKind::Oidc(c) = &idp.kind {
                oidc_configs.insert(idp.name.clone(), (**c).clone());
                match OidcClient::discover((**c).clone(), crate::oidc::DEFAULT_TIMEOUT).await {
                    Ok(client) => {
                        clients.insert(idp.name.clone(), Arc::new(client));
                    }
                    Err(e) => tracing::warn!(
                        idp = %idp.name,
                        error = %e,
                        "identity provider not reachable at start; retried on first use"
                    ),
                }
            }
        }
        // An unreadable client secret stops the start, as a broken mail
        // setting does: it must not show up only when someone signs in.
        let mut oauth2 = HashMap::new();
        for idp in &config.idps {
            if let crate::config::IdpKind::Oauth2(c) = &idp.kind {
                let client = crate::oauth2::Oauth2Client::new(
                    (**c).clone(),
                    crate::oidc::DEFAULT_TIMEOUT,
                )
                .map_err(|e| format!("{}: idp `{}`: {e}", config.path.display(), idp.name))?;
                oauth2.insert(idp.name.clone(), Arc::new(client));
            }
        }
        // The queue's sending task runs on the runtime building the portal
        // (the server's background runtime, which lives as long as the
        // process).
        let passcodes = mailer.clone().map(MailQueue::start);
        Ok(Portal {
            totp: Totp::default(),
            mailer,
            passcodes,
            oidc_configs,
            oidc: tokio::sync::RwLock::new(clients),
            oauth2,
        })
    }

    /// The mailer, when `mail` is configured (invitations use it too).
    pub fn mailer(&self) -> Option<&Mailer> {
        self.mailer.as_ref()
    }

    /// The discovered client of the OIDC idp `name`, discovering it now if
    /// start-up could not.
    async fn oidc_client(&self, name: &str) -> Result<Arc<OidcClient>, OidcError> {
        if let Some(c) = self.oidc.read().await.get(name) {
            return Ok(c.clone());
        }
        let Some(config) = self.oidc_configs.get(name) else {
            return Err(OidcError::Config(format!("no oidc idp named {name}")));
        };
        let client =
            Arc::new(OidcClient::discover(config.clone(), crate::oidc::DEFAULT_TIMEOUT).await?);
        self.oidc
            .write()
            .await
            .insert(name.to_string(), client.clone());
        Ok(client)
    }
}

impl Reply {
    fn html(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: page_headers(),
            body,
        }
    }

    fn redirect(location: String) -> Reply {
        Reply {
            status: 302,
            content_type: "text/plain; charset=utf-8",
            headers: vec![
                ("location", location),
                ("referrer-policy", "no-referrer".into()),
            ],
            body: Vec::new(),
        }
    }

    fn with_cookie(mut self, set_cookie: String) -> Reply {
        self.headers.push(("set-cookie", set_cookie));
        self
    }
}

/// Headers on every portal page: no framing (click-jacking), no referrer
/// to other sites (codes and return URLs stay on this host), no scripts at
/// all. `same-origin`, not `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` on our own form posts, which the CSRF check refuses
/// (found by the Chromium test).
fn page_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "content-security-policy",
            "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
                .into(),
        ),
        ("x-frame-options", "DENY".into()),
        ("referrer-policy", "same-origin".into()),
        ("x-content-type-options", "nosniff".into()),
    ]
}

/// The portal as the proxy sees it: what answers reserved paths
/// ([`ReservedPaths`]), built by `server` once the portal is.
pub struct PortalService {
    pub gateway: Arc<Gateway>,
    /// `None` when sign-in is not configured (only `jwks.json` then).
    pub portal: Option<Arc<Portal>>,
}

#[async_trait::async_trait]
impl ReservedPaths for PortalService {
    async fn serve(&self, snapshot: &Snapshot, req: &PortalRequest<'_>) -> Reply {
        serve(&self.gateway, self.portal.as_deref(), snapshot, req).await
    }
}

/// Answers a reserved request.
async fn serve(
    gateway: &Gateway,
    portal: Option<&Portal>,
    snapshot: &Snapshot,
    req: &PortalRequest<'_>,
) -> Reply {
    if req.path.eq_ignore_ascii_case(paths::JWKS) {
        return Reply {
            status: 200,
            content_type: "application/jwk-set+json",
            headers: Vec::new(),
            body: gateway.keys.load().jwks().as_bytes().to_vec(),
        };
    }
    if let Some(name) = req.path.strip_prefix(paths::ICONS) {
        return icons::icon(snapshot, name);
    }
    if req.path == paths::LOGO {
        return icons::logo(snapshot);
    }
    let lang = snapshot.language(
        req.headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
    );
    let (Some(portal), Some(sign_in)) = (portal, snapshot.config.sign_in.as_ref()) else {
        let sign_in_path = [
            paths::SIGN_IN,
            paths::MFA,
            paths::CALLBACK,
            paths::SESSION,
            paths::SIGN_OUT,
            paths::CONSENT,
            paths::INVITE,
            paths::MANAGE,
            paths::SIGN_UP,
            console::ADMIN,
        ]
        .iter()
        .any(|p| req.path == *p || req.path.starts_with(&format!("{p}/")));
        return if sign_in_path {
            plain_message(
                snapshot,
                req,
                lang,
                503,
                (
                    "error-sign-in-unavailable-title",
                    "error-sign-in-not-set-up",
                ),
            )
        } else {
            plain_message(
                snapshot,
                req,
                lang,
                404,
                ("error-not-found-title", "error-nothing-here"),
            )
        };
    };
    let h = Handler {
        gateway,
        snapshot,
        portal,
        sign_in,
        req,
        lang,
        now: crate::state::now(),
    };
    if req.app.is_some() {
        h.app_host().await
    } else {
        h.auth_host().await
    }
}

/// A page without the portal (sign-in not configured): `(title, text)`
/// are message keys.
fn plain_message(
    snapshot: &Snapshot,
    req: &PortalRequest<'_>,
    lang: Lang,
    status: u16,
    (title, text): (&str, &str),
) -> Reply {
    let chrome = snapshot.chrome(lang, None);
    let mut reply = Reply::html(status, Vec::new());
    csp_for(&mut reply, &chrome);
    let page = crate::refusal::Page {
        chrome,
        request_id: req.request_id,
        title: t!(lang, title),
        text: t!(lang, text),
        ..crate::refusal::Page::default()
    };
    reply.body = page.html(&snapshot.templates);
    reply
}

/// Allows the logo's origin in the page's `img-src` (an `https://` logo).
fn csp_for(reply: &mut Reply, chrome: &crate::templates::Chrome) {
    for (name, value) in &mut reply.headers {
        if *name == "content-security-policy" {
            *value = chrome.csp(value);
        }
    }
}

/// One request's view of everything the endpoints need.
struct Handler<'a> {
    gateway: &'a Gateway,
    snapshot: &'a Snapshot,
    portal: &'a Portal,
    sign_in: &'a crate::config::SignIn,
    req: &'a PortalRequest<'a>,
    /// The language of this request's pages (`Accept-Language`, else the
    /// organisation's).
    lang: Lang,
    now: i64,
}

impl Handler<'_> {
    fn scheme(&self) -> &'static str {
        if self.req.https { "https" } else { "http" }
    }

    /// `scheme://auth-host:port`.
    fn auth_origin(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.sign_in.host,
            self.req.port_suffix
        )
    }

    fn org(&self) -> &str {
        &self.snapshot.config.organisation.name
    }

    fn time(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.now)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    fn query(&self, name: &str) -> Option<String> {
        self.req.query.and_then(|q| param(q.as_bytes(), name))
    }

    /// Message `key` in this request's language (plain text).
    fn t(&self, key: &str) -> String {
        t!(self.lang, key)
    }

    /// A day in this request's language ("1 December 2025").
    fn date(&self, t: time::OffsetDateTime) -> String {
        crate::i18n::date(self.lang, t)
    }

    /// A day and a time (UTC) in this request's language.
    fn clock(&self, t: time::OffsetDateTime) -> String {
        t!(
            self.lang,
            "date-time",
            date = self.date(t),
            time = format!("{:02}:{:02}", t.hour(), t.minute())
        )
    }

    /// The organisation's chrome in this request's language.
    fn chrome(&self) -> crate::templates::Chrome {
        self.snapshot.chrome(self.lang, None)
    }

    fn page(&self, status: u16, template: &str, ctx: minijinja::Value) -> Reply {
        let chrome = self.chrome();
        let base = minijinja::context! {
            request_id => self.req.request_id,
            ..minijinja::Value::from_serialize(&chrome)
        };
        let mut reply = Reply::html(
            status,
            self.snapshot
                .templates
                .page(template, minijinja::context! { ..ctx, ..base }),
        );
        csp_for(&mut reply, &chrome);
        reply
    }

    fn message(&self, status: u16, title: &str, text: &str) -> Reply {
        if status >= 400 {
            return self.refusal(status, title, text, None, None);
        }
        self.page(status, "message.html", minijinja::context! { title, text })
    }

    /// A message with one way on: `(link, link_text)`.
    fn message_linked(&self, status: u16, title: &str, text: &str, link: (&str, &str)) -> Reply {
        if status >= 400 {
            return self.refusal(status, title, text, Some(link), None);
        }
        let (link, link_text) = link;
        self.page(
            status,
            "message.html",
            minijinja::context! { title, text, link, link_text },
        )
    }

    /// A message with a link to start signing in again.
    fn start_again(&self, status: u16, title: &str, text: &str) -> Reply {
        self.message_linked(
            status,
            title,
            text,
            (paths::SIGN_IN, &self.t("link-sign-in-again")),
        )
    }

    /// A message with a link to the access panel.
    fn to_apps(&self, status: u16, title: &str, text: &str) -> Reply {
        self.message_linked(
            status,
            title,
            text,
            (paths::APPS, &self.t("link-your-apps")),
        )
    }

    /// Something this side failed (store, mailer, IdP): deny, say so, log.
    fn unavailable(&self, what: &str, error: &dyn std::fmt::Display) -> Reply {
        tracing::warn!(request_id = %self.req.request_id, what, error = %error, "sign-in step failed");
        self.message(
            503,
            &self.t("error-sign-in-unavailable-title"),
            &self.t("error-sign-in-later"),
        )
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        find_cookie(self.req.headers, name)
    }

    /// The verified session of this host's cookie, if any.
    fn session(&self) -> Option<SessionClaims> {
        let token = crate::session::cookie::find_session_cookie(
            self.req
                .headers
                .get_all("cookie")
                .iter()
                .map(|v| v.as_bytes()),
            self.req.https,
        )?;
        self.gateway
            .keys
            .load()
            .verify(token, self.req.host, self.now)
            .ok()
    }
}

/// The first value of `name` in an `application/x-www-form-urlencoded`
/// string (a query or a form body).
fn param(input: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(input)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of cookie `name` in the `Cookie` headers.
fn find_cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// URL-safe base64 of `bytes` random bytes.
fn random_token(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// URL-safe base64 of SHA-256 over `parts` (each followed by NUL).
fn digest(parts: &[&str]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
