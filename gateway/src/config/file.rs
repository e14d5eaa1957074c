//! The file types of `portcullis.yaml`: what the operator wrote, field for
//! field, with spans. `serde_saphyr` fills them (unknown fields and wrong
//! types stop there, with one error); `check/` turns them into the runtime
//! types of `runtime.rs`.
//!
//! The file types derive `JsonSchema` (`portcullis schema config`): their doc
//! comments are the reference's descriptions (docs/config-reference.md), and
//! `#[schemars(...)]` gives string fields the shape the checks accept
//! (`shapes.rs`). Say the default and the unit in the doc; keep
//! `extend("default" = …)` in step with the checks. The type names are the
//! schema's definition names: renaming one changes the committed schema.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::runtime::{
    DEFAULT_JWT_ALGORITHMS, DecisionLog, Guests, Lint, PasscodeSettings, RateLimits, SignIn,
};
use super::shapes;

pub(super) type S<T> = Spanned<T>;

/// The `type` values of `idps` entries.
pub(super) const IDP_TYPES: &[&str] = &["jwt", "oidc", "oauth2", "local", "saml"];
/// The signature algorithms an idp of type jwt may list.
pub(super) const JWT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// `portcullis.yaml`, the gateway's configuration. Paths are relative to
/// this file. Unknown fields are errors. Check with `portcullis check
/// --config FILE`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Portcullis configuration (portcullis.yaml)")]
pub(super) struct ConfigFile {
    /// Where the gateway accepts client traffic: `http`, `https` or both.
    #[schemars(with = "ListenFile")]
    pub(super) listen: S<ListenFile>,
    /// The admin listener: `/metrics`, `/healthz`, `/readyz` and the admin
    /// API under `/api/`. Never expose it publicly. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<AdminFile>")]
    pub(super) admin: Option<S<AdminFile>>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed
    /// when working out the client IP (CIDR ranges or single addresses).
    /// Default: none, the peer address is the client.
    #[serde(default)]
    #[schemars(with = "Vec<rules::schema::IpRange>", example = ["10.0.0.0/8"])]
    pub(super) trusted_proxies: Vec<S<String>>,
    /// The GeoIP country database for `countries` in named locations.
    /// Default: none (every address has country `unknown`).
    #[serde(default)]
    pub(super) geoip: Option<GeoIpFile>,
    /// Rule files: paths or globs, relative to this file; each must match at
    /// least one file. Reloaded on `SIGHUP` and on change.
    #[schemars(with = "Vec<String>", length(min = 1), example = ["rules/*.yaml"])]
    pub(super) rules: S<Vec<S<String>>>,
    /// The state store (sessions' revocations, guests, invitations, keys).
    /// Default: SQLite at `var/portcullis.db` beside this file.
    #[serde(default)]
    #[schemars(with = "Option<StoreFile>")]
    pub(super) store: Option<S<StoreFile>>,
    /// Who runs the gateway, and whose users are members.
    pub(super) organisation: OrganisationFile,
    /// Identity providers: `jwt` (bearer tokens of API clients), `oidc`
    /// (browser sign-in with a partner's OpenID Provider), `oauth2`
    /// (GitHub, Facebook and other OAuth 2.0 providers without OpenID
    /// Connect), `saml` (a partner's SAML 2.0 IdP) and `local` (accounts
    /// with passwords in a users file). Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<IdpFile>")]
    pub(super) idps: Vec<S<IdpFile>>,
    /// The apps behind the gateway; at least one.
    #[schemars(with = "Vec<AppFile>", length(min = 1))]
    pub(super) apps: S<Vec<S<AppFile>>>,
    /// Process settings: shutdown grace period, worker threads.
    #[serde(default)]
    pub(super) server: Option<ServerFile>,
    /// The built-in demo app that shows what the gateway tells an app
    /// (quickstart). Default: off.
    #[serde(default)]
    pub(super) demo_app: Option<DemoAppFile>,
    /// How e-mail is sent (sign-in passcodes, invitations, reminders):
    /// `outbox` (a folder of `.eml` files) or `smtp`. Default: no e-mail.
    #[serde(default)]
    #[schemars(with = "Option<crate::mail::MailFile>")]
    pub(super) mail: Option<S<crate::mail::MailFile>>,
    /// Where and how people sign in. Required once an idp of type `oidc`,
    /// `oauth2`, `saml` or `local`, or `mail`, is configured.
    #[serde(default)]
    #[schemars(with = "Option<SignInFile>")]
    pub(super) sign_in: Option<S<SignInFile>>,
    /// The guest lifecycle: invitation lifetime, reminders, what happens
    /// when access ends.
    #[serde(default)]
    pub(super) guests: Option<GuestsFile>,
    /// The decision log (`portcullis explain`, `rules diff`): how long
    /// entries are kept, how many at most, and what share of allows is
    /// recorded. On by default.
    #[serde(default)]
    pub(super) decision_log: Option<DecisionLogFile>,
    /// What `portcullis rules lint` checks the rules against.
    #[serde(default)]
    pub(super) lint: Option<LintFile>,
    /// The admin console in the browser (`/.portcullis/admin` on the sign-in
    /// host): who holds which role. Default: nobody (every page answers 403).
    #[serde(default)]
    #[schemars(with = "Option<ConsoleFile>")]
    pub(super) console: Option<S<ConsoleFile>>,
}

