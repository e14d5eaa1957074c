//! `/.portcullis/manage/…` on the auth host: app owners manage the guests
//! of their own apps.
//!
//! - `GET /.portcullis/manage`: the apps the signed-in person owns
//!   (`apps[].owners`: their e-mail, or a `group:` they are in, from the
//!   store or their session).
//! - `GET /.portcullis/manage/app?name=APP`: that app's guests (live and
//!   ended assignments), its pending invitations, and the forms.
//! - `POST /.portcullis/manage/app` (CSRF-protected): `action` is one of
//!   `invite`, `extend`, `end`, `resend`, `revoke`, `reset_mfa`.
//!
//! Every request is refused (403) unless the signed-in person owns THAT app,
//! and every action acts only on guests (or invitations) of that app. Each
//! action is audited with the owner's user id as actor.

use super::{Handler, Reply, paths};
use crate::config::App;
use crate::guests::{self, Caller, Place};
use crate::html::encode_component;
use crate::i18n::{Lang, t};
use crate::invitations::{self, InviteError, InviteRequest, MAX_ACCESS_DAYS};
use crate::session::SessionClaims;
use crate::store::{NewAuditEntry, StoreError, User, UserType};
use minijinja::context;
use std::collections::HashMap;

/// The app page's path.
const APP_PAGE: &str = "/.portcullis/manage/app";

/// An action's outcome, as the `done` query parameter of the redirect back
/// to the app page (fixed words: nothing a request wrote is echoed). The
/// guest it was about is named from the directory (`user=`), never from the
/// query's text.
fn done_text(lang: Lang, done: &str, guest: Option<&Named>, app_title: &str) -> Option<String> {
    let who = guest.map(|g| g.email.as_str());
    Some(match (done, who) {
        ("invited", _) => t!(lang, "notice-invited"),
        ("extended", Some(who)) => match guest.and_then(|g| g.until.as_deref()) {
            Some(until) => t!(
                lang,
                "notice-extended-until",
                who = who,
                app = app_title,
                date = until
            ),
            None => t!(lang, "notice-extended-for", who = who),
        },
        ("extended", None) => t!(lang, "notice-extended"),
        ("ended", Some(who)) => t!(lang, "notice-ended-for", who = who, app = app_title),
        ("ended", None) => t!(lang, "notice-ended"),
        ("resent", _) => t!(lang, "notice-resent"),
        ("revoked", _) => t!(lang, "notice-revoked"),
        ("mfa_reset", Some(who)) => t!(lang, "notice-mfa-reset-for", who = who),
        ("mfa_reset", None) => t!(lang, "notice-mfa-reset"),
        _ => return None,
    })
}

/// The guest an action was about, as the notice names them.
struct Named {
    email: String,
    /// The end of their access to the app, when they have one.
    until: Option<String>,
}

/// The signed-in owner of one request.
struct Owner {
    user: User,
    /// Lower-case groups: the store's and the session's.
    groups: Vec<String>,
}

impl Owner {
    fn owns(&self, app: &App) -> bool {
        app.owners
            .iter()
            .any(|o| o.matches(&self.user.email, &self.groups))
    }
}

/// Why an action did not happen.
enum Refused {
    /// 400: the input at fault, said on the page.
    Bad(String),
    /// 403: not one of this app's guests or invitations.
    NotThisApp,
    /// 503: the store or the mailer failed.
    Failed(&'static str, String),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Failed("store", e.to_string())
    }
}

