//! Every refusal says why and what next (issue 17), end to end against the
//! real `portcullis serve`: for each reason of DESIGN.md's closed set the
//! person's page says it in words (and never a policy's name), an API
//! client gets the same `reason` in JSON, the access log line carries it,
//! and the request id is on the page and in `X-Request-Id`. Every error
//! page has the sign-in pages' card, the ways on (apps, switch account,
//! sign out) and whom to ask. The e-mailed-code page tells an address that
//! gets no code what to do, without telling whether it is known; the
//! sign-in page names the app. Each page is shown in headless Chromium at
//! laptop and phone size and checked with axe-core (`target/browser-artifacts/`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use portcullis::session::UserType;
use serde_json::Value;
use support::browser::Browser;
use support::chromium;
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const AUTH: &str = "auth.test";
const OWNER: &str = "olga@tailwindtraders.com";
const BOB: &str = "bob@fabrikam.example";
const HTML: &str = "text/html,application/xhtml+xml";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";

/// Policy names that must never reach a person or an API client.
const POLICY_NAMES: [&str; 5] = [
    "guests-need-mfa",
    "fence-the-lab",
    "no-android-desk",
    "vault-closed",
    "spa-needs-mfa",
];

const RULES: &str = "\
named_locations:
  - name: lab
    ip_ranges: [127.0.0.0/8]
policies:
  - name: guests-need-mfa
    users: { include: [guests] }
    apps: { include: [wiki] }
    grant: { require: [mfa] }
  - name: fence-the-lab
    users: { include: [all] }
    apps: { include: [geo] }
    locations: { include: [lab] }
    grant: block
  - name: no-android-desk
    users: { include: [all] }
    apps: { include: [desk] }
    platforms: { include: [android] }
    grant: block
  - name: vault-closed
    users: { include: [all] }
    apps: { include: [vault] }
    grant: block
  - name: spa-needs-mfa
    users: { include: [all] }
    apps: { include: [spa] }
    grant: { require: [mfa] }
";

struct Env {
    gw: Gateway,
    _up: Upstream,
    /// Reaches every host of the test (the apps', the sign-in host and
    /// one that no app has) at the gateway; no redirects followed.
    client: reqwest::Client,
}

impl Env {
    fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.gw.url(host, path))
    }
}

/// Wiki (owned by Olga), geo (blocked from the lab's addresses), desk
/// (blocked on Android), vault (blocked), spa (MFA, no redirects); a local
/// IdP for Bob, the e-mailed code for everyone else, mail to the outbox.
async fn start() -> Env {
    let up = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let hash = portcullis::local_idp::hash_password("bob-password-1").unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        format!(
            "users:\n  - {{ email: {BOB}, name: Bob, password_hash: \"{hash}\", apps: [wiki] }}\n"
        ),
    )
    .unwrap();
    let idps = "  - { name: local, type: local, users_file: users.yaml }\n";
    let top = format!(
        "sign_in: {{ host: {AUTH}, fallback: passcode }}\n\
         mail: {{ from: \"Tailwind Traders <noreply@tailwindtraders.example>\", outbox: outbox }}\n"
    );
    let ups = vec![up.address()];
    let apps = vec![
        app(
            "wiki",
            &ups,
            &format!("title: Team Wiki, owners: [{OWNER}]"),
        ),
        app("geo", &ups, "title: Geo Reports"),
        app("desk", &ups, "title: Help Desk"),
        app("vault", &ups, "title: The Vault"),
        app("spa", &ups, "title: Single Page, on_unauthenticated: deny"),
        // Nothing listens there: every request fails on its way to the app.
        app(
            "gone",
            &[format!("127.0.0.1:{}", support::gateway::free_port())],
            "title: Gone App",
        ),
    ];
    let gw = Gateway::start_configured(dir, &apps, RULES, &[], idps, &top).await;
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    for h in [
        AUTH,
        "wiki.test",
        "geo.test",
        "desk.test",
        "vault.test",
        "spa.test",
        "gone.test",
        "nowhere.test",
    ] {
        client = client.resolve(h, gw.http);
    }
    let client = client.build().unwrap();
    Env {
        gw,
        _up: up,
        client,
    }
}

