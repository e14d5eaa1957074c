//! `portcullis.yaml`: file types that mirror what the operator wrote (with
//! spans), then [`Config`], the checked runtime form. Paths are relative to
//! the config file. Unknown fields are errors; every error carries
//! `file:line:column`.

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

type S<T> = Spanned<T>;

/// One problem in the configuration, rendered `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", .file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

// ---------------------------------------------------------------- file types
//
// The file types derive `JsonSchema` (`portcullis schema config`): their doc
// comments are the reference's descriptions (docs/config-reference.md), and
// `#[schemars(...)]` gives string fields the shape the checker below accepts.
// Say the default and the unit in the doc; keep `extend("default" = …)` in
// step with the checker.

/// `portcullis.yaml`, the gateway's configuration. Paths are relative to
/// this file. Unknown fields are errors. Check with `portcullis check
/// --config FILE`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Portcullis configuration (portcullis.yaml)")]
struct ConfigFile {
    /// Where the gateway accepts client traffic: `http`, `https` or both.
    #[schemars(with = "ListenFile")]
    listen: S<ListenFile>,
    /// The admin listener: `/metrics`, `/healthz`, `/readyz` and the admin
    /// API under `/api/`. Never expose it publicly. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<AdminFile>")]
    admin: Option<S<AdminFile>>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed
    /// when working out the client IP (CIDR ranges or single addresses).
    /// Default: none, the peer address is the client.
    #[serde(default)]
    #[schemars(with = "Vec<rules::schema::IpRange>", example = ["10.0.0.0/8"])]
    trusted_proxies: Vec<S<String>>,
    /// The GeoIP country database for `countries` in named locations.
    /// Default: none (every address has country `unknown`).
    #[serde(default)]
    geoip: Option<GeoIpFile>,
    /// Rule files: paths or globs, relative to this file; each must match at
    /// least one file. Reloaded on `SIGHUP` and on change.
    #[schemars(with = "Vec<String>", length(min = 1), example = ["rules/*.yaml"])]
    rules: S<Vec<S<String>>>,
    /// The state store (sessions' revocations, guests, invitations, keys).
    /// Default: SQLite at `var/portcullis.db` beside this file.
    #[serde(default)]
    #[schemars(with = "Option<StoreFile>")]
    store: Option<S<StoreFile>>,
    /// Who runs the gateway, and whose users are members.
    organisation: OrganisationFile,
    /// Identity providers: `jwt` (bearer tokens of API clients), `oidc`
    /// (browser sign-in with a partner's OpenID Provider) and `local`
    /// (accounts with passwords in a users file). Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<IdpFile>")]
    idps: Vec<S<IdpFile>>,
    /// The apps behind the gateway; at least one.
    #[schemars(with = "Vec<AppFile>", length(min = 1))]
    apps: S<Vec<S<AppFile>>>,
    /// Process settings: shutdown grace period, worker threads.
    #[serde(default)]
    server: Option<ServerFile>,
    /// The built-in demo app that shows what the gateway tells an app
    /// (quickstart). Default: off.
    #[serde(default)]
    demo_app: Option<DemoAppFile>,
    /// How e-mail is sent (sign-in passcodes, invitations, reminders):
    /// `outbox` (a folder of `.eml` files) or `smtp`. Default: no e-mail.
    #[serde(default)]
    #[schemars(with = "Option<crate::mail::MailFile>")]
    mail: Option<S<crate::mail::MailFile>>,
    /// Where and how people sign in. Required once an idp of type `oidc` or
    /// `local`, or `mail`, is configured.
    #[serde(default)]
    #[schemars(with = "Option<SignInFile>")]
    sign_in: Option<S<SignInFile>>,
    /// The guest lifecycle: invitation lifetime, reminders, what happens
    /// when access ends.
    #[serde(default)]
    guests: Option<GuestsFile>,
}

/// The sign-in endpoints, served on their own host.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SignInFile {
    /// The host where people sign in (lower case, no scheme, port or path);
    /// never an app's host, so no app can script the sign-in pages.
    #[schemars(with = "crate::schema::HostName", example = "auth.example.com")]
    host: S<String>,
    /// How long a browser session lasts after sign-in, at most `30d`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(SignIn::DEFAULT_SESSION_LIFETIME)))]
    session_lifetime: Option<S<String>>,
    /// IdPs (of type `oidc` or `local`) offered, in this order, for e-mail
    /// domains no IdP claims. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    idp_order: Option<S<Vec<S<String>>>>,
    /// What an e-mail no IdP serves gets: `passcode` (a one-time code by
    /// e-mail; needs `mail`) or `none`. Default: `passcode` with `mail`,
    /// else `none`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("enum" = ["passcode", "none"]))]
    fallback: Option<S<String>>,
    /// Terms of use linked from the consent page. Default: none.
    #[serde(default)]
    terms: Option<TermsFile>,
    /// One-time e-mail passcodes and their rate limits.
    #[serde(default)]
    passcode: Option<PasscodeFile>,
}

/// Terms of use that guests accept once per version.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TermsFile {
    /// Recorded with each consent; a new version asks everyone again.
    #[schemars(with = "String", length(min = 1), example = "2026-01")]
    version: S<String>,
    /// An http(s) URL the consent page links.
    #[schemars(with = "crate::schema::HttpUrl")]
    url: S<String>,
}

/// `sign_in.passcode`: one-time codes sent by e-mail.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PasscodeFile {
    /// How long a code is valid, at most `1h`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(PasscodeSettings::default().ttl)))]
    ttl: Option<S<String>>,
    /// Wrong guesses before a code is void (1 to 10).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 10), extend("default" = PasscodeSettings::default().max_attempts))]
    max_attempts: Option<S<u32>>,
    /// Codes sent to one address per `window`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = PasscodeSettings::default().per_address))]
    per_address: Option<S<u32>>,
    /// Codes requested from one client IP per `window`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = PasscodeSettings::default().per_ip))]
    per_ip: Option<S<u32>>,
    /// The rate-limit window.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(PasscodeSettings::default().window)))]
    window: Option<S<String>>,
}

/// The built-in demo app.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DemoAppFile {
    /// Where it listens; point an app's `upstreams` at it.
    #[schemars(with = "crate::schema::SocketAddress", example = "127.0.0.1:9001")]
    address: S<String>,
}

/// The public listeners; at least one of `http` and `https`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [{ "required": ["http"] }, { "required": ["https"] }]))]
struct ListenFile {
    /// Plain HTTP listener address.
    #[serde(default)]
    #[schemars(
        with = "Option<crate::schema::SocketAddress>",
        example = "127.0.0.1:8080"
    )]
    http: Option<S<String>>,
    /// TLS listener.
    #[serde(default)]
    https: Option<HttpsFile>,
}

/// The TLS listener.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HttpsFile {
    /// Listener address.
    #[schemars(with = "crate::schema::SocketAddress", example = "[::]:443")]
    address: S<String>,
    /// PEM certificate chain file (relative to this file).
    #[schemars(with = "String")]
    cert: S<String>,
    /// PEM private key file (relative to this file).
    #[schemars(with = "String")]
    key: S<String>,
}

/// The admin listener.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    /// Listener address; must differ from the public listeners.
    #[schemars(with = "crate::schema::SocketAddress", example = "127.0.0.1:9090")]
    address: S<String>,
    /// A file holding the bearer token of the admin API (`/api/`). Default:
    /// none, the API is off (`/metrics` and the probes stay on).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    token_file: Option<S<String>>,
}

/// The GeoIP database.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GeoIpFile {
    /// A MaxMind-format country database (`.mmdb`), reloaded when it
    /// changes.
    #[schemars(with = "String", example = "geoip/GeoLite2-Country.mmdb")]
    country_db: S<String>,
}

/// The state store: exactly one of `sqlite` and `postgres`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["sqlite"] }, { "required": ["postgres"] }]))]
struct StoreFile {
    /// An SQLite database file (one node), created if missing.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "var/portcullis.db")]
    sqlite: Option<S<String>>,
    /// A PostgreSQL URL (several replicas share it). Prefer a secret-free
    /// URL and the standard `PG*` environment variables for the password.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^postgres(ql)?://"),
        example = "postgres://portcullis@db.internal/portcullis"
    )]
    postgres: Option<S<String>>,
}

/// The organisation that runs the gateway.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrganisationFile {
    /// Shown on the sign-in, consent and access pages and in e-mails.
    #[schemars(with = "String", length(min = 1), example = "Tailwind Traders")]
    name: S<String>,
    /// E-mail domains whose users are members; everyone else is a guest.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["tailwindtraders.com"])]
    member_domains: Vec<S<String>>,
    /// An image file shown on the pages. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    logo: Option<S<String>>,
}

