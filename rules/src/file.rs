//! File types: exactly what a user writes in a rule file, with source
//! positions on every value that is checked later. `compile` turns them into
//! the runtime model. No `flatten`/`untagged` here: they lose unknown-field
//! errors and spans.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

pub(crate) type S<T> = Spanned<T>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    #[serde(default)]
    pub named_locations: Vec<S<NamedLocationFile>>,
    #[serde(default)]
    pub policies: Vec<S<PolicyFile>>,
    #[serde(default)]
    pub tests: Vec<S<TestFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedLocationFile {
    pub name: S<String>,
    #[serde(default)]
    pub ip_ranges: Vec<S<String>>,
    #[serde(default)]
    pub countries: Vec<S<String>>,
    #[serde(default)]
    pub trusted: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub state: Option<S<String>>,
    pub users: S<IncludeExclude>,
    pub apps: S<IncludeExclude>,
    #[serde(default)]
    pub platforms: Option<S<IncludeExclude>>,
    #[serde(default)]
    pub locations: Option<S<IncludeExclude>>,
    #[serde(default)]
    pub client_apps: Option<S<IncludeExclude>>,
    #[serde(default)]
    pub paths: Option<S<IncludeExclude>>,
    #[serde(default)]
    pub methods: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub grant: Option<S<GrantFile>>,
    #[serde(default)]
    pub session: Option<S<SessionFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncludeExclude {
    #[serde(default)]
    pub include: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub exclude: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionFile {
    #[serde(default)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestFile {
    pub name: S<String>,
    pub request: S<TestRequestFile>,
    pub expect: S<String>,
    /// Policies (any state) that must apply; checked as a set.
    #[serde(default)]
    pub applied: Option<Vec<S<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequestFile {
    /// The signed-in user's e-mail; absent means not signed in.
    #[serde(default)]
    pub user: Option<S<String>>,
    #[serde(default)]
    pub user_type: Option<S<String>>,
    #[serde(default)]
    pub groups: Vec<S<String>>,
    pub app: S<String>,
    #[serde(default)]
    pub path: Option<S<String>>,
    #[serde(default)]
    pub method: Option<S<String>>,
    #[serde(default)]
    pub ip: Option<S<String>>,
    /// Overrides the GeoIP answer for `ip` (or stands alone without an `ip`).
    #[serde(default)]
    pub country: Option<S<String>>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub platform: Option<S<String>>,
    #[serde(default)]
    pub client_app: Option<S<String>>,
    #[serde(default)]
    pub mfa: bool,
    #[serde(default)]
    pub signed_in_ago: Option<S<String>>,
    /// Whether a guest holds a live assignment to the app (default true).
    #[serde(default)]
    pub assigned: Option<bool>,
}