impl Handler<'_> {
    pub(super) async fn manage(&self) -> Reply {
        let Some((claims, user)) = self.auth_session().await else {
            // Back to this page after signing in, not to the apps page.
            let back = match self.req.query {
                Some(q) if self.req.method == "GET" => format!("{}?{q}", self.req.path),
                _ => self.req.path.to_string(),
            };
            return Reply::redirect(format!("{}?rd={}", paths::SIGN_IN, encode_component(&back)));
        };
        let owner = match self.owner(&claims, user).await {
            Ok(o) => o,
            Err(e) => return self.unavailable("groups", &e),
        };
        let post = self.req.method == "POST";
        match self.req.path {
            paths::MANAGE | "/.portcullis/manage/" if !post => self.owned_apps(&owner),
            APP_PAGE if !post => {
                let name = self.query("name").unwrap_or_default();
                match self.owned_app(&owner, &name) {
                    Some(app) => {
                        let guest = match self.query("user") {
                            Some(id) => self.named_guest(app, &id).await,
                            None => None,
                        };
                        let notice = self
                            .query("done")
                            .as_deref()
                            .and_then(|d| done_text(self.lang, d, guest.as_ref(), &app.title));
                        self.app_page(&owner, app, 200, None, notice.as_deref())
                            .await
                    }
                    None => self.not_owner(),
                }
            }
            APP_PAGE => self.manage_action(&owner).await,
            _ => self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            ),
        }
    }

    async fn owner(&self, claims: &SessionClaims, user: User) -> Result<Owner, StoreError> {
        let mut groups: Vec<String> = self.gateway.store.groups_of(&user.id).await?;
        groups.extend(claims.groups.iter().cloned());
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
        groups.sort();
        groups.dedup();
        Ok(Owner { user, groups })
    }

    /// The app `name` if `owner` owns it; `None` for an unknown app too, so
    /// the answer does not tell which apps exist.
    fn owned_app(&self, owner: &Owner, name: &str) -> Option<&App> {
        self.snapshot
            .config
            .apps
            .iter()
            .find(|a| a.name == name)
            .filter(|a| owner.owns(a))
    }

    fn not_owner(&self) -> Reply {
        self.message_linked(
            403,
            &self.t("msg-not-your-app-title"),
            &self.t("msg-not-your-app"),
            (paths::MANAGE, &self.t("nav-your-apps")),
        )
    }

    fn owned_apps(&self, owner: &Owner) -> Reply {
        let apps: Vec<minijinja::Value> = self
            .snapshot
            .config
            .apps
            .iter()
            .filter(|a| owner.owns(a))
            .map(|a| {
                context! {
                    url => format!("{APP_PAGE}?name={}", encode_component(&a.name)),
                    ..self.tile(a)
                }
            })
            .collect();
        let reply = self.page(
            200,
            "manage_apps.html",
            context! { email => owner.user.email, apps },
        );
        super::signin::landing::with_icon_sources(reply, &self.snapshot.config.apps)
    }

    /// The app page: guests, pending invitations and the forms.
    async fn app_page(
        &self,
        owner: &Owner,
        app: &App,
        status: u16,
        error: Option<String>,
        notice: Option<&str>,
    ) -> Reply {
        let store = &self.gateway.store;
        let now = self.time();
        let assignments = match store.assignments_of_app(&app.name).await {
            Ok(a) => a,
            Err(e) => return self.unavailable("assignments", &e),
        };
        let mut guests = Vec::new();
        for a in assignments {
            let user = match store.get_user(&a.user_id).await {
                Ok(Some(u)) if u.user_type == UserType::Guest => u,
                Ok(_) => continue,
                Err(e) => return self.unavailable("users", &e),
            };
            let live = a.is_live(now);
            let (mfa, last_sign_in) = match self.guest_facts(&user).await {
                Ok(f) => f,
                Err(e) => return self.unavailable("guest facts", &e),
            };
            let passkeys = match store.list_passkeys(&user.id).await {
                Ok(k) => k.len(),
                Err(e) => return self.unavailable("passkeys", &e),
            };
            guests.push(context! {
                mfa, last_sign_in, passkeys,
                id => user.id,
                email => user.email,
                name => user.display_name,
                state => user.state.as_str(),
                live,
                until => a.expires_at.map(|t| self.date(t)),
            });
        }
        let invitations: Vec<minijinja::Value> = match store.list_invitations().await {
            Ok(list) => list
                .into_iter()
                .filter(|i| i.apps.contains(&app.name) && i.status(now) == "pending")
                .map(|i| {
                    context! {
                        id => i.id,
                        email => i.email,
                        inviter => i.inviter,
                        expires => self.date(i.expires_at),
                    }
                })
                .collect(),
            Err(e) => return self.unavailable("invitations", &e),
        };
        // Pending sign-up requests, each decided on its review page.
        let mut requests: Vec<minijinja::Value> = Vec::new();
        match store.list_access_requests(Some(&app.name)).await {
            Ok(list) => {
                for r in list
                    .into_iter()
                    .filter(|r| r.status == crate::store::RequestStatus::Pending)
                {
                    let email = match store.get_user(&r.user_id).await {
                        Ok(Some(u)) => u.email,
                        Ok(None) => continue,
                        Err(e) => return self.unavailable("sign-up requests", &e),
                    };
                    requests.push(context! {
                        email,
                        asked => self.date(r.created_at),
                        review => format!("/.portcullis/sign-up/review?id={}", r.id),
                    });
                }
            }
            Err(e) => return self.unavailable("sign-up requests", &e),
        }
        let managers = match self.managers(app).await {
            Ok(m) => m,
            Err(e) => return self.unavailable("owners", &e),
        };
        self.form_page(
            status,
            "manage_app.html",
            context! {
                app => app.name,
                app_title => app.title,
                email => owner.user.email,
                guests, invitations, requests, error, notice, managers,
                max_days => MAX_ACCESS_DAYS,
                // The invitation mail's language: the organisation's unless
                // the owner picks another.
                languages => Lang::all()
                    .map(|l| context! { tag => l.tag(), name => t!(l, "language-name") })
                    .collect::<Vec<_>>(),
                default_language => self.snapshot.config.organisation.language.tag(),
            },
        )
    }

    /// A posted action: CSRF, then ownership of the named app, then the
    /// action on a guest or invitation of that app only.
    async fn manage_action(&self, owner: &Owner) -> Reply {
        let form = match self.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let name = form.get("app").cloned().unwrap_or_default();
        let Some(app) = self.owned_app(owner, &name) else {
            tracing::info!(
                request_id = %self.req.request_id,
                user = %owner.user.id,
                app = %name,
                "owner action refused: not an owner of the app"
            );
            return self.not_owner();
        };
        let action = form.get("action").map(String::as_str).unwrap_or_default();
        // "End access now" asks first: a page naming the guest, whose
        // button posts the same form with `confirm`.
        if action == "end" && form.get("confirm").map(String::as_str) != Some("yes") {
            return match self.guest_of(app, &form).await {
                Ok(guest) => self.form_page(
                    200,
                    "manage_confirm_end.html",
                    context! {
                        app => app.name, app_title => app.title,
                        user => guest.id, guest => guest.email,
                        back => format!("{APP_PAGE}?name={}", encode_component(&app.name)),
                    },
                ),
                Err(Refused::NotThisApp) => self.not_owner(),
                Err(Refused::Bad(msg)) => self.app_page(owner, app, 400, Some(msg), None).await,
                Err(Refused::Failed(what, e)) => self.unavailable(what, &e),
            };
        }
        let about = form
            .get("user")
            .filter(|_| matches!(action, "extend" | "end" | "reset_mfa"))
            .map(|u| format!("&user={}", encode_component(u)))
            .unwrap_or_default();
        let result = match action {
            "invite" => self.owner_invite(owner, app, &form).await,
            "extend" => self.owner_extend(owner, app, &form).await,
            "end" => self.owner_end(owner, app, &form).await,
            "resend" | "revoke" => self.owner_invitation(owner, app, action, &form).await,
            "reset_mfa" => self.owner_reset_mfa(owner, app, &form).await,
            _ => Err(Refused::Bad(self.t("msg-choose-action"))),
        };
        match result {
            Ok(done) => Reply::redirect(format!(
                "{APP_PAGE}?name={}&done={done}{about}",
                encode_component(&app.name)
            )),
            Err(Refused::Bad(msg)) => self.app_page(owner, app, 400, Some(msg), None).await,
            Err(Refused::NotThisApp) => self.not_owner(),
            Err(Refused::Failed(what, e)) => self.unavailable(what, &e),
        }
    }

    /// Guest `id` as an action's notice names them: a guest with an
    /// assignment to `app`, or one the audit log ties to it (access just
    /// ended); anyone else is not named.
    async fn named_guest(&self, app: &App, id: &str) -> Option<Named> {
        let store = &self.gateway.store;
        let user = store
            .get_user(id)
            .await
            .ok()
            .flatten()
            .filter(|u| u.user_type == UserType::Guest)?;
        let assignment = store
            .assignments_of_user(&user.id)
            .await
            .ok()?
            .into_iter()
            .find(|a| a.app == app.name);
        if assignment.is_none() {
            let audit = store
                .list_audit(&crate::store::AuditQuery {
                    subject: Some(user.id.clone()),
                    app: Some(app.name.clone()),
                    limit: 1,
                    ..Default::default()
                })
                .await
                .ok()?;
            audit.first()?;
        }
        Some(Named {
            email: user.email,
            until: assignment.and_then(|a| a.expires_at).map(|t| self.date(t)),
        })
    }

    /// Who manages `app` (its `owners`), so an owner sees who else does:
    /// people by e-mail; a directory group with its members from the store;
    /// an IdP's group (`IDP:NAME`) by name only, since its members are
    /// known only when they sign in.
    async fn managers(&self, app: &App) -> Result<Vec<minijinja::Value>, StoreError> {
        let mut out = Vec::new();
        for o in &app.owners {
            out.push(match o {
                crate::config::Owner::Email(e) => context! { name => e },
                crate::config::Owner::Group(g) if g.contains(':') => {
                    context! { name => g, group => true, idp => true }
                }
                crate::config::Owner::Group(g) => {
                    let members: Vec<String> = self
                        .gateway
                        .store
                        .members_of_group(g)
                        .await?
                        .into_iter()
                        .map(|u| u.email)
                        .collect();
                    context! { name => g, group => true, members }
                }
            });
        }
        Ok(out)
    }

    /// A guest's MFA state in words and their last sign-in's date.
    async fn guest_facts(&self, user: &User) -> Result<(&'static str, Option<String>), StoreError> {
        let store = &self.gateway.store;
        let mfa = match store.get_totp_factor(&user.id).await? {
            Some(f) if f.is_locked(self.time()) => "locked",
            Some(f) if f.confirmed_at.is_some() => "on",
            Some(_) => "pending",
            None => "none",
        };
        let last = store
            .list_audit(&crate::store::AuditQuery {
                subject: Some(user.id.clone()),
                limit: 200,
                ..Default::default()
            })
            .await?
            .into_iter()
            .find(|e| e.action == "signed_in")
            .map(|e| self.date(e.at));
        Ok((mfa, last))
    }

    /// The owner as the caller of a guest operation.
    fn caller<'a>(&'a self, owner: &'a Owner) -> Caller<'a> {
        Caller {
            place: Place::Gateway(self.gateway),
            actor: &owner.user.id,
            now: self.time(),
        }
    }

    /// An entry only this door writes (what an owner did through which
    /// app), beside the operation's own.
    async fn audit(
        &self,
        owner: &Owner,
        action: &str,
        subject: &str,
        app: &App,
        detail: serde_json::Value,
    ) {
        let r = self
            .gateway
            .store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: owner.user.id.clone(),
                action: action.to_string(),
                subject: Some(subject.to_string()),
                app: Some(app.name.clone()),
                detail,
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, action, "audit entry not written");
        }
    }

    /// The guest named by the form's `user`, if they hold (or held) an
    /// assignment to `app`.
    fn mailer(&self) -> Result<&crate::mail::Mailer, Refused> {
        self.portal
            .mailer()
            .ok_or_else(|| Refused::Failed("mail", "mail is not configured".into()))
    }

    /// Counts an invitation `created`, `resent` or `revoked` by an owner.
    fn count_invitation(&self, outcome: &str) {
        self.gateway
            .metrics
            .invitations
            .with_label_values(&[outcome])
            .inc();
    }

    async fn guest_of(&self, app: &App, form: &HashMap<String, String>) -> Result<User, Refused> {
        let id = form.get("user").map(String::as_str).unwrap_or_default();
        let store = &self.gateway.store;
        let user = match store.get_user(id).await? {
            Some(u) if u.user_type == UserType::Guest => u,
            _ => return Err(Refused::NotThisApp),
        };
        let assigned = store
            .assignments_of_user(&user.id)
            .await?
            .iter()
            .any(|a| a.app == app.name);
        if assigned {
            Ok(user)
        } else {
            Err(Refused::NotThisApp)
        }
    }

    async fn owner_invite(
        &self,
        owner: &Owner,
        app: &App,
        form: &HashMap<String, String>,
    ) -> Result<&'static str, Refused> {
        let days = parse_days(self.lang, form.get("days"))?;
        let mailer = self.mailer()?;
        let req = InviteRequest {
            email: form.get("email").cloned().unwrap_or_default(),
            apps: vec![app.name.clone()],
            access_until: None,
            access_days: Some(days),
            message: form.get("message").cloned(),
            inviter: owner.user.email.clone(),
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
                self.count_invitation("created");
                self.audit(
                    owner,
                    "owner_invited",
                    &inv.user_id,
                    app,
                    serde_json::json!({ "invitation": inv.id, "days": days }),
                )
                .await;
                Ok("invited")
            }
            Err(InviteError::Invalid { field, message }) => Err(Refused::Bad(format!(
                "{}: {message}",
                self.t(field_label(field))
            ))),
            Err(e) => Err(Refused::Failed("invite", e.to_string())),
        }
    }

    async fn owner_extend(
        &self,
        owner: &Owner,
        app: &App,
        form: &HashMap<String, String>,
    ) -> Result<&'static str, Refused> {
        let guest = self.guest_of(app, form).await?;
        let days = parse_days(self.lang, form.get("days"))?;
        // Days are added to the later of now and the current end, as the
        // form's label says: 30 more days for someone with 30 left is 60.
        let now = self.time();
        let current = self
            .gateway
            .store
            .assignments_of_user(&guest.id)
            .await?
            .into_iter()
            .find(|a| a.app == app.name)
            .and_then(|a| a.expires_at);
        let from = current.filter(|end| *end > now).unwrap_or(now);
        let until = from + time::Duration::days(i64::from(days));
        let max = now + time::Duration::days(i64::from(MAX_ACCESS_DAYS));
        if until > max {
            return Err(Refused::Bad(t!(
                self.lang,
                "msg-days-too-far",
                who = &guest.email,
                until = self.date(from),
                max = MAX_ACCESS_DAYS,
                last = self.date(max)
            )));
        }
        guests::extend(self.caller(owner), &guest, &app.name, until, Some(days)).await?;
        Ok("extended")
    }

    async fn owner_end(
        &self,
        owner: &Owner,
        app: &App,
        form: &HashMap<String, String>,
    ) -> Result<&'static str, Refused> {
        let guest = self.guest_of(app, form).await?;
        // `false`: ended meanwhile (by another owner, say); ended either way.
        guests::end(self.caller(owner), &guest, &app.name).await?;
        Ok("ended")
    }

    /// Resend or revoke a pending invitation for this app; one that also
    /// shares apps the owner does not own is not theirs to touch.
    async fn owner_invitation(
        &self,
        owner: &Owner,
        app: &App,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Result<&'static str, Refused> {
        let id = form
            .get("invitation")
            .map(String::as_str)
            .unwrap_or_default();
        let inv = match self.gateway.store.get_invitation(id).await? {
            Some(i) if i.apps.contains(&app.name) => i,
            _ => return Err(Refused::NotThisApp),
        };
        let all_owned = inv.apps.iter().all(|a| self.owned_app(owner, a).is_some());
        if !all_owned {
            return Err(Refused::NotThisApp);
        }
        let now = self.time();
        let actor = &owner.user.id;
        let r = if action == "resend" {
            let mailer = self.mailer()?;
            invitations::resend(
                &self.snapshot.config,
                &self.gateway.store,
                mailer,
                id,
                actor,
                now,
            )
            .await
            .map(|_| "resent")
        } else {
            invitations::revoke(&self.gateway.store, id, actor, now)
                .await
                .map(|_| "revoked")
        };
        match r {
            Ok(done) => {
                self.count_invitation(done);
                Ok(done)
            }
            Err(InviteError::NotPending | InviteError::NotFound(_)) => {
                Err(Refused::Bad(self.t("msg-invitation-not-pending")))
            }
            Err(e) => Err(Refused::Failed("invitation", e.to_string())),
        }
    }

    async fn owner_reset_mfa(
        &self,
        owner: &Owner,
        app: &App,
        form: &HashMap<String, String>,
    ) -> Result<&'static str, Refused> {
        let guest = self.guest_of(app, form).await?;
        let had = guests::reset_mfa(self.caller(owner), &self.portal.totp, &guest)
            .await
            .map_err(|e| Refused::Failed("mfa reset", e.to_string()))?;
        self.audit(
            owner,
            "owner_reset_mfa",
            &guest.id,
            app,
            serde_json::json!({ "had_factor": had }),
        )
        .await;
        Ok("mfa_reset")
    }
}

/// `days` of a form: 1 to [`MAX_ACCESS_DAYS`].
fn parse_days(lang: Lang, raw: Option<&String>) -> Result<u32, Refused> {
    let raw = raw.map(|s| s.trim()).unwrap_or_default();
    match raw.parse::<u32>() {
        Ok(d) if (1..=MAX_ACCESS_DAYS).contains(&d) => Ok(d),
        _ => Err(Refused::Bad(t!(
            lang,
            "msg-days-range",
            max = MAX_ACCESS_DAYS
        ))),
    }
}

/// The message key naming an invitation field.
fn field_label(field: &str) -> &'static str {
    match field {
        "email" => "manage-email",
        "message" => "msg-field-message",
        "language" => "manage-language",
        _ => "manage-days",
    }
}
