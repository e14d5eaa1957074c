//! `/.portcullis/sign-up…` on the auth host: partners ask for access to an
//! app that allows it (`apps[].sign_up`), and its owners decide.
//!
//! 1. `/.portcullis/sign-up?app=NAME`: "enter your e-mail". The domain must
//!    be allowed and not the organisation's; the guest user is made (no
//!    identity yet) so that the normal sign-in accepts them.
//! 2. Sign-in, returning to step 3: with `sign_up.idps`, a choice of only
//!    those IdPs (`/.portcullis/sign-up/idp`); else as everywhere
//!    (home-realm discovery, the IdP or the e-mailed code). Then consent.
//! 3. `/.portcullis/sign-up/form?app=NAME`: the app's attributes; posting it
//!    stores the request (asking twice shows the pending one). Automatic
//!    approval starts access at once and hands the partner to the app;
//!    otherwise the owners get an e-mail.
//! 4. `/.portcullis/sign-up/review?id=ID`: an owner of that app (and no one
//!    else) approves or denies; the first decision wins.

use crate::i18n::t;
use super::{Handler, Reply, paths};
use crate::access_requests::{self, Outcome, SignUpError};
use crate::config::{App, Approval, SignUp};
use crate::html::encode_component;
use crate::session::SessionClaims;
use crate::store::{RateLimit, RequestStatus, User, UserType};
use minijinja::context;
use std::collections::HashMap;

