//! `GET|POST /api/v1/whatif`: the object `portcullis whatif --json` prints,
//! decided against the live snapshot. `GET` takes the CLI's flags as query
//! parameters (`group` repeats; `mfa` and `unassigned` are flags: empty,
//! `true`/`1` or `false`/`0`; `mfa` may also be a strength, `none`, `mfa`
//! or `phishing_resistant`); `POST` takes a JSON object with the same
//! names (`group` a string or an array). Without `user` the request is not
//! signed in, and `user_type`, `group`, `mfa` and `signed_in_ago` are
//! refused, as the CLI's `--anonymous` refuses them.
//!
//! The directory is read from the gateway's store (as the CLI reads it)
//! unless `offline` is given; `unassigned` needs `offline`, as the CLI's
//! `--unassigned` needs `--offline`. A directory that cannot be read is a
//! 503.

use super::AdminApp;
use super::response::{BadInput, json_response};
use super::routes::percent_decode;
use crate::whatif::{WhatIf, WhatIfError};
use http::{Method, Response, StatusCode};
use rules::{ClientApp, Platform, RequestFacts, UserType};
use serde_json::Value;
use std::net::IpAddr;

impl AdminApp {
    /// `GET|POST /api/v1/whatif`: the facts from the query or the JSON
    /// body, decided against the live snapshot.
    pub(super) async fn whatif(
        &self,
        method: &Method,
        query: Option<&str>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let facts = if *method == Method::POST {
            if query.is_some_and(|q| !q.is_empty()) {
                Err(BadInput::general(
                    "POST takes the facts in its JSON body; drop the query string or use GET",
                ))
            } else {
                facts_from_json(body)
            }
        } else {
            facts_from_query(query.unwrap_or(""))
        };
        let (facts, offline) = match facts {
            Ok(f) => f,
            Err(bad) => return bad.response(),
        };
        // The live snapshot, taken once: the answer is about one version.
        let snapshot = self.gateway.snapshot.load_full();
        let w = if offline {
            WhatIf::new(&snapshot, &facts).map_err(WhatIfError::Input)
        } else {
            let now = time::OffsetDateTime::now_utc();
            WhatIf::with_directory(&snapshot, &facts, &self.gateway.store, now).await
        };
        match w {
            Ok(w) => json_response(StatusCode::OK, &w.json(&snapshot)),
            // Resolving fails only on an app the snapshot does not know.
            Err(WhatIfError::Input(e)) => BadInput::field(Field::App.name(), e).response(),
            Err(WhatIfError::Directory(e)) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({
                    "error": format!("{e}; `offline` answers from the config and rule files alone")
                }),
            ),
        }
    }
}

/// The facts the "what if" API takes, named as the CLI's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    User,
    App,
    UserType,
    Group,
    Path,
    Method,
    Ip,
    Country,
    UserAgent,
    Platform,
    ClientApp,
    Mfa,
    SignedInAgo,
    Unassigned,
    Offline,
}

