//! The compiled policy model: what `compile` produces from rule files and
//! `evaluate` reads. Immutable once built; share it behind an `Arc`.

use crate::error::SourcePos;
use crate::paths::PathCondition;
use geoip::{Country, LocationSet, LocationTable};
use rustc_hash::FxHashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An app's position in [`RuleSet::apps`]; the gateway resolves it once when
/// it routes a request.
pub type AppId = u32;

/// Whether a policy is enforced, only reported, or skipped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Enabled,
    ReportOnly,
    Disabled,
}

impl State {
    pub const NAMES: &'static [&'static str] = &["enabled", "report_only", "disabled"];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::ReportOnly => "report_only",
            State::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        match s {
            "enabled" => Some(State::Enabled),
            "report_only" => Some(State::ReportOnly),
            "disabled" => Some(State::Disabled),
            _ => None,
        }
    }
}

/// Whether a user belongs to the organisation (`member`) or is an external
/// partner (`guest`). One type for rules, sessions and the store.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserType {
    Guest,
    Member,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Guest => "guest",
            UserType::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<UserType> {
        match s {
            "guest" => Some(UserType::Guest),
            "member" => Some(UserType::Member),
            _ => None,
        }
    }
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant control a policy can require.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Control {
    /// Multi-factor authentication of any kind: a trusted IdP's `amr`/`acr`,
    /// Portcullis TOTP, or a passkey.
    Mfa,
    /// Phishing-resistant MFA (Entra's "authentication strengths"): a
    /// passkey used in this session, or an IdP trusted for MFA whose
    /// `amr`/`acr` names one of its `phishing_resistant_values`. A TOTP code
    /// never meets it: a code can be relayed by a phishing page.
    PhishingResistantMfa,
}

impl Control {
    pub const NAMES: &'static [&'static str] = &["mfa", "phishing_resistant_mfa"];

    pub fn as_str(self) -> &'static str {
        match self {
            Control::Mfa => "mfa",
            Control::PhishingResistantMfa => "phishing_resistant_mfa",
        }
    }

    pub fn parse(s: &str) -> Option<Control> {
        match s {
            "mfa" => Some(Control::Mfa),
            "phishing_resistant_mfa" => Some(Control::PhishingResistantMfa),
            _ => None,
        }
    }

    /// The weakest MFA strength that meets this control.
    pub fn strength(self) -> MfaStrength {
        match self {
            Control::Mfa => MfaStrength::Mfa,
            Control::PhishingResistantMfa => MfaStrength::PhishingResistant,
        }
    }
}

/// How strong the multi-factor authentication behind a session is, weakest
/// first: each strength meets every control a weaker one meets. The
/// gateway works it out from the session (see `SessionClaims::mfa_strength`);
/// rule test cases state it as `mfa: false | true | phishing_resistant`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum MfaStrength {
    /// No second factor.
    #[default]
    None,
    /// A second factor that a phishing page could relay (TOTP, SMS, push,
    /// an IdP's plain `mfa`).
    Mfa,
    /// A second factor bound to the origin (a passkey / FIDO2, a smart card,
    /// Windows Hello for Business).
    PhishingResistant,
}

impl MfaStrength {
    pub const NAMES: &'static [&'static str] = &["none", "mfa", "phishing_resistant"];

    pub fn as_str(self) -> &'static str {
        match self {
            MfaStrength::None => "none",
            MfaStrength::Mfa => "mfa",
            MfaStrength::PhishingResistant => "phishing_resistant",
        }
    }

    pub fn parse(s: &str) -> Option<MfaStrength> {
        match s {
            "none" => Some(MfaStrength::None),
            "mfa" => Some(MfaStrength::Mfa),
            "phishing_resistant" => Some(MfaStrength::PhishingResistant),
            _ => None,
        }
    }

    /// Whether a session of this strength meets `control`.
    pub fn meets(self, control: Control) -> bool {
        self >= control.strength()
    }

    /// Any multi-factor authentication at all.
    pub fn is_mfa(self) -> bool {
        self >= MfaStrength::Mfa
    }
}

impl fmt::Display for MfaStrength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a policy's own control list needs all or one of its controls.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Operator {
    #[default]
    All,
    Any,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    Block,
    Require {
        controls: Vec<Control>,
        operator: Operator,
    },
}

/// One entry of a `users` list, as written (lower-cased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserEntry {
    All,
    Guests,
    Members,
    Group(Box<str>),
    Domain(Box<str>),
    Email(Box<str>),
}

impl fmt::Display for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserEntry::All => f.write_str("all"),
            UserEntry::Guests => f.write_str("guests"),
            UserEntry::Members => f.write_str("members"),
            UserEntry::Group(g) => write!(f, "group:{g}"),
            UserEntry::Domain(d) => write!(f, "domain:{d}"),
            UserEntry::Email(e) => f.write_str(e),
        }
    }
}

