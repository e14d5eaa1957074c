//! Sign-in with an OAuth 2.0 provider that has no OpenID Connect
//! (`idps: - type: oauth2`): GitHub (and GitHub Enterprise Server),
//! Facebook, or any provider described by its three URLs and JSON pointers.
//! A library the sign-in endpoints call, like `crate::oidc`.
//!
//! 1. [`Oauth2Client::new`] runs when the portal is built: no discovery
//!    (these providers publish none), only the client secret and an HTTP
//!    client that sends a `User-Agent` (GitHub's API refuses requests
//!    without one) and never follows a redirect (SSRF, as in `oidc`).
//! 2. [`Oauth2Client::authorize_url`] makes the URL to send the browser to
//!    and the [`PendingOauth2`] the gateway keeps bound to that browser
//!    (`state` and the PKCE verifier).
//! 3. [`Oauth2Client::finish`] runs on the callback: state, the code
//!    exchanged with the PKCE verifier, then the profile read the
//!    provider's way (`profile`).
//!
//! **There is no ID token**, so nothing is signed by the provider: what the
//! gateway learns comes from the provider's API over TLS with the access
//! token it just obtained with its own client secret. Hence:
//! - the subject is the provider's numeric user id, never the login name
//!   (a GitHub login can be renamed, and the old name registered by someone
//!   else);
//! - an e-mail counts only when the provider says it is verified (GitHub:
//!   the primary, verified entry of `GET /user/emails`; Facebook returns
//!   `email` only once confirmed; the generic form's `email_verified`
//!   pointer must find `true`);
//! - no groups and no MFA: the identity carries neither.
//!
//! PKCE (S256) is always sent: GitHub and Facebook document it, and a
//! provider that does not know the parameters must ignore them (RFC 6749
//! section 3.1). Errors name no token, code or secret;
//! [`Oauth2Error::as_str`] is the `result` label of
//! `portcullis_sign_ins_total{idp,result}`.

mod config;
mod profile;

#[cfg(test)]
mod tests;

pub use config::{
    ClaimPointers, FACEBOOK_GRAPH_VERSION, GITHUB_API_URL, GITHUB_EMAIL_SCOPE, GITHUB_URL,
    Oauth2ClaimsFile, Oauth2ConfigError, Oauth2IdpConfig, Oauth2IdpFile, Oauth2Preset,
};

use crate::oidc::ct_eq;
use ::oauth2::basic::BasicClient;
use ::oauth2::url::Url;
use ::oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The reqwest the `oauth2` crate speaks (0.12, the one `openidconnect`
/// already uses).
pub use ::oauth2::reqwest;

/// How long a [`PendingOauth2`] is good for, as for OIDC.
pub const PENDING_TTL: Duration = crate::oidc::PENDING_TTL;

/// The `User-Agent` of every request to a provider. GitHub asks for the
/// application's name; a request without one gets `403`.
pub const USER_AGENT: &str = concat!("Portcullis/", env!("CARGO_PKG_VERSION"));

/// Why a sign-in did not produce an [`Oauth2Identity`]. No variant carries
/// token material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Oauth2Error {
    /// The callback's `state` is not the pending one (login CSRF).
    #[error("the sign-in response does not belong to this browser (state mismatch)")]
    StateMismatch,
    /// The pending sign-in was made for another idp.
    #[error("the pending sign-in was started with another identity provider")]
    WrongIdp,
    /// The pending sign-in is older than [`PENDING_TTL`].
    #[error("the sign-in took too long; start again")]
    PendingExpired,
    /// The token endpoint refused the code; the text is the provider's
    /// error code (or a fixed description).
    #[error("the identity provider refused the authorization code: {0}")]
    CodeExchangeFailed(String),
    /// The provider did not answer in time, or the connection failed.
    #[error("the identity provider is unreachable: {0}")]
    IdpUnreachable(String),
    /// The profile (userinfo, `/user`, `/user/emails`, `/me`) could not be
    /// read; the text says why.
    #[error("the identity provider's profile could not be read: {0}")]
    UserinfoFailed(String),
    /// The profile has no usable user id.
    #[error("the identity provider sent no user id")]
    MissingId,
    /// The verified e-mail is outside the idp's `domains`.
    #[error("the user's domain is not served by this identity provider")]
    DomainNotAllowed,
    /// The provider answered `error=access_denied` (the user said no).
    #[error("the identity provider denied the sign-in")]
    AccessDenied,
    /// The provider answered the authorization request with another error.
    #[error("the identity provider returned an error: {0}")]
    IdpError(String),
    /// The client cannot be built (secret unreadable, bad URL).
    #[error("{0}")]
    Config(String),
}