/// `console`: the roles of the admin console. Entries are e-mails of
/// members or `group:NAME`, a group of the directory (never a partner
/// IdP's qualified group such as `group:fabrikam-entra:admins`). Signing in
/// to the console always takes MFA.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsoleFile {
    /// May do everything: invite, extend, end, remove, reset MFA, resend.
    #[serde(default)]
    #[schemars(with = "Vec<shapes::Owner>")]
    pub(super) admins: Vec<S<String>>,
    /// The help desk: may read every page, resend invitations and reset MFA.
    #[serde(default)]
    #[schemars(with = "Vec<shapes::Owner>")]
    pub(super) helpdesk: Vec<S<String>>,
}

/// The sign-in endpoints, served on their own host.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInFile {
    /// The host where people sign in (lower case, no scheme, port or path);
    /// never an app's host, so no app can script the sign-in pages.
    #[schemars(with = "shapes::HostName", example = "auth.example.com")]
    pub(super) host: S<String>,
    /// How long a browser session lasts after sign-in, at most `30d`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(SignIn::DEFAULT_SESSION_LIFETIME)))]
    pub(super) session_lifetime: Option<S<String>>,
    /// IdPs (of type `oidc`, `oauth2` or `local`) offered, in this order, for e-mail
    /// domains no IdP claims. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) idp_order: Option<S<Vec<S<String>>>>,
    /// What an e-mail no IdP serves gets: `passcode` (a one-time code by
    /// e-mail; needs `mail`) or `none`. Default: `passcode` with `mail`,
    /// else `none`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("enum" = ["passcode", "none"]))]
    pub(super) fallback: Option<S<String>>,
    /// Terms of use linked from the consent page. Default: none.
    #[serde(default)]
    pub(super) terms: Option<TermsFile>,
    /// One-time e-mail passcodes and their rate limits.
    #[serde(default)]
    pub(super) passcode: Option<PasscodeFile>,
    /// How every per-client limit of the sign-in host (passwords,
    /// passcodes, sign-up e-mails) tells clients apart, and how many
    /// counters it may keep.
    #[serde(default)]
    pub(super) rate_limits: Option<RateLimitsFile>,
    /// Passkeys (WebAuthn) beyond the second factor.
    #[serde(default)]
    pub(super) passkeys: Option<PasskeysFile>,
}

/// `sign_in.passkeys`: what a passkey may do besides the MFA step, where
/// every registered passkey already counts as phishing-resistant MFA.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasskeysFile {
    /// A guest who signs in without an IdP (the e-mailed one-time code)
    /// may sign in with a registered passkey alone instead: a "Sign in
    /// with a passkey" button on the sign-in and passcode pages, using
    /// discoverable credentials. Such a session has phishing-resistant MFA.
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub(super) sign_in: Option<S<bool>>,
}

/// `sign_in.rate_limits`: what a "client" is to the per-client limits of the
/// sign-in host, and the bound on their counters.
///
/// An IPv4 client is its address. An IPv6 client is the network of its
/// address's first `ipv6_prefix` bits (default /64, what one home or office
/// line gets), so 30 addresses in one /64 share one allowance instead of
/// getting 30 (issue 14, finding 7); 128 counts each address alone.
///
/// Each limit (the passcodes per client, per address, …) keeps at most
/// `max_counters` counters per window. A client or address not yet counted
/// when the window is full is refused, like one over its limit, until the
/// window ends: the store's counters stay bounded however many clients and
/// addresses there are (issue 14, finding 6).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitsFile {
    /// The IPv6 prefix length that is one client.
    #[serde(default)]
    #[schemars(with = "Option<u8>", range(min = 32, max = 128), extend("default" = RateLimits::default().ipv6_prefix))]
    pub(super) ipv6_prefix: Option<S<u8>>,
    /// Counters each limit keeps per window.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 100), extend("default" = RateLimits::default().max_counters))]
    pub(super) max_counters: Option<S<u32>>,
}

/// Terms of use that guests accept once per version.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TermsFile {
    /// Recorded with each consent; a new version asks everyone again.
    #[schemars(with = "String", length(min = 1), example = "2026-01")]
    pub(super) version: S<String>,
    /// An http(s) URL the consent page links.
    #[schemars(with = "shapes::HttpUrl")]
    pub(super) url: S<String>,
}

