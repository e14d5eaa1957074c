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
    /// Log lines as JSON, as text for people, or (auto) text when stderr
    /// is a terminal and JSON otherwise. Default: $PORTCULLIS_LOG_FORMAT,
    /// else auto.
    #[arg(long, value_enum)]
    pub log_format: Option<portcullis::logging::LogFormat>,
}

/// Logs go to stderr (`portcullis::logging`: JSON lines, or text on a
/// terminal); returns only when the gateway could not start (exit 1, every
/// error printed).
pub fn run(a: ServeArgs) -> ExitCode {
    let format = match portcullis::logging::LogFormat::choose(a.log_format) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("portcullis serve: {e}");
            return ExitCode::from(2);
        }
    };
    portcullis::logging::init(format);
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
