//! JSON Schemas of the files an operator writes (`portcullis.yaml`, rule
//! files, the users file of a local idp) and the Markdown reference made from
//! them: `portcullis schema config|rules|users` and `portcullis schema
//! --markdown`.
//!
//! Both come from the file types that parse those files (`derive(JsonSchema)`
//! on them; their doc comments are the descriptions), so they cannot drift
//! from the parser. The copies under `docs/` are committed for editors (the
//! quickstart files point yaml-language-server at them) and readers;
//! `tests/schema.rs` fails when they differ from what this module generates.
//!
//! The schemas describe shape, not meaning: unknown fields, wrong types,
//! closed word lists, durations and addresses. Whether a file exists, an app
//! name is known or a host is used twice is for `portcullis check`.
//!
//! This module only generates: it reads the file types of `crate::config`
//! and `crate::local_idp` (and `rules::schema`), which never read it back.
//! The shapes of the config's string fields live with those file types
//! (`crate::config::shapes`).

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

/// A kind of file with a schema.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FileKind {
    /// `portcullis.yaml`.
    Config,
    /// A rule file (the config's `rules`).
    Rules,
    /// The users file of an idp of type `local`.
    Users,
}

impl FileKind {
    pub const ALL: [FileKind; 3] = [FileKind::Config, FileKind::Rules, FileKind::Users];

    /// Where the committed schema lives, relative to the repository root.
    pub fn schema_path(self) -> &'static str {
        match self {
            FileKind::Config => "docs/schema/portcullis.schema.json",
            FileKind::Rules => "docs/schema/rules.schema.json",
            FileKind::Users => "docs/schema/users.schema.json",
        }
    }

    /// The command that prints it.
    pub fn command(self) -> &'static str {
        match self {
            FileKind::Config => "portcullis schema config",
            FileKind::Rules => "portcullis schema rules",
            FileKind::Users => "portcullis schema users",
        }
    }

    fn heading(self) -> &'static str {
        match self {
            FileKind::Config => "`portcullis.yaml`",
            FileKind::Rules => "Rule files",
            FileKind::Users => "Users file (idp type `local`)",
        }
    }

    fn anchor(self) -> &'static str {
        match self {
            FileKind::Config => "config",
            FileKind::Rules => "rules",
            FileKind::Users => "users",
        }
    }
}

/// Where the committed Markdown reference lives, relative to the repository
/// root.
pub const REFERENCE_PATH: &str = "docs/config-reference.md";

/// The JSON Schema of one kind of file. Draft 7: the draft yaml-language-server
/// (VS Code's YAML extension and other editors) fully supports.
pub fn json_schema(kind: FileKind) -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = match kind {
        FileKind::Config => crate::config::config_file_schema(generator),
        FileKind::Rules => rules::schema::rule_file(generator),
        FileKind::Users => crate::local_idp::users_file_schema(generator),
    };
    let mut value = schema.to_value();
    tidy(&mut value);
    value
}

/// [`json_schema`] as the committed file holds it: pretty, with a final
/// newline.
pub fn json_text(kind: FileKind) -> String {
    let mut text = serde_json::to_string_pretty(&json_schema(kind)).unwrap_or_default();
    text.push('\n');
    text
}

/// Removes what `Option` adds to a schema: `null` as a type, an enum value,
/// an `anyOf` branch or a default. `null` deserializes to "absent", but nobody
/// means to write it, and the reference reads better without it.
fn tidy(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(tidy),
        Value::Object(obj) => {
            if obj.get("default") == Some(&Value::Null) {
                obj.remove("default");
            }
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    obj.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(values)) = obj.get_mut("enum") {
                values.retain(|x| !x.is_null());
            }
            let null_branch = |b: &Value| b.get("type").and_then(Value::as_str) == Some("null");
            if let Some(Value::Array(branches)) = obj.get_mut("anyOf")
                && branches.iter().any(null_branch)
            {
                branches.retain(|b| !null_branch(b));
                if branches.len() == 1
                    && let Some(Value::Object(inner)) = obj.remove("anyOf").map(|mut b| b[0].take())
                {
                    for (k, x) in inner {
                        obj.entry(k).or_insert(x);
                    }
                }
            }
            obj.values_mut().for_each(tidy);
        }
        _ => {}
    }
}