/// `sign_in.passcode`: one-time codes sent by e-mail.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasscodeFile {
    /// How long a code is valid, at most `1h`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(PasscodeSettings::default().ttl)))]
    pub(super) ttl: Option<S<String>>,
    /// Wrong guesses before a code is void (1 to 10).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 10), extend("default" = PasscodeSettings::default().max_attempts))]
    pub(super) max_attempts: Option<S<u32>>,
    /// Codes sent to one address per `window`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = PasscodeSettings::default().per_address))]
    pub(super) per_address: Option<S<u32>>,
    /// Codes requested from one client (an IPv4 address, an IPv6 /64: see
    /// `sign_in.rate_limits`) per `window`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = PasscodeSettings::default().per_ip))]
    pub(super) per_ip: Option<S<u32>>,
    /// The rate-limit window.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(PasscodeSettings::default().window)))]
    pub(super) window: Option<S<String>>,
    /// How long "send a new code" waits after a code was asked for, at
    /// most `5m`; the page counts it down and the server holds to it.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(PasscodeSettings::default().resend_after)))]
    pub(super) resend_after: Option<S<String>>,
}

/// The built-in demo app.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DemoAppFile {
    /// Where it listens; point an app's `upstreams` at it.
    #[schemars(with = "shapes::SocketAddress", example = "127.0.0.1:9001")]
    pub(super) address: S<String>,
}

/// The public listeners; at least one of `http` and `https`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [{ "required": ["http"] }, { "required": ["https"] }]))]
pub(super) struct ListenFile {
    /// Plain HTTP listener address.
    #[serde(default)]
    #[schemars(with = "Option<shapes::SocketAddress>", example = "127.0.0.1:8080")]
    pub(super) http: Option<S<String>>,
    /// TLS listener.
    #[serde(default)]
    pub(super) https: Option<HttpsFile>,
}

/// The TLS listener.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpsFile {
    /// Listener address.
    #[schemars(with = "shapes::SocketAddress", example = "[::]:443")]
    pub(super) address: S<String>,
    /// PEM certificate chain file (relative to this file).
    #[schemars(with = "String")]
    pub(super) cert: S<String>,
    /// PEM private key file (relative to this file).
    #[schemars(with = "String")]
    pub(super) key: S<String>,
}

/// The admin listener.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminFile {
    /// Listener address; must differ from the public listeners.
    #[schemars(with = "shapes::SocketAddress", example = "127.0.0.1:9090")]
    pub(super) address: S<String>,
    /// A file holding the bearer token of the admin API (`/api/`). Default:
    /// none, the API is off (`/metrics` and the probes stay on).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) token_file: Option<S<String>>,
}

/// The GeoIP database.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GeoIpFile {
    /// A MaxMind-format country database (`.mmdb`), reloaded when it
    /// changes.
    #[schemars(with = "String", example = "geoip/GeoLite2-Country.mmdb")]
    pub(super) country_db: S<String>,
}

/// The state store: exactly one of `sqlite` and `postgres`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["sqlite"] }, { "required": ["postgres"] }]))]
pub(super) struct StoreFile {
    /// An SQLite database file (one node), created if missing.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "var/portcullis.db")]
    pub(super) sqlite: Option<S<String>>,
    /// A PostgreSQL URL (several replicas share it). Prefer a secret-free
    /// URL and the standard `PG*` environment variables for the password.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^postgres(ql)?://"),
        example = "postgres://portcullis@db.internal/portcullis"
    )]
    pub(super) postgres: Option<S<String>>,
}

/// The organisation that runs the gateway.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrganisationFile {
    /// Shown on the sign-in, consent and access pages and in e-mails.
    #[schemars(with = "String", length(min = 1), example = "Tailwind Traders")]
    pub(super) name: S<String>,
    /// E-mail domains whose users are members; everyone else is a guest.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["tailwindtraders.com"])]
    pub(super) member_domains: Vec<S<String>>,
    /// The logo on every page (the proxy's error pages too): an image
    /// file beside the config (SVG, PNG, JPEG, GIF, WebP or ICO, at most
    /// 256 KiB; served at `/.portcullis/logo`, cached for a year) or an
    /// `https://` URL. Default: none, the name alone.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "branding/logo.svg")]
    pub(super) logo: Option<S<String>>,
    /// The language of pages when the browser asks for none we speak, and
    /// of mails no browser asked for (reminders; invitations unless the
    /// inviter chose one). One of `en`, `de`. Default: `en`.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = &"de")]
    pub(super) language: Option<S<String>>,
    /// The colour of buttons and links, `#rrggbb`, instead of the built-in
    /// blue. It must reach a contrast of 4.5:1 against white (the text on
    /// buttons, the page's cards) and against the page background.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^#[0-9a-fA-F]{6}$"),
        example = "#0f6b3a"
    )]
    pub(super) accent_colour: Option<S<String>>,
    /// Whom people can ask for help: named on refusal and error pages and
    /// in e-mails. Default: none.
    #[serde(default)]
    pub(super) support: Option<SupportFile>,
    /// A folder of templates that replace the built-in ones of the same
    /// relative name (`sign_in.html`, `mail/passcode.html`); `check`
    /// compiles them and refuses names no built-in has. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "branding/templates")]
    pub(super) templates_dir: Option<S<String>>,
}

