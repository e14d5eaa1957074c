//! Everything a SAML response must pass before anyone is signed in. Fails
//! closed: any doubt is a refusal, and nothing from a refused response is
//! used or logged.
//!
//! Order matters: the cheap structural checks run on the raw document with
//! a strict parser (no DTD, so no entity expansion, XXE or billion laughs)
//! before samael/libxmlsec1 see it; then samael verifies the signature and
//! hands back only what the signature covers ("see what is signed", the
//! countermeasure of Somorovsky et al., "On Breaking SAML", USENIX Security
//! 2012); the identity is read from that verified assertion only.

use super::SamlError;
use super::config::{GIVEN_NAME_ATTRIBUTE, SURNAME_ATTRIBUTE, SamlIdp};
use super::metadata::IdpMetadata;
use base64::Engine as _;
use samael::crypto::{AllowedSignatureAlgorithm, ReduceMode};
use samael::schema::Assertion;
use samael::service_provider::ServiceProvider;

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// A `SAMLResponse` larger than this (base64) is refused unread.
pub const MAX_RESPONSE_B64: usize = 256 * 1024;

/// Clock skew allowed on `NotBefore`/`NotOnOrAfter`: samael's default (its
/// `max_clock_skew`), used again here for how long an assertion id is kept.
const CLOCK_SKEW_SECS: i64 = 180;

/// What the response must match.
pub struct Expected<'a> {
    /// Our SP entity id: the `Audience`.
    pub entity_id: &'a str,
    /// Our ACS URL: the `Destination` and the `Recipient`.
    pub acs_url: &'a str,
    /// The id of our `AuthnRequest` (`InResponseTo`); `None` for an
    /// IdP-initiated response, which the caller admits only with
    /// `allow_idp_initiated`.
    pub request_id: Option<&'a str>,
}

/// What a verified assertion says, read from the signed content only.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The assertion's `ID`, kept until `expires` so it is never used twice.
    pub assertion_id: String,
    /// Unix seconds after which the assertion is no longer acceptable.
    pub expires: i64,
    pub name_id: Option<String>,
    pub name_id_persistent: bool,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Raw group values; the sign-in qualifies them by the IdP's name.
    pub groups: Vec<String>,
    /// Every `AuthnContextClassRef` of the assertion's authn statements.
    pub authn_contexts: Vec<String>,
    /// `AuthnInstant` (unix seconds), if given.
    pub authn_instant: Option<i64>,
}

/// Verifies a `SAMLResponse` form value against the IdP's metadata.
pub fn response(
    saml_response: &str,
    idp: &SamlIdp,
    md: &IdpMetadata,
    expected: &Expected<'_>,
) -> Result<Verified, SamlError> {
    let refused = SamlError::Refused;
    if saml_response.len() > MAX_RESPONSE_B64 {
        return Err(refused("too large"));
    }
    // Some IdPs wrap the base64 in lines.
    let compact: String = saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| refused("not base64"))?;
    let xml = String::from_utf8(bytes).map_err(|_| refused("not UTF-8"))?;
    structure(&xml, expected)?;
    // An encrypted assertion is decrypted in place, and the result checked
    // again from the start: the plaintext is as untrusted as the rest.
    let xml = match super::decrypt::splice(&xml, idp.sp_key.as_ref())? {
        Some(plain) => {
            structure(&plain, expected)?;
            plain
        }
        None => xml,
    };

    let sp = ServiceProvider {
        entity_id: Some(expected.entity_id.to_string()),
        metadata_url: Some(expected.entity_id.to_string()),
        acs_url: Some(expected.acs_url.to_string()),
        idp_metadata: md.descriptor.clone(),
        key: idp.sp_key.as_ref().map(|k| k.key.clone()),
        allow_idp_initiated: expected.request_id.is_none() && idp.allow_idp_initiated,
        allowed_signature_algorithms: Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
            AllowedSignatureAlgorithm::EcdsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha384,
            AllowedSignatureAlgorithm::EcdsaSha512,
        ]),
        ..ServiceProvider::default()
    };
    // Without signing certificates samael would skip verification: metadata
    // without one never gets this far (`IdpMetadata::parse`), and this is
    // the second lock on that door.
    if !matches!(sp.idp_signing_certs(), Ok(Some(c)) if !c.is_empty()) {
        return Err(SamlError::Metadata("no signing certificate".into()));
    }
    let ids: Vec<&str> = expected.request_id.into_iter().collect();
    let assertion = sp
        .parse_xml_response_with_mode(&xml, Some(&ids), ReduceMode::ValidateAndMarkNoAncestors)
        .map_err(|e| SamlError::Verification(e.to_string()))?;
    read(&assertion, idp, md, expected)
}

