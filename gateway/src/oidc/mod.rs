//! Sign-in with a partner's OpenID Provider (`idps: - type: oidc`): the
//! authorization code flow with PKCE, as a library the sign-in endpoints call.
//!
//! 1. [`OidcClient::discover`] runs when the snapshot is built (never on the
//!    hot path): discovery and the JWKS, with a bounded timeout, over an HTTP
//!    client that does not follow redirects (a redirect from the IdP could
//!    otherwise point the gateway at an internal address: SSRF).
//! 2. [`OidcClient::authorize_url`] makes the URL to send the browser to and
//!    the [`PendingAuth`] the gateway keeps bound to that browser (state,
//!    nonce, PKCE verifier).
//! 3. [`OidcClient::finish`] runs on the callback: it checks state and the
//!    RFC 9207 `iss` parameter, exchanges the code with the PKCE verifier,
//!    validates the ID token, fetches userinfo when the ID token carries no
//!    e-mail, and returns the [`Identity`].
//!
//! **Users are matched by `(issuer, subject)`**, never by e-mail alone: an
//! e-mail address is only as good as the IdP that asserts it, and any IdP
//! can assert any address. `email` (with `email_verified`) is for display,
//! invitations and home-realm discovery, not for identity.
//!
//! **The gateway deletes a `PendingAuth` once [`OidcClient::finish`] has
//! been called with it** (whatever the outcome). The client also remembers
//! the nonces it has finished (for [`PENDING_TTL`]) and refuses a second
//! sign-in with the same `PendingAuth` ([`OidcError::Replayed`]); that memory
//! is per process, so with several replicas the deletion is what stops a
//! replay.
//!
//! Errors name no token, code or secret; [`OidcError::as_str`] is the
//! `result` label of `portcullis_sign_ins_total{idp,result}`.

mod config;

#[cfg(test)]
mod test_idp;
#[cfg(test)]
mod tests;

pub use config::{
    ClientSecretSource, DEFAULT_GROUPS_CLAIM, DEFAULT_SCOPES, MICROSOFT_CONSUMERS_ISSUER,
    MICROSOFT_CONSUMERS_TENANT, MICROSOFT_ISSUER_TEMPLATE, MfaTrust, OidcConfigError,
    OidcIdpConfig, OidcIdpFile, Preset, SecretFields,
};

use base64::Engine as _;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClient, CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreIdTokenVerifier,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::url::Url;
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, DiscoveryError, IssuerUrl, LoginHint, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long the gateway may wait on an IdP (discovery, token, userinfo,
/// JWKS) unless the caller gives another bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a [`PendingAuth`] is good for: a user who takes longer at the IdP
/// starts again. Also how long finished nonces are remembered.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

/// Clock skew allowed on `exp`, `auth_time` and `max_age` (seconds).
pub const LEEWAY_SECS: i64 = 60;

/// The JWKS is fetched again at most this often when a token names an
/// unknown key (key rollover), so a stream of bad tokens cannot turn the
/// gateway into a load generator against the IdP.
pub const JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// ID token signature algorithms accepted. Never `none`, never HMAC (the
/// client secret must not double as a signing key).
pub const ID_TOKEN_ALGORITHMS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EdDsa,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
];

/// `amr` values (RFC 8176) that name a second factor or a multi-factor
/// method. Any of them makes [`Identity::mfa`] true for an IdP with
/// `mfa: trusted`.
pub const MFA_AMR: &[&str] = &[
    "mfa", "mca", "otp", "hwk", "sc", "sms", "tel", "fpt", "face", "iris", "retina", "vbm",
];

const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// The reqwest the `openidconnect` crate speaks (0.12, through `oauth2`).
pub use openidconnect::reqwest;

/// Discovery fields beyond the core set that Portcullis uses.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// RFC 9207: the IdP puts `iss` in every authorization response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