struct Answer {
    status: u16,
    request_id: String,
    content_type: String,
    body: String,
}

async fn fetch(rb: reqwest::RequestBuilder) -> Answer {
    let r = rb
        .timeout(WAIT)
        .send()
        .await
        .expect("request through the gateway");
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (request_id, content_type) = (header("x-request-id"), header("content-type"));
    Answer {
        status: r.status().as_u16(),
        request_id,
        content_type,
        body: r.text().await.unwrap_or_default(),
    }
}

/// The request id quoted on a page.
fn page_request_id(body: &str) -> String {
    let start = body
        .find("Request id: <code>")
        .unwrap_or_else(|| panic!("no request id on the page: {body}"))
        + "Request id: <code>".len();
    let end = body[start..].find("</code>").expect("end of request id") + start;
    body[start..end].to_string()
}

/// The access-log line of `request_id` (flushed within 100 ms).
async fn access_line(gw: &Gateway, request_id: &str) -> Value {
    let needle = format!("\"request_id\":\"{request_id}\"");
    poll(WAIT, || async {
        gw.log()
            .lines()
            .filter(|l| l.contains("\"target\":\"access\"") && l.contains(&needle))
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
    })
    .await
    .unwrap_or_else(|| panic!("no access-log line for {request_id}:\n{}", gw.log()))
    .0["fields"]
        .clone()
}

/// One refusal kind through the gateway.
struct Case {
    name: &'static str,
    host: &'static str,
    cookie: Option<String>,
    user_agent: Option<&'static str>,
    status: u16,
    reason: &'static str,
    /// Words the page must show (what happened, what next, whom to ask).
    words: Vec<String>,
}

fn date(t: OffsetDateTime) -> String {
    format!("{} {} {}", t.day(), t.month(), t.year())
}

