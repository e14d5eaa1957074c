//! The quickstart as a newcomer runs it (issue 17): `portcullis serve` on a
//! copy of `deploy/quickstart/` (ports moved to free ones), without
//! `RUST_LOG`.
//!
//! - Started quietly: no Pingora internals at the default level, no
//!   "unhealthy" line for the built-in demo app (the first health round
//!   waits for it), and a `portcullis serving` line naming the URLs to open.
//! - Logs: JSON lines when stderr is a file; on a terminal (a pty from
//!   `script`) and with `--log-format text`, compact lines for people,
//!   the access log included.
//! - `scripts/setup` installs only the build's tools, and the quickstart
//!   script prints the URLs and the demo identities; the config's comment
//!   gives plain-HTTP URLs for its plain-HTTP listener.
//!
//! Loopback only; every wait bounded; every process killed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code, reason = "each test binary uses part of the support code")]
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::gateway::free_port;
use support::{WAIT, poll};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// A copy of the quickstart in a temporary folder, on free ports.
struct Copy {
    dir: tempfile::TempDir,
    http: u16,
    admin: u16,
}

fn copy_quickstart() -> Copy {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = repo("deploy/quickstart");
    for rel in [
        "users.yaml",
        "rules/access.yaml",
        "geoip/GeoIP2-Country-Test.mmdb",
    ] {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(q.join(rel), &to).expect("copy");
    }
    let (http, admin, demo) = (free_port(), free_port(), free_port());
    let config = std::fs::read_to_string(q.join("portcullis.yaml"))
        .expect("quickstart config")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{http}"))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{admin}"))
        .replace("127.0.0.1:9001", &format!("127.0.0.1:{demo}"))
        .replace("../../var/quickstart/", "var/");
    std::fs::write(dir.path().join("portcullis.yaml"), config).expect("write config");
    Copy { dir, http, admin }
}

impl Copy {
    fn config(&self) -> PathBuf {
        self.dir.path().join("portcullis.yaml")
    }

    fn serve(&self, extra: &[&str], stderr: Stdio) -> Killed {
        Killed(
            Command::new(env!("CARGO_BIN_EXE_portcullis"))
                .arg("serve")
                .arg("--config")
                .arg(self.config())
                .args(extra)
                .env_remove("RUST_LOG")
                .env_remove("PORTCULLIS_LOG_FORMAT")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn portcullis serve"),
        )
    }

    fn log_file(&self, name: &str) -> (PathBuf, Stdio) {
        let path = self.dir.path().join(name);
        let f = std::fs::File::create(&path).expect("log file");
        (path, Stdio::from(f))
    }

    /// Waits until the first health round has marked the demo app healthy
    /// (the admin listener's metrics), then a little more for the log.
    async fn wait_healthy(&self) {
        let url = format!("http://127.0.0.1:{}/metrics", self.admin);
        let healthy = poll(WAIT, || {
            let url = url.clone();
            async move {
                let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
                text.lines()
                    .any(|l| {
                        l.starts_with("portcullis_upstream_health{app=\"demo\"")
                            && l.ends_with(" 1")
                    })
                    .then_some(())
            }
        })
        .await;
        assert!(healthy.is_some(), "the demo app never became healthy");
    }

    /// A request to the demo app's public `/health` through the gateway.
    async fn health(&self) {
        let r = reqwest::Client::builder()
            .no_proxy()
            .resolve("demo.localhost", ([127, 0, 0, 1], self.http).into())
            .timeout(WAIT)
            .build()
            .expect("client")
            .get(format!("http://demo.localhost:{}/health", self.http))
            .send()
            .await
            .expect("through the gateway");
        assert_eq!(r.status(), 200);
    }
}

