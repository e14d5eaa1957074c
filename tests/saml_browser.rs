//! Issue 16 end to end with a real SAML IdP in a real browser: an invited
//! guest of fabrikam signs in through SimpleSAMLphp (Debian's, under PHP's
//! built-in server on loopback; `support::simplesaml`) in headless Chromium,
//! once over plain HTTP and once over the gateway's HTTPS listener,
//! consents, passes the MFA policy on the strength of the IdP's
//! `AuthnContextClassRef` (`mfa: trusted`), reaches the app with the
//! identity headers, and signs out, at the IdP too (its
//! SingleLogoutService, from its metadata, with our `LogoutRequest`). The
//! IdP's form POST to our ACS is cross-site, so our `SameSite=Lax` flow
//! cookie is not on it: the 303 to the same-site step is what lets the
//! browser finish, over HTTPS too, where our cookies are `__Host-…; Secure`. Screenshots in
//! `target/browser-artifacts/<test name>/` (`_https` names over HTTPS).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::chromium;
use support::gateway::{Gateway, app, free_port};
use support::simplesaml::{Account, MULTIPLE_AUTHN, SimpleSaml};
use tokio::net::TcpListener;

const AUTH: &str = "auth.test";
const ANN: &str = "ann@fabrikam.example";
const JOURNEY_LIMIT: Duration = Duration::from_secs(120);

const RULES: &str = "\
policies:
  - name: wiki-needs-mfa
    users: { include: [all] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
";

/// The app: answers every request with the `x-portcullis-*` headers it got,
/// as JSON in `<pre id="identity">`.
async fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let headers: serde_json::Map<String, serde_json::Value> = req
                        .headers()
                        .iter()
                        .filter(|(n, _)| n.as_str().starts_with("x-portcullis-"))
                        .map(|(n, v)| {
                            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                            (n.as_str().to_string(), serde_json::Value::String(v))
                        })
                        .collect();
                    let json = serde_json::to_string_pretty(&headers)
                        .unwrap()
                        .replace('&', "&amp;")
                        .replace('<', "&lt;");
                    let html = format!(
                        "<!doctype html><title>wiki</title><h1>The wiki</h1>\
                         <p>The gateway sent these identity headers:</p>\
                         <pre id=\"identity\" style=\"white-space:pre-wrap;word-break:break-all\">{json}</pre>"
                    );
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "text/html; charset=utf-8")
                            .body(Full::new(Bytes::from(html)))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// The listener the browser uses for the whole journey.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// One journey at a time: two Chromiums, gateways and IdPs side by side on
/// a small machine would make the journey's 10 s step limits flaky.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Issue 16 ("in Chromium over plain HTTP"): the invited guest's whole
/// journey through SimpleSAMLphp; the IdP's cross-site POST to the ACS
/// carries no cookie of ours and the 303 to the same-site step finishes
/// the sign-in.
#[tokio::test]
async fn saml_guest_signs_in_through_simplesamlphp_in_chromium() {
    journey(
        "saml_guest_signs_in_through_simplesamlphp_in_chromium",
        Scheme::Http,
    )
    .await;
}

/// Issue 16 ("… and HTTPS"): the same journey on the gateway's HTTPS
/// listener, the SP's entity id and ACS `https://` URLs at the IdP. The
/// flow and session cookies are `__Host-` and `Secure` there; the IdP's
/// POST still carries none of them and the same-site step still finds the
/// flow cookie after the 303.
#[tokio::test]
async fn saml_guest_signs_in_through_simplesamlphp_in_chromium_over_https() {
    journey(
        "saml_guest_signs_in_through_simplesamlphp_in_chromium_over_https",
        Scheme::Https,
    )
    .await;
}

