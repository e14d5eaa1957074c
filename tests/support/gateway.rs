//! The real `portcullis serve` in a temporary folder: config, rule file,
//! SQLite store (or a shared PostgreSQL database) and the partner IdP's
//! JWKS written there; stderr captured to a file; SIGINT on `Drop`, then a
//! kill after 5 s.

use super::idp::PartnerIdp;
use super::{WAIT, unix_now};
use portcullis::session::{KeyRing, SessionClaims, SigningKeyRecord, UserType};
use portcullis::store::{NewUser, Store, new_user_id};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Organisation domain whose users are members.
pub const MEMBER_DOMAIN: &str = "tailwindtraders.com";
pub const RULE_FILE: &str = "access.yaml";

/// One `apps:` entry.
pub struct AppSpec {
    pub name: String,
    pub hosts: Vec<String>,
    pub upstreams: Vec<String>,
    /// More flow-mapping fields, e.g. `public_paths: [/health]`.
    pub extra: String,
}

/// `name` on host `NAME.test`.
pub fn app(name: &str, upstreams: &[String], extra: &str) -> AppSpec {
    AppSpec {
        name: name.to_string(),
        hosts: vec![format!("{name}.test")],
        upstreams: upstreams.to_vec(),
        extra: extra.to_string(),
    }
}

/// A port that was free a moment ago (bound to port 0, then released),
/// and never handed out before in this test process: the kernel may give
/// a released port to the next `bind(0)`, and two gateways started side by
/// side on one port would answer each other's requests.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = l.local_addr().expect("address").port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub http: SocketAddr,
    /// The admin listener (`/metrics`, `/api/…`).
    #[allow(dead_code, reason = "not every test binary reads metrics")]
    pub admin: SocketAddr,
    /// The HTTPS listener (HTTP/2 and HTTP/1.1), with a self-signed
    /// certificate for every app host whose PEM is at `tls_ca`.
    pub https: SocketAddr,
    pub tls_ca: PathBuf,
    pub idp: PartnerIdp,
    pub store: Store,
    child: Child,
    client: reqwest::Client,
}

impl Gateway {
    /// Starts the gateway with these apps and this rule file; returns once
    /// its HTTP port accepts connections (at most 20 s).
    pub async fn start(apps: &[AppSpec], rules: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        Gateway::start_in(dir, apps, rules).await
    }

    /// Like [`Gateway::start`], with these extra environment variables for
    /// the gateway process (e.g. a shorter background interval).
    pub async fn start_with_env(apps: &[AppSpec], rules: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        Gateway::start_in_with_env(dir, apps, rules, env).await
    }

    /// Like [`Gateway::start`], in a prepared folder (CA files written there).
    pub async fn start_in(dir: tempfile::TempDir, apps: &[AppSpec], rules: &str) -> Gateway {
        Gateway::start_in_with_env(dir, apps, rules, &[]).await
    }

    async fn start_in_with_env(
        dir: tempfile::TempDir,
        apps: &[AppSpec],
        rules: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        Gateway::start_configured(dir, apps, rules, env, "", "").await
    }

    /// The most general start: `idps` lines are appended under `idps:`
    /// (after the partner's `jwt` idp), `top` lines (e.g. `sign_in:`,
    /// `mail:`) before `apps:`. Files they name go in `dir` first.
    pub async fn start_configured(
        dir: tempfile::TempDir,
        apps: &[AppSpec],
        rules: &str,
        env: &[(&str, &str)],
        idps: &str,
        top: &str,
    ) -> Gateway {
        Gateway::start_with_store(dir, apps, rules, env, idps, top, None).await
    }

