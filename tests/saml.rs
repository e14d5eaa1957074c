//! SAML 2.0 federation (issue 16): a partner's enterprise IdP signs a guest
//! in through the real gateway, and every response the issue lists as
//! hostile is refused.
//!
//! The IdP is `support::saml_idp`: it reads our AuthnRequest off the
//! redirect and answers as AD FS does, its signatures made by Debian's
//! `xmlsec1` command-line tool (never by the code under test).
//!
//! Two halves: the attack corpus against `portcullis::saml::verify`
//! directly (each case names its source), and the end-to-end walk through
//! `portcullis serve` (sign-in, consent, the app, MFA from
//! `AuthnContextClassRef` only with `mfa: trusted`, replay, also on a
//! second replica sharing a PostgreSQL store, unsolicited responses).
//! Encrypted assertions are `tests/saml_encryption.rs`'; the Chromium
//! journey with SimpleSAMLphp is `tests/saml_browser.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::saml::{Attributes, Expected, IdpMetadata, MetadataSource, SamlIdp};
use support::browser::{Browser, Page};
use support::gateway::{AppSpec, Gateway, app};
use support::saml_idp::{self, Idp, Key, MULTIPLE_AUTHN, Sign, Spec, b64, strip_decl};
use support::upstream::Upstream;

const AUTH: &str = "auth.test";
const ENTITY: &str = "http://auth.test:8080/.portcullis/saml/fabrikam/metadata";
const ACS: &str = "http://auth.test:8080/.portcullis/saml/fabrikam/acs";
const ANN: &str = "ann@fabrikam.example";
const EVE: &str = "eve@fabrikam.example";
const REQ: &str = "_0123456789abcdef0123456789abcdef";

// ---- the corpus, against the verifier ------------------------------------

struct Case {
    idp: Idp,
    sp: SamlIdp,
    md: IdpMetadata,
    _dir: tempfile::TempDir,
}

fn case() -> Case {
    case_with(Attributes::from_file(None))
}

fn case_with(attributes: Attributes) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let idp = Idp::new(dir.path(), "fabrikam");
    let md = IdpMetadata::parse(&idp.metadata(&[&idp.key])).unwrap();
    let sp = SamlIdp::new(
        "fabrikam".into(),
        MetadataSource::File(dir.path().join("md.xml")),
        Some(md.clone()),
        vec!["fabrikam.example".into()],
        attributes,
        vec![MULTIPLE_AUTHN.into()],
        false,
        None,
    );
    Case {
        idp,
        sp,
        md,
        _dir: dir,
    }
}

impl Case {
    fn spec(&self) -> Spec {
        Spec::new(&self.idp, ENTITY, ACS, Some(REQ), ANN)
    }

    fn verify(&self, b64: &str) -> Result<portcullis::saml::Verified, String> {
        portcullis::saml::verify::response(
            b64,
            &self.sp,
            &self.md,
            &Expected {
                entity_id: ENTITY,
                acs_url: ACS,
                request_id: Some(REQ),
            },
        )
        .map_err(|e| e.to_string())
    }

    fn refused(&self, what: &str, xml: &str) -> String {
        match self.verify(&b64(xml)) {
            Ok(v) => panic!("{what}: accepted ({v:?})"),
            Err(e) => e,
        }
    }
}

#[test]
fn a_signed_assertion_is_read_from_what_the_signature_covers() {
    let c = case();
    let v = c
        .verify(&c.idp.response(&c.spec(), Sign::Assertion))
        .unwrap();
    assert_eq!(v.email.as_deref(), Some(ANN));
    assert_eq!(v.name.as_deref(), Some("Ann Partner"));
    // Raw values: the sign-in qualifies them by the IdP's name.
    assert_eq!(v.groups, ["Engineers", "Finance"]);
    assert!(v.name_id_persistent);
    assert_eq!(v.authn_contexts, [saml_idp::PASSWORD_PROTECTED.to_string()]);
}

#[test]
fn a_signed_response_covering_its_one_assertion_is_accepted() {
    let c = case();
    let v = c
        .verify(&c.idp.response(&c.spec(), Sign::Response))
        .unwrap();
    assert_eq!(v.email.as_deref(), Some(ANN));
}

/// Rollover: metadata with two certificates; either one signs.
#[test]
fn any_certificate_in_the_metadata_verifies_during_a_rollover() {
    let mut c = case();
    let next = Key::new(&c.idp.dir, "next");
    c.md = IdpMetadata::parse(&c.idp.metadata(&[&c.idp.key, &next])).unwrap();
    let s = c.spec();
    let signed = strip_decl(&c.idp.sign_with(&saml_idp::assertion_xml(&s, true), &next));
    c.verify(&b64(&saml_idp::response_xml(&s, &signed, false)))
        .unwrap();
}

const CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";

