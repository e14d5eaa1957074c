//! The config reference cannot go stale (issue 7): the committed JSON
//! Schemas and `docs/config-reference.md` must equal what the code generates,
//! every committed YAML file that names a schema must validate against it,
//! and the schemas must reject what the parsers reject.
//!
//! Regenerate the committed files after changing a file type or its docs:
//!
//! ```sh
//! PORTCULLIS_BLESS=1 cargo test -p portcullis --test schema
//! ```

use portcullis::schema::{self, FileKind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BLESS: &str = "PORTCULLIS_BLESS=1 cargo test -p portcullis --test schema";
const MODELINE: &str = "# yaml-language-server: $schema=";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

fn validator(kind: FileKind) -> jsonschema::Validator {
    jsonschema::validator_for(&schema::json_schema(kind)).expect("the generated schema compiles")
}

/// YAML as the JSON value an editor's validator sees.
fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

/// Every error of `value` against the schema, as `path: message` lines.
fn errors(kind: FileKind, value: &Value) -> Vec<String> {
    validator(kind)
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Compares (or with PORTCULLIS_BLESS=1 writes) one generated file.
fn check_generated(path: &str, generated: &str) -> Option<String> {
    let full = root().join(path);
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::create_dir_all(full.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&full, generated).expect("write");
        return None;
    }
    let committed = std::fs::read_to_string(&full).unwrap_or_default();
    (committed != generated).then(|| format!("{path} differs from what the code generates"))
}

#[test]
fn committed_schemas_and_reference_match_the_code() {
    let mut stale = Vec::new();
    for kind in FileKind::ALL {
        stale.extend(check_generated(
            kind.schema_path(),
            &schema::json_text(kind),
        ));
    }
    stale.extend(check_generated(schema::REFERENCE_PATH, &schema::markdown()));
    assert!(
        stale.is_empty(),
        "{}\nRegenerate and commit them with:\n    {BLESS}",
        stale.join("\n")
    );
}

#[test]
fn the_cli_prints_the_committed_files() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .output()
            .expect("run portcullis");
        assert!(out.status.success(), "portcullis {args:?} failed");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    for (arg, kind) in [
        ("config", FileKind::Config),
        ("rules", FileKind::Rules),
        ("users", FileKind::Users),
    ] {
        assert_eq!(
            run(&["schema", arg]),
            schema::json_text(kind),
            "schema {arg}"
        );
    }
    assert_eq!(run(&["schema", "--markdown"]), schema::markdown());
    let usage = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("schema")
        .output()
        .expect("run portcullis");
    assert_eq!(usage.status.code(), Some(2), "`schema` needs a file kind");
}

/// Every `.yaml`/`.yml` file in the repository (outside build output).
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "var" | "node_modules") && !name.starts_with('.')
            {
                yaml_files(&path, out);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
}

/// Which schema a modeline points at, checking that the path resolves.
fn modeline_kind(file: &Path, text: &str) -> Option<FileKind> {
    let target = text.lines().next()?.strip_prefix(MODELINE)?.trim();
    let resolved = file
        .parent()
        .expect("a folder")
        .join(target)
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: $schema={target} does not resolve: {e}", file.display()));
    FileKind::ALL
        .into_iter()
        .find(|k| root().join(k.schema_path()) == resolved)
        .or_else(|| {
            panic!(
                "{}: $schema={target} is not a Portcullis schema",
                file.display()
            )
        })
}

#[test]
fn every_committed_yaml_file_naming_a_schema_validates() {
    let mut files = Vec::new();
    yaml_files(&root(), &mut files);
    files.sort();
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let Some(kind) = modeline_kind(file, &text) else {
            continue;
        };
        let rel = file
            .strip_prefix(root())
            .expect("in the repo")
            .display()
            .to_string();
        for e in errors(kind, &yaml(&text)) {
            failures.push(format!("{rel}: {e}"));
        }
        checked.push(rel);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The quickstart is what editors open first: each file names its schema.
    for must in [
        "deploy/quickstart/portcullis.yaml",
        "deploy/quickstart/rules/access.yaml",
        "deploy/quickstart/users.yaml",
    ] {
        assert!(
            checked.iter().any(|c| c == must),
            "{must} has no `{MODELINE}…` first line; checked: {checked:?}"
        );
    }
}

