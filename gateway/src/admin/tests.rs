//! The admin listener's tests: a real `Gateway` over a temporary config,
//! answered through [`AdminApp::handle`] and on a real socket.

use super::auth::token_matches;
use super::routes::{GuestRoute, guest_route};
use super::*;
use crate::metrics::Metrics;
use crate::session::KeyRing;
use crate::snapshot::Snapshot;
use crate::store::{DirectoryCache, Store};
use crate::whatif::WhatIf;
use http::header::HeaderValue;
use http::{Method, StatusCode};
use rules::{ClientApp, RequestFacts};
use serde_json::{Value, json};
use std::path::PathBuf;

const TOKEN: &str = "s3cret-admin-token";

const RULES: &str = "\
named_locations:
  - name: office
    ip_ranges: [203.0.113.0/24]
    trusted: true
policies:
  - name: guests-need-mfa
    users: { include: [guests] }
    apps: { include: [all] }
    grant: { require: [mfa] }
  - name: payroll-mfa-outside-the-office
    users: { include: [members] }
    apps: { include: [payroll] }
    locations: { include: [all], exclude: [trusted] }
    grant: { require: [mfa] }
";

struct Fixture {
    dir: tempfile::TempDir,
    gateway: Arc<Gateway>,
}

impl Fixture {
    fn config_path(&self) -> PathBuf {
        self.dir.path().join("portcullis.yaml")
    }

    fn app(&self, token: Option<&str>) -> AdminApp {
        AdminApp::new(self.gateway.clone(), token.map(|t| Arc::from(t.as_bytes())))
    }
}

/// A real `Gateway` over a config and rule file in a temporary folder.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/access.yaml"), RULES).expect("write rules");
    let config = "listen: { http: 127.0.0.1:8080 }\nrules: [\"rules/*.yaml\"]\n\
         organisation: { name: Test, member_domains: [tailwindtraders.com] }\n\
         apps:\n  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }\n\
         \x20 - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9002] }\n";
    let config_path = dir.path().join("portcullis.yaml");
    std::fs::write(&config_path, config).expect("write config");
    let snapshot = Snapshot::load(&config_path).expect("snapshot loads");
    let store = Store::open_sqlite(&dir.path().join("portcullis.db"))
        .await
        .expect("store opens");
    // bob@example.com: a guest the directory has, assigned to wiki.
    let at = time::OffsetDateTime::now_utc();
    let bob = store
        .upsert_user(
            &crate::store::NewUser {
                id: crate::store::new_user_id(),
                email: "bob@example.com".into(),
                display_name: None,
                user_type: rules::UserType::Guest,
                identity: None,
            },
            at,
        )
        .await
        .expect("add bob");
    store
        .grant_assignment(
            &bob.id,
            "wiki",
            Some(at + time::Duration::days(1)),
            None,
            at,
        )
        .await
        .expect("assign bob");
    let directory = DirectoryCache::new(store.clone(), Default::default());
    let now = crate::state::now();
    let keys = KeyRing::generate("https://portcullis.test", now, 3600).expect("keys");
    let gateway = Gateway::new(
        config_path,
        snapshot,
        keys,
        Vec::new(),
        store,
        directory,
        Metrics::new(),
    );
    Fixture {
        dir,
        gateway: Arc::new(gateway),
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header value"),
    );
    h
}

async fn get(app: &AdminApp, target: &str, headers: &HeaderMap) -> Response<Vec<u8>> {
    app.handle(&Method::GET, target, headers, b"").await
}

fn body_json(r: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).expect("JSON body")
}

fn body_text(r: &Response<Vec<u8>>) -> String {
    String::from_utf8(r.body().clone()).expect("utf-8")
}

