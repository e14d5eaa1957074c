//! From rule files to a [`RuleSet`]: parse every file, check every value,
//! collect every error (not only the first), then build the indexes.

use crate::cases;
use crate::duration::parse_duration;
use crate::error::{RuleError, RuleErrorKind, SourcePos, closest};
use crate::file::{GrantFile, IncludeExclude, NamedLocationFile, PolicyFile, RuleFile, S};
use crate::model::*;
use crate::paths::{METHODS, PathCondition, check_pattern, method_bit};
use crate::platform::{ClientApp, Platform};
use geoip::{Country, LocationSet, LocationTableBuilder};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the rules need to know from the gateway configuration.
#[derive(Clone, Debug, Default)]
pub struct CompileContext {
    /// App names from the configuration, in order (their index is the
    /// [`AppId`]).
    pub apps: Vec<String>,
}

impl RuleSet {
    /// Reads and compiles rule files. On failure returns every error found,
    /// in file order; nothing is half-built.
    pub fn load(files: &[PathBuf], ctx: &CompileContext) -> Result<RuleSet, Vec<RuleError>> {
        let mut sources = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for file in files {
            match std::fs::read_to_string(file) {
                Ok(text) => sources.push((file.clone(), text)),
                Err(e) => errors.push(RuleError {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    kind: RuleErrorKind::Io(e.to_string()),
                }),
            }
        }
        match RuleSet::from_sources(&sources, ctx) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }

    /// Compiles rule files already in memory: `(file name, YAML text)`.
    pub fn from_sources(
        sources: &[(PathBuf, String)],
        ctx: &CompileContext,
    ) -> Result<RuleSet, Vec<RuleError>> {
        let mut c = Compiler::new(ctx);
        let mut parsed = Vec::new();
        for (file, text) in sources {
            if let Some(f) = c.parse(file, text) {
                parsed.push((file.as_path(), f));
            }
        }
        // Locations first: policies in any file may name them.
        for (file, f) in &parsed {
            for loc in &f.named_locations {
                c.location(file, loc);
            }
        }
        for (file, f) in &parsed {
            for p in &f.policies {
                c.policy(file, p);
            }
        }
        // Every policy written, even one with errors, so a test naming it
        // does not add a second, misleading error.
        let policy_names: Vec<String> = parsed
            .iter()
            .flat_map(|(_, f)| f.policies.iter().map(|p| p.value.name.value.clone()))
            .collect();
        let mut tests = Vec::new();
        for (file, f) in &parsed {
            for t in &f.tests {
                match cases::compile_test(file, t, &policy_names, ctx) {
                    Ok(test) => {
                        c.unique("test", &test.name, &test.source);
                        tests.push(test);
                    }
                    Err(mut e) => c.errors.append(&mut e),
                }
            }
        }
        if !c.errors.is_empty() {
            let order = |f: &PathBuf| {
                sources
                    .iter()
                    .position(|(s, _)| s == f)
                    .unwrap_or(usize::MAX)
            };
            c.errors.sort_by_key(|e| (order(&e.file), e.line, e.column));
            return Err(c.errors);
        }
        Ok(c.finish(
            tests,
            sources
                .iter()
                .map(|(f, text)| (f.clone(), Arc::from(text.as_str())))
                .collect(),
        ))
    }
}

pub(crate) fn pos<T>(file: &Path, s: &S<T>) -> SourcePos {
    SourcePos {
        file: file.to_path_buf(),
        line: s.referenced.line(),
        column: s.referenced.column(),
    }
}

/// A condition's entries after the shape checks: whether `include` was
/// `[all]`, then the other include and the exclude entries.
type Shape<'a> = (bool, Vec<&'a S<String>>, Vec<&'a S<String>>);