async fn journey(name: &str, scheme: Scheme) {
    let _one = ONE_AT_A_TIME.lock().await;
    chromium::assert_installed();
    SimpleSaml::assert_installed();
    let shots = chromium::artifacts(name);

    let up = echo_upstream().await.to_string();
    let idp_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // The IdP's metadata is read from its URL, as from AD FS's
    // FederationMetadata.xml (fetched on first use, then hourly).
    let idps = format!(
        "  - {{ name: fabrikam, type: saml, metadata_url: \"http://127.0.0.1:{idp_port}/saml2/idp/metadata.php\", \
         domains: [fabrikam.example], mfa: trusted }}\n"
    );
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let apps = vec![app("wiki", std::slice::from_ref(&up), "title: wiki app")];
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], &idps, &top).await;
    let (scheme_name, port) = match scheme {
        Scheme::Http => ("http", gw.http.port()),
        Scheme::Https => ("https", gw.https.port()),
    };
    // `scheme://host:port` on the journey's listener.
    let origin = |host: &str| format!("{scheme_name}://{host}:{port}");
    // The gateway names its SP after the request's scheme and port: the
    // IdP knows it by the URLs of the listener the browser uses.
    let sp = format!("{}/.portcullis/saml/fabrikam", origin(AUTH));
    let idp = SimpleSaml::start(
        gw.dir.path(),
        idp_port,
        &Account {
            username: "ann",
            password: "ann-password-1",
            email: ANN,
            name: "Ann Fabrikam",
            groups: &["Engineers", "Finance"],
        },
        &format!("{sp}/metadata"),
        &format!("{sp}/acs"),
        // Its LogoutResponse comes back to our signed-out page.
        Some(&format!("{}/.portcullis/sign-out", origin(AUTH))),
        MULTIPLE_AUTHN,
    );

    // Invited from the CLI; the link comes from the outbox.
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["invite", "--config"])
        .arg(gw.path("portcullis.yaml"))
        .args(["--email", ANN, "--app", "wiki", "--days", "7"])
        .args(["--inviter", "Alice"])
        .stdin(Stdio::null())
        .output()
        .expect("run portcullis invite");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mail = std::fs::read_dir(gw.path("outbox"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read(e.path()).unwrap())
        .next()
        .expect("the invitation in the outbox");
    let parsed = mailparse::parse_mail(&mail).unwrap();
    let text = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .and_then(|p| p.get_body().ok())
        .unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/.portcullis/invite?token="))
        .expect("a link in the mail")
        .to_string();
    // The mail links to the HTTPS listener.
    let https = format!("https://{AUTH}:{}", gw.https.port());
    assert!(link.starts_with(&https), "{link}");
    let invitation = link.replace(&https, &origin(AUTH));

    let input = serde_json::json!({
        "scheme": scheme_name,
        "port": port,
        "auth_host": AUTH,
        "invitation": invitation,
        "app1": format!("{}/", origin("wiki.test")),
        "idp_origin": idp.origin(),
        "username": "ann",
        "password": "ann-password-1",
        "email": ANN,
        "screenshots": shots,
        "timeout_ms": 10_000,
    });
    let input_file = gw.path("saml_journey.json");
    std::fs::write(&input_file, input.to_string()).unwrap();
    let t = Instant::now();
    let (ok, stdout, stderr) = chromium::run("saml_journey.mjs", &input_file, JOURNEY_LIMIT).await;
    eprintln!(
        "saml journey: {:.1} s; screenshots in {}\n{stdout}",
        t.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        ok,
        "the SAML journey failed (screenshots in {}):\n{stderr}\n{stdout}\n--- the IdP's log ---\n{}",
        shots.display(),
        idp.log()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["scheme"], scheme_name, "{summary}");

    // The IdP's POST to our ACS was cross-site and carried no cookie of
    // ours: the same-site step after the 303 finished the sign-in.
    let acs = format!("{sp}/acs");
    let post = summary["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["url"] == acs.as_str())
        .unwrap_or_else(|| panic!("no POST to the ACS: {summary}"));
    assert_eq!(post["origin"], idp.origin().as_str(), "{post}");
    assert!(
        !post["cookie"].as_str().unwrap_or("").contains("portcullis"),
        "a Lax cookie rode on the cross-site POST: {post}"
    );

    // The app saw the guest, the IdP's groups qualified by its name.
    let id = &summary["app1_identity"];
    assert_eq!(id["x-portcullis-email"], ANN, "{id}");
    assert_eq!(id["x-portcullis-user-type"], "guest", "{id}");
    assert_eq!(
        id["x-portcullis-groups"], "fabrikam:engineers,fabrikam:finance",
        "{id}"
    );
    // Sign-out offered the IdP's SingleLogoutService (from its metadata),
    // with our LogoutRequest.
    let logout = summary["idp_logout"].as_str().unwrap_or("");
    assert!(
        logout.starts_with(&format!(
            "{}/saml2/idp/SingleLogoutService.php?SAMLRequest=",
            idp.origin()
        )),
        "{summary}"
    );
    // Over HTTPS our cookies are `__Host-` (Secure, host-only, Path=/);
    // over plain HTTP they cannot be Secure. Both flow and session are Lax:
    // the design relies on the 303, not on a `SameSite=None` cookie.
    let prefix = match scheme {
        Scheme::Http => "",
        Scheme::Https => "__Host-",
    };
    let cookies = summary["cookies"].as_array().unwrap();
    for (cookie, host) in [
        ("portcullis_flow", AUTH),
        ("portcullis_session", AUTH),
        ("portcullis_session", "wiki.test"),
    ] {
        let want = format!("{prefix}{cookie}");
        let c = cookies
            .iter()
            .find(|c| c["name"] == want.as_str() && c["domain"] == host)
            .unwrap_or_else(|| panic!("no cookie {want} on {host}: {summary}"));
        assert_eq!(c["secure"], scheme == Scheme::Https, "{c}");
        assert_eq!(c["sameSite"], "Lax", "{c}");
        assert_eq!(c["httpOnly"], true, "{c}");
    }
    let suffix = match scheme {
        Scheme::Http => "",
        Scheme::Https => "_https",
    };
    for page in [
        "saml_00-invitation",
        "saml_01-idp-login",
        "saml_02-consent",
        "saml_03-app1",
        "saml_04-signed-out",
        "saml_05-idp-signed-out",
    ] {
        for file in [
            format!("{page}{suffix}.png"),
            format!("{page}{suffix}-phone.png"),
        ] {
            let len = std::fs::metadata(shots.join(&file))
                .unwrap_or_else(|e| panic!("screenshot {file}: {e}"))
                .len();
            assert!(len > 1000, "screenshot {file} is only {len} bytes");
        }
    }

    // MFA came from the IdP (no TOTP factor of ours), and the user is keyed
    // by the IdP and its persistent NameID.
    let user = gw.store.get_user_by_email(ANN).await.unwrap().unwrap();
    let factor = gw.store.get_totp_factor(&user.id).await.unwrap();
    assert!(factor.is_none(), "a TOTP factor was enrolled: {factor:?}");
    let identity = user.identity.expect("linked to the IdP");
    assert_eq!(identity.idp, "fabrikam");
    assert_ne!(identity.subject, ANN, "keyed by the persistent NameID");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("portcullis_sign_ins_total{idp=\"fabrikam\",result=\"ok\"} 1"),
        "{metrics}"
    );
}
