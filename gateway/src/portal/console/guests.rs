//! The console's guests: the list with its search and filters, one guest's
//! page, and the actions (invite, extend, end, remove, reset MFA, resend,
//! withdraw, block and unblock sign-in, sign out of one session or all). Each action is the operation of `crate::guests` or
//! `crate::invitations` the admin API and the CLI call, with the signed-in
//! person's e-mail as actor. The help desk may resend and reset MFA only.

use super::{GUESTS, Role, Staff, when};
use crate::guests::{self, Caller, Place};
use crate::html::encode_component;
use crate::i18n::Lang;
use crate::invitations::{self, InviteError, InviteRequest, MAX_ACCESS_DAYS};
use crate::portal::{Handler, Reply};
use crate::store::decisions::DecisionQuery;
use crate::store::{AuditQuery, StoreError, User, UserState};
use minijinja::context;
use std::collections::HashMap;

/// An action's outcome, as the `done` parameter of the redirect (fixed
/// words: nothing a request wrote is echoed).
pub(super) fn done_text(lang: Lang, done: &str) -> Option<String> {
    let key = match done {
        "invited" => "console-done-invited",
        "extended" => "console-done-extended",
        "ended" => "console-done-ended",
        "removed" => "console-done-removed",
        "resent" => "console-done-resent",
        "revoked" => "console-done-revoked",
        "mfa_reset" => "console-done-mfa-reset",
        "blocked" => "console-done-blocked",
        "unblocked" => "console-done-unblocked",
        "session_ended" => "console-done-session-ended",
        "signed_out" => "console-done-signed-out",
        "approved" => "console-done-approved",
        "denied" => "console-done-denied",
        _ => return None,
    };
    Some(crate::i18n::t!(lang, key))
}

/// Why an action did not happen.
pub(super) enum Refused {
    /// 400: the input at fault.
    Bad(String),
    /// 403: the role does not allow it.
    Role,
    /// 404: no such guest or invitation.
    Missing,
    /// 503: the store or the mailer failed.
    Failed(&'static str, String),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Failed("store", e.to_string())
    }
}

/// The list's filters, from the query string.
#[derive(Default)]
struct Filters {
    q: String,
    state: String,
    app: String,
    domain: String,
    inviter: String,
    ends_before: String,
}

