//! Attack corpus (issue 8, item 2): path variants — dot segments, `%2e`,
//! `%2f`, `%5c`, `;`, `..;/`, repeated slashes, case, over-long and malformed
//! request lines — across the reserved (`/.portcullis/`), public
//! (`public_paths`) and protected prefixes of one host, sent byte for byte
//! on raw sockets to the real `portcullis serve`.
//!
//! Invariant: the path an app receives is the path that was decided. Each
//! case is sent twice — by a signed-in member (so anything that slips past a
//! rule would be proxied and show up at the recording upstream) and
//! anonymously (so only a public path may reach the app) — and the upstream's
//! log is compared with the expected decided path.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::gateway::{AppSpec, Gateway, app};
use support::raw;
use support::upstream::Upstream;

/// `open.test`: public `/health` and `/static/`; `/admin` and everything
/// under it blocked for everyone; `/intranet` is another app on the same
/// host (`path_prefix`), blocked for everyone. One upstream behind both, as
/// when one backend serves several routes.
const RULES: &str = "\
policies:
  - name: no-admin
    users: { include: [all] }
    apps: { include: [open] }
    paths: { include: [\"/admin\", \"/admin/*\"] }
    grant: block
  - name: no-intranet
    users: { include: [all] }
    apps: { include: [intranet] }
    grant: block
";

fn apps(up: &Upstream) -> Vec<AppSpec> {
    let u = [up.address()];
    let mut intranet = app("intranet", &u, "path_prefix: /intranet");
    intranet.hosts = vec!["open.test".into()];
    vec![
        app("open", &u, "public_paths: [/health, /static/]"),
        intranet,
    ]
}

/// What must happen to a request target.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Allowed for the member; the upstream receives exactly this path (and
    /// the query as sent). Anonymous: the same if it is public, else
    /// nothing is proxied.
    Forward(&'static str),
    /// A path rule or app blocks it: 403 for the member; nothing proxied.
    Blocked,
    /// The gateway refuses the target itself (400, 414 or a closed
    /// connection); nothing proxied.
    Refused,
    /// Served by the portal with this status; never proxied.
    Portal(u16),
}

use Expect::*;

/// `(name, source, raw request target, expect)`.
const PATHS: &[(&str, &str, &str, Expect)] = &[
    // ---- protected prefix: /admin (blocked), /inbox (allowed)
    (
        "baseline: the rule",
        "DESIGN.md paths",
        "/admin/secret",
        Blocked,
    ),
    (
        "baseline: the rule, bare",
        "DESIGN.md paths",
        "/admin",
        Blocked,
    ),
    (
        "baseline: allowed",
        "DESIGN.md paths",
        "/inbox",
        Forward("/inbox"),
    ),
    (
        "dot segment before the rule",
        "RFC 3986 §5.2.4",
        "/./admin/./secret",
        Blocked,
    ),
    (
        "traversal out of an allowed folder",
        "RFC 3986 §5.2.4",
        "/inbox/../admin/secret",
        Blocked,
    ),
    (
        "traversal above the root",
        "RFC 3986 §5.2.4",
        "/../../admin/secret",
        Blocked,
    ),
    (
        "repeated slashes",
        "nginx merge_slashes; RFC 3986 §3.3",
        "//admin//secret",
        Blocked,
    ),
    (
        "repeated slashes and traversal",
        "RFC 3986 §5.2.4",
        "/inbox//../admin/secret",
        Blocked,
    ),
    (
        "%2e%2e traversal",
        "CVE-2021-41773 (Apache 2.4.49)",
        "/inbox/%2e%2e/admin/secret",
        Blocked,
    ),
    (
        ".%2e traversal",
        "CVE-2021-41773 (Apache 2.4.49)",
        "/inbox/.%2e/admin/secret",
        Blocked,
    ),
    (
        "%2E%2E upper case",
        "CVE-2021-41773",
        "/inbox/%2E%2E/admin/secret",
        Blocked,
    ),
    (
        "double-encoded %%32%65",
        "CVE-2021-42013 (Apache 2.4.50)",
        "/inbox/%%32%65%%32%65/admin/secret",
        Refused,
    ),
    (
        "%252e%252e kept encoded",
        "CVE-2021-42013; IIS double decode (CVE-2001-0333)",
        "/inbox/%252e%252e/admin/secret",
        Forward("/inbox/%252e%252e/admin/secret"),
    ),
    (
        "encoded slash %2f",
        "CVE-2007-0450 (Tomcat %2f); OWASP path traversal",
        "/admin%2fsecret",
        Refused,
    ),
    (
        "encoded slash %2F in traversal",
        "CVE-2007-0450",
        "/inbox/..%2Fadmin/secret",
        Refused,
    ),
    (
        "encoded backslash %5c",
        "CVE-2007-0450 (Tomcat %5c)",
        "/inbox/..%5cadmin/secret",
        Refused,
    ),
    (
        "raw backslash",
        "IIS/Windows path separator",
        "/inbox/..\\admin/secret",
        Refused,
    ),
    (
        "unreserved escape %61",
        "RFC 3986 §2.3 (equivalent)",
        "/%61dmin/secret",
        Blocked,
    ),
    (
        "path parameter on the rule's segment",
        "Tomcat/Spring ;jsessionid (CVE-2016-5007 class)",
        "/admin;jsessionid=1/secret",
        Blocked,
    ),
    (
        "..;/ traversal",
        "Tomcat ..;/ (Orange Tsai, 'Breaking Parser Logic', 2018)",
        "/inbox/..;/admin/secret",
        Refused,
    ),
    (
        ".;/ segment",
        "Orange Tsai 2018",
        "/.;/admin/secret",
        Refused,
    ),
    (
        "encoded ; %3b",
        "Orange Tsai 2018",
        "/admin%3bx/secret",
        Refused,
    ),
    (
        "trailing ;.css",
        "Spring/Tomcat suffix match",
        "/admin/secret;.css",
        Blocked,
    ),
    (
        "trailing dot segment",
        "RFC 3986 §5.2.4",
        "/admin/secret/.",
        Blocked,
    ),
    ("NUL byte", "CWE-158", "/admin/secret%00.html", Refused),
    (
        "%0a in the path",
        "CVE-2019-11043 (nginx + PHP-FPM path_info)",
        "/inbox/x.php%0a.css",
        Refused,
    ),
    (
        "%0d%0a header injection",
        "CWE-113 (CRLF injection)",
        "/inbox%0d%0aX-Portcullis-User:%20admin",
        Refused,
    ),
    (
        "non-ASCII byte",
        "RFC 9112 §3.2 (request-target is ASCII)",
        "/inbox/\u{e9}",
        Refused,
    ),
    (
        "upper case: decided as written",
        "RFC 3986 §6.2.2.1 (path is case-sensitive)",
        "/ADMIN/secret",
        Forward("/ADMIN/secret"),
    ),
    (
        "query with traversal",
        "RFC 3986 §3.4 (the query is not the path)",
        "/admin/secret?x=/../../inbox",
        Blocked,
    ),
    (
        "query carried through",
        "RFC 3986 §3.4",
        "/inbox?next=/../admin",
        Forward("/inbox?next=/../admin"),
    ),
    (
        "over-long path",
        "RFC 9112 §3 (414)",
        "/inbox/{long}",
        Refused,
    ),
    // ---- public prefix: /static/ and /health
    (
        "public folder",
        "DESIGN.md public_paths",
        "/static/app.js",
        Forward("/static/app.js"),
    ),
    (
        "public exact",
        "DESIGN.md public_paths",
        "/health",
        Forward("/health"),
    ),
    (
        "public by escape",
        "RFC 3986 §2.3",
        "/%68ealth",
        Forward("/health"),
    ),
    (
        "out of the public folder",
        "CVE-2021-41773",
        "/static/../admin/secret",
        Blocked,
    ),
    (
        "out of the public folder, %2e",
        "CVE-2021-41773",
        "/static/%2e%2e/inbox",
        Forward("/inbox"),
    ),
    (
        "out of the public folder, ..;/",
        "Orange Tsai 2018",
        "/static/..;/inbox",
        Refused,
    ),
    (
        "out of the public folder, ;",
        "Tomcat path parameters",
        "/static;x/../inbox",
        Forward("/inbox"),
    ),
    (
        "public exact plus a segment",
        "DESIGN.md public_paths (exact)",
        "/health/../inbox",
        Forward("/inbox"),
    ),
    (
        "public prefix without its slash",
        "DESIGN.md public_paths (folder)",
        "/static",
        Forward("/static"),
    ),
    (
        "public name as a prefix",
        "DESIGN.md public_paths (exact)",
        "/healthz",
        Forward("/healthz"),
    ),
    (
        "public exact, path parameter",
        "Tomcat path parameters",
        "/health;x",
        Forward("/health"),
    ),
    (
        "public, upper case",
        "RFC 3986 §6.2.2.1",
        "/HEALTH",
        Forward("/HEALTH"),
    ),
    (
        "public folder, encoded slash",
        "CVE-2007-0450",
        "/static%2f..%2finbox",
        Refused,
    ),
    // ---- another app by path_prefix on the same host
    ("path_prefix app", "DESIGN.md apps", "/intranet/x", Blocked),
    (
        "path_prefix by traversal",
        "RFC 3986 §5.2.4",
        "/inbox/../intranet/x",
        Blocked,
    ),
    (
        "path_prefix by repeated slash",
        "nginx merge_slashes",
        "//intranet/x",
        Blocked,
    ),
    (
        "path_prefix with a parameter",
        "Tomcat path parameters",
        "/intranet;x/x",
        Blocked,
    ),
    (
        "path_prefix by escape",
        "RFC 3986 §2.3",
        "/%69ntranet/x",
        Blocked,
    ),
    (
        "path_prefix from a public folder",
        "CVE-2021-41773",
        "/static/%2e%2e/intranet/x",
        Blocked,
    ),
    (
        "path_prefix, upper case: the other app, as written",
        "RFC 3986 §6.2.2.1",
        "/Intranet/x",
        Forward("/Intranet/x"),
    ),
    (
        "path_prefix as a name prefix",
        "DESIGN.md apps",
        "/intranetx",
        Forward("/intranetx"),
    ),
    // ---- reserved prefix: /.portcullis/
    (
        "reserved jwks",
        "DESIGN.md reserved paths",
        "/.portcullis/jwks.json",
        Portal(200),
    ),
    (
        "reserved after traversal",
        "RFC 3986 §5.2.4",
        "/static/../.portcullis/jwks.json",
        Portal(200),
    ),
    (
        "reserved after %2e%2e",
        "CVE-2021-41773",
        "/inbox/%2e%2e/.portcullis/jwks.json",
        Portal(200),
    ),
    (
        "reserved, dot segment inside",
        "RFC 3986 §5.2.4",
        "/.portcullis/./jwks.json",
        Portal(200),
    ),
    (
        "reserved, repeated slash inside",
        "nginx merge_slashes",
        "/.portcullis//jwks.json",
        Portal(200),
    ),
    (
        "reserved, odd case",
        "IIS case-insensitive paths",
        "/.PORTCULLIS/jwks.json",
        Portal(200),
    ),
    (
        "reserved, escaped p",
        "RFC 3986 §2.3",
        "/.%70ortcullis/jwks.json",
        Portal(200),
    ),
    (
        "reserved, unknown path",
        "DESIGN.md: nothing under it is proxied",
        "/.portcullis/nothing-here",
        Portal(404),
    ),
    (
        "reserved, parameter",
        "Tomcat path parameters",
        "/.portcullis;x/nothing-here",
        Portal(404),
    ),
    (
        "reserved, forward-auth endpoint",
        "DESIGN.md reserved paths",
        "/.portcullis/auth",
        Portal(403),
    ),
    (
        "out of reserved into admin",
        "RFC 3986 §5.2.4",
        "/.portcullis/sign-in/../../admin/secret",
        Blocked,
    ),
    (
        "reserved, encoded slash",
        "CVE-2007-0450",
        "/.portcullis%2fjwks.json",
        Refused,
    ),
    (
        "reserved, NUL",
        "CWE-158",
        "/.portcullis%00/jwks.json",
        Refused,
    ),
    (
        "reserved, ..;/",
        "Orange Tsai 2018",
        "/.portcullis/..;/admin",
        Refused,
    ),
    (
        "reserved-looking name",
        "DESIGN.md reserved paths (prefix is a segment)",
        "/.portcullis.json",
        Forward("/.portcullis.json"),
    ),
    (
        "reserved name deeper down",
        "DESIGN.md reserved paths (root only)",
        "/inbox/.portcullis/x",
        Forward("/inbox/.portcullis/x"),
    ),
];

/// Malformed and non-origin request lines: `(name, source, request line)`.
/// None may reach the app; each is refused or decided like the path it
/// names (here every path is blocked or not public).
const REQUEST_LINES: &[(&str, &str, &str, bool)] = &[
    (
        "absolute-form to a blocked path",
        "RFC 9112 §3.2.2",
        "GET http://{h}/admin/secret HTTP/1.1",
        false,
    ),
    (
        "absolute-form with userinfo",
        "RFC 9110 §4.2.4 (userinfo is deprecated)",
        "GET http://evil@{h}/admin/secret HTTP/1.1",
        true,
    ),
    (
        "asterisk-form",
        "RFC 9112 §3.2.4",
        "OPTIONS * HTTP/1.1",
        true,
    ),
    (
        "authority-form CONNECT",
        "RFC 9112 §3.2.3",
        "CONNECT {h} HTTP/1.1",
        true,
    ),
    (
        "no leading slash",
        "RFC 9112 §3.2.1",
        "GET admin/secret HTTP/1.1",
        true,
    ),
    ("empty target", "RFC 9112 §3", "GET  HTTP/1.1", true),
    (
        "fragment in the target",
        "RFC 9112 §3.2 (no fragment)",
        "GET /admin/secret#x HTTP/1.1",
        false,
    ),
    (
        "tab as separator",
        "RFC 9112 §3 (SP only)",
        "GET\t/admin/secret\tHTTP/1.1",
        true,
    ),
    (
        "space in the target",
        "RFC 9112 §3",
        "GET /inbox /../admin/secret HTTP/1.1",
        false,
    ),
    (
        "lower-case method",
        "RFC 9110 §9.1 (methods are case-sensitive)",
        "get /admin/secret HTTP/1.1",
        false,
    ),
    (
        "unknown method",
        "RFC 9110 §9.1",
        "FOO /admin/secret HTTP/1.1",
        false,
    ),
    (
        "TRACE",
        "CVE-2004-2320 (cross-site tracing)",
        "TRACE /admin/secret HTTP/1.1",
        false,
    ),
    (
        "over-long method",
        "RFC 9112 §3 (501)",
        "{longmethod} /admin/secret HTTP/1.1",
        false,
    ),
];

fn target(template: &str, long: &str) -> String {
    template.replace("{long}", long)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_variants_are_decided_on_the_path_that_is_forwarded() {
    let up = Upstream::start("main").await;
    let gw = Gateway::start(&apps(&up), RULES).await;
    let h = format!("open.test:{}", gw.http.port());
    let (_, session) = gw.member("open.test", "pat", &["pwd"]).await;
    let cookie = format!("Cookie: {session}");
    let long = "a".repeat(9000);
    let public = |p: &str| p == "/health" || p.starts_with("/static/");
    let mut wrong = Vec::new();
    for (name, _source, template, expect) in PATHS {
        let t = target(template, &long);
        for signed_in in [true, false] {
            let mut headers = vec!["Accept: text/html"];
            if signed_in {
                headers.push(&cookie);
            }
            let before = up.count();
            let text = raw::exchange(
                gw.http,
                &raw::get(&t, &h, &headers),
                std::time::Duration::from_millis(300),
            )
            .await;
            let status = raw::statuses(&text).first().copied();
            let seen: Vec<String> = up.seen()[before..].iter().map(|s| s.uri.clone()).collect();
            let who = if signed_in { "member" } else { "anonymous" };
            let ok = match (expect, signed_in) {
                (Forward(p), true) => status == Some(200) && seen == [*p],
                (Forward(p), false) if public(p.split('?').next().unwrap_or(p)) => {
                    status == Some(200) && seen == [*p]
                }
                (Forward(_), false) => status == Some(302) && seen.is_empty(),
                (Blocked, true) => status == Some(403) && seen.is_empty(),
                (Blocked, false) => matches!(status, Some(302 | 403)) && seen.is_empty(),
                (Refused, _) => matches!(status, None | Some(400 | 414)) && seen.is_empty(),
                (Portal(s), _) => status == Some(*s) && seen.is_empty(),
            };
            if !ok {
                wrong.push(format!(
                    "{name} ({who}) {:?}: want {expect:?}, got {status:?}, upstream saw {seen:?}",
                    &t[..t.len().min(80)]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} path cases failed:\n{}",
        wrong.len(),
        PATHS.len(),
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_non_origin_request_lines_never_reach_the_app() {
    let up = Upstream::start("main").await;
    let gw = Gateway::start(&apps(&up), RULES).await;
    let h = format!("open.test:{}", gw.http.port());
    let (_, session) = gw.member("open.test", "lin", &["pwd"]).await;
    let longmethod = "G".repeat(70_000);
    let mut wrong = Vec::new();
    for (name, _source, line, refused) in REQUEST_LINES {
        let line = line.replace("{h}", &h).replace("{longmethod}", &longmethod);
        let req = format!(
            "{line}\r\nHost: {h}\r\nCookie: {session}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
        );
        let before = up.count();
        let text = raw::exchange(
            gw.http,
            req.as_bytes(),
            std::time::Duration::from_millis(300),
        )
        .await;
        let seen: Vec<String> = up.seen()[before..]
            .iter()
            .map(|s| format!("{} {}", s.method, s.uri))
            .collect();
        let statuses = raw::statuses(&text);
        if *refused && !statuses.iter().all(|s| matches!(s, 400 | 405 | 414 | 501)) {
            wrong.push(format!("{name}: not refused: answers {statuses:?}"));
        }
        if !seen.is_empty() {
            wrong.push(format!(
                "{name}: answers {:?}, upstream saw {seen:?}",
                raw::statuses(&text)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} request lines reached the app:\n{}",
        wrong.len(),
        REQUEST_LINES.len(),
        wrong.join("\n")
    );
}
