//! A throwaway PostgreSQL cluster for an integration-test binary, started
//! on first use, one fresh database per call of [`database`].
//!
//! The same recipe as the lib's `store::test_postgres` (which integration
//! tests cannot reach, being `#[cfg(test)]`), kept short: `initdb` and
//! `pg_ctl` (through `runuser -u postgres` when root) into a temporary
//! directory, loopback only, a free port, trust authentication; a watchdog
//! `sh` in its own process group stops the server (SIGQUIT) and removes the
//! directory once the test process is gone. Every wait is bounded; missing
//! server binaries fail the test with what to install.

use sqlx::Connection as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN_ENV: &str = "PORTCULLIS_TEST_PG_BIN";

static PORT: OnceLock<Result<u16, String>> = OnceLock::new();

/// A new, empty database on this binary's cluster: its `postgres://` URL.
pub async fn database() -> String {
    let port = match PORT.get_or_init(start) {
        Ok(port) => *port,
        Err(reason) => panic!("{reason}"),
    };
    let name = format!("t_{:016x}", rand::random::<u64>());
    let create = async {
        let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        // The name is ours (hex digits), so formatting it in is safe.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await
    };
    tokio::time::timeout(Duration::from_secs(30), create)
        .await
        .expect("creating the test database took over 30 s")
        .expect("creating the test database");
    format!("postgres://postgres@127.0.0.1:{port}/{name}")
}

fn start() -> Result<u16, String> {
    let bin = find_bin_dir()?;
    let as_postgres = String::from_utf8_lossy(
        &Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("id -u: {e}"))?
            .stdout,
    )
    .trim()
        == "0";
    let root = std::env::temp_dir().join(format!(
        "portcullis-it-pg-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let sock = root.join("sock");
    std::fs::create_dir_all(&sock).map_err(|e| format!("creating {}: {e}", sock.display()))?;
    spawn_watchdog(&root)?;
    let log = root.join("commands.log");
    if as_postgres {
        run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root),
            10,
            &log,
        )?;
    }
    let data = root.join("data");
    run(
        pg_command(&bin.join("initdb"), as_postgres)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync", "--no-instructions"]),
        60,
        &log,
    )?;
    // Another process may take the probed port before the server binds it.
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200",
            sock.display()
        );
        let started = run(
            pg_command(&bin.join("pg_ctl"), as_postgres)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(root.join("postgres.log"))
                .args(["-w", "-t", "30", "-o", &options, "start"]),
            40,
            &log,
        );
        match started {
            Ok(()) => return Ok(port),
            Err(e) => last_error = e,
        }
    }
    let server_log = std::fs::read_to_string(root.join("postgres.log")).unwrap_or_default();
    Err(format!(
        "the test PostgreSQL server did not start: {last_error}\npostgres.log:\n{server_log}"
    ))
}

/// `$PORTCULLIS_TEST_PG_BIN`, `/usr/local/bin`, the newest
/// `/usr/lib/postgresql/*/bin`, then `PATH`: the first with `initdb` and
/// `pg_ctl`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.push(PathBuf::from("/usr/local/bin"));
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .ok_or_else(|| {
            format!(
                "this test needs a real PostgreSQL server, but initdb and pg_ctl were not \
                 found. Install the PostgreSQL server (e.g. `apt-get install postgresql`) \
                 or set {BIN_ENV} to the directory holding initdb and pg_ctl."
            )
        })
}

fn pg_command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Runs `cmd` to completion within `secs` seconds, its output appended to
/// `log`; `Err` with that log when it fails or runs over (then killed).
fn run(cmd: &mut Command, secs: u64, log: &Path) -> Result<(), String> {
    let what = format!("{cmd:?}");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {what}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} took over {secs} s"));
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

/// Once this process is gone, stops the server under `root` and removes it.
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