#[tokio::test]
async fn every_refusal_says_why_and_what_next_in_html_json_and_the_access_log() {
    let env = start().await;
    let gw = &env.gw;
    let port = gw.http.port();
    let apps_url = format!("http://{AUTH}:{port}/.portcullis/apps");

    // not_shared: a guest with no assignment.
    let (_, no_share) = gw.guest("wiki.test", "nina").await;
    // access_ended: a guest whose assignment ended two days ago (also
    // under guests-need-mfa: the log must say why, not just which applied).
    let ended_at = OffsetDateTime::now_utc() - time::Duration::days(2);
    let (ended_id, ended) = gw.guest("wiki.test", "eddie").await;
    gw.store
        .grant_assignment(
            &ended_id,
            "wiki",
            Some(ended_at),
            None,
            ended_at - time::Duration::days(30),
        )
        .await
        .unwrap();
    // account_blocked: a guest with a live assignment, blocked.
    let (blocked_id, blocked) = gw.guest("wiki.test", "bea").await;
    gw.assign(
        &blocked_id,
        "wiki",
        Some(OffsetDateTime::now_utc() + time::Duration::days(5)),
    )
    .await;
    gw.store
        .set_user_state(&blocked_id, portcullis::store::UserState::Blocked)
        .await
        .unwrap();
    let (_, geo) = gw.member("geo.test", "gert", &["pwd", "mfa"]).await;
    let (_, desk) = gw.member("desk.test", "dana", &["pwd", "mfa"]).await;
    let (_, vault) = gw.member("vault.test", "val", &["pwd", "mfa"]).await;
    let (_, weak) = gw.member("spa.test", "walt", &["pwd"]).await;

    let cases = vec![
        Case {
            name: "not-shared",
            host: "wiki.test",
            cookie: Some(no_share),
            user_agent: None,
            status: 403,
            reason: "not_shared",
            words: vec![
                "Team Wiki has not been shared with the account you are signed in with.".into(),
                format!("ask the app&#39;s owner ({OWNER}) to share it with you"),
                "You are signed in as nina@contoso.com".into(),
            ],
        },
        Case {
            name: "access-ended",
            host: "wiki.test",
            cookie: Some(ended),
            user_agent: None,
            status: 403,
            reason: "access_ended",
            words: vec![
                format!("Your access to Team Wiki ended on {}.", date(ended_at)),
                format!("ask the app&#39;s owner ({OWNER}) to extend your access"),
            ],
        },
        Case {
            name: "account-blocked",
            host: "wiki.test",
            cookie: Some(blocked),
            user_agent: None,
            status: 403,
            reason: "account_blocked",
            words: vec![
                "Your account can no longer be used to open the apps of Tailwind Traders.".into(),
            ],
        },
        Case {
            name: "location",
            host: "geo.test",
            cookie: Some(geo),
            user_agent: None,
            status: 403,
            reason: "location",
            words: vec![
                "Geo Reports cannot be opened from the network or country you are connecting from."
                    .into(),
                "the person who invited you or the help desk of Tailwind Traders".into(),
            ],
        },
        Case {
            name: "device-platform",
            host: "desk.test",
            cookie: Some(desk),
            user_agent: Some(ANDROID),
            status: 403,
            reason: "device_platform",
            words: vec!["Help Desk cannot be opened from this kind of device.".into()],
        },
        Case {
            name: "policy-block",
            host: "vault.test",
            cookie: Some(vault),
            user_agent: None,
            status: 403,
            reason: "policy_block",
            words: vec![
                "The access rules of Tailwind Traders do not let this request through to The Vault."
                    .into(),
            ],
        },
        Case {
            name: "sign-in-required",
            host: "spa.test",
            cookie: None,
            user_agent: None,
            status: 401,
            reason: "sign_in_required",
            words: vec![
                "You need to sign in to open Single Page.".into(),
                "href=\"/.portcullis/sign-in?rd=/some/page%3Fx%3D1\">Sign in</a>".into(),
            ],
        },
        Case {
            name: "mfa-required",
            host: "spa.test",
            cookie: Some(weak),
            user_agent: None,
            status: 401,
            reason: "mfa_required",
            words: vec![
                "Single Page asks for a second sign-in step".into(),
                "href=\"/.portcullis/mfa?rd=/some/page%3Fx%3D1\">Continue with the second step</a>"
                    .into(),
            ],
        },
    ];

    let mut pages: Vec<(String, String)> = Vec::new();
    for c in &cases {
        let with = |rb: reqwest::RequestBuilder| {
            let mut rb = rb;
            if let Some(cookie) = &c.cookie {
                rb = rb.header("cookie", cookie);
            }
            if let Some(ua) = c.user_agent {
                rb = rb.header("user-agent", ua);
            }
            rb
        };
        // The page.
        let page = fetch(with(
            env.get(c.host, "/some/page?x=1").header("accept", HTML),
        ))
        .await;
        let what = format!("{}: {}", c.name, page.body);
        assert_eq!(page.status, c.status, "{what}");
        assert!(page.content_type.starts_with("text/html"), "{what}");
        assert_eq!(page.request_id.len(), 32, "{what}");
        assert_eq!(page_request_id(&page.body), page.request_id, "{what}");
        assert!(
            page.body.contains(&format!("data-reason=\"{}\"", c.reason)),
            "{what}"
        );
        for w in &c.words {
            assert!(
                page.body.contains(w.as_str()),
                "{}: missing {w:?}: {}",
                c.name,
                page.body
            );
        }
        for p in POLICY_NAMES {
            assert!(!page.body.contains(p), "{}: policy name {p} shown", c.name);
        }
        assert!(!page.body.contains("Traders&#39;s"), "{what}");
        assert!(page.body.contains("class=\"ways\""), "{what}");
        assert!(
            page.body.contains(&format!("href=\"{apps_url}\"")),
            "{what}"
        );
        if c.cookie.is_some() {
            assert!(page.body.contains(">Sign out</a>"), "{what}");
            assert!(
                page.body
                    .contains("href=\"/.portcullis/sign-out?switch=1&amp;rd=/some/page%3Fx%3D1\""),
                "{what}"
            );
        }
        // The access log: the real reason.
        let line = access_line(gw, &page.request_id).await;
        assert_eq!(line["reason"], c.reason, "{}: {line}", c.name);
        assert_eq!(line["status"], c.status, "{}: {line}", c.name);
        if c.reason == "access_ended" {
            // The situation of the issue: the policy that applied is listed,
            // and the reason says what really refused.
            assert_eq!(line["decision"], "block", "{line}");
            assert_eq!(line["policies"], "guests-need-mfa", "{line}");
        }
        // JSON for an API client: the same reason and request id.
        let api = fetch(with(
            env.get(c.host, "/api/items")
                .header("accept", "application/json"),
        ))
        .await;
        assert_eq!(api.status, c.status, "{}: {}", c.name, api.body);
        let j: Value = serde_json::from_str(&api.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", c.name, api.body));
        assert_eq!(j["reason"], c.reason, "{}: {j}", c.name);
        assert_eq!(j["request_id"], api.request_id.as_str(), "{}: {j}", c.name);
        for p in POLICY_NAMES {
            assert!(!api.body.contains(p), "{}: policy name {p} in JSON", c.name);
        }
        assert_eq!(access_line(gw, &api.request_id).await["reason"], c.reason);
        pages.push((format!("{:02}-{}", pages.len() + 1, c.name), page.body));
    }

    // The errors that are not refusals: the same card and ways on.
    let not_found = fetch(env.get("nowhere.test", "/").header("accept", HTML)).await;
    assert_eq!(not_found.status, 404, "{}", not_found.body);
    let bad = fetch(env.get("wiki.test", "/a%2fb").header("accept", HTML)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let (_, gone_cookie) = gw.member("gone.test", "gil", &["pwd", "mfa"]).await;
    let gone = fetch(
        env.get("gone.test", "/")
            .header("accept", HTML)
            .header("cookie", &gone_cookie),
    )
    .await;
    assert_eq!(gone.status, 502, "{}", gone.body);
    assert!(
        gone.body.contains("The app did not answer."),
        "{}",
        gone.body
    );
    for (name, a) in [
        ("09-not-found", not_found),
        ("10-bad-request", bad),
        ("11-app-unavailable", gone),
    ] {
        assert_eq!(a.request_id.len(), 32, "{name}: X-Request-Id");
        assert_eq!(page_request_id(&a.body), a.request_id, "{name}");
        assert!(
            a.body.contains(&format!("href=\"{apps_url}\"")),
            "{name}: {}",
            a.body
        );
        assert!(a.body.contains("What you can do:"), "{name}: {}", a.body);
        assert!(a.body.contains("<main>"), "{name}: the card: {}", a.body);
        pages.push((name.into(), a.body));
    }
    // "Switch account" on an app host: the session ends, and the browser
    // goes straight on to sign in again, back to the refused page after.
    let (_, switching) = gw.guest("wiki.test", "sam").await;
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let r = env
        .get(
            "wiki.test",
            "/.portcullis/sign-out?switch=1&rd=/some/page%3Fx%3D1",
        )
        .header("accept", HTML)
        .header("cookie", &switching)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        location(&r),
        format!(
            "http://{AUTH}:{port}/.portcullis/sign-in?reauth=1&rd={}",
            portcullis::html::encode_component(&format!("http://wiki.test:{port}/some/page?x=1"))
        )
    );
    let after = env
        .get("wiki.test", "/some/page")
        .header("accept", HTML)
        .header("sec-fetch-mode", "navigate")
        .header("cookie", &switching)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 302, "the switched-from session still works");
    assert!(
        location(&after).starts_with("/.portcullis/sign-in"),
        "{}",
        location(&after)
    );

    // An allowed request's answer carries the id too (the upstream's).
    let (member, open) = gw.member("wiki.test", "mia", &["pwd", "mfa"]).await;
    gw.assign(&member, "wiki", None).await;
    let ok = fetch(env.get("wiki.test", "/").header("cookie", &open)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.request_id.len(), 32);

    let refs: Vec<(&str, &str)> = pages
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_str()))
        .collect();
    let shots = chromium::render_pages("refusals_proxy", &refs).await;
    eprintln!("screenshots in {}", shots.display());
}