/// The discovery document as read.
pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Why a sign-in did not produce an [`Identity`]. No variant carries token
/// material; texts come from the IdP's error codes or the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The callback's `state` is not the one in the browser's
    /// [`PendingAuth`]: a forged or cross-site callback (login CSRF).
    #[error("the sign-in response does not belong to this browser (state mismatch)")]
    StateMismatch,
    /// The callback's `iss` (RFC 9207) or the ID token's `iss` is not this
    /// IdP: an IdP mix-up attack, or a callback routed to the wrong idp.
    #[error("the sign-in response comes from another identity provider")]
    IssuerMismatch,
    /// The IdP promises `iss` in authorization responses but this one has
    /// none: treated as a mix-up attempt.
    #[error("the sign-in response carries no issuer though the identity provider always sends one")]
    IssuerMissing,
    /// The [`PendingAuth`] was made for another idp than this client.
    #[error("the pending sign-in was started with another identity provider")]
    WrongIdp,
    /// The [`PendingAuth`] is older than [`PENDING_TTL`].
    #[error("the sign-in took too long; start again")]
    PendingExpired,
    /// This [`PendingAuth`] (its nonce) already finished a sign-in: a replay.
    #[error("this sign-in was already completed (replay)")]
    Replayed,
    /// The ID token's nonce is not the pending one (token injection/replay).
    #[error("the ID token's nonce does not match this sign-in")]
    NonceMismatch,
    /// The token endpoint refused the code (bad, used or expired code, PKCE
    /// verifier mismatch, client authentication failed); the text is the
    /// IdP's error code.
    #[error("the identity provider refused the authorization code: {0}")]
    CodeExchangeFailed(String),
    /// The IdP did not answer in time or the connection failed.
    #[error("the identity provider is unreachable: {0}")]
    IdpUnreachable(String),
    /// The discovery document or JWKS is unusable; the text says why.
    #[error("the identity provider's discovery failed: {0}")]
    DiscoveryFailed(String),
    /// The ID token failed validation (signature, audience, format, …).
    #[error("the ID token is invalid: {0}")]
    InvalidIdToken(String),
    /// The ID token's signature algorithm is not in [`ID_TOKEN_ALGORITHMS`].
    #[error("the ID token's signature algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The ID token names a key the IdP's JWKS does not have, even after a
    /// refresh.
    #[error("the ID token is signed with an unknown key")]
    UnknownKey,
    /// The ID token has expired.
    #[error("the ID token has expired")]
    TokenExpired,
    /// The ID token's `aud` is not this client.
    #[error("the ID token is for another client")]
    AudienceMismatch,
    /// The user authenticated longer ago than `max_age` allows, or not after
    /// a `prompt=login` request.
    #[error("the identity provider did not authenticate the user recently enough")]
    AuthTooOld,
    /// A claim the sign-in needs is missing (the text names it).
    #[error("the identity provider sent no `{0}` claim")]
    MissingClaim(&'static str),
    /// The userinfo endpoint failed.
    #[error("userinfo failed: {0}")]
    UserinfoFailed(String),
    /// Userinfo describes another subject than the ID token (token
    /// substitution, OpenID Connect Core 5.3.2).
    #[error("userinfo is about another user than the ID token")]
    UserinfoSubjectMismatch,
    /// The user's e-mail is outside the idp's `domains`, or (Google) the
    /// account's `hd` is not in `hosted_domains`.
    #[error("the user's domain is not served by this identity provider")]
    DomainNotAllowed,
    /// (Microsoft) The token's tenant (`tid`) is not in the idp's `tenants`.
    #[error("the user's organisation (tenant) is not allowed to sign in here")]
    TenantNotAllowed,
    /// The IdP answered the authorization request with `error=access_denied`
    /// (wrong password, user cancelled).
    #[error("the identity provider denied the sign-in")]
    AccessDenied,
    /// The IdP answered the authorization request with another `error`.
    #[error("the identity provider returned an error: {0}")]
    IdpError(String),
    /// The client cannot be built (secret unreadable, endpoint missing).
    #[error("{0}")]
    Config(String),
}