impl Field {
    const ALL: [Field; 15] = [
        Field::User,
        Field::App,
        Field::UserType,
        Field::Group,
        Field::Path,
        Field::Method,
        Field::Ip,
        Field::Country,
        Field::UserAgent,
        Field::Platform,
        Field::ClientApp,
        Field::Mfa,
        Field::SignedInAgo,
        Field::Unassigned,
        Field::Offline,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::User => "user",
            Field::App => "app",
            Field::UserType => "user_type",
            Field::Group => "group",
            Field::Path => "path",
            Field::Method => "method",
            Field::Ip => "ip",
            Field::Country => "country",
            Field::UserAgent => "user_agent",
            Field::Platform => "platform",
            Field::ClientApp => "client_app",
            Field::Mfa => "mfa",
            Field::SignedInAgo => "signed_in_ago",
            Field::Unassigned => "unassigned",
            Field::Offline => "offline",
        }
    }

    /// The field's JSON Schema and one-line meaning, for the OpenAPI
    /// document (kept here, beside the parsing it describes).
    fn described(self) -> (Value, &'static str) {
        use serde_json::json;
        let text = json!({"type": "string"});
        let flag = json!({"type": "boolean"});
        match self {
            Field::User => (
                text,
                "E-mail of the user asking; without it the request is not signed in",
            ),
            Field::App => (text, "The app's name in the config (required)"),
            Field::UserType => (
                json!({"enum": ["guest", "member"]}),
                "Overrides the type the directory or the e-mail domain gives",
            ),
            Field::Group => (
                json!({"type": "array", "items": {"type": "string"}}),
                "A directory group (repeat it, or a JSON array)",
            ),
            Field::Path => (text, "The request path (default /)"),
            Field::Method => (text, "The HTTP method (default GET)"),
            Field::Ip => (text, "The client's IP address"),
            Field::Country => (
                text,
                "ISO 3166-1 alpha-2 code, instead of the GeoIP answer for `ip`",
            ),
            Field::UserAgent => (text, "A User-Agent header, for the platform"),
            Field::Platform => (
                json!({"enum": Platform::ALL.map(Platform::as_str)}),
                "The device platform, instead of reading `user_agent`",
            ),
            Field::ClientApp => (
                json!({"enum": ["browser", "api"]}),
                "How the request comes (default browser)",
            ),
            Field::Mfa => (
                json!({"oneOf": [{"type": "boolean"}, {"enum": ["none", "mfa", "phishing_resistant"]}]}),
                "The session's MFA: a flag or a strength",
            ),
            Field::SignedInAgo => (text, "How long ago the session signed in (e.g. 2h)"),
            Field::Unassigned => (
                flag,
                "The user holds no assignment to the app (needs `offline`)",
            ),
            Field::Offline => (
                flag,
                "Decide from the config and rule files alone, without reading the directory",
            ),
        }
    }

    fn parse(name: &str) -> Result<Field, BadInput> {
        if let Some(f) = Field::ALL.iter().find(|f| f.name() == name) {
            return Ok(*f);
        }
        let closest = rules::closest(name, Field::ALL.iter().map(|f| f.name()));
        let message = match closest {
            Some(s) => format!("unknown field `{name}`; did you mean `{s}`?"),
            None => format!(
                "unknown field `{name}`; fields are: {}",
                Field::ALL.map(Field::name).join(", ")
            ),
        };
        Err(BadInput::field(name, message))
    }

    /// Fields that describe a signed-in user (the CLI's `--anonymous`
    /// conflicts with them).
    fn needs_user(self) -> bool {
        matches!(
            self,
            Field::UserType | Field::Group | Field::Mfa | Field::SignedInAgo
        )
    }
}

/// One input value: a query parameter or a JSON value.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Query(&'a str),
    Json(&'a Value),
}

/// Collects fields into [`RequestFacts`] with the CLI's defaults.
#[derive(Default)]
struct FactsInput {
    facts: RequestFacts,
    /// Answer from the files alone (`offline`).
    offline: bool,
    /// Every field named, to refuse repeats (but `group` repeats).
    seen: Vec<Field>,
    /// Fields given a value (JSON `null` counts as not given).
    given: Vec<Field>,
}