// -------------------------------------------------------------- shapes

/// The config's string shapes, at their old path.
pub use crate::config::shapes::{
    AppName, HostName, HttpUrl, Owner, SocketAddress, Upstream, UrlPath,
};

// ----------------------------------------------------------- reference

/// The Markdown reference of all three files (`docs/config-reference.md`).
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Configuration reference\n\n\
         <!-- Generated by `portcullis schema --markdown` from the types that parse these files; \
         do not edit by hand. Regenerate with `PORTCULLIS_BLESS=1 cargo test -p portcullis --test schema`. -->\n\n\
         Generated from the same types that parse the files, so it describes what the gateway \
         accepts. Paths are relative to the config file. Unknown fields are errors. Durations are \
         one number and one unit: `90s`, `30m`, `12h`, `7d`.\n\n\
         Editors that speak yaml-language-server (VS Code's YAML extension, Neovim, Helix, ...) \
         complete and validate a file whose first line names its schema, as the quickstart files do:\n\n\
         ```yaml\n# yaml-language-server: $schema=../../docs/schema/portcullis.schema.json\n```\n\n\
         The schemas check shape; `portcullis check --config FILE` checks meaning as well \
         (files exist, app and location names are known, hosts are not used twice).\n\n",
    );
    for kind in FileKind::ALL {
        let _ = writeln!(
            out,
            "- [{}](#{}) — schema [`{}`]({}), `{}`",
            kind.heading(),
            kind.anchor(),
            kind.schema_path().trim_start_matches("docs/"),
            kind.schema_path().trim_start_matches("docs/"),
            kind.command()
        );
    }
    for kind in FileKind::ALL {
        let schema = json_schema(kind);
        let _ = write!(
            out,
            "\n<a id=\"{}\"></a>\n\n## {}\n\n",
            kind.anchor(),
            kind.heading()
        );
        Reference::new(kind.anchor(), &schema).write(&mut out);
    }
    out
}

/// Walks one root schema: the root's table first, then a section per object
/// it reaches, in the order they are first reached.
struct Reference<'a> {
    prefix: &'static str,
    defs: Option<&'a Map<String, Value>>,
    /// Sections still to write: (path, schema).
    queue: VecDeque<(String, &'a Value)>,
    /// `definitions` name to the anchor of its section, so a type used in two
    /// places is described once.
    anchors: HashMap<&'a str, String>,
}