impl OidcError {
    /// A stable snake_case name for `portcullis_sign_ins_total{result}` and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            OidcError::StateMismatch => "state_mismatch",
            OidcError::IssuerMismatch => "issuer_mismatch",
            OidcError::IssuerMissing => "issuer_missing",
            OidcError::WrongIdp => "wrong_idp",
            OidcError::PendingExpired => "pending_expired",
            OidcError::Replayed => "replayed",
            OidcError::NonceMismatch => "nonce_mismatch",
            OidcError::CodeExchangeFailed(_) => "code_exchange_failed",
            OidcError::IdpUnreachable(_) => "idp_unreachable",
            OidcError::DiscoveryFailed(_) => "discovery_failed",
            OidcError::InvalidIdToken(_) => "invalid_id_token",
            OidcError::AlgorithmNotAllowed => "algorithm_not_allowed",
            OidcError::UnknownKey => "unknown_key",
            OidcError::TokenExpired => "token_expired",
            OidcError::AudienceMismatch => "audience_mismatch",
            OidcError::AuthTooOld => "auth_too_old",
            OidcError::MissingClaim(_) => "missing_claim",
            OidcError::UserinfoFailed(_) => "userinfo_failed",
            OidcError::UserinfoSubjectMismatch => "userinfo_subject_mismatch",
            OidcError::DomainNotAllowed => "domain_not_allowed",
            OidcError::TenantNotAllowed => "tenant_not_allowed",
            OidcError::AccessDenied => "access_denied",
            OidcError::IdpError(_) => "idp_error",
            OidcError::Config(_) => "config",
        }
    }

    /// The error for a callback that carries `error=CODE` instead of a code.
    /// Only a bounded set of codes is kept in the text.
    pub fn from_callback(error: &str) -> OidcError {
        const KNOWN: &[&str] = &[
            "invalid_request",
            "unauthorized_client",
            "unsupported_response_type",
            "invalid_scope",
            "server_error",
            "temporarily_unavailable",
            "interaction_required",
            "login_required",
            "account_selection_required",
            "consent_required",
        ];
        match error {
            "access_denied" => OidcError::AccessDenied,
            e if KNOWN.contains(&e) => OidcError::IdpError(e.to_string()),
            _ => OidcError::IdpError("other".into()),
        }
    }
}

/// What the gateway keeps, bound to the browser (e.g. in a short-lived,
/// encrypted or server-side record keyed by a cookie), between
/// [`OidcClient::authorize_url`] and [`OidcClient::finish`]. Delete it after
/// `finish`, whatever the outcome. Contains secrets: never log it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuth {
    /// The `state` sent to the IdP (CSRF binding of the callback).
    pub state: String,
    /// The `nonce` sent to the IdP; the ID token must carry it.
    pub nonce: String,
    /// The PKCE code verifier (S256).
    pub pkce_verifier: String,
    /// The issuer of the idp the sign-in was started with.
    pub issuer: String,
    /// The configured name of that idp.
    pub idp_name: String,
    /// The redirect URI sent; the token request repeats it.
    pub redirect_uri: String,
    /// When the sign-in started (Unix seconds).
    pub created_at: i64,
    /// `max_age` sent (seconds), if any; `auth_time` is checked against it.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// Whether `prompt=login` was sent; `auth_time` must then be after
    /// `created_at`.
    #[serde(default)]
    pub prompt_login: bool,
}

impl fmt::Debug for PendingAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuth")
            .field("idp_name", &self.idp_name)
            .field("issuer", &self.issuer)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A raw ID token, kept only to send as `id_token_hint` at sign-out.
/// Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenHint(pub String);

impl fmt::Debug for IdTokenHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdTokenHint(..)")
    }
}

/// Who signed in, as the IdP asserted it and Portcullis checked it.
///
/// The user is `(issuer, subject)`; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The configured idp name.
    pub idp: String,
    /// The ID token's `iss` (for Entra multi-tenant, the tenant's issuer).
    pub issuer: String,
    /// The ID token's `sub`: stable for this user at this issuer.
    pub subject: String,
    /// The e-mail address (ID token, else userinfo); lower-cased.
    pub email: Option<String>,
    /// Whether the IdP vouches for the e-mail: `email_verified: true`, or
    /// for Microsoft `xms_edov: true`, the address in
    /// `verified_primary_email`, or a personal account (the consumers
    /// tenant). False when absent. Never match an invitation against an
    /// unverified address. `preferred_username` and `upn` are never used.
    pub email_verified: bool,
    /// (Microsoft) The tenant id (`tid`), lower-case.
    #[serde(default)]
    pub tenant: Option<String>,
    /// (Microsoft) The user's object id in that tenant (`oid`): with
    /// `tenant`, the stable key of the user (`sub` is per app).
    #[serde(default)]
    pub object_id: Option<String>,
    /// The token said the groups are elsewhere (`_claim_names` names the
    /// groups claim, Entra's "groups overage", or `hasgroups`): the
    /// sign-in carries none of them rather than a partial list.
    #[serde(default)]
    pub groups_overage: bool,
    /// Display name.
    pub name: Option<String>,
    /// Group names from `groups_claim` (ID token, else userinfo).
    pub groups: Vec<String>,
    /// Authentication methods (RFC 8176), as the IdP said.
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// When the user authenticated at the IdP (Unix seconds).
    pub auth_time: Option<i64>,
    /// True only when the idp is `mfa: trusted` and `amr` names a second
    /// factor ([`MFA_AMR`]). The sign-in does not use it: what counts as
    /// MFA for a session is decided by `crate::trust` (`mfa_values`,
    /// default `mfa`, against `amr` and `acr`) when the sign-in completes.
    pub mfa: bool,
    /// The ID token, for `id_token_hint` at sign-out.
    pub id_token: IdTokenHint,
}

