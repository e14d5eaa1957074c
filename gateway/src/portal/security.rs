//! `/.portcullis/security` on the auth host: the signed-in person's own
//! security info, linked from the access panel.
//!
//! - The authenticator: set up, or replaced. Replacing asks for a current
//!   code first (a stolen session alone cannot swap the factor), then
//!   resets it (`mfa::Totp::reset`, audited with the person as actor) and
//!   shows the enrollment page of the MFA step, which ends in new recovery
//!   codes and comes back here.
//! - Recovery codes: how many are left; a new set (a current code first,
//!   `mfa::Totp::regenerate_recovery_codes`), shown once.
//! - Sessions: every live session of the person; "sign out the others"
//!   revokes each but this browser's on every replica
//!   (`Gateway::revoke_session`, as sign-out does).
//!
//! Every change is a POST with the CSRF token; the page answers with a
//! redirect and a fixed notice word (`done=`), so a reload posts nothing.

use super::{Handler, Reply, paths};
use crate::html::encode_component;
use crate::i18n::t;
use crate::mfa::MfaError;
use crate::session::SessionClaims;
use crate::store::{NewAuditEntry, User};
use minijinja::context;
use std::collections::HashMap;

/// For input that is no authenticator code; it costs no try.
const NOT_A_CODE: &str = "msg-not-totp-code";

/// Where the MFA step's enrollment comes back to.
const DONE_ENROLLING: &str = "/.portcullis/security?done=authenticator";

/// A change's notice (a message key), from the redirect's `done` word.
fn done_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "authenticator" => "msg-authenticator-set-up",
        "others" => "msg-others-signed-out",
        _ => return None,
    })
}

