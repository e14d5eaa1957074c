//! `portcullis check`'s warnings: things that load and run but are almost
//! certainly not what was meant. Printed with their position; they never
//! fail the check (exit 0).
//!
//! Today one kind: a rule's `users` or an app's `owners:` naming a group
//! that no source can provide. Since issue 15 an IdP's groups are named
//! `IDP:GROUP` and a bare name is the directory's, so a rule written before
//! (`group:engineers` meant for a partner's IdP) silently stops matching;
//! this says so.

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
            "names a group no source provides: no local users file has it and no idp sets `trust_groups: true`{hint}"
        ))
    }
}
