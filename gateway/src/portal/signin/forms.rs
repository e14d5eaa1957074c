//! What every step's form shares: the random flow cookie that binds a
//! sign-in to one browser, the CSRF token derived from it, and return URLs
//! (`rd`), which may only lead to an app host of this gateway.

use crate::oidc::ct_eq;
use crate::portal::{Handler, Reply, digest, random_token};
use minijinja::context;
use openidconnect::url::Url;
use std::collections::HashMap;

/// Where a return URL leads: an app host of this gateway.
pub(in crate::portal) struct Target {
    pub host: String,
    pub path: String,
}

impl Handler<'_> {
    // ---- browser binding and CSRF ------------------------------------------

    pub(super) fn flow_cookie_name(&self) -> &'static str {
        if self.req.https {
            "__Host-portcullis_flow"
        } else {
            "portcullis_flow"
        }
    }

    /// This browser's flow id, and the `Set-Cookie` to send when it is new.
    pub(super) fn flow(&self) -> (String, Option<String>) {
        match self.cookie(self.flow_cookie_name()) {
            Some(v)
                if v.len() == 22
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                (v.to_string(), None)
            }
            _ => {
                let v = random_token(16);
                let mut c = format!(
                    "{}={v}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax",
                    self.flow_cookie_name()
                );
                if self.req.https {
                    c.push_str("; Secure");
                }
                (v, Some(c))
            }
        }
    }

    /// A page with a form: adds the CSRF token (and the flow cookie).
    pub(in crate::portal) fn form_page(
        &self,
        status: u16,
        template: &str,
        ctx: minijinja::Value,
    ) -> Reply {
        let (flow, set) = self.flow();
        let csrf = digest(&["csrf", &flow]);
        // The app the person is on the way to (from `rd`), so every step
        // can name it, and its owners, to ask when a step is stuck.
        let app = ctx
            .get_attr("rd")
            .ok()
            .and_then(|rd| rd.as_str().and_then(|rd| self.target(rd)))
            .and_then(|t| {
                let path = t.path.split('?').next().unwrap_or_default();
                self.snapshot.routes.find(&t.host, path)
            })
            .and_then(|i| self.snapshot.config.apps.get(i));
        let going_to = app.map(|a| a.title.as_str());
        let going_to_owners = app.map(|a| crate::refusal::owner_emails(a).join(", "));
        // A local IdP signs in with a password kept here: "we never see
        // your password" would not be true.
        let local_passwords = self
            .snapshot
            .config
            .idps
            .iter()
            .any(|i| matches!(i.kind, crate::config::IdpKind::Local(_)));
        // "Sign in with a passkey" (`sign_in.passkeys.sign_in`) on the
        // pages that start a sign-in; they then run the passkey script.
        let passkey_sign_in =
            self.sign_in.passkey_sign_in && matches!(template, "sign_in.html" | "passcode.html");
        let reply = self.page(
            status,
            template,
            context! { csrf, going_to, going_to_owners, local_passwords, passkey_sign_in, ..ctx },
        );
        let reply = if passkey_sign_in {
            reply.with_script()
        } else {
            reply
        };
        match set {
            Some(c) => reply.with_cookie(c),
            None => reply,
        }
    }

    /// The posted form, if it carries this browser's CSRF token and comes
    /// from this origin.
    /// The checked form of a POST; `None` for a GET (a page that is also
    /// a form's target).
    pub(in crate::portal) fn posted_form(&self) -> Result<Option<HashMap<String, String>>, Reply> {
        if self.req.method == "POST" {
            self.form().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(in crate::portal) fn form(&self) -> Result<HashMap<String, String>, Reply> {
        let form: HashMap<String, String> =
            openidconnect::url::form_urlencoded::parse(&self.req.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let origin_ok = match self.req.headers.get("origin") {
            None => true,
            Some(o) => o.as_bytes() == self.auth_origin().as_bytes(),
        };
        let token_ok = match (self.cookie(self.flow_cookie_name()), form.get("csrf")) {
            (Some(flow), Some(sent)) => ct_eq(digest(&["csrf", flow]).as_bytes(), sent.as_bytes()),
            _ => false,
        };
        if origin_ok && token_ok {
            Ok(form)
        } else {
            Err(self.start_again(
                403,
                &self.t("msg-page-expired-title"),
                &self.t("msg-page-expired"),
            ))
        }
    }

    // ---- return URLs -------------------------------------------------------

    /// `rd` if it is a URL on an app host of this gateway, with this
    /// request's scheme and port; `None` otherwise (open redirects).
    pub(in crate::portal) fn target(&self, rd: &str) -> Option<Target> {
        if rd.len() > 4096 || rd.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
            return None;
        }
        let url = Url::parse(rd).ok()?;
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        if url.scheme() != self.scheme()
            || !url.username().is_empty()
            || url.password().is_some()
            || port != self.req.port_suffix
        {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if host == self.sign_in.host || self.snapshot.routes.find(&host, url.path()).is_none() {
            return None;
        }
        Some(Target { host, path })
    }

    pub(in crate::portal) fn rd(&self, form: Option<&HashMap<String, String>>) -> String {
        form.and_then(|f| f.get("rd").cloned())
            .or_else(|| self.query("rd"))
            .unwrap_or_default()
    }
}