/// Whether the document's XML declaration, if any, names no encoding or
/// UTF-8 (the text we hold is UTF-8 already).
fn declared_utf8(xml: &str) -> bool {
    let Some(decl) = xml
        .trim_start_matches('\u{feff}')
        .trim_start()
        .strip_prefix("<?xml")
    else {
        return true;
    };
    let decl = decl.split("?>").next().unwrap_or_default();
    let Some((_, after)) = decl.split_once("encoding") else {
        return true;
    };
    let value = after
        .trim_start()
        .strip_prefix('=')
        .map(str::trim_start)
        .and_then(|v| {
            let quote = v.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            v[1..].split(quote).next()
        });
    value.is_some_and(|v| v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8"))
}

/// Checks made on the raw document before any signature work.
fn structure(xml: &str, expected: &Expected<'_>) -> Result<(), SamlError> {
    let refused = SamlError::Refused;
    // DTDs carry entity definitions: XXE, billion laughs. roxmltree refuses
    // them too; this check also keeps them from libxml2 in samael.
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err(refused("a DTD"));
    }
    // The checks below read the text as UTF-8 (roxmltree ignores a declared
    // encoding); libxml2 in samael decodes the one declared. Under UTF-7,
    // "+ADw-saml:Assertion+AD4-" is text to one parser and an element to
    // the other, so a second assertion could pass the one-assertion rule
    // (a parser differential, the CVE-2025-25291/25292 class).
    if !declared_utf8(xml) {
        return Err(refused(
            "an XML declaration with an encoding other than UTF-8",
        ));
    }
    let doc = roxmltree::Document::parse(xml).map_err(|_| refused("not well-formed XML"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Response" || root.tag_name().namespace() != Some(PROTOCOL_NS) {
        return Err(refused("not a samlp:Response"));
    }
    // Exactly one assertion anywhere: a second one (signed or not) is how
    // signature-wrapping attacks smuggle in the assertion that gets read
    // (XSW1-8, "On Breaking SAML"), and a parser differential between the
    // verifier and the reader needs two candidates to choose between.
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.is_element() && matches!(n.tag_name().name(), "Assertion" | "EncryptedAssertion")
        })
        .collect();
    if assertions.len() != 1 {
        return Err(refused("not exactly one assertion"));
    }
    if assertions[0].parent_element() != Some(root) {
        return Err(refused("the assertion is not a child of the Response"));
    }
    // A comment in signed content is dropped by exclusive C14N, so it can be
    // added without breaking the signature; readers that stop at it read a
    // different NameID (CVE-2017-11427, CVE-2017-11428). No IdP needs one.
    if doc.descendants().any(|n| n.is_comment() || n.is_pi()) {
        return Err(refused("a comment or processing instruction"));
    }
    if let Some(d) = root.attribute("Destination")
        && d != expected.acs_url
    {
        return Err(refused("wrong Destination"));
    }
    match (root.attribute("InResponseTo"), expected.request_id) {
        (Some(got), Some(want)) if got == want => {}
        (None, None) => {}
        (None, Some(_)) => {}
        _ => return Err(refused("InResponseTo does not match")),
    }
    let status = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Status")
        .and_then(|s| {
            s.children()
                .find(|n| n.is_element() && n.tag_name().name() == "StatusCode")
        })
        .and_then(|c| c.attribute("Value"));
    if status != Some(SUCCESS) {
        return Err(refused("the IdP did not sign the person in"));
    }
    Ok(())
}