/// `organisation.support`: at least one of `email` and `url`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SupportFile {
    /// The help desk's address.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "helpdesk@tailwindtraders.com")]
    pub(super) email: Option<S<String>>,
    /// The help desk's web page (`https://`).
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "https://help.tailwindtraders.com")]
    pub(super) url: Option<S<String>>,
    /// What to call it (default: the help desk of the organisation).
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "the Tailwind service desk")]
    pub(super) text: Option<S<String>>,
}

/// An identity provider. Which fields apply depends on `type`; a field of
/// another type is an error.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IdpFile {
    /// Unique name, used in logs, metrics, sessions and `idp_order`.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// `jwt`: bearer tokens of API clients, verified against the issuer's
    /// keys. `oidc`: browser sign-in with a partner's OpenID Provider.
    /// `oauth2`: browser sign-in with an OAuth 2.0 provider without OpenID
    /// Connect (GitHub, Facebook, or one described by its URLs and
    /// `claims`). `local`: accounts with passwords in `users_file`. `saml`:
    /// browser sign-in with a partner's SAML 2.0 IdP (AD FS, Entra ID, Okta,
    /// …); register Portcullis there with the entity id
    /// `https://AUTH_HOST/.portcullis/saml/NAME/metadata` (that URL serves our
    /// SP metadata, which AD FS and Entra ID import) and the reply/ACS URL
    /// `https://AUTH_HOST/.portcullis/saml/NAME/acs` (HTTP-POST); send the
    /// e-mail claim, a persistent NameID, and groups if policies use them.
    /// AD FS: Add Relying Party Trust → import our metadata URL; claim rules
    /// "Send LDAP Attributes as Claims" (E-Mail-Addresses → E-Mail Address,
    /// Display-Name → Name, Token-Groups → Group) and a persistent NameID.
    /// Okta: a SAML 2.0 app, Single sign-on URL = the ACS URL, Audience URI =
    /// the entity id, Name ID format Persistent, attribute statement `email`
    /// (or the claim URI), group attribute statement. Entra ID: an Enterprise
    /// application with SAML, Identifier = the entity id, Reply URL = the ACS
    /// URL (or upload our metadata); its default claims are the ones read;
    /// add a group claim. The metadata to give here is AD FS's
    /// `/FederationMetadata/2007-06/FederationMetadata.xml`, Okta's
    /// "Metadata URL", Entra's "App Federation Metadata Url".
    #[serde(rename = "type")]
    #[schemars(with = "String", extend("enum" = IDP_TYPES))]
    pub(super) kind: S<String>,
    /// (jwt, oidc) The issuer, exactly as the tokens' `iss` and the
    /// discovery document say. Required for jwt; optional for oidc with a
    /// `microsoft` (then the authority) or `google` preset.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) issuer: Option<S<String>>,
    /// (jwt, required) The `aud` the tokens must carry.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) audience: Option<S<String>>,
    /// (jwt) A JWKS file with the issuer's keys. Exactly one of `jwks_file`
    /// and `jwks_url`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) jwks_file: Option<S<String>>,
    /// (jwt) An http(s) URL of the issuer's JWKS.
    #[serde(default)]
    #[schemars(with = "Option<shapes::HttpUrl>")]
    pub(super) jwks_url: Option<S<String>>,
    /// (jwt) Signature algorithms accepted; never `none` or HMAC. Default
    /// `RS256`, `PS256`, `ES256`, `EdDSA`.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        extend("items" = { "type": "string", "enum": JWT_ALGORITHMS }, "default" = DEFAULT_JWT_ALGORITHMS)
    )]
    pub(super) algorithms: Option<Vec<S<String>>>,
    /// (jwt, oidc) The claim holding the user's groups.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = crate::oidc::DEFAULT_GROUPS_CLAIM))]
    pub(super) groups_claim: Option<S<String>>,
    // `type: oidc` (see `crate::oidc::OidcIdpFile`):
    /// (oidc, oauth2) Provider quirks. oidc: `microsoft`: Entra ID and
    /// personal Microsoft accounts; `issuer` is the authority
    /// (`https://login.microsoftonline.com/TENANT/v2.0`, TENANT a tenant id,
    /// `organizations` (the default), `common` or `consumers`); tokens are
    /// checked against their own tenant's issuer (`tid`); an address counts
    /// as verified with `email_verified`, `xms_edov` or
    /// `verified_primary_email`, or from a personal account; users are keyed
    /// by `tid` + `oid`. `google`: `https://accounts.google.com`; consumer
    /// accounts sign in unless `hosted_domains` is set. `generic`: any
    /// OpenID Provider, `issuer` exact. oauth2: `github` (github.com, or
    /// GitHub Enterprise Server with `github_url`), `facebook` or `generic`
    /// (`authorization_url`, `token_url`, `userinfo_url` and `claims`).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["generic", "microsoft", "google", "github", "facebook"], "default" = "generic")
    )]
    pub(super) preset: Option<S<String>>,
    /// (oidc, oauth2; required) The client id registered at the IdP.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) client_id: Option<S<String>>,
    /// (oidc, oauth2) A file holding the client secret, re-read on reload. One of
    /// `client_secret_file` and `client_secret_env`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) client_secret_file: Option<S<String>>,
    /// (oidc, oauth2) An environment variable holding the client secret.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) client_secret_env: Option<S<String>>,
    /// Never accepted: a secret in a reviewed config file leaks through
    /// backups and reviews. Use `client_secret_file` or `client_secret_env`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("deprecated" = true, "not" = {}))]
    pub(super) client_secret: Option<S<String>>,
    /// (oidc, oauth2) Scopes to request. oidc: must include `openid`.
    /// oauth2: default `[user:email]` for github (which needs it),
    /// `[email]` for facebook, none for generic.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        extend("default" = crate::oidc::DEFAULT_SCOPES)
    )]
    pub(super) scopes: Option<S<Vec<S<String>>>>,
    /// (jwt, oidc, oauth2, local, saml; required for saml) E-mail domains this IdP answers for (home-realm
    /// discovery); a sign-in or bearer token with an e-mail in another
    /// domain is refused. A jwt IdP without `domains` may assert any domain
    /// except the organisation's member domains; its users are members only
    /// when a member domain is listed here.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["contoso.com"])]
    pub(super) domains: Vec<S<String>>,
    /// (oidc, jwt, local, saml) `trusted`: the IdP's `amr`/`acr` counts as
    /// MFA when it names one of `mfa_values` (saml: an
    /// `AuthnContextClassRef` in `mfa_authn_contexts`). `untrusted`: it
    /// never counts; Portcullis asks for its own second factor (a bearer
    /// token can get none, so an MFA policy blocks it).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["trusted", "untrusted"], "default" = "untrusted")
    )]
    pub(super) mfa: Option<S<String>>,
    /// (oidc, jwt) `amr`/`acr` values that count as MFA for this IdP;
    /// only with `mfa: trusted`. A saml IdP names its own in
    /// `mfa_authn_contexts`.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        extend("default" = crate::trust::DEFAULT_MFA_VALUES)
    )]
    pub(super) mfa_values: Option<S<Vec<S<String>>>>,
    /// (oidc, jwt, saml) `amr`/`acr` values (for SAML the
    /// `AuthnContextClassRef`) that count as phishing-resistant MFA for
    /// this IdP, e.g. Entra's `fido`, `wia`, `x509`; each also counts as
    /// MFA. Only with `mfa: trusted`. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>", example = ["fido", "wia"])]
    pub(super) phishing_resistant_values: Option<S<Vec<S<String>>>>,
    /// (oidc, jwt, saml) `true`: the IdP's groups also count under their bare
    /// names, like the directory's own. Only for an IdP whose `domains` are
    /// all member domains. Otherwise its groups are named `IDP:GROUP`
    /// (`group:fabrikam-entra:engineers` in rules and `owners`).
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub(super) trust_groups: Option<S<bool>>,
    /// (oidc) Where the discovery document is read (the whole URL, ending
    /// in `/.well-known/openid-configuration`), for sovereign clouds,
    /// egress proxies and tests. The tokens' issuer rules stay the
    /// preset's. Default: the issuer's own document.
    #[serde(default)]
    #[schemars(with = "Option<shapes::HttpUrl>")]
    pub(super) discovery_url: Option<S<String>>,
    /// (oidc, microsoft preset) Tenant ids (GUIDs) whose users may sign in;
    /// a token of another tenant is refused. Default: any tenant the
    /// authority admits.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) tenants: Vec<S<String>>,
    /// (oidc, google preset) Only Google Workspace accounts whose `hd`
    /// (hosted domain) is listed sign in. Default: any Google account,
    /// consumer accounts (no `hd`) included.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["fabrikam.com"])]
    pub(super) hosted_domains: Vec<S<String>>,
    // `type: oauth2` (see `crate::oauth2::Oauth2IdpFile`):
    /// (oauth2, github preset) GitHub Enterprise Server's address,
    /// `https://HOST` (its API is `HOST/api/v3`); http:// only to a
    /// loopback address. Default: github.com.
    #[serde(default)]
    #[schemars(
        with = "Option<shapes::HttpUrl>",
        example = "https://github.fabrikam.example"
    )]
    pub(super) github_url: Option<S<String>>,
    /// (oauth2; required for generic) Where the browser is sent to sign in.
    /// With the facebook preset: overrides Facebook's (tests, egress
    /// proxies). https:// (http:// only to a loopback address).
    #[serde(default)]
    #[schemars(with = "Option<shapes::HttpUrl>")]
    pub(super) authorization_url: Option<S<String>>,
    /// (oauth2; required for generic) Where the code is exchanged for an
    /// access token (client secret with HTTP Basic for generic).
    #[serde(default)]
    #[schemars(with = "Option<shapes::HttpUrl>")]
    pub(super) token_url: Option<S<String>>,
    /// (oauth2; required for generic) Where the profile is read with the
    /// access token (`GET`, `Authorization: Bearer`).
    #[serde(default)]
    #[schemars(with = "Option<shapes::HttpUrl>")]
    pub(super) userinfo_url: Option<S<String>>,
    /// (oauth2, generic; required) Where the user's id, e-mail, whether it
    /// is verified, and name are in the userinfo answer (JSON pointers).
    #[serde(default)]
    #[schemars(with = "Option<crate::oauth2::Oauth2ClaimsFile>")]
    pub(super) claims: Option<S<crate::oauth2::Oauth2ClaimsFile>>,
    // `type: local` (see `crate::local_idp`):
    /// (local, required) The users file: accounts with argon2id password
    /// hashes (`portcullis schema users` gives its schema).
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "users.yaml")]
    pub(super) users_file: Option<S<String>>,
    // `type: saml` (see `crate::saml::config`):
    /// (saml) An http(s) URL of the IdP's SAML metadata, fetched at start
    /// and refreshed hourly; a failed refresh keeps the last good copy.
    /// Exactly one of `metadata_url` and `metadata_file`.
    #[serde(default)]
    #[schemars(with = "Option<shapes::HttpUrl>")]
    pub(super) metadata_url: Option<S<String>>,
    /// (saml) A file with the IdP's SAML metadata.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) metadata_file: Option<S<String>>,
    /// (saml) Attribute names read for e-mail, display name and groups;
    /// each list is tried in order. Defaults: the claim URIs AD FS and Entra
    /// ID send.
    #[serde(default)]
    pub(super) attributes: Option<crate::saml::config::AttributesFile>,
    /// (saml) `AuthnContextClassRef` values that count as MFA, with
    /// `mfa: trusted`. Default: `http://schemas.microsoft.com/claims/multipleauthn`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) mfa_authn_contexts: Option<Vec<S<String>>>,
    /// (saml) Accept responses the IdP sends unasked (IdP-initiated); they
    /// land on the apps page. Default: false (refused).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub(super) allow_idp_initiated: Option<S<bool>>,
    /// (saml) A PEM private key for signing AuthnRequests and decrypting
    /// encrypted assertions; with `sp_cert_file`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) sp_key_file: Option<S<String>>,
    /// (saml) The PEM certificate of `sp_key_file`, published in our SP
    /// metadata.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) sp_cert_file: Option<S<String>>,
}

