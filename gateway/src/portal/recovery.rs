//! `/.portcullis/mfa/lost…` on the auth host: getting back in after losing
//! the authenticator, without the help desk (issue 20). The operation and
//! its checks are `crate::recovery_requests`; these are its pages.
//!
//! 1. `/.portcullis/mfa/lost?rd=…` (linked from the MFA step): a signed-in
//!    guest asks. The request is bound to a random secret in a cookie of
//!    this browser; asking is rate-limited per client and per user. A
//!    member is told that their own organisation's process applies.
//! 2. `/.portcullis/mfa/lost/review?id=…` (mailed to the approvers): an
//!    owner of the guest's app (or the inviter), signed in with MFA,
//!    approves or denies.
//! 3. `/.portcullis/mfa/lost/reenrol?token=…` (mailed to the guest): in
//!    the browser that asked, signed in as that guest, a button redeems
//!    the link once; the lost factors are removed and the guest sets up a
//!    new authenticator or passkey.
//!
//! Every post carries the CSRF token and passes the Origin check
//! (`Handler::form`).

use super::{Handler, Reply, paths, random_token};
use crate::html::encode_component;
use crate::recovery_requests::{self as recovery, REENROL_PATH, REVIEW_PATH, RecoveryError};
use crate::session::SessionClaims;
use crate::store::{RateLimit, RecoveryLink, RecoveryStatus, User, UserType};
use minijinja::context;

