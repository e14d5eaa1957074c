//! Attack corpus (issue 8, item 2): spoofed identity and forwarding headers,
//! request smuggling and framing, written byte for byte on raw sockets to the
//! real `portcullis serve`, in front of one recording upstream shared by every
//! app (so a request routed or framed differently would show there).
//!
//! Invariant for every case: nothing unauthenticated or forged reaches the
//! app. The attacker is anonymous; the only path it may reach is the public
//! `/health` of `open.test`. Every smuggled request targets `/smuggled` (not
//! public) or `blocked.test` (blocked for everyone): the upstream must never
//! see either, and never a header value the attacker chose for identity or
//! forwarding facts.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::gateway::{Gateway, app};
use support::raw;
use support::upstream::{Seen, Upstream};

const RULES: &str = "\
policies:
  - name: blocked-for-all
    users: { include: [all] }
    apps: { include: [blocked] }
    grant: block
";

/// `open` (public `/health`) and `blocked`, both in front of one upstream.
async fn start() -> (Gateway, Upstream) {
    let up = Upstream::start("main").await;
    let u = [up.address()];
    let apps = [
        app("open", &u, "public_paths: [/health]"),
        app("blocked", &u, ""),
    ];
    let gw = Gateway::start(&apps, RULES).await;
    (gw, up)
}

/// What the gateway must do with a case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// 400 (or the connection closed without a response); the upstream sees
    /// nothing.
    Refused,
    /// Any answer, but the upstream sees at most the carrier request
    /// (`/health`), never the smuggled one.
    NoSmuggle,
}

