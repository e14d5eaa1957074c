//! `/.portcullis/security` on the auth host: the signed-in person's own
//! security info, linked from the access panel.
//!
//! - The authenticator: set up, or replaced. Replacing asks for a current
//!   code first (a stolen session alone cannot swap the factor), then shows
//!   a new key that waits beside the old one (`mfa::Totp::begin_replacement`)
//!   until a code from it confirms it (`finish_replacement`, audited with
//!   the person as actor). Until then the old key keeps working: a wrong
//!   code shows the same new key again, and "keep the current one" forgets
//!   it. The recovery codes stay.
//! - Recovery codes: how many are left; a new set (a current code first,
//!   `mfa::Totp::regenerate_recovery_codes`), shown once.
//! - Sessions: every live session of the person, this browser's marked,
//!   each with when, how (which IdP) and from what browser it signed in;
//!   "sign out" ends one chosen session, "sign out the others" each but
//!   this browser's, on every replica (`Gateway::revoke_session`, as
//!   sign-out does). The page names a session by a digest of its id, never
//!   the id the session token carries.
//!
//! Every change is a POST with the CSRF token; the page answers with a
//! redirect and a fixed notice word (`done=`), so a reload posts nothing.

use super::{Handler, Reply, device, paths};
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
        "session" => "msg-session-signed-out",
        "gone" => "msg-session-already-ended",
        "kept" => "msg-authenticator-kept",
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
            Some("confirm_replacement") => self.confirm_replacement(&claims, &user, &form).await,
            Some("cancel_replacement") => self.cancel_replacement(&user).await,
            Some("recovery_codes") => self.new_recovery_codes(&claims, &user, &form).await,
            Some("sign_out_others") => self.sign_out_others(&claims, &user).await,
            Some("sign_out_session") => self.sign_out_session(&claims, &user, &form).await,
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
        let replacing = factor.as_ref().is_some_and(|f| {
            f.replacement.as_ref().is_some_and(|(_, started)| {
                *started >= now - self.portal.totp.settings().replacement_window
            })
        });
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
                    id => crate::guests::session_handle(&s.sid),
                    device => s.device.as_deref().map(|d| device::words(self.lang, d)),
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
                authenticator, since, locked_until, recovery_left, replacing,
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
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(self.security_refusal(claims, user, e).await),
        }
    }

    /// The page for a refused MFA operation.
    async fn security_refusal(
        &self,
        claims: &SessionClaims,
        user: &User,
        error: MfaError,
    ) -> Reply {
        let text = match error {
            MfaError::InvalidCode => "msg-code-wrong",
            MfaError::Replayed => "msg-code-replayed",
            MfaError::Malformed => NOT_A_CODE,
            MfaError::Locked { .. } => "msg-authenticator-locked",
            MfaError::NotEnrolled => "msg-no-authenticator",
            e => return self.unavailable("mfa", &e),
        };
        self.security_page(claims, user, 401, Some(text), None)
            .await
    }

    /// Replace the authenticator, first step: the current code, then the
    /// new key (the same one again while a replacement is waiting). The
    /// old key keeps working until [`Self::confirm_replacement`].
    async fn reenroll(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &HashMap<String, String>,
    ) -> Reply {
        if let Err(r) = self.current_code(claims, user, form).await {
            return r;
        }
        let org = self.org().replace(':', " ");
        let started = self
            .portal
            .totp
            .begin_replacement(
                &self.gateway.store,
                &user.id,
                &user.email,
                &org,
                self.time(),
            )
            .await;
        match started {
            Ok(key) => self.replacement_page(200, &key, None),
            Err(e) => self.unavailable("mfa replacement", &e),
        }
    }

    /// Replace the authenticator, second step: a code from the new key.
    /// Right, the new key is the factor; wrong, the same key is shown again
    /// (the entry the person just added stays the right one).
    async fn confirm_replacement(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &HashMap<String, String>,
    ) -> Reply {
        let code = form.get("code").map(|c| c.trim()).unwrap_or_default();
        let totp = &self.portal.totp;
        let result = totp
            .finish_replacement(&self.gateway.store, &user.id, code, self.time())
            .await;
        self.count_mfa("replace", &result);
        let (status, error) = match result {
            Ok(()) => return Reply::redirect(DONE_ENROLLING.to_string()),
            Err(MfaError::InvalidCode | MfaError::Replayed) => (401, "msg-replacement-code-wrong"),
            Err(MfaError::Malformed) => (400, NOT_A_CODE),
            Err(MfaError::NoReplacement) => {
                return self
                    .security_page(claims, user, 409, Some("msg-replacement-expired"), None)
                    .await;
            }
            Err(e) => return self.security_refusal(claims, user, e).await,
        };
        let org = self.org().replace(':', " ");
        match totp
            .waiting_replacement(
                &self.gateway.store,
                &user.id,
                &user.email,
                &org,
                self.time(),
            )
            .await
        {
            Ok(key) => self.replacement_page(status, &key, Some(error)),
            Err(e) => self.unavailable("mfa replacement", &e),
        }
    }

    /// The new key, as the MFA step's enrollment page shows one, with a
    /// form that comes back here and a way to keep the current one.
    fn replacement_page(
        &self,
        status: u16,
        key: &crate::mfa::Enrollment,
        error: Option<&str>,
    ) -> Reply {
        let error = error.map(|k| self.t(k));
        self.form_page(
            status,
            "mfa_enroll.html",
            context! {
                rd => paths::SECURITY,
                replacing => true,
                qr => key.qr_svg_data_uri,
                secret => key.secret_grouped(),
                otpauth => key.otpauth_uri,
                error,
            },
        )
    }

    /// "Keep my current authenticator": forgets the waiting key.
    async fn cancel_replacement(&self, user: &User) -> Reply {
        if let Err(e) = self.gateway.store.cancel_totp_replacement(&user.id).await {
            return self.unavailable("mfa replacement", &e);
        }
        Reply::redirect(format!("{}?done=kept", paths::SECURITY))
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

    /// Revokes the one session the person chose (by [`crate::guests::session_handle`], the name the console uses too). This
    /// browser's own goes through sign-out, which also clears its cookie.
    async fn sign_out_session(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &HashMap<String, String>,
    ) -> Reply {
        let chosen = form.get("session").map(String::as_str).unwrap_or_default();
        let store = &self.gateway.store;
        let sessions = match store.sessions_of_user(&user.id, self.time()).await {
            Ok(s) => s,
            Err(e) => return self.unavailable("sessions", &e),
        };
        // Only among the person's own live sessions: a digest from anyone
        // else's list matches nothing here.
        let Some(session) = sessions
            .iter()
            .find(|s| crate::guests::session_handle(&s.sid) == chosen)
        else {
            return Reply::redirect(format!("{}?done=gone", paths::SECURITY));
        };
        if session.sid == claims.sid {
            return Reply::redirect(paths::SIGN_OUT.to_string());
        }
        if let Err(e) = self
            .gateway
            .revoke_session(&session.sid, session.expires_at.unix_timestamp())
            .await
        {
            return self.unavailable("revoke session", &e);
        }
        let audit = store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: "session_ended".into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({
                    "idp": session.idp,
                    "device": session.device,
                    "signed_in_at": session.created_at.unix_timestamp(),
                }),
            })
            .await;
        if let Err(e) = audit {
            tracing::warn!(error = %e, "audit entry not written");
        }
        Reply::redirect(format!("{}?done=session", paths::SECURITY))
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
