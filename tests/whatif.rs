//! `whatif` agrees with the gateway (issues 17 and 18): on the
//! quickstart's apps and rules, a real gateway answers requests of guests
//! without an assignment, with an ended one, with a blocked account and
//! with a live one; `portcullis whatif` (the CLI, reading the same store)
//! and `/api/v1/whatif` give the same decision and reason as the decision
//! the gateway recorded, and say the facts came from the directory.
//! `--offline` still answers from the files alone. Loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code, reason = "each test binary uses part of the support code")]
mod support;

use portcullis::store::UserState;
use rules::UserType;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

fn quickstart(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/quickstart")
        .join(rel)
}

/// The quickstart's apps (`demo`, `payroll`, `wiki`) and its rule file,
/// with its GeoIP database, in front of one upstream.
async fn quickstart_gateway(up: &Upstream) -> Gateway {
    let rules = std::fs::read_to_string(quickstart("rules/access.yaml")).expect("quickstart rules");
    let ups = [up.address()];
    let apps = [
        app("demo", &ups, "public_paths: [/health]"),
        app("payroll", &ups, ""),
        app("wiki", &ups, ""),
    ];
    let geoip = quickstart("geoip/GeoIP2-Country-Test.mmdb");
    let top = format!("geoip: {{ country_db: \"{}\" }}\n", geoip.display());
    let dir = tempfile::tempdir().expect("tempdir");
    Gateway::start_configured(dir, &apps, &rules, &[], "", &top).await
}

/// A guest of a partner (not contoso.com, whom the quickstart's rules
/// refuse API calls from unplaceable addresses) with an MFA session.
async fn guest(gw: &Gateway, local: &str) -> (String, String, String) {
    let email = format!("{local}@fabrikam.example");
    let id = gw.add_user(&email, UserType::Guest).await;
    let cookie = gw
        .mint_cookie(
            "wiki.test",
            &id,
            &email,
            UserType::Guest,
            &[],
            &["pwd", "mfa"],
            60,
        )
        .await;
    (id, email, cookie)
}

/// The gateway's answer to an API call on wiki and the decision it
/// recorded for it: (status, decision, reason).
async fn gateway_decides(gw: &Gateway, cookie: &str) -> (u16, String, Value) {
    let r = gw
        .get("wiki.test", "/")
        .header("accept", "application/json")
        .header("cookie", cookie)
        .send()
        .await
        .expect("request through the gateway");
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.text().await.unwrap_or_default();
    let id = id
        .or_else(|| {
            serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["request_id"].as_str().map(str::to_string))
        })
        .expect("a request id");
    let trace = poll(WAIT, || {
        let id = id.clone();
        async move {
            let (code, v) = api(gw, &format!("/api/v1/decisions/{id}")).await;
            (code == 200).then_some(v)
        }
    })
    .await
    .unwrap_or_else(|| panic!("decision {id} never recorded; log:\n{}", gw.log()))
    .0;
    (
        status,
        trace["decision"].as_str().unwrap_or("").to_string(),
        trace["reason"].clone(),
    )
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

/// `portcullis whatif --json` for an MFA'd API call to wiki from loopback,
/// as the gateway saw the requests; `extra` flags appended.
fn cli(gw: &Gateway, email: &str, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["whatif", "--json", "--config"])
        .arg(gw.path("portcullis.yaml"))
        .args(["--user", email, "--app", "wiki", "--mfa"])
        .args(["--client-app", "api", "--ip", "127.0.0.1"])
        .args(extra)
        .output()
        .expect("run portcullis whatif");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("whatif --json prints one object")
}

async fn api_whatif(gw: &Gateway, email: &str) -> Value {
    let q = format!(
        "/api/v1/whatif?user={}&app=wiki&mfa&client_app=api&ip=127.0.0.1",
        email.replace('@', "%40")
    );
    let (code, v) = api(gw, &q).await;
    assert_eq!(code, 200, "{v}");
    v
}

