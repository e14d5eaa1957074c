//! What reaches which upstream, and with which `Host` (issue 13, "One
//! snapshot per request"; issue 14, finding 8): the real `portcullis serve`
//! with one recording upstream per app, loopback only, every wait bounded.
//!
//! - Reloads that reorder, add and remove apps while requests are in
//!   flight never send a request to another app's upstream: before the one
//!   snapshot, routes and pools were swapped apart and the pool was picked
//!   by app index, so 105 of 6,410 requests reached another app in 4 s.
//! - A config rewritten every 30 ms is still reloaded at least once a
//!   second (the debounce used to restart on every write).
//! - `preserve_host` both ways, plain and TLS upstreams.
//! - A `Host` that is not an RFC 3986 authority is refused, and the one
//!   forwarded is the normalised one.

#[allow(dead_code)]
mod support;

use base64::Engine as _;
use portcullis::session::{SessionClaims, UserType};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::gateway::{Gateway, MEMBER_DOMAIN, app};
use support::upstream::Upstream;
use support::{WAIT, poll, raw, unix_now};

const APPS: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];

/// The `aud` of an assertion (read, not verified: the other tests verify
/// assertions; this one asks only which app it names).
fn audience(assertion: &str) -> String {
    let payload = assertion.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    claims["aud"].as_str().unwrap_or_default().to_string()
}

/// The config with its `apps:` entries replaced by those of `order` (names
/// from [`APPS`], each with its own upstream), written whole and renamed in.
fn write_apps(gw: &Gateway, base: &str, entries: &[String], order: &[usize]) {
    let mut text = base.to_string();
    for &i in order {
        text.push_str(&entries[i]);
    }
    let tmp = gw.path("portcullis.yaml.tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, gw.path("portcullis.yaml")).expect("rename config in");
}

/// The config before `apps:` and each app's line, from the config the
/// test support wrote.
fn split_config(gw: &Gateway) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(gw.path("portcullis.yaml")).expect("read config");
    let at = text.find("apps:\n").expect("apps section") + "apps:\n".len();
    let (base, apps) = text.split_at(at);
    let entries: Vec<String> = apps.lines().map(|l| format!("{l}\n")).collect();
    assert_eq!(entries.len(), APPS.len(), "{apps}");
    (base.to_string(), entries)
}

