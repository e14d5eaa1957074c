//! Forward-auth mode (issue 7, item 5): a real nginx from Debian in front,
//! asking the real `portcullis serve` for each request with `auth_request`
//! (`/.portcullis/auth/nginx`) and proxying to a real recording upstream
//! itself, with the identity headers taken from the auth response
//! (`auth_request_set`). The configuration is the one docs/forward-auth.md
//! gives. The other endpoints (Traefik/Caddy, Envoy) are exercised at the
//! protocol level from a trusted loopback address. Loopback only; every
//! wait is bounded; nginx is killed on `Drop`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use base64::Engine as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::gateway::{Gateway, app, free_port};
use support::upstream::{Seen, Upstream};
use support::{WAIT, raw};

const NGINX: &str = "/usr/sbin/nginx";
const HOST: &str = "wiki.test";
const AUTH_HOST: &str = "auth.test";
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

const RULES: &str = "\
policies:
  - name: admin-is-for-members
    users: { include: [guests] }
    apps: { include: [wiki] }
    paths: { include: [/admin, /admin/*] }
    grant: block
  - name: secure-needs-mfa
    users: { include: [all] }
    apps: { include: [wiki] }
    paths: { include: [/secure/*] }
    grant: { require: [mfa] }
";

/// The nginx configuration of docs/forward-auth.md, with the test's
/// addresses and a temporary prefix.
fn nginx_conf(dir: &Path, listen: SocketAddr, gateway: SocketAddr, app: SocketAddr) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    upstream portcullis {{ server {gateway}; }}
    upstream app {{ server {app}; }}

    server {{
        listen {listen};
        server_name {HOST} {AUTH_HOST};

        # The decision. internal: only nginx itself may ask.
        location = /_portcullis_auth {{
            internal;
            proxy_pass http://portcullis/.portcullis/auth/nginx;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}

        # Sign-in, MFA, the hand-off and sign-out: the gateway's own pages.
        location /.portcullis/ {{
            proxy_pass http://portcullis;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        # Nobody outside asks for decisions through nginx.
        location ^~ /.portcullis/auth {{
            return 404;
        }}

        location / {{
            auth_request /_portcullis_auth;
            auth_request_set $portcullis_user $upstream_http_x_portcullis_user;
            auth_request_set $portcullis_email $upstream_http_x_portcullis_email;
            auth_request_set $portcullis_user_type $upstream_http_x_portcullis_user_type;
            auth_request_set $portcullis_groups $upstream_http_x_portcullis_groups;
            auth_request_set $portcullis_assertion $upstream_http_x_portcullis_assertion;
            auth_request_set $portcullis_location $upstream_http_location;
            error_page 401 = @portcullis_401;

            proxy_pass http://app;
            proxy_set_header X-Portcullis-User $portcullis_user;
            proxy_set_header X-Portcullis-Email $portcullis_email;
            proxy_set_header X-Portcullis-User-Type $portcullis_user_type;
            proxy_set_header X-Portcullis-Groups $portcullis_groups;
            proxy_set_header X-Portcullis-Assertion $portcullis_assertion;
        }}

        # People go to sign-in (or MFA); API clients keep the 401 and its
        # WWW-Authenticate.
        location @portcullis_401 {{
            if ($portcullis_location) {{
                return 302 $portcullis_location;
            }}
            return 401;
        }}
    }}
}}
"#
    )
}

/// nginx as a foreground process in a temporary prefix; killed on `Drop`.
struct Nginx {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    /// Starts nginx in front of `gateway` and `app`; returns once it accepts
    /// connections (at most 10 s).
    async fn start(gateway: SocketAddr, app: SocketAddr) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), addr, gateway, app)).expect("write conf");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut n = Nginx { addr, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = n.child.try_wait() {
                panic!("nginx exited with {status}:\n{}", n.log());
            }
            if let Ok(Ok(_)) = tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {addr} within 10 s:\n{}",
                n.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{HOST}:{}{path}", self.addr.port())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- nginx error.log ---\n{}", self.log());
        }
    }
}

struct Env {
    // Dropped in this order: nginx before the gateway and the app.
    nginx: Nginx,
    gw: Gateway,
    up: Upstream,
    /// A client that reaches `wiki.test` and `auth.test` through nginx.
    client: reqwest::Client,
}

async fn start() -> Env {
    let up = Upstream::start("app").await;
    let apps = [app("wiki", &[up.address()], "public_paths: [/public/]")];
    let gw = Gateway::start_configured(
        tempfile::tempdir().expect("tempdir"),
        &apps,
        RULES,
        &[],
        "",
        "trusted_proxies: [127.0.0.1/32]\nsign_in: { host: auth.test }\n",
    )
    .await;
    let nginx = Nginx::start(gw.http, up.addr).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WAIT)
        .resolve(HOST, nginx.addr)
        .resolve(AUTH_HOST, nginx.addr)
        .build()
        .expect("client");
    Env {
        nginx,
        gw,
        up,
        client,
    }
}

impl Env {
    /// A browser navigation through nginx.
    fn browse(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(self.nginx.url(path))
            .header("accept", HTML)
            .header("sec-fetch-mode", "navigate")
    }

    /// A client on 127.0.0.2 (not in `trusted_proxies`) straight to the gateway.
    fn untrusted(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(WAIT)
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
            .build()
            .expect("client")
    }

    /// A client on 127.0.0.1 (trusted) straight to the gateway: what
    /// Traefik, Caddy or Envoy would send.
    fn trusted(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(WAIT)
            .build()
            .expect("client")
    }

    fn gateway_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.http)
    }

    /// Requests to the app whose target starts with `prefix`.
    fn app_saw(&self, prefix: &str) -> Vec<Seen> {
        self.up
            .seen()
            .into_iter()
            .filter(|s| s.uri.starts_with(prefix))
            .collect()
    }
}

/// A guest's assignment needs an end.
fn tomorrow() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(1)
}

/// The claims of a JWT, unverified (the gateway's tests verify signatures).
fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn anonymous_browser_is_sent_to_sign_in_and_api_clients_get_401() {
    let env = start().await;
    let r = env.browse("/docs/page?x=1").send().await.expect("GET");
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().expect("location");
    assert_eq!(
        location,
        env.nginx.url("/.portcullis/sign-in?rd=/docs/page%3Fx%3D1")
    );
    // Following it, nginx hands the sign-in path to the gateway, which
    // sends the browser on to the auth host, on nginx's port.
    let r = env
        .browse(&location[location.find("/.portcullis").unwrap()..])
        .send()
        .await
        .expect("GET sign-in");
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    let next = r.headers()["location"].to_str().expect("location");
    assert!(
        next.starts_with(&format!(
            "http://{AUTH_HOST}:{}/.portcullis/sign-in?rd=",
            env.nginx.addr.port()
        )),
        "{next}"
    );
    // An API client: 401 with the challenge, no redirect.
    let r = env
        .client
        .get(env.nginx.url("/api/items"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"portcullis\""),
        "{:?}",
        r.headers()
    );
    // A public path needs no sign-in.
    let r = env.browse("/public/logo.svg").send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(env.up.count(), 1, "{:?}", env.up.seen());
    assert!(env.app_saw("/docs").is_empty() && env.app_saw("/api").is_empty());
}

#[tokio::test]
async fn assigned_guest_reaches_the_app_with_identity_headers_set_by_nginx() {
    let env = start().await;
    let (id, cookie) = env.gw.guest(HOST, "anna").await;
    env.gw.assign(&id, "wiki", Some(tomorrow())).await;
    let r = env
        .browse("/docs/page")
        .header("cookie", &cookie)
        // Spoofed identity: nginx must replace or drop every one of these.
        .header("x-portcullis-user", "ceo")
        .header("X-Portcullis-Email", "ceo@tailwindtraders.com")
        .header("x-portcullis-user-type", "member")
        .header("x-portcullis-groups", "admins")
        .header("x-portcullis-assertion", "forged")
        .header("x_portcullis_user", "ceo")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "upstream app ok");
    let seen = env.up.last();
    assert_eq!(seen.uri, "/docs/page");
    assert_eq!(seen.header("x-portcullis-user"), Some(id.as_str()));
    assert_eq!(seen.header("x-portcullis-email"), Some("anna@contoso.com"));
    assert_eq!(seen.header("x-portcullis-user-type"), Some("guest"));
    assert_eq!(seen.header("x-portcullis-groups"), None, "no groups: empty");
    let assertion = seen.header("x-portcullis-assertion").expect("assertion");
    let c = claims(assertion);
    assert_eq!(c["aud"], "wiki");
    assert_eq!(c["sub"], id.as_str());
    assert!(
        !seen.names().iter().any(|n| n.contains("portcullis_")),
        "{:?}",
        seen.names()
    );
    assert!(
        !seen
            .headers
            .iter()
            .any(|(_, v)| v.contains("ceo") || v == "forged"),
        "{:?}",
        seen.headers
    );

    // A public path: no identity at all, the spoofed one included.
    let r = env
        .browse("/public/x")
        .header("x-portcullis-user", "ceo")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.uri, "/public/x");
    assert_eq!(seen.header("x-portcullis-user"), None);

    // Step-up: a path whose policy needs MFA sends the guest to /.portcullis/mfa.
    let r = env
        .browse("/secure/report")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        env.nginx.url("/.portcullis/mfa?rd=/secure/report").as_str()
    );
    assert!(env.app_saw("/secure").is_empty());

    // Counted like proxied requests: by app and decision.
    let metrics = env.gw.metrics().await;
    assert!(
        metrics.contains("portcullis_requests_total{app=\"wiki\",decision=\"allow\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_requests_total{app=\"wiki\",decision=\"public\"} 1"));
    assert!(metrics.contains("portcullis_requests_total{app=\"wiki\",decision=\"mfa\"} 1"));
}

#[tokio::test]
async fn guest_without_assignment_is_refused_and_the_app_never_sees_it() {
    let env = start().await;
    let (_, cookie) = env.gw.guest(HOST, "bert").await;
    let r = env
        .browse("/docs/page")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    // An assigned guest on a path a policy blocks for guests.
    let (id, cookie) = env.gw.guest(HOST, "carla").await;
    env.gw.assign(&id, "wiki", Some(tomorrow())).await;
    let r = env
        .browse("/admin/users")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    assert_eq!(env.up.count(), 0, "{:?}", env.up.seen());
    // A member may.
    let (_, cookie) = env.gw.member(HOST, "dana", &["pwd"]).await;
    let r = env
        .browse("/admin/users")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(env.up.count(), 1);
}

#[tokio::test]
async fn forged_forwarding_headers_from_an_untrusted_peer_are_refused() {
    let env = start().await;
    let (id, cookie) = env.gw.guest(HOST, "eve").await;
    env.gw.assign(&id, "wiki", Some(tomorrow())).await;
    let forged = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", HOST),
        ("x-forwarded-uri", "/docs"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-original-method", "GET"),
        ("x-original-url", "http://wiki.test/docs"),
    ];
    let ask = |client: reqwest::Client, path: &str| {
        let mut b = client.get(env.gateway_url(path)).header("cookie", &cookie);
        for (n, v) in forged {
            b = b.header(n, v);
        }
        b.header("host", HOST).send()
    };
    for path in ["/.portcullis/auth", "/.portcullis/auth/nginx"] {
        let r = ask(env.untrusted(), path).await.expect("GET");
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.headers().get("x-portcullis-user").is_none());
        assert!(r.headers().get("x-portcullis-assertion").is_none());
        let body: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
        assert_eq!(body["error"], "untrusted_caller");
    }
    let r = ask(env.untrusted(), "/.portcullis/auth/envoy/docs")
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    // The same questions from a trusted proxy are answered: the refusal
    // above is the peer's, not the request's.
    for path in ["/.portcullis/auth", "/.portcullis/auth/nginx"] {
        let r = ask(env.trusted(), path).await.expect("GET");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-portcullis-user"], id.as_str());
    }
    // Through nginx (a trusted peer) nobody outside reaches the endpoints.
    for path in [
        "/.portcullis/auth",
        "/.portcullis/auth/nginx",
        "/.portcullis//auth",
        "/.portcullis/%61uth",
    ] {
        let mut b = env
            .client
            .get(env.nginx.url(path))
            .header("cookie", &cookie);
        for (n, v) in forged {
            b = b.header(n, v);
        }
        let r = b.send().await.expect("GET");
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().get("x-portcullis-user").is_none(), "{path}");
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn paths_are_decided_after_normalisation() {
    let env = start().await;
    let (id, cookie) = env.gw.guest(HOST, "finn").await;
    env.gw.assign(&id, "wiki", Some(tomorrow())).await;
    let host = format!("{HOST}:{}", env.nginx.addr.port());
    let cookie_line = format!("Cookie: {cookie}");
    // nginx forwards $request_uri as sent; the gateway decides on /admin.
    for target in [
        "/public/../admin",
        "/public/./../admin/users",
        "/public/%2e%2e/admin",
        "/public//../admin",
    ] {
        let r = raw::send(
            env.nginx.addr,
            &raw::get(target, &host, &[&cookie_line, "Accept: text/html"]),
        )
        .await;
        assert!(
            matches!(r.status, Some(400 | 403 | 404)),
            "{target}: {:?} {}",
            r.status,
            r.head
        );
    }
    // Anonymous: /public/../docs is not public.
    let r = raw::send(
        env.nginx.addr,
        &raw::get(
            "/public/../docs",
            &host,
            &["Accept: text/html", "Sec-Fetch-Mode: navigate"],
        ),
    )
    .await;
    assert_eq!(r.status, Some(302), "{}", r.head);
    assert_eq!(
        r.header("location"),
        Some(env.nginx.url("/.portcullis/sign-in?rd=/docs").as_str())
    );
    assert_eq!(env.up.count(), 0, "{:?}", env.up.seen());

    // The same through the other endpoints, as Traefik or Envoy would ask.
    let r = env
        .trusted()
        .get(env.gateway_url("/.portcullis/auth"))
        .header("cookie", &cookie)
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", HOST)
        .header("x-forwarded-uri", "/public/../admin")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    let r = raw::send(
        env.gw.http,
        &raw::get(
            "/.portcullis/auth/envoy/public/../admin",
            HOST,
            &[&cookie_line, "X-Forwarded-Proto: http"],
        ),
    )
    .await;
    assert_eq!(r.status, Some(403), "{}", r.head);
}

#[tokio::test]
async fn traefik_caddy_and_envoy_endpoints_answer_like_the_proxy() {
    let env = start().await;
    let (id, cookie) = env.gw.guest(HOST, "gil").await;
    env.gw.assign(&id, "wiki", Some(tomorrow())).await;
    let ask = |host: &str, uri: &str| {
        env.trusted()
            .get(env.gateway_url("/.portcullis/auth"))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", host)
            .header("x-forwarded-uri", uri)
            .header("x-forwarded-for", "198.51.100.7")
    };
    let generic = |uri: &str| ask("wiki.test:8443", uri);
    // Anonymous browser: the proxy's own 302 (the caller hands it on).
    let r = generic("/docs?a=b")
        .header("accept", HTML)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "/.portcullis/sign-in?rd=/docs%3Fa%3Db"
    );
    // Over https the session is the __Host- cookie.
    let token = cookie.split_once('=').unwrap().1;
    let r = generic("/docs")
        .header("cookie", format!("__Host-portcullis_session={token}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-portcullis-user"], id.as_str());
    assert_eq!(r.headers()["x-portcullis-user-type"], "guest");
    assert_eq!(
        claims(r.headers()["x-portcullis-assertion"].to_str().unwrap())["aud"],
        "wiki"
    );
    // Missing a header: refused, not guessed.
    let r = env
        .trusted()
        .get(env.gateway_url("/.portcullis/auth"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-host", HOST)
        .header("x-forwarded-uri", "/docs")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    // An unknown host: refused.
    let r = ask("other.test", "/docs").send().await.expect("GET");
    assert_eq!(r.status(), 403);
    // Two hops disagreeing about the host: refused.
    let r = generic("/docs")
        .header("x-forwarded-host", "other.test")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);

    // Envoy: Host and method of the original; a public path tells Envoy to
    // drop identity headers the client sent.
    let r = raw::send(
        env.gw.http,
        &raw::get(
            "/.portcullis/auth/envoy/public/a?b=c",
            HOST,
            &["X-Forwarded-Proto: http"],
        ),
    )
    .await;
    assert_eq!(r.status, Some(200), "{}", r.head);
    assert!(
        r.header("x-envoy-auth-headers-to-remove")
            .is_some_and(|v| v.contains("x-portcullis-user")),
        "{}",
        r.head
    );
    let r = raw::send(
        env.gw.http,
        &raw::get(
            "/.portcullis/auth/envoy/docs",
            HOST,
            &[&format!("Cookie: {cookie}"), "X-Forwarded-Proto: http"],
        ),
    )
    .await;
    assert_eq!(r.status, Some(200), "{}", r.head);
    assert_eq!(r.header("x-portcullis-user"), Some(id.as_str()));
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn a_trusted_proxys_https_is_believed_for_the_portal_and_nobody_elses() {
    let env = start().await;
    let sign_in = |client: reqwest::Client| {
        client
            .get(env.gateway_url("/.portcullis/sign-in?rd=/docs"))
            .header("host", HOST)
            .header("x-forwarded-proto", "https")
            .header("accept", HTML)
            .send()
    };
    // TLS ended at the trusted proxy: the auth host and the way back are https.
    let r = sign_in(env.trusted()).await.expect("GET");
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://auth.test/.portcullis/sign-in?rd=https%3A//wiki.test/docs"),
        "{location}"
    );
    // A client's own claim is ignored.
    let r = sign_in(env.untrusted()).await.expect("GET");
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://auth.test/.portcullis/sign-in?rd=http%3A//wiki.test/docs"),
        "{location}"
    );
}
