//! The runtime types: the checked configuration as the program uses it
//! (addresses parsed, paths resolved against the config's folder, defaults
//! filled in, names lower-cased). Only `check/` builds them.

use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The config file itself; other paths were resolved against its folder.
    pub path: PathBuf,
    pub listen: Listen,
    pub admin: Option<Admin>,
    pub trusted_proxies: Vec<IpNet>,
    pub geoip: Option<GeoIp>,
    /// The rule files the `rules` globs matched, sorted, without duplicates.
    pub rule_files: Vec<PathBuf>,
    pub store: Store,
    pub organisation: Organisation,
    pub idps: Vec<Idp>,
    pub apps: Vec<App>,
    /// How long a graceful shutdown waits for in-flight requests (default 30 s).
    pub grace_period: Duration,
    /// Worker threads of the proxy service (default: the number of cores).
    pub threads: Option<usize>,
    /// `server.state_dir`, resolved against the config's folder.
    pub state_dir: Option<PathBuf>,
    /// `server.request_head_timeout` (default 20 s).
    pub request_head_timeout: Duration,
    /// `server.max_connections_per_client` (default 256).
    pub max_connections_per_client: u32,
    /// `server.session_cache_bytes`: the verified-token cache's budget
    /// (default [`crate::session::DEFAULT_CACHE_BYTES`], 64 MiB). Read at
    /// start; a reload does not resize the cache.
    pub session_cache_bytes: u64,
    /// Where the built-in demo app listens, if enabled (quickstart).
    pub demo_app: Option<SocketAddr>,
    /// How e-mail is sent (passcodes, invitations), if configured.
    pub mail: Option<crate::mail::MailConfig>,
    /// Where and how people sign in (`sign_in`). Present whenever an idp of
    /// type oidc, oauth2 or local or `mail` is configured (the check requires it).
    pub sign_in: Option<SignIn>,
    /// Guest lifecycle settings (`guests`).
    pub guests: Guests,
    /// Every `owners: group:NAME` entry and where it is written (for
    /// `check`'s warnings, `warnings.rs`).
    pub owner_groups: Vec<GroupRef>,
    /// Where the settings a newcomer must change before production are
    /// written (for `check`'s warnings, `warnings.rs`).
    pub written: Written,
    /// The decision log (`decision_log`).
    pub decision_log: DecisionLog,
    /// `lint`: what `portcullis rules lint` checks against.
    pub lint: Lint,
    /// `console`: who holds a role in the admin console.
    pub console: Console,
}

/// `console`: the roles of the admin console (`portal::console`). Groups
/// are the directory's own (bare names; never an IdP-qualified group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Console {
    pub admins: Vec<Owner>,
    pub helpdesk: Vec<Owner>,
}

/// `lint`: the settings of `portcullis rules lint`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lint {
    /// Accounts a block on all users of all apps must exclude (only
    /// `UserEntry::Group` and `UserEntry::Email`). Empty: any exclusion.
    pub break_glass: Vec<rules::UserEntry>,
    /// How long a policy may stay report-only (default 30 days).
    pub report_only_max_age: Duration,
}

impl Lint {
    pub const DEFAULT_REPORT_ONLY_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);
}

/// Where some sections of the config file are written (line, column), for
/// warnings that point at them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// `admin:`.
    pub admin: Option<(u64, u64)>,
    /// `demo_app.address`.
    pub demo_app: Option<(u64, u64)>,
    /// Each `idps[]` entry by name (as written).
    pub idps: Vec<(String, u64, u64)>,
}

impl Written {
    /// Where the idp `name` is written (line, column), if it is.
    pub fn idp(&self, name: &str) -> Option<(u64, u64)> {
        self.idps
            .iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name))
            .map(|&(_, line, column)| (line, column))
    }
}

/// A group named in the config, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRef {
    /// Lower-case, as matched.
    pub name: String,
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

/// `decision_log`: what the decision log keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionLog {
    /// How long an entry is kept (default 30 days).
    pub retention: Duration,
    /// The most entries kept (default 1,000,000); 0: the log is off.
    pub max_entries: u64,
    /// The share of allows recorded, 0.0 to 1.0 (default 1.0 on SQLite,
    /// 0.1 on PostgreSQL).
    pub sample_allows: f64,
}