impl Oauth2Error {
    /// A stable snake_case name for `portcullis_sign_ins_total{result}`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Oauth2Error::StateMismatch => "state_mismatch",
            Oauth2Error::WrongIdp => "wrong_idp",
            Oauth2Error::PendingExpired => "pending_expired",
            Oauth2Error::CodeExchangeFailed(_) => "code_exchange_failed",
            Oauth2Error::IdpUnreachable(_) => "idp_unreachable",
            Oauth2Error::UserinfoFailed(_) => "userinfo_failed",
            Oauth2Error::MissingId => "missing_claim",
            Oauth2Error::DomainNotAllowed => "domain_not_allowed",
            Oauth2Error::AccessDenied => "access_denied",
            Oauth2Error::IdpError(_) => "idp_error",
            Oauth2Error::Config(_) => "config",
        }
    }

    /// The error for a callback with `error=CODE` instead of a code; only
    /// RFC 6749's codes are kept in the text (the rest is someone else's
    /// words, maybe a user's).
    pub fn from_callback(error: &str) -> Oauth2Error {
        const KNOWN: &[&str] = &[
            "invalid_request",
            "unauthorized_client",
            "unsupported_response_type",
            "invalid_scope",
            "server_error",
            "temporarily_unavailable",
            "redirect_uri_mismatch",
            "application_suspended",
        ];
        match error {
            "access_denied" => Oauth2Error::AccessDenied,
            e if KNOWN.contains(&e) => Oauth2Error::IdpError(e.to_string()),
            _ => Oauth2Error::IdpError("other".into()),
        }
    }
}

/// What the gateway keeps, server-side and bound to the browser, between
/// [`Oauth2Client::authorize_url`] and [`Oauth2Client::finish`]. Delete it
/// after `finish`, whatever the outcome. Contains a secret: never log it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOauth2 {
    /// The `state` sent (CSRF binding of the callback).
    pub state: String,
    /// The PKCE code verifier (S256).
    pub pkce_verifier: String,
    /// The configured name of the idp the sign-in started with.
    pub idp_name: String,
    /// The redirect URI sent; the token request repeats it.
    pub redirect_uri: String,
    /// When the sign-in started (Unix seconds).
    pub created_at: i64,
}

impl fmt::Debug for PendingOauth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingOauth2")
            .field("idp_name", &self.idp_name)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oauth2Identity {
    /// The configured idp name.
    pub idp: String,
    /// The provider's user id (a number, as decimal text, for the presets).
    pub subject: String,
    /// The e-mail, lower-cased, only when the provider verified it.
    pub email: Option<String>,
    /// Display name, if any.
    pub name: Option<String>,
}

