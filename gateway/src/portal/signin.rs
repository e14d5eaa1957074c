//! The auth host: "enter your e-mail" and home-realm discovery, the local
//! password, the IdP round trip, the e-mail passcode, consent, sign-out and
//! the landing page; then the hand-off to the app host that asked.

use super::apphost::{HANDOFF_KIND, Handoff};
use super::{
    HANDOFF_TTL_SECS, Handler, PENDING_TTL_SECS, Reply, digest, paths, random_token, seconds,
};
use crate::config::{Fallback, IdpKind};
use crate::mail::{Message, normalise_email};
use crate::oidc::{OidcError, PendingAuth, ct_eq};
use crate::proxy::respond::encode_component;
use crate::session::{SessionClaims, cookie, new_sid};
use crate::store::{
    Identity, NewAuditEntry, NewUser, PasscodeCheck, SessionRecord, StoreError, User, UserState,
    UserType, new_user_id,
};
use minijinja::context;
use openidconnect::url::Url;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The idp name recorded for e-mail passcode sign-ins.
pub(super) const PASSCODE_IDP: &str = "passcode";
const OIDC_KIND: &str = "oidc";
/// Terms version recorded when the config names no terms.
const DEFAULT_TERMS_VERSION: &str = "1";
/// Password tries per address and per client IP in [`PASSWORD_WINDOW`].
const PASSWORD_PER_ADDRESS: u32 = 10;
const PASSWORD_PER_IP: u32 = 50;
const PASSWORD_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A pending OIDC sign-in, kept as a single-use ticket under its `state`.
#[derive(Serialize, Deserialize)]
struct PendingOidc {
    pending: PendingAuth,
    rd: String,
    /// Digest of the browser's flow cookie: the callback must come back to
    /// the browser that started it.
    flow: String,
}

/// Someone the IdP (or the password, or the passcode) vouched for.
pub(super) struct SignedIn {
    pub idp: String,
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub amr: Vec<String>,
    pub mfa: bool,
    /// When the person authenticated (the IdP's `auth_time`, else now).
    pub auth_time: i64,
    /// Whether this IdP is the organisation's own for the e-mail's domain
    /// (its `domains` list it): only then may a new member be created.
    pub authoritative: bool,
}

/// Where a return URL leads: an app host of this gateway.
pub(super) struct Target {
    pub host: String,
    pub path: String,
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

impl Handler<'_> {
    pub(super) async fn auth_host(&self) -> Reply {
        let post = self.req.method == "POST";
        match self.req.path {
            paths::SIGN_IN if !post => self.sign_in_page().await,
            paths::SIGN_IN => self.discover().await,
            paths::SIGN_IN_PASSWORD if post => self.password().await,
            paths::SIGN_IN_CHOOSE if post => self.choose().await,
            paths::SIGN_IN_PASSCODE if post => self.passcode().await,
            paths::CALLBACK if !post => self.callback().await,
            paths::CONSENT => self.consent().await,
            paths::MFA => self.mfa().await,
            paths::SIGN_OUT => self.sign_out().await,
            paths::INVITE => self.invitation().await,
            p if p == paths::MANAGE || p.starts_with("/.portcullis/manage/") => self.manage().await,
            p if p == paths::SIGN_UP || p.starts_with("/.portcullis/sign-up/") => {
                self.sign_up().await
            }
            "/" | "/.portcullis" | "/.portcullis/" | "/.portcullis/apps" if !post => {
                self.landing().await
            }
            _ => self.message(404, "Not found", "There is nothing at this address."),
        }
    }

    // ---- browser binding and CSRF ------------------------------------------

