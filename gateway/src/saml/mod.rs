//! SAML 2.0 federation with a partner's enterprise IdP (AD FS, Entra ID,
//! Okta, PingFederate, Shibboleth): the service provider side of the Web
//! Browser SSO profile, one SP per `type: saml` idp.
//!
//! ```text
//! config ─► SamlIdp (metadata: file, or URL refreshed with the last good copy kept)
//!   sign-in ─► AuthnRequest over HTTP-Redirect (signed when the IdP asks)
//!   ACS ─────► verify::response (fail closed) ─► Verified ─► the portal's `complete`
//! ```
//!
//! - [`metadata`]: the IdP's metadata (parsed strictly, signing certificates
//!   required) and ours (`/.portcullis/saml/<idp>/metadata`, whose URL is
//!   our entity id).
//! - [`request`]: the `AuthnRequest` and its redirect URL.
//! - [`logout`]: the `LogoutRequest` our signed-out page links to.
//! - [`verify`]: everything a response must pass before anyone is signed in.
//! - [`decrypt`]: encrypted assertions, decrypted with our SP key and then
//!   verified as plain ones (the assertion itself must be signed).
//!
//! XML signatures are samael's (libxmlsec1 underneath): we never
//! canonicalise or compare digests ourselves.

pub mod config;
pub mod decrypt;
pub mod logout;
pub mod metadata;
pub mod request;
pub mod verify;

pub use config::{Attributes, MetadataSource, SamlIdp};
pub use metadata::IdpMetadata;
pub use verify::{Expected, Verified};

/// Our paths for the idp `name`: SP metadata (its URL is our entity id) and
/// the assertion consumer service (HTTP-POST).
pub fn sp_paths(name: &str) -> (String, String) {
    (
        format!("{PREFIX}{name}/metadata"),
        format!("{PREFIX}{name}/acs"),
    )
}

/// Every SAML endpoint lives under this prefix on the auth host.
pub const PREFIX: &str = "/.portcullis/saml/";

/// Why a SAML step failed. The `as_str` names label
/// `sign_ins_total{idp,result}`; none carries the response itself (never
/// logged: it names a person and may be replayable).
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error("identity provider metadata: {0}")]
    Metadata(String),
    #[error("metadata could not be fetched: {0}")]
    Unreachable(String),
    #[error("response refused: {0}")]
    Refused(&'static str),
    /// Refused by samael: the signature, or a check it makes on what the
    /// signature covers (Issuer, Audience, Recipient, InResponseTo, times).
    #[error("not verified: {0}")]
    Verification(String),
    #[error("replayed assertion")]
    Replayed,
    #[error("request could not be built: {0}")]
    Request(String),
}

impl SamlError {
    /// A stable, bounded label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            SamlError::Metadata(_) => "idp_metadata",
            SamlError::Unreachable(_) => "idp_unreachable",
            SamlError::Refused(_) => "response_refused",
            SamlError::Verification(_) => "not_verified",
            SamlError::Replayed => "replayed",
            SamlError::Request(_) => "request_failed",
        }
    }
}