/// An app behind the gateway.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AppFile {
    /// Unique name, used by rule files (`apps`), metrics and the assertion's
    /// `aud`: letters, digits, `-` and `_`; not `all`.
    #[schemars(with = "shapes::AppName")]
    pub(super) name: S<String>,
    /// Shown on the access panel. Default: the name.
    #[serde(default)]
    pub(super) title: Option<String>,
    /// Shown on the access panel. Default: none.
    #[serde(default)]
    pub(super) description: Option<String>,
    /// The tile's picture on the access panel: a file relative to this
    /// config (`.svg`, `.png`, `.jpg`, `.gif`, `.webp` or `.ico`, at most
    /// 256 KiB; served by the gateway under `/.portcullis/icons/`) or an
    /// `https://` URL. Default: a tile with the title's first letter.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "icons/payroll.svg")]
    pub(super) icon: Option<S<String>>,
    /// Host names the app is served on (no scheme, port or path); at least
    /// one.
    #[schemars(with = "Vec<shapes::HostName>", length(min = 1), example = ["payroll.example.com"])]
    pub(super) hosts: S<Vec<S<String>>>,
    /// Route only paths under this prefix. With several apps on one host,
    /// the longest matching prefix wins. Default: the whole host.
    #[serde(default)]
    #[schemars(with = "Option<shapes::UrlPath>")]
    pub(super) path_prefix: Option<S<String>>,
    /// Upstream servers, `HOST:PORT` or `https://HOST:PORT`; at least one.
    /// Several are balanced round-robin, skipping unhealthy ones.
    #[schemars(with = "Vec<shapes::Upstream>", length(min = 1), example = ["127.0.0.1:9001"])]
    pub(super) upstreams: S<Vec<S<String>>>,
    /// Paths that skip the policy check: exact, or a prefix when ending in
    /// `/`. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<shapes::UrlPath>", example = ["/health"])]
    pub(super) public_paths: Vec<S<String>>,
    /// Send the client's `Host` to the upstream; `false` sends the
    /// upstream's own address.
    #[serde(default)]
    #[schemars(extend("default" = true))]
    pub(super) preserve_host: Option<bool>,
    /// TLS to `https://` upstreams.
    #[serde(default)]
    pub(super) upstream_tls: Option<UpstreamTlsFile>,
    /// Bound on connecting to an upstream.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "5s"))]
    pub(super) connect_timeout: Option<S<String>>,
    /// Bound on waiting for the upstream's response (between reads).
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "60s"))]
    pub(super) read_timeout: Option<S<String>>,
    /// Active health checks of the upstreams.
    #[serde(default)]
    pub(super) health_check: Option<HealthCheckFile>,
    /// What requests without a (good enough) session get: `auto` (browsers
    /// are redirected to sign in, API clients get 401), `redirect` or `deny`
    /// (always 401, for single-page apps).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["auto", "redirect", "deny"], "default" = "auto")
    )]
    pub(super) on_unauthenticated: Option<S<String>>,
    /// `allow` lets CORS pre-flight `OPTIONS` requests through without a
    /// session.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["allow", "deny"], "default" = "deny")
    )]
    pub(super) cors_preflight: Option<S<String>>,
    /// Forward the gateway's session cookie to the upstream.
    #[serde(default)]
    pub(super) forward_session_cookie: bool,
    /// Forward an `Authorization: Bearer` header the gateway consumed.
    #[serde(default)]
    pub(super) forward_authorization: bool,
    /// Who manages the app's guests (invite, extend, remove, approve):
    /// e-mails or `group:NAME`.
    #[serde(default)]
    #[schemars(with = "Vec<shapes::Owner>")]
    pub(super) owners: Vec<S<String>>,
    /// Self-service sign-up: partners ask for access themselves. Default: off.
    #[serde(default)]
    #[schemars(with = "Option<SignUpFile>")]
    pub(super) sign_up: Option<S<SignUpFile>>,
}