    fn flow_cookie_name(&self) -> &'static str {
        if self.req.https {
            "__Host-portcullis_flow"
        } else {
            "portcullis_flow"
        }
    }

    /// This browser's flow id, and the `Set-Cookie` to send when it is new.
    fn flow(&self) -> (String, Option<String>) {
        match self.cookie(self.flow_cookie_name()) {
            Some(v)
                if v.len() == 22
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                (v.to_string(), None)
            }
            _ => {
                let v = random_token(16);
                let mut c = format!(
                    "{}={v}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax",
                    self.flow_cookie_name()
                );
                if self.req.https {
                    c.push_str("; Secure");
                }
                (v, Some(c))
            }
        }
    }

    /// A page with a form: adds the CSRF token (and the flow cookie).
    pub(super) fn form_page(&self, status: u16, template: &str, ctx: minijinja::Value) -> Reply {
        let (flow, set) = self.flow();
        let csrf = digest(&["csrf", &flow]);
        let reply = self.page(status, template, context! { csrf, ..ctx });
        match set {
            Some(c) => reply.with_cookie(c),
            None => reply,
        }
    }

    /// The posted form, if it carries this browser's CSRF token and comes
    /// from this origin.
    pub(super) fn form(&self) -> Result<HashMap<String, String>, Reply> {
        let form: HashMap<String, String> =
            openidconnect::url::form_urlencoded::parse(&self.req.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let origin_ok = match self.req.headers.get("origin") {
            None => true,
            Some(o) => o.as_bytes() == self.auth_origin().as_bytes(),
        };
        let token_ok = match (self.cookie(self.flow_cookie_name()), form.get("csrf")) {
            (Some(flow), Some(sent)) => ct_eq(digest(&["csrf", flow]).as_bytes(), sent.as_bytes()),
            _ => false,
        };
        if origin_ok && token_ok {
            Ok(form)
        } else {
            Err(self.start_again(
                403,
                "This page has expired",
                "The form was not sent from this sign-in page, or it is too old.",
            ))
        }
    }

    // ---- return URLs -------------------------------------------------------

    /// `rd` if it is a URL on an app host of this gateway, with this
    /// request's scheme and port; `None` otherwise (open redirects).
    pub(super) fn target(&self, rd: &str) -> Option<Target> {
        if rd.len() > 4096 || rd.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
            return None;
        }
        let url = Url::parse(rd).ok()?;
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        if url.scheme() != self.scheme()
            || !url.username().is_empty()
            || url.password().is_some()
            || port != self.req.port_suffix
        {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if host == self.sign_in.host || self.snapshot.routes.find(&host, url.path()).is_none() {
            return None;
        }
        Some(Target { host, path })
    }

    fn rd(&self, form: Option<&HashMap<String, String>>) -> String {
        form.and_then(|f| f.get("rd").cloned())
            .or_else(|| self.query("rd"))
            .unwrap_or_default()
    }

    // ---- the auth session --------------------------------------------------

    /// The auth host's session, if valid, not revoked, and its user active.
    pub(super) async fn auth_session(&self) -> Option<(SessionClaims, User)> {
        let claims = self.session()?;
        let store = &self.gateway.store;
        if store.is_revoked(&claims.sid).await.unwrap_or(true) {
            return None;
        }
        match store.get_user(&claims.sub).await {
            Ok(Some(u)) if u.state == UserState::Active => Some((claims, u)),
            _ => None,
        }
    }

    // ---- sign-in -----------------------------------------------------------

    async fn sign_in_page(&self) -> Reply {
        let rd = self.rd(None);
        let reauth = self.query("reauth").as_deref() == Some("1");
        if !reauth && let Some((claims, user)) = self.auth_session().await {
            return self.after_sign_in(&claims, &user, &rd).await;
        }
        self.form_page(200, "sign_in.html", context! { rd, reauth, email => "" })
    }

    /// "Enter your e-mail" posted: pick the way in (home-realm discovery).
    async fn discover(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let Some(email) = form.get("email").and_then(|e| normalise_email(e)) else {
            return self.form_page(
                400,
                "sign_in.html",
                context! { rd, email => form.get("email"), error => "Enter a valid e-mail address." },
            );
        };
        let idps = &self.snapshot.config.idps;
        // A listed local account first, then the IdP that claims the domain.
        for idp in idps {
            if let IdpKind::Local(l) = &idp.kind
                && l.knows(&email)
            {
                return self.password_page(200, &idp.name, &email, &rd, None);
            }
        }
        for idp in idps {
            match &idp.kind {
                IdpKind::Oidc(c) if c.serves_email(&email) => {
                    let reauth = form.get("reauth").is_some_and(|v| v == "1");
                    return self.start_oidc(&idp.name, &email, &rd, reauth).await;
                }
                IdpKind::Local(l) if l.serves(&email) => {
                    return self.password_page(200, &idp.name, &email, &rd, None);
                }
                _ => {}
            }
        }
        let options = self.options();
        match options.as_slice() {
            [] => self.start_again(
                403,
                "No way to sign in",
                "There is no sign-in for this e-mail address here. Ask the person who invited you.",
            ),
            [(name, _)] => self.go(name, &email, &rd).await,
            _ => self.form_page(
                200,
                "choose.html",
                context! {
                    rd, email,
                    options => options.iter().map(|(name, label)| context! { name, label }).collect::<Vec<_>>(),
                },
            ),
        }
    }

    /// The ways in for e-mails no IdP claims: `sign_in.idp_order`, then the
    /// passcode when it is the fallback.
    fn options(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .sign_in
            .idp_order
            .iter()
            .map(|n| (n.clone(), format!("Sign in with {n}")))
            .collect();
        if self.sign_in.fallback == Fallback::Passcode {
            out.push((
                PASSCODE_IDP.to_string(),
                "E-mail me a one-time code".to_string(),
            ));
        }
        out
    }

    async fn choose(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let (Some(email), Some(method)) = (
            form.get("email").and_then(|e| normalise_email(e)),
            form.get("method"),
        ) else {
            return self.start_again(400, "Bad request", "The form is incomplete.");
        };
        if !self.options().iter().any(|(n, _)| n == method) {
            return self.start_again(400, "Bad request", "That way of signing in is not offered.");
        }
        self.go(method, &email, &rd).await
    }

    /// Continues with the IdP (or passcode) `name`.
    pub(super) async fn go(&self, name: &str, email: &str, rd: &str) -> Reply {
        if name == PASSCODE_IDP {
            return self.send_passcode(email, rd).await;
        }
        match self
            .snapshot
            .config
            .idps
            .iter()
            .find(|i| i.name == name)
            .map(|i| &i.kind)
        {
            Some(IdpKind::Oidc(_)) => self.start_oidc(name, email, rd, false).await,
            Some(IdpKind::Local(_)) => self.password_page(200, name, email, rd, None),
            _ => self.start_again(400, "Bad request", "That way of signing in is not offered."),
        }
    }

    fn password_page(
        &self,
        status: u16,
        idp: &str,
        email: &str,
        rd: &str,
        error: Option<&str>,
    ) -> Reply {
        self.form_page(status, "password.html", context! { idp, email, rd, error })
    }

    /// Counts one try in `bucket` for `key`; true when over `limit`.
    async fn over_limit(
        &self,
        bucket: &str,
        key: &str,
        limit: u32,
        window: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let n = self
            .gateway
            .store
            .hit_rate_limit(bucket, key, window, self.time())
            .await?;
        Ok(n > limit)
    }

    fn client_ip(&self) -> String {
        self.req
            .client_ip
            .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }

    async fn password(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let idp_name = form.get("idp").cloned().unwrap_or_default();
        let (Some(email), Some(password)) = (
            form.get("email").and_then(|e| normalise_email(e)),
            form.get("password").cloned(),
        ) else {
            return self.start_again(400, "Bad request", "The form is incomplete.");
        };
        let Some(local) = self
            .snapshot
            .config
            .idps
            .iter()
            .find_map(|i| match &i.kind {
                IdpKind::Local(l) if i.name == idp_name => Some(l.clone()),
                _ => None,
            })
        else {
            return self.start_again(400, "Bad request", "That way of signing in is not offered.");
        };
        // Both counters at once: with the store slow or locked, one wait
        // for the pair instead of one each (a locked SQLite file: 5 s, not 10).
        let client_ip = self.client_ip();
        let limited = match tokio::join!(
            self.over_limit(
                "password-address",
                &email,
                PASSWORD_PER_ADDRESS,
                PASSWORD_WINDOW,
            ),
            self.over_limit("password-ip", &client_ip, PASSWORD_PER_IP, PASSWORD_WINDOW),
        ) {
            (Ok(a), Ok(b)) => a || b,
            (Err(e), _) | (_, Err(e)) => return self.unavailable("rate limit", &e),
        };
        if limited {
            self.count_sign_in(&idp_name, "rate_limited");
            return self.password_page(
                429,
                &idp_name,
                &email,
                &rd,
                Some("Too many attempts. Wait a few minutes, then try again."),
            );
        }
        let check_email = email.clone();
        let verified =
            tokio::task::spawn_blocking(move || local.verify(&check_email, &password)).await;
        match verified {
            Ok(Some(user)) => {
                self.complete(
                    SignedIn {
                        idp: idp_name,
                        subject: email.clone(),
                        email,
                        name: user.name,
                        groups: user.groups,
                        amr: vec!["pwd".into()],
                        mfa: false,
                        auth_time: self.now,
                        authoritative: true,
                    },
                    &rd,
                )
                .await
            }
            Ok(None) => {
                self.count_sign_in(&idp_name, "bad_password");
                self.password_page(
                    401,
                    &idp_name,
                    &email,
                    &rd,
                    Some("The e-mail or password is not right."),
                )
            }
            Err(e) => self.unavailable("password check", &e),
        }
    }

    // ---- OIDC ----------------------------------------------------------------

    /// To the IdP; `reauth` asks it for a fresh sign-in (`prompt=login`),
    /// for apps whose sign-in frequency the session no longer meets.
    async fn start_oidc(&self, idp: &str, email: &str, rd: &str, reauth: bool) -> Reply {
        let client = match self.portal.oidc_client(idp).await {
            Ok(c) => c,
            Err(e) => {
                self.count_sign_in(idp, e.as_str());
                return self.unavailable("identity provider discovery", &e);
            }
        };
        let callback = format!("{}{}", self.auth_origin(), paths::CALLBACK);
        let Ok(redirect_uri) = Url::parse(&callback) else {
            return self.message(400, "Bad request", "The host name is not valid.");
        };
        if !reachable(client.metadata().authorization_endpoint().url()).await {
            self.count_sign_in(idp, "idp_unreachable");
            return self.start_again(
                503,
                "Sign-in service unavailable",
                "Your organisation's sign-in service cannot be reached right now. Try again in a few minutes.",
            );
        }
        let (url, pending) =
            client.authorize_url(&redirect_uri, None, reauth, Some(email), self.now);
        let (flow, set) = self.flow();
        let state = pending.state.clone();
        let ticket = PendingOidc {
            pending,
            rd: rd.to_string(),
            flow: digest(&["flow", &flow]),
        };
        let payload = match serde_json::to_string(&ticket) {
            Ok(p) => p,
            Err(e) => return self.unavailable("pending sign-in", &e),
        };
        let expires = self.time() + time::Duration::seconds(PENDING_TTL_SECS);
        if let Err(e) = self
            .gateway
            .store
            .put_ticket(OIDC_KIND, &state, &payload, expires, self.time())
            .await
        {
            return self.unavailable("pending sign-in", &e);
        }
        let reply = Reply::redirect(url.to_string());
        match set {
            Some(c) => reply.with_cookie(c),
            None => reply,
        }
    }

    async fn callback(&self) -> Reply {
        let Some(state) = self.query("state") else {
            return self.start_again(
                400,
                "Sign-in failed",
                "The answer from the sign-in service is incomplete.",
            );
        };
        let ticket = match self
            .gateway
            .store
            .take_ticket(OIDC_KIND, &state, self.time())
            .await
        {
            Ok(t) => t.and_then(|p| serde_json::from_str::<PendingOidc>(&p).ok()),
            Err(e) => return self.unavailable("pending sign-in", &e),
        };
        let Some(ticket) = ticket else {
            return self.start_again(
                400,
                "Sign-in expired",
                "This sign-in was already finished or took too long.",
            );
        };
        let idp = ticket.pending.idp_name.clone();
        let same_browser = self
            .cookie(self.flow_cookie_name())
            .is_some_and(|f| ct_eq(digest(&["flow", f]).as_bytes(), ticket.flow.as_bytes()));
        if !same_browser {
            self.count_sign_in(&idp, "other_browser");
            return self.start_again(
                400,
                "Sign-in failed",
                "This sign-in was started in another browser. Start again here.",
            );
        }
        if let Some(error) = self.query("error") {
            let e = OidcError::from_callback(&error);
            self.count_sign_in(&idp, e.as_str());
            return self.start_again(
                400,
                "Sign-in failed",
                "The sign-in service did not sign you in.",
            );
        }
        let Some(code) = self.query("code") else {
            return self.start_again(
                400,
                "Sign-in failed",
                "The answer from the sign-in service is incomplete.",
            );
        };
        let client = match self.portal.oidc_client(&idp).await {
            Ok(c) => c,
            Err(e) => return self.unavailable("identity provider", &e),
        };
        let iss = self.query("iss");
        let id = match client
            .finish(&ticket.pending, &code, &state, iss.as_deref(), self.now)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.count_sign_in(&idp, e.as_str());
                tracing::info!(request_id = %self.req.request_id, idp = %idp, error = %e, "sign-in refused");
                if matches!(e, OidcError::IdpUnreachable(_)) {
                    return self.unavailable("identity provider", &e);
                }
                return self.start_again(
                    400,
                    "Sign-in failed",
                    "The answer from your sign-in service could not be verified.",
                );
            }
        };
        let email = match (&id.email, id.email_verified) {
            (Some(e), true) => normalise_email(e),
            _ => None,
        };
        let Some(email) = email else {
            self.count_sign_in(&idp, "email_unverified");
            return self.start_again(
                403,
                "E-mail not confirmed",
                "Your sign-in service did not confirm your e-mail address, so it cannot be matched to an invitation.",
            );
        };
        let config = client.config();
        let subject = if config.issuer_is_template() {
            format!("{}|{}", id.issuer, id.subject)
        } else {
            id.subject.clone()
        };
        self.complete(
            SignedIn {
                idp,
                subject,
                authoritative: config.serves_email(&email),
                email,
                name: id.name,
                groups: id.groups,
                amr: id.amr,
                mfa: id.mfa,
                auth_time: id.auth_time.unwrap_or(self.now).min(self.now),
            },
            &ticket.rd,
        )
        .await
    }

    // ---- e-mail passcode -----------------------------------------------------

    async fn send_passcode(&self, email: &str, rd: &str) -> Reply {
        let Some(mailer) = &self.portal.mailer else {
            return self.unavailable("passcode", &"no mail transport is configured");
        };
        let settings = &self.sign_in.passcode;
        // Both counters at once (see `password`).
        let client_ip = self.client_ip();
        let limited = match tokio::join!(
            self.over_limit(
                "passcode-address",
                email,
                settings.per_address,
                settings.window,
            ),
            self.over_limit("passcode-ip", &client_ip, settings.per_ip, settings.window),
        ) {
            (Ok(a), Ok(b)) => a || b,
            (Err(e), _) | (_, Err(e)) => return self.unavailable("rate limit", &e),
        };
        let valid_minutes = u32::try_from(settings.ttl.as_secs() / 60)
            .unwrap_or(u32::MAX)
            .max(1);
        if limited {
            self.count_sign_in(PASSCODE_IDP, "rate_limited");
            return self.form_page(
                429,
                "passcode.html",
                context! { email, rd, valid_minutes, error => "Too many codes were asked for. Wait a while, then try again." },
            );
        }
        // Only people the directory knows get a code (invited guests,
        // members); the page reads the same either way.
        match self.gateway.store.get_user_by_email(email).await {
            Ok(Some(u)) if may_use_passcode(&u, email) => {
                let code = format!("{:08}", rand::random_range(0..100_000_000u32));
                let expires = self.time() + settings.ttl;
                if let Err(e) = self
                    .gateway
                    .store
                    .create_passcode(email, &code, expires, self.time())
                    .await
                {
                    return self.unavailable("passcode", &e);
                }
                if let Err(e) = mailer
                    .send(
                        email,
                        &Message::Passcode {
                            code,
                            valid_minutes,
                        },
                    )
                    .await
                {
                    // The page must read the same as for an address we send
                    // nothing to, or a mail outage tells who has an account
                    // here. The person asks again; operators see the log
                    // line and `sign_ins_total{result="mail_failed"}`.
                    tracing::error!(request_id = %self.req.request_id, error = %e, "passcode e-mail not sent");
                    self.count_sign_in(PASSCODE_IDP, "mail_failed");
                }
            }
            Ok(_) => {
                tracing::info!(request_id = %self.req.request_id, "passcode asked for an address that may not use one");
            }
            Err(e) => return self.unavailable("passcode", &e),
        }
        self.form_page(200, "passcode.html", context! { email, rd, valid_minutes })
    }

    async fn passcode(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let Some(email) = form.get("email").and_then(|e| normalise_email(e)) else {
            return self.start_again(400, "Bad request", "The form is incomplete.");
        };
        let Some(code) = form.get("code").map(|c| c.trim().to_string()) else {
            return self.send_passcode(&email, &rd).await;
        };
        let settings = &self.sign_in.passcode;
        let valid_minutes = u32::try_from(settings.ttl.as_secs() / 60)
            .unwrap_or(u32::MAX)
            .max(1);
        let check = match self
            .gateway
            .store
            .check_passcode(&email, &code, settings.max_attempts, self.time())
            .await
        {
            Ok(c) => c,
            Err(e) => return self.unavailable("passcode", &e),
        };
        match check {
            PasscodeCheck::Accepted => {
                self.complete(
                    SignedIn {
                        idp: PASSCODE_IDP.to_string(),
                        subject: email.clone(),
                        email,
                        name: None,
                        groups: Vec::new(),
                        amr: vec!["otp".into()],
                        mfa: false,
                        auth_time: self.now,
                        authoritative: false,
                    },
                    &rd,
                )
                .await
            }
            PasscodeCheck::Wrong { attempts_left } if attempts_left > 0 => {
                self.count_sign_in(PASSCODE_IDP, "wrong_code");
                let error = format!(
                    "That code is not right. {attempts_left} {} left.",
                    if attempts_left == 1 { "try" } else { "tries" }
                );
                self.form_page(
                    401,
                    "passcode.html",
                    context! { email, rd, valid_minutes, error },
                )
            }
            other => {
                let result = match other {
                    PasscodeCheck::Expired => "expired_code",
                    PasscodeCheck::NotFound => "unknown_code",
                    _ => "too_many_attempts",
                };
                self.count_sign_in(PASSCODE_IDP, result);
                self.start_again(
                    401,
                    "Code no longer valid",
                    "That code has expired or was tried too often. Ask for a new one.",
                )
            }
        }
    }

    // ---- after the IdP -----------------------------------------------------

    fn count_sign_in(&self, idp: &str, result: &str) {
        // Only configured idp names (and `passcode`) become labels.
        let known = idp == PASSCODE_IDP || self.snapshot.config.idps.iter().any(|i| i.name == idp);
        self.gateway
            .metrics
            .sign_ins
            .with_label_values(&[if known { idp } else { "unknown" }, result])
            .inc();
    }

    /// Finds the user the sign-in is for, starts the session, and goes on
    /// to consent or back to the app.
    async fn complete(&self, s: SignedIn, rd: &str) -> Reply {
        let store = &self.gateway.store;
        let user = match self.resolve_user(&s).await {
            Ok(Ok(u)) => u,
            Ok(Err((result, title, text))) => {
                self.count_sign_in(&s.idp, result);
                return self.start_again(403, title, text);
            }
            Err(e) => return self.unavailable("directory", &e),
        };
        let sid = new_sid();
        let lifetime = seconds(self.sign_in.session_lifetime);
        let record = SessionRecord {
            sid: sid.clone(),
            user_id: user.id.clone(),
            idp: s.idp.clone(),
            created_at: self.time(),
            expires_at: self.time() + self.sign_in.session_lifetime,
        };
        if let Err(e) = store.insert_session(&record).await {
            return self.unavailable("session", &e);
        }
        // `mfa` in the session only when we vouch for it: an IdP that is
        // not `mfa: trusted` may say what it likes in `amr`.
        let mut amr = s.amr;
        amr.retain(|m| m != "mfa");
        if s.mfa {
            amr.push("mfa".into());
        }
        let keys = self.gateway.keys.load();
        let claims = SessionClaims {
            iss: keys.issuer().to_string(),
            sub: user.id.clone(),
            aud: self.sign_in.host.clone(),
            email: user.email.clone(),
            user_type: user.user_type,
            groups: s.groups.iter().map(|g| g.to_ascii_lowercase()).collect(),
            idp: s.idp.clone(),
            amr,
            auth_time: s.auth_time,
            iat: self.now,
            exp: self.now + lifetime,
            sid,
        };
        let token = match keys.issue(&claims) {
            Ok(t) => t,
            Err(e) => return self.unavailable("issue session", &e),
        };
        let _ = store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: "signed_in".into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({ "idp": s.idp, "mfa": claims.mfa() }),
            })
            .await;
        self.count_sign_in(&s.idp, "ok");
        if s.mfa {
            self.gateway
                .metrics
                .mfa
                .with_label_values(&["idp", "ok"])
                .inc();
        }
        self.after_sign_in(&claims, &user, rd)
            .await
            .with_cookie(cookie::set_cookie(&token, self.req.https, lifetime))
    }

    /// The directory's user for this sign-in: by identity; else an invited
    /// user not yet linked to any identity, by e-mail; else a new member when
    /// the organisation's own IdP vouches for a member domain. Anyone else
    /// gets `Err((result, title, text))`.
    #[allow(clippy::type_complexity)]
    async fn resolve_user(
        &self,
        s: &SignedIn,
    ) -> Result<Result<User, (&'static str, &'static str, &'static str)>, StoreError> {
        let store = &self.gateway.store;
        let user = if s.idp == PASSCODE_IDP {
            // The code proved the mailbox; the address is the identity, for
            // users not linked to an IdP.
            match store.get_user_by_email(&s.email).await? {
                Some(u) if may_use_passcode(&u, &s.email) => {
                    if u.identity.is_none() {
                        store.link_identity(&u.id, PASSCODE_IDP, &s.email).await?;
                    }
                    u
                }
                _ => return Ok(Err(NOT_INVITED)),
            }
        } else if let Some(u) = store.get_user_by_identity(&s.idp, &s.subject).await? {
            u
        } else {
            match store.get_user_by_email(&s.email).await? {
                Some(u) if u.identity.is_none() => {
                    match store.link_identity(&u.id, &s.idp, &s.subject).await {
                        // The IdP's display name for an invited user who had none.
                        Ok(()) if u.display_name.is_none() && s.name.is_some() => {
                            store
                                .upsert_user(
                                    &NewUser {
                                        id: u.id.clone(),
                                        email: u.email.clone(),
                                        display_name: s.name.clone(),
                                        user_type: u.user_type,
                                        identity: None,
                                    },
                                    self.time(),
                                )
                                .await?
                        }
                        Ok(()) => u,
                        Err(StoreError::Conflict { .. }) => return Ok(Err(LINKED_ELSEWHERE)),
                        Err(e) => return Err(e),
                    }
                }
                // Matched by e-mail but linked to another account: never
                // take it over (users are iss+sub, not e-mail).
                Some(_) => return Ok(Err(LINKED_ELSEWHERE)),
                None => {
                    let member = self
                        .snapshot
                        .config
                        .organisation
                        .member_domains
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(domain_of(&s.email)));
                    if !(member && s.authoritative) {
                        return Ok(Err(NOT_INVITED));
                    }
                    store
                        .upsert_user(
                            &NewUser {
                                id: new_user_id(),
                                email: s.email.clone(),
                                display_name: s.name.clone(),
                                user_type: UserType::Member,
                                identity: Some(Identity {
                                    idp: s.idp.clone(),
                                    subject: s.subject.clone(),
                                }),
                            },
                            self.time(),
                        )
                        .await?
                }
            }
        };
        if user.state != UserState::Active {
            return Ok(Err((
                "blocked",
                "Access blocked",
                "Your access has been blocked. Contact the person who invited you.",
            )));
        }
        Ok(Ok(user))
    }

    /// A guest who has not accepted the current terms goes to consent;
    /// everyone else back to the app.
    pub(super) async fn after_sign_in(
        &self,
        claims: &SessionClaims,
        user: &User,
        rd: &str,
    ) -> Reply {
        if user.user_type == UserType::Guest {
            match self.gateway.store.consent_of(&user.id).await {
                Ok(Some(c)) if c.terms_version == self.terms_version() => {}
                Ok(_) => {
                    return Reply::redirect(format!(
                        "{}?rd={}",
                        paths::CONSENT,
                        encode_component(rd)
                    ));
                }
                Err(e) => return self.unavailable("consent", &e),
            }
        }
        self.handoff(claims, rd).await
    }

    fn terms_version(&self) -> &str {
        self.sign_in
            .terms
            .as_ref()
            .map_or(DEFAULT_TERMS_VERSION, |t| t.version.as_str())
    }

    /// Back to the app host with a one-time code, or the landing page when
    /// there is no valid return URL.
    pub(super) async fn handoff(&self, claims: &SessionClaims, rd: &str) -> Reply {
        if (rd.starts_with("/.portcullis/invite?") || rd.starts_with("/.portcullis/sign-up/"))
            && !rd.contains(['\\', '\r', '\n'])
        {
            // Back to the invitation (or the sign-up step) that sent the
            // person to sign in; a local path, never another host.
            return Reply::redirect(rd.to_string());
        }
        let Some(target) = self.target(rd) else {
            return Reply::redirect("/.portcullis/apps".to_string());
        };
        let code = random_token(16);
        let payload = Handoff {
            host: target.host.clone(),
            path: target.path,
            claims: claims.clone(),
        };
        let payload = match serde_json::to_string(&payload) {
            Ok(p) => p,
            Err(e) => return self.unavailable("hand-off", &e),
        };
        let expires = self.time() + time::Duration::seconds(HANDOFF_TTL_SECS);
        if let Err(e) = self
            .gateway
            .store
            .put_ticket(HANDOFF_KIND, &code, &payload, expires, self.time())
            .await
        {
            return self.unavailable("hand-off", &e);
        }
        Reply::redirect(format!(
            "{}://{}{}{}?code={code}",
            self.scheme(),
            target.host,
            self.req.port_suffix,
            paths::SESSION
        ))
    }

    // ---- consent, sign-out, landing ------------------------------------------

    async fn consent(&self) -> Reply {
        let form = if self.req.method == "POST" {
            match self.form() {
                Ok(f) => Some(f),
                Err(r) => return r,
            }
        } else {
            None
        };
        let rd = self.rd(form.as_ref());
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(format!("{}?rd={}", paths::SIGN_IN, encode_component(&rd)));
        };
        let Some(form) = form else {
            let terms = self.sign_in.terms.as_ref();
            return self.form_page(
                200,
                "consent.html",
                context! {
                    rd,
                    email => user.email,
                    name => user.display_name,
                    terms_url => terms.map(|t| t.url.clone()),
                    terms_version => self.terms_version(),
                },
            );
        };
        if form.get("answer").map(String::as_str) != Some("accept") {
            if let Err(e) = self.revoke(&claims).await {
                return self.unavailable("revoke session", &e);
            }
            return self
                .start_again(
                    200,
                    "You are not signed in",
                    "Without your consent you cannot use the apps shared with you.",
                )
                .with_cookie(cookie::clear_cookie(self.req.https));
        }
        let version = self.terms_version().to_string();
        if let Err(e) = self
            .gateway
            .store
            .record_consent(&user.id, &version, self.time())
            .await
        {
            return self.unavailable("consent", &e);
        }
        let _ = self
            .gateway
            .store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: "consent_given".into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({ "terms_version": version }),
            })
            .await;
        self.handoff(&claims, &rd).await
    }

    async fn sign_out(&self) -> Reply {
        if self.req.method != "POST" {
            // Signed in: confirm with a POST (no sign-out by a cross-site
            // link). Already revoked (an app host's sign-out): clear.
            if self.auth_session().await.is_some() {
                return self.form_page(200, "sign_out.html", context! { signed_in => true });
            }
            return self
                .page(200, "sign_out.html", context! { signed_in => false })
                .with_cookie(cookie::clear_cookie(self.req.https));
        }
        if let Err(r) = self.form() {
            return r;
        }
        let mut idp_sign_out = None;
        if let Some(claims) = self.session() {
            if let Err(e) = self.revoke(&claims).await {
                return self.unavailable("revoke session", &e);
            }
            // RP-initiated logout at the IdP, when it offers one: a link,
            // so leaving the partner's own session is the person's choice.
            if self.portal.oidc_configs.contains_key(&claims.idp)
                && let Ok(client) = self.portal.oidc_client(&claims.idp).await
            {
                idp_sign_out = client.end_session_url(None, None).map(|u| u.to_string());
            }
        }
        self.page(
            200,
            "sign_out.html",
            context! { signed_in => false, idp_sign_out },
        )
        .with_cookie(cookie::clear_cookie(self.req.https))
    }

    /// The signed-in person's apps (the access panel grows from here).
    async fn landing(&self) -> Reply {
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(paths::SIGN_IN.to_string());
        };
        // Owners get a way to their apps' guests.
        let groups: Vec<String> = self
            .gateway
            .store
            .groups_of(&user.id)
            .await
            .unwrap_or_default()
            .iter()
            .chain(&claims.groups)
            .map(|g| g.to_ascii_lowercase())
            .collect();
        let owns_apps = self
            .snapshot
            .config
            .apps
            .iter()
            .any(|a| a.owners.iter().any(|o| o.matches(&user.email, &groups)));
        let assigned: Vec<(String, Option<time::OffsetDateTime>)> =
            if user.user_type == UserType::Guest {
                match self.gateway.store.assignments_of_user(&user.id).await {
                    Ok(a) => a
                        .into_iter()
                        .filter(|a| a.is_live(self.time()))
                        .map(|a| (a.app, a.expires_at))
                        .collect(),
                    Err(e) => return self.unavailable("assignments", &e),
                }
            } else {
                Vec::new()
            };
        let apps: Vec<minijinja::Value> = self
            .snapshot
            .config
            .apps
            .iter()
            .filter_map(|a| {
                let until = assigned.iter().find(|(n, _)| n == &a.name).map(|(_, e)| *e);
                if user.user_type != UserType::Member && until.is_none() {
                    return None;
                }
                let host = a.hosts.first()?;
                let path = a.path_prefix.clone().unwrap_or_else(|| "/".into());
                Some(context! {
                    title => a.title,
                    description => a.description,
                    until => until.flatten().map(crate::invite::date),
                    url => format!("{}://{host}{}{path}", self.scheme(), self.req.port_suffix),
                })
            })
            .collect();
        self.page(
            200,
            "signed_in.html",
            context! { email => user.email, apps, owns_apps },
        )
    }
}

const NOT_INVITED: (&str, &str, &str) = (
    "not_invited",
    "No access yet",
    "You have not been invited to any app here. Ask your contact to invite you.",
);
const LINKED_ELSEWHERE: (&str, &str, &str) = (
    "identity_conflict",
    "Use the account you first signed in with",
    "This e-mail address is already linked to another sign-in account. Sign in with that one.",
);

/// Whether a TCP connection to the URL's host opens within 2 s: an IdP
/// that is down is said so on our page, not as a browser error on theirs.
async fn reachable(url: &Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::TcpStream::connect((host, port)),
        )
        .await,
        Ok(Ok(_))
    )
}

/// The e-mail passcode is for people not linked to an IdP (or linked to the
/// passcode itself): it must never become a way round a partner's own IdP.
fn may_use_passcode(u: &User, email: &str) -> bool {
    u.state == UserState::Active
        && match &u.identity {
            None => true,
            Some(i) => i.idp == PASSCODE_IDP && i.subject.eq_ignore_ascii_case(email),
        }
}