/// A configured OpenID Provider, discovered. Cheap to share (`Arc`); lives
/// in the snapshot.
pub struct OidcClient {
    config: OidcIdpConfig,
    client_secret: ClientSecret,
    metadata: Metadata,
    jwks: RwLock<Arc<CoreJsonWebKeySet>>,
    last_jwks_refresh: Mutex<Option<Instant>>,
    http: reqwest::Client,
    timeout: Duration,
    finished_nonces: moka::sync::Cache<[u8; 32], ()>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("idp", &self.config.name)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

fn transport(e: &dyn std::error::Error) -> String {
    // reqwest's Display hides the cause ("error sending request"); the
    // source chain says "connection refused" or "timed out".
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn discovery_error<RE: std::error::Error + 'static>(e: DiscoveryError<RE>) -> OidcError {
    match e {
        DiscoveryError::Request(r) => OidcError::IdpUnreachable(transport(&r)),
        DiscoveryError::Response(status, _, _) => {
            OidcError::DiscoveryFailed(format!("HTTP {status}"))
        }
        DiscoveryError::Validation(m) | DiscoveryError::Other(m) => OidcError::DiscoveryFailed(m),
        DiscoveryError::Parse(p) => OidcError::DiscoveryFailed(format!("unparsable document: {p}")),
        DiscoveryError::UrlParse(p) => OidcError::DiscoveryFailed(format!("bad URL: {p}")),
        other => OidcError::DiscoveryFailed(other.to_string()),
    }
}

/// Constant-time equality, so a forged `state` cannot be guessed byte by
/// byte from response timing. The length is not secret.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn sha256(s: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes()).into()
}