/// An identity provider. Which fields apply depends on `type`; a field of
/// another type is an error.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdpFile {
    /// Unique name, used in logs, metrics, sessions and `idp_order`.
    #[schemars(with = "String")]
    name: S<String>,
    /// `jwt`: bearer tokens of API clients, verified against the issuer's
    /// keys. `oidc`: browser sign-in with a partner's OpenID Provider.
    /// `local`: accounts with passwords in `users_file`.
    #[serde(rename = "type")]
    #[schemars(with = "String", extend("enum" = IDP_TYPES))]
    kind: S<String>,
    /// (jwt, oidc) The issuer, exactly as the tokens' `iss` and the
    /// discovery document say. Required for jwt; optional for oidc with a
    /// `microsoft` or `google` preset.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    issuer: Option<S<String>>,
    /// (jwt, required) The `aud` the tokens must carry.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    audience: Option<S<String>>,
    /// (jwt) A JWKS file with the issuer's keys. Exactly one of `jwks_file`
    /// and `jwks_url`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    jwks_file: Option<S<String>>,
    /// (jwt) An http(s) URL of the issuer's JWKS.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::HttpUrl>")]
    jwks_url: Option<S<String>>,
    /// (jwt) Signature algorithms accepted; never `none` or HMAC. Default
    /// `RS256`, `PS256`, `ES256`, `EdDSA`.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        extend("items" = { "type": "string", "enum": JWT_ALGORITHMS }, "default" = DEFAULT_JWT_ALGORITHMS)
    )]
    algorithms: Option<Vec<S<String>>>,
    /// (jwt, oidc) The claim holding the user's groups.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = crate::oidc::DEFAULT_GROUPS_CLAIM))]
    groups_claim: Option<S<String>>,
    // `type: oidc` (see `crate::oidc::OidcIdpFile`):
    /// (oidc) Provider quirks: `microsoft` (Entra ID; a multi-tenant
    /// authority is checked per tenant), `google` (Workspace `hd` checked
    /// against `domains`) or `generic`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["generic", "microsoft", "google"], "default" = "generic")
    )]
    preset: Option<S<String>>,
    /// (oidc, required) The client id registered at the IdP.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    client_id: Option<S<String>>,
    /// (oidc) A file holding the client secret, re-read on reload. One of
    /// `client_secret_file` and `client_secret_env`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    client_secret_file: Option<S<String>>,
    /// (oidc) An environment variable holding the client secret.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    client_secret_env: Option<S<String>>,
    /// Never accepted: a secret in a reviewed config file leaks through
    /// backups and reviews. Use `client_secret_file` or `client_secret_env`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("deprecated" = true, "not" = {}))]
    client_secret: Option<S<String>>,
    /// (oidc) Scopes to request; must include `openid`.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        extend("default" = crate::oidc::DEFAULT_SCOPES)
    )]
    scopes: Option<S<Vec<S<String>>>>,
    /// (oidc, local) E-mail domains this IdP answers for (home-realm
    /// discovery); a sign-in with an e-mail in another domain is refused.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["contoso.com"])]
    domains: Vec<S<String>>,
    /// (oidc, local) `trusted`: the IdP's `amr` with a second factor counts
    /// as MFA. `untrusted`: Portcullis asks for its own second factor.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["trusted", "untrusted"], "default" = "untrusted")
    )]
    mfa: Option<S<String>>,
    // `type: local` (see `crate::local_idp`):
    /// (local, required) The users file: accounts with argon2id password
    /// hashes (`portcullis schema users` gives its schema).
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "users.yaml")]
    users_file: Option<S<String>>,
}

/// An app behind the gateway.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AppFile {
    /// Unique name, used by rule files (`apps`), metrics and the assertion's
    /// `aud`: letters, digits, `-` and `_`; not `all`.
    #[schemars(with = "crate::schema::AppName")]
    name: S<String>,
    /// Shown on the access panel. Default: the name.
    #[serde(default)]
    title: Option<String>,
    /// Shown on the access panel. Default: none.
    #[serde(default)]
    description: Option<String>,
    /// Host names the app is served on (no scheme, port or path); at least
    /// one.
    #[schemars(with = "Vec<crate::schema::HostName>", length(min = 1), example = ["payroll.example.com"])]
    hosts: S<Vec<S<String>>>,
    /// Route only paths under this prefix. With several apps on one host,
    /// the longest matching prefix wins. Default: the whole host.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::UrlPath>")]
    path_prefix: Option<S<String>>,
    /// Upstream servers, `HOST:PORT` or `https://HOST:PORT`; at least one.
    /// Several are balanced round-robin, skipping unhealthy ones.
    #[schemars(with = "Vec<crate::schema::Upstream>", length(min = 1), example = ["127.0.0.1:9001"])]
    upstreams: S<Vec<S<String>>>,
    /// Paths that skip the policy check: exact, or a prefix when ending in
    /// `/`. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::UrlPath>", example = ["/health"])]
    public_paths: Vec<S<String>>,
    /// Send the client's `Host` to the upstream; `false` sends the
    /// upstream's own address.
    #[serde(default)]
    #[schemars(extend("default" = true))]
    preserve_host: Option<bool>,
    /// TLS to `https://` upstreams.
    #[serde(default)]
    upstream_tls: Option<UpstreamTlsFile>,
    /// Bound on connecting to an upstream.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "5s"))]
    connect_timeout: Option<S<String>>,
    /// Bound on waiting for the upstream's response (between reads).
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "60s"))]
    read_timeout: Option<S<String>>,
    /// Active health checks of the upstreams.
    #[serde(default)]
    health_check: Option<HealthCheckFile>,
    /// What requests without a (good enough) session get: `auto` (browsers
    /// are redirected to sign in, API clients get 401), `redirect` or `deny`
    /// (always 401, for single-page apps).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["auto", "redirect", "deny"], "default" = "auto")
    )]
    on_unauthenticated: Option<S<String>>,
    /// `allow` lets CORS pre-flight `OPTIONS` requests through without a
    /// session.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["allow", "deny"], "default" = "deny")
    )]
    cors_preflight: Option<S<String>>,
    /// Forward the gateway's session cookie to the upstream.
    #[serde(default)]
    forward_session_cookie: bool,
    /// Forward an `Authorization: Bearer` header the gateway consumed.
    #[serde(default)]
    forward_authorization: bool,
    /// Who manages the app's guests (invite, extend, remove, approve):
    /// e-mails or `group:NAME`.
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::Owner>")]
    owners: Vec<S<String>>,
    /// Self-service sign-up: partners ask for access themselves. Default: off.
    #[serde(default)]
    #[schemars(with = "Option<SignUpFile>")]
    sign_up: Option<S<SignUpFile>>,
}

/// `apps[].sign_up`: partners may ask for access.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SignUpFile {
    /// `false` turns sign-up off while keeping the settings.
    #[serde(default)]
    #[schemars(extend("default" = true))]
    enabled: Option<bool>,
    /// Allowed e-mail domains. Default: any.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["fabrikam.com"])]
    domains: Vec<S<String>>,
    /// IdPs (of type `oidc` or `local`) offered on the sign-up page.
    /// Default: the usual discovery by e-mail domain.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    idps: Vec<S<String>>,
    /// Extra answers to collect (company, reason, ...).
    #[serde(default)]
    #[schemars(with = "Vec<AttributeFile>")]
    attributes: Vec<S<AttributeFile>>,
    /// Who approves a request: `owner` (an owner of the app, told by
    /// e-mail) or `automatic` (requests from `domains` are approved at
    /// once; needs `domains`).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["owner", "automatic"], "default" = "owner")
    )]
    approval: Option<S<String>>,
    /// How many days approved access lasts (1 to 366).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 366), extend("default" = 30))]
    access_days: Option<S<u32>>,
}

/// One extra sign-up question.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AttributeFile {
    /// Key of the answer: lower-case letters, digits and `_`; unique in the
    /// app.
    #[schemars(with = "String", regex(pattern = "^[a-z0-9_]+$"), example = &"company")]
    name: S<String>,
    /// The question shown. Default: the name with spaces for `_`.
    #[serde(default)]
    label: Option<String>,
    /// Whether an answer is required.
    #[serde(default)]
    required: bool,
}

/// `guests`: what happens as guest access runs out (as Entra's external
/// user lifecycle).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GuestsFile {
    /// How long an invitation link works, at most `90d`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Guests::default().invitation_lifetime)))]
    invitation_lifetime: Option<S<String>>,
    /// Reminder e-mails to the guest and the app's owners this long before
    /// an assignment ends.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Guests::default().reminder_before)))]
    reminder_before: Option<S<String>>,
    /// When a guest's last assignment ends: `none` (keep the account),
    /// `block` (no sign-in) or `delete` (block, then delete after
    /// `delete_after`).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["none", "block", "delete"], "default" = "none")
    )]
    on_last_assignment_end: Option<S<String>>,
    /// With `delete`: how long after blocking the guest is deleted.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Guests::default().delete_after)))]
    delete_after: Option<S<String>>,
}

/// TLS to the app's `https://` upstreams.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpstreamTlsFile {
    /// A PEM file of CA certificates to trust instead of the system's.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    ca_file: Option<S<String>>,
    /// Accept any certificate (self-signed on-premises apps). Explicit
    /// only; the connection is then not authenticated.
    #[serde(default)]
    insecure_skip_verify: bool,
    /// Server name to send and verify. Default: the upstream's host.
    #[serde(default)]
    sni: Option<String>,
}

/// Active health checks; an unhealthy upstream gets no traffic.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HealthCheckFile {
    /// An HTTP `GET` path that must answer 2xx or 3xx. Default: a TCP
    /// connect.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::UrlPath>", example = "/health")]
    path: Option<S<String>>,
    /// Time between checks.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "5s"))]
    interval: Option<S<String>>,
}

/// Process settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    /// How long a graceful shutdown (`SIGTERM`) waits for in-flight
    /// requests.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "30s"))]
    grace_period: Option<S<String>>,
    /// Worker threads of the proxy service. Default: the number of cores.
    #[serde(default)]
    #[schemars(range(min = 1))]
    threads: Option<usize>,
}

/// The JSON Schema of `portcullis.yaml` (`portcullis schema config`).
pub fn config_file_schema(generator: schemars::SchemaGenerator) -> schemars::Schema {
    generator.into_root_schema_for::<ConfigFile>()
}