fn reloads(log: &str) -> usize {
    log.matches("reloaded configuration").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_that_reorder_add_and_remove_apps_never_misroute_a_request() {
    let mut ups = Vec::new();
    for name in APPS {
        ups.push(Upstream::start(name).await);
    }
    let specs: Vec<_> = APPS
        .iter()
        .zip(&ups)
        .map(|(name, up)| app(name, &[up.address()], ""))
        .collect();
    let gw = Arc::new(Gateway::start(&specs, "policies: []\n").await);
    let (base, entries) = split_config(&gw);

    // Many members, each with a cookie for every app host: each first
    // request of a user is a directory-cache miss, the await during which
    // a reload used to swap the pools under a decided request.
    let keys = gw.keys().await;
    let now = unix_now();
    let mut cookies: Vec<Vec<String>> = vec![Vec::new(); APPS.len()];
    for u in 0..150 {
        let email = format!("user{u}@{MEMBER_DOMAIN}");
        let id = gw.add_user(&email, UserType::Member).await;
        for (a, name) in APPS.iter().enumerate() {
            let claims = SessionClaims {
                iss: portcullis::server::ISSUER.into(),
                sub: id.clone(),
                aud: format!("{name}.test").into(),
                email: email.clone(),
                user_type: UserType::Member,
                groups: Default::default(),
                idp: "partner-api".into(),
                amr: vec!["pwd".to_string()].into(),
                auth_time: now - 60,
                iat: now,
                exp: now + 3600,
                sid: portcullis::session::new_sid(),
            };
            let token = keys.issue(&claims).expect("issue");
            cookies[a].push(format!("portcullis_session={token}"));
        }
    }
    let cookies = Arc::new(cookies);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (gw, stop, sent, cookies) = (gw.clone(), stop.clone(), sent.clone(), cookies.clone());
        clients.push(tokio::spawn(async move {
            let mut unexpected = Vec::new();
            let mut n = c;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let a = n % APPS.len();
                let cookie = &cookies[a][(n / APPS.len()) % cookies[a].len()];
                n += 7;
                let host = format!("{}.test", APPS[a]);
                let r = gw
                    .get(&host, &format!("/{}/{n}", APPS[a]))
                    .header("accept", "application/json")
                    .header("cookie", cookie.as_str())
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                match r.map(|r| r.status().as_u16()) {
                    // 404: the app was removed by the reload in force.
                    Ok(200 | 404) => {}
                    Ok(s) => unexpected.push(format!("{host}: {s}")),
                    Err(e) => unexpected.push(format!("{host}: {e}")),
                }
            }
            unexpected
        }));
    }

    // Reorder, remove and add back apps, as fast as the gateway reloads.
    let orders: [&[usize]; 6] = [
        &[3, 2, 1, 0],
        &[0, 2, 3],
        &[1, 0, 3, 2],
        &[2, 3, 0],
        &[0, 1, 2, 3],
        &[3, 0, 1],
    ];
    let mut done = 0;
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let before = reloads(&gw.log());
        write_apps(&gw, &base, &entries, orders[done % orders.len()]);
        gw.signal("HUP");
        let applied = poll(WAIT, || {
            let log = gw.log();
            async move { (reloads(&log) > before).then_some(()) }
        })
        .await;
        assert!(
            applied.is_some(),
            "reload {done} not applied:\n{}",
            gw.log()
        );
        done += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut unexpected = Vec::new();
    for c in clients {
        unexpected.extend(
            tokio::time::timeout(WAIT * 4, c)
                .await
                .expect("client finished")
                .expect("client"),
        );
    }

    let total = sent.load(Ordering::Relaxed);
    let mut misrouted = Vec::new();
    let mut proxied = 0;
    for (name, up) in APPS.iter().zip(&ups) {
        for seen in up.seen() {
            proxied += 1;
            let host = seen.header("host").unwrap_or_default().to_string();
            let aud = audience(seen.header("x-portcullis-assertion").unwrap_or_default());
            if !host.starts_with(&format!("{name}.test"))
                || aud != *name
                || !seen.uri.starts_with(&format!("/{name}/"))
            {
                misrouted.push(format!(
                    "{name}'s upstream got {} for {host} (aud {aud})",
                    seen.uri
                ));
            }
        }
    }
    eprintln!(
        "{done} reloads, {total} requests, {proxied} proxied, {} misrouted",
        misrouted.len()
    );
    assert!(done >= 10, "only {done} reloads");
    assert!(proxied >= 200, "only {proxied} requests reached an app");
    assert!(
        misrouted.is_empty(),
        "{} of {total} requests reached another app's upstream: {:?}",
        misrouted.len(),
        &misrouted[..misrouted.len().min(10)]
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected answers: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_rewritten_every_30_ms_is_still_reloaded_every_second() {
    let up = Upstream::start("one").await;
    let gw = Gateway::start(&[app("one", &[up.address()], "")], "policies: []\n").await;
    let config = std::fs::read_to_string(gw.path("portcullis.yaml")).expect("read config");
    let before = reloads(&gw.log());
    let start = Instant::now();
    let mut writes = 0;
    // Each write differs (a comment), like an editor or a config-management
    // agent rewriting the file.
    while start.elapsed() < Duration::from_secs(4) {
        let tmp = gw.path("portcullis.yaml.tmp");
        std::fs::write(&tmp, format!("{config}# write {writes}\n")).expect("write");
        std::fs::rename(&tmp, gw.path("portcullis.yaml")).expect("rename");
        writes += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let during = reloads(&gw.log()) - before;
    eprintln!("{writes} writes in 4 s: {during} reloads");
    // At least once a second (the bound is 1 s; 2 of the 4 possible leaves
    // room for a busy machine). A debounce that restarts on every write
    // reloads 0 times here.
    assert!(
        during >= 2,
        "{during} reloads during {writes} writes:\n{}",
        gw.log()
    );

    // A SIGHUP is not held up by anything: it reloads at once.
    let before = reloads(&gw.log());
    let hup = Instant::now();
    gw.signal("HUP");
    let applied = poll(WAIT, || {
        let log = gw.log();
        async move { (reloads(&log) > before).then_some(()) }
    })
    .await;
    assert!(applied.is_some(), "SIGHUP did not reload:\n{}", gw.log());
    eprintln!("SIGHUP reloaded after {:?}", hup.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_host_forwards_the_clients_host_or_the_upstreams_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = Upstream::start("kept").await;
    let own = Upstream::start("own").await;
    let (tls_kept, ca) = Upstream::start_tls("tlskept", dir.path()).await;
    let (tls_own, own_ca) = Upstream::start_tls("tlsown", dir.path()).await;
    let name_of = |p: std::path::PathBuf| {
        p.file_name()
            .expect("ca name")
            .to_string_lossy()
            .into_owned()
    };
    let (ca, own_ca) = (name_of(ca), name_of(own_ca));
    let tls_port = |u: &Upstream| u.address().rsplit_once(':').expect("port").1.to_string();
    let apps = vec![
        app("kept", &[kept.address()], ""),
        app("own", &[own.address()], "preserve_host: false"),
        app(
            "tlskept",
            &[format!("https://localhost:{}", tls_port(&tls_kept))],
            &format!("upstream_tls: {{ ca_file: {ca} }}"),
        ),
        app(
            "tlsown",
            &[format!("https://localhost:{}", tls_port(&tls_own))],
            &format!("upstream_tls: {{ ca_file: {own_ca} }}, preserve_host: false"),
        ),
    ];
    let gw = Gateway::start_in(dir, &apps, "policies: []\n").await;
    let port = gw.http.port();
    for (name, up, want) in [
        ("kept", &kept, format!("kept.test:{port}")),
        ("own", &own, own.address()),
        ("tlskept", &tls_kept, format!("tlskept.test:{port}")),
        (
            "tlsown",
            &tls_own,
            format!("localhost:{}", tls_port(&tls_own)),
        ),
    ] {
        let host = format!("{name}.test");
        let (_, cookie) = gw.member(&host, name, &["pwd"]).await;
        let r = gw
            .get(&host, "/who")
            .header("accept", "application/json")
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{name}: {}", gw.log());
        let seen = up.last();
        assert_eq!(seen.header("host"), Some(want.as_str()), "{name}");
        // The client's host is still told, whatever `Host` says.
        assert_eq!(
            seen.header("x-forwarded-host"),
            Some(format!("{name}.test:{port}").as_str()),
            "{name}"
        );
    }
}

/// Issue 14, finding 8: `Host` values that are not an authority were routed
/// and forwarded verbatim; now 400, and a valid one is forwarded normalised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_is_not_an_authority_is_refused_and_a_valid_one_normalised() {
    let up = Upstream::start("demo").await;
    let gw = Gateway::start(
        &[app("demo", &[up.address()], "public_paths: [/]")],
        "policies: []\n",
    )
    .await;
    for bad in [
        "demo.test:x.evil.example",
        "demo.test:80/../evil",
        "DEMO.test:99999999",
        "demo.test:65536",
        "user@demo.test",
        "demo.test evil.test",
    ] {
        let answer = raw::send(
            gw.http,
            format!("GET / HTTP/1.1\r\nHost: {bad}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(answer.status, Some(400), "{bad}: {}", answer.head);
    }
    assert_eq!(up.count(), 0, "a bad Host reached the app");
    // The refusal as a browser would show it (laptop and phone, axe-core).
    let page = raw::send(
        gw.http,
        b"GET / HTTP/1.1\r\nHost: demo.test:x.evil.example\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(page.status, Some(400), "{}", page.head);
    assert!(page.body.contains("host is not valid"), "{}", page.body);
    support::chromium::render_pages("bad_host_page", &[("30-bad-host", page.body.as_str())]).await;

    let answer = raw::send(
        gw.http,
        b"GET / HTTP/1.1\r\nHost: DEMO.Test.:08080\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.status, Some(200), "{}", answer.head);
    let seen = up.last();
    assert_eq!(seen.header("host"), Some("demo.test:8080"));
    assert_eq!(seen.header("x-forwarded-host"), Some("demo.test:8080"));
}