fn attributes(list: &[(&str, &[&str])]) -> Option<Vec<(String, Vec<String>)>> {
    Some(
        list.iter()
            .map(|(n, vs)| (n.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect(),
    )
}

/// The default attribute names (issue 16, AD FS and Entra ID claim URIs)
/// beyond the ones the other tests send: `…/claims/name` as the display
/// name, given name and surname joined when no display name came, groups
/// under `http://schemas.xmlsoap.org/claims/Group`.
#[test]
fn default_attribute_names_read_the_ad_fs_claims() {
    let c = case();
    let email = format!("{CLAIMS}/emailaddress");
    let group = "http://schemas.xmlsoap.org/claims/Group";
    let mut s = c.spec();
    s.attributes = attributes(&[
        (&email, &[ANN]),
        (&format!("{CLAIMS}/name"), &["Ann from the name claim"]),
        (&format!("{CLAIMS}/givenname"), &["Ann"]),
        (&format!("{CLAIMS}/surname"), &["Partner"]),
        (group, &["Domain Users", "Engineers"]),
    ]);
    let v = c.verify(&c.idp.response(&s, Sign::Assertion)).unwrap();
    assert_eq!(v.email.as_deref(), Some(ANN));
    // `…/claims/name` is a display-name attribute; it comes before the join.
    assert_eq!(v.name.as_deref(), Some("Ann from the name claim"));
    assert_eq!(v.groups, ["Domain Users", "Engineers"]);

    let mut s = c.spec();
    s.attributes = attributes(&[
        (&email, &[ANN]),
        (&format!("{CLAIMS}/givenname"), &["Ann"]),
        (&format!("{CLAIMS}/surname"), &["Partner"]),
        (group, &["Finance"]),
    ]);
    let v = c.verify(&c.idp.response(&s, Sign::Assertion)).unwrap();
    assert_eq!(v.name.as_deref(), Some("Ann Partner"));
    assert_eq!(v.groups, ["Finance"]);
}

/// `attributes:` names replace the defaults: an IdP that sends `mail`, `cn`
/// and `memberOf` (Shibboleth, PingFederate) is read from those, and the
/// default claims it also sends are not read.
#[test]
fn an_attributes_override_replaces_the_default_names() {
    let f = portcullis::saml::config::AttributesFile {
        email: Some(vec!["mail".into()]),
        name: Some(vec!["cn".into()]),
        groups: Some(vec!["memberOf".into()]),
    };
    let c = case_with(Attributes::from_file(Some(&f)));
    let mut s = c.spec();
    s.attributes = attributes(&[
        ("mail", &[ANN]),
        ("cn", &["Ann P."]),
        ("memberOf", &["cn=staff,dc=fabrikam"]),
        (saml_idp::EMAIL_CLAIM, &[EVE]),
        (saml_idp::NAME_CLAIM, &["Eve"]),
        (saml_idp::GROUPS_CLAIM, &["Admins"]),
    ]);
    let v = c.verify(&c.idp.response(&s, Sign::Assertion)).unwrap();
    assert_eq!(v.email.as_deref(), Some(ANN));
    assert_eq!(v.name.as_deref(), Some("Ann P."));
    assert_eq!(v.groups, ["cn=staff,dc=fabrikam"]);
    // Only the names given are replaced: the default groups claim still
    // counts where `groups` is not set.
    let f = portcullis::saml::config::AttributesFile {
        email: Some(vec!["mail".into()]),
        name: None,
        groups: None,
    };
    let c2 = case_with(Attributes::from_file(Some(&f)));
    let mut s2 = c2.spec();
    s2.attributes = attributes(&[("mail", &[ANN]), (saml_idp::GROUPS_CLAIM, &["Admins"])]);
    let v = c2.verify(&c2.idp.response(&s2, Sign::Assertion)).unwrap();
    assert_eq!(v.email.as_deref(), Some(ANN));
    assert_eq!(v.groups, ["Admins"]);
}

/// No e-mail attribute: an `emailAddress`-format NameID is the e-mail (the
/// documented fallback); a persistent NameID never is.
#[test]
fn an_email_address_name_id_is_the_email_when_no_attribute_says_it() {
    let c = case();
    let mut s = c.spec();
    s.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into();
    s.name_id = ANN.into();
    s.attributes = attributes(&[]);
    let v = c.verify(&c.idp.response(&s, Sign::Assertion)).unwrap();
    assert_eq!(v.email.as_deref(), Some(ANN));
    assert_eq!(v.name_id.as_deref(), Some(ANN));
    assert!(!v.name_id_persistent);
    assert_eq!(v.name, None);
    assert!(v.groups.is_empty());

    let mut s = c.spec();
    s.attributes = attributes(&[]);
    let v = c.verify(&c.idp.response(&s, Sign::Assertion)).unwrap();
    assert!(v.name_id_persistent);
    assert_eq!(v.email, None, "a persistent NameID is not an address");
}

#[test]
fn an_unsigned_response_is_refused() {
    let c = case();
    let e = c.refused("unsigned", &c.idp.response_raw(&c.spec(), Sign::None));
    assert!(e.contains("must be signed"), "{e}");
}

/// Signed by a key the metadata does not list (an attacker's own IdP).
#[test]
fn a_signature_by_a_key_not_in_the_metadata_is_refused() {
    let c = case();
    let evil = Key::new(&c.idp.dir, "evil");
    let s = c.spec();
    let signed = strip_decl(&c.idp.sign_with(&saml_idp::assertion_xml(&s, true), &evil));
    let e = c.refused("foreign key", &saml_idp::response_xml(&s, &signed, false));
    assert!(e.contains("must be signed"), "{e}");
}

/// A signed assertion edited after signing (the e-mail changed).
#[test]
fn an_assertion_changed_after_signing_is_refused() {
    let c = case();
    let xml = c
        .idp
        .response_raw(&c.spec(), Sign::Assertion)
        .replace(ANN, "eve@fabrikam.example");
    let e = c.refused("tampered", &xml);
    assert!(e.contains("must be signed"), "{e}");
}

/// `xml` with its first `<ds:Signature>` taken out: the bytes the signer
/// digested (the enveloped-signature transform does the same), so a copy
/// made this way still matches the signature's Reference.
fn without_signature(xml: &str) -> String {
    let start = xml.find("<ds:Signature").expect("a signature");
    let end = xml.find("</ds:Signature>").expect("its end") + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

/// The attacker's edit of a copy of `xml`: Eve's e-mail and NameID instead
/// of Ann's, and an ID of its own on the assertion (and on the Response),
/// so no ID is doubled and the signature's Reference still finds the
/// original. A `<ds:Signature>` inside is kept as it was.
fn evil_copy(xml: &str, s: &Spec) -> String {
    xml.replace(&format!("ID=\"{}\"", s.assertion_id), "ID=\"_evil\"")
        .replace(
            &format!("ID=\"{}\"", s.response_id),
            "ID=\"_evil_response\"",
        )
        .replace(ANN, EVE)
        .replace(&s.name_id, "pid-eve")
}

/// `outer` with `inner` put just before its last `</saml:Assertion>`.
fn inside_assertion(outer: &str, inner: &str) -> String {
    let at = outer.rfind("</saml:Assertion>").expect("an assertion");
    format!("{}{inner}{}", &outer[..at], &outer[at..])
}

/// The eight signature-wrapping shapes XSW1-XSW8 of Somorovsky et al., "On
/// Breaking SAML: Be Whoever You Want to Be" (USENIX Security 2012), as
/// SAML Raider builds them: XSW1-2 wrap a signed Response, XSW3-8 a signed
/// Assertion. In each the signature still verifies over Ann's original,
/// and Eve's copy sits where a reader that does not "see what is signed"
/// would look.
fn xsw_shapes(idp: &Idp, s: &Spec) -> Vec<(&'static str, String)> {
    let signed_response = strip_decl(&idp.response_raw(s, Sign::Response));
    let original_response = without_signature(&signed_response);
    let evil_response = evil_copy(&signed_response, s);
    let signed = strip_decl(&idp.sign(&saml_idp::assertion_xml(s, true)));
    let original = without_signature(&signed);
    // Eve's assertion still carrying Ann's signature (XSW5, 6, 8) or none.
    let evil_signed = evil_copy(&signed, s);
    let evil = evil_copy(&original, s);
    let response = |inner: &str| saml_idp::response_xml(s, inner, false);
    vec![
        (
            "XSW1: Eve's Response carries the signature; Ann's signed Response, \
             its signature removed, is a child of that Signature",
            evil_response.replacen(
                "</ds:Signature>",
                &format!("{original_response}</ds:Signature>"),
                1,
            ),
        ),
        (
            "XSW2: as XSW1, Ann's Response placed before the Signature \
             (a detached signature)",
            evil_response.replacen(
                "<ds:Signature",
                &format!("{original_response}<ds:Signature"),
                1,
            ),
        ),
        (
            "XSW3: Eve's unsigned assertion before Ann's signed one, siblings",
            response(&format!("{evil}{signed}")),
        ),
        (
            "XSW4: Ann's signed assertion a child of Eve's unsigned one",
            response(&inside_assertion(&evil, &signed)),
        ),
        (
            "XSW5: Eve's assertion carries Ann's signature; Ann's assertion, \
             unsigned, appended to the Response",
            response(&format!("{evil_signed}{original}")),
        ),
        (
            "XSW6: Eve's assertion carries Ann's signature; Ann's assertion, \
             unsigned, inside that Signature",
            response(&evil_signed.replacen(
                "</ds:Signature>",
                &format!("{original}</ds:Signature>"),
                1,
            )),
        ),
        (
            "XSW7: Eve's unsigned assertion in samlp:Extensions (lax schema), \
             Ann's signed one in place",
            response(&signed).replacen(
                "<samlp:Status>",
                &format!("<samlp:Extensions>{evil}</samlp:Extensions><samlp:Status>"),
                1,
            ),
        ),
        (
            "XSW8: Eve's assertion carries Ann's signature; Ann's assertion, \
             unsigned, in a ds:Object of that Signature",
            response(&evil_signed.replacen(
                "</ds:Signature>",
                &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
                1,
            )),
        ),
    ]
}

/// XSW1-XSW8 (Somorovsky et al., "On Breaking SAML: Be Whoever You Want to
/// Be", USENIX Security 2012; the SAML Raider set), each refused. Where
/// libxmlsec1 admits the shape, its signature still verifies (checked with
/// the `xmlsec1` command line), so the refusal is the wrapping defence's:
/// every shape puts a second assertion in the document, and "exactly one
/// assertion" refuses it before anything is read.
#[test]
fn signature_wrapping_with_a_second_assertion_is_refused_in_every_shape() {
    let c = case();
    let shapes = xsw_shapes(&c.idp, &c.spec());
    assert_eq!(shapes.len(), 8);
    for (what, xml) in &shapes {
        assert!(xml.contains(EVE), "{what}: Eve's copy is in the document");
        // The wrapping keeps the signature valid, so the refusal below is
        // the wrapping defence's. Where the original sits inside the
        // Signature, libxmlsec1 cannot be fooled on its own: a foreign
        // child of ds:Signature is a schema error (XSW1, XSW6), and the
        // enveloped-signature transform drops everything under the
        // Signature, the original in ds:Object too (XSW8).
        let xmlsec = c.idp.signature_verifies(xml);
        match &what[..4] {
            "XSW1" | "XSW6" => assert!(
                xmlsec
                    .as_ref()
                    .is_err_and(|e| e.contains("unexpected node")),
                "{what}: {xmlsec:?}"
            ),
            "XSW8" => assert!(
                xmlsec
                    .as_ref()
                    .is_err_and(|e| e.contains("digest do not match")),
                "{what}: {xmlsec:?}"
            ),
            _ => assert!(
                xmlsec.is_ok(),
                "{what}: the signature no longer verifies, so this is no wrapping: {xmlsec:?}"
            ),
        }
        let e = c.refused(what, xml);
        assert!(e.contains("exactly one assertion"), "{what}: {e}");
    }
}

/// A signed Response whose signature covers another element than the
/// assertion that would be read: the Reference names the Status only
/// (CVE-2024-45409-class signature confusion).
#[test]
fn a_signature_that_does_not_cover_the_assertion_read_is_refused() {
    let c = case();
    let s = c.spec();
    let xml = saml_idp::response_xml(&s, &saml_idp::assertion_xml(&s, false), true)
        .replace(r#"<samlp:Status>"#, r#"<samlp:Status ID="_status">"#)
        .replace(&format!("URI=\"#{}\"", s.response_id), "URI=\"#_status\"");
    let out = std::process::Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem"])
        .arg(format!(
            "{},{}",
            c.idp.key.key_pem.display(),
            c.idp.key.cert_pem.display()
        ))
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Status",
        ])
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(xml.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let signed = String::from_utf8(out.stdout).unwrap();
    assert!(signed.contains("SignatureValue>"), "xmlsec1 signed nothing");
    let e = c.refused("signature over Status only", &signed);
    assert!(e.contains("parse"), "{e}");
}

#[test]
fn wrong_audience_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.audience = "http://other-sp.example/metadata".into();
    let e = c.refused("audience", &c.idp.response_raw(&s, Sign::Assertion));
    assert!(e.contains("Audience"), "{e}");
}

#[test]
fn wrong_destination_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.destination = Some("http://auth.test:8080/.portcullis/saml/other/acs".into());
    let e = c.refused("destination", &c.idp.response_raw(&s, Sign::Response));
    assert!(e.contains("Destination"), "{e}");
}

#[test]
fn wrong_recipient_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.recipient = "http://evil.example/acs".into();
    let e = c.refused("recipient", &c.idp.response_raw(&s, Sign::Assertion));
    assert!(e.contains("Recipient"), "{e}");
}

