//! `portcullis serve`: run the gateway until it is stopped.

use super::ConfigArg;
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Take over the listening sockets of the running instance (graceful
    /// upgrade: start the new binary with --upgrade, then send SIGQUIT to the old one).
    #[arg(long)]
    pub upgrade: bool,
}

/// Logs go to stderr as JSON lines; returns only when the gateway could not
/// start (exit 1, every error printed).
pub fn run(a: ServeArgs) -> ExitCode {
    // Structured JSON logs on stderr; `RUST_LOG` filters (default info).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Log lines are written by a separate thread: a blocking write per
    // request on the hot path cost ~24 µs (benches/LOAD.md). When the
    // buffer (128k lines) is full, lines are dropped rather than stalling
    // requests; the writer reports how many on exit.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(128_000)
        .lossy(true)
        .finish(std::io::stderr());
    // The guard flushes on drop; `serve` only returns through process exit.
    std::mem::forget(guard);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
    match portcullis::server::run(portcullis::server::ServeOptions {
        config: a.config.config,
        upgrade: a.upgrade,
    }) {
        Ok(never) => match never {},
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            ExitCode::from(1)
        }
    }
}
