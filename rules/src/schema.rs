//! JSON Schema for rule files (`portcullis schema rules`). The file types in
//! `file.rs` derive `JsonSchema` and their doc comments become the schema's
//! descriptions. Values the file types keep as strings and `compile` checks
//! later get their shape here, built from the same word lists `compile` and
//! `cases` check against, so the schema cannot drift from the parser.
//!
//! The schema is for editors and reviews: it catches unknown fields, typos in
//! closed vocabularies and malformed durations as you type. It cannot know the
//! app names of a config or whether a named location exists; `portcullis
//! check` does that.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;
use std::marker::PhantomData;

use crate::eval::Decision;
use crate::file::{IncludeExclude, RuleFile};
use crate::model::{Control, State};
use crate::paths::METHODS;
use crate::platform::Platform;

/// The schema of one rule file, with `generator`'s settings (draft, null
/// handling); the gateway adds `$id` and a title.
pub fn rule_file(generator: SchemaGenerator) -> Schema {
    generator.into_root_schema_for::<RuleFile>()
}

/// Defines a unit struct whose JSON Schema is a string shape, made inline
/// (no `$defs` entry): a short shape is easier to read beside its field than
/// behind a link. The doc comment becomes the schema's `description`, a
/// non-empty title its `title`. The gateway's config shapes use it too
/// (`rules::string_shape!`), so both crates' shapes read alike.
#[macro_export]
macro_rules! string_shape {
    ($(#[doc = $doc:literal])* $name:ident ($title:literal) => $schema:expr) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl $crate::schema::__schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(
                _: &mut $crate::schema::__schemars::SchemaGenerator,
            ) -> $crate::schema::__schemars::Schema {
                let mut schema: $crate::schema::__schemars::Schema = $schema;
                let doc = [$($doc),*].map(str::trim).join(" ");
                schema.insert("description".into(), doc.into());
                if !$title.is_empty() {
                    schema.insert("title".into(), $title.into());
                }
                schema
            }
        }
    };
}

/// `schemars` for [`string_shape!`]'s expansion, so a crate using the macro
/// names the same `schemars` as this one.
#[doc(hidden)]
pub use schemars as __schemars;

string_shape! {
    /// A duration: one whole number and one unit, `s`, `m`, `h` or `d`
    /// (`90s`, `30m`, `12h`, `7d`); never zero (`rules::parse_duration`).
    Duration ("duration") => json_schema!({
        "type": "string",
        "pattern": "^\\s*0*[1-9][0-9]*[smhd]\\s*$",
    })
}

string_shape! {
    /// An IPv4 or IPv6 range in CIDR notation, or one address (a single-host
    /// range). Host bits must be zero: `10.0.0.0/8`, not `10.0.0.1/8`.
    IpRange ("IP range") => json_schema!({
        "type": "string",
        "pattern": "^\\s*[0-9A-Fa-f:.]+(/[0-9]{1,3})?\\s*$",
        "examples": ["203.0.113.0/24", "2001:db8:10::/48", "192.0.2.7"],
    })
}

string_shape! {
    /// One IP address, v4 or v6.
    IpAddress ("IP address") => json_schema!({
        "type": "string",
        "pattern": "^\\s*[0-9A-Fa-f:.]+\\s*$",
        "examples": ["198.51.100.7", "2001:db8::1"],
    })
}

string_shape! {
    /// An ISO 3166-1 alpha-2 country code (any case), or `unknown`: the
    /// country of an address the GeoIP database cannot place.
    Country ("country code") => json_schema!({
        "type": "string",
        "pattern": "^([A-Za-z]{2}|[Uu][Nn][Kk][Nn][Oo][Ww][Nn])$",
        "examples": ["DE", "KP", "unknown"],
    })
}

string_shape! {
    /// A policy state.
    StateWord ("") => json_schema!({ "type": "string", "enum": State::NAMES })
}

string_shape! {
    /// A decision a rule test expects.
    DecisionWord ("") => json_schema!({ "type": "string", "enum": Decision::NAMES })
}

string_shape! {
    /// A user type.
    UserTypeWord ("") => json_schema!({ "type": "string", "enum": ["guest", "member"] })
}

string_shape! {
    /// A device platform, as the User-Agent and client hints reveal it.
    PlatformWord ("") => json_schema!({ "type": "string", "enum": platform_names() })
}

string_shape! {
    /// `browser` (a page navigation) or `api` (a bearer token, or a request
    /// that is not a navigation).
    ClientAppWord ("") => json_schema!({ "type": "string", "enum": ["browser", "api"] })
}