impl DecisionLog {
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
    pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;
    pub const DEFAULT_SAMPLE_SQLITE: f64 = 1.0;
    pub const DEFAULT_SAMPLE_POSTGRES: f64 = 0.1;
}

/// The `sign_in` section: the sign-in endpoints read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignIn {
    /// The lower-case auth host where people sign in; never an app's host.
    pub host: String,
    /// How long a browser session lasts after sign-in (default
    /// [`SignIn::DEFAULT_SESSION_LIFETIME`], at most
    /// [`SignIn::MAX_SESSION_LIFETIME`]).
    pub session_lifetime: Duration,
    /// IdPs offered, in this order, for e-mail domains no IdP claims; each
    /// names an idp of type oidc, oauth2 or local. Default empty.
    pub idp_order: Vec<String>,
    /// What an e-mail no IdP serves gets.
    pub fallback: Fallback,
    /// Terms of use linked from the consent page; their version is recorded
    /// with each consent. Default none.
    pub terms: Option<Terms>,
    /// One-time e-mail passcodes (used when `fallback` is passcode).
    pub passcode: PasscodeSettings,
    /// What a client is to the per-client limits, and their bound.
    pub rate_limits: RateLimits,
    /// `passkeys.sign_in`: a guest without an IdP may sign in with a
    /// passkey alone (default false).
    pub passkey_sign_in: bool,
}

impl SignIn {
    pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
    pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
}

/// `sign_in.fallback`: for e-mails that no IdP serves.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// A one-time code sent by e-mail (requires `mail`); the default when
    /// `mail` is configured.
    Passcode,
    /// No sign-in; the default without `mail`.
    None,
}

/// `sign_in.terms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Recorded with each consent; a new version asks everyone again.
    pub version: String,
    /// An http(s) URL the consent page links.
    pub url: String,
}

/// `sign_in.passcode`: one-time e-mail codes and their rate limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasscodeSettings {
    /// How long a code is valid (default 10m, at most 1h).
    pub ttl: Duration,
    /// Wrong guesses before a code is void (default 5, at most 10).
    pub max_attempts: u32,
    /// Codes sent to one address per `window` (default 5).
    pub per_address: u32,
    /// Codes requested from one client (see [`RateLimits`]) per `window`
    /// (default 20).
    pub per_ip: u32,
    /// The rate-limit window (default 1h).
    pub window: Duration,
    /// How long "send a new code" waits after a code was asked for
    /// (default 30s, at most 5m): a mail takes a moment to arrive, and a
    /// new code too soon replaces the one on its way.
    pub resend_after: Duration,
}

impl Default for PasscodeSettings {
    fn default() -> Self {
        PasscodeSettings {
            ttl: Duration::from_secs(600),
            max_attempts: 5,
            per_address: 5,
            per_ip: 20,
            window: Duration::from_secs(3600),
            resend_after: Duration::from_secs(30),
        }
    }
}

/// `sign_in.rate_limits`: how the per-client limits of the sign-in host
/// (passwords, passcodes, sign-up e-mails) key their clients, and how many
/// counters each keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// An IPv6 client is the network of this many leading bits of its
    /// address (default 64, from 32 to 128); an IPv4 client is its address.
    pub ipv6_prefix: u8,
    /// Counters each limit keeps per window (default 100 000, at least
    /// 100); a key not yet counted when they are all taken is refused until
    /// the window ends (`Store::hit_rate_limits`).
    pub max_counters: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            ipv6_prefix: 64,
            max_counters: 100_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Listen {
    pub http: Option<SocketAddr>,
    pub https: Option<Https>,
}

