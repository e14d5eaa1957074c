//! The e-mailed one-time passcode, for people whose domain has no IdP here:
//! a code by mail (only to addresses the directory knows; the page reads
//! the same for every address), then the code, with a limited number of
//! tries.

use super::{PASSCODE_IDP, SignedIn};
use crate::mail::{Message, normalise_email};
use crate::portal::{Handler, Reply};
use crate::store::{PasscodeCheck, User, UserState};
use minijinja::context;

impl Handler<'_> {
    pub(super) async fn send_passcode(&self, email: &str, rd: &str) -> Reply {
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

    pub(super) async fn passcode(&self) -> Reply {
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
}

/// The e-mail passcode is for people not linked to an IdP (or linked to the
/// passcode itself): it must never become a way round a partner's own IdP.
pub(super) fn may_use_passcode(u: &User, email: &str) -> bool {
    u.state == UserState::Active
        && match &u.identity {
            None => true,
            Some(i) => i.idp == PASSCODE_IDP && i.subject.eq_ignore_ascii_case(email),
        }
}