/// Reads the verified assertion, with the checks samael leaves optional made
/// mandatory: an `Audience` naming us, an end of validity.
fn read(
    a: &Assertion,
    idp: &SamlIdp,
    md: &IdpMetadata,
    expected: &Expected<'_>,
) -> Result<Verified, SamlError> {
    let refused = SamlError::Refused;
    if a.issuer.value.as_deref() != Some(md.entity_id.as_str()) {
        return Err(refused("wrong Issuer"));
    }
    if a.id.is_empty() {
        return Err(refused("an assertion without ID"));
    }
    let conditions = a.conditions.as_ref().ok_or(refused("no Conditions"))?;
    let audience_ok = conditions.audience_restrictions.as_ref().is_some_and(|rs| {
        !rs.is_empty()
            && rs
                .iter()
                .all(|r| r.audience.iter().any(|x| x == expected.entity_id))
    });
    if !audience_ok {
        return Err(refused("wrong Audience"));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let bearer_end = a
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .filter_map(|d| d.not_on_or_after)
        .map(|t| t.timestamp())
        .max();
    let expires = [
        conditions.not_on_or_after.map(|t| t.timestamp()),
        bearer_end,
    ]
    .into_iter()
    .flatten()
    .min()
    .ok_or(refused("no NotOnOrAfter"))?
        + CLOCK_SKEW_SECS;
    if expires <= now {
        return Err(refused("expired"));
    }
    let name_id = a.subject.as_ref().and_then(|s| s.name_id.as_ref());
    let attr = |names: &[String]| -> Vec<String> {
        let mut out = Vec::new();
        for n in names {
            for st in a.attribute_statements.iter().flatten() {
                for at in st
                    .attributes
                    .iter()
                    .filter(|at| at.name.as_deref() == Some(n))
                {
                    out.extend(
                        at.values
                            .iter()
                            .filter_map(|v| v.value.as_ref())
                            .map(|v| v.trim().to_string())
                            .filter(|v| !v.is_empty()),
                    );
                }
            }
        }
        out
    };
    let email = attr(&idp.attributes.email).into_iter().next().or_else(|| {
        name_id
            .filter(|n| n.format.as_deref() == Some(EMAIL_FORMAT))
            .map(|n| n.value.trim().to_string())
    });
    let name = attr(&idp.attributes.name).into_iter().next().or_else(|| {
        let given = attr(&[GIVEN_NAME_ATTRIBUTE.to_string()]).into_iter().next();
        let sur = attr(&[SURNAME_ATTRIBUTE.to_string()]).into_iter().next();
        match (given, sur) {
            (Some(g), Some(s)) => Some(format!("{g} {s}")),
            (g, s) => g.or(s),
        }
    });
    let mut groups = attr(&idp.attributes.groups);
    groups.sort();
    groups.dedup();
    Ok(Verified {
        assertion_id: a.id.clone(),
        expires,
        name_id: name_id.map(|n| n.value.trim().to_string()),
        name_id_persistent: name_id.is_some_and(|n| n.format.as_deref() == Some(PERSISTENT)),
        email,
        name,
        groups,
        authn_contexts: a
            .authn_statements
            .iter()
            .flatten()
            .filter_map(|s| s.authn_context.as_ref())
            .filter_map(|c| c.value.as_ref())
            .filter_map(|c| c.value.clone())
            .map(|c| c.trim().to_string())
            .collect(),
        authn_instant: a
            .authn_statements
            .iter()
            .flatten()
            .filter_map(|s| s.authn_instant)
            .map(|t| t.timestamp())
            .max(),
    })
}