// ------------------------------------------------------------- runtime types

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
    /// Where the built-in demo app listens, if enabled (quickstart).
    pub demo_app: Option<SocketAddr>,
    /// How e-mail is sent (passcodes, invitations), if configured.
    pub mail: Option<crate::mail::MailConfig>,
    /// Where and how people sign in (`sign_in`). Present whenever an idp of
    /// type oidc or local or `mail` is configured (the check requires it).
    pub sign_in: Option<SignIn>,
    /// Guest lifecycle settings (`guests`).
    pub guests: Guests,
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
    /// names an idp of type oidc or local. Default empty.
    pub idp_order: Vec<String>,
    /// What an e-mail no IdP serves gets.
    pub fallback: Fallback,
    /// Terms of use linked from the consent page; their version is recorded
    /// with each consent. Default none.
    pub terms: Option<Terms>,
    /// One-time e-mail passcodes (used when `fallback` is passcode).
    pub passcode: PasscodeSettings,
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
    /// Codes requested from one client IP per `window` (default 20).
    pub per_ip: u32,
    /// The rate-limit window (default 1h).
    pub window: Duration,
}

impl Default for PasscodeSettings {
    fn default() -> Self {
        PasscodeSettings {
            ttl: Duration::from_secs(600),
            max_attempts: 5,
            per_address: 5,
            per_ip: 20,
            window: Duration::from_secs(3600),
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
    pub logo: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Idp {
    pub name: String,
    pub kind: IdpKind,
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
    },
    /// A partner's OpenID Provider for browser sign-in.
    Oidc(Box<crate::oidc::OidcIdpConfig>),
    /// Accounts with passwords in a users file (break-glass accounts, demo
    /// identities), loaded and checked with the config.
    Local(Arc<crate::local_idp::LocalIdp>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// Signature algorithms accepted for bearer tokens unless an IdP narrows
/// them. Never `none`, never HMAC: a shared secret cannot come from a JWKS.
pub const DEFAULT_JWT_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];
/// The `type` values of `idps` entries.
const IDP_TYPES: &[&str] = &["jwt", "oidc", "local"];
const JWT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

#[derive(Clone, Debug)]
pub struct App {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
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

// ------------------------------------------------------------------- loading

impl Config {
    /// Reads and checks a config file, reporting every error it can find.
    /// Referenced files are checked for existence here; their contents
    /// (rules, GeoIP) are loaded by their own loaders.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the config file: {e}"),
            }]
        })?;
        Config::from_str(path, &text)
    }

    /// Checks config text as if read from `path` (used by tests).
    pub fn from_str(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
        let file: ConfigFile =
            serde_saphyr::from_str(text).map_err(|e| vec![yaml_error(path, &e)])?;
        let mut c = Checker {
            path,
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            errors: Vec::new(),
        };
        let config = c.config(file);
        if c.errors.is_empty() {
            Ok(config)
        } else {
            // The config's own errors first, then those of files it names.
            c.errors.sort_by(|a, b| {
                (a.file != path, &a.file, a.line, a.column).cmp(&(
                    b.file != path,
                    &b.file,
                    b.line,
                    b.column,
                ))
            });
            Err(c.errors)
        }
    }

    pub fn app_names(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.clone()).collect()
    }
}

/// A YAML error in a config-owned file (the config, a users file).
pub(crate) fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> ConfigError {
    let r = rules::RuleError::from_yaml(path, e);
    ConfigError {
        file: r.file,
        line: r.line,
        column: r.column,
        message: r.kind.to_string(),
    }
}

