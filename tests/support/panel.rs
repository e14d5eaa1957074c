//! What the access-panel tests share (`tests/panel.rs`,
//! `tests/security_info.rs`): a gateway with a local IdP (Bob, a guest;
//! Olivia, a member who owns apps), apps with and without icons, and the
//! steps every test takes (sign in, enroll from security info, read a tile).

use super::browser::{Browser, Page};
use super::gateway::{AppSpec, Gateway, app};
use super::upstream::Upstream;
use super::{WAIT, poll};

pub const AUTH: &str = "auth.test";
/// A guest with a local password: wiki and docs, once payroll.
pub const BOB: &str = "bob@fabrikam.example";
/// A member who owns wiki, crm and payroll.
pub const OLIVIA: &str = "olivia@tailwindtraders.com";
pub const PW: &str = "panel-password-1";
pub const SECURITY: &str = "/.portcullis/security";
pub const ICON: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 48 48\"><rect width=\"48\" height=\"48\" rx=\"10\" fill=\"#0b57d0\"/><path d=\"M12 14h24v4H12zm0 8h24v4H12zm0 8h16v4H12z\" fill=\"#fff\"/></svg>";

pub struct Env {
    pub gw: Gateway,
    pub up: Upstream,
}

impl Env {
    pub fn browser(&self) -> Browser {
        Browser::new(
            self.gw.http,
            &[AUTH, "wiki.test", "docs.test", "crm.test", "payroll.test"],
        )
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        self.gw.url(host, path)
    }

    /// Signs in with the local password from `form` (a sign-in page),
    /// accepting consent when asked; the page it ends on.
    pub async fn password(&self, b: &mut Browser, form: &Page, email: &str) -> Page {
        assert_eq!(form.heading(), "Sign in", "{}", form.body);
        let pw = b
            .submit(form, "/.portcullis/sign-in", &[("email", email)])
            .await;
        assert_eq!(pw.heading(), "Enter your password", "{}", pw.body);
        let mut page = b
            .submit(&pw, "/.portcullis/sign-in/password", &[("password", PW)])
            .await;
        if page.heading() == "Review permissions" {
            page = b
                .submit(&page, "/.portcullis/consent", &[("answer", "accept")])
                .await;
        }
        page
    }

    /// Signs in on the auth host; the page it ends on.
    pub async fn sign_in(&self, b: &mut Browser, email: &str) -> Page {
        let form = b.open(&self.url(AUTH, "/.portcullis/sign-in")).await;
        self.password(b, &form, email).await
    }

    /// Posts a security-info form with `page`'s CSRF token; follows.
    pub async fn act(&self, b: &mut Browser, page: &Page, fields: &[(&str, &str)]) -> Page {
        let csrf = page.field("csrf").expect("a CSRF token on the page");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let url = reqwest::Url::parse(&self.url(AUTH, SECURITY)).expect("panel test harness");
        let p = b.post(&url, &all).await;
        b.follow(p).await
    }

    /// The 8-digit passcodes in the outbox for `to`, once there are `n`.
    pub async fn codes(&self, to: &str, n: usize) -> Vec<String> {
        let read = || {
            let mut mails: Vec<(std::time::SystemTime, String)> =
                std::fs::read_dir(self.gw.path("outbox"))
                    .map(|rd| {
                        rd.filter_map(Result::ok)
                            .filter_map(|e| {
                                let t = e.metadata().ok()?.modified().ok()?;
                                Some((t, std::fs::read_to_string(e.path()).ok()?))
                            })
                            .filter(|(_, m)| m.contains(to))
                            .collect()
                    })
                    .unwrap_or_default();
            mails.sort();
            mails
                .iter()
                .filter_map(|(_, m)| {
                    m.split(|c: char| !c.is_ascii_digit())
                        .find(|w| w.len() == 8)
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        };
        poll(WAIT, || async {
            let c = read();
            (c.len() >= n).then_some(c)
        })
        .await
        .map(|(c, _)| c)
        .unwrap_or_else(|| panic!("{n} codes for {to}"))
    }
}

/// wiki (an icon file), docs (an `https://` icon unless `local_icons_only`,
/// for the browser, which has no network), crm (takes sign-up requests from
/// fabrikam.example), payroll and hr; Bob is a guest of wiki and docs.
pub async fn start(local_icons_only: bool) -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().expect("panel test harness");
    let hash = portcullis::local_idp::hash_password(PW).expect("panel test harness");
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  \
             - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki, docs] }}\n  \
             - {{ email: {OLIVIA}, name: Olivia, password_hash: \"{hash}\" }}\n"
        ),
    )
    .expect("panel test harness");
    std::fs::create_dir_all(dir.path().join("icons")).expect("panel test harness");
    std::fs::write(dir.path().join("icons/wiki.svg"), ICON).expect("panel test harness");
    let ups = vec![up.address()];
    let docs_icon = if local_icons_only {
        String::new()
    } else {
        ", icon: \"https://cdn.example/docs.png\"".into()
    };
    let apps: Vec<AppSpec> = vec![
        app(
            "wiki",
            &ups,
            &format!(
                "title: Wiki, description: \"The team's pages\", icon: icons/wiki.svg, owners: [{OLIVIA}]"
            ),
        ),
        app(
            "docs",
            &ups,
            &format!("title: Docs, description: Specifications{docs_icon}"),
        ),
        app(
            "crm",
            &ups,
            &format!(
                "title: CRM, description: Customers and deals, owners: [{OLIVIA}], sign_up: {{ domains: [fabrikam.example] }}"
            ),
        ),
        app(
            "payroll",
            &ups,
            &format!("title: Payroll, owners: [{OLIVIA}]"),
        ),
        app("hr", &ups, "title: HR"),
    ];
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH} }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let gw = Gateway::start_configured(dir, &apps, "policies: []\n", &[], idps, &top).await;
    Env { gw, up }
}