#[test]
fn an_expired_assertion_is_refused() {
    let c = case();
    let mut s = c.spec();
    // Past NotOnOrAfter beyond the 3-minute skew.
    s.issue_offset = -900;
    s.not_before = -960;
    s.not_on_or_after = -600;
    let e = c.refused("expired", &c.idp.response_raw(&s, Sign::Assertion));
    assert!(e.contains("expired"), "{e}");
    // Issued just now, but its NotOnOrAfter is past (beyond the skew).
    let mut s = c.spec();
    s.not_on_or_after = -600;
    let e = c.refused("NotOnOrAfter", &c.idp.response_raw(&s, Sign::Assertion));
    assert!(e.contains("expired"), "{e}");
}

#[test]
fn an_assertion_not_yet_valid_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.not_before = 900;
    s.not_on_or_after = 1200;
    let e = c.refused("not yet valid", &c.idp.response_raw(&s, Sign::Assertion));
    assert!(e.contains("not valid until"), "{e}");
}

#[test]
fn a_wrong_or_missing_in_response_to_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.in_response_to = Some("_someone_elses_request".into());
    let e = c.refused(
        "wrong InResponseTo",
        &c.idp.response_raw(&s, Sign::Assertion),
    );
    assert!(e.contains("InResponseTo"), "{e}");
    // Unsolicited (no InResponseTo) while a request is pending.
    s.in_response_to = None;
    let e = c.refused(
        "missing InResponseTo",
        &c.idp.response_raw(&s, Sign::Assertion),
    );
    assert!(e.contains("InResponseTo"), "{e}");
}

