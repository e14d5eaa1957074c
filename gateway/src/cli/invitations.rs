//! `portcullis invite` and `portcullis invitations list|resend|revoke`:
//! guest invitations through `portcullis::invitations`, as the admin API and the
//! owners' pages make them. The link goes only to the guest's mailbox.

use super::{ConfigArg, runtime, store_context};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Args)]
pub struct InviteArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The guest's e-mail address.
    #[arg(long)]
    email: String,
    /// An app to share (repeat for several).
    #[arg(long = "app", required = true)]
    apps: Vec<String>,
    /// Access lasts this many days after the guest accepts (default 30).
    #[arg(long, conflicts_with = "until")]
    days: Option<u32>,
    /// Access ends on this date (YYYY-MM-DD, UTC midnight).
    #[arg(long)]
    until: Option<String>,
    /// A personal message for the e-mail.
    #[arg(long)]
    message: Option<String>,
    /// Who invites, as the e-mail shows it (default: $USER).
    #[arg(long)]
    inviter: Option<String>,
    /// The e-mail's language: `en` or `de` (default: `organisation.language`).
    #[arg(long)]
    language: Option<String>,
}

#[derive(Subcommand)]
pub enum InvitationsCommand {
    /// Every invitation with its status.
    List(ConfigArg),
    /// Send a pending invitation again with a new link (the old one stops working).
    Resend(InvitationId),
    /// Withdraw a pending invitation.
    Revoke(InvitationId),
}

#[derive(Args)]
pub struct InvitationId {
    #[command(flatten)]
    config: ConfigArg,
    /// The invitation id (`inv_…`).
    id: String,
}

pub fn invite(a: &InviteArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        let (config, store, mailer) = match store_context(&a.config).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        let Some(mailer) = mailer else {
            eprintln!(
                "{}: no `mail` section: invitations are sent by e-mail",
                config.path.display()
            );
            return ExitCode::from(1);
        };
        let until = match a.until.as_deref().map(parse_date) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                eprintln!("--until: {e}");
                return ExitCode::from(2);
            }
            None => None,
        };
        let language = match a.language.as_deref() {
            None => None,
            Some(l) => match portcullis::i18n::Lang::parse(l) {
                Some(lang) => Some(lang),
                None => {
                    eprintln!(
                        "--language: `{l}` is not a language of the gateway; use {}",
                        portcullis::i18n::Lang::tags().join(" or ")
                    );
                    return ExitCode::from(2);
                }
            },
        };
        let req = portcullis::invitations::InviteRequest {
            language,
            email: a.email.clone(),
            apps: a.apps.clone(),
            access_until: until,
            access_days: a.days,
            message: a.message.clone(),
            inviter: a
                .inviter
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "an administrator".into()),
        };
        let now = time::OffsetDateTime::now_utc();
        match portcullis::invitations::invite(&config, &store, &mailer, &req, now).await {
            Ok((inv, _link)) => {
                println!(
                    "invited {} to {} ({}); the link expires {}",
                    inv.email,
                    inv.apps.join(", "),
                    inv.id,
                    portcullis::invitations::human_date(inv.expires_at)
                );
                ExitCode::SUCCESS
            }
            Err(portcullis::invitations::InviteError::Invalid { field, message }) => {
                eprintln!(
                    "--{}: {message}",
                    field.replace('_', "-").replace("access-", "")
                );
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("{e}");
                // Kept pending: say the command that delivers it.
                if let portcullis::invitations::InviteError::NotSent { invitation, .. } = &e {
                    eprintln!(
                        "to resend it: portcullis invitations resend --config {} {}",
                        a.config.config.display(),
                        invitation.id
                    );
                }
                ExitCode::from(1)
            }
        }
    })
}

/// `YYYY-MM-DD` as UTC midnight.
fn parse_date(s: &str) -> Result<time::OffsetDateTime, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("`{s}` is not a date like 2026-12-31"))
}

pub fn invitations(command: InvitationsCommand) -> ExitCode {
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        let config_arg = match &command {
            InvitationsCommand::List(c) => c,
            InvitationsCommand::Resend(i) | InvitationsCommand::Revoke(i) => &i.config,
        };
        let (config, store, mailer) = match store_context(config_arg).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        let now = time::OffsetDateTime::now_utc();
        let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
        let result = match &command {
            InvitationsCommand::List(_) => match store.list_invitations().await {
                Ok(list) => {
                    for i in list {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            i.id,
                            i.status(now),
                            i.email,
                            i.apps.join(","),
                            i.inviter
                        );
                    }
                    return ExitCode::SUCCESS;
                }
                Err(e) => Err(portcullis::invitations::InviteError::Store(e)),
            },
            InvitationsCommand::Resend(i) => match &mailer {
                Some(m) => portcullis::invitations::resend(&config, &store, m, &i.id, &actor, now)
                    .await
                    .map(|(inv, _)| inv),
                None => {
                    eprintln!("{}: no `mail` section", config.path.display());
                    return ExitCode::from(1);
                }
            },
            InvitationsCommand::Revoke(i) => {
                portcullis::invitations::revoke(&store, &i.id, &actor, now).await
            }
        };
        match result {
            Ok(inv) => {
                println!("{} {} ({})", inv.id, inv.status(now), inv.email);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        }
    })
}
