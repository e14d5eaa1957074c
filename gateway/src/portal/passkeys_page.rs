//! `/.portcullis/security/passkeys` on the auth host: the signed-in
//! person's passkeys (name, added, last used, remove) and adding one; and
//! `/.portcullis/static/passkeys.js`, the script these pages and the MFA
//! step use (a static file, so pages keep a CSP without inline script).
//!
//! Every post carries the CSRF token and passes the Origin check of every
//! portal form (`Handler::form`). Adding a passkey is adding a second
//! factor: a person who already has one (a TOTP app or a passkey) must have
//! passed MFA in this session first, or a stolen first factor could add
//! its own.

use super::{Handler, Reply, paths};
use crate::passkeys::{PasskeyError, Passkeys};
use crate::session::SessionClaims;
use crate::store::{NewAuditEntry, RateLimit, User};
use base64::Engine as _;
use minijinja::context;

/// Ceremony starts (the options for a registration, a step-up or a
/// sign-in) per client (`signin::rate_limit`) and per session (or, before
/// sign-in, per browser) in [`CEREMONY_WINDOW`]: each writes a ceremony to
/// the store, so a script must not be able to fill it.
const CEREMONIES_PER_IP: u32 = 60;
const CEREMONIES_PER_SESSION: u32 = 20;
const CEREMONY_WINDOW: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The script, compiled in.
const SCRIPT: &str = include_str!("static/passkeys.js");

/// The CSP of pages that run [`SCRIPT`]: the portal's own, plus scripts
/// and `fetch` to this origin only.
const CSP_WITH_SCRIPT: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src data: 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

impl Reply {
    /// This page runs the passkey script: the CSP allows it (and nothing
    /// else).
    pub(super) fn with_script(mut self) -> Reply {
        for (name, value) in &mut self.headers {
            if *name == "content-security-policy" {
                *value = CSP_WITH_SCRIPT.into();
            }
        }
        self
    }

    /// A JSON answer for the script.
    pub(super) fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: vec![
                ("cache-control", "no-store".into()),
                ("x-content-type-options", "nosniff".into()),
            ],
            body: value.to_string().into_bytes(),
        }
    }
}

