//! Sign-in with a partner's SAML IdP (`crate::saml`), in three steps:
//!
//! 1. `start_saml`: an `AuthnRequest` over HTTP-Redirect. The pending
//!    sign-in waits as a single-use ticket under a random `RelayState` (an
//!    opaque handle of 22 bytes, never a URL), holding the request id and a
//!    digest of this browser's flow cookie.
//! 2. The ACS (`POST /.portcullis/saml/<idp>/acs`): the IdP's cross-site
//!    form post. The flow cookie is `SameSite=Lax`, so the browser does not
//!    send it here; the response is verified (`saml::verify`), its assertion
//!    id recorded against replay, and what it says kept as a second
//!    single-use ticket. The answer is a 303 to …
//! 3. `GET /.portcullis/saml/<idp>/acs?done=…`: a top-level GET navigation,
//!    on which Lax cookies are sent; the flow cookie must match the one that
//!    started the sign-in (login CSRF), then the person goes on to
//!    `complete` with the IdP's raw groups.

use super::SignedIn;
use crate::config::IdpKind;
use crate::mail::normalise_email;
use crate::oidc::ct_eq;
use crate::portal::{Handler, PENDING_TTL_SECS, Reply, digest, random_token};
use crate::saml::{Expected, SamlError, SamlIdp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const PENDING_KIND: &str = "saml";
const DONE_KIND: &str = "saml-done";
/// Assertion ids seen, kept until they expire (replay, across replicas).
const SEEN_KIND: &str = "saml-assertion";

#[derive(Serialize, Deserialize)]
struct PendingSaml {
    idp: String,
    request_id: String,
    rd: String,
    flow: String,
}

/// A verified sign-in between the ACS and the same-site step.
#[derive(Serialize, Deserialize)]
struct DoneSaml {
    idp: String,
    subject: String,
    email: String,
    name: Option<String>,
    groups: Vec<String>,
    /// The assertion's `AuthnContextClassRef`s.
    authn_contexts: Vec<String>,
    auth_time: i64,
    rd: String,
    /// `None` for an IdP-initiated sign-in (no browser to bind it to).
    flow: Option<String>,
}

impl Handler<'_> {
    fn saml_idp(&self, name: &str) -> Option<Arc<SamlIdp>> {
        self.snapshot
            .config
            .idps
            .iter()
            .find_map(|i| match &i.kind {
                IdpKind::Saml(s) if i.name == name => Some(s.clone()),
                _ => None,
            })
    }

    /// Our entity id (the metadata's URL) and ACS URL for the idp.
    fn saml_sp(&self, name: &str) -> (String, String) {
        let (metadata, acs) = crate::saml::sp_paths(name);
        let origin = self.auth_origin();
        (format!("{origin}{metadata}"), format!("{origin}{acs}"))
    }

    /// The IdP's sign-out for the session `claims` (signed out already, or
    /// being so): a `LogoutRequest` redirect for the NameID the user is
    /// keyed by, when the session came from a SAML idp whose metadata has a
    /// SingleLogoutService. `None` otherwise, and on any error (the link is
    /// a courtesy; our own session is what was ended).
    pub(super) async fn saml_sign_out_url(
        &self,
        claims: &crate::session::SessionClaims,
    ) -> Option<String> {
        let idp = self.saml_idp(&claims.idp)?;
        let md = idp.metadata().await.ok()?;
        md.slo_redirect.as_ref()?;
        let user = self.gateway.store.get_user(&claims.sub).await.ok()??;
        let identity = user.identity.filter(|i| i.idp == idp.name)?;
        // The subject is a persistent NameID, or the e-mail when the IdP
        // sent none (saml_acs).
        let persistent = !identity.subject.eq_ignore_ascii_case(&user.email);
        let (entity_id, _) = self.saml_sp(&idp.name);
        crate::saml::logout::redirect_url(
            &md,
            &entity_id,
            &crate::saml::logout::LoggedOut {
                name_id: &identity.subject,
                persistent,
            },
            idp.sp_key.as_ref(),
        )
        .ok()
        .flatten()
    }

    /// Everything under `/.portcullis/saml/`.
    pub(super) async fn saml(&self) -> Reply {
        let rest = self
            .req
            .path
            .strip_prefix(crate::saml::PREFIX)
            .unwrap_or("");
        let Some((name, what)) = rest.split_once('/') else {
            return self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            );
        };
        let Some(idp) = self.saml_idp(name) else {
            return self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            );
        };
        match (what, self.req.method) {
            ("metadata", "GET") => self.saml_metadata(&idp),
            ("acs", "POST") => self.saml_acs(&idp).await,
            ("acs", "GET") => self.saml_done(&idp).await,
            _ => self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            ),
        }
    }

    fn saml_metadata(&self, idp: &SamlIdp) -> Reply {
        let (entity_id, acs) = self.saml_sp(&idp.name);
        let cert = idp.sp_key.as_ref().map(|k| k.cert_der.as_slice());
        Reply {
            status: 200,
            content_type: "application/samlmetadata+xml",
            headers: vec![("x-content-type-options", "nosniff".into())],
            body: crate::saml::metadata::sp_metadata(&entity_id, &acs, cert).into_bytes(),
        }
    }

    /// To the IdP; `reauth` asks it for a fresh sign-in (`ForceAuthn`).
    pub(super) async fn start_saml(&self, name: &str, rd: &str, reauth: bool) -> Reply {
        let Some(idp) = self.saml_idp(name) else {
            return self.start_again(
                400,
                &self.t("error-bad-request-title"),
                &self.t("msg-method-not-offered"),
            );
        };
        let md = match idp.metadata().await {
            Ok(m) => m,
            Err(e) => {
                self.count_sign_in(name, e.as_str());
                return self.unavailable("identity provider metadata", &e);
            }
        };
        let (entity_id, acs) = self.saml_sp(name);
        let relay_state = random_token(16);
        let (url, request_id) = match crate::saml::request::redirect_url(
            &md,
            &entity_id,
            &acs,
            &relay_state,
            idp.sp_key.as_ref(),
            reauth,
        ) {
            Ok(r) => r,
            Err(e) => return self.unavailable("saml request", &e),
        };
        let (flow, set) = self.flow();
        let ticket = PendingSaml {
            idp: name.to_string(),
            request_id,
            rd: rd.to_string(),
            flow: digest(&["flow", &flow]),
        };
        let payload = match serde_json::to_string(&ticket) {
            Ok(p) => p,
            Err(e) => return self.unavailable("pending sign-in", &e),
        };
        let expires = self.time() + time::Duration::seconds(PENDING_TTL_SECS);
        if let Err(e) = self
            .gateway
            .store
            .put_ticket(PENDING_KIND, &relay_state, &payload, expires, self.time())
            .await
        {
            return self.unavailable("pending sign-in", &e);
        }
        let reply = Reply::redirect(url);
        match set {
            Some(c) => reply.with_cookie(c),
            None => reply,
        }
    }

    /// The IdP's HTTP-POST: verify, record, and hand on to the same-site step.
    async fn saml_acs(&self, idp: &SamlIdp) -> Reply {
        let name = idp.name.as_str();
        let form: std::collections::HashMap<String, String> =
            openidconnect::url::form_urlencoded::parse(&self.req.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let failed = |me: &Self, result: &str| {
            me.count_sign_in(name, result);
            me.start_again(
                400,
                &self.t("msg-sign-in-failed-title"),
                &self.t("msg-answer-unverified"),
            )
        };
        let Some(response) = form.get("SAMLResponse") else {
            return failed(self, "incomplete");
        };
        // RelayState is our handle or nothing; a value we did not issue
        // (a URL, say) is never followed.
        let pending = match form.get("RelayState").filter(|r| !r.is_empty()) {
            Some(rs) if rs.len() <= crate::saml::request::MAX_RELAY_STATE => {
                match self
                    .gateway
                    .store
                    .take_ticket(PENDING_KIND, rs, self.time())
                    .await
                {
                    Ok(t) => t.and_then(|p| serde_json::from_str::<PendingSaml>(&p).ok()),
                    Err(e) => return self.unavailable("pending sign-in", &e),
                }
            }
            _ => None,
        };
        let pending = match pending {
            Some(p) if p.idp == name => Some(p),
            Some(_) => return failed(self, "wrong_idp"),
            None if idp.allow_idp_initiated => None,
            None => return failed(self, "unsolicited"),
        };
        let md = match idp.metadata().await {
            Ok(m) => m,
            Err(e) => return self.unavailable("identity provider metadata", &e),
        };
        let (entity_id, acs) = self.saml_sp(name);
        // libxmlsec1 work is CPU-bound: off the async workers.
        let verified = {
            let response = response.clone();
            let md = md.clone();
            let idp_arc = self.saml_idp(name);
            let request_id = pending.as_ref().map(|p| p.request_id.clone());
            tokio::task::spawn_blocking(move || {
                let idp = idp_arc.ok_or(SamlError::Refused("unknown idp"))?;
                crate::saml::verify::response(
                    &response,
                    &idp,
                    &md,
                    &Expected {
                        entity_id: &entity_id,
                        acs_url: &acs,
                        request_id: request_id.as_deref(),
                    },
                )
            })
            .await
            .unwrap_or(Err(SamlError::Refused("verification task failed")))
        };
        let v = match verified {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(request_id = %self.req.request_id, idp = %name, error = %e, "saml sign-in refused");
                return failed(self, e.as_str());
            }
        };
        // Replay: the assertion id is kept until the assertion expires; a
        // second use (here or on another replica, through the store) is a
        // conflict.
        let seen_until = time::OffsetDateTime::from_unix_timestamp(v.expires)
            .unwrap_or(self.time() + time::Duration::hours(1));
        match self
            .gateway
            .store
            .put_ticket(
                SEEN_KIND,
                &format!("{name}\u{0}{}", v.assertion_id),
                "",
                seen_until,
                self.time(),
            )
            .await
        {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict { .. }) => {
                tracing::info!(request_id = %self.req.request_id, idp = %name, "saml assertion replayed");
                return failed(self, SamlError::Replayed.as_str());
            }
            Err(e) => return self.unavailable("replay check", &e),
        }
        let Some(email) = v.email.as_deref().and_then(normalise_email) else {
            return failed(self, "no_email");
        };
        if !idp.serves_email(&email) {
            self.count_sign_in(name, "domain_not_served");
            return self.start_again(
                403,
                &self.t("msg-sign-in-refused-title"),
                &self.t("msg-sign-in-refused"),
            );
        }
        // Users are keyed by IdP + a persistent NameID, else the e-mail.
        let subject = match (&v.name_id, v.name_id_persistent) {
            (Some(n), true) if !n.is_empty() => n.clone(),
            _ => email.clone(),
        };
        let (rd, flow) = match pending {
            Some(p) => (p.rd, Some(p.flow)),
            // IdP-initiated: the apps page, never a URL from the response.
            None => (String::new(), None),
        };
        let done = DoneSaml {
            idp: name.to_string(),
            subject,
            email,
            name: v.name,
            groups: v.groups,
            authn_contexts: v.authn_contexts,
            auth_time: v.authn_instant.unwrap_or(self.now).min(self.now),
            rd,
            flow,
        };
        let code = random_token(24);
        let payload = match serde_json::to_string(&done) {
            Ok(p) => p,
            Err(e) => return self.unavailable("pending sign-in", &e),
        };
        let expires = self.time() + time::Duration::seconds(60);
        if let Err(e) = self
            .gateway
            .store
            .put_ticket(DONE_KIND, &code, &payload, expires, self.time())
            .await
        {
            return self.unavailable("pending sign-in", &e);
        }
        let (_, acs_path) = crate::saml::sp_paths(name);
        Reply {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            headers: vec![
                ("location", format!("{acs_path}?done={code}")),
                ("referrer-policy", "no-referrer".into()),
            ],
            body: Vec::new(),
        }
    }

    /// The same-site step: the browser that started the sign-in finishes it.
    async fn saml_done(&self, idp: &SamlIdp) -> Reply {
        let Some(code) = self.query("done") else {
            return self.message(
                404,
                &self.t("error-not-found-title"),
                &self.t("error-nothing-here"),
            );
        };
        let done = match self
            .gateway
            .store
            .take_ticket(DONE_KIND, &code, self.time())
            .await
        {
            Ok(t) => t.and_then(|p| serde_json::from_str::<DoneSaml>(&p).ok()),
            Err(e) => return self.unavailable("pending sign-in", &e),
        };
        let Some(done) = done.filter(|d| d.idp == idp.name) else {
            return self.start_again(
                400,
                &self.t("msg-sign-in-expired-title"),
                &self.t("msg-sign-in-expired"),
            );
        };
        if let Some(flow) = &done.flow {
            let same_browser = self
                .cookie(self.flow_cookie_name())
                .is_some_and(|f| ct_eq(digest(&["flow", f]).as_bytes(), flow.as_bytes()));
            if !same_browser {
                self.count_sign_in(&idp.name, "other_browser");
                return self.start_again(
                    400,
                    &self.t("msg-sign-in-failed-title"),
                    &self.t("msg-other-browser"),
                );
            }
        }
        // An empty `rd` (IdP-initiated) lands on the apps page.
        let rd = done.rd;
        self.complete(
            SignedIn {
                idp: done.idp,
                subject: done.subject,
                authoritative: idp.serves_email(&done.email),
                email: done.email,
                name: done.name,
                groups: done.groups,
                // `complete` decides MFA (crate::trust): `mfa: trusted` and
                // an `AuthnContextClassRef` listed in `mfa_authn_contexts`.
                amr: done.authn_contexts,
                acr: None,
                mfa: false,
                auth_time: done.auth_time,
            },
            &rd,
        )
        .await
    }
}