/// A child killed (and reaped) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn log_with(path: &Path, needle: &str) -> String {
    poll(WAIT, || async {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(needle).then_some(text)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no `{needle}` in the log:\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        )
    })
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_starts_quietly_in_json_lines_and_says_where_to_go() {
    let q = copy_quickstart();
    let (path, stderr) = q.log_file("stderr.log");
    let _serve = q.serve(&[], stderr);
    q.wait_healthy().await;
    q.health().await;
    let text = log_with(&path, "\"target\":\"access\"").await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect();
    for l in &lines {
        let target = l["target"].as_str().unwrap_or("");
        assert!(
            !target.starts_with("pingora"),
            "a Pingora line at the default level: {l}"
        );
        assert!(
            !l.to_string().contains("unhealthy") && !l.to_string().contains("not answering"),
            "an upstream reported unhealthy at start: {l}"
        );
    }
    let serving = lines
        .iter()
        .find(|l| l["fields"]["message"] == "portcullis serving")
        .expect("the serving line");
    let open = serving["fields"]["open"].as_str().expect("open");
    let demo = format!("http://demo.localhost:{}/", q.http);
    let auth = format!("http://auth.localhost:{}/", q.http);
    assert!(open.contains(&demo) && open.contains(&auth), "{open}");
    let access = lines
        .iter()
        .find(|l| l["target"] == "access")
        .expect("access line");
    assert_eq!(access["fields"]["path"], "/health");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_read_as_lines_for_people() {
    let q = copy_quickstart();
    let (path, stderr) = q.log_file("stderr.log");
    let _serve = q.serve(&["--log-format", "text"], stderr);
    q.wait_healthy().await;
    q.health().await;
    let text = log_with(&path, " INFO access: GET demo /health -> 200 public").await;
    assert!(!text.contains("{\""), "no JSON in text logs:\n{text}");
    let serving = text
        .lines()
        .find(|l| l.contains(" INFO portcullis::server: portcullis serving"))
        .unwrap_or_else(|| panic!("a serving line:\n{text}"));
    assert!(
        serving.contains(&format!("open=http://demo.localhost:{}/", q.http)),
        "{serving}"
    );
    assert!(
        !text.contains("\u{1b}["),
        "no colours when stderr is a file"
    );
}

/// On a terminal (`script` gives the process a pty) `auto` is text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_default_is_text() {
    let q = copy_quickstart();
    let (path, out) = q.log_file("terminal.log");
    let cmd = format!(
        "exec {} serve --config {}",
        env!("CARGO_BIN_EXE_portcullis"),
        q.config().display()
    );
    let _script = Killed(
        Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .env_remove("RUST_LOG")
            .env_remove("PORTCULLIS_LOG_FORMAT")
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs"),
    );
    let text = log_with(&path, "portcullis serving").await;
    assert!(
        text.lines()
            .any(|l| l.contains("INFO") && l.contains("portcullis serving") && !l.contains("{\"")),
        "{text}"
    );
    // The serve under the pty is `script`'s child: stop it by its pid file
    // (the state folder is the SQLite store's).
    let pid = poll(WAIT, || async {
        let dir = std::fs::read_dir(q.dir.path().join("var")).ok()?;
        dir.filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().ends_with(".pid"))
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            .and_then(|t| t.trim().parse::<u32>().ok())
    })
    .await
    .expect("a pid file")
    .0;
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(pid.to_string())
        .status();
    let _ = poll(Duration::from_secs(5), || async {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .await;
}

/// A shell script without its comments.
fn code_of(script: &str) -> String {
    script
        .lines()
        .map(|l| l.split(" #").next().unwrap_or(""))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn setup_installs_only_what_building_needs_and_the_quickstart_says_where_to_go() {
    let setup = code_of(&std::fs::read_to_string(repo("scripts/setup")).expect("scripts/setup"));
    for test_tool in [
        "chromium",
        "nginx",
        "haproxy",
        "prometheus",
        "hadolint",
        "aiosmtpd",
        "npm",
    ] {
        assert!(
            !setup.contains(test_tool),
            "scripts/setup mentions {test_tool}, a test tool (scripts/test-deps's)"
        );
    }
    let quickstart =
        std::fs::read_to_string(repo("scripts/quickstart")).expect("scripts/quickstart");
    assert!(!code_of(&quickstart).contains("test-deps"), "{quickstart}");
    for shown in [
        "http://demo.localhost:8080/",
        "alice@tailwindtraders.com  alice-demo-password",
        "bob@fabrikam.example       bob-demo-password",
        "var/quickstart/outbox",
    ] {
        assert!(
            quickstart.contains(shown),
            "the quickstart does not print {shown}"
        );
    }
    let test_deps =
        code_of(&std::fs::read_to_string(repo("scripts/test-deps")).expect("scripts/test-deps"));
    for test_tool in [
        "chromium",
        "nginx",
        "haproxy",
        "prometheus",
        "hadolint",
        "aiosmtpd",
        "npm ci",
    ] {
        assert!(
            test_deps.contains(test_tool),
            "scripts/test-deps lacks {test_tool}"
        );
    }
    // The config listens on plain HTTP: its comments give http:// URLs.
    let config =
        std::fs::read_to_string(repo("deploy/quickstart/portcullis.yaml")).expect("config");
    assert!(config.contains("listen: { http: "), "{config}");
    assert!(
        !config.contains("https://"),
        "an https:// URL for a plain-HTTP listener"
    );
}

/// `portcullis check` (and `serve`'s log) on the quickstart: one short line
/// per thing a newcomer must fix before production, each pointing at where
/// it is written (issue 17). A config with those fixed has none of them.
#[test]
fn check_says_what_to_change_before_production() {
    let q = copy_quickstart();
    let check = |config: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["check", "--config"])
            .arg(config)
            .output()
            .expect("portcullis check");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stderr).expect("utf-8")
    };
    let stderr = check(&q.config());
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning:")).collect();
    let expected = [
        (
            "rules/access.yaml:",
            "warning: `group:break-glass` has no members",
        ),
        (
            "portcullis.yaml:5:",
            "warning: `admin` has no `token_file`, so the admin API is off",
        ),
        (
            "portcullis.yaml:",
            "warning: idp `demo`: alice@tailwindtraders.com, bob@fabrikam.example still have the quickstart's published demo password",
        ),
        ("portcullis.yaml:", "warning: `demo_app` is on"),
    ];
    assert_eq!(warnings.len(), expected.len(), "{stderr}");
    for (place, what) in expected {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(place) && w.contains(what)),
            "no {place} … {what}:\n{stderr}"
        );
    }
    for w in &warnings {
        let message = &w[w.find("warning:").expect("a warning")..];
        assert!(
            message.len() <= 170,
            "too long ({}): {message}",
            message.len()
        );
    }

    // Fixed: a token file, no demo app, a new password hash.
    std::fs::write(
        q.dir.path().join("admin.token"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .expect("token");
    let config = std::fs::read_to_string(q.config()).expect("config");
    let config = config
        .lines()
        .filter(|l| !l.starts_with("demo_app:"))
        .map(|l| {
            if l.starts_with("admin:") {
                l.replace(" }", ", token_file: admin.token }")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(q.config(), config).expect("config");
    let fresh = portcullis::local_idp::hash_password("a-new-password-1").expect("hash");
    let users = std::fs::read_to_string(q.dir.path().join("users.yaml")).expect("users");
    let users: String = users
        .lines()
        .map(|l| match l.split_once("password_hash: ") {
            Some((indent, _)) => format!("{indent}password_hash: \"{fresh}\"\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(q.dir.path().join("users.yaml"), users).expect("users");
    let stderr = check(&q.config());
    let left: Vec<&str> = stderr.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(left.len(), 1, "only the rules' break-glass group: {stderr}");
    assert!(left[0].contains("`group:break-glass`"), "{stderr}");
}