impl Handler<'_> {
    /// `GET /.portcullis/static/passkeys.js`.
    pub(super) fn passkeys_script(&self) -> Reply {
        Reply {
            status: 200,
            content_type: "text/javascript; charset=utf-8",
            headers: vec![
                ("x-content-type-options", "nosniff".into()),
                ("cache-control", "public, max-age=300".into()),
            ],
            body: SCRIPT.as_bytes().to_vec(),
        }
    }

    /// The relying party for this request: the auth host.
    pub(super) fn relying_party(&self) -> Result<Passkeys, Reply> {
        Passkeys::new(&self.auth_origin(), self.org()).map_err(|e| self.unavailable("passkeys", &e))
    }

    pub(super) async fn passkeys_page(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(paths::SIGN_IN.to_string());
        };
        let Some(form) = form else {
            return self.passkeys_list(&user, None, None).await;
        };
        let store = &self.gateway.store;
        let rp = match self.relying_party() {
            Ok(rp) => rp,
            Err(r) => return r,
        };
        match form.get("action").map(String::as_str) {
            Some("register-options") => {
                if let Err(r) = self.may_add_factor(&claims, &user).await {
                    return r;
                }
                if let Err(r) = self.ceremony_limited(&claims.sid).await {
                    return r;
                }
                match rp
                    .start_registration(store, &user, &claims.sid, self.time())
                    .await
                {
                    Ok(options) => Reply::json(200, &options),
                    Err(e) => self.passkey_failed("register options", &e),
                }
            }
            Some("register") => {
                if let Err(r) = self.may_add_factor(&claims, &user).await {
                    return r;
                }
                let name = form.get("name").map(String::as_str).unwrap_or_default();
                let answer = form
                    .get("credential")
                    .map(String::as_str)
                    .unwrap_or_default();
                match rp
                    .finish_registration(store, &user, &claims.sid, name, answer, self.time())
                    .await
                {
                    Ok(()) => {
                        self.audit_passkey(&user, "passkey_added", name).await;
                        self.passkeys_list(&user, Some("msg-passkey-added"), None)
                            .await
                    }
                    Err(PasskeyError::AlreadyRegistered) => {
                        self.passkeys_list(&user, None, Some("msg-passkey-already"))
                            .await
                    }
                    Err(e @ (PasskeyError::Store(_) | PasskeyError::Internal(_))) => {
                        self.unavailable("passkey registration", &e)
                    }
                    Err(e) => {
                        tracing::info!(request_id = %self.req.request_id, result = e.as_str(), "passkey registration refused");
                        self.passkeys_list(&user, None, Some("msg-passkey-not-added"))
                            .await
                    }
                }
            }
            Some("rename") => {
                let id = form
                    .get("id")
                    .and_then(|i| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(i)
                            .ok()
                    })
                    .unwrap_or_default();
                let name = crate::passkeys::clean_name(
                    form.get("name").map(String::as_str).unwrap_or_default(),
                );
                match store.rename_passkey(&user.id, &id, &name).await {
                    Ok(true) => {
                        self.audit_passkey(&user, "passkey_renamed", &name).await;
                        self.passkeys_list(&user, Some("msg-passkey-renamed"), None)
                            .await
                    }
                    // Another user's id, or one removed meanwhile.
                    Ok(false) => {
                        self.passkeys_list(&user, None, Some("msg-passkey-none"))
                            .await
                    }
                    Err(e) => self.unavailable("passkey rename", &e),
                }
            }
            Some("remove") => {
                let id = form
                    .get("id")
                    .and_then(|i| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(i)
                            .ok()
                    })
                    .unwrap_or_default();
                match store.delete_passkey(&user.id, &id).await {
                    Ok(true) => {
                        self.audit_passkey(&user, "passkey_removed", "").await;
                        self.passkeys_list(&user, Some("msg-passkey-removed"), None)
                            .await
                    }
                    // Another user's id, or one already removed.
                    Ok(false) => {
                        self.passkeys_list(&user, None, Some("msg-passkey-none"))
                            .await
                    }
                    Err(e) => self.unavailable("passkey removal", &e),
                }
            }
            _ => self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-wrong-page"),
            ),
        }
    }

    /// Counts one ceremony start for this client and `session` (a session
    /// id, or before sign-in a value derived from the flow cookie);
    /// `Err` is the JSON answer for the script (429 over a limit, 503 when
    /// the store cannot count: fail closed).
    pub(super) async fn ceremony_limited(&self, session: &str) -> Result<(), Reply> {
        let client = self.client_key();
        let limits = [
            RateLimit {
                bucket: "passkey-ceremony-ip",
                key: &client,
                max: CEREMONIES_PER_IP,
            },
            RateLimit {
                bucket: "passkey-ceremony-session",
                key: session,
                max: CEREMONIES_PER_SESSION,
            },
        ];
        match self.rate_limited(&limits, CEREMONY_WINDOW).await {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::info!(request_id = %self.req.request_id, "passkey ceremony rate-limited");
                Err(Reply::json(
                    429,
                    &serde_json::json!({ "error": "rate_limited" }),
                ))
            }
            Err(e) => {
                tracing::warn!(request_id = %self.req.request_id, error = %e, "passkey rate limit not counted");
                Err(Reply::json(503, &serde_json::json!({ "error": "store" })))
            }
        }
    }

    /// Adding a second factor when one exists needs MFA in this session.
    async fn may_add_factor(&self, claims: &SessionClaims, user: &User) -> Result<(), Reply> {
        if claims.mfa() {
            return Ok(());
        }
        let store = &self.gateway.store;
        let totp = match store.get_totp_factor(&user.id).await {
            Ok(f) => f.is_some_and(|f| f.confirmed_at.is_some()),
            Err(e) => return Err(self.unavailable("mfa factor", &e)),
        };
        let keys = match store.list_passkeys(&user.id).await {
            Ok(k) => !k.is_empty(),
            Err(e) => return Err(self.unavailable("passkeys", &e)),
        };
        if totp || keys {
            return Err(self.message(
                403,
                &self.t("msg-verify-first-title"),
                &self.t("msg-verify-first"),
            ));
        }
        Ok(())
    }

    /// The list, with a `notice` or an `error` (message keys).
    async fn passkeys_list(&self, user: &User, notice: Option<&str>, error: Option<&str>) -> Reply {
        let notice = notice.map(|k| self.t(k));
        let error = error.map(|k| self.t(k));
        let keys = match self.gateway.store.list_passkeys(&user.id).await {
            Ok(k) => k,
            Err(e) => return self.unavailable("passkeys", &e),
        };
        let date = |t: time::OffsetDateTime| {
            format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
        };
        let rows: Vec<minijinja::Value> = keys
            .iter()
            .map(|k| {
                context! {
                    id => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&k.credential_id),
                    name => k.name,
                    created => date(k.created_at),
                    last_used => k.last_used_at.map(date),
                }
            })
            .collect();
        self.form_page(
            200,
            "passkeys.html",
            context! { keys => rows, notice, error },
        )
        .with_script()
    }

    async fn audit_passkey(&self, user: &User, action: &str, name: &str) {
        let _ = self
            .gateway
            .store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: action.into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({ "name": crate::passkeys::clean_name(name) }),
            })
            .await;
    }

    /// A failed options request: JSON for the script.
    pub(super) fn passkey_failed(&self, what: &str, e: &PasskeyError) -> Reply {
        tracing::warn!(request_id = %self.req.request_id, what, error = %e, "passkey step failed");
        Reply::json(
            match e {
                PasskeyError::NoneRegistered => 404,
                _ => 503,
            },
            &serde_json::json!({ "error": e.as_str() }),
        )
    }
}
