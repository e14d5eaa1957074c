//! A real test OpenID Provider (`tests/idp/op.mjs`, oidc-provider 9.13.3 on
//! Node) for the tests, and a browser stand-in that walks its login form.
//! Each IdP binds a free loopback port, dies on `Drop` (SIGTERM, then
//! SIGKILL), and every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use openidconnect::reqwest;
use openidconnect::url::Url;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

pub const CLIENT_ID: &str = "portcullis";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/.portcullis/callback";
pub const POST_LOGOUT_URI: &str = "http://127.0.0.1:1/.portcullis/signed-out";

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/idp")
}

static DEPS: Mutex<bool> = Mutex::new(false);

/// Runs `scripts/test-deps` (npm ci) once per test binary when
/// `tests/idp/node_modules` is missing or stale; bounded to 5 minutes.
fn ensure_deps() {
    let mut done = DEPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *done {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-deps");
    let mut child = Command::new(&script)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "scripts/test-deps failed: {status}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("scripts/test-deps took over 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    *done = true;
}

/// Options of one test IdP.
#[derive(Clone, Debug, Default)]
pub struct IdpOptions {
    pub amr: Option<&'static str>,
    pub conform_id_token_claims: bool,
    pub key_id: Option<&'static str>,
    /// A fixed port (to restart an IdP at the same issuer); 0 = any.
    pub port: u16,
}

pub struct TestIdp {
    child: Child,
    pub issuer: String,
    pub port: u16,
    _accounts: tempfile::TempDir,
}

pub const ACCOUNTS: &str = r#"{
  "alice@partner.example": { "password": "alice-pw", "name": "Alice", "groups": ["partner-admins", "finance"] },
  "mallory@tailwindtraders.com": { "password": "mallory-pw", "name": "Mallory" }
}"#;

impl TestIdp {
    pub fn start(opts: IdpOptions) -> TestIdp {
        ensure_deps();
        let dir = tempfile::tempdir().unwrap();
        let accounts = dir.path().join("accounts.json");
        std::fs::write(&accounts, ACCOUNTS).unwrap();
        let mut cmd = Command::new("node");
        cmd.current_dir(idp_dir())
            .arg("op.mjs")
            .args(["--port", &opts.port.to_string()])
            .args(["--issuer", "http://127.0.0.1:{port}"])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--redirect-uri", REDIRECT_URI])
            .args(["--post-logout-redirect-uri", POST_LOGOUT_URI])
            .arg("--accounts")
            .arg(&accounts)
            .args([
                "--conform-id-token-claims",
                if opts.conform_id_token_claims {
                    "true"
                } else {
                    "false"
                },
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(amr) = opts.amr {
            cmd.args(["--amr", amr]);
        }
        if let Some(kid) = opts.key_id {
            cmd.args(["--key-id", kid]);
        }
        let mut child = cmd.spawn().expect("node is installed (/usr/bin/node)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("READY ") {
                    let _ = tx.send(issuer.to_string());
                }
            }
        });
        let issuer = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(i) => i,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the test IdP did not print READY within 20 s");
            }
        };
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        TestIdp {
            child,
            issuer,
            port,
            _accounts: dir,
        }
    }

    /// Stops the IdP now (SIGTERM, as a service manager would).
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// The callback the IdP sent the browser to.
#[derive(Debug)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// A browser without JavaScript: follows redirects by hand, keeps cookies,
/// fills the login form, and stops at the redirect to the gateway.
pub async fn browser_sign_in(auth_url: &Url, login: &str, password: &str) -> Callback {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    let mut url = auth_url.clone();
    // At /interaction/<uid>: first GET the form (as a browser would), then POST it.
    let mut form_fetched = false;
    for _ in 0..10 {
        if url.as_str().starts_with(REDIRECT_URI) {
            let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            return Callback {
                code: q.get("code").cloned(),
                state: q.get("state").cloned(),
                iss: q.get("iss").cloned(),
                error: q.get("error").cloned(),
            };
        }
        let cookie = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let at_form = url.path().starts_with("/interaction/");
        let req = if at_form && form_fetched {
            form_fetched = false;
            let body = openidconnect::url::form_urlencoded::Serializer::new(String::new())
                .append_pair("login", login)
                .append_pair("password", password)
                .finish();
            http.post(url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
        } else {
            http.get(url.clone())
        };
        let resp = req.header("cookie", cookie).send().await.unwrap();
        for v in resp.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                cookies.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            url = url.join(&loc).unwrap();
        } else if status.is_success() && at_form && !form_fetched {
            let html = resp.text().await.unwrap();
            assert!(html.contains(r#"name="password""#), "{html}");
            form_fetched = true;
        } else {
            panic!(
                "unexpected {status} at {url}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    }
    panic!("no callback after 10 hops");
}