/// The verified payload of an ID token as JSON (signature already checked).
fn payload(raw: &str) -> Result<Map<String, Value>, OidcError> {
    let part = raw
        .split('.')
        .nth(1)
        .ok_or_else(|| OidcError::InvalidIdToken("not a JWS".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| OidcError::InvalidIdToken("payload is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::InvalidIdToken("payload is not a JSON object".into()))
}

/// Entra ID sends no `email_verified`; its address counts as verified only
/// when the token says so another way: the optional claim `xms_edov: true`
/// (the domain's owner verified it), the address listed in the optional
/// claim `verified_primary_email`, or a personal Microsoft account (the
/// consumers tenant, whose address is the account itself). Otherwise a
/// tenant admin can give any user any `mail`, someone else's included.
fn microsoft_email_verified(
    claims: &Map<String, Value>,
    email: Option<&str>,
    tenant: Option<&str>,
) -> bool {
    let Some(email) = email else {
        return false;
    };
    bool_claim(claims, "xms_edov") == Some(true)
        || list_claim(claims, "verified_primary_email")
            .is_some_and(|l| l.iter().any(|v| v.eq_ignore_ascii_case(email)))
        || (tenant == Some(MICROSOFT_CONSUMERS_TENANT)
            && str_claim(claims, "iss").as_deref() == Some(MICROSOFT_CONSUMERS_ISSUER))
}

fn str_claim(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_string)
}

fn bool_claim(m: &Map<String, Value>, k: &str) -> Option<bool> {
    match m.get(k) {
        Some(Value::Bool(b)) => Some(*b),
        // Entra sends some booleans as strings, `xms_edov` as "1" too.
        Some(Value::String(s)) => Some(s == "true" || s == "1"),
        Some(Value::Number(n)) => Some(n.as_i64() == Some(1)),
        _ => None,
    }
}

/// A list claim; a single string counts as a one-element list.
fn list_claim(m: &Map<String, Value>, k: &str) -> Option<Vec<String>> {
    match m.get(k)? {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

impl OidcClient {
    /// Builds the client: reads the client secret, fetches the discovery
    /// document and the JWKS, each bounded by `timeout` (use
    /// [`DEFAULT_TIMEOUT`]). Runs when a snapshot is built, off the hot path.
    ///
    /// The discovery document's `issuer` must equal the configured issuer
    /// byte for byte (for Entra multi-tenant: the `{tenantid}` template).
    /// Errors: [`OidcError::IdpUnreachable`] (refused, timed out),
    /// [`OidcError::DiscoveryFailed`], [`OidcError::Config`].
    pub async fn discover(config: OidcIdpConfig, timeout: Duration) -> Result<Self, OidcError> {
        let secret = config.client_secret.read().map_err(OidcError::Config)?;
        let http = reqwest::Client::builder()
            // The crate's SSRF warning: never follow a redirect from an IdP.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| OidcError::Config(format!("HTTP client: {e}")))?;
        let fetch = Self::discover_at(&config, &http);
        let metadata = tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| OidcError::IdpUnreachable(format!("no answer within {timeout:?}")))??;
        if metadata.token_endpoint().is_none() {
            return Err(OidcError::DiscoveryFailed(
                "the discovery document has no token_endpoint".into(),
            ));
        }
        let jwks = Arc::new(metadata.jwks().clone());
        Ok(OidcClient {
            client_secret: ClientSecret::new(secret),
            metadata,
            jwks: RwLock::new(jwks),
            last_jwks_refresh: Mutex::new(None),
            http,
            timeout,
            finished_nonces: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(PENDING_TTL + Duration::from_secs(LEEWAY_SECS as u64))
                .build(),
            config,
        })
    }

    /// Reads the document at `discovery_url` (the issuer's own, or where
    /// the config says: sovereign clouds, egress proxies, tests) and its
    /// JWKS. The document's `issuer` must be the configured one byte for
    /// byte; for Entra multi-tenant that is the template
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`, which the
    /// crate's `discover_async` would refuse as a mismatch.
    async fn discover_at(
        config: &OidcIdpConfig,
        http: &reqwest::Client,
    ) -> Result<Metadata, OidcError> {
        let url = &config.discovery_url;
        let resp = http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| OidcError::IdpUnreachable(transport(&e)))?;
        if !resp.status().is_success() {
            return Err(OidcError::DiscoveryFailed(format!(
                "HTTP {}",
                resp.status()
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| OidcError::IdpUnreachable(transport(&e)))?;
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|e| OidcError::DiscoveryFailed(format!("unparsable document: {e}")))?;
        if metadata.issuer().as_str() != config.issuer {
            return Err(OidcError::DiscoveryFailed(format!(
                "the document's issuer is `{}`, expected `{}`",
                metadata.issuer().as_str(),
                config.issuer
            )));
        }
        let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), http)
            .await
            .map_err(discovery_error)?;
        Ok(metadata.set_jwks(jwks))
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &OidcIdpConfig {
        &self.config
    }

    /// The discovery document.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn client(
        &self,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(self.client_secret.clone()),
        )
    }

    /// Starts a sign-in: the URL to redirect the browser to and the
    /// [`PendingAuth`] to keep bound to it. `redirect_uri` is the gateway's
    /// callback as registered at the IdP. `max_age` asks the IdP to
    /// re-authenticate a user whose sign-in is older (the ID token's
    /// `auth_time` is then checked); `prompt_login` forces a fresh sign-in
    /// (used for step-up); `login_hint` pre-fills the IdP's form. `now` is
    /// Unix seconds.
    pub fn authorize_url(
        &self,
        redirect_uri: &Url,
        max_age: Option<Duration>,
        prompt_login: bool,
        login_hint: Option<&str>,
        now: i64,
    ) -> (Url, PendingAuth) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self
            .client()
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            // `openid` is added by the crate.
            .add_scopes(
                self.config
                    .scopes
                    .iter()
                    .filter(|s| *s != "openid")
                    .map(|s| Scope::new(s.clone())),
            );
        if let Some(m) = max_age {
            req = req.set_max_age(m);
        }
        if prompt_login {
            req = req.add_prompt(CoreAuthPrompt::Login);
        }
        if let Some(h) = login_hint {
            req = req.set_login_hint(LoginHint::new(h.to_string()));
        }
        let (url, state, nonce) = req.url();
        let pending = PendingAuth {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            issuer: self.config.issuer.clone(),
            idp_name: self.config.name.clone(),
            redirect_uri: redirect_uri.to_string(),
            created_at: now,
            max_age: max_age.map(|d| d.as_secs()),
            prompt_login,
        };
        (url, pending)
    }

    /// Finishes a sign-in on the callback. `code`, `returned_state` and
    /// `returned_iss` are the callback's `code`, `state` and `iss` query
    /// parameters (for `error=…` use [`OidcError::from_callback`] instead);
    /// `now` is Unix seconds. Each step names the attack it stops:
    ///
    /// 1. the pending sign-in belongs to this idp and is younger than
    ///    [`PENDING_TTL`];
    /// 2. `state` equals the pending one, compared in constant time (login
    ///    CSRF);
    /// 3. `iss`, when sent, is this IdP; when the IdP advertises RFC 9207 it
    ///    must be sent (IdP mix-up);
    /// 4. the nonce was not finished before (replay of a `PendingAuth`);
    /// 5. the code is exchanged with the PKCE verifier and client
    ///    authentication (code injection; a replayed code is refused by the
    ///    IdP);
    /// 6. the ID token is verified: signature with the IdP's JWKS (fetched
    ///    again once on an unknown `kid`, key rollover), algorithm in
    ///    [`ID_TOKEN_ALGORITHMS`], `iss`, `aud`, `exp`, `nonce`, and
    ///    `auth_time` against `max_age` / `prompt=login`;
    /// 7. userinfo is fetched when the ID token has no e-mail; its `sub`
    ///    must equal the ID token's;
    /// 8. `domains` (and Google's `hd`) bound the e-mail.
    ///
    /// Every wait on the IdP is bounded by the client's timeout.
    pub async fn finish(
        &self,
        pending: &PendingAuth,
        code: &str,
        returned_state: &str,
        returned_iss: Option<&str>,
        now: i64,
    ) -> Result<Identity, OidcError> {
        if pending.idp_name != self.config.name || pending.issuer != self.config.issuer {
            return Err(OidcError::WrongIdp);
        }
        if now.saturating_sub(pending.created_at) > PENDING_TTL.as_secs() as i64 {
            return Err(OidcError::PendingExpired);
        }
        if !ct_eq(pending.state.as_bytes(), returned_state.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        match returned_iss {
            Some(iss) if !self.config.issuer_matches(iss, None) => {
                return Err(OidcError::IssuerMismatch);
            }
            Some(_) => {}
            None if self
                .metadata
                .additional_metadata()
                .authorization_response_iss_parameter_supported
                == Some(true) =>
            {
                return Err(OidcError::IssuerMissing);
            }
            None => {}
        }
        // Burn the nonce before talking to the IdP: a failed attempt also
        // ends this pending sign-in (fail closed; the user starts again).
        let fresh = self
            .finished_nonces
            .entry(sha256(&pending.nonce))
            .or_insert(())
            .is_fresh();
        if !fresh {
            return Err(OidcError::Replayed);
        }
        let bound = self.timeout;
        tokio::time::timeout(bound, self.exchange(pending, code, returned_iss, now))
            .await
            .map_err(|_| OidcError::IdpUnreachable(format!("no answer within {bound:?}")))?
    }

    async fn exchange(
        &self,
        pending: &PendingAuth,
        code: &str,
        returned_iss: Option<&str>,
        now: i64,
    ) -> Result<Identity, OidcError> {
        let redirect = RedirectUrl::new(pending.redirect_uri.clone())
            .map_err(|e| OidcError::Config(format!("redirect URI: {e}")))?;
        let client = self.client().set_redirect_uri(redirect);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    OidcError::CodeExchangeFailed(r.error().as_ref().to_string())
                }
                RequestTokenError::Request(r) => OidcError::IdpUnreachable(transport(&r)),
                RequestTokenError::Parse(_, _) => {
                    OidcError::CodeExchangeFailed("unparsable token response".into())
                }
                RequestTokenError::Other(m) => OidcError::CodeExchangeFailed(m),
            })?;
        let id_token = token
            .id_token()
            .ok_or(OidcError::MissingClaim("id_token"))?
            .to_string();
        let mut claims = self.verify_id_token(&id_token, pending, now).await?;
        if let Some(iss) = returned_iss
            && str_claim(&claims, "iss").as_deref() != Some(iss)
        {
            // The response said one issuer, the token another.
            return Err(OidcError::IssuerMismatch);
        }
        let sub = str_claim(&claims, "sub").ok_or(OidcError::MissingClaim("sub"))?;
        if str_claim(&claims, "email").is_none()
            && let Some(endpoint) = self.metadata.userinfo_endpoint()
        {
            let info = self
                .userinfo(endpoint.url(), token.access_token().secret())
                .await?;
            if str_claim(&info, "sub").as_deref() != Some(sub.as_str()) {
                return Err(OidcError::UserinfoSubjectMismatch);
            }
            for (k, v) in info {
                claims.entry(k).or_insert(v);
            }
        }
        self.identity(claims, sub, id_token)
    }

    async fn userinfo(
        &self,
        url: &Url,
        access_token: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let resp = self
            .http
            .get(url.clone())
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| OidcError::IdpUnreachable(transport(&e)))?;
        if !resp.status().is_success() {
            return Err(OidcError::UserinfoFailed(format!("HTTP {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_USERINFO_BYTES as u64)
        {
            return Err(OidcError::UserinfoFailed("response too large".into()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| OidcError::IdpUnreachable(transport(&e)))?;
        if body.len() > MAX_USERINFO_BYTES {
            return Err(OidcError::UserinfoFailed("response too large".into()));
        }
        // A signed (application/jwt) userinfo response is not supported.
        serde_json::from_slice(&body)
            .map_err(|_| OidcError::UserinfoFailed("not a JSON object".into()))
    }

    /// Verifies an ID token for `pending` and returns its claims. Public to
    /// the crate for tests of mix-up (a token of IdP B never verifies for A).
    pub(crate) async fn verify_id_token(
        &self,
        raw: &str,
        pending: &PendingAuth,
        now: i64,
    ) -> Result<Map<String, Value>, OidcError> {
        let token = CoreIdToken::from_str(raw)
            .map_err(|_| OidcError::InvalidIdToken("not a JWT".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let jwks = self.current_jwks();
        let result = match self.check_signature_and_claims(&token, &nonce, &jwks) {
            Err(OidcError::UnknownKey) if self.may_refresh_jwks() => {
                let fresh = self.refresh_jwks().await?;
                self.check_signature_and_claims(&token, &nonce, &fresh)
            }
            other => other,
        };
        result?;
        let claims = payload(raw)?;
        let iss = str_claim(&claims, "iss").ok_or(OidcError::MissingClaim("iss"))?;
        let tid = str_claim(&claims, "tid");
        if self.config.issuer_is_template() && tid.is_none() {
            return Err(OidcError::MissingClaim("tid"));
        }
        if !self.config.issuer_matches(&iss, tid.as_deref()) {
            return Err(OidcError::IssuerMismatch);
        }
        // The self-hosted form of cross-tenant access settings: only the
        // listed organisations' users. A token without `tid` names none.
        if !self.config.tenants.is_empty()
            && !tid.as_deref().is_some_and(|t| {
                self.config
                    .tenants
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(t))
            })
        {
            return Err(OidcError::TenantNotAllowed);
        }
        // `now` is the caller's clock (the crate checked `exp` on the system
        // clock already).
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(OidcError::MissingClaim("exp"))?;
        if exp + LEEWAY_SECS < now {
            return Err(OidcError::TokenExpired);
        }
        let auth_time = claims.get("auth_time").and_then(Value::as_i64);
        if let Some(max_age) = pending.max_age {
            let t = auth_time.ok_or(OidcError::MissingClaim("auth_time"))?;
            if now.saturating_sub(t) > max_age as i64 + LEEWAY_SECS {
                return Err(OidcError::AuthTooOld);
            }
        }
        if pending.prompt_login {
            let t = auth_time.ok_or(OidcError::MissingClaim("auth_time"))?;
            if t + LEEWAY_SECS < pending.created_at {
                return Err(OidcError::AuthTooOld);
            }
        }
        Ok(claims)
    }

    fn check_signature_and_claims(
        &self,
        token: &CoreIdToken,
        nonce: &Nonce,
        jwks: &CoreJsonWebKeySet,
    ) -> Result<(), OidcError> {
        // A public-client verifier: no client secret, so HMAC can never be
        // used. The issuer is checked by `issuer_matches` (exact, or the
        // Entra template with `tid`).
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.config.client_id.clone()),
            IssuerUrl::new(self.config.issuer.clone())
                .map_err(|e| OidcError::Config(format!("issuer: {e}")))?,
            jwks.clone(),
        )
        .require_issuer_match(false)
        .set_allowed_algs(ID_TOKEN_ALGORITHMS.iter().cloned());
        match token.claims(&verifier, nonce) {
            Ok(_) => Ok(()),
            Err(e) => Err(match e {
                ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
                ClaimsVerificationError::Expired(_) => OidcError::TokenExpired,
                ClaimsVerificationError::InvalidAudience(_) => OidcError::AudienceMismatch,
                ClaimsVerificationError::InvalidIssuer(_) => OidcError::IssuerMismatch,
                ClaimsVerificationError::InvalidAuthTime(_) => OidcError::AuthTooOld,
                ClaimsVerificationError::SignatureVerification(s) => match s {
                    SignatureVerificationError::NoMatchingKey => OidcError::UnknownKey,
                    SignatureVerificationError::DisallowedAlg(_) => OidcError::AlgorithmNotAllowed,
                    other => OidcError::InvalidIdToken(format!("signature: {other}")),
                },
                other => OidcError::InvalidIdToken(other.to_string()),
            }),
        }
    }

    fn current_jwks(&self) -> Arc<CoreJsonWebKeySet> {
        self.jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn may_refresh_jwks(&self) -> bool {
        let mut last = self
            .last_jwks_refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < JWKS_REFRESH_MIN_INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    async fn refresh_jwks(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        let jwks = CoreJsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http)
            .await
            .map_err(discovery_error)?;
        let jwks = Arc::new(jwks);
        *self
            .jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = jwks.clone();
        tracing::info!(idp = %self.config.name, "fetched the identity provider's keys again (unknown key id)");
        Ok(jwks)
    }

    fn identity(
        &self,
        claims: Map<String, Value>,
        subject: String,
        id_token: String,
    ) -> Result<Identity, OidcError> {
        // Only `email`: `preferred_username` and `upn` look like addresses
        // but are usernames any tenant admin can set (never matched).
        let email = str_claim(&claims, "email").map(|e| e.to_ascii_lowercase());
        if !self.config.domains.is_empty() {
            // A partner IdP speaks only for its own domains: without this it
            // could assert an address in the organisation's member domains.
            let domain_ok = email
                .as_deref()
                .is_some_and(|e| self.config.serves_email(e));
            if !domain_ok {
                return Err(OidcError::DomainNotAllowed);
            }
        }
        // Google: `hd` is present only for Workspace accounts. With
        // `hosted_domains`, only those Workspace domains; without, consumer
        // accounts (no `hd`) sign in too.
        if self.config.preset == Preset::Google
            && !self.config.hosted_domains.is_empty()
            && !str_claim(&claims, "hd").is_some_and(|hd| {
                self.config
                    .hosted_domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&hd))
            })
        {
            return Err(OidcError::DomainNotAllowed);
        }
        let tenant = str_claim(&claims, "tid").map(|t| t.to_ascii_lowercase());
        let email_verified = bool_claim(&claims, "email_verified").unwrap_or(false)
            || (self.config.preset == Preset::Microsoft
                && microsoft_email_verified(&claims, email.as_deref(), tenant.as_deref()));
        let groups_overage = claims
            .get("_claim_names")
            .and_then(Value::as_object)
            .is_some_and(|n| n.contains_key(&self.config.groups_claim))
            || bool_claim(&claims, "hasgroups") == Some(true);
        let groups = if groups_overage {
            Vec::new()
        } else {
            list_claim(&claims, &self.config.groups_claim).unwrap_or_default()
        };
        let amr = list_claim(&claims, "amr").unwrap_or_default();
        let mfa = self.config.mfa == MfaTrust::Trusted
            && amr.iter().any(|m| MFA_AMR.contains(&m.as_str()));
        Ok(Identity {
            idp: self.config.name.clone(),
            issuer: str_claim(&claims, "iss").unwrap_or_default(),
            subject,
            email_verified,
            email,
            object_id: (self.config.preset == Preset::Microsoft)
                .then(|| str_claim(&claims, "oid"))
                .flatten()
                .map(|o| o.to_ascii_lowercase()),
            tenant,
            groups_overage,
            name: str_claim(&claims, "name"),
            groups,
            amr,
            acr: str_claim(&claims, "acr"),
            auth_time: claims.get("auth_time").and_then(Value::as_i64),
            mfa,
            id_token: IdTokenHint(id_token),
        })
    }

    /// The IdP's sign-out URL (RP-initiated logout) with `id_token_hint`,
    /// `client_id` and `post_logout_redirect_uri`, or `None` when the IdP
    /// advertises no `end_session_endpoint`. The redirect must be registered
    /// at the IdP.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect: Option<&Url>,
    ) -> Option<Url> {
        let endpoint = self
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .as_deref()?;
        let mut url = Url::parse(endpoint).ok()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(h) = id_token_hint {
                q.append_pair("id_token_hint", h);
            }
            q.append_pair("client_id", &self.config.client_id);
            if let Some(r) = post_logout_redirect {
                q.append_pair("post_logout_redirect_uri", r.as_str());
            }
        }
        Some(url)
    }
}