#[derive(Clone, Debug)]
pub struct Https {
    pub address: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Admin {
    pub address: SocketAddr,
    pub token_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct GeoIp {
    pub country_db: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Clone, Debug)]
pub struct Organisation {
    pub name: String,
    /// Lower-case domains whose users are members; everyone else is a guest.
    pub member_domains: Vec<String>,
    /// `organisation.logo`: a checked file (served at `/.portcullis/logo`)
    /// or an `https://` URL.
    pub logo: Option<AppIcon>,
    /// `organisation.language` (default English).
    pub language: crate::i18n::Lang,
    /// `organisation.accent_colour`, `#rrggbb` (lower-case), checked for
    /// contrast.
    pub accent_colour: Option<String>,
    pub support: Option<Support>,
    /// The templates of `organisation.templates_dir`, read and compiled by
    /// `check` (empty when it is not set).
    pub templates: std::sync::Arc<crate::templates::Overrides>,
}

pub use crate::templates::Support;

impl Organisation {
    /// What the mailer needs of the organisation: its language, help desk
    /// and template overrides.
    pub fn mail_branding(&self) -> crate::mail::Branding {
        crate::mail::Branding {
            language: self.language,
            support: self.support.clone(),
            templates: self.templates.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Idp {
    pub name: String,
    pub kind: IdpKind,
    /// What its claims count for (`crate::trust`), whatever its type; set
    /// by the check from the entry's `domains`, `trust_groups`, `mfa` and
    /// `mfa_values`.
    pub trust: crate::trust::IdpTrust,
}

impl IdpKind {
    /// Whether IdPs of this kind assert groups of their own (qualified by
    /// the IdP's name). A local IdP's groups are the directory's.
    pub fn asserts_groups(&self) -> bool {
        match self {
            IdpKind::Jwt { .. } | IdpKind::Oidc(_) | IdpKind::Saml(_) => true,
            IdpKind::Oauth2(_) | IdpKind::Local(_) => false,
        }
    }
}

#[derive(Clone, Debug)]
pub enum IdpKind {
    /// Bearer tokens for API clients, verified against the issuer's keys.
    Jwt {
        issuer: String,
        audience: String,
        jwks: JwksSource,
        algorithms: Vec<String>,
        groups_claim: Option<String>,
        /// Lower-case e-mail domains its tokens may assert; empty: any
        /// domain but the organisation's member domains. Its users are
        /// members only for a member domain listed here.
        domains: Vec<String>,
    },
    /// A partner's OpenID Provider for browser sign-in.
    Oidc(Box<crate::oidc::OidcIdpConfig>),
    /// An OAuth 2.0 provider without OpenID Connect (GitHub, Facebook,
    /// generic) for browser sign-in.
    Oauth2(Box<crate::oauth2::Oauth2IdpConfig>),
    /// Accounts with passwords in a users file (break-glass accounts, demo
    /// identities), loaded and checked with the config.
    Local(Arc<crate::local_idp::LocalIdp>),
    /// A partner's SAML 2.0 IdP for browser sign-in.
    Saml(Arc<crate::saml::SamlIdp>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// Signature algorithms accepted for bearer tokens unless an IdP narrows
/// them. Never `none`, never HMAC: a shared secret cannot come from a JWKS.
pub const DEFAULT_JWT_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

#[derive(Clone, Debug)]
pub struct App {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    /// The access panel tile's picture (`apps[].icon`).
    pub icon: Option<AppIcon>,
    /// Lower-case host names, without port.
    pub hosts: Vec<String>,
    /// Route only paths under this prefix (default: the whole host). With
    /// several apps on one host, the longest matching prefix wins.
    pub path_prefix: Option<String>,
    pub upstreams: Vec<Upstream>,
    /// Paths that skip the policy check (exact, or a prefix when ending in `/`).
    pub public_paths: Vec<String>,
    /// Send the client's `Host` to the upstream (default true); otherwise the
    /// upstream's own address.
    pub preserve_host: bool,
    pub upstream_tls: UpstreamTls,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub health_check: HealthCheck,
    pub on_unauthenticated: OnUnauthenticated,
    /// Let CORS pre-flight `OPTIONS` requests through without a session.
    pub allow_cors_preflight: bool,
    /// Forward the gateway's session cookie to the upstream (default false).
    pub forward_session_cookie: bool,
    /// Forward an `Authorization: Bearer` the gateway consumed (default false).
    pub forward_authorization: bool,
    /// Who manages this app's guests (invite, extend, remove, approve).
    pub owners: Vec<Owner>,
    /// Self-service sign-up, when enabled.
    pub sign_up: Option<SignUp>,
}

/// `apps[].icon`: a file read when the config is loaded (so `check` finds
/// a missing or unreadable one), or a URL the browser loads itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppIcon {
    File(IconFile),
    /// An `https://` URL.
    Url(String),
}

/// An icon file's bytes and what to answer them with.
#[derive(Clone, PartialEq, Eq)]
pub struct IconFile {
    pub bytes: std::sync::Arc<[u8]>,
    pub content_type: &'static str,
    /// A digest of the bytes, in the icon's URL: the answer may be cached
    /// for a year, and a changed file gets a new URL.
    pub version: String,
}

impl std::fmt::Debug for IconFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IconFile({}, {} bytes)",
            self.content_type,
            self.bytes.len()
        )
    }
}

/// An app owner: a person by e-mail (lower-case) or every member of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Email(String),
    Group(String),
}

impl Owner {
    /// Whether the user with this e-mail and these (lower-case) groups owns.
    pub fn matches(&self, email: &str, groups: &[String]) -> bool {
        match self {
            Owner::Email(e) => e.eq_ignore_ascii_case(email),
            Owner::Group(g) => groups.iter().any(|x| x == g),
        }
    }
}

/// `apps[].sign_up`: partners may ask for access themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignUp {
    /// Allowed e-mail domains (lower-case); empty: any.
    pub domains: Vec<String>,
    /// IdPs offered on the sign-up page (names); empty: the usual discovery.
    pub idps: Vec<String>,
    /// Extra answers to collect (e.g. company, reason).
    pub attributes: Vec<Attribute>,
    pub approval: Approval,
    /// How long approved access lasts (default 30 days).
    pub access_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// `[a-z0-9_]+`, unique in the app.
    pub name: String,
    pub label: String,
    pub required: bool,
}