/// Request smuggling and framing corpus: `(name, source, request, expect)`.
/// `{h}` is the `open.test` authority, `{b}` the `blocked.test` one. The
/// smuggled request, where there is one, is `GET /smuggled` on `blocked.test`.
const SMUGGLING: &[(&str, &str, &str, Expect)] = &[
    (
        "CL.TE: Content-Length and Transfer-Encoding",
        "RFC 9112 §6.3 (3); PortSwigger request smuggling (Kettle 2019)",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "TE.CL: Transfer-Encoding first",
        "RFC 9112 §6.3 (3); PortSwigger request smuggling",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::Refused,
    ),
    (
        "two different Content-Length",
        "RFC 9112 §6.3 (5)",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0\r\nContent-Length: 39\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Content-Length as a list of different values",
        "RFC 9110 §8.6, RFC 9112 §6.3 (5)",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0, 39\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Content-Length with a sign",
        "RFC 9110 §8.6 (1*DIGIT); CVE-2022-32213 (Node.js llhttp)",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nContent-Length: +39\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "TE: chunked, identity",
        "RFC 9112 §6.3 (4): chunked must be the final coding",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "TE: identity, chunked",
        "RFC 9112 §6.1; PortSwigger TE.TE obfuscation",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding<space>: chunked (whitespace before the colon)",
        "RFC 9112 §5.1: MUST reject with 400",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding : chunked\r\nContent-Length: 39\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding: <tab>chunked plus Content-Length",
        "PortSwigger TE.TE obfuscation list",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n2c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding: xchunked",
        "PortSwigger TE.TE obfuscation list",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: xchunked\r\n\r\n2c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding: \"chunked\" (quoted)",
        "PortSwigger TE.TE obfuscation list",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding twice",
        "RFC 9112 §6.1; PortSwigger TE.TE obfuscation list",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "Transfer-Encoding split by obs-fold",
        "RFC 9112 §5.2: obs-fold is refused (or replaced) by a proxy",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n2c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::Refused,
    ),
    (
        "X-Portcullis-User continued by obs-fold",
        "RFC 9112 §5.2",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nX-Other: a\r\n X-Portcullis-User: admin\r\n\r\n",
        Expect::Refused,
    ),
    (
        "HTTP/1.0 with Transfer-Encoding",
        "RFC 9112 §6.1: treat as faulty framing and close",
        "POST /health HTTP/1.0\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n2c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::Refused,
    ),
    (
        "chunk size that overflows 64 bits",
        "CVE-2015-3183 (Apache chunk-size parsing); RFC 9112 §7.1",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000002c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "chunk lines ended by a bare LF",
        "RFC 9112 §7.1; 'funky chunks' TERM.EXT smuggling (2025)",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n2c\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\n0\n\n",
        Expect::NoSmuggle,
    ),
    (
        "chunk extension hiding a size",
        "RFC 9112 §7.1.1; 'funky chunks' EXT.TERM smuggling (2025)",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n2;\n2c\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "GET with a Content-Length body that is a request",
        "RFC 9110 §9.3.1 (content on GET has no meaning); PortSwigger CL.0",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 39\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "GET with a chunked body that is a request",
        "RFC 9110 §9.3.1; PortSwigger request smuggling",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n27\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n\r\n0\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "a pipelined request after a body",
        "RFC 9112 §9.3.2 (pipelining): each request is decided",
        "POST /health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "Upgrade: websocket answered without 101, then a smuggled request",
        "CVE-2026-2833 / GHSA-xq2h-p299-vjwv (Pingora premature Upgrade passthrough); RFC 9110 §7.8",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "Upgrade: h2c through the proxy",
        "h2c smuggling (Bishop Fox, 2020); RFC 9113 §3.1 (h2c removed)",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "request line ended by a bare LF",
        "RFC 9112 §2.2",
        "GET /health HTTP/1.1\nHost: {h}\nX-Portcullis-User: admin\n\nGET /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "two Host headers (routing by one, serving by the other)",
        "RFC 9112 §3.2: MUST respond 400",
        "GET /smuggled HTTP/1.1\r\nHost: {h}\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "no Host header on HTTP/1.1",
        "RFC 9112 §3.2: MUST respond 400",
        "GET /health HTTP/1.1\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "absolute-form target naming one app, Host another",
        "RFC 9112 §3.2.2: the target's authority wins and replaces Host",
        "GET http://{h}/health HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "a NUL byte in a header value",
        "RFC 9110 §5.5: MUST reject or replace NUL",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nX-Portcullis-User: a\0admin\r\n\r\n",
        Expect::Refused,
    ),
    (
        "a header line without a colon",
        "RFC 9112 §5",
        "GET /health HTTP/1.1\r\nHost: {h}\r\nX-Portcullis-User admin\r\n\r\n",
        Expect::Refused,
    ),
    (
        "an over-long request line",
        "RFC 9112 §3 (501/414 for long request targets)",
        "GET /health?{long} HTTP/1.1\r\nHost: {h}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "a malformed request line (no version)",
        "RFC 9112 §3",
        "GET /smuggled\r\nHost: {b}\r\n\r\n",
        Expect::Refused,
    ),
    (
        "a request line with two spaces",
        "RFC 9112 §3: single SP; lenient parsers split differently",
        "GET  /smuggled HTTP/1.1\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
    (
        "HTTP/0.9-style request line",
        "RFC 9112 §3",
        "GET /smuggled\r\n\r\n",
        Expect::Refused,
    ),
    (
        "an unknown HTTP version",
        "RFC 9112 §2.3",
        "GET /smuggled HTTP/1.2\r\nHost: {b}\r\n\r\n",
        Expect::NoSmuggle,
    ),
];

/// Every request the upstream saw since `before` is the carrier (`/health`
/// on open.test, no spoofed identity); returns the problems.
fn smuggled(up: &Upstream, before: usize, open_host: &str) -> Vec<String> {
    up.seen()[before..]
        .iter()
        .filter(|s| {
            s.uri != "/health"
                || s.header("host").is_some_and(|h| h != open_host)
                || s.names()
                    .iter()
                    .any(|n| n.replace('_', "-").starts_with("x-portcullis-"))
        })
        .map(|s| format!("{} {} host={:?}", s.method, s.uri, s.header("host")))
        .collect()
}

/// The request smuggling and framing corpus against one gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_and_framing_corpus_never_reaches_the_app() {
    let (gw, up) = start().await;
    let h = format!("open.test:{}", gw.http.port());
    let b = format!("blocked.test:{}", gw.http.port());
    let long = "a".repeat(70_000);
    let mut wrong = Vec::new();
    for (name, _source, template, expect) in SMUGGLING {
        let req = template
            .replace("{h}", &h)
            .replace("{b}", &b)
            .replace("{long}", &long);
        let before = up.count();
        let text = raw::exchange(gw.http, req.as_bytes(), Duration::from_millis(700)).await;
        let statuses = raw::statuses(&text);
        let bad = smuggled(&up, before, &h);
        if !bad.is_empty() {
            wrong.push(format!(
                "{name}: the upstream saw {bad:?} (answers {statuses:?})"
            ));
        }
        if *expect == Expect::Refused {
            let refused = statuses.iter().all(|s| *s == 400) && up.count() == before;
            if !refused {
                wrong.push(format!(
                    "{name}: not refused: answers {statuses:?}, upstream saw {}",
                    up.count() - before
                ));
            }
        }
    }
    // A plain request still works afterwards: the corpus did not break the
    // listener or leave a poisoned upstream connection behind.
    let before = up.count();
    let r = raw::send(gw.http, &raw::get("/health", &h, &[])).await;
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(up.seen()[before..].len(), 1);
    assert!(
        wrong.is_empty(),
        "{} of {} smuggling cases failed:\n{}",
        wrong.len(),
        SMUGGLING.len(),
        wrong.join("\n")
    );
}