pub async fn user_id(env: &Env, email: &str) -> String {
    env.gw
        .store
        .get_user_by_email(email)
        .await
        .expect("panel test harness")
        .expect("panel test harness")
        .id
}

/// A client that reaches the auth host and wiki at the gateway (answers
/// as they come, headers and all).
pub fn raw(env: &Env) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(AUTH, env.gw.http)
        .resolve("wiki.test", env.gw.http)
        .build()
        .expect("panel test harness")
}

/// The `Cookie` header the browser sends to `host`.
pub fn cookie_header(b: &Browser, host: &str) -> String {
    b.cookies[host]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The text of the tile (`<li>`) that names `title`.
pub fn tile(page: &Page, title: &str) -> String {
    let needle = format!("<span class=\"t\">{title}</span>");
    let at = page
        .body
        .find(&needle)
        .unwrap_or_else(|| panic!("no tile {title}: {}", page.body));
    let start = page.body[..at].rfind("<li>").expect("panel test harness");
    let end = at + page.body[at..].find("</li>").expect("panel test harness");
    page.body[start..end].to_string()
}

/// RFC 4648 base32; blanks and padding ignored.
pub fn base32(s: &str) -> Vec<u8> {
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

/// The authenticator's code for `secret`, `steps` periods from now (the
/// gateway accepts one step either side; a later step lets a test use a
/// second code without waiting 30 s).
pub fn totp(secret: &str, steps: u64) -> String {
    let g = totp_rs::Builder::new()
        .with_secret(base32(secret))
        .build()
        .expect("panel test harness");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("panel test harness")
        .as_secs();
    g.generate(now + 30 * steps).to_string()
}

/// Security info from the panel: sets up the authenticator (enrollment,
/// recovery codes, back here with a notice); the recovery codes left; a
/// wrong code makes no new codes; a right one makes ten new ones and the
/// old ones stop working.
pub async fn enroll_from_security_info(env: &Env, b: &mut Browser) -> (Page, String, Vec<String>) {
    let page = b.open(&env.url(AUTH, SECURITY)).await;
    assert_eq!(page.heading(), "Security info", "{}", page.body);
    assert!(page.body.contains("Not set up"), "{}", page.body);
    let enroll = b
        .open(&env.url(AUTH, "/.portcullis/security?step=enroll"))
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    let secret = enroll.by_id("secret").expect("panel test harness");
    let codes_page = b
        .submit(&enroll, "/.portcullis/mfa", &[("code", &totp(&secret, 0))])
        .await;
    assert_eq!(
        codes_page.heading(),
        "Save your recovery codes",
        "{}",
        codes_page.body
    );
    let codes: Vec<String> = codes_page
        .body
        .split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 10, "{}", codes_page.body);
    let next = codes_page
        .links()
        .into_iter()
        .find(|l| l.path() == "/.portcullis/mfa")
        .expect("Continue");
    let back = b.open(next.as_str()).await;
    assert_eq!(
        (back.url.path(), back.heading().as_str()),
        (SECURITY, "Security info"),
        "{}",
        back.body
    );
    assert_eq!(
        back.by_id("notice").as_deref(),
        Some("Your new authenticator is set up.")
    );
    assert_eq!(
        back.by_id("recovery-left").as_deref(),
        Some("10 unused recovery codes left.")
    );
    (back, secret, codes)
}