#[test]
fn a_wrong_issuer_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.issuer = "http://evil.idp.test/".into();
    let e = c.refused("issuer", &c.idp.response_raw(&s, Sign::Assertion));
    assert!(e.contains("Issuer"), "{e}");
}

/// CVE-2017-11427/11428 class: a comment splits the NameID; exclusive C14N
/// drops it, so the signature still verifies, and a reader that stops at the
/// comment reads another user. Any comment is refused.
#[test]
fn a_comment_inside_the_name_id_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into();
    s.name_id = "ann@fabrikam.example.evil.example".into();
    let xml = c.idp.response_raw(&s, Sign::Assertion).replace(
        "ann@fabrikam.example.evil.example</saml:NameID>",
        "ann@fabrikam.example<!---->.evil.example</saml:NameID>",
    );
    assert!(xml.contains("<!---->"));
    let e = c.refused("comment", &xml);
    assert!(e.contains("comment"), "{e}");
}

/// Parser differentials (CVE-2025-25291, CVE-2025-25292: ruby-saml's REXML
/// and Nokogiri read one document differently, so the signature was checked
/// on one element and the identity read from another). Here three parsers
/// see each response: roxmltree (the structural checks), libxml2 (xmlsec's
/// signature check and samael's reduction to what is signed) and quick-xml
/// (samael's reader, which matches on local names). Every document below
/// must be refused or read exactly as signed: Ann, never Eve, and never a
/// NameID or e-mail other than the signed characters.
#[test]
fn parser_differentials_are_refused_or_read_as_signed() {
    let c = case();
    let s = c.spec();
    let signed = strip_decl(&c.idp.sign(&saml_idp::assertion_xml(&s, true)));
    let evil = evil_copy(&without_signature(&signed), &s);
    let response = |inner: &str| saml_idp::response_xml(&s, inner, false);
    let assertion_ns = r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;
    // roxmltree ignores an XML declaration's encoding; libxml2 honours it.
    // In UTF-7 "+ADw-" and "+AD4-" are '<' and '>', and '+' opens such a
    // sequence, so a literal '+' (base64 in the signature) is "+-".
    let literal = |x: &str| x.replace('+', "+-");
    let hide = |x: &str| literal(x).replace('<', "+ADw-").replace('>', "+AD4-");
    let utf7 = |inner: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-7\"?>{}",
            response(inner)
        )
    };
    assert!(signed.contains('+'), "a '+' for UTF-7 to decode");
    let under_x = evil
        .replace("saml:", "x:")
        .replace("xmlns:saml=", "xmlns:x=");
    let cases: Vec<(&str, String)> = vec![
        (
            "Eve's assertion in the SAML namespace under another prefix, \
             <x:Assertion>, before the signed one",
            response(&format!("{under_x}{signed}")),
        ),
        (
            "Eve's assertion in a foreign namespace with the local name \
             Assertion (quick-xml matches local names)",
            response(&format!(
                "{}{signed}",
                evil.replace(assertion_ns, r#"xmlns:saml="urn:evil:assertion""#)
            )),
        ),
        (
            "the saml prefix rebound to a foreign namespace on an inner \
             element, Eve's <saml:Assertion> under it",
            response(&signed).replacen(
                "<samlp:Status>",
                &format!(
                    r#"<samlp:Extensions xmlns:saml="urn:evil:assertion">{}</samlp:Extensions><samlp:Status>"#,
                    evil.replace(assertion_ns, "")
                ),
                1,
            ),
        ),
        (
            "the samlp prefix of the Response bound to a foreign namespace \
             (a Response by local name only)",
            response(&signed).replacen(
                r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol""#,
                r#"xmlns:samlp="urn:evil:protocol""#,
                1,
            ),
        ),
        (
            "the Response carries the assertion's ID too (a second element \
             the signature's Reference could resolve to)",
            response(&signed).replacen(
                &format!("ID=\"{}\"", s.response_id),
                &format!("ID=\"{}\"", s.assertion_id),
                1,
            ),
        ),
        (
            "the Status, before the assertion, carries the assertion's ID",
            response(&signed).replacen(
                "<samlp:Status>",
                &format!("<samlp:Status ID=\"{}\">", s.assertion_id),
                1,
            ),
        ),
        (
            "the Status carries the assertion's ID as xml:id (an ID to \
             libxml2 without registration)",
            response(&signed).replacen(
                "<samlp:Status>",
                &format!("<samlp:Status xml:id=\"{}\">", s.assertion_id),
                1,
            ),
        ),
        // Found by these cases: before, the two UTF-7 documents were read
        // as signed only thanks to samael's reduction to the signed
        // element, as the one-assertion rule counted roxmltree's view,
        // which misses the hidden assertion. A declared encoding other
        // than UTF-8 is now refused (asserted below).
        (
            "declared UTF-7: Eve's assertion is text to roxmltree, an \
             element to libxml2",
            utf7(&format!("{}{}", hide(&evil), literal(&signed))),
        ),
        (
            "declared UTF-7: Ann's signed assertion is text to roxmltree, \
             which sees only Eve's unsigned one; libxml2 sees both",
            utf7(&format!("{}{}", hide(&signed), literal(&evil))),
        ),
    ];
    // Character references and CDATA in the NameID and the e-mail: C14N
    // turns them into the characters they stand for, so the signature
    // still verifies; a reader that keeps the reference, or stops at the
    // first text node, would read another user (the comment-injection
    // trick of CVE-2017-11427/11428 without a comment).
    let mut rewritten = Vec::new();
    for (signed_value, written) in [
        (ANN, "ann&#x40;fabrikam.example"),
        (ANN, "<![CDATA[ann@fabrikam.example]]>"),
        (
            "ann@fabrikam.example.evil.example",
            "ann@fabrikam.example<![CDATA[.evil.example]]>",
        ),
        (
            "ann@fabrikam.example.evil.example",
            "ann@fabrikam.example&#x2e;evil.example",
        ),
    ] {
        let mut s = c.spec();
        s.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into();
        s.name_id = signed_value.into();
        s.email = signed_value.into();
        let xml = c
            .idp
            .response_raw(&s, Sign::Assertion)
            .replace(&format!(">{signed_value}<"), &format!(">{written}<"));
        assert!(xml.contains(written), "{xml}");
        if let Err(e) = c.idp.signature_verifies(&xml) {
            panic!("{written}: C14N should make this the signed text: {e}");
        }
        rewritten.push((signed_value, written, xml));
    }
    for (what, xml) in &cases {
        match c.verify(&b64(xml)) {
            Err(_) => {}
            Ok(v) => {
                assert_eq!(v.email.as_deref(), Some(ANN), "{what}: {v:?}");
                assert_eq!(v.name_id.as_deref(), Some(s.name_id.as_str()), "{what}");
            }
        }
    }
    // A comment hidden from roxmltree (and so from its comment check) in
    // UTF-7, splitting the NameID and the e-mail as in CVE-2017-11427.
    let long = "ann@fabrikam.example.evil.example";
    let mut s7 = c.spec();
    s7.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into();
    s7.name_id = long.into();
    s7.email = long.into();
    let body = literal(&strip_decl(&c.idp.response_raw(&s7, Sign::Assertion)));
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-7\"?>{}",
        body.replace(
            &format!(">{long}<"),
            // "<!---->" in UTF-7, the comment after "ann@fabrikam.example".
            ">ann@fabrikam.example+ADwAIQ-----+AD4-.evil.example<"
        )
    );
    rewritten.push((long, "a UTF-7 comment in the NameID", xml));
    // Every document that declares UTF-7 is refused before any parser
    // could read it two ways.
    let utf7_docs = cases
        .iter()
        .map(|(what, xml)| (*what, xml))
        .chain(rewritten.iter().map(|(_, what, xml)| (*what, xml)))
        .filter(|(_, xml)| xml.contains("encoding=\"UTF-7\""));
    let mut declared_utf7 = 0;
    for (what, xml) in utf7_docs {
        let e = c.refused(what, xml);
        assert!(e.contains("encoding other than UTF-8"), "{what}: {e}");
        declared_utf7 += 1;
    }
    assert_eq!(declared_utf7, 3);
    for (signed_value, written, xml) in &rewritten {
        match c.verify(&b64(xml)) {
            Err(_) => {}
            Ok(v) => {
                assert_eq!(v.email.as_deref(), Some(*signed_value), "{written}: {v:?}");
                assert_eq!(v.name_id.as_deref(), Some(*signed_value), "{written}");
            }
        }
    }
}

