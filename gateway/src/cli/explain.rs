//! `portcullis explain REQUEST_ID --config FILE [--json]`: the recorded
//! trace of one decision (the decision log), as a table or the JSON object
//! `GET /api/v1/decisions/{request_id}` also answers. Exit 0 when found, 1
//! when it is not recorded or the store cannot be read, 2 for an id that is
//! not one.

use super::{ConfigArg, load, runtime};
use clap::Args;
use portcullis::decision_log::Trace;
use std::process::ExitCode;

#[derive(Args)]
pub struct ExplainArgs {
    /// The request id (the `X-Request-Id` header, also on the 403 page).
    request_id: String,
    #[command(flatten)]
    config: ConfigArg,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: &ExplainArgs) -> ExitCode {
    let id = a.request_id.trim().to_ascii_lowercase();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        eprintln!(
            "`{}` is not a request id; it is 32 hex digits, as in the X-Request-Id header",
            a.request_id
        );
        return ExitCode::from(2);
    }
    let snapshot = match load(&a.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let found = rt.block_on(async {
        let store = portcullis::server::open_store(&snapshot.config)
            .await
            .map_err(|errors| errors.join("\n"))?;
        let found = store.get_decision(&id).await.map_err(|e| e.to_string());
        store.close().await;
        found
    });
    let entry = match found {
        Ok(Some(d)) => d.entry,
        Ok(None) => {
            eprintln!(
                "no decision recorded for {id}: allows are sampled (decision_log.sample_allows), entries older than decision_log.retention are pruned, and entries are dropped while the store is down"
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("{}: store: {e}", a.config.config.display());
            return ExitCode::from(1);
        }
    };
    if a.json {
        println!("{entry}");
        return ExitCode::SUCCESS;
    }
    match serde_json::from_value::<Trace>(entry) {
        Ok(t) => {
            print!("{}", t.table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the recorded entry for {id} cannot be read ({e}); try --json");
            ExitCode::from(1)
        }
    }
}