/// The CLI, the API and the gateway agree on `email`'s request.
async fn all_agree(gw: &Gateway, email: &str, cookie: &str, status: u16, reason: Value) -> Value {
    let (got, decision, recorded) = gateway_decides(gw, cookie).await;
    assert_eq!(got, status, "{email}: the gateway's status");
    assert_eq!(recorded, reason, "{email}: the reason the gateway recorded");
    let from_cli = cli(gw, email, &[]);
    let from_api = api_whatif(gw, email).await;
    for (who, v) in [("CLI", &from_cli), ("API", &from_api)] {
        assert_eq!(v["decision"], decision, "{who} for {email}: {v}");
        assert_eq!(v["reason"], reason, "{who} for {email}: {v}");
        assert_eq!(v["facts_from"]["assignment"], "directory", "{who}: {v}");
        assert_eq!(v["facts_from"]["blocked"], "directory", "{who}: {v}");
        assert_eq!(v["facts_from"]["user_type"], "directory", "{who}: {v}");
    }
    assert_eq!(from_cli, from_api, "the CLI prints what the API answers");
    from_cli
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatif_and_the_api_agree_with_the_gateway_on_the_quickstart() {
    let up = Upstream::start("wiki").await;
    let gw = quickstart_gateway(&up).await;
    let now = OffsetDateTime::now_utc();

    // A live assignment: allowed everywhere.
    let (ada, ada_email, ada_cookie) = guest(&gw, "ada").await;
    gw.assign(&ada, "wiki", Some(now + time::Duration::days(7)))
        .await;
    let v = all_agree(&gw, &ada_email, &ada_cookie, 200, Value::Null).await;
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["directory"]["assignment"], "live");

    // No assignment to the app: not shared. Offline, as before, a live
    // assignment is assumed unless --unassigned.
    let (_nora, nora_email, nora_cookie) = guest(&gw, "nora").await;
    let v = all_agree(&gw, &nora_email, &nora_cookie, 403, "not_shared".into()).await;
    assert_eq!(v["decision"], "block");
    assert_eq!(v["directory"]["assignment"], "none");
    let offline = cli(&gw, &nora_email, &["--offline"]);
    assert_eq!(offline["decision"], "allow", "{offline}");
    assert_eq!(offline["directory"], Value::Null);
    assert_eq!(offline["facts_from"]["assignment"], "question");
    let offline = cli(&gw, &nora_email, &["--offline", "--unassigned"]);
    assert_eq!(offline["reason"], "not_shared", "{offline}");

    // An assignment that has ended: access ended, with its date.
    let (erin, erin_email, erin_cookie) = guest(&gw, "erin").await;
    let ends = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    gw.assign(&erin, "wiki", Some(ends)).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let v = all_agree(&gw, &erin_email, &erin_cookie, 403, "access_ended".into()).await;
    let ended = v["access_ended"].as_str().expect("the end date");
    let ends = ends.replace_nanosecond(0).expect("whole second");
    let rfc = ends
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    assert_eq!(ended, rfc, "{v}");
    assert_eq!(v["directory"]["assignment"], "ended");

    // A blocked account, assigned or not: blocked before any policy.
    let (bill, bill_email, bill_cookie) = guest(&gw, "bill").await;
    gw.assign(&bill, "wiki", Some(now + time::Duration::days(7)))
        .await;
    gw.store
        .set_user_state(&bill, UserState::Blocked)
        .await
        .expect("block bill");
    let v = all_agree(
        &gw,
        &bill_email,
        &bill_cookie,
        403,
        "account_blocked".into(),
    )
    .await;
    assert_eq!(v["why"], "account_blocked");
    assert_eq!(v["directory"]["blocked"], true);
    assert_eq!(v["policies"], serde_json::json!([]), "{v}");

    // The table says what the directory said.
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["whatif", "--config"])
        .arg(gw.path("portcullis.yaml"))
        .args(["--user", &erin_email, "--app", "wiki", "--mfa"])
        .output()
        .expect("run portcullis whatif");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with(&format!(
            "Decision: BLOCK (not_assigned, access_ended on {rfc})\n"
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "Directory: guest, groups none, assignment ended {rfc}"
        )),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatif_without_a_store_says_to_go_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/access.yaml"), "policies: []\n").expect("write rules");
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        "listen: { http: 127.0.0.1:8080 }\nrules: [\"rules/*.yaml\"]\nstore: { sqlite: never-created.db }\n\
         organisation: { name: Test, member_domains: [tailwindtraders.com] }\n\
         apps:\n  - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9001] }\n",
    )
    .expect("write config");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["whatif", "--config"])
            .arg(dir.path().join("portcullis.yaml"))
            .args(["--user", "gus@contoso.com", "--app", "wiki"])
            .args(extra)
            .output()
            .expect("run portcullis whatif")
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist yet") && err.contains("--offline"),
        "{err}"
    );
    assert!(
        !dir.path().join("never-created.db").exists(),
        "whatif creates no store"
    );
    let out = run(&["--offline"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Decision: ALLOW"));
    // --unassigned is an offline fact: the directory says otherwise.
    assert_eq!(run(&["--unassigned"]).status.code(), Some(2));
}