#[test]
fn a_dtd_an_external_entity_and_billion_laughs_are_refused() {
    let c = case();
    let signed = c.idp.response_raw(&c.spec(), Sign::Assertion);
    let body = strip_decl(&signed);
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        body.replacen("Ann Partner", "&x;", 1)
    );
    let e = c.refused("external entity", &xxe);
    assert!(e.contains("DTD"), "{e}");
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>{}",
        body.replacen("Ann Partner", "&c;", 1)
    );
    let e = c.refused("billion laughs", &laughs);
    assert!(e.contains("DTD"), "{e}");
    let dtd = format!("<!DOCTYPE Response SYSTEM \"http://evil.example/saml.dtd\">{body}");
    let e = c.refused("DTD", &dtd);
    assert!(e.contains("DTD"), "{e}");
}

#[test]
fn a_failed_status_is_refused() {
    let c = case();
    let mut s = c.spec();
    s.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    let e = c.refused("status", &c.idp.response_raw(&s, Sign::Response));
    assert!(e.contains("did not sign"), "{e}");
}

#[test]
fn metadata_without_a_signing_certificate_is_an_error() {
    let c = case();
    let md = c.idp.metadata(&[]);
    let e = IdpMetadata::parse(&md).unwrap_err().to_string();
    assert!(e.contains("no signing certificate"), "{e}");
    let e = IdpMetadata::parse("<md:EntityDescriptor\n  <oops")
        .unwrap_err()
        .to_string();
    assert!(e.contains("2:"), "position in {e}");
}

// ---- end to end, through the gateway --------------------------------------

const RULES: &str = "\
policies:
  - name: demo-needs-mfa
    users: { include: [all] }
    apps: { include: [demo] }
    grant: { require: [mfa] }
";

struct Env {
    gw: Gateway,
    up: Upstream,
    /// fabrikam.example: `mfa: trusted`.
    fabrikam: Idp,
    /// contoso.example: MFA not trusted; `allow_idp_initiated: true`.
    contoso: Idp,
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(self.gw.http, &[AUTH, "wiki.test", "demo.test"])
    }

    fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// The app → the sign-in page → e-mail → the redirect to the IdP.
    async fn to_idp(&self, b: &mut Browser, app_host: &str, email: &str) -> saml_idp::Request {
        let form = b.open(&self.url(app_host, "/")).await;
        assert_eq!(form.heading(), "Sign in", "{}", form.body);
        let mut fields = vec![("email", email.to_string())];
        for f in ["csrf", "rd"] {
            if let Some(v) = form.field(f) {
                fields.push((f, v));
            }
        }
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = b
            .post(&form.url.join("/.portcullis/sign-in").unwrap(), &refs)
            .await;
        assert_eq!(p.status, 302, "{p:?}");
        let to = p.location.clone().unwrap();
        assert!(to.as_str().contains(".idp.test/adfs/ls/"), "{to}");
        saml_idp::read_request(&to)
    }

    /// The IdP's form post to our ACS, and the same-site hop after it.
    async fn post_acs(&self, b: &mut Browser, acs: &str, response: &str, rs: Option<&str>) -> Page {
        let acs = reqwest::Url::parse(acs).unwrap();
        let mut fields = vec![("SAMLResponse", response)];
        if let Some(rs) = rs {
            fields.push(("RelayState", rs));
        }
        let p = b.post(&acs, &fields).await;
        b.follow(p).await
    }
}

async fn start() -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let fabrikam = Idp::new(dir.path(), "fabrikam");
    let contoso = Idp::new(dir.path(), "contoso");
    std::fs::write(
        dir.path().join("fabrikam.xml"),
        fabrikam.metadata(&[&fabrikam.key]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("contoso.xml"),
        contoso.metadata(&[&contoso.key]),
    )
    .unwrap();
    // northwind wants signed AuthnRequests: our SP key and certificate.
    let northwind = Idp::new(dir.path(), "northwind");
    std::fs::write(
        dir.path().join("northwind.xml"),
        northwind.metadata(&[&northwind.key]).replace(
            "<md:IDPSSODescriptor ",
            "<md:IDPSSODescriptor WantAuthnRequestsSigned=\"true\" ",
        ),
    )
    .unwrap();
    let sp = Key::new(dir.path(), "sp");
    std::fs::copy(&sp.key_pem, dir.path().join("sp.key")).unwrap();
    std::fs::copy(&sp.cert_pem, dir.path().join("sp.crt")).unwrap();
    let idps = "  - { name: fabrikam, type: saml, metadata_file: fabrikam.xml, domains: [fabrikam.example], mfa: trusted }\n  \
                - { name: contoso, type: saml, metadata_file: contoso.xml, domains: [contoso.example], allow_idp_initiated: true }\n  \
                - { name: northwind, type: saml, metadata_file: northwind.xml, domains: [northwind.example], sp_key_file: sp.key, sp_cert_file: sp.crt }\n";
    let top = format!("sign_in: {{ host: {AUTH} }}\n");
    let ups = vec![up.address()];
    let apps: Vec<AppSpec> = ["wiki", "demo"]
        .iter()
        .map(|n| app(n, &ups, &format!("title: {n} app")))
        .collect();
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    for email in [ANN, "carl@contoso.example"] {
        let id = gw
            .add_user(email, portcullis::session::UserType::Guest)
            .await;
        let until = Some(time::OffsetDateTime::now_utc() + time::Duration::days(30));
        gw.assign(&id, "wiki", until).await;
        gw.assign(&id, "demo", until).await;
    }
    Env {
        gw,
        up,
        fabrikam,
        contoso,
    }
}

