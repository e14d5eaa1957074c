//! `portcullis`: the command line. Exit codes: 0 success, 1 a failed check
//! or test, 2 usage.
#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use portcullis::snapshot::{LoadErrors, Snapshot};
use portcullis::whatif::WhatIf;
use rules::{ClientApp, Platform, RequestFacts, UserType};
use std::net::IpAddr;
use std::path::PathBuf;
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
    /// Rule files: run their test cases.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Show the decision for a request and why, policy by policy.
    Whatif(WhatIfArgs),
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

#[derive(Subcommand)]
enum GuestsCommand {
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
}

#[derive(Args)]
struct InviteArgs {
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
}

#[derive(Subcommand)]
enum InvitationsCommand {
    /// Every invitation with its status.
    List(ConfigArg),
    /// Send a pending invitation again with a new link (the old one stops working).
    Resend(InvitationId),
    /// Withdraw a pending invitation.
    Revoke(InvitationId),
}

#[derive(Args)]
struct InvitationId {
    #[command(flatten)]
    config: ConfigArg,
    /// The invitation id (`inv_…`).
    id: String,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Take over the listening sockets of the running instance (graceful
    /// upgrade: start the new binary with --upgrade, then send SIGQUIT to the old one).
    #[arg(long)]
    upgrade: bool,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Run the `tests:` of every rule file; print failures and `N passed, M failed`.
    Test(ConfigArg),
}

#[derive(Args)]
struct ConfigArg {
    /// The config file.
    #[arg(long, default_value = "portcullis.yaml")]
    config: PathBuf,
}

#[derive(Args)]
struct WhatIfArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The signed-in user's e-mail.
    #[arg(long, required_unless_present = "anonymous")]
    user: Option<String>,
    /// Ask about a request that is not signed in.
    #[arg(long, conflicts_with_all = ["user", "user_type", "group", "mfa", "signed_in_ago"])]
    anonymous: bool,
    /// The app name from the config.
    #[arg(long)]
    app: String,
    /// Default: member for the organisation's member domains, else guest.
    #[arg(long, value_parser = parse_user_type)]
    user_type: Option<UserType>,
    /// A group of the user (repeat for several).
    #[arg(long)]
    group: Vec<String>,
    #[arg(long, default_value = "/")]
    path: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// The client address (its GeoIP country and named locations are used).
    #[arg(long)]
    ip: Option<IpAddr>,
    /// Override the GeoIP country (ISO code or `unknown`).
    #[arg(long, value_parser = parse_country)]
    country: Option<geoip::Country>,
    #[arg(long)]
    user_agent: Option<String>,
    /// Override the platform detected from --user-agent.
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    #[arg(long, value_parser = parse_client_app, default_value = "browser")]
    client_app: ClientApp,
    /// The session carries multi-factor authentication.
    #[arg(long)]
    mfa: bool,
    /// Time since sign-in, e.g. 13h.
    #[arg(long, value_parser = parse_duration)]
    signed_in_ago: Option<std::time::Duration>,
    /// The guest holds no live assignment to the app.
    #[arg(long)]
    unassigned: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_user_type(s: &str) -> Result<UserType, String> {
    UserType::parse(s).ok_or_else(|| format!("`{s}` is not a user type; use guest or member"))
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
        format!("`{s}` is not a platform; use one of {}", names.join(", "))
    })
}

fn parse_client_app(s: &str) -> Result<ClientApp, String> {
    ClientApp::parse(s).ok_or_else(|| format!("`{s}` is not a client app type; use browser or api"))
}

fn parse_country(s: &str) -> Result<geoip::Country, String> {
    geoip::Country::parse(s).map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    rules::parse_duration(s).ok_or_else(|| format!("`{s}` is not a duration; use 30m, 12h or 7d"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Check(a) => check(&a),
        Command::Rules {
            command: RulesCommand::Test(a),
        } => rules_test(&a),
        Command::Whatif(a) => whatif(&a),
        Command::HashPassword => hash_password(),
        Command::Invite(a) => invite(&a),
        Command::Invitations { command } => invitations(command),
        Command::Guests { command } => guests(command),
        Command::Schema { file, markdown } => {
            match file {
                Some(kind) if !markdown => print!("{}", portcullis::schema::json_text(kind)),
                _ => print!("{}", portcullis::schema::markdown()),
            }
            ExitCode::SUCCESS
        }
    }
}

/// The config, the store and the mailer, for the lifecycle commands.
async fn lifecycle_context(
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
            portcullis::mail::Mailer::new(m, &config.organisation.name).map_err(|e| {
                eprintln!("{}: mail: {e}", config.path.display());
                ExitCode::from(1)
            })?,
        ),
        None => None,
    };
    Ok((config, store, mailer))
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start a runtime: {e}");
            ExitCode::from(1)
        })
}

