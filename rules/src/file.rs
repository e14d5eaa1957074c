//! File types: exactly what a user writes in a rule file, with source
//! positions on every value that is checked later. `compile` turns them into
//! the runtime model. No `flatten`/`untagged` here: they lose unknown-field
//! errors and spans.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

use crate::schema;

pub(crate) type S<T> = Spanned<T>;

/// A Portcullis rule file: named locations, conditional-access policies and
/// test cases. The config's `rules` globs pick the files; names are unique
/// across all of them. Check with `portcullis check`, run the tests with
/// `portcullis rules test`.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Portcullis rule file")]
pub(crate) struct RuleFile {
    /// Places a request can come from: IP ranges and/or countries. Policies
    /// name them in `locations`.
    #[serde(default)]
    #[schemars(with = "Vec<NamedLocationFile>")]
    pub named_locations: Vec<S<NamedLocationFile>>,
    /// Conditional-access policies. Every enabled policy that applies is
    /// enforced; `block` in any of them wins, otherwise the grants of all
    /// applying policies must be met.
    #[serde(default)]
    #[schemars(with = "Vec<PolicyFile>")]
    pub policies: Vec<S<PolicyFile>>,
    /// Test cases: a request and the decision the rules must give it, run by
    /// `portcullis rules test` (and by `check`).
    #[serde(default)]
    #[schemars(with = "Vec<TestFile>")]
    pub tests: Vec<S<TestFile>>,
}

/// A named location: IP ranges and/or countries. At least one of the two.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedLocationFile {
    /// The name policies use in `locations` (unique; not `all` or
    /// `trusted`).
    #[schemars(with = "String", example = "tailwind-offices")]
    pub name: S<String>,
    /// IPv4 and IPv6 ranges in CIDR notation (a bare address is one host).
    /// Quote IPv6 ranges in flow lists: `["2001:db8:10::/48"]`.
    #[serde(default)]
    #[schemars(with = "Vec<schema::IpRange>")]
    pub ip_ranges: Vec<S<String>>,
    /// ISO 3166-1 alpha-2 country codes, from the GeoIP database; `unknown`
    /// matches addresses the database cannot place.
    #[serde(default)]
    #[schemars(with = "Vec<schema::Country>")]
    pub countries: Vec<S<String>>,
    /// Whether the location is part of `trusted` (e.g. the offices).
    #[serde(default)]
    pub trusted: bool,
}

/// One conditional-access policy: it applies when every condition matches
/// (exclusions beat inclusions), and then its `grant` and `session` controls
/// count.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// Unique name, shown in explanations, logs and the
    /// `portcullis_policy_*` metrics.
    #[schemars(with = "String", example = "guests-need-mfa")]
    pub name: S<String>,
    /// Free text for reviewers; never shown to users.
    #[serde(default)]
    pub description: Option<String>,
    /// `enabled` (the default) is enforced; `report_only` is evaluated,
    /// logged and counted but never changes the outcome; `disabled` is
    /// skipped.
    #[serde(default)]
    #[schemars(with = "Option<schema::StateWord>", extend("default" = "enabled"))]
    pub state: Option<S<String>>,
    /// Who: `all`, `guests`, `members`, `group:NAME`, `domain:DOMAIN` or an
    /// e-mail address. Required.
    #[schemars(with = "schema::Condition<schema::UserEntry>")]
    pub users: S<IncludeExclude>,
    /// Which apps: `all` or app names from the config. Required.
    #[schemars(with = "schema::Condition<schema::AppEntry>")]
    pub apps: S<IncludeExclude>,
    /// Device platforms (`Sec-CH-UA-Platform` wins over the User-Agent).
    /// Default: any.
    #[serde(default)]
    #[schemars(with = "Option<schema::Condition<schema::PlatformEntry>>")]
    pub platforms: Option<S<IncludeExclude>>,
    /// Where the request comes from: `all`, `trusted` or named locations.
    /// Default: anywhere.
    #[serde(default)]
    #[schemars(with = "Option<schema::Condition<schema::LocationEntry>>")]
    pub locations: Option<S<IncludeExclude>>,
    /// `browser` or `api` clients. Default: both.
    #[serde(default)]
    #[schemars(with = "Option<schema::Condition<schema::ClientAppEntry>>")]
    pub client_apps: Option<S<IncludeExclude>>,
    /// Path globs inside the app, on the normalised path. Default: every
    /// path.
    #[serde(default)]
    #[schemars(with = "Option<schema::Condition<schema::PathEntry>>")]
    pub paths: Option<S<IncludeExclude>>,
    /// HTTP methods the policy applies to (upper case). Default: all.
    #[serde(default)]
    #[schemars(with = "Option<Vec<schema::MethodWord>>")]
    pub methods: Option<S<Vec<S<String>>>>,
    /// What an applying policy demands. Without `grant` (and without
    /// `session`) the policy only records that it applied.
    #[serde(default)]
    #[schemars(with = "Option<schema::Grant>")]
    pub grant: Option<S<GrantFile>>,
    /// Session controls; several applying policies combine to the strictest.
    #[serde(default)]
    #[schemars(with = "Option<SessionFile>")]
    pub session: Option<S<SessionFile>>,
    /// The date (`YYYY-MM-DD`) the policy got its current `state`; `rules
    /// lint` reports a `report_only` policy older than the config's
    /// `lint.report_only_max_age`. Not used in decisions.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "2026-11-02")]
    pub since: Option<S<String>>,
}