/// An invited guest of fabrikam signs in through their AD FS: the redirect
/// carries an AuthnRequest for our entity id and ACS, the signed answer
/// comes back by form post, consent once, then the app sees who it is.
/// Our SP metadata names the same entity id and ACS.
#[tokio::test]
async fn an_invited_guest_signs_in_through_a_saml_idp_and_reaches_the_app() {
    let env = start().await;
    let mut b = env.browser();
    let req = env.to_idp(&mut b, "wiki.test", ANN).await;
    let port = env.gw.http.port();
    let entity = format!("http://{AUTH}:{port}/.portcullis/saml/fabrikam/metadata");
    let acs = format!("http://{AUTH}:{port}/.portcullis/saml/fabrikam/acs");
    assert_eq!(
        (req.issuer.as_str(), req.acs.as_str()),
        (entity.as_str(), acs.as_str())
    );
    let rs = req.relay_state.clone().unwrap();
    assert!(
        rs.len() <= 80 && !rs.contains('/'),
        "RelayState is a handle: {rs}"
    );

    let md = b.get(&entity).await;
    assert_eq!(md.status, 200);
    assert!(
        md.body.contains(&format!("entityID=\"{entity}\"")),
        "{}",
        md.body
    );
    assert!(
        md.body.contains(&format!("Location=\"{acs}\"")),
        "{}",
        md.body
    );

    let spec = Spec::new(&env.fabrikam, &entity, &acs, Some(&req.id), ANN);
    let response = env.fabrikam.response(&spec, Sign::Assertion);
    let consent = env.post_acs(&mut b, &acs, &response, Some(&rs)).await;
    assert_eq!(consent.heading(), "Review permissions", "{}", consent.body);
    let landed = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    assert_eq!(landed.status, 200, "{landed:?}");
    assert_eq!(landed.url.host_str(), Some("wiki.test"));
    assert_eq!(env.up.last().header("x-portcullis-email"), Some(ANN));
    // A partner's groups are qualified by its IdP's name (crate::trust), so
    // `Engineers` from fabrikam is never the directory's `engineers`.
    assert_eq!(
        env.up.last().header("x-portcullis-groups"),
        Some("fabrikam:engineers,fabrikam:finance")
    );

    // The same response again (replay), with its RelayState now used up.
    let again = env
        .post_acs(&mut env.browser(), &acs, &response, Some(&rs))
        .await;
    assert_eq!(again.status, 400, "{again:?}");
    assert_eq!(again.url.host_str(), Some(AUTH));

    let user = env.gw.store.get_user_by_email(ANN).await.unwrap().unwrap();
    let identity = user.identity.clone().expect("linked");
    assert!(
        format!("{identity:?}").contains(&spec.name_id),
        "{identity:?}"
    );
    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"fabrikam\",result=\"ok\"} 1"),
        "{metrics}"
    );
}

/// The ACS hop back needs the browser that started the sign-in (login
/// CSRF): a verified response finished in another browser is refused.
#[tokio::test]
async fn a_response_finished_in_another_browser_is_refused() {
    let env = start().await;
    let mut b = env.browser();
    let req = env.to_idp(&mut b, "wiki.test", ANN).await;
    let spec = Spec::new(&env.fabrikam, &req.issuer, &req.acs, Some(&req.id), ANN);
    let mut other = env.browser();
    let p = env
        .post_acs(
            &mut other,
            &req.acs,
            &env.fabrikam.response(&spec, Sign::Assertion),
            req.relay_state.as_deref(),
        )
        .await;
    assert_eq!(p.status, 400, "{p:?}");
    assert!(p.body.contains("another browser"), "{}", p.body);
}

