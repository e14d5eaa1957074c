//! The decision log end to end (issue 18): requests through the real
//! gateway fill the log on SQLite and on PostgreSQL; `portcullis explain`
//! and `GET /api/v1/decisions/{id}` give the trace of a 403 from the
//! request id the 403 carries; the list filters; and a store outage drops
//! log entries (counted in `portcullis_decision_log_dropped_total`) while
//! no request waits for the log. Loopback only; every wait bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code, reason = "each test binary uses part of the support code")]
mod support;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The PostgreSQL tests share this binary's server and one stops it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A block on guests' `/admin/*` (the 403 a help desk is asked about), a
/// report-only MFA policy that applies to every guest from loopback (a
/// named location), and a policy for another app that must not be listed.
const RULES: &str = r#"
named_locations:
  - name: lab
    ip_ranges: [127.0.0.0/8]
policies:
  - name: block-admin-for-guests
    users: { include: [guests] }
    apps: { include: [open] }
    paths: { include: ["/admin/*"] }
    grant: block
  - name: guests-from-lab-need-mfa
    state: report_only
    users: { include: [guests] }
    apps: { include: [all] }
    locations: { include: [lab] }
    grant: { require: [mfa] }
  - name: other-app-block
    users: { include: [all] }
    apps: { include: [other] }
    grant: block
"#;

/// Every allow recorded (PostgreSQL's default samples a tenth).
const LOG_ALL: &str = "decision_log: { sample_allows: 1.0, retention: 30d, max_entries: 100000 }\n";

fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn api(gw: &Gateway, path_and_query: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{}{path_and_query}", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(WAIT)
        .send()
        .await
        .expect("admin API");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A GET as an API client; the status and the request id (the
/// `X-Request-Id` header, else the refusal's JSON `request_id`, the id the
/// person is shown).
async fn get(gw: &Gateway, host: &str, path: &str, cookie: Option<&str>) -> (u16, String) {
    let mut rb = gw.get(host, path).header("accept", "application/json");
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    let r = rb.send().await.expect("request through the gateway");
    let status = r.status().as_u16();
    let header = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.text().await.unwrap_or_default();
    let id = header.unwrap_or_else(|| {
        serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["request_id"].as_str().map(str::to_string))
            .unwrap_or_default()
    });
    (status, id)
}

/// Waits until the decision `id` is recorded; its trace.
async fn recorded(gw: &Gateway, id: &str) -> Value {
    poll(WAIT, || async move {
        let (status, body) = api(gw, &format!("/api/v1/decisions/{id}")).await;
        (status == 200).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("decision {id} never recorded; log:\n{}", gw.log()))
    .0
}

fn explain(gw: &Gateway, id: &str, json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.arg("explain")
        .arg(id)
        .arg("--config")
        .arg(gw.path("portcullis.yaml"));
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run portcullis explain");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The scenario both backends run: four requests whose decisions are
/// known, each found in the log with the facts and per-policy results.
async fn fills_the_log(gw: &Gateway) {
    let week = OffsetDateTime::now_utc() + time::Duration::days(7);
    let (gus, cookie) = gw.guest("open.test", "gus").await;
    gw.assign(&gus, "open", Some(week)).await;

    let (allowed, allow_id) = get(gw, "open.test", "/hello", Some(&cookie)).await;
    assert_eq!(allowed, 200);
    let (blocked, block_id) =
        get(gw, "open.test", "/admin/users?token=secret", Some(&cookie)).await;
    assert_eq!(blocked, 403);
    assert_eq!(block_id.len(), 32, "the 403 carries its request id");
    let (anonymous, anon_id) = get(gw, "open.test", "/", None).await;
    assert_eq!(anonymous, 401);
    let (_, other_cookie) = gw.guest("open.test", "olga").await;
    let (unshared, unshared_id) = get(gw, "open.test", "/", Some(&other_cookie)).await;
    assert_eq!(unshared, 403, "a guest without an assignment");

    // The 403's whole trace, by the id on the answer.
    let t = recorded(gw, &block_id).await;
    assert_eq!(t["request_id"], block_id);
    assert_eq!(t["decision"], "block");
    assert_eq!(t["reason"], "policy_block");
    assert_eq!(t["deciding_policy"], "block-admin-for-guests");
    assert_eq!(t["app"], "open");
    assert_eq!(t["host"], "open.test");
    assert_eq!(t["method"], "GET");
    assert_eq!(t["path"], "/admin/users", "normalised, without the query");
    assert!(!t.to_string().contains("secret"), "no query string: {t}");
    assert_eq!(t["user"]["id"], gus);
    assert_eq!(t["user"]["type"], "guest");
    assert_eq!(t["client_ip"], "127.0.0.1");
    assert_eq!(t["country"], "unknown");
    assert_eq!(t["locations"], serde_json::json!(["lab"]));
    assert_eq!(t["client_app"], "api");
    assert_eq!(t["mfa"], false);
    assert!(t["signed_in_ago"].as_u64().is_some());
    assert_eq!(t["policies_complete"], true);
    let policies = t["policies"].as_array().expect("policies");
    let names: Vec<&str> = policies.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        names,
        ["block-admin-for-guests", "guests-from-lab-need-mfa"],
        "every policy for the app, none of another app's: {t}"
    );
    assert_eq!(policies[0]["applies"], true);
    assert_eq!(policies[0]["result"], "block");
    assert_eq!(policies[0]["condition"], "applies");
    assert_eq!(policies[1]["state"], "report_only");
    assert_eq!(policies[1]["applies"], true);
    assert_eq!(policies[1]["result"], "mfa", "the report-only outcome");

    // The others: an allow (sampled: all), a sign-in and a not-shared.
    let a = recorded(gw, &allow_id).await;
    assert_eq!(a["decision"], "allow");
    assert_eq!(a["reason"], Value::Null);
    assert_eq!(a["path"], "/hello");
    assert_eq!(a["policies_complete"], false);
    assert_eq!(a["policies"][0]["name"], "guests-from-lab-need-mfa");
    let s = recorded(gw, &anon_id).await;
    assert_eq!(s["decision"], "sign_in");
    assert_eq!(s["reason"], "sign_in_required");
    assert_eq!(s["user"], Value::Null);
    let n = recorded(gw, &unshared_id).await;
    assert_eq!(n["decision"], "block");
    assert_eq!(n["reason"], "not_shared");
    assert_eq!(n["user"]["assigned"], false);

    // `portcullis explain`: the same object, and a table naming the policy.
    let (code, out, err) = explain(gw, &block_id, true);
    assert_eq!(code, 0, "{err}");
    let from_cli: Value = serde_json::from_str(&out).expect("explain --json");
    assert_eq!(from_cli, t);
    let (code, table, err) = explain(gw, &block_id, false);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.starts_with("Decision: BLOCK (reason policy_block"),
        "{table}"
    );
    assert!(table.contains("block-admin-for-guests"), "{table}");
    assert!(table.contains("/admin/users"), "{table}");
    let (code, _, err) = explain(gw, &"0".repeat(32), false);
    assert_eq!(code, 1, "an id not recorded: {err}");
    assert!(err.contains("no decision recorded"), "{err}");
    let (code, _, _) = explain(gw, "not-an-id", false);
    assert_eq!(code, 2);

    // The list, by user (id or e-mail), decision and reason.
    let (status, list) = api(gw, "/api/v1/decisions?user=gus@contoso.com&decision=block").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter_map(|d| d["request_id"].as_str())
        .collect();
    assert_eq!(ids, [block_id.as_str()]);
    let (_, list) = api(
        gw,
        &format!("/api/v1/decisions?app=open&since=1h&user={gus}"),
    )
    .await;
    assert_eq!(
        list["decisions"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    let (_, list) = api(gw, "/api/v1/decisions?reason=not_shared").await;
    assert_eq!(list["decisions"][0]["request_id"], unshared_id);
    let (_, all) = api(gw, "/api/v1/decisions").await;
    assert_eq!(
        all["decisions"].as_array().map(Vec::len),
        Some(4),
        "one entry per decided request: {all}"
    );
    // limit= pages from the newest; until= (a duration ago or RFC 3339)
    // ends the period: nothing was decided before an hour ago.
    let (_, newest) = api(gw, "/api/v1/decisions?limit=1").await;
    assert_eq!(
        newest["decisions"].as_array().map(Vec::len),
        Some(1),
        "{newest}"
    );
    assert_eq!(newest["decisions"][0], all["decisions"][0]);
    let (_, before) = api(gw, "/api/v1/decisions?until=1h").await;
    assert_eq!(before["decisions"], serde_json::json!([]), "{before}");
    let (_, until_now) = api(gw, "/api/v1/decisions?until=2999-01-01T00:00:00Z").await;
    assert_eq!(until_now["decisions"], all["decisions"]);
    let (status, _) = api(gw, "/api/v1/decisions?until=yesterday").await;
    assert_eq!(status, 400);
    let (status, _) = api(gw, "/api/v1/decisions?reason=bad").await;
    assert_eq!(status, 400);
    let (status, _) = api(gw, &format!("/api/v1/decisions/{}", "f".repeat(32))).await;
    assert_eq!(status, 404);

    let metrics = gw.metrics().await;
    assert_eq!(
        series(&metrics, "portcullis_decision_log_dropped_total"),
        Some(0.0),
        "exported at 0 and nothing dropped"
    );
    // Item 6: the per-policy counters through the live gateway. The
    // report-only policy would have asked MFA of all three guest requests
    // (gus twice, olga once); the block applied once.
    assert_eq!(
        series(
            &metrics,
            "portcullis_policy_results_total{policy=\"guests-from-lab-need-mfa\",result=\"mfa\",state=\"report_only\"}"
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        series(
            &metrics,
            "portcullis_policy_results_total{policy=\"block-admin-for-guests\",result=\"block\",state=\"enabled\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fill_the_decision_log_on_sqlite() {
    let up = Upstream::start("main").await;
    let apps = [
        app("open", &[up.address()], ""),
        app("other", &[up.address()], ""),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    // SQLite's default keeps every allow: no decision_log section.
    let gw = Gateway::start_with_store(dir, &apps, RULES, &[], "", "", None).await;
    fills_the_log(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fill_the_decision_log_on_postgresql() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = support::postgres::database().await;
    let up = Upstream::start("main").await;
    let apps = [
        app("open", &[up.address()], ""),
        app("other", &[up.address()], ""),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_with_store(dir, &apps, RULES, &[], "", LOG_ALL, Some(&db)).await;
    fills_the_log(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_drops_log_entries_and_no_request_waits() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = support::postgres::database().await;
    let up = Upstream::start("main").await;
    let apps = [app("open", &[up.address()], "")];
    let dir = tempfile::tempdir().expect("tempdir");
    let gw =
        Gateway::start_with_store(dir, &apps, "policies: []\n", &[], "", LOG_ALL, Some(&db)).await;
    let (_, cookie) = gw.member("open.test", "mia", &[]).await;
    let (status, before_id) = get(&gw, "open.test", "/", Some(&cookie)).await;
    assert_eq!(status, 200);
    recorded(&gw, &before_id).await;

    support::postgres::stop();
    let mut slowest = Duration::ZERO;
    let mut during = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (status, id) = get(&gw, "open.test", "/", Some(&cookie)).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(status, 200, "a cached member keeps working");
        during.push(id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every entry of the outage is dropped and counted, within the write
    // timeout of the batches that held them.
    let dropped = poll(Duration::from_secs(30), || async {
        let n = series(&gw.metrics().await, "portcullis_decision_log_dropped_total")?;
        (n >= during.len() as f64).then_some(n)
    })
    .await;
    support::postgres::restart();
    let dropped = dropped.map(|(n, _)| n);
    eprintln!("slowest request during the outage: {slowest:?}; dropped: {dropped:?}");
    assert!(
        dropped.is_some(),
        "the outage's {} entries were not all counted as dropped; log:\n{}",
        during.len(),
        gw.log()
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a request waited for the log: {slowest:?}"
    );

    // Back: new decisions are recorded again; the outage's are not.
    let sent = std::sync::Mutex::new(Vec::new());
    let back = poll(Duration::from_secs(30), || async {
        let (status, id) = get(&gw, "open.test", "/", Some(&cookie)).await;
        if status == 200 {
            sent.lock().unwrap().push(id);
        }
        let ids = sent.lock().unwrap().clone();
        for id in ids {
            if api(&gw, &format!("/api/v1/decisions/{id}")).await.0 == 200 {
                return Some(id);
            }
        }
        None
    })
    .await;
    assert!(
        back.is_some(),
        "the log never recovered; log:\n{}",
        gw.log()
    );
    let (status, _) = api(&gw, &format!("/api/v1/decisions/{}", during[0])).await;
    assert_eq!(status, 404, "an entry dropped in the outage");
}

/// Forward-auth questions are decisions too: the entry has the original
/// request's host, path (no query) and client as the trusted proxy told
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_decisions_are_recorded_with_the_original_request() {
    let up = Upstream::start("main").await;
    let apps = [app("wiki", &[up.address()], "")];
    let dir = tempfile::tempdir().expect("tempdir");
    let top = "trusted_proxies: [127.0.0.1/32]\n";
    let gw = Gateway::start_with_store(dir, &apps, RULES_FOR_WIKI, &[], "", top, None).await;
    let (olga, cookie) = gw.guest("wiki.test", "olga").await;
    let r = reqwest::Client::new()
        .get(format!("http://{}/.portcullis/auth", gw.http))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "wiki.test")
        .header("x-forwarded-uri", "/docs/page?draft=1")
        .header("x-forwarded-for", "203.0.113.9")
        .header("accept", "application/json")
        .header("cookie", &cookie)
        .timeout(WAIT)
        .send()
        .await
        .expect("forward-auth question");
    assert_eq!(
        r.status().as_u16(),
        403,
        "a guest the app is not shared with"
    );
    let found = poll(WAIT, || async {
        let (_, list) = api(&gw, &format!("/api/v1/decisions?user={olga}")).await;
        let first = list["decisions"].as_array()?.first()?.clone();
        Some(first)
    })
    .await
    .unwrap_or_else(|| panic!("no forward-auth entry; log:\n{}", gw.log()))
    .0;
    assert_eq!(found["app"], "wiki");
    assert_eq!(found["host"], "wiki.test");
    assert_eq!(found["path"], "/docs/page");
    assert_eq!(found["client_ip"], "203.0.113.9");
    assert_eq!(found["decision"], "block");
    assert_eq!(found["reason"], "not_shared");
}

const RULES_FOR_WIKI: &str = "policies: []\n";

/// The new rules of the diff test: one new block (guests and `/reports/*`),
/// and a report-only and a disabled block of everyone, which change no
/// outcome.
const NEW_RULES: &str = r#"
  - name: guests-no-reports
    users: { include: [guests] }
    apps: { include: [open] }
    paths: { include: ["/reports/*"] }
    grant: block
  - name: trial-report-only
    state: report_only
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
  - name: trial-disabled
    state: disabled
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
"#;

fn rules_diff(gw: &Gateway, glob: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["rules", "diff", "--config"])
        .arg(gw.path("portcullis.yaml"))
        .args(["--rules", glob])
        .args(extra)
        .output()
        .expect("run portcullis rules diff");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rules diff` lists exactly the requests whose outcome the new rules
/// change (traffic built so the answer is known), and nothing for the
/// rules in service or for policies that are report-only or disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_diff_lists_exactly_the_requests_a_change_would_change() {
    let up = Upstream::start("main").await;
    let apps = [
        app("open", &[up.address()], ""),
        app("other", &[up.address()], ""),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_with_store(dir, &apps, RULES, &[], "", "", None).await;
    let week = OffsetDateTime::now_utc() + time::Duration::days(7);
    let (gus, gus_cookie) = gw.guest("open.test", "gus").await;
    gw.assign(&gus, "open", Some(week)).await;
    let (_, mia_cookie) = gw.member("open.test", "mia", &[]).await;
    let mut ids = Vec::new();
    for (path, cookie, status) in [
        ("/hello", Some(&gus_cookie), 200),
        ("/reports/q3?format=pdf", Some(&gus_cookie), 200),
        ("/reports/q3", Some(&mia_cookie), 200),
        ("/admin/users", Some(&gus_cookie), 403),
        ("/", None, 401),
    ] {
        let (s, id) = get(&gw, "open.test", path, cookie.map(String::as_str)).await;
        assert_eq!(s, status, "{path}");
        ids.push(id);
    }
    for id in &ids {
        recorded(&gw, id).await;
    }
    let new_dir = gw.path("new-rules");
    std::fs::create_dir(&new_dir).expect("mkdir");
    std::fs::write(new_dir.join("access.yaml"), format!("{RULES}{NEW_RULES}")).expect("write");
    let new_glob = format!("{}/*.yaml", new_dir.display());

    let (code, out, err) = rules_diff(&gw, &new_glob, &["--json", "--since", "1h"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("diff --json");
    assert_eq!(v["replayed"], 5, "{v}");
    let changes = v["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "exactly gus's report: {v}");
    let c = &changes[0];
    assert_eq!(c["request_id"], ids[1]);
    assert_eq!(c["user"], "gus@contoso.com");
    assert_eq!(c["user_type"], "guest");
    assert_eq!(
        (c["app"].as_str(), c["path"].as_str()),
        (Some("open"), Some("/reports/q3"))
    );
    assert_eq!(
        (c["old"].as_str(), c["new"].as_str()),
        (Some("allow"), Some("block"))
    );
    assert_eq!(c["new_reason"], "policy_block");
    assert_eq!(c["policies"], serde_json::json!(["guests-no-reports"]));
    assert_eq!(
        v["counts"],
        serde_json::json!({"policy": {"guests-no-reports": 1}, "user_type": {"guest": 1}, "app": {"open": 1}})
    );
    // Read two at a time, the period gives the same answer (the log is
    // paged, never loaded whole).
    let (code, paged, err) =
        rules_diff(&gw, &new_glob, &["--json", "--since", "1h", "--page", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&paged).expect("paged --json"),
        v
    );
    // The directory changes after the traffic (gus loses the app): each
    // decision is replayed with the facts recorded with it, so the answer
    // stays the same.
    assert!(
        gw.store
            .revoke_assignment(&gus, "open")
            .await
            .expect("revoke")
    );
    let (code, after, err) = rules_diff(&gw, &new_glob, &["--json", "--since", "1h"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&after).expect("--json"), v);
    let (code, out, _) = rules_diff(&gw, &new_glob, &["--fail-on-change"]);
    assert_eq!(code, 1, "a change with --fail-on-change: {out}");
    assert!(out.contains(&format!("{} ", ids[1])), "{out}");
    assert!(
        out.ends_with("1 of 5 recorded decisions would change\n"),
        "{out}"
    );

    // The rules in service against themselves: nothing changes.
    let same = format!("{}/*.yaml", gw.path("rules").display());
    let (code, out, err) = rules_diff(&gw, &same, &["--json", "--fail-on-change"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("diff --json");
    assert_eq!(v["changes"], serde_json::json!([]));
    // Broken new rules: the error names the file, exit 1.
    std::fs::write(
        new_dir.join("access.yaml"),
        "policies: [{ name: x, grant: maybe }]\n",
    )
    .expect("write");
    let (code, _, err) = rules_diff(&gw, &new_glob, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("access.yaml:"), "{err}");
}