/// A configured OAuth 2.0 provider. Cheap to share (`Arc`); lives in the
/// portal.
pub struct Oauth2Client {
    config: Oauth2IdpConfig,
    client_secret: ClientSecret,
    http: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for Oauth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oauth2Client")
            .field("idp", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Oauth2Client {
    /// Builds the client: reads the client secret and makes the HTTP client
    /// (every wait bounded by `timeout`; use [`crate::oidc::DEFAULT_TIMEOUT`]).
    /// Talks to nobody.
    pub fn new(config: Oauth2IdpConfig, timeout: Duration) -> Result<Self, Oauth2Error> {
        let secret = config.client_secret.read().map_err(Oauth2Error::Config)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| Oauth2Error::Config(format!("HTTP client: {e}")))?;
        Ok(Oauth2Client {
            config,
            client_secret: ClientSecret::new(secret),
            http,
            timeout,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &Oauth2IdpConfig {
        &self.config
    }

    fn client(
        &self,
        redirect_uri: &str,
    ) -> Result<
        BasicClient<
            ::oauth2::EndpointSet,
            ::oauth2::EndpointNotSet,
            ::oauth2::EndpointNotSet,
            ::oauth2::EndpointNotSet,
            ::oauth2::EndpointSet,
        >,
        Oauth2Error,
    > {
        let bad =
            |what: &str, e: ::oauth2::url::ParseError| Oauth2Error::Config(format!("{what}: {e}"));
        // GitHub and Facebook document the client credentials as request
        // parameters; RFC 6749 section 2.3.1 makes Basic the one every
        // other server must accept.
        let auth_type = match self.config.preset {
            Oauth2Preset::Generic => AuthType::BasicAuth,
            _ => AuthType::RequestBody,
        };
        Ok(
            BasicClient::new(ClientId::new(self.config.client_id.clone()))
                .set_client_secret(self.client_secret.clone())
                .set_auth_uri(
                    AuthUrl::new(self.config.authorization_url.clone())
                        .map_err(|e| bad("authorization_url", e))?,
                )
                .set_token_uri(
                    TokenUrl::new(self.config.token_url.clone())
                        .map_err(|e| bad("token_url", e))?,
                )
                .set_redirect_uri(
                    RedirectUrl::new(redirect_uri.to_string())
                        .map_err(|e| bad("redirect URI", e))?,
                )
                .set_auth_type(auth_type),
        )
    }

    /// Starts a sign-in: the URL to redirect the browser to and the
    /// [`PendingOauth2`] to keep bound to it. `redirect_uri` is the
    /// gateway's callback as registered at the provider; `now` is Unix
    /// seconds.
    pub fn authorize_url(
        &self,
        redirect_uri: &Url,
        now: i64,
    ) -> Result<(Url, PendingOauth2), Oauth2Error> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(redirect_uri.as_str())?;
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(self.config.scopes.iter().map(|s| Scope::new(s.clone())))
            .url();
        let pending = PendingOauth2 {
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            idp_name: self.config.name.clone(),
            redirect_uri: redirect_uri.to_string(),
            created_at: now,
        };
        Ok((url, pending))
    }

    /// Finishes a sign-in on the callback: `code` and `returned_state` are
    /// the callback's parameters (for `error=…` use
    /// [`Oauth2Error::from_callback`]); `now` is Unix seconds. In order:
    ///
    /// 1. the pending sign-in belongs to this idp and is younger than
    ///    [`PENDING_TTL`];
    /// 2. `state` equals the pending one, in constant time (login CSRF);
    /// 3. the code is exchanged with the PKCE verifier and the client
    ///    secret (code injection; a replayed code is refused by the
    ///    provider);
    /// 4. the profile is read with the access token: the numeric id as the
    ///    subject, the e-mail only when verified;
    /// 5. `domains` bound a verified e-mail.
    ///
    /// Every wait on the provider is bounded by the client's timeout.
    pub async fn finish(
        &self,
        pending: &PendingOauth2,
        code: &str,
        returned_state: &str,
        now: i64,
    ) -> Result<Oauth2Identity, Oauth2Error> {
        if pending.idp_name != self.config.name {
            return Err(Oauth2Error::WrongIdp);
        }
        if now.saturating_sub(pending.created_at) > PENDING_TTL.as_secs() as i64 {
            return Err(Oauth2Error::PendingExpired);
        }
        if !ct_eq(pending.state.as_bytes(), returned_state.as_bytes()) {
            return Err(Oauth2Error::StateMismatch);
        }
        let bound = self.timeout;
        tokio::time::timeout(bound, self.exchange(pending, code))
            .await
            .map_err(|_| Oauth2Error::IdpUnreachable(format!("no answer within {bound:?}")))?
    }

    async fn exchange(
        &self,
        pending: &PendingOauth2,
        code: &str,
    ) -> Result<Oauth2Identity, Oauth2Error> {
        let token = self
            .client(&pending.redirect_uri)?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    Oauth2Error::CodeExchangeFailed(r.error().as_ref().to_string())
                }
                RequestTokenError::Request(r) => Oauth2Error::IdpUnreachable(transport(&r)),
                // GitHub answers a bad code with `200 {"error": …}`, which
                // does not parse as a token; Facebook with a Graph error
                // object.
                RequestTokenError::Parse(_, body) => {
                    Oauth2Error::CodeExchangeFailed(profile::error_code(&body))
                }
                RequestTokenError::Other(m) => Oauth2Error::CodeExchangeFailed(m),
            })?;
        let access = token.access_token().secret();
        let secret = self.client_secret.secret();
        let p = match &self.config.preset {
            Oauth2Preset::GitHub { api_url } => {
                profile::github(&self.http, api_url, access).await?
            }
            Oauth2Preset::Facebook => {
                profile::facebook(&self.http, &self.config.userinfo_url, access, secret).await?
            }
            Oauth2Preset::Generic => {
                profile::generic(
                    &self.http,
                    &self.config.userinfo_url,
                    access,
                    &self.config.claims,
                )
                .await?
            }
        };
        let email = p
            .email
            .filter(|_| p.email_verified)
            .map(|e| e.to_ascii_lowercase());
        if !self.config.domains.is_empty()
            && let Some(e) = &email
            && !self.config.serves_email(e)
        {
            // A provider speaks only for the domains it is given: without
            // this it could assert an address in the member domains.
            return Err(Oauth2Error::DomainNotAllowed);
        }
        Ok(Oauth2Identity {
            idp: self.config.name.clone(),
            subject: p.id,
            email,
            name: p.name,
        })
    }
}

/// reqwest's Display hides the cause; the source chain names it.
fn transport(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
