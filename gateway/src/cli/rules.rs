//! `portcullis rules test`: run the `tests:` of every rule file; print the
//! failures and `N passed, M failed` (exit 1 when one failed).

use super::{ConfigArg, load};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Run the `tests:` of every rule file; print failures and `N passed, M failed`.
    Test(ConfigArg),
    /// Replay the recorded decisions (the decision log) against new rule
    /// files; list every request whose outcome would change.
    Diff(super::rules_diff::DiffArgs),
    /// Report rules that are valid but probably wrong (shadowed,
    /// conflicting, overbroad, unreachable, unused, stale report-only);
    /// exit 1 with findings, 2 when the files cannot be read.
    Lint(super::lint::LintArgs),
}

pub fn test(a: &ConfigArg) -> ExitCode {
    let snapshot = match load(a) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let outcomes = rules::run_tests(
        &snapshot.rules,
        &snapshot.config.organisation.member_domains,
        &|ip| snapshot.country(ip),
    );
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
    for o in &failed {
        println!("FAIL {}: {}: {}", o.test.source, o.test.name, o.failure);
    }
    println!(
        "{} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
