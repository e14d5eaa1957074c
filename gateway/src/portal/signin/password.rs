//! A local IdP's password (`idps[].type: local`): rate-limited per client
//! and per address, checked off the async threads (argon2 is slow on
//! purpose).

use super::SignedIn;
use crate::config::IdpKind;
use crate::mail::normalise_email;
use crate::portal::{Handler, Reply};
use crate::store::RateLimit;
use minijinja::context;

/// Password tries per address and per client in [`PASSWORD_WINDOW`].
const PASSWORD_PER_ADDRESS: u32 = 10;
const PASSWORD_PER_IP: u32 = 50;
const PASSWORD_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Handler<'_> {
    pub(super) fn password_page(
        &self,
        status: u16,
        idp: &str,
        email: &str,
        rd: &str,
        error: Option<&str>,
    ) -> Reply {
        // `error` is a message key.
        let error = error.map(|k| self.t(k));
        self.form_page(status, "password.html", context! { idp, email, rd, error })
    }

    pub(super) async fn password(&self) -> Reply {
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
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-incomplete"),
            );
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
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-method-not-offered"),
            );
        };
        // The client's counter first: once it is over its limit, the
        // address is not counted (issue 14, finding 6; `rate_limit`).
        let client = self.client_key();
        let limits = [
            RateLimit {
                bucket: "password-ip",
                key: &client,
                max: PASSWORD_PER_IP,
            },
            RateLimit {
                bucket: "password-address",
                key: &email,
                max: PASSWORD_PER_ADDRESS,
            },
        ];
        let limited = match self.rate_limited(&limits, PASSWORD_WINDOW).await {
            Ok(limited) => limited,
            Err(e) => return self.unavailable("rate limit", &e),
        };
        if limited {
            self.count_sign_in(&idp_name, "rate_limited");
            return self.password_page(
                429,
                &idp_name,
                &email,
                &rd,
                Some("msg-too-many-attempts"),
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
                        acr: None,
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
                    Some("msg-password-wrong"),
                )
            }
            Err(e) => self.unavailable("password check", &e),
        }
    }
}
