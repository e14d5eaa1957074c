//! `portcullis whatif`: the decision for a described request and why,
//! policy by policy, as a table or (`--json`) the object the admin API's
//! `/api/v1/whatif` also answers. The user's type, groups, blocked state and
//! assignment come from the directory (the config's store), as the gateway
//! reads them; `--offline` answers from the files alone. An unknown app is a
//! usage error (exit 2); a directory that cannot be read is exit 1.

use super::{ConfigArg, load};
use clap::Args;
use portcullis::whatif::{WhatIf, WhatIfError};
use rules::{ClientApp, Platform, RequestFacts, UserType};
use std::net::IpAddr;
use std::process::ExitCode;

#[derive(Args)]
pub struct WhatIfArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The signed-in user's e-mail.
    #[arg(long, required_unless_present = "anonymous")]
    user: Option<String>,
    /// Ask about a request that is not signed in.
    #[arg(long, conflicts_with_all = ["user", "user_type", "group", "mfa", "mfa_strength", "signed_in_ago"])]
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
    /// The session carries multi-factor authentication (that is not
    /// phishing-resistant; see --mfa-strength).
    #[arg(long)]
    mfa: bool,
    /// The strength of the session's MFA: none, mfa or phishing_resistant
    /// (a passkey, or an IdP's phishing-resistant method).
    #[arg(long, value_parser = parse_mfa_strength, conflicts_with = "mfa")]
    mfa_strength: Option<rules::MfaStrength>,
    /// Time since sign-in, e.g. 13h.
    #[arg(long, value_parser = parse_duration)]
    signed_in_ago: Option<std::time::Duration>,
    /// With --offline: the guest holds no live assignment to the app (else
    /// one is assumed). Without it the directory says.
    #[arg(long, requires = "offline")]
    unassigned: bool,
    /// Answer from the config and rule files alone, without reading the
    /// directory (the store): the user type, groups and assignment are the
    /// flags' (a live assignment unless --unassigned), blocked accounts are
    /// not checked.
    #[arg(long)]
    offline: bool,
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

fn parse_mfa_strength(s: &str) -> Result<rules::MfaStrength, String> {
    rules::MfaStrength::parse(s)
        .ok_or_else(|| format!("`{s}` is not an MFA strength; use none, mfa or phishing_resistant"))
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

pub fn run(a: &WhatIfArgs) -> ExitCode {
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
        mfa: match (a.mfa_strength, a.mfa) {
            (Some(s), _) => s,
            (None, true) => rules::MfaStrength::Mfa,
            (None, false) => rules::MfaStrength::None,
        },
        signed_in_ago: a.signed_in_ago,
        assigned: Some(!a.unassigned),
    };
    let w = if a.offline || facts.user.is_none() {
        WhatIf::new(&snapshot, &facts).map_err(WhatIfError::Input)
    } else {
        with_directory(&snapshot, &facts)
    };
    let w = match w {
        Ok(w) => w,
        Err(WhatIfError::Input(e)) => {
            eprintln!("portcullis whatif: {e}");
            return ExitCode::from(2);
        }
        Err(WhatIfError::Directory(e)) => {
            eprintln!(
                "portcullis whatif: {e}\n(--offline answers from the config and rule files alone)"
            );
            return ExitCode::from(1);
        }
    };
    if a.json {
        println!("{}", w.json(&snapshot));
    } else {
        print!("{}", w.table(&snapshot));
    }
    ExitCode::SUCCESS
}

/// Reads the directory from the config's store. A SQLite file that does
/// not exist yet is not created: the gateway has never run on it.
fn with_directory(
    snapshot: &portcullis::snapshot::Snapshot,
    facts: &RequestFacts,
) -> Result<WhatIf, WhatIfError> {
    // A wrong question is a usage error whatever the store's state.
    WhatIf::new(snapshot, facts).map_err(WhatIfError::Input)?;
    let config = &snapshot.config;
    if let portcullis::config::Store::Sqlite(path) = &config.store
        && !path.exists()
    {
        return Err(WhatIfError::Directory(format!(
            "{}: the store {} does not exist yet (has the gateway run?)",
            config.path.display(),
            path.display()
        )));
    }
    let rt =
        super::runtime().map_err(|_| WhatIfError::Directory("cannot start a runtime".into()))?;
    rt.block_on(async {
        let store = portcullis::server::open_store(config)
            .await
            .map_err(|e| WhatIfError::Directory(e.join("; ")))?;
        let now = time::OffsetDateTime::now_utc();
        let w = WhatIf::with_directory(snapshot, facts, &store, now).await;
        store.close().await;
        w
    })
}