const FORM: &str = "/.portcullis/sign-up/form";
const REVIEW: &str = "/.portcullis/sign-up/review";
const IDP: &str = "/.portcullis/sign-up/idp";
/// E-mail submissions per client (`signin::rate_limit`) in [`EMAIL_WINDOW`]:
/// each may make a guest user, so a script must not fill the directory.
const EMAIL_PER_IP: u32 = 20;
const EMAIL_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Handler<'_> {
    pub(super) async fn sign_up(&self) -> Reply {
        let post = self.req.method == "POST";
        match self.req.path {
            paths::SIGN_UP if post => self.sign_up_email().await,
            paths::SIGN_UP => self.sign_up_start().await,
            FORM => self.sign_up_form(post).await,
            IDP if post => self.sign_up_idp().await,
            REVIEW => self.sign_up_review(post).await,
            _ => self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            ),
        }
    }

    /// The posted form (CSRF-checked) on a POST, else `None`.
    fn sign_up_post(&self, post: bool) -> Result<Option<HashMap<String, String>>, Reply> {
        if post {
            self.form().map(Some)
        } else {
            Ok(None)
        }
    }

    /// `name` from the form, else the query.
    fn sign_up_param(&self, form: Option<&HashMap<String, String>>, name: &str) -> String {
        form.and_then(|f| f.get(name).cloned())
            .or_else(|| self.query(name))
            .unwrap_or_default()
    }

    /// A posted step: its form and the app it is for.
    fn sign_up_posted(&self) -> Result<(HashMap<String, String>, &App, &SignUp), Reply> {
        let form = self.form()?;
        let (app, sign_up) = self.sign_up_app(Some(&form))?;
        Ok((form, app, sign_up))
    }

    /// The app named by `app` in the form (else the query), if it takes
    /// sign-up requests; else a 404 page.
    fn sign_up_app(
        &self,
        form: Option<&HashMap<String, String>>,
    ) -> Result<(&App, &SignUp), Reply> {
        let name = self.sign_up_param(form, "app");
        access_requests::offered(&self.snapshot.config, &name).map_err(|_| {
            self.message(
                404,
                &self.t("msg-no-sign-up-title"),
                &self.t("msg-no-sign-up"),
            )
        })
    }

    fn sign_up_refused(&self, e: &SignUpError) -> Reply {
        match e {
            SignUpError::Member(_) => self.message(
                403,
                &self.t("msg-no-request-needed-title"),
                &self.t("msg-no-request-needed"),
            ),
            SignUpError::DomainNotAllowed(d) => self.message(
                403,
                &self.t("msg-domain-not-allowed-title"),
                &t!(self.lang, "msg-domain-not-allowed", domain = d.as_str()),
            ),
            other => self.unavailable("sign-up", other),
        }
    }

    /// Where links in mail point: the auth host as configured.
    fn sign_up_base(&self) -> String {
        crate::invitations::link_base(&self.snapshot.config).unwrap_or_else(|_| self.auth_origin())
    }

    fn to_sign_in(&self, back: &str) -> Reply {
        Reply::redirect(format!("{}?rd={}", paths::SIGN_IN, encode_component(back)))
    }

    /// Step 1, the page.
    async fn sign_up_start(&self) -> Reply {
        let (app, _) = match self.sign_up_app(None) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if let Some((_, user)) = self.auth_session().await
            && user.user_type == UserType::Guest
        {
            return Reply::redirect(format!("{FORM}?app={}", encode_component(&app.name)));
        }
        self.sign_up_email_page(200, app, "", None)
    }

    fn sign_up_email_page(
        &self,
        status: u16,
        app: &App,
        email: &str,
        error: Option<&str>,
    ) -> Reply {
        self.form_page(
            status,
            "sign_up.html",
            context! {
                app => app.name, title => app.title, description => app.description,
                email, error,
            },
        )
    }

    /// Step 1, posted: check the address, make the guest, then sign in.
    async fn sign_up_email(&self) -> Reply {
        let (form, app, sign_up) = match self.sign_up_posted() {
            Ok(posted) => posted,
            Err(r) => return r,
        };
        let raw = form.get("email").map(String::as_str).unwrap_or("");
        let Some(email) = crate::mail::normalise_email(raw) else {
            return self.sign_up_email_page(400, app, raw, Some(&self.t("msg-email-invalid")));
        };
        if let Err(e) = access_requests::check_domain(&self.snapshot.config, sign_up, &email) {
            return self.sign_up_refused(&e);
        }
        let client = self.client_key();
        let limit = RateLimit {
            bucket: "sign-up-ip",
            key: &client,
            max: EMAIL_PER_IP,
        };
        match self.rate_limited(&[limit], EMAIL_WINDOW).await {
            Ok(true) => {
                return self.sign_up_email_page(
                    429,
                    app,
                    &email,
                    Some(&self.t("msg-too-many-requests")),
                );
            }
            Ok(false) => {}
            Err(e) => return self.unavailable("rate limit", &e),
        }
        if let Err(e) = access_requests::guest_for(&self.gateway.store, &email, self.time()).await {
            return self.sign_up_refused(&e);
        }
        let rd = format!("{FORM}?app={}", encode_component(&app.name));
        if let Some((_, user)) = self.auth_session().await
            && user.email.eq_ignore_ascii_case(&email)
        {
            return Reply::redirect(rd);
        }
        if !sign_up.idps.is_empty() {
            // Only the IdPs the app names, whatever claims the domain.
            return self.form_page(
                200,
                "sign_up_idp.html",
                context! {
                    app => app.name, title => app.title, email,
                    options => sign_up.idps.iter().map(|name| {
                        let (icon, letter) = self.icon(name);
                        let label = t!(self.lang, "msg-sign-in-with", idp = self.idp_title(name));
                        context! { name, label, icon, letter }
                    }).collect::<Vec<_>>(),
                },
            );
        }
        // The sign-in page, the address filled in: one click on.
        self.form_page(200, "sign_in.html", context! { rd, email, reauth => false })
    }

    /// Step 2 with `sign_up.idps`: the IdP chosen, on to it.
    async fn sign_up_idp(&self) -> Reply {
        let (form, app, sign_up) = match self.sign_up_posted() {
            Ok(posted) => posted,
            Err(r) => return r,
        };
        let (Some(email), Some(method)) = (
            form.get("email")
                .and_then(|e| crate::mail::normalise_email(e)),
            form.get("method"),
        ) else {
            return self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-form-incomplete"),
            );
        };
        // A forged `method` must not reach an IdP the app does not offer.
        if !sign_up.idps.iter().any(|i| i == method) {
            return self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-method-not-offered"),
            );
        }
        if let Err(e) = access_requests::check_domain(&self.snapshot.config, sign_up, &email) {
            return self.sign_up_refused(&e);
        }
        let rd = format!("{FORM}?app={}", encode_component(&app.name));
        self.go(method, &email, &rd).await
    }

    /// Step 3: the attribute form, and the request.
    async fn sign_up_form(&self, post: bool) -> Reply {
        let form = match self.sign_up_post(post) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let (app, sign_up) = match self.sign_up_app(form.as_ref()) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let here = format!("{FORM}?app={}", encode_component(&app.name));
        let Some((claims, user)) = self.auth_session().await else {
            return self.to_sign_in(&here);
        };
        if user.user_type == UserType::Member {
            return self.sign_up_refused(&SignUpError::Member(user.email.clone()));
        }
        // Checked again for whoever signed in: the address given in step 1
        // proves nothing about the account used to sign in.
        if let Err(e) = access_requests::check_domain(
            &self.snapshot.config,
            sign_up,
            &user.email.to_ascii_lowercase(),
        ) {
            return self.sign_up_refused(&e);
        }
        let store = &self.gateway.store;
        match store.assignments_of_user(&user.id).await {
            Ok(a)
                if a.iter()
                    .any(|a| a.app == app.name && a.is_live(self.time())) =>
            {
                return self.to_apps(
                    200,
                    &self.t("msg-have-access-title"),
                    &t!(self.lang, "msg-have-access", app = &app.title),
                );
            }
            Ok(_) => {}
            Err(e) => return self.unavailable("assignments", &e),
        }
        let Some(form) = form else {
            return match store.pending_access_request(&app.name, &user.id).await {
                Ok(Some(_)) => self.sign_up_pending(app),
                Ok(None) => self.sign_up_form_page(200, app, sign_up, &user, &HashMap::new(), None),
                Err(e) => self.unavailable("sign-up request", &e),
            };
        };
        let answers = match access_requests::answers(sign_up, &form) {
            Ok(a) => a,
            Err(SignUpError::Invalid { message, .. }) => {
                return self.sign_up_form_page(400, app, sign_up, &user, &form, Some(&message));
            }
            Err(e) => return self.unavailable("sign-up", &e),
        };
        let outcome = access_requests::request(
            &self.snapshot.config,
            store,
            self.portal.mailer(),
            &self.sign_up_base(),
            app,
            &user,
            answers,
            self.time(),
        )
        .await;
        match outcome {
            Ok(Outcome::Pending(_)) => self.to_apps(
                200,
                &self.t("msg-request-sent-title"),
                &t!(self.lang, "msg-request-sent", app = &app.title),
            ),
            Ok(Outcome::AlreadyPending(_)) => self.sign_up_pending(app),
            Ok(Outcome::Approved(_)) => {
                self.gateway.directory.invalidate_user(&user.id);
                self.sign_up_to_app(&claims, app).await
            }
            Err(e) => self.sign_up_refused(&e),
        }
    }

    fn sign_up_pending(&self, app: &App) -> Reply {
        self.to_apps(
            200,
            &self.t("msg-request-pending-title"),
            &t!(self.lang, "msg-request-pending", app = &app.title),
        )
    }

    fn sign_up_form_page(
        &self,
        status: u16,
        app: &App,
        sign_up: &SignUp,
        user: &User,
        values: &HashMap<String, String>,
        error: Option<&str>,
    ) -> Reply {
        let attributes: Vec<minijinja::Value> = sign_up
            .attributes
            .iter()
            .map(|a| {
                context! {
                    name => a.name, label => a.label, required => a.required,
                    value => values.get(&format!("attr_{}", a.name)),
                }
            })
            .collect();
        self.form_page(
            status,
            "sign_up_form.html",
            context! {
                app => app.name, title => app.title, email => user.email, attributes, error,
                automatic => sign_up.approval == Approval::Automatic,
            },
        )
    }

    /// Approved at once: on to the app (a hand-off, as after sign-in).
    async fn sign_up_to_app(&self, claims: &SessionClaims, app: &App) -> Reply {
        let Some(host) = app.hosts.first() else {
            return Reply::redirect(paths::APPS.to_string());
        };
        let path = app.path_prefix.clone().unwrap_or_else(|| "/".into());
        let url = format!("{}://{host}{}{path}", self.scheme(), self.req.port_suffix);
        self.handoff(claims, &url).await
    }

    /// Step 4: an owner of the request's app reviews it.
    async fn sign_up_review(&self, post: bool) -> Reply {
        let form = match self.sign_up_post(post) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let id = self.sign_up_param(form.as_ref(), "id");
        let not_found = || {
            self.message(
                404,
                &self.t("msg-request-not-found-title"),
                &self.t("msg-request-not-found"),
            )
        };
        if id.is_empty() || id.len() > 128 {
            return not_found();
        }
        let Some((claims, user)) = self.auth_session().await else {
            return self.to_sign_in(&format!("{REVIEW}?id={}", encode_component(&id)));
        };
        let store = &self.gateway.store;
        let req = match store.get_access_request(&id).await {
            Ok(Some(r)) => r,
            Ok(None) => return not_found(),
            Err(e) => return self.unavailable("sign-up request", &e),
        };
        let Some(app) = self.snapshot.config.apps.iter().find(|a| a.name == req.app) else {
            return not_found();
        };
        // Owners of this app only: owning another app grants nothing here.
        if !access_requests::is_owner(app, &user.email, &claims.groups) {
            return self.message(
                403,
                &self.t("msg-not-owner-title"),
                &self.t("msg-not-owner"),
            );
        }
        if let Some(form) = form {
            let approve = match form.get("decision").map(String::as_str) {
                Some("approve") => true,
                Some("deny") => false,
                _ => {
                    return self.message(
                        400,
                        &self.t("error-bad-request-title"),
                        &self.t("msg-approve-or-deny"),
                    );
                }
            };
            let decided = access_requests::decide_request(
                &self.snapshot.config,
                store,
                self.portal.mailer(),
                &self.sign_up_base(),
                &req.id,
                approve,
                &user.email,
                self.time(),
            )
            .await;
            return match decided {
                Ok(r) => {
                    self.gateway.directory.invalidate_user(&r.user_id);
                    let (title, text) = if approve {
                        (
                            self.t("msg-request-approved-title"),
                            t!(self.lang, "msg-request-approved", app = &app.title),
                        )
                    } else {
                        (
                            self.t("msg-request-denied-title"),
                            self.t("msg-request-denied"),
                        )
                    };
                    self.message(200, &title, &text)
                }
                Err(SignUpError::AlreadyDecided(r)) => self.message(
                    409,
                    &self.t("msg-already-decided-title"),
                    &match r.decided_by {
                        Some(who) => t!(
                            self.lang,
                            "sign-up-review-decided-by",
                            status = self.t(&format!("request-status-{}", r.status.as_str())),
                            who = who
                        ),
                        None => t!(
                            self.lang,
                            "sign-up-review-decided",
                            status = self.t(&format!("request-status-{}", r.status.as_str()))
                        ),
                    },
                ),
                Err(SignUpError::NotFound(_)) => not_found(),
                Err(e) => self.unavailable("sign-up decision", &e),
            };
        }
        let requester = match store.get_user(&req.user_id).await {
            Ok(u) => u.map_or_else(|| req.user_id.clone(), |u| u.email),
            Err(e) => return self.unavailable("sign-up request", &e),
        };
        let sign_up = app.sign_up.as_ref();
        let answers: Vec<minijinja::Value> = req
            .attributes
            .iter()
            .map(|(name, value)| {
                let label = sign_up
                    .and_then(|s| s.attributes.iter().find(|a| &a.name == name))
                    .map_or(name.as_str(), |a| a.label.as_str());
                context! { label, value }
            })
            .collect();
        self.form_page(
            200,
            "sign_up_review.html",
            context! {
                id => req.id, requester, answers,
                title => app.title,
                asked => self.date(req.created_at),
                pending => req.status == RequestStatus::Pending,
                status => self.t(&format!("request-status-{}", req.status.as_str())),
                decided_by => req.decided_by,
                days => sign_up.map_or(30, |s| s.access_days),
            },
        )
    }
}
