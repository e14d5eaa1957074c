//! The policy CLI end to end: the real `portcullis` binary on real files.
//! Contract (DESIGN.md): exit 0 success, 1 a failed check/test, 2 usage;
//! `check` errors are `file:line:column: message` on stderr; `rules test`
//! ends with `N passed, M failed`; `whatif --json` is one object.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis")
}

fn quickstart() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/quickstart/portcullis.yaml")
        .to_string_lossy()
        .into_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A config in a temporary folder with the given rule files.
fn workspace(rule_files: &[(&str, &str)], extra_config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    for (name, body) in rule_files {
        std::fs::write(dir.path().join("rules").join(name), body).expect("write rule file");
    }
    let config = format!(
        "listen: {{ http: 127.0.0.1:8080 }}\nrules: [\"rules/*.yaml\"]\n\
         organisation: {{ name: Test, member_domains: [tailwindtraders.com] }}\n{extra_config}\
         apps:\n  - {{ name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }}\n"
    );
    std::fs::write(dir.path().join("portcullis.yaml"), config).expect("write config");
    dir
}

fn config_of(dir: &Path) -> String {
    dir.join("portcullis.yaml").to_string_lossy().into_owned()
}

#[test]
fn check_accepts_the_quickstart() {
    let out = portcullis(&["check", "--config", &quickstart()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("OK — 3 apps, 7 policies"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_reports_every_error_of_every_file_and_exits_1() {
    let a = "policies:\n  - name: p\n    users: { include: [guest] }\n    apps: { include: [payrol] }\n    grant: blok\n";
    let b = "policies:\n  - name: q\n    users: { include: [all] }\n    apps: { include: [all] }\n    platfroms: { include: [ios] }\n";
    let dir = workspace(&[("a.yaml", a), ("b.yaml", b)], "");
    let out = portcullis(&["check", "--config", &config_of(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let rules = dir.path().join("rules");
    let expected = [
        format!(
            "{}:3:24: `guest` is not a user; did you mean `guests`?",
            rules.join("a.yaml").display()
        ),
        format!(
            "{}:4:23: there is no app `payrol` in the configuration; did you mean `payroll`?",
            rules.join("a.yaml").display()
        ),
        format!(
            "{}:5:12: `blok` is not a grant; did you mean `block`?",
            rules.join("a.yaml").display()
        ),
        format!(
            "{}:5:5: unknown field `platfroms`; did you mean `platforms`?",
            rules.join("b.yaml").display()
        ),
    ];
    for e in &expected {
        assert!(stderr.contains(e.as_str()), "missing `{e}` in:\n{stderr}");
    }
    assert!(stderr.contains("4 errors in"), "{stderr}");
}

#[test]
fn check_refuses_country_rules_without_a_geoip_database() {
    let rules = "named_locations:\n  - name: embargoed\n    countries: [KP]\n";
    let dir = workspace(&[("a.yaml", rules)], "");
    let out = portcullis(&["check", "--config", &config_of(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            ":2:11: named location `embargoed` uses countries, but `geoip.country_db` is not set"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_refuses_a_corrupt_geoip_database_naming_the_file() {
    let dir = workspace(&[("a.yaml", "")], "geoip: { country_db: bad.mmdb }\n");
    std::fs::write(dir.path().join("bad.mmdb"), b"not a database").expect("write");
    let out = portcullis(&["check", "--config", &config_of(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.mmdb: invalid database"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rules_test_passes_on_the_quickstart() {
    let out = portcullis(&["rules", "test", "--config", &quickstart()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).lines().last(),
        Some("13 passed, 0 failed")
    );
}

#[test]
fn rules_test_prints_each_failure_with_its_explanation_and_exits_1() {
    let rules = r#"
policies:
  - name: everyone-mfa
    users: { include: [all] }
    apps: { include: [all] }
    grant: { require: [mfa] }
tests:
  - name: with mfa
    request: { user: a@contoso.com, app: payroll, mfa: true }
    expect: allow
  - name: wrong on purpose
    request: { user: a@contoso.com, app: payroll }
    expect: allow
"#;
    let dir = workspace(&[("a.yaml", rules)], "");
    let out = portcullis(&["rules", "test", "--config", &config_of(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), 1, "{stdout}");
    assert!(
        fails[0].contains(":11:11: wrong on purpose: expected allow, got mfa (mfa_required)"),
        "{stdout}"
    );
    assert!(stdout.contains("everyone-mfa [enabled]: mfa"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn whatif_json_answers_per_the_contract() {
    let out = portcullis(&[
        "whatif",
        "--offline",
        "--config",
        &quickstart(),
        "--user",
        "anna@contoso.com",
        "--app",
        "payroll",
        "--ip",
        "81.2.69.142",
        "--user-agent",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["decision"], "mfa");
    assert_eq!(v["country"], "GB");
    assert_eq!(v["platform"], "ios");
    assert_eq!(v["user_type"], "guest");
    assert!(v["locations"].as_array().expect("locations").is_empty());
    let policies = v["policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 7);
    let by_name = |n: &str| policies.iter().find(|p| p["name"] == n).expect(n);
    let mfa = by_name("guests-need-mfa");
    assert_eq!(mfa["applies"], true);
    assert_eq!(mfa["result"], "mfa");
    assert_eq!(mfa["state"], "enabled");
    assert_eq!(mfa["reason"], "applies");
    let phones = by_name("payroll-no-phones");
    assert_eq!(phones["state"], "report_only");
    assert_eq!(phones["result"], "block");
    let geo = by_name("block-embargoed-countries");
    assert_eq!(geo["applies"], false);
    assert_eq!(geo["result"], "none");
    assert_eq!(geo["reason"], "location_not_included");
    assert_eq!(
        geo["detail"],
        "locations: 81.2.69.142 (country GB) not in embargoed"
    );
    assert_eq!(by_name("old-rule-kept-for-reference")["reason"], "disabled");
}

#[test]
fn whatif_table_is_readable_and_explains_exclusions() {
    let out = portcullis(&[
        "whatif",
        "--offline",
        "--config",
        &quickstart(),
        "--user",
        "anna@contoso.com",
        "--app",
        "wiki",
        "--group",
        "break-glass",
        "--signed-in-ago",
        "1h",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Decision: ALLOW (no_policy_applied)\n"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("guests-need-mfa "))
        .expect("row");
    assert!(
        row.ends_with("users: excluded by group:break-glass"),
        "{row}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let missing_app = portcullis(&["whatif", "--config", &quickstart(), "--user", "a@b.c"]);
    assert_eq!(missing_app.status.code(), Some(2));
    let unknown_app = portcullis(&[
        "whatif",
        "--config",
        &quickstart(),
        "--user",
        "a@b.c",
        "--app",
        "payrol",
    ]);
    assert_eq!(unknown_app.status.code(), Some(2));
    assert!(text(&unknown_app.stderr).contains("did you mean `payroll`?"));
    let bad_platform = portcullis(&[
        "whatif",
        "--config",
        &quickstart(),
        "--user",
        "a@b.c",
        "--app",
        "wiki",
        "--platform",
        "andriod",
    ]);
    assert_eq!(bad_platform.status.code(), Some(2));
    assert_eq!(portcullis(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_missing_config_is_a_failed_check_naming_the_file() {
    let out = portcullis(&["check", "--config", "/nonexistent/portcullis.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .starts_with("/nonexistent/portcullis.yaml:0:0: cannot read the config file")
    );
}

/// `hash-password` with `input` on stdin.
fn hash_password(input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run portcullis");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn hash_password_prints_an_argon2id_phc_string_the_library_verifies() {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    let out = hash_password("correct horse battery staple\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let phc = stdout.trim_end();
    assert!(phc.starts_with("$argon2id$v=19$"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let parsed = PasswordHash::new(phc).expect("a PHC string");
    let argon = argon2::Argon2::default();
    // Only the line ending is removed; the rest is the password.
    assert!(
        argon
            .verify_password(b"correct horse battery staple", &parsed)
            .is_ok()
    );
    assert!(
        argon
            .verify_password(b"correct horse battery staple\n", &parsed)
            .is_err()
    );
    assert!(!text(&out.stderr).contains("correct horse"));
}

#[test]
fn hash_password_refuses_an_empty_password() {
    for input in ["", "\n", "\r\n"] {
        let out = hash_password(input);
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        assert!(out.stdout.is_empty(), "{input:?}");
        assert!(
            text(&out.stderr).contains("the password is empty"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn check_reports_users_file_errors_with_their_positions() {
    let extra = "sign_in: { host: auth.localhost }\n\
                 idps:\n  - { name: demo, type: local, users_file: users.yaml }\n";
    let dir = workspace(&[], extra);
    std::fs::write(dir.path().join("rules/a.yaml"), "").expect("write rule file");
    std::fs::write(
        dir.path().join("users.yaml"),
        "users:\n  - { email: bob@fabrikam.example, password_hash: plain, apps: [payrol] }\n",
    )
    .expect("write users file");
    let out = portcullis(&["check", "--config", &config_of(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let users = dir.path().join("users.yaml");
    for expected in [
        format!(
            "{}:2:51: `password_hash` is not an argon2 PHC string",
            users.display()
        ),
        format!(
            "{}:2:65: there is no app `payrol` in the configuration; did you mean `payroll`?",
            users.display()
        ),
    ] {
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    }
}

/// Issue 16: an IdP's metadata whose signing certificate has ended loads
/// (responses are still checked against it), and `check` warns at the
/// idp's entry with exit 0.
#[test]
fn check_warns_about_an_expired_saml_signing_certificate() {
    use base64::Engine as _;
    let now = time::OffsetDateTime::now_utc();
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["adfs.fabrikam.example".into()]).expect("params");
    params.not_before = now - time::Duration::days(400);
    params.not_after = now - time::Duration::days(2);
    let cert = params.self_signed(&key).expect("certificate");
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert.der());
    let dir = workspace(
        &[("a.yaml", "")],
        "sign_in: { host: auth.localhost }\nidps:\n  - { name: fabrikam, type: saml, metadata_file: md.xml, domains: [fabrikam.example] }\n",
    );
    std::fs::write(
        dir.path().join("md.xml"),
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://adfs.fabrikam.example/adfs/services/trust"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://adfs.fabrikam.example/adfs/ls/"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
    )
    .expect("write metadata");
    let out = portcullis(&["check", "--config", &config_of(dir.path())]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let config = config_of(dir.path());
    assert!(
        stderr.contains(&format!(
            "{config}:6:5: warning: idp `fabrikam`: 1 of its 1 signing certificate(s) in the metadata have expired"
        )),
        "{stderr}"
    );
}