#[tokio::test]
async fn links_the_code_page_and_the_sign_in_page_say_what_next() {
    let env = start().await;
    let gw = &env.gw;
    let port = gw.http.port();
    let now = OffsetDateTime::now_utc();
    let mut pages: Vec<(String, String)> = Vec::new();

    // Invitation links that cannot be used, with the inviter named.
    let day = time::Duration::days(1);
    invite(gw, "uma@contoso.example", "used-token-1", now + day).await;
    gw.store
        .redeem_invitation("used-token-1", now)
        .await
        .unwrap();
    invite(gw, "exa@contoso.example", "expired-token-1", now - day).await;
    let withdrawn = invite(gw, "wim@contoso.example", "withdrawn-token-1", now + day).await;
    gw.store
        .revoke_invitation(&withdrawn.id, now)
        .await
        .unwrap();
    for (name, token, status, reason, words) in [
        (
            "01-invitation-used",
            "used-token-1",
            410,
            "invitation_used",
            "This invitation was already accepted.",
        ),
        (
            "02-invitation-expired",
            "expired-token-1",
            410,
            "invitation_expired",
            "Ask Alice Example to send you a new one.",
        ),
        (
            "03-invitation-withdrawn",
            "withdrawn-token-1",
            410,
            "invitation_withdrawn",
            "Ask Alice Example if you still need access.",
        ),
        (
            "04-not-invited",
            "no-such-token",
            404,
            "not_invited",
            "Check that you opened the whole link from the e-mail",
        ),
    ] {
        let path = format!("/.portcullis/invite?token={token}");
        let page = fetch(env.get(AUTH, &path).header("accept", HTML)).await;
        assert_eq!(page.status, status, "{name}: {}", page.body);
        assert!(page.body.contains(words), "{name}: {}", page.body);
        assert!(
            page.body.contains(&format!("data-reason=\"{reason}\"")),
            "{name}: {}",
            page.body
        );
        assert!(
            page.body.contains("href=\"/.portcullis/apps\""),
            "{name}: {}",
            page.body
        );
        assert_eq!(page_request_id(&page.body), page.request_id, "{name}");
        assert_eq!(
            access_line(gw, &page.request_id).await["reason"],
            reason,
            "{name}"
        );
        let api = fetch(env.get(AUTH, &path).header("accept", "application/json")).await;
        assert_eq!(api.status, status, "{name}: {}", api.body);
        let j: Value = serde_json::from_str(&api.body).unwrap();
        assert_eq!(j["reason"], reason, "{name}: {j}");
        assert_eq!(j["request_id"], api.request_id.as_str(), "{name}: {j}");
        pages.push((name.into(), page.body));
    }

    // Point 7: the sign-in page names the app the person is going to, and
    // makes no claim about passwords beside this organisation's own.
    let rd = format!("http://wiki.test:{port}/docs/start");
    let mut b = Browser::new(gw.http, &[AUTH, "wiki.test"]);
    let sign_in = b
        .open(&format!(
            "http://{AUTH}:{port}/.portcullis/sign-in?rd={}",
            portcullis::html::encode_component(&rd)
        ))
        .await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    assert!(
        sign_in
            .body
            .contains("to continue to <strong>Team Wiki</strong>"),
        "{}",
        sign_in.body
    );
    assert!(
        !sign_in.body.contains("never sees your password"),
        "{}",
        sign_in.body
    );
    pages.push(("05-sign-in-names-the-app".into(), sign_in.body.clone()));

    // Point 1: an address that gets no code is told what to do, offered
    // another address and a resend; the page is the one a known address
    // gets (nothing tells whether an address is known).
    let unknown = b
        .submit(
            &sign_in,
            "/.portcullis/sign-in",
            &[("email", "nobody@unknown.example")],
        )
        .await;
    assert_eq!(unknown.status, 200, "{}", unknown.body);
    for w in [
        "No code?",
        "Check that <strong>nobody@unknown.example</strong> is the address you were invited with",
        "otherwise ask the person who invited you or the owner of Team Wiki (olga@tailwindtraders.com)",
        "Use another address",
        "Send a new code",
        "You can ask for a new code in <span class=\"countdown\"",
        "to continue to <strong>Team Wiki</strong>",
    ] {
        assert!(unknown.body.contains(w), "missing {w:?}: {}", unknown.body);
    }
    gw.add_user("kim@contoso.example", UserType::Guest).await;
    let known = b
        .submit(
            &sign_in,
            "/.portcullis/sign-in",
            &[("email", "kim@contoso.example")],
        )
        .await;
    assert_eq!(known.status, 200);
    let scrub = |body: &str, email: &str| {
        let id = page_request_id_footer(body);
        body.replace(email, "EMAIL").replace(&id, "ID")
    };
    assert_eq!(
        scrub(&unknown.body, "nobody@unknown.example"),
        scrub(&known.body, "kim@contoso.example"),
        "the page tells a known address from an unknown one"
    );
    // "Use another address": back to the sign-in page, on the way to the app.
    let another = b
        .open(&format!(
            "http://{AUTH}:{port}/.portcullis/sign-in?rd={}",
            portcullis::html::encode_component(&unknown.field("rd").unwrap())
        ))
        .await;
    assert!(another.body.contains("Team Wiki"), "{}", another.body);
    // The resend: the same form without a code asks for a new one, but
    // not before the page's countdown ends: said with the seconds left,
    // and it costs nothing (no counter moves, no new code).
    let counters = gw.store.rate_limit_counters().await.unwrap();
    let resent = b
        .submit(&unknown, "/.portcullis/sign-in/passcode", &[])
        .await;
    assert_eq!(resent.status, 429, "{}", resent.body);
    assert!(resent.body.contains("No code?"), "{}", resent.body);
    assert!(
        resent.body.contains("You can ask for a new one in ")
            && resent
                .body
                .contains("This did not count towards the limit."),
        "{}",
        resent.body
    );
    assert_eq!(gw.store.rate_limit_counters().await.unwrap(), counters);
    pages.push(("06b-passcode-resend-too-soon".into(), resent.body.clone()));
    pages.push(("06-passcode-no-code".into(), unknown.body.clone()));

    let refs: Vec<(&str, &str)> = pages
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_str()))
        .collect();
    let shots = chromium::render_pages("refusals_portal", &refs).await;
    eprintln!("screenshots in {}", shots.display());
}

/// An invitation to wiki from Alice for `email`, with this link `token`.
async fn invite(
    gw: &Gateway,
    email: &str,
    token: &str,
    expires: OffsetDateTime,
) -> portcullis::store::Invitation {
    let user_id = gw.add_user(email, UserType::Guest).await;
    let now = OffsetDateTime::now_utc();
    gw.store
        .create_invitation(
            &portcullis::store::NewInvitation {
                email: email.into(),
                user_id,
                apps: vec!["wiki".into()],
                access_until: None,
                access_days: Some(7),
                message: None,
                inviter: "Alice Example".into(),
                expires_at: expires,
            },
            token,
            now - time::Duration::days(3),
        )
        .await
        .unwrap()
}

/// The portal's pages show the request id in the footer.
fn page_request_id_footer(body: &str) -> String {
    body.split("Request id: ")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .trim()
        .to_string()
}
