//! The commands of `portcullis`, one file per command group; `main.rs`
//! parses the command line and dispatches here. Each command prints its
//! answer (stdout) or its errors (stderr) and returns the exit code: 0
//! success, 1 a failed check, test or operation, 2 usage. The commands that
//! change guests call the same operations as the admin API and the owners'
//! pages (`portcullis::invitations`, `portcullis::guests`).

pub mod check;
pub mod explain;
pub mod guests;
pub mod hash_password;
pub mod invitations;
pub mod lint;
pub mod rules;
pub mod rules_diff;
pub mod schema;
pub mod serve;
pub mod whatif;

use clap::Args;
use portcullis::snapshot::{LoadErrors, Snapshot};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ConfigArg {
    /// The config file.
    #[arg(long, default_value = "portcullis.yaml")]
    pub config: PathBuf,
}

/// Loads the snapshot or prints every error (stderr) and gives exit code 1.
pub fn load(config: &ConfigArg) -> Result<Snapshot, ExitCode> {
    Snapshot::load(&config.config).map_err(|LoadErrors(errors)| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!(
            "{} error{} in {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            config.config.display()
        );
        ExitCode::from(1)
    })
}

/// The config, the store and the mailer, for the commands that change
/// guests and invitations.
pub async fn store_context(
    a: &ConfigArg,
) -> Result<
    (
        portcullis::config::Config,
        portcullis::store::Store,
        Option<portcullis::mail::Mailer>,
    ),
    ExitCode,
> {
    let snapshot = load(a)?;
    let config = snapshot.config.as_ref().clone();
    let store = portcullis::server::open_store(&config)
        .await
        .map_err(|errors| {
            for e in &errors {
                eprintln!("{e}");
            }
            ExitCode::from(1)
        })?;
    let mailer = match &config.mail {
        Some(m) => Some(
            portcullis::mail::Mailer::branded(
                m,
                &config.organisation.name,
                &config.organisation.mail_branding(),
            )
            .map_err(|e| {
                eprintln!("{}: mail: {e}", config.path.display());
                ExitCode::from(1)
            })?,
        ),
        None => None,
    };
    Ok((config, store, mailer))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start a runtime: {e}");
            ExitCode::from(1)
        })
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