struct Checker<'p> {
    path: &'p Path,
    dir: PathBuf,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn err<T>(&mut self, at: &S<T>, message: impl fmt::Display) {
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            message: message.to_string(),
        });
    }

    fn err_at(&mut self, line: u64, column: u64, message: String) {
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
        });
    }

    fn addr(&mut self, s: &S<String>) -> Option<SocketAddr> {
        match s.value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    s,
                    format_args!(
                        "`{}` is not an address; use IP:PORT such as 127.0.0.1:8080 or [::]:443",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// A path relative to the config file that must exist.
    fn existing_file(&mut self, s: &S<String>, what: &str) -> PathBuf {
        let p = self.dir.join(&s.value);
        if !p.is_file() {
            self.err(
                s,
                format_args!(
                    "{what} `{}` does not exist (paths are relative to the config file)",
                    p.display()
                ),
            );
        }
        p
    }

    fn duration(&mut self, s: &S<String>) -> Option<Duration> {
        let d = rules::parse_duration(&s.value);
        if d.is_none() {
            self.err(
                s,
                format_args!("`{}` is not a duration; use 30s, 5m or 1h", s.value),
            );
        }
        d
    }

    fn config(&mut self, f: ConfigFile) -> Config {
        let listen = Listen {
            http: f.listen.value.http.as_ref().and_then(|s| self.addr(s)),
            https: f.listen.value.https.as_ref().map(|h| Https {
                address: self
                    .addr(&h.address)
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
                cert: self.existing_file(&h.cert, "certificate file"),
                key: self.existing_file(&h.key, "key file"),
            }),
        };
        if f.listen.value.http.is_none() && f.listen.value.https.is_none() {
            self.err(&f.listen, "`listen` needs `http`, `https` or both");
        }
        let admin = f.admin.as_ref().map(|a| Admin {
            address: self
                .addr(&a.value.address)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            token_file: a
                .value
                .token_file
                .as_ref()
                .map(|t| self.existing_file(t, "admin token file")),
        });
        if let (Some(admin), Some(a)) = (&admin, &f.admin)
            && [listen.http, listen.https.as_ref().map(|h| h.address)]
                .contains(&Some(admin.address))
        {
            // The admin API must never be reachable on the public port.
            self.err(a, "`admin.address` must differ from the public listeners");
        }
        let trusted_proxies = f
            .trusted_proxies
            .iter()
            .filter_map(|s| {
                match s
                    .value
                    .parse::<IpNet>()
                    .or_else(|_| s.value.parse::<std::net::IpAddr>().map(IpNet::from))
                {
                    Ok(n) if n.trunc() == n => Some(n),
                    Ok(n) => {
                        self.err(
                            s,
                            format_args!(
                                "`{}` has host bits set; did you mean `{}`?",
                                s.value,
                                n.trunc()
                            ),
                        );
                        None
                    }
                    Err(_) => {
                        self.err(
                            s,
                            format_args!(
                                "`{}` is not an IP range; use CIDR notation such as 10.0.0.0/8",
                                s.value
                            ),
                        );
                        None
                    }
                }
            })
            .collect();
        let geoip = f.geoip.as_ref().map(|g| GeoIp {
            country_db: self.existing_file(&g.country_db, "GeoIP database"),
        });
        let rule_files = self.rule_files(&f.rules);
        let store = match &f.store {
            None => Store::Sqlite(self.dir.join("var/portcullis.db")),
            Some(s) => match (&s.value.sqlite, &s.value.postgres) {
                (Some(p), None) => Store::Sqlite(self.dir.join(&p.value)),
                (None, Some(url))
                    if url.value.starts_with("postgres://")
                        || url.value.starts_with("postgresql://") =>
                {
                    Store::Postgres(url.value.clone())
                }
                (None, Some(url)) => {
                    self.err(
                        url,
                        "the PostgreSQL URL must start with postgres:// or postgresql://",
                    );
                    Store::Postgres(url.value.clone())
                }
                _ => {
                    self.err(s, "`store` needs exactly one of `sqlite` or `postgres`");
                    Store::Sqlite(PathBuf::new())
                }
            },
        };
        let organisation = Organisation {
            name: f.organisation.name.value.clone(),
            member_domains: f
                .organisation
                .member_domains
                .iter()
                .map(|d| d.value.trim().to_ascii_lowercase())
                .collect(),
            logo: f
                .organisation
                .logo
                .as_ref()
                .map(|l| self.existing_file(l, "logo")),
        };
        if organisation.name.trim().is_empty() {
            self.err(
                &f.organisation.name,
                "`organisation.name` must not be empty",
            );
        }
        // Apps first: a local idp's users file names apps.
        let apps = self.apps(&f.apps);
        let app_names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
        let idps = f
            .idps
            .iter()
            .filter_map(|i| self.idp(i, &organisation.member_domains, &app_names))
            .collect::<Vec<_>>();
        let mut seen = std::collections::HashMap::new();
        for i in &f.idps {
            if let Some(first) = seen.insert(i.value.name.value.clone(), i.referenced.line()) {
                self.err(
                    &i.value.name,
                    format_args!(
                        "idp `{}` is defined twice (first on line {first})",
                        i.value.name.value
                    ),
                );
            }
        }
        let sign_in = self.sign_in(&f, &apps);
        let guests = self.guests(f.guests.as_ref());
        // Owners and sign-up after the idps, which sign-up names.
        let mut apps = apps;
        let idp_files: Vec<&IdpFile> = f.idps.iter().map(|i| &i.value).collect();
        for (app, file) in apps.iter_mut().zip(f.apps.value.iter()) {
            app.owners = self.owners(&file.value);
            app.sign_up = self.sign_up(&file.value, &idp_files);
        }
        let grace_period = f
            .server
            .as_ref()
            .and_then(|s| s.grace_period.as_ref())
            .and_then(|g| self.duration(g))
            .unwrap_or(Duration::from_secs(30));
        Config {
            path: self.path.to_path_buf(),
            listen,
            admin,
            trusted_proxies,
            geoip,
            rule_files,
            store,
            organisation,
            idps,
            apps,
            grace_period,
            threads: f.server.as_ref().and_then(|s| s.threads),
            demo_app: f.demo_app.as_ref().and_then(|d| self.addr(&d.address)),
            mail: f
                .mail
                .as_ref()
                .and_then(|m| match m.value.check(&self.dir) {
                    Ok(c) => Some(c),
                    Err(errors) => {
                        for e in errors {
                            self.err_at(e.line, e.column, e.message);
                        }
                        None
                    }
                }),
            sign_in,
            guests,
        }
    }

    /// `guests`, with defaults.
    fn guests(&mut self, f: Option<&GuestsFile>) -> Guests {
        let mut g = Guests::default();
        let Some(f) = f else { return g };
        if let Some(l) = &f.invitation_lifetime
            && let Some(d) = self.duration(l)
        {
            if d > Duration::from_secs(90 * 86_400) {
                self.err(l, "guests.invitation_lifetime is at most 90d");
            } else {
                g.invitation_lifetime = d;
            }
        }
        if let Some(d) = f.reminder_before.as_ref().and_then(|d| self.duration(d)) {
            g.reminder_before = d;
        }
        if let Some(d) = f.delete_after.as_ref().and_then(|d| self.duration(d)) {
            g.delete_after = d;
        }
        if let Some(a) = &f.on_last_assignment_end {
            g.on_last_assignment_end = match a.value.as_str() {
                "none" => LifecycleAction::None,
                "block" => LifecycleAction::Block,
                "delete" => LifecycleAction::Delete,
                other => {
                    self.err(
                        a,
                        format_args!(
                            "`{other}` is not a choice for guests.on_last_assignment_end (one of: none, block, delete)"
                        ),
                    );
                    LifecycleAction::None
                }
            };
        }
        g
    }

    /// `apps[].sign_up`, checked against the idps.
    fn sign_up(&mut self, app: &AppFile, idps: &[&IdpFile]) -> Option<SignUp> {
        let f = &app.sign_up.as_ref()?.value;
        if f.enabled == Some(false) {
            return None;
        }
        let domains: Vec<String> = f
            .domains
            .iter()
            .map(|d| {
                let v = d.value.trim().trim_start_matches('@').to_ascii_lowercase();
                if !v.contains('.') || v.contains(['@', ' ', '/']) {
                    self.err(d, format_args!("`{}` is not an e-mail domain", d.value));
                }
                v
            })
            .collect();
        let names: Vec<&str> = idps
            .iter()
            .filter(|i| matches!(i.kind.value.as_str(), "oidc" | "local"))
            .map(|i| i.name.value.as_str())
            .collect();
        for i in &f.idps {
            if !names.contains(&i.value.as_str()) {
                let hint = rules::closest(&i.value, names.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                self.err(
                    i,
                    format_args!(
                        "sign_up offers idp `{}`, which is not an idp of type oidc or local{hint}",
                        i.value
                    ),
                );
            }
        }
        let mut attributes: Vec<Attribute> = Vec::new();
        for a in &f.attributes {
            let name = a.value.name.value.clone();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                self.err(
                    &a.value.name,
                    format_args!(
                        "attribute name `{name}` must be lower-case letters, digits and `_`"
                    ),
                );
            }
            if attributes.iter().any(|x| x.name == name) {
                self.err(
                    &a.value.name,
                    format_args!("attribute `{name}` is listed twice"),
                );
            }
            attributes.push(Attribute {
                label: a
                    .value
                    .label
                    .clone()
                    .unwrap_or_else(|| name.replace('_', " ")),
                name,
                required: a.value.required,
            });
        }
        let approval = match f.approval.as_ref() {
            None => Approval::Owner,
            Some(a) => match a.value.as_str() {
                "owner" => Approval::Owner,
                "automatic" => {
                    if domains.is_empty() {
                        self.err(
                            a,
                            "`approval: automatic` needs `domains`: only requests from allowed domains are approved without an owner",
                        );
                    }
                    Approval::Automatic
                }
                other => {
                    self.err(
                        a,
                        format_args!("`{other}` is not a choice for sign_up.approval (one of: owner, automatic)"),
                    );
                    Approval::Owner
                }
            },
        };
        let access_days = match &f.access_days {
            None => 30,
            Some(d) if (1..=366).contains(&d.value) => d.value,
            Some(d) => {
                self.err(d, "sign_up.access_days must be between 1 and 366");
                30
            }
        };
        Some(SignUp {
            domains,
            idps: f.idps.iter().map(|i| i.value.clone()).collect(),
            attributes,
            approval,
            access_days,
        })
    }

    /// `apps[].owners`: e-mails or `group:NAME`.
    fn owners(&mut self, app: &AppFile) -> Vec<Owner> {
        app.owners
            .iter()
            .filter_map(|o| {
                let v = o.value.trim();
                if let Some(g) = v.strip_prefix("group:") {
                    if g.trim().is_empty() {
                        self.err(o, "`group:` needs a group name");
                        return None;
                    }
                    return Some(Owner::Group(g.trim().to_ascii_lowercase()));
                }
                match v.split_once('@') {
                    Some((l, d)) if !l.is_empty() && d.contains('.') && !v.contains(' ') => {
                        Some(Owner::Email(v.to_ascii_lowercase()))
                    }
                    _ => {
                        self.err(
                            o,
                            format_args!("owner `{v}` is not an e-mail address or `group:NAME`"),
                        );
                        None
                    }
                }
            })
            .collect()
    }

    /// `sign_in`: required once anything signs people in (an idp of type
    /// oidc or local, or `mail` for passcodes).
    fn sign_in(&mut self, f: &ConfigFile, apps: &[App]) -> Option<SignIn> {
        let browser_idps: Vec<(&str, &S<String>)> = f
            .idps
            .iter()
            .filter(|i| matches!(i.value.kind.value.as_str(), "oidc" | "local"))
            .map(|i| (i.value.name.value.as_str(), &i.value.kind))
            .collect();
        let Some(s) = &f.sign_in else {
            if let Some((name, kind)) = browser_idps.first() {
                self.err(
                    kind,
                    format_args!(
                        "idp `{name}` of type {} needs `sign_in: {{ host: … }}` (the auth host where people sign in)",
                        kind.value
                    ),
                );
            } else if let Some(m) = &f.mail {
                self.err(
                    m,
                    "`mail` needs `sign_in: { host: … }` (the auth host where people sign in with an e-mailed code)",
                );
            }
            return None;
        };
        let s = &s.value;

        let host = s.host.value.trim().to_string();
        let valid_host = !host.is_empty()
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid_host {
            self.err(
                &s.host,
                format_args!(
                    "`{}` is not a host name (no scheme, port or path); use e.g. auth.example.com",
                    s.host.value
                ),
            );
        } else if host != host.to_ascii_lowercase() {
            self.err(
                &s.host,
                format_args!(
                    "`{host}` must be lower-case; did you mean `{}`?",
                    host.to_ascii_lowercase()
                ),
            );
        } else if let Some(app) = apps.iter().find(|a| a.hosts.contains(&host)) {
            // The sign-in pages must be their own origin: an app served on
            // the same host could script them and read what people type.
            self.err(
                &s.host,
                format_args!(
                    "`{host}` is a host of app `{}`; the sign-in host must be a host of its own",
                    app.name
                ),
            );
        }

        let session_lifetime = match &s.session_lifetime {
            None => SignIn::DEFAULT_SESSION_LIFETIME,
            // `duration` refuses 0 already.
            Some(d) => match self.duration(d) {
                Some(v) if v > SignIn::MAX_SESSION_LIFETIME => {
                    self.err(
                        d,
                        format_args!("`session_lifetime` {} is too long; at most 30d", d.value),
                    );
                    SignIn::MAX_SESSION_LIFETIME
                }
                Some(v) => v,
                None => SignIn::DEFAULT_SESSION_LIFETIME,
            },
        };

        let mut idp_order = Vec::new();
        for entry in s.idp_order.iter().flat_map(|l| &l.value) {
            let name = entry.value.trim();
            match f.idps.iter().find(|i| i.value.name.value == name) {
                None => {
                    let hint = rules::closest(name, browser_idps.iter().map(|(n, _)| *n))
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        entry,
                        format_args!("there is no idp `{name}` in `idps`{hint}"),
                    );
                }
                Some(i) if !matches!(i.value.kind.value.as_str(), "oidc" | "local") => {
                    self.err(
                        entry,
                        format_args!(
                            "idp `{name}` is of type {}; `idp_order` lists idps of type oidc or local",
                            i.value.kind.value
                        ),
                    );
                }
                Some(_) if idp_order.iter().any(|n| n == name) => {
                    self.err(
                        entry,
                        format_args!("idp `{name}` is listed twice in `idp_order`"),
                    );
                }
                Some(_) => idp_order.push(name.to_string()),
            }
        }

        let fallback = match &s.fallback {
            None if f.mail.is_some() => Fallback::Passcode,
            None => Fallback::None,
            Some(v) => match v.value.trim() {
                "passcode" if f.mail.is_none() => {
                    self.err(
                        v,
                        "`fallback: passcode` needs `mail` (the passcode is sent by e-mail); configure `mail` or use `fallback: none`",
                    );
                    Fallback::None
                }
                "passcode" => Fallback::Passcode,
                "none" => Fallback::None,
                other => {
                    let hint = rules::closest(other, ["passcode", "none"])
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        v,
                        format_args!("`{other}` is not a fallback (one of: passcode, none){hint}"),
                    );
                    Fallback::None
                }
            },
        };

        let terms = s.terms.as_ref().map(|t| {
            let version = t.version.value.trim().to_string();
            if version.is_empty() {
                self.err(&t.version, "`terms.version` must not be empty");
            }
            let url = t.url.value.trim().to_string();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                self.err(
                    &t.url,
                    format_args!(
                        "`{url}` is not an http(s) URL; use e.g. https://example.com/terms"
                    ),
                );
            }
            Terms { version, url }
        });

        let mut passcode = PasscodeSettings::default();
        if let Some(p) = &s.passcode {
            if let Some(d) = &p.ttl {
                match self.duration(d) {
                    Some(v) if v > Duration::from_secs(3600) => self.err(
                        d,
                        // A code that lives long is a code that can be guessed
                        // or phished at leisure.
                        "`passcode.ttl` must be at most 1h",
                    ),
                    Some(v) => passcode.ttl = v,
                    None => {}
                }
            }
            if let Some(v) = p.window.as_ref().and_then(|d| self.duration(d)) {
                passcode.window = v;
            }
            if let Some(n) = &p.max_attempts {
                if n.value == 0 || n.value > 10 {
                    // Each wrong guess is a chance at the code: keep few.
                    self.err(n, "`passcode.max_attempts` must be between 1 and 10");
                } else {
                    passcode.max_attempts = n.value;
                }
            }
            for (field, value, slot) in [
                ("per_address", &p.per_address, &mut passcode.per_address),
                ("per_ip", &p.per_ip, &mut passcode.per_ip),
            ] {
                if let Some(n) = value {
                    if n.value == 0 {
                        self.err(n, format_args!("`passcode.{field}` must be at least 1"));
                    } else {
                        *slot = n.value;
                    }
                }
            }
        }

        Some(SignIn {
            host: host.to_ascii_lowercase(),
            session_lifetime,
            idp_order,
            fallback,
            terms,
            passcode,
        })
    }

    fn rule_files(&mut self, patterns: &S<Vec<S<String>>>) -> Vec<PathBuf> {
        if patterns.value.is_empty() {
            self.err(patterns, "`rules` lists no file; a gateway without rules would only check sign-in and assignments");
        }
        let mut files = Vec::new();
        for p in &patterns.value {
            let full = self.dir.join(&p.value);
            let matched: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
                Ok(paths) => paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect(),
                Err(e) => {
                    self.err(
                        p,
                        format_args!("`{}` is not a valid glob: {}", p.value, e.msg),
                    );
                    continue;
                }
            };
            if matched.is_empty() {
                self.err(p, format_args!("`{}` matches no file", p.value));
            }
            files.extend(matched);
        }
        files.sort();
        files.dedup();
        files
    }

    fn idp(&mut self, i: &S<IdpFile>, member_domains: &[String], apps: &[String]) -> Option<Idp> {
        let f = &i.value;
        let name = f.name.value.clone();
        const JWT: &[&str] = &["jwt"];
        const OIDC: &[&str] = &["oidc"];
        const LOCAL: &[&str] = &["local"];
        for (field, set, types) in [
            ("issuer", f.issuer.is_some(), &["jwt", "oidc"][..]),
            ("audience", f.audience.is_some(), JWT),
            ("jwks_file", f.jwks_file.is_some(), JWT),
            ("jwks_url", f.jwks_url.is_some(), JWT),
            ("algorithms", f.algorithms.is_some(), JWT),
            (
                "groups_claim",
                f.groups_claim.is_some(),
                &["jwt", "oidc"][..],
            ),
            ("preset", f.preset.is_some(), OIDC),
            ("client_id", f.client_id.is_some(), OIDC),
            ("client_secret_file", f.client_secret_file.is_some(), OIDC),
            ("client_secret_env", f.client_secret_env.is_some(), OIDC),
            ("client_secret", f.client_secret.is_some(), OIDC),
            ("scopes", f.scopes.is_some(), OIDC),
            ("domains", !f.domains.is_empty(), &["oidc", "local"][..]),
            ("mfa", f.mfa.is_some(), &["oidc", "local"][..]),
            ("users_file", f.users_file.is_some(), LOCAL),
        ] {
            let kind = f.kind.value.as_str();
            if set && IDP_TYPES.contains(&kind) && !types.contains(&kind) {
                self.err(
                    i,
                    format_args!(
                        "`{field}` is for idps of type {}, not {kind}",
                        types.join(" or ")
                    ),
                );
            }
        }
        match f.kind.value.as_str() {
            "jwt" => {
                let mut required = |field: &Option<S<String>>, what: &str| match field {
                    Some(v) => v.value.clone(),
                    None => {
                        self.err(i, format_args!("idp `{name}` of type jwt needs `{what}`"));
                        String::new()
                    }
                };
                let issuer = required(&f.issuer, "issuer");
                let audience = required(&f.audience, "audience");
                let jwks = match (&f.jwks_file, &f.jwks_url) {
                    (Some(p), None) => JwksSource::File(self.existing_file(p, "JWKS file")),
                    (None, Some(u))
                        if u.value.starts_with("https://") || u.value.starts_with("http://") =>
                    {
                        JwksSource::Url(u.value.clone())
                    }
                    (None, Some(u)) => {
                        self.err(u, "`jwks_url` must be an http(s) URL");
                        return None;
                    }
                    _ => {
                        self.err(
                            i,
                            format_args!(
                                "idp `{name}` needs exactly one of `jwks_file` or `jwks_url`"
                            ),
                        );
                        return None;
                    }
                };
                let algorithms = match &f.algorithms {
                    None => DEFAULT_JWT_ALGORITHMS.iter().map(|s| s.to_string()).collect(),
                    Some(list) => list
                        .iter()
                        .filter_map(|a| {
                            if JWT_ALGORITHMS.contains(&a.value.as_str()) {
                                Some(a.value.clone())
                            } else {
                                self.err(a, format_args!(
                                    "`{}` is not an allowed signature algorithm (one of: {}; `none` and HMAC are never accepted)",
                                    a.value,
                                    JWT_ALGORITHMS.join(", ")
                                ));
                                None
                            }
                        })
                        .collect(),
                };
                Some(Idp {
                    name,
                    kind: IdpKind::Jwt {
                        issuer,
                        audience,
                        jwks,
                        algorithms,
                        groups_claim: f.groups_claim.as_ref().map(|g| g.value.clone()),
                    },
                })
            }
            "oidc" => self.oidc_idp(i, name),
            "local" => self.local_idp(i, name, member_domains, apps),
            other => {
                let hint = rules::closest(other, IDP_TYPES.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                self.err(
                    &f.kind,
                    format_args!(
                        "`{other}` is not an idp type (one of: {}){hint}",
                        IDP_TYPES.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// `type: local`: checks the entry, then loads and checks its users file
    /// (errors there carry the users file's name and positions).
    fn local_idp(
        &mut self,
        i: &S<IdpFile>,
        name: String,
        member_domains: &[String],
        apps: &[String],
    ) -> Option<Idp> {
        let f = &i.value;
        let mut domains = Vec::new();
        for d in &f.domains {
            let v = d.value.trim().to_ascii_lowercase();
            let ok = v.contains('.')
                && !v.starts_with('.')
                && !v.ends_with('.')
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if ok {
                domains.push(v);
            } else {
                self.err(
                    d,
                    format_args!(
                        "`{}` is not a domain; write it like contoso.com (no @, no wildcard)",
                        d.value
                    ),
                );
            }
        }
        let mfa_trusted = match f.mfa.as_ref() {
            None => false,
            Some(m) => match m.value.trim() {
                "trusted" => true,
                "untrusted" => false,
                other => {
                    let hint = rules::closest(other, ["trusted", "untrusted"])
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        m,
                        format_args!(
                            "`{other}` is not an mfa setting (one of: trusted, untrusted){hint}"
                        ),
                    );
                    false
                }
            },
        };
        let Some(users_file) = &f.users_file else {
            self.err(
                i,
                format_args!("idp `{name}` of type local needs `users_file`"),
            );
            return None;
        };
        let path = self.existing_file(users_file, "users file");
        if !path.is_file() {
            return None;
        }
        let cx = crate::local_idp::LoadContext {
            member_domains,
            apps,
        };
        match crate::local_idp::LocalIdp::load(&name, domains, mfa_trusted, &path, cx) {
            Ok(idp) => Some(Idp {
                name,
                kind: IdpKind::Local(Arc::new(idp)),
            }),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    /// `type: oidc`: the `oidc` module checks its own fields.
    fn oidc_idp(&mut self, i: &S<IdpFile>, name: String) -> Option<Idp> {
        let f = &i.value;
        let Some(client_id) = f.client_id.clone() else {
            self.err(
                i,
                format_args!("idp `{name}` of type oidc needs `client_id`"),
            );
            return None;
        };
        let file = crate::oidc::OidcIdpFile {
            name: f.name.clone(),
            kind: f.kind.clone(),
            preset: f.preset.clone(),
            issuer: f.issuer.clone(),
            client_id,
            client_secret_file: f.client_secret_file.clone(),
            client_secret_env: f.client_secret_env.clone(),
            client_secret: f.client_secret.clone(),
            scopes: f.scopes.clone(),
            domains: f.domains.clone(),
            groups_claim: f.groups_claim.clone(),
            mfa: f.mfa.clone(),
        };
        match file.check(&self.dir) {
            Ok(c) => Some(Idp {
                name,
                kind: IdpKind::Oidc(Box::new(c)),
            }),
            Err(errors) => {
                for (line, column, message) in errors {
                    self.err_at(line, column, message);
                }
                None
            }
        }
    }

    fn apps(&mut self, apps: &S<Vec<S<AppFile>>>) -> Vec<App> {
        if apps.value.is_empty() {
            self.err(apps, "`apps` is empty; list at least one app");
        }
        let mut names = std::collections::HashMap::new();
        let mut hosts = std::collections::HashMap::new();
        let mut out = Vec::new();
        for a in &apps.value {
            let f = &a.value;
            let name = f.name.value.trim().to_string();
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                self.err(
                    &f.name,
                    format_args!("`{name}` is not an app name; use letters, digits, `-` and `_`"),
                );
            }
            if name == "all" {
                self.err(
                    &f.name,
                    "`all` is reserved in rule files; choose another app name",
                );
            }
            if let Some(first) = names.insert(name.clone(), f.name.referenced.line()) {
                self.err(
                    &f.name,
                    format_args!("app `{name}` is defined twice (first on line {first})"),
                );
            }
            if f.hosts.value.is_empty() {
                self.err(
                    &f.hosts,
                    format_args!("app `{name}` needs at least one host"),
                );
            }
            let mut app_hosts = Vec::new();
            for h in &f.hosts.value {
                let host = h.value.trim().to_ascii_lowercase();
                let ok = !host.is_empty()
                    && host.split('.').all(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    });
                if !ok {
                    self.err(
                        h,
                        format_args!("`{}` is not a host name (no scheme, port or path)", h.value),
                    );
                }
                let prefix = f
                    .path_prefix
                    .as_ref()
                    .map(|p| p.value.trim_end_matches('/').to_string())
                    .unwrap_or_default();
                if let Some(other) = hosts.insert((host.clone(), prefix), name.clone()) {
                    self.err(
                        h,
                        format_args!(
                            "host `{host}` with this path prefix already belongs to app `{other}`"
                        ),
                    );
                }
                app_hosts.push(host);
            }
            if f.upstreams.value.is_empty() {
                self.err(
                    &f.upstreams,
                    format_args!("app `{name}` needs at least one upstream"),
                );
            }
            for u in &f.upstreams.value {
                let text = u.value.trim();
                let bare = text
                    .strip_prefix("https://")
                    .or_else(|| text.strip_prefix("http://"))
                    .unwrap_or(text);
                let ok = bare
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    self.err(
                        u,
                        format_args!(
                            "`{text}` is not an upstream; use HOST:PORT or https://HOST:PORT"
                        ),
                    );
                }
            }
            for p in &f.public_paths {
                if !p.value.starts_with('/') {
                    self.err(
                        p,
                        format_args!("public path `{}` must start with `/`", p.value),
                    );
                }
            }
            let upstreams = f
                .upstreams
                .value
                .iter()
                .map(|u| {
                    let t = u.value.trim();
                    match t.strip_prefix("https://") {
                        Some(a) => Upstream {
                            address: a.trim_end_matches('/').to_string(),
                            tls: true,
                        },
                        None => Upstream {
                            address: t
                                .trim_start_matches("http://")
                                .trim_end_matches('/')
                                .to_string(),
                            tls: false,
                        },
                    }
                })
                .collect();
            let path_prefix = f.path_prefix.as_ref().map(|p| {
                if !p.value.starts_with('/') {
                    self.err(
                        p,
                        format_args!("path prefix `{}` must start with `/`", p.value),
                    );
                }
                p.value.trim_end_matches('/').to_string()
            });
            let upstream_tls = match &f.upstream_tls {
                None => UpstreamTls::default(),
                Some(t) => UpstreamTls {
                    ca_file: t.ca_file.as_ref().map(|c| self.existing_file(c, "CA file")),
                    insecure_skip_verify: t.insecure_skip_verify,
                    sni: t.sni.clone(),
                },
            };
            let mut dur = |d: &Option<S<String>>, default: u64| {
                d.as_ref()
                    .and_then(|d| self.duration(d))
                    .unwrap_or(Duration::from_secs(default))
            };
            let connect_timeout = dur(&f.connect_timeout, 5);
            let read_timeout = dur(&f.read_timeout, 60);
            let health_check = HealthCheck {
                path: f
                    .health_check
                    .as_ref()
                    .and_then(|h| h.path.as_ref())
                    .map(|p| {
                        if !p.value.starts_with('/') {
                            self.err(
                                p,
                                format_args!("health check path `{}` must start with `/`", p.value),
                            );
                        }
                        p.value.clone()
                    }),
                interval: f
                    .health_check
                    .as_ref()
                    .and_then(|h| h.interval.as_ref())
                    .and_then(|i| self.duration(i))
                    .unwrap_or(Duration::from_secs(5)),
            };
            let on_unauthenticated = match f.on_unauthenticated.as_ref() {
                None => OnUnauthenticated::Auto,
                Some(o) => match o.value.as_str() {
                    "auto" => OnUnauthenticated::Auto,
                    "redirect" => OnUnauthenticated::Redirect,
                    "deny" => OnUnauthenticated::Deny,
                    other => {
                        self.err(
                            o,
                            format_args!("`{other}` is not a choice for on_unauthenticated (one of: auto, redirect, deny)"),
                        );
                        OnUnauthenticated::Auto
                    }
                },
            };
            let allow_cors_preflight = match f.cors_preflight.as_ref() {
                None => false,
                Some(c) => {
                    match c.value.as_str() {
                        "allow" => true,
                        "deny" => false,
                        other => {
                            self.err(c, format_args!("`{other}` is not a choice for cors_preflight (one of: allow, deny)"));
                            false
                        }
                    }
                }
            };
            out.push(App {
                title: f.title.clone().unwrap_or_else(|| name.clone()),
                name,
                description: f.description.clone(),
                hosts: app_hosts,
                path_prefix,
                upstreams,
                public_paths: f.public_paths.iter().map(|p| p.value.clone()).collect(),
                preserve_host: f.preserve_host.unwrap_or(true),
                upstream_tls,
                connect_timeout,
                read_timeout,
                health_check,
                on_unauthenticated,
                allow_cors_preflight,
                forward_session_cookie: f.forward_session_cookie,
                forward_authorization: f.forward_authorization,
                owners: Vec::new(),
                sign_up: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
        std::fs::write(dir.path().join("rules/a.yaml"), "").expect("write");
        let path = dir.path().join("portcullis.yaml");
        Config::from_str(&path, text).map_err(|es| {
            es.iter()
                .map(|e| e.to_string().replace(&*dir.path().to_string_lossy(), "DIR"))
                .collect()
        })
    }

    const MINIMAL: &str = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: Tailwind Traders, member_domains: [TailwindTraders.com] }
apps:
  - { name: payroll, hosts: [Payroll.localhost], upstreams: [127.0.0.1:9001], public_paths: [/health] }
"#;

    #[test]
    fn owners_sign_up_and_guest_lifecycle() {
        let text = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: T, member_domains: [t.example] }
guests: { invitation_lifetime: 2d, reminder_before: 3d, on_last_assignment_end: delete, delete_after: 10d }
apps:
  - name: wiki
    hosts: [wiki.localhost]
    upstreams: [127.0.0.1:9001]
    owners: [Alice@T.example, "group:Wiki-Owners"]
    sign_up:
      domains: ["@Fabrikam.example"]
      attributes: [{ name: company, required: true }, { name: reason, label: Why you need access }]
      approval: automatic
      access_days: 14
"#;
        let c = load(text).expect("loads");
        let wiki = &c.apps[0];
        assert_eq!(
            wiki.owners,
            [
                Owner::Email("alice@t.example".into()),
                Owner::Group("wiki-owners".into())
            ]
        );
        assert!(wiki.owners[1].matches("x@y.z", &["wiki-owners".to_string()]));
        let su = wiki.sign_up.as_ref().expect("sign_up");
        assert_eq!(su.domains, ["fabrikam.example"]);
        assert_eq!(su.approval, Approval::Automatic);
        assert_eq!(su.access_days, 14);
        assert_eq!(su.attributes[0].label, "company");
        assert!(su.attributes[0].required);
        assert_eq!(su.attributes[1].label, "Why you need access");
        assert_eq!(c.guests.on_last_assignment_end, LifecycleAction::Delete);
        assert_eq!(c.guests.reminder_before, Duration::from_secs(3 * 86_400));
        assert_eq!(c.guests.delete_after, Duration::from_secs(10 * 86_400));
        assert_eq!(
            c.guests.invitation_lifetime,
            Duration::from_secs(2 * 86_400)
        );
        let d = load(MINIMAL).expect("loads");
        assert_eq!(d.guests, Guests::default());
        assert!(d.apps[0].sign_up.is_none() && d.apps[0].owners.is_empty());

        let bad = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: T }
guests: { on_last_assignment_end: purge }
apps:
  - name: wiki
    hosts: [wiki.localhost]
    upstreams: [127.0.0.1:9001]
    owners: [alice, "group:"]
    sign_up: { idps: [partnr], approval: automatic, attributes: [{ name: Bad-Name }], access_days: 400 }
"#;
        assert_eq!(
            load(bad).expect_err("refused"),
            [
                "DIR/portcullis.yaml:5:35: `purge` is not a choice for guests.on_last_assignment_end (one of: none, block, delete)",
                "DIR/portcullis.yaml:10:14: owner `alice` is not an e-mail address or `group:NAME`",
                "DIR/portcullis.yaml:10:21: `group:` needs a group name",
                "DIR/portcullis.yaml:11:23: sign_up offers idp `partnr`, which is not an idp of type oidc or local",
                "DIR/portcullis.yaml:11:42: `approval: automatic` needs `domains`: only requests from allowed domains are approved without an owner",
                "DIR/portcullis.yaml:11:74: attribute name `Bad-Name` must be lower-case letters, digits and `_`",
                "DIR/portcullis.yaml:11:100: sign_up.access_days must be between 1 and 366",
            ]
        );
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let c = load(MINIMAL).expect("loads");
        assert_eq!(c.apps[0].hosts, ["payroll.localhost"]);
        assert_eq!(c.organisation.member_domains, ["tailwindtraders.com"]);
        assert_eq!(c.rule_files.len(), 1);
        assert!(matches!(c.store, Store::Sqlite(ref p) if p.ends_with("var/portcullis.db")));
        assert_eq!(c.grace_period, Duration::from_secs(30));
    }

    #[test]
    fn every_error_is_reported_with_its_position() {
        let errors = load(
            r#"
listen: { http: "localhost" }
admin: { address: 127.0.0.1:8080 }
trusted_proxies: [10.0.0.1/8, banana]
rules: ["nope/*.yaml"]
organisation: { name: "" }
idps:
  - { name: api, type: jwt, issuer: "https://idp", audience: x, jwks_file: missing.json, algorithms: [HS256] }
  - { name: saml, type: saml }
apps:
  - { name: "pay roll", hosts: ["https://x"], upstreams: [nowhere] }
  - { name: all, hosts: [x.localhost], upstreams: [127.0.0.1:1], public_paths: [health] }
"#,
        )
        .expect_err("broken");
        let expected = [
            "DIR/portcullis.yaml:2:17: `localhost` is not an address; use IP:PORT such as 127.0.0.1:8080 or [::]:443",
            "DIR/portcullis.yaml:4:19: `10.0.0.1/8` has host bits set; did you mean `10.0.0.0/8`?",
            "DIR/portcullis.yaml:4:31: `banana` is not an IP range; use CIDR notation such as 10.0.0.0/8",
            "DIR/portcullis.yaml:5:9: `nope/*.yaml` matches no file",
            "DIR/portcullis.yaml:6:23: `organisation.name` must not be empty",
            "DIR/portcullis.yaml:8:76: JWKS file `DIR/missing.json` does not exist (paths are relative to the config file)",
            "DIR/portcullis.yaml:8:103: `HS256` is not an allowed signature algorithm (one of: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA; `none` and HMAC are never accepted)",
            "DIR/portcullis.yaml:9:25: `saml` is not an idp type (one of: jwt, oidc, local)",
            "DIR/portcullis.yaml:11:13: `pay roll` is not an app name; use letters, digits, `-` and `_`",
            "DIR/portcullis.yaml:11:33: `https://x` is not a host name (no scheme, port or path)",
            "DIR/portcullis.yaml:11:59: `nowhere` is not an upstream; use HOST:PORT or https://HOST:PORT",
            "DIR/portcullis.yaml:12:13: `all` is reserved in rule files; choose another app name",
            "DIR/portcullis.yaml:12:81: public path `health` must start with `/`",
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn admin_must_not_share_the_public_port() {
        let text = MINIMAL.replace("rules:", "admin: { address: 127.0.0.1:8080 }\nrules:");
        let errors = load(&text).expect_err("shared port");
        assert!(
            errors[0].ends_with("`admin.address` must differ from the public listeners"),
            "{errors:?}"
        );
    }

    #[test]
    fn oidc_idps_and_mail_are_checked_with_positions() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("r.yaml"), "").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "s3cret\n").expect("write");
        let path = dir.path().join("portcullis.yaml");
        let good = r#"
listen: { http: 127.0.0.1:8080 }
rules: [r.yaml]
organisation: { name: T }
mail: { from: "T <noreply@t.example>", outbox: var/outbox }
sign_in: { host: auth.localhost }
idps:
  - { name: contoso, type: oidc, issuer: "https://login.contoso.example", client_id: portcullis, client_secret_file: secret.txt, domains: [contoso.com], mfa: trusted }
apps:
  - { name: a, hosts: [a.localhost], upstreams: [127.0.0.1:1] }
"#;
        let c = Config::from_str(&path, good).expect("loads");
        assert!(matches!(c.idps[0].kind, IdpKind::Oidc(_)));
        assert!(c.mail.is_some());
        let bad = good
            .replace("client_secret_file: secret.txt", "client_secret: inline")
            .replace("type: oidc,", "type: oidc, audience: x,")
            .replace("outbox: var/outbox", "outboxx: var/outbox");
        let errors: Vec<String> = Config::from_str(&path, &bad)
            .expect_err("broken")
            .iter()
            .map(|e| e.to_string())
            .collect();
        // The mail typo stops parsing first (serde), so fix it and look again.
        assert!(
            errors[0].contains("unknown field `outboxx`; did you mean `outbox`?"),
            "{errors:?}"
        );
        let bad = bad.replace("outboxx", "outbox");
        let errors: Vec<String> = Config::from_str(&path, &bad)
            .expect_err("broken")
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`audience` is for idps of type jwt, not oidc")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains(":8:") && e.contains("client_secret")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| !e.contains("inline\u{0}") && !e.contains("s3cret")),
            "{errors:?}"
        );
        let jwt_with_oidc_fields = good.replace(
            "type: oidc, issuer: \"https://login.contoso.example\", client_id: portcullis, client_secret_file: secret.txt, domains: [contoso.com], mfa: trusted",
            "type: jwt, issuer: \"https://idp\", audience: x, jwks_url: \"https://idp/jwks\", client_id: y",
        );
        let errors: Vec<String> = Config::from_str(&path, &jwt_with_oidc_fields)
            .expect_err("broken")
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`client_id` is for idps of type oidc, not jwt")),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_fields_suggest_the_right_one() {
        let text = MINIMAL.replace("rules:", "trusted_proxys: []\nrules:");
        let errors = load(&text).expect_err("typo");
        assert_eq!(
            errors,
            [
                "DIR/portcullis.yaml:3:1: unknown field `trusted_proxys`; did you mean `trusted_proxies`?"
            ]
        );
    }

    /// Writes `files` beside the config (plus the rule file) and loads it.
    fn load_with(files: &[(&str, &str)], text: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
        std::fs::write(dir.path().join("rules/a.yaml"), "").expect("write");
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).expect("write");
        }
        let path = dir.path().join("portcullis.yaml");
        Config::from_str(&path, text).map_err(|es| {
            es.iter()
                .map(|e| e.to_string().replace(&*dir.path().to_string_lossy(), "DIR"))
                .collect()
        })
    }

    const APPS: &str = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: Tailwind Traders, member_domains: [tailwindtraders.com] }
