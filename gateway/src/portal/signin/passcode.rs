//! The e-mailed one-time passcode, for people whose domain has no IdP here.
//!
//! Asking for a code must not tell who has an account (issue 14 finding
//! 3): the page, the status and the time are the same for every address.
//! So the request does the same store work for all of them (look the
//! address up, store a fresh code's hash) and only queues the mail, for
//! addresses that may use a code; the queue sends it after the answer
//! (`mail::MailQueue`). A code stored for an address that gets no mail is
//! never seen by anyone and signs nobody in (`complete` refuses the
//! address).

use super::{PASSCODE_IDP, SignedIn};
use crate::i18n::t;
use crate::mail::{Message, normalise_email};
use crate::portal::{Handler, Reply};
use crate::store::{PasscodeCheck, RateLimit, User, UserState};
use minijinja::context;

impl Handler<'_> {
    pub(super) async fn send_passcode(&self, email: &str, rd: &str) -> Reply {
        let Some(queue) = &self.portal.passcodes else {
            return self.unavailable("passcode", &"no mail transport is configured");
        };
        let settings = &self.sign_in.passcode;
        // The client's counter first: once it is over its limit, the
        // address is not counted (issue 14, finding 6; `rate_limit`).
        let client = self.client_key();
        let limits = [
            RateLimit {
                bucket: "passcode-ip",
                key: &client,
                max: settings.per_ip,
            },
            RateLimit {
                bucket: "passcode-address",
                key: email,
                max: settings.per_address,
            },
        ];
        let limited = match self.rate_limited(&limits, settings.window).await {
            Ok(limited) => limited,
            Err(e) => return self.unavailable("rate limit", &e),
        };
        let valid_minutes = u32::try_from(settings.ttl.as_secs() / 60)
            .unwrap_or(u32::MAX)
            .max(1);
        if limited {
            self.count_sign_in(PASSCODE_IDP, "rate_limited");
            return self.form_page(
                429,
                "passcode.html",
                context! { email, rd, valid_minutes, resend_in => self.resend_after(), error => self.t("msg-too-many-codes") },
            );
        }
        // The same work for every address (issue 14 finding 3): look it up
        // and store a fresh code, at once (one wait for the pair with the
        // store slow, as for the counters). Only people the directory knows
        // get the code by mail (invited guests, members); the others' code
        // is never shown to anyone.
        let code = format!("{:08}", rand::random_range(0..100_000_000u32));
        let expires = self.time() + settings.ttl;
        let store = &self.gateway.store;
        let user = match tokio::join!(
            store.get_user_by_email(email),
            store.create_passcode(email, &code, expires, self.time()),
        ) {
            (Ok(user), Ok(())) => user,
            (Err(e), _) | (_, Err(e)) => return self.unavailable("passcode", &e),
        };
        if user.is_some_and(|u| may_use_passcode(&u, email)) {
            // Sent after the answer. A failure must read like an address we
            // send nothing to, or a mail outage tells who has an account
            // here: the person asks again; operators see the log line and
            // `sign_ins_total{result="mail_failed"}`.
            let request_id = self.req.request_id.to_string();
            let failed = self
                .gateway
                .metrics
                .sign_ins
                .with_label_values(&[PASSCODE_IDP, "mail_failed"]);
            // In the language of the browser that asked.
            queue.push_in(
                email,
                Some(self.lang),
                Message::Passcode {
                    code,
                    valid_minutes,
                },
                move |e| {
                    tracing::error!(request_id, error = %e, "passcode e-mail not sent");
                    failed.inc();
                },
            );
        } else {
            tracing::info!(request_id = %self.req.request_id, "passcode asked for an address that may not use one");
        }
        self.form_page(
            200,
            "passcode.html",
            context! { email, rd, valid_minutes, resend_in => self.resend_after() },
        )
    }

    /// `sign_in.passcode.resend_after` in seconds: how long "send a new
    /// code" waits after a code was asked for. The page counts it down
    /// (CSS, no script); the server holds to it too
    /// ([`Self::resend_passcode`]).
    fn resend_after(&self) -> i64 {
        i64::try_from(self.sign_in.passcode.resend_after.as_secs()).unwrap_or(i64::MAX)
    }

    /// "Send a new code" (the passcode form without a code): before
    /// `resend_after` since the last code for the address it says how
    /// long to wait, and neither counts towards the limits nor replaces the
    /// code on its way. Every address that was asked for has a code stored
    /// (`send_passcode`), so the answer tells nothing about who is known.
    async fn resend_passcode(&self, email: &str, rd: &str) -> Reply {
        let sent_at = match self
            .gateway
            .store
            .passcode_sent_at(email, self.time())
            .await
        {
            Ok(at) => at,
            Err(e) => return self.unavailable("passcode", &e),
        };
        let waited = sent_at.map(|at| (self.time() - at).whole_seconds().max(0));
        let Some(waited) = waited.filter(|w| *w < self.resend_after()) else {
            return self.send_passcode(email, rd).await;
        };
        let resend_in = self.resend_after() - waited;
        self.count_sign_in(PASSCODE_IDP, "resend_too_soon");
        let valid_minutes = u32::try_from(self.sign_in.passcode.ttl.as_secs() / 60)
            .unwrap_or(u32::MAX)
            .max(1);
        // Seconds choose the plural form; "just now" is its own message.
        let error = if waited < 2 {
            t!(
                self.lang,
                "msg-passcode-resend-wait-now",
                resend_in = resend_in
            )
        } else {
            t!(
                self.lang,
                "msg-passcode-resend-wait",
                waited = waited,
                resend_in = resend_in
            )
        };
        let mut reply = self.form_page(
            429,
            "passcode.html",
            context! { email, rd, valid_minutes, resend_in, error },
        );
        reply.headers.push(("retry-after", resend_in.to_string()));
        reply
    }

    pub(super) async fn passcode(&self) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(Some(&form));
        let Some(email) = form.get("email").and_then(|e| normalise_email(e)) else {
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-incomplete"),
            );
        };
        let Some(code) = form.get("code").map(|c| c.trim().to_string()) else {
            return self.resend_passcode(&email, &rd).await;
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
                        acr: None,
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
                let error = t!(self.lang, "msg-passcode-wrong", left = attempts_left);
                self.form_page(
                    401,
                    "passcode.html",
                    context! { email, rd, valid_minutes, resend_in => self.resend_after(), error },
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
                    &self.t("msg-code-invalid-title"),
                    &self.t("msg-code-invalid"),
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