impl FactsInput {
    fn set(&mut self, name: &str, raw: Raw<'_>) -> Result<(), BadInput> {
        let field = Field::parse(name)?;
        if field != Field::Group && self.seen.contains(&field) {
            return Err(BadInput::field(
                name,
                format!("`{name}` is given more than once"),
            ));
        }
        self.seen.push(field);
        if matches!(raw, Raw::Json(Value::Null)) {
            return Ok(());
        }
        self.given.push(field);
        let f = &mut self.facts;
        match field {
            Field::User => f.user = Some(non_empty(field, raw)?),
            Field::App => f.app = non_empty(field, raw)?,
            Field::UserType => {
                let s = string(field, raw)?;
                f.user_type = Some(UserType::parse(&s).ok_or_else(|| {
                    BadInput::field(
                        name,
                        format!("`{s}` is not a user type; use guest or member"),
                    )
                })?);
            }
            Field::Group => match raw {
                Raw::Json(Value::Array(items)) => {
                    for item in items {
                        f.groups.push(non_empty(field, Raw::Json(item))?);
                    }
                }
                _ => f.groups.push(non_empty(field, raw)?),
            },
            Field::Path => f.path = Some(non_empty(field, raw)?),
            Field::Method => f.method = Some(non_empty(field, raw)?),
            Field::Ip => {
                let s = string(field, raw)?;
                f.ip = Some(s.trim().parse::<IpAddr>().map_err(|_| {
                    BadInput::field(name, format!("`{s}` is not an IPv4 or IPv6 address"))
                })?);
            }
            Field::Country => {
                let s = string(field, raw)?;
                f.country = Some(
                    geoip::Country::parse(&s).map_err(|e| BadInput::field(name, e.to_string()))?,
                );
            }
            Field::UserAgent => f.user_agent = Some(string(field, raw)?),
            Field::Platform => {
                let s = string(field, raw)?;
                f.platform = Some(Platform::parse(&s).ok_or_else(|| {
                    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
                    BadInput::field(
                        name,
                        format!("`{s}` is not a platform; use one of {}", names.join(", ")),
                    )
                })?);
            }
            Field::ClientApp => {
                let s = string(field, raw)?;
                f.client_app = Some(ClientApp::parse(&s).ok_or_else(|| {
                    BadInput::field(
                        name,
                        format!("`{s}` is not a client app type; use browser or api"),
                    )
                })?);
            }
            // A flag, or a strength word (`phishing_resistant`).
            Field::Mfa => {
                let word = match raw {
                    Raw::Query(w) => rules::MfaStrength::parse(w),
                    Raw::Json(Value::String(w)) => rules::MfaStrength::parse(w),
                    Raw::Json(_) => None,
                };
                f.mfa = match word {
                    Some(s) => s,
                    None if flag(field, raw)? => rules::MfaStrength::Mfa,
                    None => rules::MfaStrength::None,
                }
            }
            Field::SignedInAgo => {
                let s = string(field, raw)?;
                f.signed_in_ago = Some(rules::parse_duration(s.trim()).ok_or_else(|| {
                    BadInput::field(name, format!("`{s}` is not a duration; use 30m, 12h or 7d"))
                })?);
            }
            Field::Unassigned => f.assigned = Some(!flag(field, raw)?),
            Field::Offline => self.offline = flag(field, raw)?,
        }
        Ok(())
    }

    /// The facts, with the defaults the CLI's flags have, and whether to
    /// answer offline.
    fn finish(self) -> Result<(RequestFacts, bool), BadInput> {
        let mut facts = self.facts;
        if facts.app.is_empty() {
            return Err(BadInput::field(
                Field::App.name(),
                "`app` is required: an app name from the configuration",
            ));
        }
        if facts.user.is_none()
            && let Some(f) = self.given.iter().find(|f| f.needs_user())
        {
            return Err(BadInput::field(
                f.name(),
                format!(
                    "`{}` describes a signed-in user; give `user` too, or leave it out to ask about a request that is not signed in",
                    f.name()
                ),
            ));
        }
        facts.path.get_or_insert_with(|| "/".to_string());
        facts.method.get_or_insert_with(|| "GET".to_string());
        facts.client_app.get_or_insert(ClientApp::Browser);
        if facts.assigned == Some(false) && !self.offline {
            return Err(BadInput::field(
                Field::Unassigned.name(),
                "`unassigned` is for `offline` questions; without it the directory says whether the user is assigned",
            ));
        }
        facts.assigned.get_or_insert(true);
        Ok((facts, self.offline))
    }
}