impl UserEntry {
    pub(crate) fn matches(&self, user: &User<'_>) -> bool {
        match self {
            UserEntry::All => true,
            UserEntry::Guests => user.user_type == UserType::Guest,
            UserEntry::Members => user.user_type == UserType::Member,
            UserEntry::Group(g) => user.groups.iter().any(|ug| ug.eq_ignore_ascii_case(g)),
            UserEntry::Domain(d) => user.domain().eq_ignore_ascii_case(d),
            UserEntry::Email(e) => user.email.eq_ignore_ascii_case(e),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct UserCondition {
    pub include: Vec<UserEntry>,
    pub exclude: Vec<UserEntry>,
}

impl UserCondition {
    /// True when the condition matches whoever signs in: `include: [all]`
    /// and no exclusions. Only such policies can decide an anonymous request.
    pub fn is_everyone(&self) -> bool {
        self.exclude.is_empty() && self.include.contains(&UserEntry::All)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct AppCondition {
    pub all: bool,
    pub include: Vec<AppId>,
    pub exclude: Vec<AppId>,
}

/// A condition over a small closed vocabulary (platforms, client apps),
/// compiled to bit masks.
#[derive(Copy, Clone, Debug)]
pub(crate) struct MaskCondition {
    pub include: u8,
    pub exclude: u8,
}

#[derive(Clone, Debug)]
pub(crate) struct LocationCondition {
    pub include_all: bool,
    pub include: LocationSet,
    pub exclude: LocationSet,
    /// As written, for explanations (`trusted`, names).
    pub include_names: Vec<String>,
    pub exclude_names: Vec<String>,
}

/// A compiled policy. Conditions left out of the file are `None` (any).
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: Arc<str>,
    pub description: Option<String>,
    pub state: State,
    pub source: SourcePos,
    pub grant: Option<Grant>,
    pub sign_in_frequency: Option<Duration>,
    pub(crate) users: UserCondition,
    pub(crate) apps: AppCondition,
    pub(crate) platforms: Option<MaskCondition>,
    pub(crate) client_apps: Option<MaskCondition>,
    pub(crate) locations: Option<LocationCondition>,
    pub(crate) paths: Option<PathCondition>,
    pub(crate) methods: Option<u16>,
    /// `since:`, the date the policy got its state (for `rules lint`), and
    /// where it is written.
    pub since: Option<(time::Date, SourcePos)>,
}

impl Policy {
    /// Whether the policy has a `locations` condition: a block by it is
    /// told to the person as a location refusal (reason `location`).
    pub fn has_location_condition(&self) -> bool {
        self.locations.is_some()
    }

    /// Whether the policy has a `platforms` condition (reason
    /// `device_platform` for its blocks).
    pub fn has_platform_condition(&self) -> bool {
        self.platforms.is_some()
    }

    /// Everything that decides what the policy does, without where it was
    /// written: equal fingerprints mean the same rule (used to report what a
    /// reload changed).
    pub fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.state,
            self.grant,
            self.sign_in_frequency,
            self.users,
            self.apps,
            self.platforms,
            self.client_apps,
            self.locations,
            self.paths
                .as_ref()
                .map(|p| (&p.include_patterns, &p.exclude_patterns)),
            self.methods,
            self.description,
        )
    }
}

#[derive(Clone, Debug)]
pub struct NamedLocation {
    pub name: String,
    pub trusted: bool,
    pub ranges: Vec<ipnet::IpNet>,
    pub countries: Vec<Country>,
    pub source: SourcePos,
}

/// What a decision checks first, packed in 8 bytes per policy so that
/// rejecting most candidates never touches the (large, scattered) `Policy`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Hot {
    pub disabled: bool,
    pub platform_include: u8,
    pub platform_exclude: u8,
    pub client_include: u8,
    pub client_exclude: u8,
    /// Method mask; `u16::MAX` when the policy has no `methods` list.
    pub methods: u16,
}

impl Hot {
    pub fn of(p: &Policy) -> Hot {
        let (pi, pe) = p.platforms.map_or((u8::MAX, 0), |m| (m.include, m.exclude));
        let (ci, ce) = p
            .client_apps
            .map_or((u8::MAX, 0), |m| (m.include, m.exclude));
        Hot {
            disabled: p.state == State::Disabled,
            platform_include: pi,
            platform_exclude: pe,
            client_include: ci,
            client_exclude: ce,
            methods: p.methods.unwrap_or(u16::MAX),
        }
    }