/// Files shipped inside Kubernetes ConfigMaps (deploy/kubernetes) cannot
/// carry a modeline an editor would follow from the manifest, so they are
/// checked here: `portcullis.yaml` against the config schema, `users.yaml`
/// against the users schema, any other `*.yaml` key against the rule-file
/// schema.
#[test]
fn every_configmap_file_validates() {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        // Multi-document manifests and other shapes are not ConfigMaps here.
        let Ok(manifest) = serde_saphyr::from_str::<Value>(&text) else {
            continue;
        };
        if manifest.get("kind").and_then(Value::as_str) != Some("ConfigMap") {
            continue;
        }
        let data = manifest
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten();
        for (key, text) in data {
            let kind = match key.as_str() {
                "portcullis.yaml" => FileKind::Config,
                "users.yaml" => FileKind::Users,
                k if k.ends_with(".yaml") || k.ends_with(".yml") => FileKind::Rules,
                _ => continue,
            };
            let text = text.as_str().expect("a ConfigMap value is a string");
            for e in errors(kind, &yaml(text)) {
                failures.push(format!("{}: data.{key}: {e}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_quickstart_still_checks_with_the_modelines() {
    let config = root().join("deploy/quickstart/portcullis.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["rules", "test", "--config"])
        .arg(&config)
        .output()
        .expect("run portcullis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

/// The rule-file parser's own bad inputs (rules/tests/golden): those it
/// rejects for shape, the schema rejects too, at the same place.
#[test]
fn the_schema_rejects_the_golden_bad_rule_files() {
    let golden = root().join("rules/tests/golden");
    for (file, at) in [
        ("unknown-field.yaml", "/policies/0"),
        ("wrong-type.yaml", "/policies/0/users"),
        ("grant-field.yaml", "/policies/0/grant"),
        ("semantic.yaml", "/policies/0/state"),
    ] {
        let text = std::fs::read_to_string(golden.join(file)).expect("read");
        let errs = errors(FileKind::Rules, &yaml(&text));
        assert!(
            errs.iter().any(|e| e.starts_with(at)),
            "{file}: expected an error at {at}, got {errs:?}"
        );
    }
}

/// A folder with one empty rule file, so a config in it can load.
fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/a.yaml"), "policies: []\n").expect("write");
    dir
}

fn gateway_accepts(dir: &Path, yaml_text: &str) -> Result<(), String> {
    portcullis::config::Config::from_str(&dir.join("portcullis.yaml"), yaml_text)
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

/// A variant of [`MINIMAL`] that both the schema and the gateway reject.
fn rejected_config(dir: &Path, case: &str, yaml_text: &str, at: &str) {
    let errs = errors(FileKind::Config, &yaml(yaml_text));
    assert!(
        errs.iter().any(|e| e.starts_with(at)),
        "{case}: expected a schema error at {at}, got {errs:?}"
    );
    assert!(
        gateway_accepts(dir, yaml_text).is_err(),
        "{case}: the gateway accepts what the schema rejects"
    );
}

const MINIMAL: &str = "listen: { http: 127.0.0.1:8080 }
rules: [rules/*.yaml]
organisation: { name: Tailwind Traders }
apps:
  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }
";

#[test]
fn the_config_schema_accepts_a_minimal_config_and_rejects_what_the_gateway_rejects() {
    let dir = config_dir();
    let dir = dir.path();
    assert_eq!(
        errors(FileKind::Config, &yaml(MINIMAL)),
        Vec::<String>::new()
    );
    assert_eq!(gateway_accepts(dir, MINIMAL), Ok(()));
    rejected_config(
        dir,
        "unknown top-level field",
        &format!("{MINIMAL}listne: {{}}\n"),
        "",
    );
    rejected_config(
        dir,
        "unknown nested field",
        &MINIMAL.replace(
            "{ name: Tailwind Traders }",
            "{ name: T, domains: [t.com] }",
        ),
        "/organisation",
    );
    rejected_config(
        dir,
        "wrong type",
        &MINIMAL.replace("listen: { http: 127.0.0.1:8080 }", "listen: 8080"),
        "/listen",
    );
    rejected_config(
        dir,
        "address without a port",
        &MINIMAL.replace("127.0.0.1:8080", "127.0.0.1"),
        "/listen/http",
    );
    rejected_config(
        dir,
        "not a duration",
        &format!("{MINIMAL}server: {{ grace_period: 5 seconds }}\n"),
        "/server/grace_period",
    );
    rejected_config(
        dir,
        "a word outside the list",
        &MINIMAL.replace(
            "upstreams: [127.0.0.1:9001]",
            "upstreams: [127.0.0.1:9001], on_unauthenticated: sometimes",
        ),
        "/apps/0/on_unauthenticated",
    );
    rejected_config(
        dir,
        "both stores",
        &format!("{MINIMAL}store: {{ sqlite: a.db, postgres: \"postgres://db/p\" }}\n"),
        "/store",
    );
    rejected_config(
        dir,
        "a secret in the file",
        &format!(
            "{MINIMAL}idps:\n  - {{ name: c, type: oidc, issuer: \"https://c.example\", client_id: x, client_secret: s }}\n"
        ),
        "/idps/0/client_secret",
    );
    rejected_config(
        dir,
        "no apps",
        &MINIMAL.replace(
            "apps:\n  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }\n",
            "apps: []\n",
        ),
        "/apps",
    );
}

#[test]
fn the_users_schema_rejects_a_plain_password() {
    let errs = errors(
        FileKind::Users,
        &yaml("users:\n  - { email: a@b.example, password: hunter2 }\n"),
    );
    assert!(errs.iter().any(|e| e.starts_with("/users/0")), "{errs:?}");
}