/// Spoofed identity and forwarding headers beyond `tests/gateway.rs`'s
/// `SPOOFS`: `(name, source, header lines)`. Each is sent on the public path
/// (anonymous) and by a signed-in member; the upstream must see none of the
/// attacker's values (`admin`, `6.6.6.6`, `evil.example`, `/admin`).
const SPOOFED: &[(&str, &str, &[&str])] = &[
    (
        "our identity header twice",
        "DESIGN.md headers; RFC 9110 §5.3 (repeated fields are combined)",
        &["X-Portcullis-User: admin", "X-Portcullis-User: admin"],
    ),
    (
        "our header in odd case and with underscores",
        "CGI header-name mapping (RFC 3875 §4.1.18): _ and - are one variable",
        &["x_PORTCULLIS_user: admin", "X-Portcullis_Email: admin"],
    ),
    (
        "our header named in Connection, to have a later hop drop ours",
        "RFC 9110 §7.6.1 (Connection-named fields are hop-by-hop)",
        &[
            "Connection: X-Portcullis-User, X-Portcullis-Assertion",
            "X-Portcullis-User: admin",
        ],
    ),
    (
        "X-Forwarded-For named in Connection",
        "RFC 9110 §7.6.1; 'hop-by-hop header abuse' (Nathan Davison, 2019)",
        &[
            "Connection: close, X-Forwarded-For",
            "X-Forwarded-For: 6.6.6.6",
        ],
    ),
    (
        "client-IP headers other proxies set",
        "OWASP WSTG-INPV-17 / PortSwigger IP spoofing headers",
        &[
            "True-Client-IP: 6.6.6.6",
            "X-Client-IP: 6.6.6.6",
            "Client-IP: 6.6.6.6",
            "X-Cluster-Client-IP: 6.6.6.6",
            "CF-Connecting-IP: 6.6.6.6",
            "Fastly-Client-IP: 6.6.6.6",
            "X-Originating-IP: 6.6.6.6",
            "X-Remote-IP: 6.6.6.6",
            "X-Remote-Addr: 6.6.6.6",
            "X-ProxyUser-Ip: 6.6.6.6",
        ],
    ),
    (
        "host and scheme overrides",
        "PortSwigger 'HTTP Host header attacks' (X-Host, X-Forwarded-Server, X-HTTP-Host-Override)",
        &[
            "X-Host: evil.example",
            "X-Forwarded-Server: evil.example",
            "X-HTTP-Host-Override: evil.example",
            "X-Forwarded-Scheme: evil.example",
            "X-Forwarded-Prefix: /evil.example",
            "X_Forwarded_Host: evil.example",
        ],
    ),
    (
        "URL override headers",
        "CVE-2018-14773 (Symfony X-Original-URL / X-Rewrite-URL)",
        &["X-Original-URL: /admin", "X-Rewrite-URL: /admin"],
    ),
    (
        "method override headers",
        "OWASP WSTG-CONF-06 (X-HTTP-Method-Override bypasses method rules)",
        &[
            "X-HTTP-Method-Override: admin",
            "X-HTTP-Method: admin",
            "X-Method-Override: admin",
        ],
    ),
    (
        "identity headers of other auth proxies",
        "oauth2-proxy and Authelia/Grafana auth-proxy header names (an app migrated to Portcullis may still trust them)",
        &[
            "Remote-User: admin",
            "X-Remote-User: admin",
            "X-Forwarded-User: admin",
            "X-Forwarded-Email: admin",
            "X-Forwarded-Preferred-Username: admin",
            "X-Forwarded-Groups: admin",
            "X-Auth-Request-User: admin",
            "X-Auth-Request-Email: admin",
            "X-WEBAUTH-USER: admin",
        ],
    ),
];

