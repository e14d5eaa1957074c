//! `portcullis check`'s warnings: things that load and run but are almost
//! certainly not what was meant. Printed with their position; they never
//! fail the check (exit 0).
//!
//! Two kinds:
//! - A rule's `users` or an app's `owners:` naming a group that no source
//!   can provide. Since issue 15 an IdP's groups are named `IDP:GROUP` and a
//!   bare name is the directory's, so a rule written before
//!   (`group:engineers` meant for a partner's IdP) silently stops matching;
//!   this says so. (The quickstart's `group:break-glass` is one on purpose.)
//! - What the quickstart ships for trying Portcullis and a newcomer must
//!   change before production (issue 17): no admin API token, the built-in
//!   demo app, the demo identities with their published passwords; and a
//!   SAML idp's metadata fetched over plain http (issue 16).
//!
//! Each is one short line: what, and what to do.

use super::{Config, ConfigError, IdpKind};
use rules::RuleSet;

/// Every warning for `config` and its compiled `rules`, rules first (by
/// file and position), then the config's `owners:` entries.
pub fn warnings(config: &Config, rules: &RuleSet) -> Vec<ConfigError> {
    let sources = Sources::of(config);
    let mut out = Vec::new();
    for (group, at) in rules.group_references() {
        if let Some(why) = sources.missing(group) {
            out.push(ConfigError {
                file: at.file.clone(),
                line: at.line,
                column: at.column,
                message: format!("warning: `group:{group}` {why}"),
            });
        }
    }
    let mut production = Vec::new();
    before_production(config, &mut production);
    // In the order they are written, as the rules' are.
    production.sort_by_key(|w| (w.line, w.column));
    out.extend(production);
    for r in &config.owner_groups {
        if let Some(why) = sources.missing(&r.name) {
            out.push(ConfigError {
                file: r.file.clone(),
                line: r.line,
                column: r.column,
                message: format!("warning: owner `group:{}` {why}", r.name),
            });
        }
    }
    out
}

/// The quickstart's users file: its password hashes are public.
const QUICKSTART_USERS: &str = include_str!("../../../deploy/quickstart/users.yaml");

/// What the quickstart ships for a demo and production must not keep.
fn before_production(config: &Config, out: &mut Vec<ConfigError>) {
    let at = |(line, column): (u64, u64), message: String| ConfigError {
        file: config.path.clone(),
        line,
        column,
        message: format!("warning: {message}"),
    };
    if let Some(admin) = &config.admin
        && admin.token_file.is_none()
        && let Some(pos) = config.written.admin
    {
        out.push(at(
            pos,
            "`admin` has no `token_file`, so the admin API is off (only /metrics and the probes answer); set one to manage guests over HTTP".into(),
        ));
    }
    if config.demo_app.is_some()
        && let Some(pos) = config.written.demo_app
    {
        out.push(at(
            pos,
            "`demo_app` is on: it is for trying Portcullis; point the apps' `upstreams` at your own apps and remove it".into(),
        ));
    }
    let demo_hashes: Vec<&str> = QUICKSTART_USERS
        .lines()
        .filter_map(|l| l.trim().strip_prefix("password_hash:"))
        .map(|h| h.trim().trim_matches('"'))
        .collect();
    for idp in &config.idps {
        // Both warnings point at the idp's entry.
        let Some(pos) = config.written.idp(&idp.name) else {
            continue;
        };
        if let Some(url) = plain_http_metadata(&idp.kind) {
            out.push(at(
                pos,
                format!(
                    "idp `{}`: metadata_url {url} is plain http: whoever can change it on the way can swap the signing certificate that every sign-in is checked against; use https",
                    idp.name
                ),
            ));
        }
        let IdpKind::Local(local) = &idp.kind else {
            continue;
        };
        let demo: Vec<&str> = local
            .users_with_hash(&demo_hashes)
            .map(|u| u.email.as_str())
            .collect();
        if !demo.is_empty() {
            out.push(at(
                pos,
                format!(
                    "idp `{}`: {} still {} the quickstart's published demo password; remove {} or set a new hash",
                    idp.name,
                    demo.join(", "),
                    if demo.len() == 1 { "has" } else { "have" },
                    if demo.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
    }
}

/// A SAML idp's `metadata_url` over plain http to a host other than
/// loopback: the metadata is the trust anchor (its certificates verify
/// every response).
fn plain_http_metadata(kind: &IdpKind) -> Option<&str> {
    let IdpKind::Saml(saml) = kind else {
        return None;
    };
    let crate::saml::MetadataSource::Url(u) = &saml.source else {
        return None;
    };
    let parsed = reqwest::Url::parse(u).ok()?;
    let host = parsed.host_str()?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (parsed.scheme() == "http" && !loopback).then_some(u.as_str())
}

/// Where groups can come from.
struct Sources<'c> {
    /// The local IdPs' users files: the directory's groups.
    directory: Vec<&'c str>,
    /// Some IdP has `trust_groups: true`: any bare name may come from it.
    trusted_idp: bool,
    /// IdPs that assert groups of their own (qualified by their name).
    asserting: Vec<&'c str>,
    /// Every idp name, for the hint.
    all: Vec<&'c str>,
}

impl<'c> Sources<'c> {
    fn of(config: &'c Config) -> Sources<'c> {
        let mut s = Sources {
            directory: Vec::new(),
            trusted_idp: false,
            asserting: Vec::new(),
            all: Vec::new(),
        };
        for idp in &config.idps {
            s.all.push(&idp.name);
            if let IdpKind::Local(l) = &idp.kind {
                for u in &l.users {
                    s.directory.extend(u.groups.iter().map(String::as_str));
                }
            }
            if idp.kind.asserts_groups() {
                s.asserting.push(&idp.name);
                s.trusted_idp |= idp.trust.trust_groups;
            }
        }
        s
    }

    /// Why no source provides `group` (lower-case), or `None` if one may.
    fn missing(&self, group: &str) -> Option<String> {
        if let Some((idp, _)) = group.split_once(':')
            && self.all.iter().any(|n| n.eq_ignore_ascii_case(idp))
        {
            return if self.asserting.iter().any(|n| n.eq_ignore_ascii_case(idp)) {
                None
            } else {
                Some(format!(
                    "names idp `{idp}`, which asserts no groups of its own (a local IdP's groups are the directory's: write `group:NAME`)"
                ))
            };
        }
        if self.trusted_idp || self.directory.contains(&group) {
            return None;
        }
        let hint = match self.asserting.first() {
            Some(idp) => {
                format!("; an IdP's groups are named by the IdP, such as `group:{idp}:{group}`")
            }
            None => String::new(),
        };
        Some(format!(
            "has no members: no users file lists it and no idp sets `trust_groups: true`{hint}"
        ))
    }
}