impl<'a> Reference<'a> {
    fn new(prefix: &'static str, root: &'a Value) -> Reference<'a> {
        let mut queue = VecDeque::new();
        queue.push_back((String::new(), root));
        Reference {
            prefix,
            defs: root
                .get("definitions")
                .or_else(|| root.get("$defs"))
                .and_then(Value::as_object),
            queue,
            anchors: HashMap::new(),
        }
    }

    fn write(mut self, out: &mut String) {
        while let Some((path, schema)) = self.queue.pop_front() {
            if !path.is_empty() {
                let _ = write!(
                    out,
                    "<a id=\"{}\"></a>\n\n### `{path}`\n\n",
                    self.anchor(&path)
                );
            }
            self.section(out, &path, schema);
        }
    }

    fn anchor(&self, path: &str) -> String {
        let slug: String = path
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let slug = slug
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>();
        format!("{}-{}", self.prefix, slug.join("-"))
    }

    fn section(&mut self, out: &mut String, path: &str, schema: &'a Value) {
        if let Some(d) = schema.get("description").and_then(Value::as_str) {
            let _ = write!(out, "{}\n\n", paragraphs(d));
        }
        for (key, words) in [("oneOf", "Exactly one of"), ("anyOf", "At least one of")] {
            let names: Vec<String> = schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|b| b.get("required")?.as_array()?.first()?.as_str())
                .map(|n| format!("`{n}`"))
                .collect();
            if !names.is_empty() {
                let _ = write!(out, "{words} {}.\n\n", names.join(", "));
            }
        }
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut names: Vec<&String> = props.keys().collect();
        names.sort_by_key(|n| (!required.contains(&n.as_str()), n.as_str()));
        out.push_str("| Field | Type | Required | Default | Description |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for name in names {
            let field = &props[name];
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let ty = self.type_of(&child, field);
            let req = if required.contains(&name.as_str()) {
                "yes"
            } else {
                ""
            };
            let default = field.get("default").map(code).unwrap_or_default();
            let mut text = field
                .get("description")
                .and_then(Value::as_str)
                .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            if let Some(Value::Array(ex)) = field.get("examples")
                && !ex.is_empty()
            {
                let ex: Vec<String> = ex.iter().map(code).collect();
                let _ = write!(text, " Example: {}.", ex.join(", "));
            }
            let _ = writeln!(
                out,
                "| `{name}` | {} | {req} | {} | {} |",
                cell(&ty),
                cell(&default),
                cell(text.trim())
            );
        }
        out.push('\n');
    }

    /// The type column: a word for scalars, the allowed words for closed
    /// lists, a link to its section for an object.
    fn type_of(&mut self, path: &str, s: &'a Value) -> String {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            let Some(def) = self.defs.and_then(|d| d.get(name)) else {
                return "object".into();
            };
            if def.get("properties").is_none() {
                return self.type_of(path, def);
            }
            let anchor = match self.anchors.get(name) {
                Some(a) => a.clone(),
                None => {
                    let a = self.anchor(path);
                    self.anchors.insert(name, a.clone());
                    self.queue.push_back((path.to_string(), def));
                    a
                }
            };
            return format!("[object](#{anchor})");
        }
        // Draft 7 ignores keywords beside `$ref`, so a described reference
        // is `allOf: [{ $ref }]`.
        if let Some(Value::Array(all)) = s.get("allOf")
            && let [only] = all.as_slice()
        {
            return self.type_of(path, only);
        }
        if s.get("properties").is_some() {
            let anchor = self.anchor(path);
            self.queue.push_back((path.to_string(), s));
            return format!("[object](#{anchor})");
        }
        if s.get("not")
            .is_some_and(|n| n.as_object().is_some_and(Map::is_empty))
        {
            return "never allowed".into();
        }
        if let Some(c) = s.get("const") {
            return code(c);
        }
        if let Some(Value::Array(words)) = s.get("enum") {
            return words.iter().map(code).collect::<Vec<_>>().join(" | ");
        }
        let ty = s.get("type").and_then(Value::as_str);
        if ty.is_none()
            && let Some(Value::Array(branches)) = s.get("oneOf").or_else(|| s.get("anyOf"))
        {
            let alts: Vec<String> = branches.iter().map(|b| self.type_of(path, b)).collect();
            return alts.join(" or ");
        }
        if ty == Some("string")
            && let Some(title) = s.get("title").and_then(Value::as_str)
        {
            return title.into();
        }
        match ty {
            Some("array") => match s.get("items") {
                Some(items) => format!("list of {}", self.type_of(&format!("{path}[]"), items)),
                None => "list".into(),
            },
            Some("integer") => {
                let min = s.get("minimum").and_then(Value::as_u64);
                let max = s.get("maximum").and_then(Value::as_u64);
                match (min, max) {
                    (Some(a), Some(b)) => format!("integer, {a} to {b}"),
                    (Some(a), None) => format!("integer, at least {a}"),
                    _ => "integer".into(),
                }
            }
            Some(t) => t.into(),
            None => "any".into(),
        }
    }
}

/// A JSON value as inline code: strings without quotes, lists by element.
fn code(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            format!("`[{}]`", items.join(", "))
        }
        other => format!("`{other}`"),
    }
}

/// A table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A description as Markdown paragraphs: lines joined, blank lines kept.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}