apps:
  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }
  - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9001] }
"#;

    /// An argon2id PHC string of `demo` at the lowest cost (fast in debug
    /// builds; the check only parses it).
    const HASH: &str =
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$6v4bV6B0n5t1VIfzWcN0yCn8NeeJmk4bJ6a7fBzFSPY";

    #[test]
    fn sign_in_defaults() {
        let c = load(&format!("{MINIMAL}sign_in: {{ host: auth.localhost }}\n")).expect("loads");
        let s = c.sign_in.expect("sign_in");
        assert_eq!(
            s,
            SignIn {
                host: "auth.localhost".into(),
                session_lifetime: Duration::from_secs(12 * 3600),
                idp_order: vec![],
                fallback: Fallback::None,
                terms: None,
                passcode: PasscodeSettings {
                    ttl: Duration::from_secs(600),
                    max_attempts: 5,
                    per_address: 5,
                    per_ip: 20,
                    window: Duration::from_secs(3600),
                },
            }
        );
        assert!(load(MINIMAL).expect("loads").sign_in.is_none());
        // With mail, codes by e-mail are the fallback.
        let with_mail = format!(
            "{MINIMAL}mail: {{ from: \"T <noreply@t.example>\", outbox: var/outbox }}\nsign_in: {{ host: auth.localhost }}\n"
        );
        let s = load(&with_mail).expect("loads").sign_in.expect("sign_in");
        assert_eq!(s.fallback, Fallback::Passcode);
    }

    #[test]
    fn sign_in_settings_are_read() {
        let text = format!(
            r#"{APPS}mail: {{ from: "T <noreply@t.example>", outbox: var/outbox }}
idps:
  - {{ name: demo, type: local, users_file: users.yaml }}
sign_in:
  host: auth.example.com
  session_lifetime: 8h
  idp_order: [demo]
  fallback: none
  terms: {{ version: "2026-01", url: "https://example.com/terms" }}
  passcode: {{ ttl: 5m, max_attempts: 3, per_address: 2, per_ip: 10, window: 30m }}
"#
        );
        let users =
            format!("users:\n  - {{ email: a@tailwindtraders.com, password_hash: \"{HASH}\" }}\n");
        let c = load_with(&[("users.yaml", &users)], &text).expect("loads");
        let s = c.sign_in.expect("sign_in");
        assert_eq!(s.host, "auth.example.com");
        assert_eq!(s.session_lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(s.idp_order, ["demo"]);
        assert_eq!(s.fallback, Fallback::None);
        assert_eq!(
            s.terms,
            Some(Terms {
                version: "2026-01".into(),
                url: "https://example.com/terms".into()
            })
        );
        assert_eq!(
            s.passcode,
            PasscodeSettings {
                ttl: Duration::from_secs(300),
                max_attempts: 3,
                per_address: 2,
                per_ip: 10,
                window: Duration::from_secs(1800),
            }
        );
    }

    #[test]
    fn sign_in_errors_are_reported_with_positions() {
        let text = format!(
            r#"{APPS}idps:
  - {{ name: partner, type: oidc, issuer: "https://login.partner.example", client_id: c, client_secret_env: X }}
  - {{ name: api, type: jwt, issuer: "https://idp", audience: x, jwks_url: "https://idp/jwks" }}
sign_in:
  host: Auth.localhost
  session_lifetime: 45d
  idp_order: [partnr, api, partner, partner]
  fallback: pascode
  terms: {{ version: " ", url: "example.com/terms" }}
  passcode: {{ ttl: 2h, max_attempts: 0, per_address: 0, per_ip: 0, window: 0s }}
"#
        );
        let errors = load(&text).expect_err("broken");
        let expected = [
            "DIR/portcullis.yaml:12:9: `Auth.localhost` must be lower-case; did you mean `auth.localhost`?",
            "DIR/portcullis.yaml:13:21: `session_lifetime` 45d is too long; at most 30d",
            "DIR/portcullis.yaml:14:15: there is no idp `partnr` in `idps`; did you mean `partner`?",
            "DIR/portcullis.yaml:14:23: idp `api` is of type jwt; `idp_order` lists idps of type oidc or local",
            "DIR/portcullis.yaml:14:37: idp `partner` is listed twice in `idp_order`",
            "DIR/portcullis.yaml:15:13: `pascode` is not a fallback (one of: passcode, none); did you mean `passcode`?",
            "DIR/portcullis.yaml:16:21: `terms.version` must not be empty",
            "DIR/portcullis.yaml:16:31: `example.com/terms` is not an http(s) URL; use e.g. https://example.com/terms",
            "DIR/portcullis.yaml:17:20: `passcode.ttl` must be at most 1h",
            "DIR/portcullis.yaml:17:38: `passcode.max_attempts` must be between 1 and 10",
            "DIR/portcullis.yaml:17:54: `passcode.per_address` must be at least 1",
            "DIR/portcullis.yaml:17:65: `passcode.per_ip` must be at least 1",
            "DIR/portcullis.yaml:17:76: `0s` is not a duration; use 30s, 5m or 1h",
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn sign_in_host_is_required_and_its_own_host() {
        let oidc = format!(
            "{APPS}idps:\n  - {{ name: partner, type: oidc, issuer: \"https://p.example\", client_id: c, client_secret_env: X }}\n"
        );
        assert_eq!(
            load(&oidc).expect_err("no sign_in"),
            [
                "DIR/portcullis.yaml:9:28: idp `partner` of type oidc needs `sign_in: { host: … }` (the auth host where people sign in)"
            ]
        );
        let mail =
            format!("{APPS}mail: {{ from: \"T <noreply@t.example>\", outbox: var/outbox }}\n");
        assert_eq!(
            load(&mail).expect_err("no sign_in"),
            [
                "DIR/portcullis.yaml:8:7: `mail` needs `sign_in: { host: … }` (the auth host where people sign in with an e-mailed code)"
            ]
        );
        let no_host = format!("{APPS}sign_in: {{ session_lifetime: 1h }}\n");
        assert_eq!(
            load(&no_host).expect_err("no host"),
            ["DIR/portcullis.yaml:8:12: missing field `host`"]
        );
        let app_host = format!("{APPS}sign_in: {{ host: wiki.localhost }}\n");
        assert_eq!(
            load(&app_host).expect_err("app host"),
            [
                "DIR/portcullis.yaml:8:18: `wiki.localhost` is a host of app `wiki`; the sign-in host must be a host of its own"
            ]
        );
        let url = format!("{APPS}sign_in: {{ host: \"https://auth.localhost\" }}\n");
        assert_eq!(
            load(&url).expect_err("url"),
            [
                "DIR/portcullis.yaml:8:18: `https://auth.localhost` is not a host name (no scheme, port or path); use e.g. auth.example.com"
            ]
        );
        let passcode = format!("{APPS}sign_in: {{ host: auth.localhost, fallback: passcode }}\n");
        assert_eq!(
            load(&passcode).expect_err("no mail"),
            [
                "DIR/portcullis.yaml:8:44: `fallback: passcode` needs `mail` (the passcode is sent by e-mail); configure `mail` or use `fallback: none`"
            ]
        );
        let typo = format!("{APPS}sign_in: {{ host: auth.localhost, idp_ordr: [] }}\n");
        assert_eq!(
            load(&typo).expect_err("typo"),
            ["DIR/portcullis.yaml:8:34: unknown field `idp_ordr`; did you mean `idp_order`?"]
        );
    }

    #[test]
    fn local_idp_loads_its_users_file() {
        let text = format!(
            "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  - {{ name: demo, type: local, users_file: users.yaml, domains: [Break.Glass.example], mfa: trusted }}\n"
        );
        let users = format!(
            r#"users:
  - {{ email: Alice@TailwindTraders.com, name: Alice, password_hash: "{HASH}", groups: [Finance] }}
  - {{ email: bob@fabrikam.example, password_hash: "{HASH}", apps: [wiki] }}
  - {{ email: carol@fabrikam.example, password_hash: "{HASH}", user_type: member }}
"#
        );
        let c = load_with(&[("users.yaml", &users)], &text).expect("loads");
        let IdpKind::Local(idp) = &c.idps[0].kind else {
            panic!("not local: {:?}", c.idps[0].kind);
        };
        assert_eq!(idp.name, "demo");
        assert_eq!(idp.domains, ["break.glass.example"]);
        assert!(idp.mfa_trusted);
        let types: Vec<_> = idp.users.iter().map(|u| u.user_type).collect();
        assert_eq!(
            types,
            [
                rules::UserType::Member,
                rules::UserType::Guest,
                rules::UserType::Member
            ]
        );
        assert_eq!(idp.users[0].groups, ["finance"]);
        assert_eq!(idp.users[1].apps, ["wiki"]);
        assert!(idp.knows("alice@tailwindtraders.com"));
        assert!(idp.serves("x@break.glass.example"));
        assert!(
            !format!("{:?}", c.idps).contains("argon2"),
            "hashes in Debug"
        );
    }

    #[test]
    fn local_idp_users_file_errors_name_the_users_file() {
        let text = format!(
            "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  - {{ name: demo, type: local, users_file: users.yaml, mfa: trustd, issuer: x }}\n"
        );
        let users = format!(
            r#"users:
  - {{ email: alice@tailwindtraders.com, password_hash: "{HASH}" }}
  - {{ email: not-an-address, password_hash: "{HASH}" }}
  - {{ email: ALICE@tailwindtraders.com, password_hash: "{HASH}" }}
  - {{ email: bob@fabrikam.example, password_hash: "hunter2" }}
  - {{ email: carol@fabrikam.example, password_hash: "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA" }}
  - {{ email: dan@fabrikam.example, password_hash: "{HASH}", apps: [wikki], user_type: guests }}
  - {{ email: erin@tailwindtraders.com, password_hash: "{HASH}", apps: [wiki] }}
"#
        );
        let errors = load_with(&[("users.yaml", &users)], &text).expect_err("broken");
        let expected = [
            "DIR/portcullis.yaml:10:5: `issuer` is for idps of type jwt or oidc, not local",
            "DIR/portcullis.yaml:10:61: `trustd` is not an mfa setting (one of: trusted, untrusted); did you mean `trusted`?",
            "DIR/users.yaml:3:14: `not-an-address` is not an e-mail address; write it like anna@contoso.com",
            "DIR/users.yaml:4:14: `ALICE@tailwindtraders.com` is listed twice (first on line 2; e-mails are compared ignoring case)",
            "DIR/users.yaml:5:51: `password_hash` is not an argon2 PHC string ($argon2id$v=19$…); make one with `portcullis hash-password`",
            "DIR/users.yaml:6:53: `password_hash` is not an argon2 PHC string ($argon2id$v=19$…); make one with `portcullis hash-password`",
            "DIR/users.yaml:7:149: there is no app `wikki` in the configuration; did you mean `wiki`?",
            "DIR/users.yaml:7:168: `guests` is not a user type (one of: member, guest); did you mean `guest`?",
            "DIR/users.yaml:8:153: `apps` is for guests (the apps they are assigned); `erin@tailwindtraders.com` is a member and needs no assignment",
        ];
        assert_eq!(errors, expected);
        assert!(errors.iter().all(|e| !e.contains("hunter2")), "{errors:?}");

        // Shape errors in the users file: unknown fields, YAML syntax.
        let typo = format!("users:\n  - {{ email: a@b.example, pasword_hash: \"{HASH}\" }}\n");
        assert_eq!(
            load_with(
                &[("users.yaml", &typo)],
                &text.replace(", mfa: trustd, issuer: x", "")
            )
            .expect_err("typo"),
            ["DIR/users.yaml:2:27: unknown field `pasword_hash`; did you mean `password_hash`?"]
        );
        let syntax = "users:\n  - { email: a@b.example\n";
        let errors = load_with(
            &[("users.yaml", syntax)],
            &text.replace(", mfa: trustd, issuer: x", ""),
        )
        .expect_err("syntax");
        assert!(
            errors.len() == 1 && errors[0].starts_with("DIR/users.yaml:"),
            "{errors:?}"
        );
    }

    #[test]
    fn local_idp_needs_an_existing_users_file_and_only_its_fields() {
        let text = format!(
            "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  - {{ name: demo, type: local }}\n  - {{ name: b, type: local, users_file: nope.yaml }}\n  - {{ name: c, type: jwt, issuer: i, audience: a, jwks_url: \"https://i/k\", users_file: u.yaml }}\n  - {{ name: d, type: locl }}\n"
        );
        let errors = load(&text).expect_err("broken");
        let expected = [
            "DIR/portcullis.yaml:10:5: idp `demo` of type local needs `users_file`",
            "DIR/portcullis.yaml:11:41: users file `DIR/nope.yaml` does not exist (paths are relative to the config file)",
            "DIR/portcullis.yaml:12:5: `users_file` is for idps of type local, not jwt",
            "DIR/portcullis.yaml:13:22: `locl` is not an idp type (one of: jwt, oidc, local); did you mean `local`?",
        ];
        assert_eq!(errors, expected);
    }
}