/// `{ include: [...], exclude: [...] }`. An entry in `exclude` beats one in
/// `include`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncludeExclude {
    /// What the condition matches; `all` for everything. Must not be empty
    /// when given.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub include: Option<S<Vec<S<String>>>>,
    /// Taken out of `include`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude: Vec<S<String>>,
}

/// Session controls of a policy.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionFile {
    /// A sign-in older than this must be renewed (decision `sign_in`).
    /// Units `s`, `m`, `h`, `d`.
    #[serde(default)]
    #[schemars(with = "Option<schema::Duration>", example = "12h")]
    pub sign_in_frequency: Option<S<String>>,
}

/// `grant: block` or `grant: { require: [mfa], operator: all }`. Written by
/// hand because serde's untagged enums would lose the unknown-field errors.
pub(crate) enum GrantFile {
    /// A plain word; only `block` is valid, checked in `compile` with a span.
    Word(String),
    Require {
        require: S<Vec<S<String>>>,
        operator: Option<S<String>>,
    },
}

impl<'de> Deserialize<'de> for GrantFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GrantVisitor;
        const FIELDS: &[&str] = &["require", "operator"];

        impl<'de> Visitor<'de> for GrantVisitor {
            type Value = GrantFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`block` or a mapping `{ require: [mfa], operator: all | any }`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<GrantFile, E> {
                Ok(GrantFile::Word(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GrantFile, A::Error> {
                let mut require = None;
                let mut operator = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "require" if require.is_none() => require = Some(map.next_value()?),
                        "operator" if operator.is_none() => operator = Some(map.next_value()?),
                        "require" | "operator" => {
                            return Err(de::Error::duplicate_field(if key == "require" {
                                "require"
                            } else {
                                "operator"
                            }));
                        }
                        _ => return Err(de::Error::unknown_field(&key, FIELDS)),
                    }
                }
                let require = require.ok_or_else(|| de::Error::missing_field("require"))?;
                Ok(GrantFile::Require { require, operator })
            }
        }

        deserializer.deserialize_any(GrantVisitor)
    }
}

/// A test request's `mfa`: a boolean or a strength word (checked in
/// `cases` with a span). Written by hand for the same reason as
/// [`GrantFile`].
pub(crate) enum MfaFile {
    Bool(bool),
    Word(String),
}

impl<'de> Deserialize<'de> for MfaFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MfaVisitor;

        impl Visitor<'_> for MfaVisitor {
            type Value = MfaFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true`, `false` or `phishing_resistant`")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MfaFile, E> {
                Ok(MfaFile::Bool(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<MfaFile, E> {
                Ok(MfaFile::Word(v.to_string()))
            }
        }

        deserializer.deserialize_any(MfaVisitor)
    }
}

/// A rule test case: a request and the decision the rules must give it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestFile {
    /// Unique name, printed when the test fails.
    #[schemars(with = "String")]
    pub name: S<String>,
    /// The request to decide.
    #[schemars(with = "TestRequestFile")]
    pub request: S<TestRequestFile>,
    /// The decision: `allow`, `block`, `mfa` (step-up needed) or `sign_in`.
    #[schemars(with = "schema::DecisionWord")]
    pub expect: S<String>,
    /// Policies (any state) that must apply; checked as a set.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub applied: Option<Vec<S<String>>>,
}

/// The request of a rule test; everything but `app` is optional.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequestFile {
    /// The signed-in user's e-mail; absent means not signed in.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "anna@contoso.com")]
    pub user: Option<S<String>>,
    /// `guest` or `member`. Default: from the e-mail's domain and the
    /// config's `organisation.member_domains`.
    #[serde(default)]
    #[schemars(with = "Option<schema::UserTypeWord>")]
    pub user_type: Option<S<String>>,
    /// The user's groups (for `group:NAME`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<S<String>>,
    /// The app's name from the config. Required.
    #[schemars(with = "String")]
    pub app: S<String>,
    /// The request path. Default `/`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "/"))]
    pub path: Option<S<String>>,
    /// The HTTP method (any case). Default `GET`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "GET"))]
    pub method: Option<S<String>>,
    /// The client's IP address; placed with the config's GeoIP database.
    #[serde(default)]
    #[schemars(with = "Option<schema::IpAddress>")]
    pub ip: Option<S<String>>,
    /// Overrides the GeoIP answer for `ip` (or stands alone without an `ip`).
    #[serde(default)]
    #[schemars(with = "Option<schema::Country>")]
    pub country: Option<S<String>>,
    /// The `User-Agent` header; the platform is derived from it.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The platform, instead of deriving it from `user_agent`.
    #[serde(default)]
    #[schemars(with = "Option<schema::PlatformWord>")]
    pub platform: Option<S<String>>,
    /// `browser` or `api`. Default `browser`.
    #[serde(default)]
    #[schemars(with = "Option<schema::ClientAppWord>")]
    pub client_app: Option<S<String>>,
    /// The MFA the session carries: `false` (default), `true` (plain MFA,
    /// e.g. TOTP) or `phishing_resistant` (a passkey, or an IdP's
    /// phishing-resistant method).
    #[serde(default)]
    #[schemars(with = "Option<schema::MfaWord>")]
    pub mfa: Option<S<MfaFile>>,
    /// How long ago the user signed in (against `sign_in_frequency`).
    /// Default: just now.
    #[serde(default)]
    #[schemars(with = "Option<schema::Duration>", example = "13h")]
    pub signed_in_ago: Option<S<String>>,
    /// Whether a guest holds a live assignment to the app (default true).
    #[serde(default)]
    #[schemars(extend("default" = true))]
    pub assigned: Option<bool>,
}