    /// False when the policy surely does not apply; true means "check it".
    /// `method_bit` is 0 for a method outside the list of known ones, which
    /// only a policy without a `methods` list can match.
    #[inline]
    pub fn may_apply(&self, platform: u8, client: u8, method_bit: u16) -> bool {
        !self.disabled
            && self.platform_include & platform != 0
            && self.platform_exclude & platform == 0
            && self.client_include & client != 0
            && self.client_exclude & client == 0
            && (self.methods == u16::MAX || self.methods & method_bit != 0)
    }
}

/// Candidate policies for one app scope, keyed by what a user can match, so
/// that a decision looks only at policies that can apply to this user.
/// Lists hold policy indices in file order.
#[derive(Clone, Debug, Default)]
pub(crate) struct UserIndex {
    pub everyone: Vec<u32>,
    /// `everyone` ∪ `guests` and `everyone` ∪ `members`, merged once at
    /// compile time: the two big lists every signed-in request starts from.
    pub guests_or_everyone: Vec<u32>,
    pub members_or_everyone: Vec<u32>,
    pub guests: Vec<u32>,
    pub members: Vec<u32>,
    pub by_group: FxHashMap<Box<str>, Vec<u32>>,
    pub by_domain: FxHashMap<Box<str>, Vec<u32>>,
    pub by_email: FxHashMap<Box<str>, Vec<u32>>,
}

/// The whole compiled policy set: immutable, indexed by app and user, swapped
/// whole on reload.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) policies: Vec<Policy>,
    /// `Hot::of` each policy, same order.
    pub(crate) hot: Vec<Hot>,
    pub(crate) apps: Vec<Arc<str>>,
    pub(crate) app_ids: FxHashMap<Box<str>, AppId>,
    pub(crate) locations: Vec<NamedLocation>,
    pub(crate) location_table: LocationTable,
    /// Policies with `apps: include: [all]`.
    pub(crate) all_apps: UserIndex,
    /// Per app (by `AppId`): policies naming that app.
    pub(crate) per_app: Vec<UserIndex>,
    pub(crate) tests: Vec<crate::cases::RuleTest>,
    pub(crate) files: Vec<PathBuf>,
    /// The text each of `files` had when it was compiled (same order): what
    /// the admin console shows as the rules in force, even after the file
    /// changed on disk.
    pub(crate) texts: Vec<Arc<str>>,
    /// Every `group:NAME` the policies name (lower-case), where written.
    pub(crate) group_refs: Vec<(Box<str>, crate::SourcePos)>,
}

impl RuleSet {
    /// The app id for a configured app name, or `None` if the configuration
    /// has no such app.
    pub fn app_id(&self, name: &str) -> Option<AppId> {
        self.app_ids.get(name).copied()
    }

    pub fn app_name(&self, id: AppId) -> Option<&str> {
        self.apps.get(id as usize).map(|a| &**a)
    }

    pub fn apps(&self) -> &[Arc<str>] {
        &self.apps
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn named_locations(&self) -> &[NamedLocation] {
        &self.locations
    }

    /// The named locations an address (and its GeoIP country) falls in.
    pub fn locations_of(&self, ip: Option<IpAddr>, country: Country) -> LocationSet {
        self.location_table.matching(ip, country)
    }

    pub fn location_names(&self, set: &LocationSet) -> Vec<&str> {
        set.iter()
            .filter_map(|i| self.locations.get(i).map(|l| l.name.as_str()))
            .collect()
    }

    pub fn tests(&self) -> &[crate::cases::RuleTest] {
        &self.tests
    }

    /// Every `group:NAME` the policies' `users` name (lower-case, as
    /// matched) and where it is written, in file order; `portcullis check`
    /// warns about names no source of groups can provide.
    pub fn group_references(&self) -> impl Iterator<Item = (&str, &crate::SourcePos)> {
        self.group_refs.iter().map(|(g, p)| (&**g, p))
    }

    /// The rule files this set was built from.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Each rule file with the text it was compiled from, in load order.
    pub fn sources(&self) -> impl Iterator<Item = (&std::path::Path, &str)> {
        self.files
            .iter()
            .zip(&self.texts)
            .map(|(f, t)| (f.as_path(), &**t))
    }
}

/// The signed-in user, as the evaluator sees them.
#[derive(Clone, Copy, Debug)]
pub struct User<'a> {
    /// Lower-case e-mail address (the gateway normalises it at sign-in).
    pub email: &'a str,
    pub user_type: UserType,
    pub groups: &'a [String],
    /// For a guest: holds a live (unexpired) assignment to the requested app.
    /// Ignored for members.
    pub assigned: bool,
}

impl User<'_> {
    /// The home domain: what follows the last `@` of the e-mail.
    pub fn domain(&self) -> &str {
        self.email.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// The facts a decision is made on, built once per request by the gateway
/// (or from flags by `whatif`, or from a rule test case).
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// `None`: not signed in.
    pub user: Option<User<'a>>,
    pub app: AppId,
    /// The normalised path, the one that will be forwarded.
    pub path: &'a str,
    pub method: &'a str,
    pub ip: Option<IpAddr>,
    pub country: Country,
    pub platform: crate::platform::Platform,
    pub client_app: crate::platform::ClientApp,
    /// The strength of the session's multi-factor authentication.
    pub mfa: MfaStrength,
    /// Time since the user signed in (`None` when not signed in).
    pub signed_in_ago: Option<Duration>,
}
