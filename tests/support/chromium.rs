//! Headless Chromium (Debian's `/usr/bin/chromium`, driven by
//! playwright-core from `tests/browser/*.mjs`): a node script run with a
//! time limit, the folder its screenshots go to, and [`render_pages`] for
//! pages a test fetched itself (a laptop and a phone screenshot of each and
//! axe-core's WCAG 2 A/AA check; see `tests/browser/check.mjs`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// `target/browser-artifacts/<test>/`, emptied first; kept after the test.
pub fn artifacts(test: &str) -> PathBuf {
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = root.join("browser-artifacts").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

/// Panics with what to run when Chromium or the node packages are missing.
pub fn assert_installed() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test-deps (it installs Debian's chromium)"
    );
    let idp = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/idp/node_modules");
    for package in ["playwright-core", "axe-core"] {
        assert!(
            idp.join(package).is_dir(),
            "{package} is missing: run scripts/test-deps"
        );
    }
}

/// Runs `node tests/browser/SCRIPT INPUT`; kills it after `limit`.
/// Returns its exit success, stdout and stderr.
pub async fn run(script: &str, input: &Path, limit: Duration) -> (bool, String, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/browser")
        .join(script);
    let mut child = Command::new("node")
        .arg(&script)
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() >= deadline {
            // SIGTERM first: playwright closes the browser it launched (in
            // its own process group) on SIGTERM; then SIGKILL after 3 s.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now() + Duration::from_secs(3);
            while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} took more than {limit:?} and was killed:\n{}",
                script.display(),
                stderr.join().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (
        status.success(),
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    )
}

/// Shows each `(name, html)` in Chromium: `NAME.png` and `NAME-phone.png`
/// in `target/browser-artifacts/<test>/`, and axe-core's check, which fails
/// the test on a serious or critical violation. Returns the folder.
pub async fn render_pages(test: &str, pages: &[(&str, &str)]) -> PathBuf {
    assert_installed();
    let shots = artifacts(test);
    let work = tempfile::tempdir().expect("tempdir");
    let list: Vec<serde_json::Value> = pages
        .iter()
        .map(|(name, html)| {
            let file = work.path().join(format!("{name}.html"));
            std::fs::write(&file, html).expect("write page");
            serde_json::json!({ "name": name, "html_file": file })
        })
        .collect();
    let input = work.path().join("render.json");
    let json = serde_json::json!({ "screenshots": shots, "timeout_ms": 10_000, "pages": list });
    std::fs::write(&input, json.to_string()).expect("write input");
    let (ok, stdout, stderr) = run("render.mjs", &input, Duration::from_secs(60)).await;
    assert!(
        ok,
        "rendering failed (screenshots in {}):\n{stderr}\n{stdout}",
        shots.display()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("render summary is not JSON ({e}): {stdout}"));
    for (name, _) in pages {
        for file in [format!("{name}.png"), format!("{name}-phone.png")] {
            let len = std::fs::metadata(shots.join(&file))
                .unwrap_or_else(|e| panic!("screenshot {file}: {e}"))
                .len();
            assert!(len > 1000, "screenshot {file} is only {len} bytes");
        }
        assert!(
            summary["axe"][name].is_array(),
            "axe-core did not check {name}: {summary}"
        );
    }
    shots
}
