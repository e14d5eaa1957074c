//! The redirect round trip that OIDC and OAuth 2.0 sign-ins share: the
//! pending sign-in waits as a single-use ticket under its `state`, bound to
//! this browser's flow cookie; the callback takes it (so it is used once),
//! checks that the same browser came back and that the provider did not
//! answer with an error, and hands the pending sign-in and the code on.

use crate::oidc::ct_eq;
use crate::portal::{Handler, PENDING_TTL_SECS, Reply, digest};
use openidconnect::url::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A pending sign-in as its ticket keeps it.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending<P> {
    /// What the protocol needs to finish (PKCE verifier, nonce, idp name).
    pub pending: P,
    /// Where the person goes after signing in.
    pub rd: String,
    /// Digest of the browser's flow cookie: the callback must come back to
    /// the browser that started it.
    pub flow: String,
}

/// What the provider's answer needs from the protocol's pending state.
pub(super) trait PendingSignIn: Serialize + DeserializeOwned {
    fn idp_name(&self) -> &str;
    /// The metric label of the `error` the provider sent back.
    fn callback_error(error: &str) -> &'static str;
}

impl Handler<'_> {
    /// Keeps `pending` under `state` (ticket kind `kind`) for this browser
    /// and sends the browser to the provider at `url`.
    pub(super) async fn to_provider<P: PendingSignIn>(
        &self,
        kind: &str,
        state: &str,
        pending: P,
        rd: &str,
        url: &Url,
    ) -> Reply {
        let (flow, set) = self.flow();
        let ticket = Pending {
            pending,
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
            .put_ticket(kind, state, &payload, expires, self.time())
            .await
        {
            return self.unavailable("pending sign-in", &e);
        }
        let reply = Reply::redirect(url.to_string());
        match set {
            Some(c) => reply.with_cookie(c),
            None => reply,
        }
    }

    /// The provider sent the browser back: the ticket its `state` names,
    /// taken, from this browser, without an error; then the pending sign-in,
    /// the `state` and the code. Anything else is the page to answer.
    pub(super) async fn back_from_provider<P: PendingSignIn>(
        &self,
        kind: &str,
    ) -> Result<(Pending<P>, String, String), Reply> {
        let incomplete = || {
            self.start_again(
                400,
                &self.t("msg-sign-in-failed-title"),
                &self.t("msg-answer-incomplete"),
            )
        };
        let Some(state) = self.query("state") else {
            return Err(incomplete());
        };
        // A wrong `state` names no ticket: forged, replayed or from another
        // sign-in (login CSRF). Nothing is taken.
        let ticket = match self
            .gateway
            .store
            .take_ticket(kind, &state, self.time())
            .await
        {
            Ok(t) => t.and_then(|p| serde_json::from_str::<Pending<P>>(&p).ok()),
            Err(e) => return Err(self.unavailable("pending sign-in", &e)),
        };
        let Some(ticket) = ticket else {
            return Err(self.start_again(
                400,
                &self.t("msg-sign-in-expired-title"),
                &self.t("msg-sign-in-expired"),
            ));
        };
        let idp = ticket.pending.idp_name().to_string();
        let same_browser = self
            .cookie(self.flow_cookie_name())
            .is_some_and(|f| ct_eq(digest(&["flow", f]).as_bytes(), ticket.flow.as_bytes()));
        if !same_browser {
            self.count_sign_in(&idp, "other_browser");
            return Err(self.start_again(
                400,
                &self.t("msg-sign-in-failed-title"),
                &self.t("msg-other-browser"),
            ));
        }
        if let Some(error) = self.query("error") {
            self.count_sign_in(&idp, P::callback_error(&error));
            return Err(self.start_again(
                400,
                &self.t("msg-sign-in-failed-title"),
                &self.t("msg-idp-said-no"),
            ));
        }
        let Some(code) = self.query("code") else {
            return Err(incomplete());
        };
        Ok((ticket, state, code))
    }
}