fn header_of(r: &Response<Vec<u8>>, name: header::HeaderName) -> &str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What `portcullis whatif --json` prints for these facts (the CLI reads
/// the same directory).
async fn cli_json(f: &Fixture, facts: &RequestFacts) -> Value {
    let snapshot = f.gateway.snapshot.load_full();
    let now = time::OffsetDateTime::now_utc();
    WhatIf::with_directory(&snapshot, facts, &f.gateway.store, now)
        .await
        .expect("facts resolve")
        .json(&snapshot)
}

/// The facts of `whatif --user alice@tailwindtraders.com --app payroll
/// --group Finance --group ops --path /reports --method post --ip
/// 198.51.100.7 --user-agent … --client-app api --mfa --signed-in-ago 13h`.
fn alice_facts() -> RequestFacts {
    RequestFacts {
        user: Some("alice@tailwindtraders.com".into()),
        user_type: None,
        groups: vec!["Finance".into(), "ops".into()],
        app: "payroll".into(),
        path: Some("/reports".into()),
        method: Some("post".into()),
        ip: Some("198.51.100.7".parse().expect("ip")),
        country: None,
        user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into()),
        platform: None,
        client_app: Some(ClientApp::Api),
        mfa: rules::MfaStrength::Mfa,
        signed_in_ago: Some(Duration::from_secs(13 * 3600)),
        assigned: Some(true),
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_without_a_token() {
    let f = fixture().await;
    let r = get(&f.app(Some(TOKEN)), METRICS_PATH, &HeaderMap::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header_of(&r, header::CONTENT_TYPE).starts_with("text/plain; version=0.0.4"));
    assert!(
        body_text(&r).contains("portcullis_build_info"),
        "{}",
        body_text(&r)
    );
    assert_eq!(
        header_of(&r, header::CONTENT_LENGTH),
        r.body().len().to_string()
    );
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_follows_readiness() {
    let f = fixture().await;
    let app = f.app(None);
    let r = get(&app, HEALTHZ_PATH, &HeaderMap::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_text(&r).trim(), "ok");
    let r = get(&app, READYZ_PATH, &HeaderMap::new()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    f.gateway.set_ready(true);
    let r = get(&app, READYZ_PATH, &HeaderMap::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    f.gateway.set_ready(false);
    let r = get(&app, READYZ_PATH, &HeaderMap::new()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn whatif_get_answers_what_the_cli_prints() {
    let f = fixture().await;
    let target = format!(
        "{WHATIF_PATH}?user=alice%40tailwindtraders.com&app=payroll&group=Finance&group=ops\
         &path=%2Freports&method=post&ip=198.51.100.7\
         &user_agent=Mozilla%2F5.0+(iPhone%3B+CPU+iPhone+OS+17_0+like+Mac+OS+X)\
         &client_app=api&mfa&signed_in_ago=13h&unassigned=false"
    );
    let r = get(&f.app(Some(TOKEN)), &target, &bearer(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/json");
    let answer = body_json(&r);
    assert_eq!(answer, cli_json(&f, &alice_facts()).await);
    assert_eq!(answer["user"], "alice@tailwindtraders.com");
    assert_eq!(answer["platform"], "ios");
}

#[tokio::test]
async fn whatif_post_answers_what_the_cli_prints() {
    let f = fixture().await;
    let body = json!({
        "user": "alice@tailwindtraders.com",
        "app": "payroll",
        "group": ["Finance", "ops"],
        "path": "/reports",
        "method": "post",
        "ip": "198.51.100.7",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        "client_app": "api",
        "mfa": true,
        "signed_in_ago": "13h",
        "unassigned": false,
        "country": null,
    });
    let r = f
        .app(Some(TOKEN))
        .handle(
            &Method::POST,
            WHATIF_PATH,
            &bearer(TOKEN),
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
    assert_eq!(body_json(&r), cli_json(&f, &alice_facts()).await);
}

#[tokio::test]
async fn whatif_without_user_is_a_request_that_is_not_signed_in() {
    let f = fixture().await;
    let app = f.app(Some(TOKEN));
    let r = get(&app, &format!("{WHATIF_PATH}?app=wiki"), &bearer(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
    let expected = cli_json(
        &f,
        &RequestFacts {
            app: "wiki".into(),
            path: Some("/".into()),
            method: Some("GET".into()),
            client_app: Some(ClientApp::Browser),
            assigned: Some(true),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(body_json(&r), expected);
    assert_eq!(body_json(&r)["decision"], "sign_in");
    // A guest without MFA, then with it, and a platform override.
    let r = get(
        &app,
        &format!(
            "{WHATIF_PATH}?app=wiki&user=bob%40example.com&user_type=guest&platform=linux&country=de"
        ),
        &bearer(TOKEN),
    )
    .await;
    let answer = body_json(&r);
    assert_eq!(answer["decision"], "mfa", "{answer}");
    assert_eq!(answer["country"], "DE");
    assert_eq!(answer["platform"], "linux");
}

#[tokio::test]
async fn whatif_reads_the_live_snapshot() {
    let f = fixture().await;
    let app = f.app(Some(TOKEN));
    let target = format!("{WHATIF_PATH}?app=wiki&user=bob%40example.com");
    assert_eq!(
        body_json(&get(&app, &target, &bearer(TOKEN)).await)["decision"],
        "mfa"
    );
    // A reload that blocks guests is visible to the next request.
    std::fs::write(
        f.dir.path().join("rules/access.yaml"),
        "policies:\n  - name: no-guests\n    users: { include: [guests] }\n    apps: { include: [all] }\n    grant: block\n",
    )
    .expect("write rules");
    let next = Snapshot::load(&f.config_path()).expect("reload");
    f.gateway.snapshot.store(Arc::new(next));
    let answer = body_json(&get(&app, &target, &bearer(TOKEN)).await);
    assert_eq!(answer["decision"], "block", "{answer}");
    assert_eq!(answer["policies"][0]["name"], "no-guests");
}

#[tokio::test]
async fn api_needs_the_bearer_token() {
    let f = fixture().await;
    let app = f.app(Some(TOKEN));
    let target = format!("{WHATIF_PATH}?app=wiki");
    let refused = async |headers: &HeaderMap| {
        let r = get(&app, &target, headers).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{}", body_text(&r));
        assert!(header_of(&r, header::WWW_AUTHENTICATE).starts_with("Bearer"));
        assert!(body_json(&r)["error"].is_string());
        assert!(!body_text(&r).contains(TOKEN));
    };
    refused(&HeaderMap::new()).await;
    refused(&bearer("s3cret-admin-tokem")).await;
    refused(&bearer("s3cret")).await;
    refused(&bearer(&format!("{TOKEN}x"))).await;
    let mut basic = HeaderMap::new();
    basic.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic czNjcmV0LWFkbWluLXRva2Vu"),
    );
    refused(&basic).await;
    let mut twice = bearer(TOKEN);
    twice.append(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer other"),
    );
    refused(&twice).await;
    // Unknown API routes are not revealed to unauthenticated clients.
    let r = get(&app, "/api/v1/nothing", &HeaderMap::new()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get(&app, "/api/v1/nothing", &bearer(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        get(&app, &target, &bearer(TOKEN)).await.status(),
        StatusCode::OK
    );
    let mut lower = HeaderMap::new();
    lower.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("bearer  {TOKEN} ")).expect("header value"),
    );
    assert_eq!(get(&app, &target, &lower).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_file_the_api_is_off_and_probes_stay_open() {
    let f = fixture().await;
    let app = f.app(None);
    let r = get(&app, &format!("{WHATIF_PATH}?app=wiki"), &bearer(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let error = body_json(&r)["error"].as_str().unwrap_or("").to_string();
    assert!(error.contains("admin.token_file"), "{error}");
    for path in [METRICS_PATH, HEALTHZ_PATH] {
        assert_eq!(
            get(&app, path, &HeaderMap::new()).await.status(),
            StatusCode::OK
        );
    }
}

#[test]
fn tokens_are_compared_in_constant_time_over_their_digests() {
    assert!(token_matches(b"abc", b"abc"));
    assert!(!token_matches(b"abc", b"abd"));
    assert!(!token_matches(b"abc", b"abcd"));
    assert!(!token_matches(b"abc", b""));
    // The comparison must not be `==` on the raw bytes: the source of
    // `token_matches` goes through aws-lc's constant-time verifier.
    let source = include_str!("auth.rs");
    let body = source
        .split("fn token_matches")
        .nth(1)
        .and_then(|s| s.split("\n}\n").next())
        .expect("token_matches is defined");
    assert!(body.contains("constant_time::verify_slices_are_equal"));
    assert!(!body.contains("=="));
}

#[tokio::test]
async fn debug_of_the_app_redacts_the_token() {
    let f = fixture().await;
    let text = format!("{:?}", f.app(Some(TOKEN)));
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("redacted"), "{text}");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let f = fixture().await;
    let app = f.app(Some(TOKEN));
    let auth = bearer(TOKEN);
    let bad_get = async |query: &str, field: &str, needle: &str| {
        let r = get(&app, &format!("{WHATIF_PATH}?{query}"), &auth).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let v = body_json(&r);
        assert_eq!(v["field"], field, "{query}: {v}");
        let error = v["error"].as_str().unwrap_or("");
        assert!(error.contains(needle), "{query}: {error}");
    };
    bad_get("app=payrol", "app", "did you mean `payroll`?").await;
    bad_get("user=a%40b.c", "app", "required").await;
    bad_get(
        "app=wiki&ip=300.1.1.1",
        "ip",
        "`300.1.1.1` is not an IPv4 or IPv6",
    )
    .await;
    bad_get("app=wiki&platform=amiga", "platform", "use one of").await;
    bad_get("app=wiki&client_app=curl", "client_app", "browser or api").await;
    bad_get("app=wiki&country=XX", "country", "`XX`").await;
    bad_get(
        "app=wiki&user=a%40b.c&user_type=admin",
        "user_type",
        "guest or member",
    )
    .await;
    bad_get(
        "app=wiki&user=a%40b.c&signed_in_ago=12x",
        "signed_in_ago",
        "use 30m",
    )
    .await;
    bad_get("app=wiki&user=a%40b.c&mfa=maybe", "mfa", "true or false").await;
    bad_get("app=wiki&mfa", "mfa", "give `user` too").await;
    bad_get("app=wiki&group=ops", "group", "give `user` too").await;
    bad_get("app=wiki&ap=x", "ap", "did you mean `app`?").await;
    bad_get("app=wiki&app=payroll", "app", "more than once").await;
    bad_get("app=wiki&user=%FF", "user", "UTF-8").await;
    bad_get("app=wiki&user=%4", "user", "UTF-8").await;

    let bad_post = async |body: &str, field: Option<&str>, needle: &str| {
        let r = app
            .handle(&Method::POST, WHATIF_PATH, &auth, body.as_bytes())
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v = body_json(&r);
        match field {
            Some(field) => assert_eq!(v["field"], field, "{body}: {v}"),
            None => assert!(v.get("field").is_none(), "{body}: {v}"),
        }
        let error = v["error"].as_str().unwrap_or("");
        assert!(error.contains(needle), "{body}: {error}");
    };
    bad_post(
        r#"{"app": "wiki", "groups": ["x"]}"#,
        Some("groups"),
        "did you mean `group`?",
    )
    .await;
    bad_post(
        r#"{"app": "wiki", "colour": "red"}"#,
        Some("colour"),
        "unknown field",
    )
    .await;
    bad_post(
        r#"{"app": "wiki", "ip": "nope"}"#,
        Some("ip"),
        "not an IPv4",
    )
    .await;
    bad_post(
        r#"{"app": "wiki", "platform": "amiga"}"#,
        Some("platform"),
        "not a platform",
    )
    .await;
    bad_post(r#"{"app": "nope"}"#, Some("app"), "there is no app `nope`").await;
    bad_post(r#"{"app": 7}"#, Some("app"), "must be a string").await;
    bad_post(
        r#"{"app": "wiki", "user": "a@b.c", "mfa": "yes"}"#,
        Some("mfa"),
        "true or false",
    )
    .await;
    bad_post(
        r#"{"app": "wiki", "user": "a@b.c", "group": [1]}"#,
        Some("group"),
        "string",
    )
    .await;
    bad_post(r#"{"app": "wiki""#, None, "not JSON").await;
    bad_post(r#"["app", "wiki"]"#, None, "JSON object").await;
    let r = app
        .handle(
            &Method::POST,
            &format!("{WHATIF_PATH}?app=wiki"),
            &auth,
            br#"{"app": "wiki"}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_large_bodies() {
    let f = fixture().await;
    let app = f.app(Some(TOKEN));
    let auth = bearer(TOKEN);
    for path in ["/", "/metrics/", "/healthz/x", "/api", "/admin"] {
        let r = get(&app, path, &auth).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(body_json(&r)["error"].is_string());
    }
    let r = app
        .handle(&Method::POST, METRICS_PATH, &HeaderMap::new(), b"")
        .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_of(&r, header::ALLOW), "GET");
    let r = app.handle(&Method::DELETE, WHATIF_PATH, &auth, b"").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_of(&r, header::ALLOW), "GET, POST");
    // Authorisation comes before the method check.
    let r = app
        .handle(&Method::DELETE, WHATIF_PATH, &HeaderMap::new(), b"")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let big = vec![b' '; MAX_BODY + 1];
    let r = app.handle(&Method::POST, WHATIF_PATH, &auth, &big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut fits = br#"{"app": "wiki"}"#.to_vec();
    fits.resize(MAX_BODY, b' ');
    let r = app.handle(&Method::POST, WHATIF_PATH, &auth, &fits).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", body_text(&r));
}

#[test]
fn guest_routes_and_access_ends() {
    assert_eq!(guest_route("/api/v1/guests"), Some(GuestRoute::All));
    assert_eq!(
        guest_route("/api/v1/guests/u_1"),
        Some(GuestRoute::One("u_1"))
    );
    assert_eq!(
        guest_route("/api/v1/guests/a%40b.example/assignments/wiki"),
        Some(GuestRoute::Assignment("a%40b.example", "wiki"))
    );
    for bad in [
        "/api/v1/guestsx",
        "/api/v1/guests/",
        "/api/v1/guests/u_1/assignments",
        "/api/v1/guests/u_1/assignments/wiki/x",
        "/api/v1/guests/u 1",
    ] {
        assert_eq!(guest_route(bad), None, "{bad}");
    }
    let now = time::macros::datetime!(2026-11-24 12:00 UTC);
    assert_eq!(
        access_end(Some(10), None, now),
        Ok(time::macros::datetime!(2026-12-04 12:00 UTC))
    );
    assert_eq!(
        access_end(None, Some("2026-12-31"), now),
        Ok(time::macros::datetime!(2026-12-31 00:00 UTC))
    );
    for (days, until, field) in [
        (None, None, "days"),
        (Some(0), None, "days"),
        (Some(367), None, "days"),
        (Some(1), Some("2026-12-31"), "until"),
        (None, Some("31/12/2026"), "until"),
        (None, Some("2026-01-01"), "until"),
        (None, Some("2028-01-01"), "until"),
    ] {
        assert_eq!(access_end(days, until, now).map_err(|e| e.0), Err(field));
    }
}

#[test]
fn token_files_are_trimmed_and_empty_ones_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("admin.token");
    std::fs::write(&path, format!("  {TOKEN}\n")).expect("write");
    assert_eq!(&*read_token(&path).expect("token"), TOKEN.as_bytes());
    std::fs::write(&path, " \n").expect("write");
    let e = read_token(&path).expect_err("empty");
    assert!(
        e.contains(&path.display().to_string()) && e.contains("empty"),
        "{e}"
    );
    let missing = dir.path().join("missing.token");
    let e = read_token(&missing).expect_err("missing");
    assert!(e.contains(&missing.display().to_string()), "{e}");
}

#[tokio::test]
async fn service_refuses_an_unreadable_token_file() {
    let f = fixture().await;
    let missing = f.dir.path().join("missing.token");
    let e = service(
        f.gateway.clone(),
        &Admin {
            address: "127.0.0.1:0".parse().expect("address"),
            token_file: Some(missing.clone()),
        },
    )
    .err()
    .expect("refused");
    assert!(e.contains(&missing.display().to_string()), "{e}");
}

/// One HTTP/1.1 exchange on a fresh connection; the whole response.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        std::io::Result::Ok(out)
    };
    let out = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .expect("the admin listener answers within 10 s")
        .expect("exchange");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_on_a_real_socket() {
    use pingora::services::Service as _;
    let f = fixture().await;
    let token_file = f.dir.path().join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let mut svc = service(
        f.gateway.clone(),
        &Admin {
            address: addr,
            token_file: Some(token_file),
        },
    )
    .expect("service");
    let (shutdown, watch) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { svc.start_service(None, watch, 1).await });

    // Bounded wait for the listener to come up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "admin listener never bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let r = exchange(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("\r\n\r\nok\n"), "{r}");

    let r = exchange(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.contains("portcullis_build_info"), "{r}");

    let r = exchange(
        addr,
        "GET /api/v1/whatif?app=wiki HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(
        r.to_ascii_lowercase().contains("www-authenticate: bearer"),
        "{r}"
    );

    let body = r#"{"app": "wiki", "user": "bob@example.com"}"#;
    let r = exchange(
        addr,
        &format!(
            "POST /api/v1/whatif HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let json_text = r.split("\r\n\r\n").nth(1).expect("a body");
    let answer: Value = serde_json::from_str(json_text).expect("JSON");
    let expected = cli_json(
        &f,
        &RequestFacts {
            user: Some("bob@example.com".into()),
            app: "wiki".into(),
            path: Some("/".into()),
            method: Some("GET".into()),
            client_app: Some(ClientApp::Browser),
            assigned: Some(true),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(answer, expected);

    // A declared oversized body is refused without being read.
    let r = exchange(
        addr,
        &format!(
            "POST /api/v1/whatif HTTP/1.1\r\nHost: a\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{{",
            MAX_BODY + 1
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");

    shutdown.send(true).expect("service is listening");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the service stops within 10 s")
        .expect("service task");
}

#[test]
fn percent_decoding_is_form_decoding_and_refuses_broken_input() {
    use super::query::percent_decode;
    for (raw, decoded) in [
        ("a%40b.example", "a@b.example"),
        ("a+b", "a b"),
        ("a%2Bb", "a+b"),
        ("%C3%a9t%C3%A9", "été"),
        ("", ""),
        ("plain", "plain"),
    ] {
        assert_eq!(percent_decode(raw).as_deref(), Some(decoded), "{raw}");
    }
    for broken in ["%", "%4", "a%zz", "%%41", "%41%", "%FF", "%C3"] {
        assert_eq!(percent_decode(broken), None, "{broken}");
    }
}