/// Whether a header value the upstream saw is the attacker's.
fn attacker_value(v: &str) -> bool {
    v == "admin" || v == "/admin" || v.contains("6.6.6.6") || v.contains("evil.example")
}

fn check_spoof(what: &str, seen: &Seen, wrong: &mut Vec<String>) {
    for (n, v) in &seen.headers {
        if attacker_value(v) {
            wrong.push(format!("{what}: {n}: {v} reached the upstream"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_and_forwarding_headers_corpus() {
    let (gw, up) = start().await;
    let h = format!("open.test:{}", gw.http.port());
    let (id, session) = gw.member("open.test", "spoof", &["pwd"]).await;
    let cookie = format!("Cookie: {session}");
    let mut wrong = Vec::new();
    for (name, _source, lines) in SPOOFED {
        for (who, path, extra) in [
            ("anonymous", "/health", None),
            ("member", "/inbox", Some(&cookie)),
        ] {
            let mut headers: Vec<&str> = lines.to_vec();
            if let Some(c) = extra {
                headers.push(c);
            }
            let before = up.count();
            let r = raw::send(gw.http, &raw::get(path, &h, &headers)).await;
            // Refusing is fine too (Pingora answers 400 when a protected
            // header is named in `Connection`), as long as nothing passed.
            if r.status == Some(400) && up.count() == before {
                continue;
            }
            if r.status != Some(200) || up.count() != before + 1 {
                wrong.push(format!("{name} ({who}): {:?}", r.status));
                continue;
            }
            let seen = up.last();
            check_spoof(&format!("{name} ({who})"), &seen, &mut wrong);
            if who == "member" && seen.all("x-portcullis-user") != [id.as_str()] {
                wrong.push(format!(
                    "{name}: x-portcullis-user = {:?}",
                    seen.all("x-portcullis-user")
                ));
            }
            if seen.all("x-forwarded-for") != ["127.0.0.1"] {
                wrong.push(format!(
                    "{name} ({who}): x-forwarded-for = {:?}",
                    seen.all("x-forwarded-for")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "spoofed headers reached the app ({} cases):\n{}",
        SPOOFED.len(),
        wrong.join("\n")
    );
}

/// Reads from `s` until the peer closes the connection (EOF or reset),
/// bounded by `limit`; `Some(how long)` when it closed.
async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Issue 14, finding 4 (slowloris): a client dripping one header line at a
/// time kept a connection open for hours on the public and the admin
/// listener, and one client could hold every file descriptor. Now a request
/// head has a total deadline and one client address a connection cap, on
/// both listeners, counted in `portcullis_connections_closed_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_and_connection_floods_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let up = Upstream::start("main").await;
    let apps = [
        app("open", &[up.address()], "public_paths: [/health]"),
        app("blocked", &[up.address()], ""),
    ];
    let top = "server: { grace_period: 1s, threads: 2, request_head_timeout: 1s, max_connections_per_client: 4 }\n";
    let gw =
        Gateway::start_configured(tempfile::tempdir().unwrap(), &apps, RULES, &[], "", top).await;

    // A head dripped one line every 300 ms: closed after about 1 s, on
    // both listeners, while a client that sends its head at once is served.
    for addr in [gw.http, gw.admin] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: open.test\r\n")
            .await
            .unwrap();
        let drip = async {
            for i in 0..30 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if s.write_all(format!("X-Drip-{i}: x\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(4), drip).await;
        let closed = closed_within(&mut s, Duration::from_secs(2)).await;
        assert!(closed.is_some(), "{addr}: a dripping head was not cut off");
    }
    let ok = raw::send(gw.http, &raw::get("/health", "open.test", &[])).await;
    assert_eq!(ok.status, Some(200), "{}", ok.head);

    // Four connections from one address are held; the fifth is closed at
    // once; closing one frees a place.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(gw.http).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(gw.http).await.unwrap();
    let closed = closed_within(&mut fifth, Duration::from_secs(3)).await;
    assert!(
        closed.is_some(),
        "a fifth connection from one client was kept"
    );
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = raw::send(gw.http, &raw::get("/health", "open.test", &[])).await;
    assert_eq!(ok.status, Some(200), "a freed place is usable: {}", ok.head);
    drop(held);

    let metrics = gw.metrics().await;
    for reason in ["request_head_timeout", "client_connection_limit"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "portcullis_connections_closed_total{{reason=\"{reason}\"}}"
                ))
            })
            .unwrap_or_default();
        let n: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(n >= 1.0, "{reason} not counted: {line:?}");
    }
}
