//! `portcullis guests list|show|extend|remove|block|unblock`: guests and their access,
//! through `portcullis::guests` as the admin API and the owners' pages. The
//! audit actor is `$USER` (else `cli`).

use super::{ConfigArg, runtime, store_context};
use clap::Subcommand;
use portcullis::admin::{audit_json, guest_json};
use portcullis::config::Config;
use portcullis::guests::{self, Caller, Place, access_end};
use portcullis::store::{AuditQuery, Store, StoreError, User, UserType};
use std::process::ExitCode;
use time::OffsetDateTime;

#[derive(Subcommand)]
pub enum GuestsCommand {
    /// Every guest with their assignments (live or ended) and end dates.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only guests assigned (now or before) to this app.
        #[arg(long)]
        app: Option<String>,
    },
    /// One guest: assignments and recent audit entries.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        /// The guest's user id (`u_…`) or e-mail address.
        guest: String,
        /// Print one JSON object (as the admin API's `GET /api/v1/guests/{id}`).
        #[arg(long)]
        json: bool,
    },
    /// Grant or extend a guest's access to an app.
    #[command(group(clap::ArgGroup::new("end").required(true).args(["days", "until"])))]
    Extend {
        #[command(flatten)]
        config: ConfigArg,
        /// The guest's user id (`u_…`) or e-mail address.
        guest: String,
        #[arg(long)]
        app: String,
        /// Access ends this many days from now (1 to 366).
        #[arg(long, allow_negative_numbers = true)]
        days: Option<i64>,
        /// Access ends on this date (YYYY-MM-DD, UTC midnight) or at this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
    },
    /// End a guest's access to one app (--app), or end their sessions and
    /// delete the guest.
    Remove {
        #[command(flatten)]
        config: ConfigArg,
        /// The guest's user id (`u_…`) or e-mail address.
        guest: String,
        #[arg(long)]
        app: Option<String>,
    },
    /// Block a guest's sign-in: refused everywhere (`account_blocked`),
    /// their open sessions included, until `unblock`.
    Block {
        #[command(flatten)]
        config: ConfigArg,
        /// The guest's user id (`u_…`) or e-mail address.
        guest: String,
    },
    /// Let a blocked guest sign in again.
    Unblock {
        #[command(flatten)]
        config: ConfigArg,
        /// The guest's user id (`u_…`) or e-mail address.
        guest: String,
    },
}

/// Runs one `guests` command against the configured store.
pub fn run(command: GuestsCommand) -> ExitCode {
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        let config_arg = match &command {
            GuestsCommand::List { config, .. }
            | GuestsCommand::Show { config, .. }
            | GuestsCommand::Extend { config, .. }
            | GuestsCommand::Remove { config, .. }
            | GuestsCommand::Block { config, .. }
            | GuestsCommand::Unblock { config, .. } => config,
        };
        let (config, store, _mailer) = match store_context(config_arg).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        let now = OffsetDateTime::now_utc();
        let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
        let caller = Caller {
            place: Place::Store(&store),
            actor: &actor,
            now,
        };
        let done = match &command {
            GuestsCommand::List { app, .. } => list(&config, &store, app.as_deref(), now).await,
            GuestsCommand::Show { guest, json, .. } => show(&store, guest, *json, now).await,
            GuestsCommand::Extend {
                guest,
                app,
                days,
                until,
                ..
            } => extend(&config, caller, guest, app, *days, until.as_deref()).await,
            GuestsCommand::Remove { guest, app, .. } => {
                remove(&config, caller, guest, app.as_deref()).await
            }
            GuestsCommand::Block { guest, .. } => set_blocked(caller, guest, true).await,
            GuestsCommand::Unblock { guest, .. } => set_blocked(caller, guest, false).await,
        };
        match done {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failed(code, message)) => {
                eprintln!("{message}");
                ExitCode::from(code)
            }
        }
    })
}

/// A command that did not succeed: the exit code (1 failed, 2 usage) and
/// the message for stderr.
struct Failed(u8, String);

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed(1, e.to_string())
    }
}

/// `--app`: a configured app, or exit 2 naming the flag.
fn known_app(config: &Config, app: &str) -> Result<(), Failed> {
    let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
    if names.contains(&app) {
        return Ok(());
    }
    let hint = rules::closest(app, names.iter().copied())
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    Err(Failed(2, format!("--app: no app named `{app}`{hint}")))
}