    /// Like [`Gateway::start_configured`], on the PostgreSQL database at
    /// `postgres` (a `postgres://` URL, e.g. shared with another gateway)
    /// instead of a SQLite file of its own when given.
    #[allow(dead_code, reason = "only the replica tests share a store")]
    pub async fn start_with_store(
        dir: tempfile::TempDir,
        apps: &[AppSpec],
        rules: &str,
        env: &[(&str, &str)],
        idps: &str,
        top: &str,
        postgres: Option<&str>,
    ) -> Gateway {
        let root = dir.path();
        std::fs::create_dir(root.join("rules")).expect("mkdir rules");
        std::fs::write(root.join("rules").join(RULE_FILE), rules).expect("write rules");
        std::fs::write(root.join("admin.token"), "test-admin-token-0123456789\n")
            .expect("write admin token");
        let idp = PartnerIdp::new();
        idp.write_jwks(&root.join("jwks.json"));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        while admin == http {
            admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        }
        let mut https = SocketAddr::from(([127, 0, 0, 1], free_port()));
        while https == http || https == admin {
            https = SocketAddr::from(([127, 0, 0, 1], free_port()));
        }
        let names: Vec<String> = apps
            .iter()
            .flat_map(|a| a.hosts.iter().cloned())
            .chain(["localhost".to_string()])
            .collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("rcgen certificate");
        let tls_ca = root.join("tls.crt");
        std::fs::write(&tls_ca, ck.cert.pem()).expect("write certificate");
        std::fs::write(root.join("tls.key"), ck.signing_key.serialize_pem()).expect("write key");
        let store = match postgres {
            Some(url) => format!("{{ postgres: \"{url}\" }}"),
            None => "{ sqlite: db.sqlite }".to_string(),
        };
        // A test may give its own `server:` section in `top`.
        let server = if top.lines().any(|l| l.starts_with("server:")) {
            ""
        } else {
            "server: { grace_period: 1s, threads: 2 }\n"
        };
        // A test may give its own `organisation:` too.
        let organisation = if top.lines().any(|l| l.starts_with("organisation:")) {
            String::new()
        } else {
            format!(
                "organisation: {{ name: Tailwind Traders, member_domains: [{MEMBER_DOMAIN}] }}\n"
            )
        };
        let mut text = format!(
            "listen: {{ http: \"{http}\", https: {{ address: \"{https}\", cert: tls.crt, key: tls.key }} }}\n\
             admin: {{ address: \"{admin}\", token_file: admin.token }}\n\
             rules: [\"rules/*.yaml\"]\n\
             store: {store}\n\
             {server}\
             {organisation}\
             idps:\n  - {{ name: partner-api, type: jwt, issuer: \"{}\", audience: {}, jwks_file: jwks.json, domains: [{MEMBER_DOMAIN}, contoso.com] }}\n\
             {idps}{top}apps:\n",
            super::idp::ISSUER,
            super::idp::AUDIENCE,
        );
        let mut hosts = Vec::new();
        for a in apps {
            let ups: Vec<String> = a.upstreams.iter().map(|u| format!("\"{u}\"")).collect();
            text.push_str(&format!(
                "  - {{ name: {}, hosts: [{}], upstreams: [{}]{}{} }}\n",
                a.name,
                a.hosts.join(", "),
                ups.join(", "),
                if a.extra.is_empty() { "" } else { ", " },
                a.extra
            ));
            hosts.extend(a.hosts.iter().cloned());
        }
        let config = root.join("portcullis.yaml");
        std::fs::write(&config, &text).expect("write config");
        let stderr = std::fs::File::create(root.join("stderr.log")).expect("stderr log");
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("PORTCULLIS_TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn portcullis serve");

        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(WAIT)
            .connect_timeout(WAIT);
        for h in &hosts {
            builder = builder.resolve(h, http);
        }
        let client = builder.build().expect("HTTP client");
        let mut child = child;
        // Pingora starts each service on its own thread: the admin listener
        // may bind after the public one, so wait for both.
        wait_ready(&mut child, http, root).await;
        wait_ready(&mut child, admin, root).await;
        // Opened only once the gateway listens: it has migrated the schema
        // and stored its signing key by then.
        let store = match postgres {
            Some(url) => Store::open(url).await,
            None => Store::open_sqlite(&root.join("db.sqlite")).await,
        }
        .expect("open the store");
        Gateway {
            store,
            dir,
            http,
            admin,
            https,
            tls_ca,
            idp,
            child,
            client,
        }
    }

    /// The admin listener's `/metrics` text.
    #[allow(dead_code, reason = "not every test binary reads metrics")]
    pub async fn metrics(&self) -> String {
        reqwest::Client::new()
            .get(format!("http://{}/metrics", self.admin))
            .timeout(WAIT)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn rule_file(&self) -> PathBuf {
        self.dir.path().join("rules").join(RULE_FILE)
    }

    /// Everything the gateway wrote on stderr so far.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// The gateway process's id.
    #[allow(dead_code, reason = "only the operations tests need it")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the gateway process has exited.
    #[allow(dead_code, reason = "only the operations tests need it")]
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends a signal to the gateway process (`HUP`, `INT`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{name} failed");
    }

    /// `http://HOST:PORT`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.http.port())
    }

