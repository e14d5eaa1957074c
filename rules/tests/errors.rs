//! Golden tests for rule-file errors: file, line, column and text of every
//! message a security engineer may see from `portcullis check`. Each fixture
//! in `tests/golden/*.yaml` has its expected errors in `*.yaml.errors`; set
//! `GOLDEN_BLESS=1` to rewrite them after a deliberate change (and review the
//! diff).

use rules::{CompileContext, RuleSet};
use std::path::{Path, PathBuf};

fn errors_of(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).expect("fixture");
    let ctx = CompileContext {
        apps: vec!["payroll".into(), "wiki".into()],
    };
    match RuleSet::from_sources(&[(PathBuf::from(name), text)], &ctx) {
        Ok(_) => String::new(),
        Err(errors) => errors.iter().map(|e| format!("{e}\n")).collect(),
    }
}

#[test]
fn every_error_is_file_line_column_message() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut fixtures: Vec<String> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 6, "fixtures missing: {fixtures:?}");
    let mut failures = Vec::new();
    for name in &fixtures {
        let got = errors_of(&dir, name);
        let expected_path = dir.join(format!("{name}.errors"));
        if std::env::var_os("GOLDEN_BLESS").is_some() {
            std::fs::write(&expected_path, &got).expect("bless");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert!(
            !got.is_empty(),
            "{name}: a broken fixture compiled without errors"
        );
        if got != expected {
            failures.push(format!("--- {name}: expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
