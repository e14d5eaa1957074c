//! A throwaway PostgreSQL server for the store tests: one cluster per test
//! binary, one fresh database per test.
//!
//! # Lifecycle
//!
//! The first test that asks for a database runs `initdb` into a new
//! temporary directory and starts the server with `pg_ctl` (loopback only, a
//! free port, its unix socket inside that directory, `fsync=off`, trust
//! authentication for the `postgres` superuser). Later tests reuse it; each
//! gets its own `CREATE DATABASE t_<random>`, so tests never see each
//! other's rows and may run in parallel.
//!
//! Statics are never dropped, so a `Drop` guard cannot stop the server when
//! the test binary exits. Instead, right after starting it we spawn a small
//! watchdog (`sh`, in its own process group so a Ctrl-C on the test run
//! does not kill it first) that polls the test process's pid; once the
//! process is gone, however it ended (success, panic, abort, SIGKILL), the
//! watchdog stops the server (SIGQUIT to the postmaster: PostgreSQL's
//! "immediate" shutdown, what `pg_ctl -m immediate stop` sends) and
//! removes the directory. The per-test databases go with it.
//!
//! # Running as root
//!
//! PostgreSQL refuses to run as root, and CI runs the tests as root: then
//! the directory is given to the `postgres` user and `initdb`/`pg_ctl` run
//! through `runuser -u postgres --`.
//!
//! Every wait is bounded. When the server binaries are missing the tests
//! fail with a message saying what to install; they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::Connection as _;

/// Directory of `initdb` and `pg_ctl`, overriding the search below.
const BIN_ENV: &str = "PORTCULLIS_TEST_PG_BIN";
/// Longest `initdb` may take.
const INITDB_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest `pg_ctl start` may wait for the server to accept connections.
const START_TIMEOUT_SECS: u64 = 30;
/// Longest a test waits to connect and create its database.
const CREATE_DB_TIMEOUT: Duration = Duration::from_secs(30);

/// The running cluster of this test binary.
#[derive(Debug)]
pub(crate) struct Cluster {
    port: u16,
    /// How to run `pg_ctl` again: for outage tests that stop and restart
    /// the server (see [`Cluster::stop`]).
    pg_ctl: PgCtl,
}

#[derive(Debug)]
struct PgCtl {
    program: PathBuf,
    as_postgres: bool,
    root: PathBuf,
    options: String,
}

impl PgCtl {
    fn command(&self, action: &str) -> Command {
        let mut cmd = pg_command(&self.program, self.as_postgres);
        cmd.arg("-D").arg(self.root.join("data")).arg("-w");
        if action == "start" {
            cmd.arg("-l").arg(self.root.join("postgres.log")).args([
                "-t",
                &START_TIMEOUT_SECS.to_string(),
                "-o",
                &self.options,
            ]);
        } else {
            cmd.args(["-m", "fast"]);
        }
        cmd.arg(action);
        cmd
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The cluster, started on first use. Panics (fails the test) with the
/// reason when it cannot be started; every later test fails the same way
/// without trying again.
pub(crate) fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster,
        Err(reason) => panic!("{reason}"),
    }
}