    /// A request to an app host through the gateway (redirects are not
    /// followed).
    pub fn req(&self, method: reqwest::Method, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(host, path))
    }

    pub fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.req(reqwest::Method::GET, host, path)
    }

    /// The gateway's current signing keys, read from the store.
    pub async fn keys(&self) -> KeyRing {
        let records: Vec<SigningKeyRecord> = self
            .store
            .list_signing_keys()
            .await
            .expect("list signing keys")
            .into_iter()
            .map(SigningKeyRecord::from)
            .collect();
        KeyRing::from_records(portcullis::server::ISSUER, records, unix_now())
            .expect("key ring from the store")
    }

    /// A session cookie (`portcullis_session=…`) for `host`, as the sign-in
    /// would issue: `amr` as given, signed in `auth_age` seconds ago.
    #[allow(clippy::too_many_arguments)]
    pub async fn mint_cookie(
        &self,
        host: &str,
        user_id: &str,
        email: &str,
        user_type: UserType,
        groups: &[&str],
        amr: &[&str],
        auth_age: i64,
    ) -> String {
        let now = unix_now();
        let claims = SessionClaims {
            iss: portcullis::server::ISSUER.into(),
            sub: user_id.to_string(),
            aud: host.to_ascii_lowercase().into(),
            email: email.to_string(),
            user_type,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            idp: "partner-api".into(),
            amr: amr.iter().map(|a| a.to_string()).collect(),
            auth_time: now - auth_age,
            iat: now,
            exp: now + 3600,
            sid: portcullis::session::new_sid(),
        };
        let token = self.keys().await.issue(&claims).expect("issue session");
        format!("portcullis_session={token}")
    }

    /// Creates a user in the directory; returns its id.
    pub async fn add_user(&self, email: &str, user_type: UserType) -> String {
        let user = NewUser {
            id: new_user_id(),
            email: email.to_string(),
            display_name: None,
            user_type: match user_type {
                UserType::Guest => portcullis::store::UserType::Guest,
                UserType::Member => portcullis::store::UserType::Member,
            },
            identity: None,
        };
        self.store
            .upsert_user(&user, OffsetDateTime::now_utc())
            .await
            .expect("upsert user")
            .id
    }

    /// Assigns the user to the app until `expires_at` (`None`: members only).
    pub async fn assign(&self, user_id: &str, app: &str, expires_at: Option<OffsetDateTime>) {
        self.store
            .grant_assignment(user_id, app, expires_at, None, OffsetDateTime::now_utc())
            .await
            .expect("grant assignment");
    }

    pub async fn add_to_group(&self, user_id: &str, group: &str) {
        self.store
            .add_group_member(group, user_id, OffsetDateTime::now_utc())
            .await
            .expect("add group member");
    }

    /// A member in the directory with a session cookie for `host`.
    pub async fn member(&self, host: &str, local: &str, amr: &[&str]) -> (String, String) {
        let email = format!("{local}@{MEMBER_DOMAIN}");
        let id = self.add_user(&email, UserType::Member).await;
        let cookie = self
            .mint_cookie(host, &id, &email, UserType::Member, &[], amr, 60)
            .await;
        (id, cookie)
    }

    /// A guest in the directory with a session cookie for `host`.
    pub async fn guest(&self, host: &str, local: &str) -> (String, String) {
        let email = format!("{local}@contoso.com");
        let id = self.add_user(&email, UserType::Guest).await;
        let cookie = self
            .mint_cookie(host, &id, &email, UserType::Guest, &[], &["pwd"], 60)
            .await;
        (id, cookie)
    }

    /// Stops the gateway: SIGINT (fast shutdown), then a kill after 5 s.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(150).collect();
            eprintln!(
                "--- portcullis stderr (last 150 lines) ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

/// Waits (at most 20 s) until the gateway itself listens on `http` (a
/// connection alone could reach another process that took the port);
/// panics with its log when it exits or never listens.
async fn wait_ready(child: &mut Child, http: SocketAddr, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "portcullis serve exited with {status} before listening:\n{}",
                read_log(dir)
            );
        }
        if listens_on(child.id(), http.port()) {
            return;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "portcullis did not listen on {http} within 20 s:\n{}",
                read_log(dir)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether process `pid` holds a listening TCP socket on `port` (Linux:
/// the socket's inode in `/proc/net/tcp*` among the process's descriptors).
fn listens_on(pid: u32, port: u16) -> bool {
    const LISTEN: &str = "0A";
    let local_port = format!(":{port:04X}");
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let listening =
                        fields.get(1)?.ends_with(&local_port) && *fields.get(3)? == LISTEN;
                    let inode = fields.get(9)?;
                    listening.then(|| format!("socket:[{inode}]"))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    })
}