/// The guest `id` names (user id or e-mail), or exit 1 saying so.
async fn guest(store: &Store, id: &str) -> Result<User, Failed> {
    guests::find(store, id).await?.ok_or_else(|| {
        Failed(
            1,
            format!("no guest `{id}` (give a guest's user id or e-mail)"),
        )
    })
}

fn day(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "no end".into(), |t| t.date().to_string())
}

/// One line per guest: id, e-mail, state, `app:end` for each assignment.
async fn list(
    config: &Config,
    store: &Store,
    app: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Failed> {
    if let Some(app) = app {
        known_app(config, app)?;
    }
    for u in store.list_users(Some(UserType::Guest)).await? {
        let assignments = store.assignments_of_user(&u.id).await?;
        if app.is_some_and(|app| !assignments.iter().any(|a| a.app == app)) {
            continue;
        }
        let shown: Vec<String> = assignments
            .iter()
            .map(|a| {
                format!(
                    "{}:{}{}",
                    a.app,
                    day(a.expires_at),
                    if a.is_live(now) { "" } else { "(ended)" }
                )
            })
            .collect();
        println!("{}\t{}\t{}\t{}", u.id, u.email, u.state, shown.join(","));
    }
    Ok(())
}

/// One guest with assignments and their last 20 audit entries; `json`: the
/// admin API's object plus `audit`.
async fn show(store: &Store, id: &str, json: bool, now: OffsetDateTime) -> Result<(), Failed> {
    let u = guest(store, id).await?;
    let assignments = store.assignments_of_user(&u.id).await?;
    let entries = store
        .list_audit(&AuditQuery {
            subject: Some(u.id.clone()),
            limit: 20,
            ..AuditQuery::default()
        })
        .await?;
    if json {
        let mut v = guest_json(&u, &assignments, now);
        v["audit"] = entries.iter().map(audit_json).collect();
        println!("{v}");
        return Ok(());
    }
    println!("{} <{}>", u.id, u.email);
    if let Some(name) = &u.display_name {
        println!("name: {name}");
    }
    println!("state: {}", u.state);
    println!("created: {}", u.created_at.date());
    for a in &assignments {
        println!(
            "app {}: until {}{}{}",
            a.app,
            day(a.expires_at),
            if a.is_live(now) { "" } else { " (ended)" },
            a.granted_by
                .as_ref()
                .map(|b| format!(", granted by {b}"))
                .unwrap_or_default()
        );
    }
    for e in &entries {
        println!(
            "audit {} {} {} by {}{}",
            e.id,
            e.at.date(),
            e.action,
            e.actor,
            e.app
                .as_ref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn extend(
    config: &Config,
    caller: Caller<'_>,
    id: &str,
    app: &str,
    days: Option<i64>,
    until: Option<&str>,
) -> Result<(), Failed> {
    known_app(config, app)?;
    let end = access_end(days, until, caller.now)
        .map_err(|(field, message)| Failed(2, format!("--{field}: {message}")))?;
    let u = guest(caller.place.store(), id).await?;
    guests::extend(caller, &u, app, end, None).await?;
    println!(
        "{} ({}) has access to {app} until {}",
        u.email,
        u.id,
        end.date()
    );
    Ok(())
}

/// With `app`: end that access only; without: end the sessions and delete
/// the guest.
async fn remove(
    config: &Config,
    caller: Caller<'_>,
    id: &str,
    app: Option<&str>,
) -> Result<(), Failed> {
    if let Some(app) = app {
        known_app(config, app)?;
    }
    let u = guest(caller.place.store(), id).await?;
    match app {
        Some(app) => {
            if !guests::end(caller, &u, app).await? {
                return Err(Failed(1, format!("{} has no assignment to {app}", u.email)));
            }
            println!("{} ({}) no longer has access to {app}", u.email, u.id);
        }
        None => {
            let ended = guests::remove(caller, &u).await?;
            println!("removed {} ({}); {} session(s) ended", u.email, u.id, ended);
        }
    }
    Ok(())
}

/// Blocks or unblocks the guest's sign-in. Running gateways learn within
/// their directory cache's TTL (a few seconds).
async fn set_blocked(caller: Caller<'_>, id: &str, block: bool) -> Result<(), Failed> {
    let u = guest(caller.place.store(), id).await?;
    let changed = if block {
        guests::block(caller, &u).await?
    } else {
        guests::unblock(caller, &u).await?
    };
    let state = if block { "blocked" } else { "able to sign in" };
    let already = if changed { "" } else { " already" };
    println!("{} ({}) is{already} {state}", u.email, u.id);
    Ok(())
}
