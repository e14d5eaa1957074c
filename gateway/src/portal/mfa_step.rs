//! `/.portcullis/mfa` on the auth host: step-up with Portcullis's own TOTP.
//! Enrollment (QR code and key, confirmed by a first code, then recovery
//! codes shown once) or verification (a code or a recovery code); then the
//! session carries MFA and the browser goes back to the app that asked.
//!
//! When the app's policies asked for phishing-resistant MFA
//! (`strength=phishing_resistant` on the way here, see `proxy::respond`),
//! only methods that meet it are offered: a TOTP code never does, since a
//! phishing page can relay it.

use super::{Handler, Reply, paths};
use crate::html::encode_component;
use crate::mfa::MfaError;
use crate::session::{SessionClaims, cookie};
use crate::store::User;
use minijinja::context;
use rules::MfaStrength;

/// For input that is no code at all; it costs no try.
const MALFORMED: &str = "msg-code-malformed";

impl Handler<'_> {
    pub(super) async fn mfa(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = form
            .as_ref()
            .and_then(|f| f.get("rd").cloned())
            .or_else(|| self.query("rd"))
            .unwrap_or_default();
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(format!("{}?rd={}", paths::SIGN_IN, encode_component(&rd)));
        };
        let asked = self.mfa_asked(form.as_ref());
        // Back to the app only with what it asked for: handing a plain-MFA
        // session back to an app that wants phishing-resistant MFA would
        // send the browser round in a loop.
        if form.is_none() && claims.mfa() && claims.mfa_strength() >= asked {
            return self.handoff(&claims, &rd).await;
        }
        let store = &self.gateway.store;
        let has_passkey = match store.list_passkeys(&user.id).await {
            Ok(k) => !k.is_empty(),
            Err(e) => return self.unavailable("passkeys", &e),
        };
        let strength = asked.as_str();
        // A passkey meets every strength: its options and its answer.
        if let Some(f) = &form {
            match f.get("action").map(String::as_str) {
                Some("passkey-options") => return self.passkey_options(&claims, &user).await,
                Some("passkey") => return self.passkey_answer(&claims, &user, f, &rd).await,
                _ => {}
            }
        }
        if asked == MfaStrength::PhishingResistant {
            if has_passkey && form.is_none() {
                return self
                    .mfa_page(
                        &user,
                        200,
                        context! { rd, strength, passkeys => true, passkey_only => true },
                    )
                    .with_script();
            }
            return self.phishing_resistant_step(&claims, &rd);
        }
        let enrolled = match store.get_totp_factor(&user.id).await {
            Ok(f) => f.is_some_and(|f| f.confirmed_at.is_some()),
            Err(e) => return self.unavailable("mfa factor", &e),
        };
        let Some(form) = form else {
            return if enrolled || has_passkey {
                let page = self.mfa_page(
                    &user,
                    200,
                    context! { rd, passkeys => has_passkey, passkey_only => !enrolled },
                );
                if has_passkey {
                    page.with_script()
                } else {
                    page
                }
            } else {
                self.enroll_page(&user, &rd, None).await
            };
        };
        let code = form
            .get("code")
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        let totp = &self.portal.totp;
        let action = form.get("action").map(String::as_str);
        if action == Some("confirm") && !enrolled {
            let result = totp.confirm(store, &user.id, &code, self.time()).await;
            self.count_mfa("enroll", &result);
            return match result {
                Ok(codes) => {
                    let set = match self.with_mfa(&claims) {
                        Ok((_, set)) => set,
                        Err(r) => return r,
                    };
                    let next = format!("{}?rd={}", paths::MFA, encode_component(&rd));
                    self.page(
                        200,
                        "recovery_codes.html",
                        context! { codes => codes.0, next },
                    )
                    .with_cookie(set)
                }
                // The key stays: the entry already in the app is still right.
                Err(MfaError::InvalidCode | MfaError::Replayed) => {
                    self.enroll_page(&user, &rd, Some(&self.t("msg-code-wrong-wait")))
                        .await
                }
                Err(MfaError::Malformed) => {
                    self.enroll_page(&user, &rd, Some(&self.t(MALFORMED))).await
                }
                Err(MfaError::Locked { .. }) => self.locked(),
                Err(e) => self.unavailable("mfa enrollment", &e),
            };
        }
        if action != Some("verify") || !enrolled {
            return self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-wrong-step"),
            );
        }
        // Authenticator codes are 6 digits (maybe typed "581 980" or
        // "581-980"), recovery codes `ABCDE-FGHJK`; what is neither is sent
        // back without trying it, so a typo costs no try.
        let (method, result) = if crate::mfa::looks_like_totp_code(&code) {
            (
                "totp",
                totp.verify(store, &user.id, &code, self.time()).await,
            )
        } else if crate::mfa::looks_like_recovery_code(&code) {
            let r = totp
                .use_recovery_code(store, &user.id, &code, self.time())
                .await
                .map(|_| ());
            ("recovery_code", r)
        } else {
            ("totp", Err(MfaError::Malformed))
        };
        self.count_mfa(method, &result);
        match result {
            Ok(()) => {
                let (claims, set) = match self.with_mfa(&claims) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                self.handoff(&claims, &rd).await.with_cookie(set)
            }
            Err(MfaError::InvalidCode) => self.mfa_page(
                &user,
                401,
                context! { rd, error => self.t("msg-code-wrong") },
            ),
            Err(MfaError::Malformed) => {
                self.mfa_page(&user, 400, context! { rd, error => self.t(MALFORMED) })
            }
            Err(MfaError::Replayed) => self.mfa_page(
                &user,
                401,
                context! { rd, error => self.t("msg-code-replayed") },
            ),
            Err(MfaError::Locked { .. }) => self.locked(),
            Err(e) => self.unavailable("mfa", &e),
        }
    }

    /// `action=passkey-options`: the options for the browser's passkey
    /// prompt (JSON, for the script).
    async fn passkey_options(&self, claims: &SessionClaims, user: &User) -> Reply {
        if let Err(r) = self.ceremony_limited(&claims.sid).await {
            return r;
        }
        let rp = match self.relying_party() {
            Ok(rp) => rp,
            Err(r) => return r,
        };
        match rp
            .start_authentication(&self.gateway.store, &user.id, &claims.sid, self.time())
            .await
        {
            Ok(options) => Reply::json(200, &options),
            Err(e) => {
                tracing::info!(request_id = %self.req.request_id, result = e.as_str(), "passkey options refused");
                Reply::json(
                    if matches!(e, crate::passkeys::PasskeyError::NoneRegistered) {
                        404
                    } else {
                        503
                    },
                    &serde_json::json!({ "error": e.as_str() }),
                )
            }
        }
    }

    /// `action=passkey`: the browser's assertion. Accepted, the session
    /// carries phishing-resistant MFA and goes back to the app.
    async fn passkey_answer(
        &self,
        claims: &SessionClaims,
        user: &User,
        form: &std::collections::HashMap<String, String>,
        rd: &str,
    ) -> Reply {
        use crate::passkeys::PasskeyError;
        let rp = match self.relying_party() {
            Ok(rp) => rp,
            Err(r) => return r,
        };
        let answer = form
            .get("credential")
            .map(String::as_str)
            .unwrap_or_default();
        let result = rp
            .finish_authentication(
                &self.gateway.store,
                &user.id,
                &claims.sid,
                answer,
                self.time(),
            )
            .await;
        let label = match &result {
            Ok(()) => "ok",
            Err(e) => e.as_str(),
        };
        self.gateway
            .metrics
            .mfa
            .with_label_values(&["passkey", label])
            .inc();
        match result {
            Ok(()) => {
                let (claims, set) = match self.with_strength(
                    claims,
                    MfaStrength::PhishingResistant,
                    &["hwk", "user"],
                ) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                self.handoff(&claims, rd).await.with_cookie(set)
            }
            Err(e @ (PasskeyError::Store(_) | PasskeyError::Internal(_))) => {
                self.unavailable("passkey", &e)
            }
            Err(e) => {
                tracing::info!(request_id = %self.req.request_id, result = e.as_str(), "passkey refused");
                self.mfa_page(
                    user,
                    401,
                    context! {
                        rd,
                        passkeys => true,
                        passkey_only => true,
                        error => self.t("msg-passkey-refused"),
                    },
                )
                .with_script()
            }
        }
    }

    /// The strength the app asked for: from the query on the way in, from
    /// the form's hidden field on a post. Only a hint for which methods to
    /// offer; the app's rules decide again.
    fn mfa_asked(&self, form: Option<&std::collections::HashMap<String, String>>) -> MfaStrength {
        let word = form
            .and_then(|f| f.get("strength").cloned())
            .or_else(|| self.query("strength"));
        match word.as_deref() {
            Some("phishing_resistant") => MfaStrength::PhishingResistant,
            _ => MfaStrength::Mfa,
        }
    }

    /// The app asked for phishing-resistant MFA, which an authenticator
    /// code cannot give: say so, and what to do (the reason
    /// `stronger_mfa_required` when the session already has plain MFA).
    fn phishing_resistant_step(&self, claims: &SessionClaims, _rd: &str) -> Reply {
        let text = self.t(if claims.mfa() {
            "msg-stronger-add-passkey"
        } else {
            "msg-stronger-needed"
        });
        let title = self.t("reason-stronger_mfa_required-title");
        if claims.mfa() {
            // With MFA in this session a passkey can be added right away.
            self.message_linked(
                403,
                &title,
                &text,
                (paths::PASSKEYS, &self.t("passkeys-add")),
            )
        } else {
            self.message(403, &title, &text)
        }
    }

    /// The verification page, with the way on for a lost authenticator:
    /// a guest may ask their app's owners (`portal::recovery`); a member
    /// is told that their own organisation's process applies.
    fn mfa_page(&self, user: &User, status: u16, ctx: minijinja::Value) -> Reply {
        let member = user.user_type == crate::store::UserType::Member;
        let rd = ctx
            .get_attr("rd")
            .ok()
            .and_then(|rd| rd.as_str().map(encode_component))
            .unwrap_or_default();
        let lost_href = format!("{}?rd={rd}", paths::MFA_LOST);
        self.form_page(
            status,
            "mfa_verify.html",
            context! { member, lost_href, ..ctx },
        )
    }

    pub(super) async fn enroll_page(&self, user: &User, rd: &str, error: Option<&str>) -> Reply {
        let org = self.org().replace(':', " ");
        match self
            .portal
            .totp
            .pending_enrollment(
                &self.gateway.store,
                &user.id,
                &user.email,
                &org,
                self.time(),
            )
            .await
        {
            Ok(e) => self.form_page(
                200,
                "mfa_enroll.html",
                context! {
                    rd,
                    qr => e.qr_svg_data_uri,
                    secret => e.secret_grouped(),
                    otpauth => e.otpauth_uri,
                    error,
                },
            ),
            Err(e) => self.unavailable("mfa enrollment", &e),
        }
    }

    fn locked(&self) -> Reply {
        self.message(
            429,
            &self.t("msg-too-many-title"),
            &self.t("msg-mfa-locked"),
        )
    }

    fn count_mfa<T>(&self, method: &str, result: &Result<T, MfaError>) {
        self.gateway
            .metrics
            .mfa
            .with_label_values(&[method, crate::mfa::result_label(result)])
            .inc();
    }

    /// The auth session, now with MFA: new claims and their cookie. The
    /// session id stays, so signing out still ends it everywhere.
    fn with_mfa(&self, claims: &SessionClaims) -> Result<(SessionClaims, String), Reply> {
        // A TOTP code never lowers a session that is already stronger.
        let strength = claims.mfa_strength().max(MfaStrength::Mfa);
        self.with_strength(claims, strength, &["otp"])
    }

    /// The auth session with MFA of `strength` (and the RFC 8176 `methods`
    /// used): new claims and their cookie.
    fn with_strength(
        &self,
        claims: &SessionClaims,
        strength: MfaStrength,
        methods: &[&str],
    ) -> Result<(SessionClaims, String), Reply> {
        let mut c = claims.clone();
        crate::session::set_mfa_amr(&mut c.amr, strength);
        for m in methods {
            if !c.amr.iter().any(|a| a == m) {
                c.amr.push(m.to_string());
            }
        }
        c.iat = self.now;
        match self.gateway.keys.load().issue(&c) {
            Ok(token) => {
                let set = cookie::set_cookie(&token, self.req.https, c.exp - self.now);
                Ok((c, set))
            }
            Err(e) => Err(self.unavailable("issue session", &e)),
        }
    }
}
