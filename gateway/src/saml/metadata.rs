//! The IdP's metadata (what we trust: its entity id, its signing
//! certificates, where to send people) and ours (what the IdP's admin
//! registers: our entity id, our ACS, our certificate).

use super::SamlError;
use samael::metadata::EntityDescriptor;
use samael::service_provider::ServiceProvider;
use samael::traits::ToXml;

const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// What we took from an IdP's metadata.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    /// The whole descriptor, for samael's checks.
    pub descriptor: EntityDescriptor,
    /// The IdP's entity id: the only `Issuer` we accept.
    pub entity_id: String,
    /// SingleSignOnService with the HTTP-Redirect binding.
    pub sso_redirect: String,
    /// SingleLogoutService with the HTTP-Redirect binding, if any.
    pub slo_redirect: Option<String>,
    /// `WantAuthnRequestsSigned`.
    pub want_signed_requests: bool,
    /// How many signing certificates it lists (at least one).
    pub signing_certs: usize,
}

impl IdpMetadata {
    /// Parses metadata: well-formed XML without a DTD (roxmltree refuses
    /// DTDs and so entities; errors carry line:column), an
    /// `EntityDescriptor` with an `IDPSSODescriptor`, an HTTP-Redirect
    /// SingleSignOnService, and at least one signing certificate — without
    /// one samael would not verify signatures at all, so that is an error
    /// here, never a default.
    pub fn parse(xml: &str) -> Result<IdpMetadata, SamlError> {
        let bad = |m: String| SamlError::Metadata(m);
        let doc = roxmltree::Document::parse(xml).map_err(|e| bad(e.to_string()))?;
        let root = doc.root_element();
        if root.tag_name().name() != "EntityDescriptor" {
            let pos = doc.text_pos_at(root.range().start);
            return Err(bad(format!(
                "{}:{}: the root element is `{}`; an IdP's metadata is one EntityDescriptor",
                pos.row,
                pos.col,
                root.tag_name().name()
            )));
        }
        let descriptor = xml
            .parse::<EntityDescriptor>()
            .map_err(|e| bad(format!("not SAML metadata: {e}")))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad("the EntityDescriptor has no entityID".into()))?;
        let Some(idp) = descriptor
            .idp_sso_descriptors
            .as_ref()
            .and_then(|d| d.first())
        else {
            return Err(bad(
                "no IDPSSODescriptor: this is not an IdP's metadata".into()
            ));
        };
        let sso_redirect = idp
            .single_sign_on_services
            .iter()
            .find(|s| s.binding == REDIRECT_BINDING)
            .map(|s| s.location.clone())
            .ok_or_else(|| bad("no SingleSignOnService with the HTTP-Redirect binding".into()))?;
        let slo_redirect = idp
            .single_logout_services
            .iter()
            .find(|s| s.binding == REDIRECT_BINDING)
            .map(|s| s.location.clone());
        let want_signed_requests = idp.want_authn_requests_signed.unwrap_or(false);
        let sp = ServiceProvider {
            idp_metadata: descriptor.clone(),
            ..ServiceProvider::default()
        };
        let signing_certs = match sp.idp_signing_certs() {
            Ok(Some(c)) if !c.is_empty() => c.len(),
            Ok(_) => {
                return Err(bad(
                    "no signing certificate (KeyDescriptor use=\"signing\" with an X509Certificate): responses could not be verified".into(),
                ));
            }
            Err(e) => return Err(bad(format!("a signing certificate cannot be read: {e}"))),
        };
        Ok(IdpMetadata {
            descriptor,
            entity_id,
            sso_redirect,
            slo_redirect,
            want_signed_requests,
            signing_certs,
        })
    }
}

/// Our SP metadata for one idp: entity id (the metadata's own URL), the
/// ACS with the HTTP-POST binding, our certificate when we have one.
pub fn sp_metadata(
    entity_id: &str,
    acs_url: &str,
    cert_der: Option<&[u8]>,
) -> Result<String, SamlError> {
    let sp = ServiceProvider {
        entity_id: Some(entity_id.to_string()),
        metadata_url: Some(entity_id.to_string()),
        acs_url: Some(acs_url.to_string()),
        slo_url: None,
        certificate: cert_der.map(|c| c.to_vec().into()),
        ..ServiceProvider::default()
    };
    let descriptor = sp
        .metadata()
        .map_err(|e| SamlError::Request(e.to_string()))?;
    descriptor
        .to_string()
        .map_err(|e| SamlError::Request(format!("{e:?}")))
}
