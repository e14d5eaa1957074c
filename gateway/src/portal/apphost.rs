//! `/.portcullis/…` on an app host: send the browser to the auth host
//! (sign-in, MFA), take the auth host's one-time code and set this host's
//! own cookie, and sign out.

use super::{Handler, Reply, paths};
use crate::html::encode_component;
use crate::session::{SessionClaims, cookie};
use serde::{Deserialize, Serialize};

/// What a hand-off code stands for: a session for exactly one app host.
#[derive(Serialize, Deserialize)]
pub(super) struct Handoff {
    /// The app host the code may be redeemed on.
    pub host: String,
    /// The path and query to land on there.
    pub path: String,
    pub claims: SessionClaims,
}

pub(super) const HANDOFF_KIND: &str = "handoff";

/// A return path on this same host: starts with one `/`, no `//` or `/\`
/// (which browsers read as another host), no control characters.
pub(super) fn local_path(rd: Option<&str>) -> String {
    match rd {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2048
                && !p
                    .bytes()
                    .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

impl Handler<'_> {
    pub(super) async fn app_host(&self) -> Reply {
        let path = self.req.path;
        if path == paths::SIGN_IN || path == paths::MFA {
            // To the auth host, with this host's URL to come back to. A valid
            // cookie here means the app asked for a fresher sign-in
            // (sign-in frequency): the auth host must not hand the same
            // session back.
            let rd = local_path(self.query("rd").as_deref());
            let back = format!(
                "{}://{}{}{}",
                self.scheme(),
                self.req.host,
                self.req.port_suffix,
                rd
            );
            let mut location = format!(
                "{}{}?rd={}",
                self.auth_origin(),
                path,
                encode_component(&back)
            );
            if path == paths::SIGN_IN && self.session().is_some() {
                location.push_str("&reauth=1");
            }
            // The strength the app's policies asked for, so that the step-up
            // page offers only methods that meet it.
            if path == paths::MFA && self.query("strength").as_deref() == Some("phishing_resistant")
            {
                location.push_str("&strength=phishing_resistant");
            }
            return Reply::redirect(location);
        }
        if path == paths::SESSION {
            return self.redeem_handoff().await;
        }
        if path == paths::SIGN_OUT {
            if let Some(claims) = self.session()
                && let Err(e) = self.revoke(&claims).await
            {
                return self.unavailable("revoke session", &e);
            }
            // "Switch account" (the refusal pages): signed out, straight on
            // to sign in again, back to the page that was refused. Else the
            // signed-out page, which offers to sign in to this app again.
            let to = if self.query("switch").as_deref() == Some("1") {
                let back = format!(
                    "{}://{}{}{}",
                    self.scheme(),
                    self.req.host,
                    self.req.port_suffix,
                    local_path(self.query("rd").as_deref())
                );
                format!(
                    "{}{}?reauth=1&rd={}",
                    self.auth_origin(),
                    paths::SIGN_IN,
                    encode_component(&back)
                )
            } else {
                let app = self
                    .req
                    .app
                    .and_then(|i| self.snapshot.config.apps.get(i))
                    .map(|a| format!("?app={}", encode_component(&a.name)))
                    .unwrap_or_default();
                format!("{}{}{app}", self.auth_origin(), paths::SIGN_OUT)
            };
            return Reply::redirect(to).with_cookie(cookie::clear_cookie(self.req.https));
        }
        self.message(
            404,
            &self.t("error-not-found-title"),
            &self.t("error-nothing-here"),
        )
    }

    /// `/.portcullis/session?code=…`: the auth host's one-time code becomes
    /// this host's cookie.
    async fn redeem_handoff(&self) -> Reply {
        let Some(code) = self.query("code") else {
            return self.message(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-link-incomplete"),
            );
        };
        let taken = match self
            .gateway
            .store
            .take_ticket(HANDOFF_KIND, &code, self.time())
            .await
        {
            Ok(t) => t,
            Err(e) => return self.unavailable("take hand-off code", &e),
        };
        let handoff = taken.and_then(|p| serde_json::from_str::<Handoff>(&p).ok());
        let Some(handoff) = handoff.filter(|h| h.host == self.req.host) else {
            return self.start_again(
                400,
                &self.t("msg-link-expired-title"),
                &self.t("msg-link-expired"),
            );
        };
        let claims = SessionClaims {
            aud: self.req.host.to_string(),
            iat: self.now,
            ..handoff.claims
        };
        let token = match self.gateway.keys.load().issue(&claims) {
            Ok(t) => t,
            Err(e) => return self.unavailable("issue session", &e),
        };
        Reply::redirect(local_path(Some(&handoff.path))).with_cookie(cookie::set_cookie(
            &token,
            self.req.https,
            claims.exp - self.now,
        ))
    }

    /// Ends the session `claims.sid` on every host and replica.
    pub(super) async fn revoke(
        &self,
        claims: &SessionClaims,
    ) -> Result<(), crate::store::StoreError> {
        // This replica denies it at once; the others within their 1 s poll.
        self.gateway.revoke_session(&claims.sid, claims.exp).await
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn return_paths_stay_on_this_host() {
        assert_eq!(local_path(Some("/payroll?x=1")), "/payroll?x=1");
        for evil in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\\b",
            "/a\r\nSet-Cookie: x",
            "",
        ] {
            assert_eq!(local_path(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
