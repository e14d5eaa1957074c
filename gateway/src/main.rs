//! `portcullis`: the command line. Parses the arguments and runs one
//! command from `cli/` (one file per command group; the library does the
//! work). Exit codes: 0 success, 1 a failed check, test or operation, 2
//! usage (clap's own errors included).
#![forbid(unsafe_code)]

mod cli;

use clap::{Parser, Subcommand};
use cli::ConfigArg;
use cli::explain::ExplainArgs;
use cli::guests::GuestsCommand;
use cli::invitations::{InvitationsCommand, InviteArgs};
use cli::rules::RulesCommand;
use cli::serve::ServeArgs;
use cli::whatif::WhatIfArgs;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A conditional-access reverse proxy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Validate the config, the rule files and every file they reference.
    Check(ConfigArg),
    /// Rule files: run their test cases, or replay recorded decisions
    /// against new ones.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Show the decision for a request and why, policy by policy.
    Whatif(WhatIfArgs),
    /// Show the recorded decision of one request (its X-Request-Id) and why,
    /// policy by policy, from the decision log.
    Explain(ExplainArgs),
    /// Read one password line on stdin and print its argon2id PHC string
    /// (for `password_hash` in the users file of an idp of type local).
    HashPassword,
    /// Invite a guest by e-mail to one or more apps (the link goes only to
    /// the guest's mailbox).
    Invite(InviteArgs),
    /// Guest invitations: list, resend (a new link), revoke.
    Invitations {
        #[command(subcommand)]
        command: InvitationsCommand,
    },
    /// Guests: list, show, extend or end access, remove.
    Guests {
        #[command(subcommand)]
        command: GuestsCommand,
    },
    /// Print the JSON Schema of portcullis.yaml (`config`), rule files
    /// (`rules`) or users files (`users`), or with --markdown the
    /// configuration reference made from them (docs/config-reference.md).
    Schema {
        #[arg(value_enum, required_unless_present = "markdown")]
        file: Option<portcullis::schema::FileKind>,
        #[arg(long, conflicts_with = "file")]
        markdown: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => cli::serve::run(a),
        Command::Check(a) => cli::check::run(&a),
        Command::Rules {
            command: RulesCommand::Test(a),
        } => cli::rules::test(&a),
        Command::Rules {
            command: RulesCommand::Diff(a),
        } => cli::rules_diff::run(&a),
        Command::Rules {
            command: RulesCommand::Lint(a),
        } => cli::lint::run(&a),
        Command::Whatif(a) => cli::whatif::run(&a),
        Command::Explain(a) => cli::explain::run(&a),
        Command::HashPassword => cli::hash_password::run(),
        Command::Invite(a) => cli::invitations::invite(&a),
        Command::Invitations { command } => cli::invitations::invitations(command),
        Command::Guests { command } => cli::guests::run(command),
        Command::Schema { file, markdown } => cli::schema::run(file, markdown),
    }
}