fn invite(a: &InviteArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        let (config, store, mailer) = match lifecycle_context(&a.config).await {
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
        let req = portcullis::invite::InviteRequest {
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
        match portcullis::invite::invite(&config, &store, &mailer, &req, now).await {
            Ok((inv, _link)) => {
                println!(
                    "invited {} to {} ({}); the link expires {}",
                    inv.email,
                    inv.apps.join(", "),
                    inv.id,
                    portcullis::invite::human_date(inv.expires_at)
                );
                ExitCode::SUCCESS
            }
            Err(portcullis::invite::InviteError::Invalid { field, message }) => {
                eprintln!(
                    "--{}: {message}",
                    field.replace('_', "-").replace("access-", "")
                );
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("{e}");
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

fn invitations(command: InvitationsCommand) -> ExitCode {
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        let config_arg = match &command {
            InvitationsCommand::List(c) => c,
            InvitationsCommand::Resend(i) | InvitationsCommand::Revoke(i) => &i.config,
        };
        let (config, store, mailer) = match lifecycle_context(config_arg).await {
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
                Err(e) => Err(portcullis::invite::InviteError::Store(e)),
            },
            InvitationsCommand::Resend(i) => match &mailer {
                Some(m) => portcullis::invite::resend(&config, &store, m, &i.id, &actor, now)
                    .await
                    .map(|(inv, _)| inv),
                None => {
                    eprintln!("{}: no `mail` section", config.path.display());
                    return ExitCode::from(1);
                }
            },
            InvitationsCommand::Revoke(i) => {
                portcullis::invite::revoke(&store, &i.id, &actor, now).await
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

fn guests(command: GuestsCommand) -> ExitCode {
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        let config_arg = match &command {
            GuestsCommand::List { config, .. }
            | GuestsCommand::Show { config, .. }
            | GuestsCommand::Extend { config, .. }
            | GuestsCommand::Remove { config, .. } => config,
        };
        let (config, store, _mailer) = match lifecycle_context(config_arg).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        match guests_run(&command, &config, &store).await {
            Ok(()) => ExitCode::SUCCESS,
            Err((code, message)) => {
                eprintln!("{message}");
                ExitCode::from(code)
            }
        }
    })
}

/// `--app`: a configured app, or exit 2 naming the flag.
fn known_app(config: &portcullis::config::Config, app: &str) -> Result<(), (u8, String)> {
    let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
    if names.contains(&app) {
        return Ok(());
    }
    let hint = rules::closest(app, names.iter().copied())
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    Err((2, format!("--app: no app named `{app}`{hint}")))
}

fn day(t: Option<time::OffsetDateTime>) -> String {
    t.map_or_else(|| "no end".into(), |t| t.date().to_string())
}

async fn guests_run(
    command: &GuestsCommand,
    config: &portcullis::config::Config,
    store: &portcullis::store::Store,
) -> Result<(), (u8, String)> {
    use portcullis::admin::{audit_json, guest_json};
    use portcullis::guests::{self, Caller, Place, access_end};
    use portcullis::store::{AuditQuery, UserType};
    let failed = |e: portcullis::store::StoreError| (1u8, e.to_string());
    let now = time::OffsetDateTime::now_utc();
    let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let caller = Caller {
        place: Place::Store(store),
        actor: &actor,
        now,
    };
    let guest = |id: String| async move {
        guests::find(store, &id)
            .await
            .map_err(failed)?
            .ok_or_else(|| {
                (
                    1u8,
                    format!("no guest `{id}` (give a guest's user id or e-mail)"),
                )
            })
    };
    match command {
        GuestsCommand::List { app, .. } => {
            if let Some(app) = app {
                known_app(config, app)?;
            }
            for u in store
                .list_users(Some(UserType::Guest))
                .await
                .map_err(failed)?
            {
                let assignments = store.assignments_of_user(&u.id).await.map_err(failed)?;
                if app
                    .as_ref()
                    .is_some_and(|app| !assignments.iter().any(|a| &a.app == app))
                {
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
        GuestsCommand::Show { guest: g, json, .. } => {
            let u = guest(g.clone()).await?;
            let assignments = store.assignments_of_user(&u.id).await.map_err(failed)?;
            let entries = store
                .list_audit(&AuditQuery {
                    subject: Some(u.id.clone()),
                    limit: 20,
                    ..AuditQuery::default()
                })
                .await
                .map_err(failed)?;
            if *json {
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
        GuestsCommand::Extend {
            guest: g,
            app,
            days,
            until,
            ..
        } => {
            known_app(config, app)?;
            let end = access_end(*days, until.as_deref(), now)
                .map_err(|(field, message)| (2, format!("--{field}: {message}")))?;
            let u = guest(g.clone()).await?;
            guests::extend(caller, &u, app, end, None)
                .await
                .map_err(failed)?;
            println!(
                "{} ({}) has access to {app} until {}",
                u.email,
                u.id,
                end.date()
            );
            Ok(())
        }
        GuestsCommand::Remove { guest: g, app, .. } => {
            if let Some(app) = app {
                known_app(config, app)?;
            }
            let u = guest(g.clone()).await?;
            match app {
                Some(app) => {
                    if !guests::end(caller, &u, app).await.map_err(failed)? {
                        return Err((1, format!("{} has no assignment to {app}", u.email)));
                    }
                    println!("{} ({}) no longer has access to {app}", u.email, u.id);
                }
                None => {
                    let ended = guests::remove(caller, &u).await.map_err(failed)?;
                    println!("removed {} ({}); {} session(s) ended", u.email, u.id, ended);
                }
            }
            Ok(())
        }
    }
}

fn serve(a: ServeArgs) -> ExitCode {
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

/// Loads the snapshot or prints every error (stderr) and gives exit code 1.
fn load(config: &ConfigArg) -> Result<Snapshot, ExitCode> {
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

fn check(a: &ConfigArg) -> ExitCode {
    let snapshot = match load(a) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let r = &snapshot.rules;
    println!(
        "{}: OK — {} app{}, {} polic{}, {} named location{}, {} rule test{} in {} rule file{}{}",
        a.config.display(),
        r.apps().len(),
        plural(r.apps().len()),
        r.policies().len(),
        if r.policies().len() == 1 { "y" } else { "ies" },
        r.named_locations().len(),
        plural(r.named_locations().len()),
        r.tests().len(),
        plural(r.tests().len()),
        r.files().len(),
        plural(r.files().len()),
        snapshot
            .geoip
            .as_ref()
            .map(|db| format!(", GeoIP {} ({})", db.database_type(), db.path().display()))
            .unwrap_or_default(),
    );
    ExitCode::SUCCESS
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn rules_test(a: &ConfigArg) -> ExitCode {
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

fn whatif(a: &WhatIfArgs) -> ExitCode {
    let snapshot = match load(&a.config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let facts = RequestFacts {
        user: a.user.clone(),
        user_type: a.user_type,
        groups: a.group.clone(),
        app: a.app.clone(),
        path: Some(a.path.clone()),
        method: Some(a.method.clone()),
        ip: a.ip,
        country: a.country,
        user_agent: a.user_agent.clone(),
        platform: a.platform,
        client_app: Some(a.client_app),
        mfa: a.mfa,
        signed_in_ago: a.signed_in_ago,
        assigned: Some(!a.unassigned),
    };
    let w = match WhatIf::new(&snapshot, &facts) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("portcullis whatif: {e}");
            return ExitCode::from(2);
        }
    };
    if a.json {
        println!("{}", w.json(&snapshot));
    } else {
        print!("{}", w.table(&snapshot));
    }
    ExitCode::SUCCESS
}

/// `hash-password`: one line from stdin (its line ending removed, nothing
/// else) to an argon2id PHC string on stdout. Exit 2 for an empty password.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("portcullis hash-password: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        eprintln!(
            "portcullis hash-password: the password is empty; write it as one line on stdin, \
             e.g. `portcullis hash-password < password.txt`"
        );
        return ExitCode::from(2);
    }
    match portcullis::local_idp::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portcullis hash-password: hashing failed: {e}");
            ExitCode::from(1)
        }
    }
}
