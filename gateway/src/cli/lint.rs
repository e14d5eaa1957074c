//! `portcullis rules lint`: findings about valid rules that are probably not
//! what their author meant (`rules::lint`), one per line as
//! `file:line:column: rule: message; fix: ...`, or (`--json`) one object for
//! CI annotations. Exit 0 with no finding, 1 with findings, 2 when the config
//! or a rule file cannot be read or does not compile (each error names its
//! file).

use super::{ConfigArg, plural};
use clap::Args;
use portcullis::snapshot::{LoadErrors, Snapshot};
use rules::Finding;
use serde_json::json;
use std::process::ExitCode;

#[derive(Args)]
pub struct LintArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print one JSON object (`{"findings": [...]}`) instead of lines.
    #[arg(long)]
    json: bool,
    /// The date `stale-report-only` counts from (YYYY-MM-DD; default:
    /// today, UTC), for reproducible runs.
    #[arg(long, value_parser = parse_date)]
    today: Option<time::Date>,
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, format).map_err(|_| format!("`{s}` is not a date; write YYYY-MM-DD"))
}

pub fn run(a: &LintArgs) -> ExitCode {
    let snapshot = match Snapshot::load(&a.config.config) {
        Ok(s) => s,
        Err(LoadErrors(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "portcullis rules lint: {} error{} in {} or its rule files; nothing linted",
                errors.len(),
                plural(errors.len()),
                a.config.config.display()
            );
            return ExitCode::from(2);
        }
    };
    let today = a
        .today
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let findings = snapshot.lint(today);
    if a.json {
        let list: Vec<_> = findings.iter().map(finding_json).collect();
        println!("{}", json!({ "findings": list }));
    } else {
        for f in &findings {
            println!("{f}");
        }
        println!("{} finding{}", findings.len(), plural(findings.len()));
    }
    if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "file": f.at.file.display().to_string(),
        "line": f.at.line,
        "column": f.at.column,
        "rule": f.kind.as_str(),
        "message": f.message,
        "fix": f.fix,
    })
}