fn string(field: Field, raw: Raw<'_>) -> Result<String, BadInput> {
    match raw {
        Raw::Query(s) => Ok(s.to_string()),
        Raw::Json(Value::String(s)) => Ok(s.clone()),
        Raw::Json(_) => Err(BadInput::field(
            field.name(),
            format!("`{}` must be a string", field.name()),
        )),
    }
}

fn non_empty(field: Field, raw: Raw<'_>) -> Result<String, BadInput> {
    let s = string(field, raw)?;
    if s.trim().is_empty() {
        return Err(BadInput::field(
            field.name(),
            format!("`{}` must not be empty", field.name()),
        ));
    }
    Ok(s)
}

/// A flag: JSON `true`/`false`; in a query, empty (`?mfa`), `true`/`1` or
/// `false`/`0`.
fn flag(field: Field, raw: Raw<'_>) -> Result<bool, BadInput> {
    match raw {
        Raw::Json(Value::Bool(b)) => Ok(*b),
        Raw::Query("" | "true" | "1") => Ok(true),
        Raw::Query("false" | "0") => Ok(false),
        Raw::Query(s) => Err(BadInput::field(
            field.name(),
            format!("`{s}` is not a flag value; use true or false"),
        )),
        Raw::Json(_) => Err(BadInput::field(
            field.name(),
            format!("`{}` must be true or false", field.name()),
        )),
    }
}

/// Facts from a query string (`application/x-www-form-urlencoded`: `+` is a
/// space, `%2B` a plus).
fn facts_from_query(query: &str) -> Result<(RequestFacts, bool), BadInput> {
    let mut input = FactsInput::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(k).ok_or_else(|| {
            BadInput::general("a query parameter name is not valid percent-encoded UTF-8")
        })?;
        let value = percent_decode(v).ok_or_else(|| {
            BadInput::field(
                &name,
                format!("`{name}` is not valid percent-encoded UTF-8"),
            )
        })?;
        input.set(&name, Raw::Query(&value))?;
    }
    input.finish()
}

/// Facts from a JSON object body.
fn facts_from_json(body: &[u8]) -> Result<(RequestFacts, bool), BadInput> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadInput::general(format!("the body is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(BadInput::general(
            "the body must be a JSON object of the whatif fields",
        ));
    };
    let mut input = FactsInput::default();
    for (name, value) in &map {
        input.set(name, Raw::Json(value))?;
    }
    input.finish()
}

/// The route's entry in the OpenAPI document: every field the parser
/// takes, as a query parameter of `GET` and a property of `POST`'s body.
pub(super) fn openapi_path(
    ok: &dyn Fn(&str, Value) -> Value,
    err: &dyn Fn(&str) -> Value,
) -> Value {
    use serde_json::json;
    let mut parameters = Vec::new();
    let mut properties = serde_json::Map::new();
    for field in Field::ALL {
        let (schema, description) = field.described();
        parameters.push(
            json!({"name": field.name(), "in": "query", "required": field == Field::App,
            "schema": schema, "description": description}),
        );
        properties.insert(
            field.name().into(),
            json!({"description": description, "allOf": [schema]}),
        );
    }
    let answer = json!({"type": "object", "description": "The object `portcullis whatif --json` prints",
        "required": ["decision", "policies"]});
    json!({
        "get": {"summary": "What the gateway would decide for these facts, with each policy's outcome",
            "parameters": parameters,
            "responses": {"200": ok("The decision", answer.clone()), "400": err("Bad input; `field` names it"),
                "503": err("The directory could not be read; `offline` answers without it")}},
        "post": {"summary": "As GET, the facts in a JSON body",
            "requestBody": {"required": true, "content": {"application/json": {"schema":
                {"type": "object", "required": ["app"], "additionalProperties": false, "properties": properties}}}},
            "responses": {"200": ok("The decision", answer), "400": err("Bad input; `field` names it"),
                "503": err("The directory could not be read; `offline` answers without it")}}
    })
}