/// `apps[].sign_up`: partners may ask for access.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignUpFile {
    /// `false` turns sign-up off while keeping the settings.
    #[serde(default)]
    #[schemars(extend("default" = true))]
    pub(super) enabled: Option<bool>,
    /// Allowed e-mail domains. Default: any.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["fabrikam.com"])]
    pub(super) domains: Vec<S<String>>,
    /// IdPs (of type `oidc`, `oauth2` or `local`) offered on the sign-up page.
    /// Default: the usual discovery by e-mail domain.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(super) idps: Vec<S<String>>,
    /// Extra answers to collect (company, reason, ...).
    #[serde(default)]
    #[schemars(with = "Vec<AttributeFile>")]
    pub(super) attributes: Vec<S<AttributeFile>>,
    /// Who approves a request: `owner` (an owner of the app, told by
    /// e-mail) or `automatic` (requests from `domains` are approved at
    /// once; needs `domains`).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["owner", "automatic"], "default" = "owner")
    )]
    pub(super) approval: Option<S<String>>,
    /// How many days approved access lasts (1 to 366).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 366), extend("default" = 30))]
    pub(super) access_days: Option<S<u32>>,
}

/// One extra sign-up question.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AttributeFile {
    /// Key of the answer: lower-case letters, digits and `_`; unique in the
    /// app.
    #[schemars(with = "String", regex(pattern = "^[a-z0-9_]+$"), example = &"company")]
    pub(super) name: S<String>,
    /// The question shown. Default: the name with spaces for `_`.
    #[serde(default)]
    pub(super) label: Option<String>,
    /// Whether an answer is required.
    #[serde(default)]
    pub(super) required: bool,
}