/// Issue 16, "every case of the corpus is refused with no session": refused
/// documents go through the real ACS, each in a real flow (the RelayState
/// and the AuthnRequest ID of a sign-in just started in that browser), and
/// each ends in a 4xx with no session cookie in the browser, the app still
/// asking for a sign-in, no session row for Ann in the store and no
/// identity linked to her. A good response in the same kind of flow then
/// does make all of these, so the checks can see a session.
#[tokio::test]
async fn refused_responses_through_the_acs_leave_no_session() {
    let env = start().await;
    let idp = &env.fabrikam;
    let ann = env.gw.store.get_user_by_email(ANN).await.unwrap().unwrap();
    assert!(ann.identity.is_none(), "invited, not yet signed in");
    let evil_key = Key::new(&idp.dir, "evil");
    type Build<'a> = Box<dyn Fn(&Spec) -> String + 'a>;
    let mut cases: Vec<(String, Build<'_>)> = vec![
        (
            "unsigned".into(),
            Box::new(|s| idp.response_raw(s, Sign::None)),
        ),
        (
            "signed by a key not in the metadata".into(),
            Box::new(|s| {
                let a = idp.sign_with(&saml_idp::assertion_xml(s, true), &evil_key);
                saml_idp::response_xml(s, &strip_decl(&a), false)
            }),
        ),
        (
            "wrong Audience".into(),
            Box::new(|s| {
                let mut s = s.clone();
                s.audience = "http://other-sp.example/metadata".into();
                idp.response_raw(&s, Sign::Assertion)
            }),
        ),
        (
            "expired".into(),
            Box::new(|s| {
                let mut s = s.clone();
                s.issue_offset = -900;
                s.not_before = -960;
                s.not_on_or_after = -600;
                idp.response_raw(&s, Sign::Assertion)
            }),
        ),
        (
            "a DTD".into(),
            Box::new(|s| {
                let body = strip_decl(&idp.response_raw(s, Sign::Assertion));
                format!("<!DOCTYPE Response SYSTEM \"http://evil.example/saml.dtd\">{body}")
            }),
        ),
    ];
    for i in 0..8 {
        cases.push((
            format!("XSW shape {i}"),
            Box::new(move |s| xsw_shapes(idp, s).swap_remove(i).1),
        ));
    }
    let has_session = |b: &Browser| {
        b.cookies
            .values()
            .any(|jar| jar.keys().any(|k| k.contains("portcullis_session")))
    };
    let now = || time::OffsetDateTime::now_utc();
    for (what, build) in &cases {
        let mut b = env.browser();
        let req = env.to_idp(&mut b, "wiki.test", ANN).await;
        let spec = Spec::new(idp, &req.issuer, &req.acs, Some(&req.id), ANN);
        let p = env
            .post_acs(
                &mut b,
                &req.acs,
                &b64(&build(&spec)),
                req.relay_state.as_deref(),
            )
            .await;
        assert!((400..500).contains(&p.status), "{what}: {p:?}");
        assert!(!has_session(&b), "{what}: {:?}", b.cookies);
        let again = b.open(&env.url("wiki.test", "/")).await;
        assert_eq!(again.heading(), "Sign in", "{what}: {}", again.body);
        let sessions = env.gw.store.sessions_of_user(&ann.id, now()).await;
        assert!(sessions.unwrap().is_empty(), "{what}: a session row");
        let user = env.gw.store.get_user(&ann.id).await.unwrap().unwrap();
        assert!(user.identity.is_none(), "{what}: {:?}", user.identity);
    }

    let mut b = env.browser();
    let req = env.to_idp(&mut b, "wiki.test", ANN).await;
    let spec = Spec::new(idp, &req.issuer, &req.acs, Some(&req.id), ANN);
    let p = env
        .post_acs(
            &mut b,
            &req.acs,
            &idp.response(&spec, Sign::Assertion),
            req.relay_state.as_deref(),
        )
        .await;
    assert_eq!(p.heading(), "Review permissions", "{}", p.body);
    assert!(has_session(&b), "{:?}", b.cookies);
    let sessions = env.gw.store.sessions_of_user(&ann.id, now()).await;
    assert_eq!(sessions.unwrap().len(), 1);
    let user = env.gw.store.get_user(&ann.id).await.unwrap().unwrap();
    assert!(user.identity.is_some());
}

/// MFA from the IdP's AuthnContextClassRef counts only for an IdP with
/// `mfa: trusted`, and only for the listed contexts.
#[tokio::test]
async fn mfa_from_authn_context_counts_only_with_mfa_trusted() {
    let env = start().await;
    let walk = |idp: &'static str, email: &'static str, ctx: &'static str| {
        let env = &env;
        async move {
            let mut b = env.browser();
            let req = env.to_idp(&mut b, "demo.test", email).await;
            let saml = if idp == "fabrikam" {
                &env.fabrikam
            } else {
                &env.contoso
            };
            let mut spec = Spec::new(saml, &req.issuer, &req.acs, Some(&req.id), email);
            spec.authn_context = ctx.to_string();
            let page = env
                .post_acs(
                    &mut b,
                    &req.acs,
                    &saml.response(&spec, Sign::Assertion),
                    req.relay_state.as_deref(),
                )
                .await;
            let page = if page.heading() == "Review permissions" {
                b.submit(&page, "/.portcullis/consent", &[("answer", "accept")])
                    .await
            } else {
                page
            };
            (
                page.status,
                page.url.host_str().map(str::to_string),
                page.heading(),
            )
        }
    };
    // Trusted IdP, multipleauthn: the app itself.
    let (status, host, _) = walk("fabrikam", ANN, MULTIPLE_AUTHN).await;
    assert_eq!((status, host.as_deref()), (200, Some("demo.test")));
    // Trusted IdP, password only: our own second factor.
    let (_, host, heading) = walk("fabrikam", ANN, saml_idp::PASSWORD_PROTECTED).await;
    assert_eq!(host.as_deref(), Some(AUTH));
    assert_eq!(heading, "Set up two-step verification");
    // Untrusted IdP claiming multipleauthn: not believed.
    let (_, host, heading) = walk("contoso", "carl@contoso.example", MULTIPLE_AUTHN).await;
    assert_eq!(host.as_deref(), Some(AUTH));
    assert_eq!(heading, "Set up two-step verification");
}

/// Unsolicited responses: refused unless the IdP allows IdP-initiated
/// sign-in; then they land on the apps page (never on a URL from the
/// response), and each assertion is used once.
#[tokio::test]
async fn unsolicited_responses_and_replays_are_refused() {
    let env = start().await;
    let port = env.gw.http.port();
    let base = |idp: &str| format!("http://{AUTH}:{port}/.portcullis/saml/{idp}");
    // fabrikam does not allow IdP-initiated sign-in.
    let spec = Spec::new(
        &env.fabrikam,
        &format!("{}/metadata", base("fabrikam")),
        &format!("{}/acs", base("fabrikam")),
        None,
        ANN,
    );
    let mut b = env.browser();
    let p = env
        .post_acs(
            &mut b,
            &format!("{}/acs", base("fabrikam")),
            &env.fabrikam.response(&spec, Sign::Assertion),
            Some("http://evil.example/"),
        )
        .await;
    assert_eq!(p.status, 400, "{p:?}");

    // contoso does; a RelayState URL is ignored.
    let carl = "carl@contoso.example";
    let spec = Spec::new(
        &env.contoso,
        &format!("{}/metadata", base("contoso")),
        &format!("{}/acs", base("contoso")),
        None,
        carl,
    );
    let response = env.contoso.response(&spec, Sign::Assertion);
    let acs = format!("{}/acs", base("contoso"));
    let p = env
        .post_acs(&mut b, &acs, &response, Some("http://evil.example/"))
        .await;
    assert_eq!(p.heading(), "Review permissions", "{}", p.body);
    assert_eq!(p.url.host_str(), Some(AUTH));
    // Replayed, in another browser: the assertion id is known.
    let again = env
        .post_acs(&mut env.browser(), &acs, &response, None)
        .await;
    assert_eq!(again.status, 400, "{again:?}");
    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"contoso\",result=\"replayed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"fabrikam\",result=\"unsolicited\"} 1"),
        "{metrics}"
    );

    // An address outside the IdP's domains.
    let spec = Spec::new(
        &env.contoso,
        &format!("{}/metadata", base("contoso")),
        &acs,
        None,
        "mallory@fabrikam.example",
    );
    let p = env
        .post_acs(
            &mut env.browser(),
            &acs,
            &env.contoso.response(&spec, Sign::Assertion),
            None,
        )
        .await;
    assert_eq!(p.status, 403, "{p:?}");
}

