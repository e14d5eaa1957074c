//! `portcullis rules lint` end to end: the real binary on the golden
//! fixtures of `tests/lint/` (one per finding kind, exact positions), the
//! quickstart, the exit codes 0/1/2 and the `--json` shape.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KINDS: &[&str] = &[
    "shadowed",
    "conflicting",
    "overbroad",
    "unreachable",
    "unused",
    "stale-report-only",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/lint")
}

/// Runs `rules lint` in `dir` (so the printed paths are relative to it)
/// with a fixed date for `stale-report-only`.
fn lint_in(dir: &Path, config: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir)
        .args(["rules", "lint", "--config", config, "--today", "2026-12-07"])
        .args(extra)
        .output()
        .expect("run portcullis")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

#[test]
fn each_kind_has_a_golden_fixture_with_exact_positions() {
    for kind in KINDS {
        let dir = fixtures().join(kind);
        let out = lint_in(&dir, "portcullis.yaml", &[]);
        let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
        assert_eq!(
            text(&out.stdout),
            expected,
            "fixture {kind}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "fixture {kind} has findings");
        // The fixture is about its own kind only.
        let findings = json(&lint_in(&dir, "portcullis.yaml", &["--json"]));
        let rules: Vec<&str> = findings["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["rule"].as_str().expect("rule"))
            .collect();
        assert!(
            !rules.is_empty() && rules.iter().all(|r| r == kind),
            "{kind}: {rules:?}"
        );
    }
}

#[test]
fn the_near_misses_of_every_kind_lint_clean_with_exit_0() {
    let out = lint_in(&fixtures().join("clean"), "portcullis.yaml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout), "0 findings\n");
    let j = json(&lint_in(
        &fixtures().join("clean"),
        "portcullis.yaml",
        &["--json"],
    ));
    assert_eq!(j, serde_json::json!({ "findings": [] }));
}

#[test]
fn json_gives_file_line_column_rule_message_and_fix() {
    let out = lint_in(&fixtures().join("shadowed"), "portcullis.yaml", &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(
        j["findings"][0],
        serde_json::json!({
            "file": "rules.yaml",
            "line": 8,
            "column": 11,
            "rule": "shadowed",
            "message": "policy `guests-payroll-mfa` never changes an outcome: `block-guests` (rules.yaml:4:11) blocks for every request it applies to",
            "fix": "delete it, or narrow the other policy",
        })
    );
}

/// The quickstart's findings are each explained in a comment just above
/// the line they point at (`rules lint: KIND`), and there are no others.
#[test]
fn the_quickstart_findings_are_each_explained_in_the_file() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = lint_in(&root, "deploy/quickstart/portcullis.yaml", &["--json"]);
    let j = json(&out);
    let findings = j["findings"].as_array().expect("findings");
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(kinds, ["unreachable", "overbroad"], "{j}");
    for f in findings {
        let file = f["file"].as_str().expect("file");
        let line = f["line"].as_u64().expect("line") as usize;
        let body = std::fs::read_to_string(root.join(file)).expect("rule file");
        let lines: Vec<&str> = body.lines().collect();
        let comment: String = lines[..line - 1]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('#'))
            .copied()
            .collect();
        let marker = format!("`rules lint: {}`", f["rule"].as_str().expect("rule"));
        assert!(comment.contains(&marker), "{file}:{line} lacks {marker}");
    }
}

#[test]
fn unreadable_files_exit_2_and_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lint_in(dir.path(), "missing.yaml", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.yaml"),
        "{}",
        text(&out.stderr)
    );

    // A rule file that does not parse: its position, exit 2, nothing linted.
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        "listen: { http: 127.0.0.1:8080 }\nrules: [\"rules.yaml\"]\n\
         organisation: { name: Test, member_domains: [tailwindtraders.com] }\n\
         apps:\n  - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9001] }\n",
    )
    .expect("write config");
    std::fs::write(
        dir.path().join("rules.yaml"),
        "policies:\n  - name: p\n    since: yesterday\n    users: { include: [all] }\n    apps: { include: [all] }\n    grant: block\n",
    )
    .expect("write rules");
    let out = lint_in(dir.path(), "portcullis.yaml", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("rules.yaml:3:12: `yesterday` is not a date"),
        "{err}"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn a_bad_lint_section_is_a_positioned_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        "listen: { http: 127.0.0.1:8080 }\nrules: [\"rules.yaml\"]\n\
         organisation: { name: Test, member_domains: [tailwindtraders.com] }\n\
         lint: { break_glass: [admins], report_only_max_age: soon }\n\
         apps:\n  - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9001] }\n",
    )
    .expect("write config");
    std::fs::write(dir.path().join("rules.yaml"), "policies: []\n").expect("write rules");
    let out = lint_in(dir.path(), "portcullis.yaml", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "portcullis.yaml:4:23: lint.break_glass: `admins` is neither group:NAME nor an e-mail address"
        ),
        "{err}"
    );
    assert!(
        err.contains("portcullis.yaml:4:53: `soon` is not a duration"),
        "{err}"
    );
}
