//! `portcullis rules diff --config FILE --rules 'NEW_GLOB' [--since 7d]
//! [--json] [--fail-on-change]`: the recorded decisions of the period (the
//! decision log) replayed against new rule files, each with the facts
//! recorded with it; every request whose outcome would change, then counts
//! by policy, user type and app. A pull request that changes rules can
//! carry this list. Exit 0, or 1 with `--fail-on-change` when anything
//! changes (or when the new rules or the store cannot be read; 2 for
//! usage).

use super::{ConfigArg, load, plural, runtime};
use clap::Args;
use portcullis::decision_log::{Change, Trace, replay};
use portcullis::store::Store;
use portcullis::store::decisions::DecisionQuery;
use rules::{CompileContext, RuleSet};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Recorded decisions read from the store at a time: the period is read
/// page by page, so a month of traffic never sits in memory at once.
const PAGE: u32 = 5_000;

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The new rule files: a glob (quote it), relative to the current folder.
    #[arg(long)]
    rules: String,
    /// How far back to replay (30m, 12h, 7d).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    since: std::time::Duration,
    /// Print `{changes: [...], counts: {...}}` instead of lines.
    #[arg(long)]
    json: bool,
    /// Exit 1 when any outcome changes (for CI).
    #[arg(long)]
    fail_on_change: bool,
    /// Recorded decisions read from the store at a time (tests page with a
    /// small one).
    #[arg(long, default_value_t = PAGE, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    page: u32,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    rules::parse_duration(s).ok_or_else(|| format!("`{s}` is not a duration; use 30m, 12h or 7d"))
}

fn new_rules(glob: &str, apps: Vec<String>) -> Result<RuleSet, Vec<String>> {
    let files: Vec<PathBuf> = match glob::glob(glob) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        Err(e) => return Err(vec![format!("--rules `{glob}`: {e}")]),
    };
    if files.is_empty() {
        return Err(vec![format!("--rules `{glob}` matches no file")]);
    }
    RuleSet::load(&files, &CompileContext { apps })
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

pub fn run(a: &DiffArgs) -> ExitCode {
    let snapshot = match load(&a.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rules = match new_rules(&a.rules, snapshot.config.app_names()) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::from(1);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let since = time::OffsetDateTime::now_utc()
        - time::Duration::try_from(a.since).unwrap_or(time::Duration::days(7));
    let replayed = rt.block_on(async {
        let store = portcullis::server::open_store(&snapshot.config)
            .await
            .map_err(|errors| errors.join("\n"))?;
        let replayed = replay_period(&store, since, &rules, a.page).await;
        store.close().await;
        replayed.map_err(|e| e.to_string())
    });
    let Replayed {
        replayed,
        skipped,
        changes,
    } = match replayed {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: store: {e}", a.config.config.display());
            return ExitCode::from(1);
        }
    };
    // Allows are recorded as sampled: say so, since a change to an
    // unrecorded allow cannot be listed.
    let sampled = snapshot.config.decision_log.sample_allows;
    if sampled < 1.0 {
        eprintln!(
            "note: allows are recorded at a sample rate of {sampled} (decision_log.sample_allows); refusals are all recorded"
        );
    }
    let counts = counts(&changes);
    if a.json {
        println!(
            "{}",
            json!({ "replayed": replayed, "skipped": skipped, "changes": changes, "counts": counts })
        );
    } else {
        for c in &changes {
            println!(
                "{} {} {} {} {} {}: {} -> {}{} (policies: {})",
                c.request_id,
                c.time,
                c.user.as_deref().unwrap_or("anonymous"),
                c.app,
                c.method,
                c.path,
                c.old,
                c.new,
                c.new_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                c.policies.join(", ")
            );
        }
        for (by, table) in &counts {
            for (key, n) in table {
                println!("by {by}: {key}: {n}");
            }
        }
        println!(
            "{} of {} recorded decision{} would change{}",
            changes.len(),
            replayed,
            plural(replayed),
            if skipped > 0 {
                format!(" ({skipped} could not be replayed)")
            } else {
                String::new()
            }
        );
    }
    if a.fail_on_change && !changes.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Changed requests by policy, by user type and by app.
fn counts(changes: &[Change]) -> BTreeMap<&'static str, BTreeMap<String, usize>> {
    let mut out: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    for c in changes {
        for p in &c.policies {
            *out.entry("policy")
                .or_default()
                .entry(p.clone())
                .or_default() += 1;
        }
        let who = c.user_type.clone().unwrap_or_else(|| "anonymous".into());
        *out.entry("user_type").or_default().entry(who).or_default() += 1;
        *out.entry("app")
            .or_default()
            .entry(c.app.clone())
            .or_default() += 1;
    }
    out
}

/// What replaying a period found.
struct Replayed {
    replayed: usize,
    skipped: usize,
    /// Oldest first: the order the requests came in.
    changes: Vec<Change>,
}

/// Replays every decision recorded since `since` against `rules`, `page`
/// at a time (newest first, as the store lists them); keeps only changes.
async fn replay_period(
    store: &Store,
    since: time::OffsetDateTime,
    rules: &RuleSet,
    page_size: u32,
) -> Result<Replayed, portcullis::store::StoreError> {
    let mut out = Replayed {
        replayed: 0,
        skipped: 0,
        changes: Vec::new(),
    };
    let mut before_id = None;
    loop {
        let q = DecisionQuery {
            since: Some(since),
            before_id,
            limit: page_size,
            ..DecisionQuery::default()
        };
        let page = store.list_decisions(&q).await?;
        for d in &page {
            out.replayed += 1;
            let Ok(trace) = serde_json::from_value::<Trace>(d.entry.clone()) else {
                out.skipped += 1;
                continue;
            };
            match replay(&trace, rules) {
                Ok(Some(c)) => out.changes.push(c),
                Ok(None) => {}
                Err(_) => out.skipped += 1,
            }
        }
        match page.last() {
            Some(last) if page.len() == page_size as usize => before_id = Some(last.id),
            _ => break,
        }
    }
    out.changes.reverse();
    Ok(out)
}
