//! Authentication strengths end to end (issue 20), against the real
//! `portcullis serve`: a policy asking for phishing-resistant MFA refuses a
//! session that has only a TOTP code, with a page that says what to do and
//! offers no code form (a code is what a phishing page relays); an app that
//! asks for plain MFA takes the same session; the passkeys page and its
//! script are served with a CSP that allows only the gateway's own script.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::browser::Browser;
use support::gateway::{Gateway, app};
use support::upstream::Upstream;

const AUTH: &str = "auth.test";
const BOB: &str = "bob@fabrikam.example";
const BOB_PW: &str = "bob-password-1";

const RULES: &str = "\
policies:
  - name: wiki-needs-mfa
    users: { include: [all] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
  - name: payroll-needs-phishing-resistant-mfa
    users: { include: [all] }
    apps: { include: [payroll] }
    grant: { require: [phishing_resistant_mfa] }
";

#[tokio::test]
async fn a_totp_session_is_told_to_use_a_passkey_where_one_is_asked_for() {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password(BOB_PW).unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki, payroll] }}\n"
        ),
    )
    .unwrap();
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!("sign_in: {{ host: {AUTH} }}\n");
    let ups = vec![up.address()];
    let apps: Vec<_> = ["wiki", "payroll"]
        .iter()
        .map(|n| app(n, &ups, &format!("title: {n} app")))
        .collect();
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    let mut b = Browser::new(gw.http, &[AUTH, "wiki.test", "payroll.test"]);

    // Sign in and set up TOTP on the way to the wiki (plain MFA).
    let form = b.open(&gw.url("wiki.test", "/")).await;
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    let consent = b
        .submit(
            &pw,
            "/.portcullis/sign-in/password",
            &[("password", BOB_PW)],
        )
        .await;
    let enroll = b
        .submit(&consent, "/.portcullis/consent", &[("answer", "accept")])
        .await;
    let secret = enroll.by_id("secret").expect("the TOTP key");
    let codes = b
        .submit(&enroll, "/.portcullis/mfa", &[("code", &totp_now(&secret))])
        .await;
    assert_eq!(
        codes.heading(),
        "Save your recovery codes",
        "{}",
        codes.body
    );
    let next = codes
        .links()
        .into_iter()
        .find(|l| l.path() == "/.portcullis/mfa")
        .expect("a link on");
    let wiki = b.open(next.as_str()).await;
    assert_eq!(wiki.status, 200, "{wiki:?}");
    assert_eq!(wiki.url.host_str(), Some("wiki.test"));

    // Payroll asks for phishing-resistant MFA: the same session is sent to
    // step up with the strength named, and the page offers no code form.
    let page = b.open(&gw.url("payroll.test", "/pay")).await;
    assert_eq!(page.url.host_str(), Some(AUTH), "{page:?}");
    assert_eq!(page.url.path(), "/.portcullis/mfa", "{page:?}");
    assert!(
        page.url
            .query()
            .is_some_and(|q| q.ends_with("&strength=phishing_resistant")),
        "{}",
        page.url
    );
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(
        page.heading(),
        "A stronger sign-in is needed",
        "{}",
        page.body
    );
    assert!(page.body.contains("passkey"), "{}", page.body);
    assert!(page.field("code").is_none(), "no TOTP form: {}", page.body);
    assert!(
        page.links()
            .iter()
            .any(|l| l.path() == "/.portcullis/security/passkeys"),
        "a way on: {}",
        page.body
    );

    // The passkeys page: no passkey yet, the script from this origin only.
    let keys = b
        .open(&gw.url(AUTH, "/.portcullis/security/passkeys"))
        .await;
    assert_eq!(keys.status, 200, "{}", keys.body);
    assert_eq!(keys.heading(), "Passkeys");
    assert!(
        keys.body.contains("You have no passkeys yet."),
        "{}",
        keys.body
    );
    assert!(
        keys.body
            .contains("<script src=\"/.portcullis/static/passkeys.js\" defer></script>"),
        "{}",
        keys.body
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(AUTH, gw.http)
        .build()
        .unwrap();
    let page = http
        .get(gw.url(AUTH, "/.portcullis/security/passkeys"))
        .send()
        .await
        .unwrap();
    // Without a session: to sign in.
    assert_eq!(page.status(), 302);
    let script = http
        .get(gw.url(AUTH, "/.portcullis/static/passkeys.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("navigator.credentials.get")
    );

    // A TOTP code posted anyway for this strength is not even looked at.
    let posted = b
        .post(
            &gw.url(AUTH, "/.portcullis/mfa").parse().unwrap(),
            &[
                ("csrf", &keys.field("csrf").unwrap()),
                ("action", "verify"),
                ("code", &totp_now(&secret)),
                ("strength", "phishing_resistant"),
                ("rd", &gw.url("payroll.test", "/pay")),
            ],
        )
        .await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    assert!(
        posted.body.contains("A stronger sign-in is needed"),
        "{}",
        posted.body
    );

    // Options for a passkey sign-in: this user has none.
    let options = b
        .post(
            &gw.url(AUTH, "/.portcullis/mfa").parse().unwrap(),
            &[
                ("csrf", &keys.field("csrf").unwrap()),
                ("action", "passkey-options"),
            ],
        )
        .await;
    assert_eq!(options.status, 404, "{}", options.body);
    assert!(options.body.contains("none_registered"), "{}", options.body);
    // Registration options carry the auth host as the relying party and
    // require user verification.
    let options = b
        .post(
            &gw.url(AUTH, "/.portcullis/security/passkeys")
                .parse()
                .unwrap(),
            &[
                ("csrf", &keys.field("csrf").unwrap()),
                ("action", "register-options"),
            ],
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    let o: serde_json::Value = serde_json::from_str(&options.body).unwrap();
    assert_eq!(o["publicKey"]["rp"]["id"], AUTH, "{o}");
    assert_eq!(
        o["publicKey"]["authenticatorSelection"]["userVerification"], "required",
        "{o}"
    );
    // An answer that is no credential is refused, and the ceremony is gone.
    let refused = b
        .submit(
            &keys,
            "/.portcullis/security/passkeys",
            &[
                ("action", "register"),
                ("name", "Laptop"),
                ("credential", "{}"),
            ],
        )
        .await;
    assert!(
        refused.body.contains("could not be added"),
        "{}",
        refused.body
    );
    let user = gw.store.get_user_by_email(BOB).await.unwrap().unwrap();
    assert!(gw.store.list_passkeys(&user.id).await.unwrap().is_empty());
}

/// RFC 4648 base32; blanks (the page groups the key) and padding ignored.
fn base32(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        buf = (buf << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

fn totp_now(secret: &str) -> String {
    let g = totp_rs::Builder::new()
        .with_secret(base32(secret))
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    g.generate(now).to_string()
}