string_shape! {
    /// The MFA behind the session: `false` (none, the default), `true`
    /// (MFA that is not phishing-resistant, such as a TOTP code), or
    /// `phishing_resistant` (a passkey, or an IdP's phishing-resistant
    /// method). The words `none` and `mfa` mean `false` and `true`.
    MfaWord ("") => json_schema!({
        "oneOf": [
            { "type": "boolean" },
            { "type": "string", "enum": crate::model::MfaStrength::NAMES },
        ],
        "default": false,
    })
}

string_shape! {
    /// An HTTP method, upper case.
    MethodWord ("") => json_schema!({ "type": "string", "enum": METHODS })
}

string_shape! {
    /// `all`, `guests`, `members`, `group:NAME`, `domain:DOMAIN` or an e-mail
    /// address.
    UserEntry ("user") => json_schema!({
        "type": "string",
        "anyOf": [
            { "enum": ["all", "guests", "members"] },
            { "pattern": "^group:\\S" },
            { "pattern": "^domain:\\S" },
            { "pattern": "^[^@\\s]+@[^@\\s]+$" },
        ],
        "examples": ["all", "guests", "group:finance", "domain:contoso.com", "anna@contoso.com"],
    })
}

string_shape! {
    /// `all` or the name of an app in `portcullis.yaml`.
    AppEntry ("app name") => json_schema!({
        "type": "string",
        "examples": ["all", "payroll"],
    })
}

string_shape! {
    /// `all`, `trusted` (every named location with `trusted: true`) or the
    /// name of a named location.
    LocationEntry ("location") => json_schema!({
        "type": "string",
        "examples": ["all", "trusted", "tailwind-offices"],
    })
}

string_shape! {
    /// `all` or a platform.
    PlatformEntry ("") => json_schema!({
        "type": "string",
        "enum": std::iter::once("all").chain(platform_names()).collect::<Vec<_>>(),
    })
}

string_shape! {
    /// `all`, `browser` or `api`.
    ClientAppEntry ("") => json_schema!({ "type": "string", "enum": ["all", "browser", "api"] })
}

string_shape! {
    /// `all` or a glob on the normalised path, starting with `/`: `*` within
    /// one segment, `**` across segments; `/admin/*` also covers `/admin`.
    PathEntry ("path glob") => json_schema!({
        "type": "string",
        "pattern": "^(all|/.*)$",
        "examples": ["/admin/*", "/api/**"],
    })
}

fn platform_names() -> Vec<&'static str> {
    Platform::ALL.iter().map(|p| p.as_str()).collect()
}

/// `{ include: [...], exclude: [...] }` whose entries are `E`: the derived
/// schema of `IncludeExclude` (`file.rs`) with its list items replaced, so every
/// condition (users, apps, platforms, ...) completes its own words.
pub struct Condition<E>(PhantomData<E>);

impl<E: JsonSchema> JsonSchema for Condition<E> {
    fn schema_name() -> Cow<'static, str> {
        let entry = E::schema_name();
        let name = entry.strip_suffix("Entry").unwrap_or(&entry);
        format!("{name}Condition").into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = IncludeExclude::json_schema(generator);
        let entry = generator.subschema_for::<E>().to_value();
        if let (Some(own), Some(of_entry)) = (
            schema.get("description").and_then(|d| d.as_str()),
            entry.get("description").and_then(|d| d.as_str()),
        ) {
            let text = format!("{own}\n\nEntries: {of_entry}");
            schema.insert("description".into(), text.into());
        }
        if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            for list in props.values_mut() {
                if let Some(items) = list.get_mut("items") {
                    *items = entry.clone();
                }
            }
        }
        schema
    }
}

/// `grant`: the word `block`, or the controls to require.
pub struct Grant;

impl JsonSchema for Grant {
    fn schema_name() -> Cow<'static, str> {
        "Grant".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`block`, or `{ require: [mfa, phishing_resistant_mfa], operator: all | any }`: \
                the controls a request must meet when the policy applies. `mfa`: any second \
                factor; `phishing_resistant_mfa`: a passkey used in this session, or an IdP \
                trusted for MFA whose `amr`/`acr` is one of its `phishing_resistant_values`.",
            "oneOf": [
                {
                    "description": "Deny every request the policy applies to.",
                    "type": "string",
                    "const": "block",
                },
                {
                    "type": "object",
                    "properties": {
                        "require": {
                            "description": "Controls the request must meet.",
                            "type": "array",
                            "items": { "type": "string", "enum": Control::NAMES },
                        },
                        "operator": {
                            "description": "Whether all the controls are needed or any one of them.",
                            "type": "string",
                            "enum": ["all", "any"],
                            "default": "all",
                        },
                    },
                    "required": ["require"],
                    "additionalProperties": false,
                },
            ],
        })
    }
}
