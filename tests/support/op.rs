//! A real OpenID Provider for the sign-in tests: `tests/idp/op.mjs`
//! (oidc-provider on Node) on a free loopback port, registered with the
//! gateway's callback. Stopped on `Drop`; start-up bounded to 20 s.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CLIENT_ID: &str = "portcullis";
pub const CLIENT_SECRET: &str = "test-client-secret";

pub struct Op {
    child: Child,
    pub issuer: String,
}

impl Op {
    /// Starts the provider on `port` with these accounts (`{ "e-mail": {
    /// "password", "name", "groups", "email_verified" } }`) and `amr` (e.g.
    /// `pwd,mfa`), accepting `redirect_uri`.
    pub fn start(dir: &Path, port: u16, accounts: &str, amr: &str, redirect_uri: &str) -> Op {
        let issuer = format!("http://127.0.0.1:{port}");
        Op::start_as(dir, port, &issuer, accounts, amr, redirect_uri)
    }

    /// Like [`Op::start`], listening on `port` but named `issuer` (e.g. the
    /// address of a relay in front of it, which every URL it publishes
    /// then goes through).
    pub fn start_as(
        dir: &Path,
        port: u16,
        issuer: &str,
        accounts: &str,
        amr: &str,
        redirect_uri: &str,
    ) -> Op {
        Op::start_shaped(dir, port, issuer, accounts, amr, redirect_uri, &[])
    }

    /// Like [`Op::start_as`], with more `op.mjs` arguments: a provider's
    /// shape (`--conform-id-token-claims false` puts the claims in the ID
    /// token as Microsoft and Google do, `--iss-response false` leaves out
    /// RFC 9207's `iss` as Entra does; an issuer with `{tenantid}` is
    /// Entra's multi-tenant template). Accounts may carry extra `claims`.
    pub fn start_shaped(
        dir: &Path,
        port: u16,
        issuer: &str,
        accounts: &str,
        amr: &str,
        redirect_uri: &str,
        extra: &[&str],
    ) -> Op {
        let idp_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/idp");
        assert!(
            idp_dir.join("node_modules/oidc-provider").is_dir(),
            "the test IdP's packages are missing: run scripts/test-deps"
        );
        let file = dir.join("op-accounts.json");
        std::fs::write(&file, accounts).expect("write accounts");
        let mut child = Command::new("node")
            .current_dir(&idp_dir)
            .arg("op.mjs")
            .args(["--port", &port.to_string()])
            .args(["--issuer", issuer])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--redirect-uri", redirect_uri, "--amr", amr])
            .arg("--accounts")
            .arg(&file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node is installed");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("READY ") {
                    let _ = tx.send(issuer.to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(issuer) => Op { child, issuer },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the test IdP did not start within 20 s");
            }
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..40 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