struct Compiler<'c> {
    ctx: &'c CompileContext,
    errors: Vec<RuleError>,
    /// Name → where it was first defined, per kind, to report duplicates.
    seen: FxHashMap<(&'static str, String), SourcePos>,
    locations: Vec<NamedLocation>,
    policies: Vec<Policy>,
    app_ids: FxHashMap<Box<str>, AppId>,
    /// Every `group:NAME` a policy names, with where (for `check`'s
    /// warning about groups no source provides).
    group_refs: Vec<(Box<str>, SourcePos)>,
}

impl<'c> Compiler<'c> {
    fn new(ctx: &'c CompileContext) -> Self {
        let app_ids = ctx
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| (a.as_str().into(), i as AppId))
            .collect();
        Compiler {
            ctx,
            errors: Vec::new(),
            seen: FxHashMap::default(),
            locations: Vec::new(),
            policies: Vec::new(),
            app_ids,
            group_refs: Vec::new(),
        }
    }

    fn parse(&mut self, file: &Path, text: &str) -> Option<RuleFile> {
        // An empty file (or only comments) is an empty rule file.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Some(RuleFile::default());
        }
        match serde_saphyr::from_str::<RuleFile>(text) {
            Ok(f) => Some(f),
            Err(e) => {
                self.errors.push(RuleError::from_yaml(file, &e));
                None
            }
        }
    }

    fn unique(&mut self, what: &'static str, name: &str, at: &SourcePos) -> bool {
        match self.seen.entry((what, name.to_string())) {
            Entry::Occupied(first) => {
                let first = first.get().to_string();
                self.errors.push(at.error(RuleErrorKind::Duplicate {
                    what,
                    name: name.to_string(),
                    first,
                }));
                false
            }
            Entry::Vacant(v) => {
                v.insert(at.clone());
                true
            }
        }
    }

    fn name(&mut self, file: &Path, name: &S<String>) -> Option<SourcePos> {
        let at = pos(file, name);
        if name.value.trim().is_empty() {
            self.errors.push(at.error(RuleErrorKind::EmptyName));
            return None;
        }
        Some(at)
    }

    fn location(&mut self, file: &Path, loc: &S<NamedLocationFile>) {
        let l = &loc.value;
        let Some(at) = self.name(file, &l.name) else {
            return;
        };
        let unique = self.unique("named location", &l.name.value, &at);
        let mut ranges = Vec::new();
        for r in &l.ip_ranges {
            match parse_cidr(&r.value) {
                Ok(net) => ranges.push(net),
                Err(kind) => self.errors.push(pos(file, r).error(kind)),
            }
        }
        let mut countries = Vec::new();
        for c in &l.countries {
            match Country::parse(&c.value) {
                Ok(country) => countries.push(country),
                Err(e) => self
                    .errors
                    .push(pos(file, c).error(RuleErrorKind::UnknownCountry {
                        value: c.value.clone(),
                        suggestion: e.suggestion.map(|s| s.to_string()),
                    })),
            }
        }
        if l.ip_ranges.is_empty() && l.countries.is_empty() {
            self.errors.push(at.error(RuleErrorKind::EmptyLocation {
                name: l.name.value.clone(),
            }));
        }
        if unique {
            self.locations.push(NamedLocation {
                name: l.name.value.clone(),
                trusted: l.trusted,
                ranges,
                countries,
                source: at,
            });
        }
    }

    fn policy(&mut self, file: &Path, p: &S<PolicyFile>) {
        let f = &p.value;
        let Some(at) = self.name(file, &f.name) else {
            return;
        };
        let unique = self.unique("policy", &f.name.value, &at);
        let before = self.errors.len();

        let state = match &f.state {
            None => State::Enabled,
            Some(s) => self
                .word(file, s, "a policy state", State::NAMES, State::parse)
                .unwrap_or(State::Disabled),
        };
        let users = self.users(file, &f.users);
        let apps = self.apps(file, &f.apps);
        let platforms = f.platforms.as_ref().map(|c| {
            self.mask(file, c, "platforms", "a platform", &platform_names(), |s| {
                Platform::parse(s).map(Platform::bit)
            })
        });
        let client_apps = f.client_apps.as_ref().map(|c| {
            self.mask(
                file,
                c,
                "client_apps",
                "a client app type",
                &["browser", "api"],
                |s| ClientApp::parse(s).map(ClientApp::bit),
            )
        });
        let locations = f
            .locations
            .as_ref()
            .map(|c| self.locations_condition(file, c));
        let paths = f.paths.as_ref().and_then(|c| self.paths(file, c));
        let methods = f.methods.as_ref().map(|m| self.methods(file, m));
        let grant = f.grant.as_ref().and_then(|g| self.grant(file, g));
        let sign_in_frequency = f
            .session
            .as_ref()
            .and_then(|s| s.value.sign_in_frequency.as_ref())
            .and_then(|d| match parse_duration(&d.value) {
                Some(d) => Some(d),
                None => {
                    self.errors
                        .push(pos(file, d).error(RuleErrorKind::BadDuration {
                            value: d.value.clone(),
                        }));
                    None
                }
            });
        let since = f.since.as_ref().and_then(|d| match parse_date(&d.value) {
            Some(date) => Some((date, pos(file, d))),
            None => {
                self.errors.push(pos(file, d).error(RuleErrorKind::BadDate {
                    value: d.value.clone(),
                }));
                None
            }
        });
        if f.grant.is_none() && sign_in_frequency.is_none() && self.errors.len() == before {
            self.errors.push(at.error(RuleErrorKind::NothingToDo));
        }
        if self.errors.len() != before || !unique {
            return;
        }
        self.policies.push(Policy {
            name: Arc::from(f.name.value.as_str()),
            description: f.description.clone(),
            state,
            source: at,
            grant,
            sign_in_frequency,
            users,
            apps,
            platforms,
            client_apps,
            locations,
            paths,
            methods,
            since,
        });
    }

    /// A word from a closed vocabulary, with a suggestion when it is close.
    fn word<T>(
        &mut self,
        file: &Path,
        s: &S<String>,
        what: &'static str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let v = parse(&s.value);
        if v.is_none() {
            self.errors
                .push(pos(file, s).error(RuleErrorKind::UnknownWord {
                    what,
                    value: s.value.clone(),
                    suggestion: closest(&s.value, names.iter().copied()),
                    allowed: names.join(", "),
                }));
        }
        v
    }

    /// Checks the include/exclude shape shared by every condition and returns
    /// the entries, `all` removed from `include` (reported as the bool).
    fn shape<'a>(
        &mut self,
        file: &Path,
        c: &'a S<IncludeExclude>,
        field: &str,
    ) -> Option<Shape<'a>> {
        let at = pos(file, c);
        let Some(include) = &c.value.include else {
            self.errors.push(at.error(RuleErrorKind::MissingInclude {
                field: field.to_string(),
            }));
            return None;
        };
        if include.value.is_empty() {
            self.errors
                .push(pos(file, include).error(RuleErrorKind::EmptyInclude {
                    field: format!("{field}.include"),
                }));
            return None;
        }
        let all = include.value.iter().any(|e| e.value == "all");
        if all && include.value.len() > 1 {
            self.errors
                .push(pos(file, include).error(RuleErrorKind::AllWithOthers {
                    field: format!("{field}.include"),
                }));
        }
        if let Some(e) = c.value.exclude.iter().find(|e| e.value == "all") {
            self.errors
                .push(pos(file, e).error(RuleErrorKind::ExcludeAll {
                    field: format!("{field}.exclude"),
                }));
        }
        let include = include.value.iter().filter(|e| e.value != "all").collect();
        let exclude = c
            .value
            .exclude
            .iter()
            .filter(|e| e.value != "all")
            .collect();
        Some((all, include, exclude))
    }

    fn users(&mut self, file: &Path, c: &S<IncludeExclude>) -> UserCondition {
        let Some((all, include, exclude)) = self.shape(file, c, "users") else {
            return UserCondition::default();
        };
        let mut cond = UserCondition::default();
        if all {
            cond.include.push(UserEntry::All);
        }
        for e in include {
            if let Some(u) = self.user_entry(file, e) {
                cond.include.push(u);
            }
        }
        for e in exclude {
            if let Some(u) = self.user_entry(file, e) {
                cond.exclude.push(u);
            }
        }
        cond
    }

    fn user_entry(&mut self, file: &Path, e: &S<String>) -> Option<UserEntry> {
        let v = e.value.trim();
        let bad = |kind| pos(file, e).error(kind);
        let entry = match v {
            "guests" => Some(UserEntry::Guests),
            "members" => Some(UserEntry::Members),
            _ if let Some(g) = v.strip_prefix("group:") => {
                let g: Box<str> = g.trim().to_ascii_lowercase().into();
                if !g.is_empty() {
                    self.group_refs.push((g.clone(), pos(file, e)));
                }
                (!g.is_empty()).then_some(UserEntry::Group(g))
            }
            _ if let Some(d) = v.strip_prefix("domain:") => {
                valid_domain(d).then(|| UserEntry::Domain(d.to_ascii_lowercase().into()))
            }
            _ if v.contains('@') => {
                valid_email(v).then(|| UserEntry::Email(v.to_ascii_lowercase().into()))
            }
            _ => {
                self.errors.push(bad(RuleErrorKind::UnknownWord {
                    what: "a user",
                    value: v.to_string(),
                    suggestion: closest(v, ["all", "guests", "members"]),
                    allowed:
                        "all, guests, members, group:NAME, domain:example.com, or an e-mail address"
                            .into(),
                }));
                return None;
            }
        };
        if entry.is_none() {
            self.errors.push(bad(RuleErrorKind::BadUser {
                value: v.to_string(),
            }));
        }
        entry
    }

    fn apps(&mut self, file: &Path, c: &S<IncludeExclude>) -> AppCondition {
        let Some((all, include, exclude)) = self.shape(file, c, "apps") else {
            return AppCondition::default();
        };
        AppCondition {
            all,
            include: include
                .into_iter()
                .filter_map(|e| self.app(file, e))
                .collect(),
            exclude: exclude
                .into_iter()
                .filter_map(|e| self.app(file, e))
                .collect(),
        }
    }

    fn app(&mut self, file: &Path, e: &S<String>) -> Option<AppId> {
        let id = self.app_ids.get(e.value.as_str()).copied();
        if id.is_none() {
            self.errors
                .push(pos(file, e).error(RuleErrorKind::UnknownApp {
                    name: e.value.clone(),
                    suggestion: closest(&e.value, self.ctx.apps.iter().map(String::as_str)),
                }));
        }
        id
    }

    fn mask(
        &mut self,
        file: &Path,
        c: &S<IncludeExclude>,
        field: &str,
        what: &'static str,
        names: &[&str],
        bit: impl Fn(&str) -> Option<u8>,
    ) -> MaskCondition {
        let Some((all, include, exclude)) = self.shape(file, c, field) else {
            return MaskCondition {
                include: 0,
                exclude: 0,
            };
        };
        let mut allowed: Vec<&str> = vec!["all"];
        allowed.extend_from_slice(names);
        let to_mask = |entries: Vec<&S<String>>, this: &mut Self| {
            entries
                .into_iter()
                .filter_map(|e| this.word(file, e, what, &allowed, &bit))
                .fold(0u8, |m, b| m | b)
        };
        let include = if all { u8::MAX } else { to_mask(include, self) };
        let exclude = to_mask(exclude, self);
        MaskCondition { include, exclude }
    }

    fn locations_condition(&mut self, file: &Path, c: &S<IncludeExclude>) -> LocationCondition {
        let mut cond = LocationCondition {
            include_all: false,
            include: LocationSet::new(),
            exclude: LocationSet::new(),
            include_names: Vec::new(),
            exclude_names: Vec::new(),
        };
        let Some((all, include, exclude)) = self.shape(file, c, "locations") else {
            return cond;
        };
        cond.include_all = all;
        if all {
            cond.include_names.push("all".into());
        }
        for (entries, set, names) in [
            (include, &mut cond.include, &mut cond.include_names),
            (exclude, &mut cond.exclude, &mut cond.exclude_names),
        ] {
            for e in entries {
                names.push(e.value.clone());
                if e.value == "trusted" {
                    for (i, l) in self.locations.iter().enumerate() {
                        if l.trusted {
                            set.insert(i);
                        }
                    }
                } else if let Some(i) = self.locations.iter().position(|l| l.name == e.value) {
                    set.insert(i);
                } else {
                    let mut names: Vec<&str> =
                        self.locations.iter().map(|l| l.name.as_str()).collect();
                    names.extend(["all", "trusted"]);
                    self.errors
                        .push(pos(file, e).error(RuleErrorKind::UnknownLocation {
                            name: e.value.clone(),
                            suggestion: closest(&e.value, names),
                        }));
                }
            }
        }
        cond
    }

    fn paths(&mut self, file: &Path, c: &S<IncludeExclude>) -> Option<PathCondition> {
        let (all, include, exclude) = self.shape(file, c, "paths")?;
        let mut ok = true;
        for e in include.iter().chain(exclude.iter()) {
            if let Err(detail) = check_pattern(&e.value) {
                ok = false;
                self.errors
                    .push(pos(file, e).error(RuleErrorKind::BadPathPattern {
                        value: e.value.clone(),
                        detail,
                    }));
            }
        }
        if !ok {
            return None;
        }
        let mut inc: Vec<String> = include.iter().map(|e| e.value.clone()).collect();
        if all {
            inc.push("/**".into());
        }
        let exc: Vec<String> = exclude.iter().map(|e| e.value.clone()).collect();
        match PathCondition::build(&inc, &exc) {
            Ok(p) => Some(p),
            Err((_, _, detail)) => {
                self.errors
                    .push(pos(file, c).error(RuleErrorKind::BadPathPattern {
                        value: "paths".into(),
                        detail,
                    }));
                None
            }
        }
    }

    fn methods(&mut self, file: &Path, m: &S<Vec<S<String>>>) -> u16 {
        if m.value.is_empty() {
            self.errors
                .push(pos(file, m).error(RuleErrorKind::EmptyInclude {
                    field: "methods".into(),
                }));
        }
        m.value
            .iter()
            .filter_map(|e| {
                self.word(file, e, "an HTTP method", METHODS, |s| {
                    let b = method_bit(s);
                    (b != 0 && s == s.to_ascii_uppercase()).then_some(b)
                })
            })
            .fold(0, |acc, b| acc | b)
    }

    fn grant(&mut self, file: &Path, g: &S<GrantFile>) -> Option<Grant> {
        match &g.value {
            GrantFile::Word(w) if w == "block" => Some(Grant::Block),
            GrantFile::Word(w) => {
                self.errors
                    .push(pos(file, g).error(RuleErrorKind::UnknownWord {
                        what: "a grant",
                        value: w.clone(),
                        suggestion: closest(w, ["block"]),
                        allowed: "block, or { require: [mfa, phishing_resistant_mfa], operator: all | any }"
                            .into(),
                    }));
                None
            }
            GrantFile::Require { require, operator } => {
                if require.value.is_empty() {
                    self.errors
                        .push(pos(file, require).error(RuleErrorKind::EmptyRequire));
                }
                let controls: Vec<Control> = require
                    .value
                    .iter()
                    .filter_map(|c| {
                        self.word(file, c, "a grant control", Control::NAMES, Control::parse)
                    })
                    .collect();
                let operator = match operator {
                    None => Operator::All,
                    Some(o) => self
                        .word(file, o, "an operator", &["all", "any"], |s| match s {
                            "all" => Some(Operator::All),
                            "any" => Some(Operator::Any),
                            _ => None,
                        })
                        .unwrap_or_default(),
                };
                Some(Grant::Require { controls, operator })
            }
        }
    }

    fn finish(self, tests: Vec<cases::RuleTest>, sources: Vec<(PathBuf, Arc<str>)>) -> RuleSet {
        let (files, texts) = sources.into_iter().unzip();
        let mut table = LocationTableBuilder::new();
        for (i, l) in self.locations.iter().enumerate() {
            table.add(i, &l.ranges, &l.countries);
        }
        let mut all_apps = UserIndex::default();
        let mut per_app = vec![UserIndex::default(); self.ctx.apps.len()];
        for (i, p) in self.policies.iter().enumerate() {
            // Disabled policies are never candidates; `explain` still lists them.
            if p.state == State::Disabled {
                continue;
            }
            if p.apps.all {
                index_users(&mut all_apps, i as u32, &p.users);
            } else {
                for &app in &p.apps.include {
                    if let Some(ix) = per_app.get_mut(app as usize) {
                        index_users(ix, i as u32, &p.users);
                    }
                }
            }
        }
        for ix in std::iter::once(&mut all_apps).chain(per_app.iter_mut()) {
            ix.guests_or_everyone =
                crate::eval::merge_sorted(&[&ix.everyone, &ix.guests]).into_owned();
            ix.members_or_everyone =
                crate::eval::merge_sorted(&[&ix.everyone, &ix.members]).into_owned();
        }
        RuleSet {
            group_refs: self.group_refs,
            hot: self.policies.iter().map(Hot::of).collect(),
            policies: self.policies,
            apps: self
                .ctx
                .apps
                .iter()
                .map(|a| Arc::from(a.as_str()))
                .collect(),
            app_ids: self.app_ids,
            locations: self.locations,
            location_table: table.build(),
            all_apps,
            per_app,
            tests,
            files,
            texts,
        }
    }
}