/// `guests`: what happens as guest access runs out (as Entra's external
/// user lifecycle).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GuestsFile {
    /// How long an invitation link works, at most `90d`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Guests::default().invitation_lifetime)))]
    pub(super) invitation_lifetime: Option<S<String>>,
    /// Reminder e-mails to the guest and the app's owners this long before
    /// an assignment ends.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Guests::default().reminder_before)))]
    pub(super) reminder_before: Option<S<String>>,
    /// When a guest's last assignment ends: `none` (keep the account),
    /// `block` (no sign-in) or `delete` (block, then delete after
    /// `delete_after`).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["none", "block", "delete"], "default" = "none")
    )]
    pub(super) on_last_assignment_end: Option<S<String>>,
    /// With `delete`: how long after blocking the guest is deleted.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Guests::default().delete_after)))]
    pub(super) delete_after: Option<S<String>>,
}

/// `decision_log`: every decision recorded in the store, for `explain` and
/// `rules diff`. Every refusal is kept; allows are sampled.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionLogFile {
    /// How long an entry is kept; older ones are pruned every few minutes.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(DecisionLog::DEFAULT_RETENTION)))]
    pub(super) retention: Option<S<String>>,
    /// The most entries kept; the oldest beyond it are pruned (the allows
    /// recorded together in one flush go or stay together, so up to a
    /// thousand more may stay). `0` turns the log off.
    #[serde(default)]
    #[schemars(extend("default" = DecisionLog::DEFAULT_MAX_ENTRIES))]
    pub(super) max_entries: Option<u64>,
    /// The share of allowed requests recorded, from `0.0` to `1.0` (every
    /// other decision is always recorded). Default: `1.0` on SQLite, `0.1`
    /// on PostgreSQL (several busy replicas share one database).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 1.0))]
    pub(super) sample_allows: Option<S<f64>>,
}