impl Cluster {
    /// The URL of database `db` on this cluster.
    pub(crate) fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub(crate) async fn create_database(&self) -> String {
        let name = format!("t_{:016x}", rand::random::<u64>());
        let admin = self.url("postgres");
        let create = async {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            // The name is ours (hex digits), so formatting it in is safe.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            conn.close().await
        };
        tokio::time::timeout(CREATE_DB_TIMEOUT, create)
            .await
            .unwrap_or_else(|_| panic!("creating database {name} took over {CREATE_DB_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        self.url(&name)
    }

    /// Stops the server (fast shutdown: clients are disconnected), for a
    /// test of a database outage; [`Cluster::restart`] brings it back on the
    /// same port with the same data. Panics when `pg_ctl` fails.
    #[allow(dead_code, reason = "only the outage tests stop the server")]
    pub(crate) fn stop(&self) {
        let log = self.pg_ctl.root.join("pg_ctl.log");
        run(
            &mut self.pg_ctl.command("stop"),
            Duration::from_secs(30),
            &log,
        )
        .unwrap_or_else(|e| panic!("stopping the test PostgreSQL server: {e}"));
    }

    /// Starts the server stopped by [`Cluster::stop`] again.
    #[allow(dead_code, reason = "only the outage tests stop the server")]
    pub(crate) fn restart(&self) {
        let log = self.pg_ctl.root.join("pg_ctl.log");
        run(
            &mut self.pg_ctl.command("start"),
            Duration::from_secs(START_TIMEOUT_SECS + 10),
            &log,
        )
        .unwrap_or_else(|e| panic!("restarting the test PostgreSQL server: {e}"));
    }
}

fn start() -> Result<Cluster, String> {
    let bin = find_bin_dir()?;
    let as_postgres = running_as_root()?;
    let root = std::env::temp_dir().join(format!(
        "portcullis-pg-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    // From here on the watchdog owns the directory: it removes it when this
    // process is gone, whether or not the server ever started.
    spawn_watchdog(&root)?;
    if as_postgres {
        run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root),
            Duration::from_secs(10),
            &root.join("chown.log"),
        )?;
    }
    let data = root.join("data");
    let socket_dir = root.join("sock");
    std::fs::create_dir(&socket_dir).map_err(|e| format!("creating the socket dir: {e}"))?;
    if as_postgres {
        run(
            Command::new("chown")
                .arg("postgres:postgres")
                .arg(&socket_dir),
            Duration::from_secs(10),
            &root.join("chown.log"),
        )?;
    }
    run(
        pg_command(&bin.join("initdb"), as_postgres)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]),
        INITDB_TIMEOUT,
        &root.join("initdb.log"),
    )?;
    // Another process may take the free port between our probe and the
    // server's bind; try a few ports.
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200",
            socket_dir.display()
        );
        let started = run(
            pg_command(&bin.join("pg_ctl"), as_postgres)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(root.join("postgres.log"))
                .args(["-w", "-t", &START_TIMEOUT_SECS.to_string(), "-o", &options])
                .arg("start"),
            Duration::from_secs(START_TIMEOUT_SECS + 10),
            &root.join("pg_ctl.log"),
        );
        match started {
            Ok(()) => {
                return Ok(Cluster {
                    port,
                    pg_ctl: PgCtl {
                        program: bin.join("pg_ctl"),
                        as_postgres,
                        root,
                        options,
                    },
                });
            }
            Err(e) => {
                let log = std::fs::read_to_string(root.join("postgres.log")).unwrap_or_default();
                last_error = format!("{e}\npostgres.log:\n{log}");
            }
        }
    }
    Err(format!(
        "the test PostgreSQL server did not start: {last_error}"
    ))
}

/// Where `initdb` and `pg_ctl` are: `$PORTCULLIS_TEST_PG_BIN`, else
/// `/usr/local/bin`, the newest `/usr/lib/postgresql/*/bin`, then `PATH`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(PathBuf::from("/usr/local/bin"));
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    find_bin_dir_in(&candidates)
}

/// The first of `candidates` holding both `initdb` and `pg_ctl`, or `Err`
/// saying what to install.
fn find_bin_dir_in(candidates: &[PathBuf]) -> Result<PathBuf, String> {
    candidates
        .iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "the store tests need a real PostgreSQL server, but initdb and pg_ctl were \
                 not found (looked in ${BIN_ENV}, /usr/local/bin, /usr/lib/postgresql/*/bin \
                 and PATH). Install the PostgreSQL server (e.g. `apt-get install postgresql`) \
                 or set {BIN_ENV} to the directory holding initdb and pg_ctl."
            )
        })
}

fn running_as_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running `id -u`: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program`, run as the `postgres` user when we are root.
fn pg_command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Runs `cmd` to completion within `timeout`, its output going to `log`;
/// `Err` with that output when it fails or runs over (it is then killed).
fn run(cmd: &mut Command, timeout: Duration, log: &Path) -> Result<(), String> {
    let what = format!("{cmd:?}");
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {what}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} took over {timeout:?}"));
            }
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    };
    if status.success() {
        Ok(())
    } else {
        let output = std::fs::read_to_string(log).unwrap_or_default();
        Err(format!("{what} failed ({status}):\n{output}"))
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Waits (in the background) for this process to end, then stops the
/// server whose data lives under `root` and removes `root`.
fn spawn_watchdog(root: &Path) -> Result<(), String> {
    const SCRIPT: &str = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
        pid=$(head -n 1 "$2/data/postmaster.pid" 2>/dev/null)
        if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
            i=0
            while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
        fi
        rm -rf "$2"
    "#;
    use std::os::unix::process::CommandExt as _;
    Command::new("sh")
        .args(["-c", SCRIPT, "portcullis-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("starting the cleanup watchdog: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_server_binaries_are_an_error_that_says_what_to_install() {
        let empty = tempfile::tempdir().expect("tempdir");
        let err = find_bin_dir_in(&[empty.path().to_path_buf()]).expect_err("no initdb");
        assert!(
            err.contains("initdb") && err.contains("apt-get install postgresql"),
            "{err}"
        );
        assert!(err.contains(BIN_ENV), "{err}");
    }
}