fn index_users(ix: &mut UserIndex, policy: u32, users: &UserCondition) {
    fn push(list: &mut Vec<u32>, policy: u32) {
        if list.last() != Some(&policy) {
            list.push(policy);
        }
    }
    for e in &users.include {
        match e {
            UserEntry::All => push(&mut ix.everyone, policy),
            UserEntry::Guests => push(&mut ix.guests, policy),
            UserEntry::Members => push(&mut ix.members, policy),
            UserEntry::Group(g) => push(ix.by_group.entry(g.clone()).or_default(), policy),
            UserEntry::Domain(d) => push(ix.by_domain.entry(d.clone()).or_default(), policy),
            UserEntry::Email(m) => push(ix.by_email.entry(m.clone()).or_default(), policy),
        }
    }
}

fn platform_names() -> Vec<&'static str> {
    Platform::ALL.iter().map(|p| p.as_str()).collect()
}

/// A CIDR range; a bare address is a single-host range. Host bits set
/// (`10.0.0.1/8`) are an error: the author meant something, we do not guess.
pub(crate) fn parse_cidr(text: &str) -> Result<IpNet, RuleErrorKind> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match text.parse::<std::net::IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(RuleErrorKind::BadCidr { value: text.into() }),
        },
    };
    if net.trunc() != net {
        return Err(RuleErrorKind::CidrHostBits {
            value: text.into(),
            network: net.trunc().to_string(),
        });
    }
    Ok(net)
}

/// A calendar date written `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), format).ok()
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn valid_email(e: &str) -> bool {
    match e.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && !local.contains('@')
                && valid_domain(domain)
        }
        None => false,
    }
}