/// Who approves a sign-up request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// An owner of the app (they are told by e-mail).
    Owner,
    /// Nobody: requests from the allowed `domains` are approved at once.
    Automatic,
}

/// `guests`: what happens as guest access runs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guests {
    /// How long an invitation link works (default 14 days, at most 90).
    pub invitation_lifetime: Duration,
    /// Reminder e-mails to the guest and the app's owners this long before
    /// an assignment ends (default 7 days).
    pub reminder_before: Duration,
    /// What happens when a guest's last assignment ends (default none).
    pub on_last_assignment_end: LifecycleAction,
    /// With `delete`: blocked at once, deleted this long after (default 30 days).
    pub delete_after: Duration,
}

impl Default for Guests {
    fn default() -> Self {
        Guests {
            invitation_lifetime: Duration::from_secs(14 * 86_400),
            reminder_before: Duration::from_secs(7 * 86_400),
            on_last_assignment_end: LifecycleAction::None,
            delete_after: Duration::from_secs(30 * 86_400),
        }
    }
}

/// `guests.on_last_assignment_end` (as Entra's external-user lifecycle).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LifecycleAction {
    None,
    Block,
    /// Block, then delete after `delete_after`.
    Delete,
}

/// One upstream server of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`.
    pub address: String,
    pub tls: bool,
}

#[derive(Clone, Debug, Default)]
pub struct UpstreamTls {
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (self-signed on-premises apps). Explicit only.
    pub insecure_skip_verify: bool,
    /// Server name to send and verify; default: the upstream's host.
    pub sni: Option<String>,
}

#[derive(Clone, Debug)]
pub struct HealthCheck {
    /// HTTP `GET` path that must answer 2xx or 3xx; `None`: a TCP connect.
    pub path: Option<String>,
    pub interval: Duration,
}

/// What an app's unauthenticated or under-authenticated requests get.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OnUnauthenticated {
    /// Browsers (navigations) are redirected, API clients get 401.
    Auto,
    /// Always redirect.
    Redirect,
    /// Always 401 (single-page apps that must never get a cross-origin 302).
    Deny,
}