/// `lint`: the settings of `portcullis rules lint`; never read by the
/// gateway while it serves.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LintFile {
    /// Emergency accounts (`group:NAME` or an e-mail address) every block on
    /// all users of all apps must exclude (finding `overbroad`). Empty: any
    /// user exclusion will do.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = ["group:break-glass"])]
    pub(super) break_glass: Vec<S<String>>,
    /// How long a policy may stay `report_only` after its `since:` date
    /// (finding `stale-report-only`).
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(Lint::DEFAULT_REPORT_ONLY_MAX_AGE)))]
    pub(super) report_only_max_age: Option<S<String>>,
}

/// TLS to the app's `https://` upstreams.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamTlsFile {
    /// A PEM file of CA certificates to trust instead of the system's.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) ca_file: Option<S<String>>,
    /// Accept any certificate (self-signed on-premises apps). Explicit
    /// only; the connection is then not authenticated.
    #[serde(default)]
    pub(super) insecure_skip_verify: bool,
    /// Server name to send and verify. Default: the upstream's host.
    #[serde(default)]
    pub(super) sni: Option<String>,
}

/// Active health checks; an unhealthy upstream gets no traffic.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HealthCheckFile {
    /// An HTTP `GET` path that must answer 2xx or 3xx. Default: a TCP
    /// connect.
    #[serde(default)]
    #[schemars(with = "Option<shapes::UrlPath>", example = "/health")]
    pub(super) path: Option<S<String>>,
    /// Time between checks.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "5s"))]
    pub(super) interval: Option<S<String>>,
}

/// Process settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerFile {
    /// How long a graceful shutdown (`SIGTERM`) waits for in-flight
    /// requests.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "30s"))]
    pub(super) grace_period: Option<S<String>>,
    /// Worker threads of the proxy service. Default: the number of cores.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub(super) threads: Option<usize>,
    /// The folder of this instance's pid file and upgrade socket
    /// (`portcullis-<id>.pid`, `portcullis-<id>.upgrade.sock`, `<id>` from
    /// the config file's path). Default: beside the SQLite store, else the
    /// system's temporary folder.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(super) state_dir: Option<S<String>>,
    /// The longest a client may take to send one HTTP/1 request head, from
    /// its first byte to its blank line (slowloris); the connection is then
    /// closed. Applies to the public and the admin listener.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = "20s"))]
    pub(super) request_head_timeout: Option<S<String>>,
    /// Most connections one client address holds at a time (IPv6 counted by
    /// /64; peers in `trusted_proxies` are not capped); more are closed at
    /// once.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = 256))]
    pub(super) max_connections_per_client: Option<S<u32>>,
    /// The memory, in bytes, the verified-token cache may hold (session
    /// cookies and bearer tokens verified once, then served from memory
    /// until they expire). At ~450 bytes a session, the default holds
    /// about 145k sessions; when full, the least used go first and are
    /// verified again on their next request.
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1_048_576), extend("default" = 67_108_864))]
    pub(super) session_cache_bytes: Option<S<u64>>,
}

/// The JSON Schema of `portcullis.yaml` (`portcullis schema config`).
pub fn config_file_schema(generator: schemars::SchemaGenerator) -> schemars::Schema {
    generator.into_root_schema_for::<ConfigFile>()
}
