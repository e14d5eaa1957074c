//! Sign-out at the IdP: a `LogoutRequest` over HTTP-Redirect (SAML bindings
//! §3.4) to the IdP's SingleLogoutService, offered as a link on our
//! signed-out page when its metadata lists one. Our own session is already
//! ended; leaving the partner's session is the person's choice.
//!
//! samael has no writer for `LogoutRequest`, so the few elements are
//! written here (every value escaped); the redirect encoding and its
//! signature are the same as for our `AuthnRequest` (samael's `sign_url`).

use super::SamlError;
use super::config::SpKey;
use super::metadata::IdpMetadata;
use base64::Engine as _;
use std::io::Write as _;

const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// Who is signed out at the IdP: the NameID we keyed the user by.
pub struct LoggedOut<'a> {
    /// A persistent NameID, or the e-mail when the IdP sent none.
    pub name_id: &'a str,
    pub persistent: bool,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The redirect URL to the IdP's SingleLogoutService, signed with our SP
/// key when we have one; `None` when the metadata lists no
/// SingleLogoutService with the HTTP-Redirect binding.
pub fn redirect_url(
    md: &IdpMetadata,
    entity_id: &str,
    who: &LoggedOut<'_>,
    sp_key: Option<&SpKey>,
) -> Result<Option<String>, SamlError> {
    let Some(slo) = &md.slo_redirect else {
        return Ok(None);
    };
    let failed = |e: &dyn std::fmt::Display| SamlError::Request(e.to_string());
    let id: String = (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|e| failed(&e))?
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| failed(&e))?;
    let format = if who.persistent {
        PERSISTENT
    } else {
        EMAIL_FORMAT
    };
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="{format}">{name_id}</saml:NameID></samlp:LogoutRequest>"#,
        dest = escape(slo),
        issuer = escape(entity_id),
        name_id = escape(who.name_id),
    );
    let mut deflated = Vec::new();
    {
        let mut enc =
            flate2::write::DeflateEncoder::new(&mut deflated, flate2::Compression::default());
        enc.write_all(xml.as_bytes()).map_err(|e| failed(&e))?;
        enc.finish().map_err(|e| failed(&e))?;
    }
    let mut url: openidconnect::url::Url = slo.parse().map_err(|e| failed(&e))?;
    url.query_pairs_mut().append_pair(
        "SAMLRequest",
        &base64::engine::general_purpose::STANDARD.encode(&deflated),
    );
    let url = match sp_key {
        Some(k) => samael::crypto::sign_url(url, &k.key).map_err(|e| failed(&e))?,
        None => url,
    };
    Ok(Some(url.to_string()))
}
