//! The IdP's metadata (what we trust: its entity id, its signing
//! certificates, where to send people) and ours (what the IdP's admin
//! registers: our entity id, our ACS, our certificate).

use super::SamlError;
use samael::metadata::EntityDescriptor;
use samael::service_provider::ServiceProvider;

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
    /// Each signing certificate's end of validity (unix seconds), where it
    /// could be read; `portcullis check` warns about ended ones.
    pub cert_not_after: Vec<i64>,
}

/// A problem in a metadata document, at the line and column (1-based)
/// of the element it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl From<MetadataError> for SamlError {
    fn from(e: MetadataError) -> Self {
        SamlError::Metadata(format!("{}:{}: {}", e.line, e.column, e.message))
    }
}

impl IdpMetadata {
    /// Parses metadata: well-formed XML without a DTD (roxmltree refuses
    /// DTDs and so entities), an `EntityDescriptor` with an
    /// `IDPSSODescriptor`, an HTTP-Redirect SingleSignOnService, and at
    /// least one signing certificate — without one samael would not verify
    /// signatures at all, so that is an error here, never a default.
    pub fn parse(xml: &str) -> Result<IdpMetadata, SamlError> {
        IdpMetadata::parse_positioned(xml).map_err(SamlError::from)
    }

    /// [`IdpMetadata::parse`] with the error's position in the document
    /// kept apart, for `portcullis check` to name the metadata file's own
    /// line and column. samael's reader gives no positions: its errors,
    /// and what is missing inside an element, point at that element.
    pub fn parse_positioned(xml: &str) -> Result<IdpMetadata, MetadataError> {
        let doc = match roxmltree::Document::parse(xml) {
            Ok(d) => d,
            Err(e) => {
                let pos = e.pos();
                // roxmltree's message ends with its own " at row:col".
                let text = e.to_string();
                let message = text
                    .strip_suffix(&format!(" at {}:{}", pos.row, pos.col))
                    .unwrap_or(&text)
                    .to_string();
                return Err(MetadataError {
                    line: pos.row,
                    column: pos.col,
                    message,
                });
            }
        };
        let at = |node: roxmltree::Node, message: String| {
            let pos = doc.text_pos_at(node.range().start);
            MetadataError {
                line: pos.row,
                column: pos.col,
                message,
            }
        };
        let root = doc.root_element();
        if root.tag_name().name() != "EntityDescriptor" {
            return Err(at(
                root,
                format!(
                    "the root element is `{}`; an IdP's metadata is one EntityDescriptor",
                    root.tag_name().name()
                ),
            ));
        }
        // Where a missing part of the IdP's description is reported.
        let idp_node = root
            .descendants()
            .find(|n| n.tag_name().name() == "IDPSSODescriptor")
            .unwrap_or(root);
        let descriptor = xml
            .parse::<EntityDescriptor>()
            .map_err(|e| at(root, format!("not SAML metadata: {e}")))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| at(root, "the EntityDescriptor has no entityID".into()))?;
        let Some(idp) = descriptor
            .idp_sso_descriptors
            .as_ref()
            .and_then(|d| d.first())
        else {
            return Err(at(
                root,
                "no IDPSSODescriptor: this is not an IdP's metadata".into(),
            ));
        };
        let sso_redirect = idp
            .single_sign_on_services
            .iter()
            .find(|s| s.binding == REDIRECT_BINDING)
            .map(|s| s.location.clone())
            .ok_or_else(|| {
                at(
                    idp_node,
                    "no SingleSignOnService with the HTTP-Redirect binding".into(),
                )
            })?;
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
        let certs = match sp.idp_signing_certs() {
            Ok(Some(c)) if !c.is_empty() => c,
            Ok(_) => {
                return Err(at(
                    idp_node,
                    "no signing certificate (KeyDescriptor use=\"signing\" with an X509Certificate): responses could not be verified".into(),
                ));
            }
            Err(e) => {
                return Err(at(
                    idp_node,
                    format!("a signing certificate cannot be read: {e}"),
                ));
            }
        };
        let cert_not_after = certs
            .iter()
            .filter_map(|c| x509_parser::parse_x509_certificate(c.der_data()).ok())
            .map(|(_, c)| c.validity().not_after.timestamp())
            .collect();
        Ok(IdpMetadata {
            signing_certs: certs.len(),
            cert_not_after,
            descriptor,
            entity_id,
            sso_redirect,
            slo_redirect,
            want_signed_requests,
        })
    }
}

impl IdpMetadata {
    /// How many signing certificates had ended by `now` (unix seconds).
    pub fn expired_certs(&self, now: i64) -> usize {
        self.cert_not_after.iter().filter(|t| **t < now).count()
    }
}

/// Our SP metadata for one idp: entity id (the metadata's own URL), the
/// ACS with the HTTP-POST binding, our certificate when we have one (for
/// signed requests and encrypted assertions). Written here rather than by
/// samael, whose SP metadata insists on a logout endpoint we do not serve.
pub fn sp_metadata(entity_id: &str, acs_url: &str, cert_der: Option<&[u8]>) -> String {
    use base64::Engine as _;
    let keys = cert_der
        .map(|der| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            ["signing", "encryption"]
                .iter()
                .map(|usage| {
                    format!(
                        r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
                    )
                })
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{eid}"><md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>
"#,
        eid = xml_attr(entity_id),
        acs = xml_attr(acs_url),
        signed = cert_der.is_some(),
    )
}

/// Escapes a value for an XML attribute in double quotes.
fn xml_attr(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(not_after: time::OffsetDateTime) -> String {
        use base64::Engine as _;
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["idp.test".into()]).expect("params");
        params.not_before = not_after - time::Duration::days(365);
        params.not_after = not_after;
        let cert = params.self_signed(&key).expect("cert");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.der());
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.test/"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    #[test]
    fn an_expired_signing_certificate_is_counted_for_check_to_warn() {
        let now = time::OffsetDateTime::now_utc();
        let old = IdpMetadata::parse(&metadata(now - time::Duration::days(1))).expect("parses");
        assert_eq!(old.expired_certs(now.unix_timestamp()), 1);
        let fresh = IdpMetadata::parse(&metadata(now + time::Duration::days(30))).expect("parses");
        assert_eq!(fresh.expired_certs(now.unix_timestamp()), 0);
    }
}
