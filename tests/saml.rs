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
const REQ: &str = "_0123456789abcdef0123456789abcdef";

// ---- the corpus, against the verifier ------------------------------------

struct Case {
    idp: Idp,
    sp: SamlIdp,
    md: IdpMetadata,
    _dir: tempfile::TempDir,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let idp = Idp::new(dir.path(), "fabrikam");
    let md = IdpMetadata::parse(&idp.metadata(&[&idp.key])).unwrap();
    let sp = SamlIdp::new(
        "fabrikam".into(),
        MetadataSource::File(dir.path().join("md.xml")),
        Some(md.clone()),
        vec!["fabrikam.example".into()],
        Attributes::from_file(None),
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

/// XSW (Somorovsky et al., "On Breaking SAML", USENIX Security 2012,
/// shapes 1-8): the signed assertion stays for the verifier, an attacker's
/// assertion is put where a naive reader looks first. Every shape needs two
/// assertions in the document, so every shape is refused.
#[test]
fn signature_wrapping_with_a_second_assertion_is_refused_in_every_shape() {
    let c = case();
    let s = c.spec();
    let signed = strip_decl(&c.idp.sign(&saml_idp::assertion_xml(&s, true)));
    let mut evil_spec = s.clone();
    evil_spec.email = "eve@fabrikam.example".into();
    evil_spec.assertion_id = "_evil".into();
    let evil = saml_idp::assertion_xml(&evil_spec, false);
    let status = r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#;
    let open = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2030-01-01T00:00:00Z" Destination="{ACS}" InResponseTo="{REQ}"><saml:Issuer>{}</saml:Issuer>{status}"#,
        c.idp.entity_id
    );
    let shapes = [
        // Evil first, signed second (XSW3).
        format!("{open}{evil}{signed}</samlp:Response>"),
        // Signed first, evil second (XSW4-like order).
        format!("{open}{signed}{evil}</samlp:Response>"),
        // The signed assertion hidden in Extensions, evil in place (XSW7).
        format!("{open}<samlp:Extensions>{signed}</samlp:Extensions>{evil}</samlp:Response>"),
        // Evil inside the signed one's Signature/Object (XSW8).
        format!(
            "{open}{}</samlp:Response>",
            signed.replacen(
                "</ds:Signature>",
                &format!("<ds:Object>{evil}</ds:Object></ds:Signature>"),
                1
            )
        ),
        // The signed one wrapped inside the evil one (XSW5/6).
        format!(
            "{open}{}</samlp:Response>",
            evil.replacen(
                "</saml:Assertion>",
                &format!("{signed}</saml:Assertion>"),
                1
            )
        ),
    ];
    for (i, xml) in shapes.iter().enumerate() {
        let e = c.refused(&format!("XSW shape {i}"), xml);
        assert!(e.contains("assertion"), "shape {i}: {e}");
    }
    // A signed Response with an unsigned second assertion beside the signed
    // one (XSW1/2: the Response's signature does not cover it).
    let signed_response = c.idp.response_raw(&s, Sign::Response);
    let xml = signed_response.replacen("</samlp:Response>", &format!("{evil}</samlp:Response>"), 1);
    let e = c.refused("XSW1/2", &xml);
    assert!(e.contains("exactly one"), "{e}");
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