/// Requests per client (`signin::rate_limit`) and per user in
/// [`ASK_WINDOW`]: each mails the approvers, so a script must not flood
/// their mailboxes.
const ASK_PER_IP: u32 = 10;
const ASK_PER_USER: u32 = 3;
const ASK_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Handler<'_> {
    pub(super) async fn mfa_recovery(&self) -> Reply {
        match self.req.path {
            paths::MFA_LOST => self.lost_ask().await,
            REVIEW_PATH => self.lost_review().await,
            REENROL_PATH => self.lost_reenrol().await,
            _ => self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            ),
        }
    }

    /// The cookie that binds a request to the browser that asked.
    fn recovery_cookie_name(&self) -> &'static str {
        if self.req.https {
            "__Host-portcullis_recovery"
        } else {
            "portcullis_recovery"
        }
    }

    /// Where links in mail point: the auth host as configured.
    fn link_base(&self) -> String {
        crate::invitations::link_base(&self.snapshot.config).unwrap_or_else(|_| self.auth_origin())
    }

    /// Back here after signing in.
    fn sign_in_then(&self, back: &str) -> Reply {
        Reply::redirect(format!("{}?rd={}", paths::SIGN_IN, encode_component(back)))
    }

    fn members_process(&self) -> Reply {
        self.message(
            403,
            &self.t("msg-lost-member-title"),
            &self.t("msg-lost-member"),
        )
    }

    /// The app named by the return URL, if it is one of this gateway's.
    fn app_of(&self, rd: &str) -> Option<&crate::config::App> {
        let t = self.target(rd)?;
        let path = t.path.split('?').next().unwrap_or_default();
        let i = self.snapshot.routes.find(&t.host, path)?;
        self.snapshot.config.apps.get(i)
    }

    /// Step 1: the guest asks.
    async fn lost_ask(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let rd = self.rd(form.as_ref());
        let here = format!("{}?rd={}", paths::MFA_LOST, encode_component(&rd));
        let Some((claims, user)) = self.auth_session().await else {
            return self.sign_in_then(&here);
        };
        // Never offered to members: their organisation's process applies.
        if user.user_type == UserType::Member {
            return self.members_process();
        }
        if claims.mfa() {
            return self.message_linked(
                200,
                &self.t("msg-lost-verified-title"),
                &self.t("msg-lost-verified"),
                (paths::SECURITY, &self.t("security-title")),
            );
        }
        if form.is_none() {
            return self.form_page(200, "lost_ask.html", context! { rd });
        }
        let client = self.client_key();
        let limits = [
            RateLimit {
                bucket: "mfa_recovery_ip",
                key: &client,
                max: ASK_PER_IP,
            },
            RateLimit {
                bucket: "mfa_recovery_user",
                key: &user.id,
                max: ASK_PER_USER,
            },
        ];
        match self.rate_limited(&limits, ASK_WINDOW).await {
            Ok(false) => {}
            Ok(true) => {
                return self.form_page(
                    429,
                    "lost_ask.html",
                    context! { rd, error => self.t("msg-lost-too-often") },
                );
            }
            Err(e) => return self.unavailable("rate limit", &e),
        }
        let app = self.app_of(&rd).map(|a| a.name.clone());
        let browser = random_token(32);
        let asked = recovery::ask(
            &self.snapshot.config,
            &self.gateway.store,
            self.portal.mailer(),
            &self.link_base(),
            &user,
            app.as_deref(),
            &browser,
            self.time(),
        )
        .await;
        match asked {
            Ok(a) => {
                let max_age = (recovery::PENDING_TTL + recovery::LINK_TTL).whole_seconds();
                let mut cookie = format!(
                    "{}={browser}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax",
                    self.recovery_cookie_name()
                );
                if self.req.https {
                    cookie.push_str("; Secure");
                }
                self.form_page(
                    200,
                    "lost_ask.html",
                    context! { rd, sent => true, again => !a.created },
                )
                .with_cookie(cookie)
            }
            Err(RecoveryError::Member) => self.members_process(),
            Err(RecoveryError::NoApprover) => self.message(
                409,
                &self.t("msg-lost-no-approver-title"),
                &self.t("msg-lost-no-approver"),
            ),
            Err(e) => self.unavailable("mfa recovery", &e),
        }
    }

    /// Step 2: an approver decides.
    async fn lost_review(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let id = form
            .as_ref()
            .and_then(|f| f.get("id").cloned())
            .or_else(|| self.query("id"))
            .unwrap_or_default();
        let not_found = || {
            self.message(
                404,
                &self.t("msg-request-not-found-title"),
                &self.t("msg-lost-not-found"),
            )
        };
        if id.is_empty() || id.len() > 128 {
            return not_found();
        }
        let here = format!("{REVIEW_PATH}?id={}", encode_component(&id));
        let Some((claims, owner)) = self.auth_session().await else {
            return self.sign_in_then(&here);
        };
        // Approving lets someone replace a second factor: the approver
        // must have passed one in this session.
        if !claims.mfa() {
            return Reply::redirect(format!("{}?rd={}", paths::MFA, encode_component(&here)));
        }
        let groups = match self.approver_groups(&claims, &owner).await {
            Ok(g) => g,
            Err(r) => return r,
        };
        let store = &self.gateway.store;
        let Some(form) = form else {
            let req = match store.get_recovery_request(&id).await {
                Ok(Some(r)) => r,
                Ok(None) => return not_found(),
                Err(e) => return self.unavailable("mfa recovery", &e),
            };
            let guest = match store.get_user(&req.user_id).await {
                Ok(Some(g)) => g,
                Ok(None) => return not_found(),
                Err(e) => return self.unavailable("mfa recovery", &e),
            };
            let may = recovery::may_decide(
                &self.snapshot.config,
                store,
                &guest,
                req.app.as_deref(),
                &owner,
                &groups,
                self.time(),
            )
            .await;
            match may {
                Ok(true) => {}
                Ok(false) => return self.not_approver(),
                Err(e) => return self.unavailable("mfa recovery", &e),
            }
            let app = req
                .app
                .as_deref()
                .and_then(|a| self.snapshot.config.apps.iter().find(|c| c.name == a))
                .map(|a| a.title.clone());
            return self.form_page(
                200,
                "lost_review.html",
                context! {
                    id => req.id,
                    guest => guest.email,
                    app,
                    asked => self.date(req.created_at),
                    pending => recovery::is_pending(&req, self.time()),
                    // Lapsed unanswered; a used request was approved.
                    status_open => req.status == RecoveryStatus::Pending,
                    status => self.t(match req.status {
                        RecoveryStatus::Denied => "request-status-denied",
                        _ => "request-status-approved",
                    }),
                    decided_by => req.decided_by,
                },
            );
        };
        let approve = match form.get("decision").map(String::as_str) {
            Some("approve") => true,
            Some("deny") => false,
            _ => {
                return self.message(
                    400,
                    &self.t("error-bad-request-title"),
                    &self.t("msg-lost-choose"),
                );
            }
        };
        let decided = recovery::decide(
            &self.snapshot.config,
            store,
            self.portal.mailer(),
            &self.link_base(),
            &id,
            approve,
            &owner,
            &groups,
            self.time(),
        )
        .await;
        match decided {
            Ok(_) if approve => self.message(
                200,
                &self.t("msg-lost-approved-title"),
                &self.t("msg-lost-approved"),
            ),
            Ok(_) => self.message(
                200,
                &self.t("msg-lost-denied-title"),
                &self.t("msg-lost-denied"),
            ),
            Err(RecoveryError::NotApprover | RecoveryError::Member) => self.not_approver(),
            Err(RecoveryError::NotFound) => not_found(),
            Err(RecoveryError::AlreadyDecided(_)) => self.message(
                409,
                &self.t("msg-lost-decided-title"),
                &self.t("msg-lost-decided"),
            ),
            Err(e) => self.unavailable("mfa recovery", &e),
        }
    }

    fn not_approver(&self) -> Reply {
        self.message(
            403,
            &self.t("msg-lost-not-approver-title"),
            &self.t("msg-lost-not-approver"),
        )
    }

    /// The approver's groups as ownership counts them: the directory's and
    /// the session's, lower-case (as `portal::manage` reads owners).
    async fn approver_groups(
        &self,
        claims: &SessionClaims,
        user: &User,
    ) -> Result<Vec<String>, Reply> {
        let mut groups = match self.gateway.store.groups_of(&user.id).await {
            Ok(g) => g,
            Err(e) => return Err(self.unavailable("groups", &e)),
        };
        groups.extend(claims.groups.iter().cloned());
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// Step 3: the guest's link, in the browser that asked.
    async fn lost_reenrol(&self) -> Reply {
        let form = match self.posted_form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let token = form
            .as_ref()
            .and_then(|f| f.get("token").cloned())
            .or_else(|| self.query("token"))
            .unwrap_or_default();
        if token.is_empty() || token.len() > 128 {
            return self.link_refused(&RecoveryLink::Unknown);
        }
        let here = format!("{REENROL_PATH}?token={}", encode_component(&token));
        let Some((_, user)) = self.auth_session().await else {
            return self.sign_in_then(&here);
        };
        // No cookie: another browser. An empty secret matches no request.
        let browser = self
            .cookie(self.recovery_cookie_name())
            .unwrap_or_default()
            .to_string();
        let store = &self.gateway.store;
        if form.is_none() {
            // Only a look: a mail scanner or a preview fetching the link
            // uses nothing up.
            return match store
                .recovery_link(&token, &browser, &user.id, self.time())
                .await
            {
                Ok(RecoveryLink::Valid(_)) => self.form_page(
                    200,
                    "lost_reenrol.html",
                    context! { token, email => user.email },
                ),
                Ok(other) => self.link_refused(&other),
                Err(e) => self.unavailable("mfa recovery", &e),
            };
        }
        match recovery::redeem(
            store,
            &self.portal.totp,
            &token,
            &browser,
            &user,
            self.time(),
        )
        .await
        {
            Ok(RecoveryLink::Valid(_)) => {
                let clear = format!(
                    "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
                    self.recovery_cookie_name(),
                    if self.req.https { "; Secure" } else { "" }
                );
                self.form_page(
                    200,
                    "lost_reenrol.html",
                    context! {
                        done => true,
                        email => user.email,
                        enroll => format!("{}?step=enroll", paths::SECURITY),
                        passkeys => paths::PASSKEYS,
                    },
                )
                .with_cookie(clear)
            }
            Ok(other) => self.link_refused(&other),
            Err(e) => self.unavailable("mfa recovery", &e),
        }
    }

    /// A link that does not work here, said so with the way on.
    fn link_refused(&self, why: &RecoveryLink) -> Reply {
        let (status, key) = match why {
            RecoveryLink::Used => (410, "msg-lost-link-used"),
            RecoveryLink::Expired => (410, "msg-lost-link-expired"),
            RecoveryLink::OtherBrowser => (403, "msg-lost-other-browser"),
            RecoveryLink::OtherUser => (403, "msg-lost-other-user"),
            RecoveryLink::Unknown | RecoveryLink::Valid(_) => (404, "msg-lost-link-unknown"),
        };
        let title = self.t(&format!("{key}-title"));
        let text = self.t(key);
        self.message(status, &title, &text)
    }
}
