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
const MALFORMED: &str = "That is not a code: type the 6 digits the app shows (or a recovery code). This did not count as a try.";

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
        if asked == MfaStrength::PhishingResistant {
            return self.phishing_resistant_step(&claims, &rd);
        }
        let store = &self.gateway.store;
        let enrolled = match store.get_totp_factor(&user.id).await {
            Ok(f) => f.is_some_and(|f| f.confirmed_at.is_some()),
            Err(e) => return self.unavailable("mfa factor", &e),
        };
        let Some(form) = form else {
            return if enrolled {
                self.form_page(200, "mfa_verify.html", context! { rd })
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
                    self.enroll_page(
                        &user,
                        &rd,
                        Some("That code is not right. Wait for the app to show the next code and type that one."),
                    )
                    .await
                }
                Err(MfaError::Malformed) => {
                    self.enroll_page(&user, &rd, Some(MALFORMED)).await
                }
                Err(MfaError::Locked { .. }) => self.locked(),
                Err(e) => self.unavailable("mfa enrollment", &e),
            };
        }
        if action != Some("verify") || !enrolled {
            return self.message(400, "Bad request", "The form does not match this step.");
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
            Err(MfaError::InvalidCode) => self.form_page(
                401,
                "mfa_verify.html",
                context! { rd, error => "That code is not right." },
            ),
            Err(MfaError::Malformed) => {
                self.form_page(400, "mfa_verify.html", context! { rd, error => MALFORMED })
            }
            Err(MfaError::Replayed) => self.form_page(
                401,
                "mfa_verify.html",
                context! { rd, error => "That code was already used. Wait for the next one." },
            ),
            Err(MfaError::Locked { .. }) => self.locked(),
            Err(e) => self.unavailable("mfa", &e),
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
        let text = if claims.mfa() {
            "This app asks for a stronger kind of two-step verification than a code from an \
             authenticator app: a passkey (a security key, or your device's fingerprint, face or \
             PIN), or signing in with an organisation account that uses one. Sign in again with \
             such a method, or ask the person who invited you."
        } else {
            "This app asks for phishing-resistant two-step verification: a passkey (a security \
             key, or your device's fingerprint, face or PIN), or signing in with an organisation \
             account that uses one. A code from an authenticator app will not do for this app."
        };
        self.message(403, "A stronger sign-in is needed", text)
    }

    async fn enroll_page(&self, user: &User, rd: &str, error: Option<&str>) -> Reply {
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
            "Too many attempts",
            "Two-step verification is locked for a while after too many wrong codes. Try again later.",
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
        let mut c = claims.clone();
        for m in ["mfa", "otp"] {
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
