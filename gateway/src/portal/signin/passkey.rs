//! "Sign in with a passkey" (issue 20), where `sign_in.passkeys.sign_in`
//! allows it: a guest without an IdP (one who would get the e-mailed
//! code) signs in with a registered passkey alone. The browser offers its
//! discoverable credentials for this relying party; the assertion names
//! the credential and its user handle, both must agree with the store's
//! row, and every WebAuthn check and the counter's compare-and-set must
//! pass (`crate::passkeys::Passkeys::finish_sign_in`). The session then
//! carries phishing-resistant MFA: the passkey is a possession factor
//! verified with the device's PIN or biometrics.
//!
//! The ceremony is bound to this browser's flow cookie (there is no
//! session yet) and, like every form here, the post carries its CSRF
//! token and passes the Origin check.

use super::passcode::may_use_passcode;
use super::{PASSKEY_IDP, SignedIn};
use crate::portal::{Handler, Reply, digest};
use crate::store::UserType;
use minijinja::context;

impl Handler<'_> {
    /// `POST /.portcullis/sign-in/passkey`: `action=passkey-options` (JSON
    /// for the script) or `action=passkey` (the assertion).
    pub(super) async fn passkey_sign_in(&self) -> Reply {
        if !self.sign_in.passkey_sign_in {
            return self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            );
        }
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        // `form()` checked the flow cookie: it exists.
        let (flow, _) = self.flow();
        let ceremony = digest(&["passkey-sign-in", &flow]);
        let rp = match self.relying_party() {
            Ok(rp) => rp,
            Err(r) => return r,
        };
        let store = &self.gateway.store;
        match form.get("action").map(String::as_str) {
            Some("passkey-options") => {
                if let Err(r) = self.ceremony_limited(&ceremony).await {
                    return r;
                }
                match rp.start_sign_in(store, &ceremony, self.time()).await {
                    Ok(options) => Reply::json(200, &options),
                    Err(e) => self.passkey_failed("sign-in options", &e),
                }
            }
            Some("passkey") => {
                let answer = form
                    .get("credential")
                    .map(String::as_str)
                    .unwrap_or_default();
                let result = rp
                    .finish_sign_in(store, &ceremony, answer, self.time())
                    .await;
                let user_id = match result {
                    Ok(id) => id,
                    Err(
                        e @ (crate::passkeys::PasskeyError::Store(_)
                        | crate::passkeys::PasskeyError::Internal(_)),
                    ) => return self.unavailable("passkey sign-in", &e),
                    Err(e) => {
                        self.count_sign_in(PASSKEY_IDP, e.as_str());
                        tracing::info!(request_id = %self.req.request_id, result = e.as_str(), "passkey sign-in refused");
                        return self.passkey_sign_in_refused(&rd);
                    }
                };
                let user = match store.get_user(&user_id).await {
                    Ok(Some(u)) => u,
                    Ok(None) => return self.passkey_sign_in_refused(&rd),
                    Err(e) => return self.unavailable("directory", &e),
                };
                // Only where the e-mailed code would be the way in: a
                // guest without an IdP. A passkey never replaces a
                // partner's (or the organisation's) own IdP.
                if user.user_type != UserType::Guest || !may_use_passcode(&user, &user.email) {
                    self.count_sign_in(PASSKEY_IDP, "has_idp");
                    return self.start_again(
                        403,
                        &self.t("msg-passkey-org-title"),
                        &self.t("msg-passkey-org"),
                    );
                }
                self.complete(
                    SignedIn {
                        idp: PASSKEY_IDP.to_string(),
                        subject: user.id.clone(),
                        email: user.email.clone(),
                        name: user.display_name.clone(),
                        groups: Vec::new(),
                        amr: vec!["hwk".into(), "user".into()],
                        acr: None,
                        mfa: true,
                        auth_time: self.now,
                        authoritative: false,
                    },
                    &rd,
                )
                .await
            }
            _ => self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-wrong-page"),
            ),
        }
    }

    fn passkey_sign_in_refused(&self, rd: &str) -> Reply {
        self.form_page(
            401,
            "sign_in.html",
            context! {
                rd,
                reauth => false,
                error => self.t("msg-passkey-sign-in-refused"),
            },
        )
    }
}