impl Handler<'_> {
    pub(super) async fn security(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(format!(
                "{}?rd={}",
                paths::SIGN_IN,
                encode_component(paths::SECURITY)
            ));
        };
        let Some(form) = form else {
            if self.query("step").as_deref() == Some("enroll") {
                return self.security_enroll(&claims, &user).await;
            }
            let notice = self.query("done").as_deref().and_then(done_text);
            return self.security_page(&claims, &user, 200, None, notice).await;
        };
        match form.get("action").map(String::as_str) {
            Some("reenroll") => self.reenroll(&claims, &user, &form).await,
            Some("recovery_codes") => self.new_recovery_codes(&claims, &user, &form).await,
            Some("sign_out_others") => self.sign_out_others(&claims, &user).await,
            _ => self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-wrong-page"),
            ),
        }
    }

    /// The page itself, with an `error` or a `notice` (message keys).
    async fn security_page(
        &self,
        claims: &SessionClaims,
        user: &User,
        status: u16,
        error: Option<&str>,
        notice: Option<&str>,
    ) -> Reply {
        let error = error.map(|k| self.t(k));
        let notice = notice.map(|k| self.t(k));
        let store = &self.gateway.store;
        let now = self.time();
        let factor = match store.get_totp_factor(&user.id).await {
            Ok(f) => f,
            Err(e) => return self.unavailable("mfa factor", &e),
        };
        let authenticator = match &factor {
            None => "none",
            Some(f) if f.confirmed_at.is_none() => "pending",
            Some(_) => "on",
        };
        let since = factor
            .as_ref()
            .and_then(|f| f.confirmed_at)
            .map(|t| self.date(t));
        let locked_until = factor
            .as_ref()
            .and_then(|f| f.locked_until)
            .filter(|t| *t > now)
            .map(|t| self.clock(t));
        let recovery_left = if authenticator == "on" {
            match store.unused_recovery_code_hashes(&user.id).await {
                Ok(h) => Some(h.len()),
                Err(e) => return self.unavailable("recovery codes", &e),
            }
        } else {
            None
        };
        let sessions = match store.sessions_of_user(&user.id, now).await {
            Ok(s) => s,
            Err(e) => return self.unavailable("sessions", &e),
        };
        let passkey_count = match store.list_passkeys(&user.id).await {
            Ok(k) => k.len(),
            Err(e) => return self.unavailable("passkeys", &e),
        };
        let others = sessions.iter().filter(|s| s.sid != claims.sid).count();
        let sessions: Vec<minijinja::Value> = sessions
            .iter()
            .map(|s| {
                context! {
                    current => s.sid == claims.sid,
                    how => self.sign_in_method(&s.idp),
                    started => self.clock(s.created_at),
                    ends => self.clock(s.expires_at),
                }
            })
            .collect();
        self.form_page(
            status,
            "security.html",
            context! {
                email => user.email,
                authenticator, since, locked_until, recovery_left,
                sessions, others, error, notice,
                passkey_count, passkeys_path => paths::PASSKEYS,
            },
        )
    }

    /// How a session was signed in, in words.
    fn sign_in_method(&self, idp: &str) -> String {
        if idp == "passcode" {
            return self.t("msg-method-passcode");
        }
        if idp == super::signin::PASSKEY_IDP {
            return self.t("msg-method-passkey");
        }
        match self.snapshot.config.idps.iter().find(|i| i.name == idp) {
            Some(i) => match &i.kind {
                crate::config::IdpKind::Local(_) => self.t("msg-method-password"),
                _ => t!(self.lang, "msg-method-idp", idp = &i.name),
            },
            None => idp.to_string(),
        }
    }

    /// The MFA step's enrollment page, coming back here. Only without a
    /// confirmed factor: replacing one goes through [`Self::reenroll`].
    async fn security_enroll(&self, claims: &SessionClaims, user: &User) -> Reply {
        match self.gateway.store.get_totp_factor(&user.id).await {
            Ok(Some(f)) if f.confirmed_at.is_some() => {
                self.security_page(claims, user, 409, Some("msg-authenticator-exists"), None)
                    .await
            }
            Ok(_) => self.enroll_page(user, DONE_ENROLLING, None).await,
            Err(e) => self.unavailable("mfa factor", &e),
        }
    }

    /// The current code, checked; `Err` is the page to answer.
    async fn current_code(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &HashMap<String, String>,
    ) -> Result<(), Reply> {
        let code = form.get("code").map(|c| c.trim()).unwrap_or_default();
        if !crate::mfa::looks_like_totp_code(code) {
            return Err(self
                .security_page(claims, user, 400, Some(NOT_A_CODE), None)
                .await);
        }
        let result = self
            .portal
            .totp
            .verify(&self.gateway.store, &user.id, code, self.time())
            .await;
        self.security_refused(claims, user, result).await
    }

    /// An MFA outcome as this page says it.
    async fn security_refused<T>(
        &self,
        claims: &SessionClaims,
        user: &User,
        result: Result<T, MfaError>,
    ) -> Result<T, Reply> {
        let text = match result {
            Ok(v) => return Ok(v),
            Err(MfaError::InvalidCode) => "msg-code-wrong",
            Err(MfaError::Replayed) => "msg-code-replayed",
            Err(MfaError::Malformed) => NOT_A_CODE,
            Err(MfaError::Locked { .. }) => "msg-authenticator-locked",
            Err(MfaError::NotEnrolled) => "msg-no-authenticator",
            Err(e) => return Err(self.unavailable("mfa", &e)),
        };
        Err(self
            .security_page(claims, user, 401, Some(text), None)
            .await)
    }

    /// Replace the authenticator: the current code, then the reset, then
    /// the new key (the MFA step's enrollment, back here at the end).
    async fn reenroll(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &HashMap<String, String>,
    ) -> Reply {
        if let Err(r) = self.current_code(claims, user, form).await {
            return r;
        }
        let reset = self
            .portal
            .totp
            .reset(&self.gateway.store, &user.id, &user.id, self.time())
            .await;
        if let Err(e) = reset {
            return self.unavailable("mfa reset", &e);
        }
        self.enroll_page(user, DONE_ENROLLING, None).await
    }

    /// A new set of recovery codes, shown once.
    async fn new_recovery_codes(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &HashMap<String, String>,
    ) -> Reply {
        let code = form.get("code").map(|c| c.trim()).unwrap_or_default();
        if !crate::mfa::looks_like_totp_code(code) {
            return self
                .security_page(claims, user, 400, Some(NOT_A_CODE), None)
                .await;
        }
        let result = self
            .portal
            .totp
            .regenerate_recovery_codes(&self.gateway.store, &user.id, code, self.time())
            .await;
        match self.security_refused(claims, user, result).await {
            Ok(codes) => self.page(
                200,
                "recovery_codes.html",
                context! { codes => codes.0, next => paths::SECURITY, renewed => true },
            ),
            Err(r) => r,
        }
    }

    /// Revokes every live session of the person but this one.
    async fn sign_out_others(&self, claims: &SessionClaims, user: &User) -> Reply {
        let store = &self.gateway.store;
        let sessions = match store.sessions_of_user(&user.id, self.time()).await {
            Ok(s) => s,
            Err(e) => return self.unavailable("sessions", &e),
        };
        let mut ended = 0;
        for s in sessions.iter().filter(|s| s.sid != claims.sid) {
            if let Err(e) = self
                .gateway
                .revoke_session(&s.sid, s.expires_at.unix_timestamp())
                .await
            {
                return self.unavailable("revoke session", &e);
            }
            ended += 1;
        }
        let audit = store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: "sessions_ended".into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({ "ended": ended, "kept": "this browser" }),
            })
            .await;
        if let Err(e) = audit {
            tracing::warn!(error = %e, "audit entry not written");
        }
        Reply::redirect(format!("{}?done=others", paths::SECURITY))
    }
}
