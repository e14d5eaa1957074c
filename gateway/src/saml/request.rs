//! SP-initiated sign-in: an `AuthnRequest` sent over the HTTP-Redirect
//! binding (SAML bindings §3.4), signed when the IdP's metadata asks
//! (`WantAuthnRequestsSigned`).

use super::SamlError;
use super::config::SpKey;
use super::metadata::IdpMetadata;
use samael::service_provider::ServiceProvider;

/// The longest `RelayState` the binding allows (SAML bindings §3.4.3).
pub const MAX_RELAY_STATE: usize = 80;

/// The redirect to the IdP and the request's id (the `InResponseTo` the
/// answer must carry). `relay_state` is an opaque handle to our own state,
/// never a URL; `reauth` asks the IdP for a fresh sign-in (`ForceAuthn`).
pub fn redirect_url(
    md: &IdpMetadata,
    entity_id: &str,
    acs_url: &str,
    relay_state: &str,
    sp_key: Option<&SpKey>,
    reauth: bool,
) -> Result<(String, String), SamlError> {
    if relay_state.len() > MAX_RELAY_STATE {
        return Err(SamlError::Request("RelayState longer than 80 bytes".into()));
    }
    let sp = ServiceProvider {
        entity_id: Some(entity_id.to_string()),
        metadata_url: Some(entity_id.to_string()),
        acs_url: Some(acs_url.to_string()),
        idp_metadata: md.descriptor.clone(),
        force_authn: reauth,
        ..ServiceProvider::default()
    };
    let mut request = sp
        .make_authentication_request(&md.sso_redirect)
        .map_err(|e| SamlError::Request(e.to_string()))?;
    // 128 random bits; an xs:ID starts with a letter or `_`.
    let id: String = (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    request.id = format!("_{id}");
    let url = match (md.want_signed_requests, sp_key) {
        (true, Some(k)) => request.signed_redirect(relay_state, &k.key),
        (true, None) => {
            return Err(SamlError::Request(
                "the IdP wants signed requests; set `sp_key_file` and `sp_cert_file`".into(),
            ));
        }
        (false, _) => request.redirect(relay_state),
    }
    .map_err(|e| SamlError::Request(e.to_string()))?
    .ok_or_else(|| SamlError::Request("no destination".into()))?;
    Ok((url.to_string(), request.id))
}