impl Handler<'_> {
    fn guest_filters(&self) -> Filters {
        let get = |n: &str| {
            self.query(n)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Filters {
            q: get("q"),
            state: get("state"),
            app: get("app"),
            domain: get("domain").trim_start_matches('@').to_string(),
            inviter: get("inviter"),
            ends_before: get("ends_before"),
        }
    }

    /// `GET /.portcullis/admin/guests`: every guest that passes the filters,
    /// and the invitation form (admins).
    pub(super) async fn guests_page(
        &self,
        staff: &Staff,
        status: u16,
        error: Option<String>,
    ) -> Reply {
        let store = &self.gateway.store;
        let now = self.time();
        let f = self.guest_filters();
        let ends_before = if f.ends_before.is_empty() {
            None
        } else {
            match guests::parse_until(&f.ends_before) {
                Some(t) => Some(t),
                None => {
                    return self.console_message(
                        staff,
                        400,
                        &self.t("console-bad-filter"),
                        &self.t("console-bad-ends-before"),
                    );
                }
            }
        };
        // One query for the whole list, however many guests.
        let summaries = match store.guest_summaries(now).await {
            Ok(g) => g,
            Err(e) => return self.unavailable("guests", &e),
        };
        let q = f.q.to_lowercase();
        let mut rows = Vec::new();
        for g in &summaries {
            let (u, assignments) = (&g.user, &g.assignments);
            let state = if u.state == UserState::Blocked {
                "blocked"
            } else if u.identity.is_none() && g.invitation_pending {
                "invited"
            } else {
                "active"
            };
            let inviter = g.inviter.clone().unwrap_or_default();
            let keep = (q.is_empty()
                || u.email.to_lowercase().contains(&q)
                || u.display_name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&q)))
                && (f.state.is_empty() || f.state == state)
                && (f.app.is_empty() || assignments.iter().any(|a| a.app == f.app))
                && (f.domain.is_empty()
                    || u.email
                        .rsplit_once('@')
                        .is_some_and(|(_, d)| d.eq_ignore_ascii_case(&f.domain)))
                && (f.inviter.is_empty()
                    || inviter.to_lowercase().contains(&f.inviter.to_lowercase()))
                && ends_before.is_none_or(|t| {
                    assignments
                        .iter()
                        .any(|a| a.is_live(now) && a.expires_at.is_some_and(|e| e < t))
                });
            if !keep {
                continue;
            }
            let access: Vec<minijinja::Value> = assignments
                .iter()
                .map(|a| {
                    context! {
                        app => a.app,
                        live => a.is_live(now),
                        until => a.expires_at.map(invitations::date),
                    }
                })
                .collect();
            rows.push(context! {
                id => u.id,
                url => format!("{GUESTS}/{}", encode_component(&u.id)),
                email => u.email,
                name => u.display_name,
                state,
                inviter,
                access,
            });
        }
        let apps: Vec<&str> = self
            .snapshot
            .config
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let notice = self
            .query("done")
            .as_deref()
            .and_then(|d| done_text(self.lang, d));
        self.console_page(
            staff,
            status,
            "console/guests.html",
            "guests",
            context! {
                guests => rows,
                total => summaries.len(),
                apps,
                f => context! {
                    q => f.q, state => f.state, app => f.app, domain => f.domain,
                    inviter => f.inviter, ends_before => f.ends_before,
                },
                error, notice,
                max_days => MAX_ACCESS_DAYS,
            },
        )
    }

    /// `GET /.portcullis/admin/guests/{id}`: one guest.
    pub(super) async fn guest_page(&self, staff: &Staff, id: &str) -> Reply {
        let store = &self.gateway.store;
        let now = self.time();
        let guest = match guests::find(store, id).await {
            Ok(Some(g)) if !id.contains('@') => g,
            Ok(_) => {
                return self.console_message(
                    staff,
                    404,
                    &self.t("console-no-such-guest"),
                    &self.t("console-no-such-guest-text"),
                );
            }
            Err(e) => return self.unavailable("guest", &e),
        };
        let assignments = match store.assignments_of_user(&guest.id).await {
            Ok(a) => a,
            Err(e) => return self.unavailable("assignments", &e),
        };
        let access: Vec<minijinja::Value> = assignments
            .iter()
            .map(|a| {
                context! {
                    app => a.app,
                    live => a.is_live(now),
                    granted => when(a.granted_at),
                    until => a.expires_at.map(when),
                }
            })
            .collect();
        let mfa = match store.get_totp_factor(&guest.id).await {
            Ok(Some(f)) => match f.confirmed_at {
                Some(t) => crate::i18n::t!(self.lang, "console-mfa-set-up", when = when(t)),
                None => self.t("console-mfa-pending"),
            },
            Ok(None) => self.t("console-mfa-none"),
            Err(e) => return self.unavailable("mfa", &e),
        };
        let trail = match store
            .list_audit(&AuditQuery {
                subject: Some(guest.id.clone()),
                limit: 200,
                ..AuditQuery::default()
            })
            .await
        {
            Ok(t) => t,
            Err(e) => return self.unavailable("audit", &e),
        };
        let last_sign_in = trail
            .iter()
            .find(|e| e.action == "signed_in")
            .map(|e| when(e.at));
        let trail: Vec<minijinja::Value> = trail
            .iter()
            .take(50)
            .map(|e| {
                context! {
                    at => when(e.at),
                    actor => e.actor,
                    action => e.action,
                    app => e.app,
                    detail => if e.detail.is_null() { String::new() } else { e.detail.to_string() },
                }
            })
            .collect();
        let sessions: Vec<minijinja::Value> = match store.sessions_of_user(&guest.id, now).await {
            Ok(list) => list
                .iter()
                .map(|s| {
                    context! {
                        handle => guests::session_handle(&s.sid),
                        idp => s.idp,
                        started => when(s.created_at),
                        expires => when(s.expires_at),
                    }
                })
                .collect(),
            Err(e) => return self.unavailable("sessions", &e),
        };
        let invites: Vec<minijinja::Value> = match store.invitations_of_user(&guest.id).await {
            Ok(list) => list
                .iter()
                .map(|i| {
                    context! {
                        id => i.id,
                        apps => i.apps.join(", "),
                        status => i.status(now),
                        pending => i.status(now) == "pending",
                        inviter => i.inviter,
                        sent => when(i.created_at),
                        expires => when(i.expires_at),
                    }
                })
                .collect(),
            Err(e) => return self.unavailable("invitations", &e),
        };
        let decisions = match store
            .list_decisions(&DecisionQuery {
                user: Some(guest.id.clone()),
                limit: 20,
                ..DecisionQuery::default()
            })
            .await
        {
            Ok(d) => d,
            Err(e) => return self.unavailable("decisions", &e),
        };
        let decisions: Vec<minijinja::Value> =
            decisions.iter().map(super::decisions::row).collect();
        let notice = self
            .query("done")
            .as_deref()
            .and_then(|d| done_text(self.lang, d));
        self.console_page(
            staff,
            200,
            "console/guest.html",
            "guests",
            context! {
                g => context! {
                    id => guest.id,
                    email => guest.email,
                    name => guest.display_name,
                    state => guest.state.as_str(),
                    idp => guest.identity.as_ref().map(|i| i.idp.clone()),
                    created => when(guest.created_at),
                },
                access, mfa, last_sign_in, sessions, invites, trail, decisions, notice,
                max_days => MAX_ACCESS_DAYS,
            },
        )
    }

    /// `POST /.portcullis/admin/guests`: one action, by `action`.
    pub(super) async fn guest_action(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Reply {
        let action = form.get("action").map(String::as_str).unwrap_or_default();
        // The help desk: resend and reset MFA; the rest is the admins'.
        let allowed = staff.role == Role::Admin || matches!(action, "resend" | "reset_mfa");
        if !allowed {
            tracing::info!(
                request_id = %self.req.request_id,
                user = %staff.user.id,
                action,
                "console action refused: role"
            );
            return self.role_refused(staff);
        }
        // Ending access, removing, blocking, signing out everywhere and
        // withdrawing an invitation need a second, confirming post.
        let confirmed = form.get("confirm").map(String::as_str) == Some("yes");
        if matches!(action, "end" | "remove" | "block" | "sign_out_all") && !confirmed {
            return self.confirm_page(staff, action, form).await;
        }
        if action == "revoke" && !confirmed {
            return self.withdraw_confirm(staff, GUESTS, form).await;
        }
        let result = match action {
            "invite" => self.console_invite(staff, form).await,
            "extend" => self.console_extend(staff, form).await,
            "end" => self.console_end(staff, form).await,
            "remove" => self.console_remove(staff, form).await,
            "reset_mfa" => self.console_reset_mfa(staff, form).await,
            "block" | "unblock" => self.console_block(staff, action, form).await,
            "end_session" | "sign_out_all" => self.console_sign_out(staff, action, form).await,
            "resend" | "revoke" => self.console_invitation(staff, action, form).await,
            _ => Err(Refused::Bad(self.t("console-choose-action"))),
        };
        let user = form.get("user").cloned().unwrap_or_default();
        match result {
            Ok((done, Some(user))) => {
                Reply::redirect(format!("{GUESTS}/{}?done={done}", encode_component(&user)))
            }
            Ok((done, None)) => Reply::redirect(format!("{GUESTS}?done={done}")),
            Err(Refused::Bad(msg)) if action == "invite" => {
                self.guests_page(staff, 400, Some(msg)).await
            }
            Err(Refused::Bad(msg)) => {
                let back = if user.is_empty() {
                    GUESTS.to_string()
                } else {
                    format!("{GUESTS}/{}", encode_component(&user))
                };
                self.console_page(
                    staff,
                    400,
                    "console/message.html",
                    "guests",
                    context! { title => self.t("console-not-done"), text => msg, link => back, link_text => self.t("console-back") },
                )
            }
            Err(Refused::Role) => self.role_refused(staff),
            Err(Refused::Missing) => self.console_message(
                staff,
                404,
                &self.t("console-not-found"),
                &self.t("console-gone"),
            ),
            Err(Refused::Failed(what, e)) => self.unavailable(what, &e),
        }
    }

    /// The confirmation of `end`, `remove`, `block` or `sign_out_all`:
    /// what will happen, and the same form again with `confirm=yes`.
    async fn confirm_page(
        &self,
        staff: &Staff,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Reply {
        let guest = match self.console_guest(form).await {
            Ok(g) => g,
            Err(Refused::Failed(what, e)) => return self.unavailable(what, &e),
            Err(_) => {
                return self.console_message(
                    staff,
                    404,
                    &self.t("console-not-found"),
                    &self.t("console-guest-gone"),
                );
            }
        };
        let app = form.get("app").cloned().unwrap_or_default();
        let (title, text, button) = match action {
            "end" => (
                self.t("console-confirm-end"),
                crate::i18n::t!(
                    self.lang,
                    "console-confirm-end-text",
                    email = guest.email.as_str(),
                    app = app.as_str()
                ),
                self.t("console-confirm-end-button"),
            ),
            "block" => (
                self.t("console-confirm-block"),
                crate::i18n::t!(
                    self.lang,
                    "console-confirm-block-text",
                    email = guest.email.as_str()
                ),
                self.t("console-confirm-block-button"),
            ),
            "sign_out_all" => (
                self.t("console-confirm-sign-out"),
                crate::i18n::t!(
                    self.lang,
                    "console-confirm-sign-out-text",
                    email = guest.email.as_str()
                ),
                self.t("console-confirm-sign-out-button"),
            ),
            _ => (
                self.t("console-confirm-remove"),
                crate::i18n::t!(
                    self.lang,
                    "console-confirm-remove-text",
                    email = guest.email.as_str()
                ),
                self.t("console-confirm-remove-button"),
            ),
        };
        let back = format!("{GUESTS}/{}", encode_component(&guest.id));
        self.console_confirm(
            staff,
            "guests",
            GUESTS,
            (&title, &text, &button),
            &[("action", action), ("user", &guest.id), ("app", &app)],
            &back,
        )
    }

    /// The signed-in person as the caller of a guest operation.
    fn console_caller<'a>(&'a self, staff: &'a Staff) -> Caller<'a> {
        Caller {
            place: Place::Gateway(self.gateway),
            actor: &staff.user.email,
            now: self.time(),
        }
    }

    /// The guest the form's `user` names (a user id).
    async fn console_guest(&self, form: &HashMap<String, String>) -> Result<User, Refused> {
        let id = form.get("user").map(String::as_str).unwrap_or_default();
        if id.is_empty() || id.contains('@') {
            return Err(Refused::Missing);
        }
        guests::find(&self.gateway.store, id)
            .await?
            .ok_or(Refused::Missing)
    }

    /// The form's `app`, which must be an app of the config.
    fn console_app(&self, form: &HashMap<String, String>) -> Result<String, Refused> {
        let app = form.get("app").map(String::as_str).unwrap_or_default();
        if self.snapshot.config.apps.iter().any(|a| a.name == app) {
            Ok(app.to_string())
        } else {
            Err(Refused::Bad(self.t("console-choose-app")))
        }
    }

    fn console_mailer(&self) -> Result<&crate::mail::Mailer, Refused> {
        self.portal
            .mailer()
            .ok_or_else(|| Refused::Failed("mail", "mail is not configured".into()))
    }

    fn count_invitation_outcome(&self, outcome: &str) {
        self.gateway
            .metrics
            .invitations
            .with_label_values(&[outcome])
            .inc();
    }

    async fn console_invite(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let apps = self.form_all("apps");
        if apps.is_empty() {
            return Err(Refused::Bad(self.t("console-choose-apps")));
        }
        for a in &apps {
            if !self.snapshot.config.apps.iter().any(|x| &x.name == a) {
                return Err(Refused::Bad(self.t("console-choose-listed-apps")));
            }
        }
        let days = parse_days(self.lang, form.get("days"))?;
        let mailer = self.console_mailer()?;
        let req = InviteRequest {
            email: form.get("email").cloned().unwrap_or_default(),
            apps,
            access_until: None,
            access_days: Some(days),
            message: form
                .get("message")
                .cloned()
                .filter(|m| !m.trim().is_empty()),
            inviter: staff.user.email.clone(),
            language: form
                .get("language")
                .and_then(|l| crate::i18n::Lang::parse(l)),
        };
        match invitations::invite(
            &self.snapshot.config,
            &self.gateway.store,
            mailer,
            &req,
            self.time(),
        )
        .await
        {
            Ok((inv, _link)) => {
                self.count_invitation_outcome("created");
                Ok(("invited", Some(inv.user_id)))
            }
            Err(InviteError::Invalid { field, message }) => Err(Refused::Bad(format!(
                "{}: {message}",
                crate::i18n::t!(self.lang, field_label(field))
            ))),
            Err(e) => Err(Refused::Failed("invite", e.to_string())),
        }
    }

    async fn console_extend(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let guest = self.console_guest(form).await?;
        let app = self.console_app(form)?;
        let days = parse_days(self.lang, form.get("days"))?;
        let until = self.time() + time::Duration::days(i64::from(days));
        guests::extend(self.console_caller(staff), &guest, &app, until, Some(days)).await?;
        Ok(("extended", Some(guest.id)))
    }

    async fn console_end(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let guest = self.console_guest(form).await?;
        let app = self.console_app(form)?;
        // `false`: ended meanwhile; ended either way.
        guests::end(self.console_caller(staff), &guest, &app).await?;
        Ok(("ended", Some(guest.id)))
    }

    async fn console_remove(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let guest = self.console_guest(form).await?;
        guests::remove(self.console_caller(staff), &guest).await?;
        Ok(("removed", None))
    }

    async fn console_reset_mfa(
        &self,
        staff: &Staff,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let guest = self.console_guest(form).await?;
        guests::reset_mfa(self.console_caller(staff), &self.portal.totp, &guest)
            .await
            .map_err(|e| Refused::Failed("mfa reset", e.to_string()))?;
        Ok(("mfa_reset", Some(guest.id)))
    }

    async fn console_block(
        &self,
        staff: &Staff,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let guest = self.console_guest(form).await?;
        let caller = self.console_caller(staff);
        // Already so counts as done: the page then shows the state asked for.
        if action == "block" {
            guests::block(caller, &guest).await?;
            Ok(("blocked", Some(guest.id)))
        } else {
            guests::unblock(caller, &guest).await?;
            Ok(("unblocked", Some(guest.id)))
        }
    }

    /// Signs the guest out of one session (`session`, its handle) or of all.
    async fn console_sign_out(
        &self,
        staff: &Staff,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        let guest = self.console_guest(form).await?;
        let caller = self.console_caller(staff);
        if action == "sign_out_all" {
            guests::sign_out_everywhere(caller, &guest).await?;
            return Ok(("signed_out", Some(guest.id)));
        }
        let handle = form.get("session").map(String::as_str).unwrap_or_default();
        if guests::end_session(caller, &guest, handle).await? {
            Ok(("session_ended", Some(guest.id)))
        } else {
            Err(Refused::Bad(self.t("console-session-gone")))
        }
    }

    /// Resend (admins and the help desk) or withdraw (admins) a pending
    /// invitation.
    pub(super) async fn console_invitation(
        &self,
        staff: &Staff,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Result<(&'static str, Option<String>), Refused> {
        if action == "revoke" && staff.role != Role::Admin {
            return Err(Refused::Role);
        }
        let id = form
            .get("invitation")
            .map(String::as_str)
            .unwrap_or_default();
        let now = self.time();
        let actor = &staff.user.email;
        let r = if action == "resend" {
            let mailer = self.console_mailer()?;
            invitations::resend(
                &self.snapshot.config,
                &self.gateway.store,
                mailer,
                id,
                actor,
                now,
            )
            .await
            .map(|(inv, _)| ("resent", inv.user_id))
        } else {
            invitations::revoke(&self.gateway.store, id, actor, now)
                .await
                .map(|inv| ("revoked", inv.user_id))
        };
        match r {
            Ok((done, user)) => {
                self.count_invitation_outcome(done);
                Ok((done, Some(user)))
            }
            Err(InviteError::NotFound(_)) => Err(Refused::Missing),
            Err(InviteError::NotPending) => {
                Err(Refused::Bad(self.t("console-invitation-not-pending")))
            }
            Err(e) => Err(Refused::Failed("invitation", e.to_string())),
        }
    }
}

/// `days` of a form: 1 to [`MAX_ACCESS_DAYS`].
fn parse_days(lang: Lang, raw: Option<&String>) -> Result<u32, Refused> {
    let raw = raw.map(|s| s.trim()).unwrap_or_default();
    match raw.parse::<u32>() {
        Ok(d) if (1..=MAX_ACCESS_DAYS).contains(&d) => Ok(d),
        _ => Err(Refused::Bad(crate::i18n::t!(
            lang,
            "console-bad-days",
            max = MAX_ACCESS_DAYS
        ))),
    }
}

/// The message key naming an invitation field (the operation's message
/// after it stays as the admin API words it).
fn field_label(field: &str) -> &'static str {
    match field {
        "email" => "console-field-email",
        "message" => "console-field-message",
        "access_days" => "console-field-days",
        "apps" => "console-field-apps",
        _ => "console-field-other",
    }
}