/// An IdP whose metadata says `WantAuthnRequestsSigned`: the redirect
/// carries `SigAlg` and a `Signature` over the query (SAML bindings
/// §3.4.4.1) that our certificate verifies (checked with the `openssl`
/// command line), and our SP metadata publishes that certificate.
#[tokio::test]
async fn authn_requests_are_signed_when_the_idp_asks() {
    let env = start().await;
    let mut b = env.browser();
    let form = b.open(&env.url("wiki.test", "/")).await;
    let mut fields = vec![("email", "nina@northwind.example".to_string())];
    for f in ["csrf", "rd"] {
        if let Some(v) = form.field(f) {
            fields.push((f, v));
        }
    }
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b
        .post(&form.url.join("/.portcullis/sign-in").unwrap(), &refs)
        .await;
    assert_eq!(p.status, 302, "{p:?}");
    let to = p.location.clone().unwrap();
    let query = to.query().unwrap().to_string();
    let (signed, signature) = query.split_once("&Signature=").expect("signed redirect");
    assert!(
        signed.contains("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"),
        "{signed}"
    );
    let signature: String = reqwest::Url::parse(&format!("http://x/?s={signature}"))
        .unwrap()
        .query_pairs()
        .next()
        .unwrap()
        .1
        .into_owned();
    let dir = env.gw.dir.path();
    use base64::Engine as _;
    std::fs::write(
        dir.join("sig.bin"),
        base64::engine::general_purpose::STANDARD
            .decode(signature)
            .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("signed.txt"), signed).unwrap();
    let pubkey = std::process::Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("sp.crt"))
        .output()
        .unwrap();
    std::fs::write(dir.join("sp.pub"), &pubkey.stdout).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("sp.pub"))
        .arg("-signature")
        .arg(dir.join("sig.bin"))
        .arg(dir.join("signed.txt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // The IdP's admin imports our metadata, certificate included.
    let req = saml_idp::read_request(&to);
    let md = b.get(&req.issuer).await;
    let cert = std::fs::read_to_string(dir.join("sp.crt")).unwrap();
    let cert_b64: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(md.body.contains(&cert_b64), "{}", md.body);
    assert!(
        md.body.contains("AuthnRequestsSigned=\"true\""),
        "{}",
        md.body
    );
}

/// Replicas (issue 16: "replayed, also on a second replica"): two gateways
/// on one PostgreSQL store behind one public origin. An assertion accepted
/// by replica A is refused by replica B, which knows its id from the store;
/// B accepts a fresh one, so the refusal is the replay check's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_assertion_is_refused_on_a_second_replica() {
    let db = support::postgres::database().await;
    let up = Upstream::start("app").await;
    let ids = tempfile::tempdir().unwrap();
    let contoso = Idp::new(ids.path(), "contoso");
    let metadata = contoso.metadata(&[&contoso.key]);
    let idps = "  - { name: contoso, type: saml, metadata_file: contoso.xml, domains: [contoso.example], allow_idp_initiated: true }\n";
    let top = format!("sign_in: {{ host: {AUTH} }}\n");
    let apps = [
        app("wiki", &[up.address()], "title: wiki app"),
        app("demo", &[up.address()], "title: demo app"),
    ];
    let replica = |db: String| {
        let (apps, top, metadata) = (&apps, &top, &metadata);
        async move {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("contoso.xml"), metadata).unwrap();
            Gateway::start_with_store(dir, apps, RULES, &[], idps, top, Some(&db)).await
        }
    };
    let a = replica(db.clone()).await;
    let b = replica(db).await;
    // The public origin both replicas answer for (a load balancer's): the
    // Host header says it, whichever replica the request reaches.
    let origin = format!("{AUTH}:{}", a.http.port());
    let acs_path = "/.portcullis/saml/contoso/acs";
    let spec = || {
        Spec::new(
            &contoso,
            &format!("http://{origin}/.portcullis/saml/contoso/metadata"),
            &format!("http://{origin}{acs_path}"),
            None,
            "carl@contoso.example",
        )
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |gw: &Gateway, response: &str| {
        client
            .post(format!("http://{}{acs_path}", gw.http))
            .header("host", &origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                reqwest::Url::parse_with_params("http://x/", [("SAMLResponse", response)])
                    .unwrap()
                    .query()
                    .unwrap_or_default()
                    .to_string(),
            )
            .timeout(support::WAIT)
            .send()
    };
    let fresh = contoso.response(&spec(), Sign::Assertion);
    assert_eq!(post(&b, &fresh).await.unwrap().status(), 303, "B accepts");
    let response = contoso.response(&spec(), Sign::Assertion);
    assert_eq!(
        post(&a, &response).await.unwrap().status(),
        303,
        "A accepts"
    );
    assert_eq!(
        post(&b, &response).await.unwrap().status(),
        400,
        "B refuses A's assertion"
    );
    let metrics = b.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"contoso\",result=\"replayed\"} 1"),
        "{metrics}"
    );
}

/// `portcullis check` fetches a `metadata_url` as the gateway would: a
/// document that is not an IdP's metadata is an error (exit 1), one that
/// cannot be fetched now a warning (exit 0: the gateway keeps trying), and
/// good metadata passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_metadata_url_problems() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let ids = tempfile::tempdir().unwrap();
    let good = Idp::new(ids.path(), "fabrikam");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = listener.local_addr().unwrap();
    let body_good = good.metadata(&[&good.key]);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = if head.starts_with("GET /good ") {
                body_good.clone()
            } else {
                "<html><body>Sign in to continue</body></html>".to_string()
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    let closed = support::gateway::free_port();
    let up = Upstream::start("app").await;
    let idps = format!(
        "  - {{ name: good, type: saml, metadata_url: \"http://{served}/good\", domains: [fabrikam.example] }}\n  \
         - {{ name: portal, type: saml, metadata_url: \"http://{served}/login\", domains: [contoso.example] }}\n  \
         - {{ name: down, type: saml, metadata_url: \"http://127.0.0.1:{closed}/md\", domains: [northwind.example] }}\n"
    );
    let top = format!("sign_in: {{ host: {AUTH} }}\n");
    let apps = [
        app("wiki", &[up.address()], "title: wiki app"),
        app("demo", &[up.address()], "title: demo app"),
    ];
    let gw =
        Gateway::start_configured(tempfile::tempdir().unwrap(), &apps, RULES, &[], &idps, &top)
            .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check", "--config"])
        .arg(gw.path("portcullis.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "idp `portal`: metadata_url http://{served}/login: identity provider metadata"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: idp `down`: metadata_url")
            && stderr.contains("could not be fetched"),
        "{stderr}"
    );
    assert!(!stderr.contains("idp `good`"), "{stderr}");
}
