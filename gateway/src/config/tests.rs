use super::*;
use std::time::Duration;

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
            "DIR/portcullis.yaml:11:23: sign_up offers idp `partnr`, which is not an idp of type oidc, oauth2 or local",
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
  - { name: ldap, type: ldap }
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
        "DIR/portcullis.yaml:9:25: `ldap` is not an idp type (one of: jwt, oidc, oauth2, local, saml)",
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
            .any(|e| e.contains("`client_id` is for idps of type oidc or oauth2, not jwt")),
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
                resend_after: Duration::from_secs(30),
            },
            rate_limits: RateLimits {
                ipv6_prefix: 64,
                max_counters: 100_000,
            },
            passkey_sign_in: false,
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
  passcode: {{ ttl: 5m, max_attempts: 3, per_address: 2, per_ip: 10, window: 30m, resend_after: 10s }}
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
            resend_after: Duration::from_secs(10),
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
        "DIR/portcullis.yaml:14:23: idp `api` is of type jwt; `idp_order` lists idps of type oidc, oauth2, saml or local",
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

/// Issue 14, findings 6 and 7: IPv6 clients are keyed by a prefix, and the
/// counters are bounded; both configurable, within sane ranges.
#[test]
fn sign_in_rate_limits_are_read_and_checked() {
    let text = format!(
        "{MINIMAL}sign_in:\n  host: auth.localhost\n  rate_limits: {{ ipv6_prefix: 56, max_counters: 5000 }}\n"
    );
    let s = load(&text).expect("loads").sign_in.expect("sign_in");
    assert_eq!(
        s.rate_limits,
        RateLimits {
            ipv6_prefix: 56,
            max_counters: 5000
        }
    );
    let text = format!(
        "{MINIMAL}sign_in:\n  host: auth.localhost\n  rate_limits: {{ ipv6_prefix: 16, max_counters: 99 }}\n"
    );
    let errors = load(&text).expect_err("out of range");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].ends_with(
            "`rate_limits.ipv6_prefix` must be between 32 and 128 (64: one home or office line)"
        ),
        "{errors:?}"
    );
    assert!(
        errors[1].ends_with("`rate_limits.max_counters` must be at least 100"),
        "{errors:?}"
    );
    let text = format!(
        "{MINIMAL}sign_in:\n  host: auth.localhost\n  rate_limits: {{ ipv6_prefix: 129 }}\n"
    );
    assert_eq!(load(&text).expect_err("too long").len(), 1);
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
    let mail = format!("{APPS}mail: {{ from: \"T <noreply@t.example>\", outbox: var/outbox }}\n");
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
        "DIR/portcullis.yaml:13:22: `locl` is not an idp type (one of: jwt, oidc, oauth2, local, saml); did you mean `local`?",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn saml_idps_check_their_metadata_and_fields() {
    let md = |keys: &str| {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://adfs.fabrikam.example/adfs/services/trust">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://adfs.fabrikam.example/adfs/ls/"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    };
    let text = format!(
        "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  \
         - {{ name: a, type: saml, metadata_file: nocert.xml, domains: [fabrikam.example] }}\n  \
         - {{ name: b, type: saml, metadata_file: broken.xml, domains: [fabrikam.example], mfa: trustd }}\n  \
         - {{ name: c, type: saml, metadata_url: \"https://x.example/md\", metadata_file: nocert.xml, domains: [c.example] }}\n  \
         - {{ name: d, type: saml, metadata_url: \"https://x.example/md\" }}\n  \
         - {{ name: e, type: oidc, client_id: x, issuer: \"https://e.example\", metadata_url: \"https://x.example/md\" }}\n"
    );
    let errors = load_with(
        &[
            ("nocert.xml", &md("")),
            ("broken.xml", "<md:EntityDescriptor>\n  <oops\n"),
        ],
        &text,
    )
    .expect_err("broken");
    let expected = [
        "DIR/portcullis.yaml:11:89: `trustd` is not an mfa setting (one of: trusted, untrusted); did you mean `trusted`?",
        "DIR/portcullis.yaml:12:13: idp `c` of type saml needs exactly one of `metadata_url` or `metadata_file`",
        "DIR/portcullis.yaml:13:13: idp `d` of type saml needs `domains`: the e-mail domains it may assert",
        "DIR/portcullis.yaml:14:5: `metadata_url` is for idps of type saml, not oidc",
        "DIR/portcullis.yaml:14:13: idp `e` needs `client_secret_file` or `client_secret_env`",
        // Errors inside a metadata file name that file and their place in it.
        "DIR/broken.xml:1:2: an unknown namespace prefix 'md' (metadata of idp `b`)",
        "DIR/nocert.xml:2:3: no signing certificate (KeyDescriptor use=\"signing\" with an X509Certificate): responses could not be verified (metadata of idp `a`)",
    ];
    assert_eq!(errors, expected);
}

/// A saml idp's MFA goes through the one trust boundary (`crate::trust`):
/// `mfa: trusted` and its `mfa_authn_contexts` (default: AD FS's and
/// Entra's `multipleauthn`) become its `trust`; `mfa_values` is refused on
/// it (`mfa_authn_contexts` is the SAML name for them).
#[test]
fn saml_idp_mfa_is_its_trust() {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["idp.example".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert.der());
    let md = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example/"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    );
    let md = md.as_str();
    let text = format!(
        "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  \
         - {{ name: f, type: saml, metadata_file: md.xml, domains: [fabrikam.example], mfa: trusted }}\n  \
         - {{ name: g, type: saml, metadata_file: md.xml, domains: [g.example], mfa: trusted, mfa_authn_contexts: [\"urn:g:mfa\"] }}\n  \
         - {{ name: h, type: saml, metadata_file: md.xml, domains: [h.example] }}\n"
    );
    let c = load_with(&[("md.xml", md)], &text).expect("loads");
    let trust: Vec<_> = c.idps.iter().map(|i| &i.trust).collect();
    assert!(trust[0].mfa_trusted);
    assert_eq!(
        trust[0].mfa_values,
        ["http://schemas.microsoft.com/claims/multipleauthn"]
    );
    assert!(trust[0].mfa(&["http://schemas.microsoft.com/claims/multipleauthn"], None));
    assert_eq!(trust[1].mfa_values, ["urn:g:mfa"]);
    assert!(!trust[2].mfa_trusted);
    assert!(!trust[2].mfa(&["http://schemas.microsoft.com/claims/multipleauthn"], None));
    // Partner groups are qualified, never bare.
    assert_eq!(trust[2].groups("h", &["Admins"]), ["h:admins"]);

    let errors = load_with(
        &[("md.xml", md)],
        &format!(
            "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  \
             - {{ name: f, type: saml, metadata_file: md.xml, domains: [fabrikam.example], mfa: trusted, mfa_values: [mfa] }}\n"
        ),
    )
    .expect_err("mfa_values on saml");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("`mfa_values` is for idps of type"),
        "{errors:?}"
    );
}

/// Issue 15: what an idp's claims count for is read from its common
/// fields, and every misuse is an error at its position.
#[test]
fn idp_trust_settings_are_read_and_misuse_is_refused_with_positions() {
    let base = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: T, member_domains: [tailwindtraders.com] }
apps:
  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }
idps:
"#;
    let c = load(&format!(
        "{base}  - {{ name: corp, type: jwt, issuer: https://corp.example, audience: a, jwks_url: https://corp.example/jwks, domains: [TailwindTraders.com], trust_groups: true, mfa: trusted, mfa_values: [urn:corp:mfa, hwk] }}\n  \
         - {{ name: partner-api, type: jwt, issuer: https://p.example, audience: a, jwks_url: https://p.example/jwks }}\n"
    ))
    .expect("loads");
    let corp = &c.idps[0].trust;
    assert!(corp.trust_groups && corp.mfa_trusted);
    assert_eq!(corp.domains, ["tailwindtraders.com"]);
    assert_eq!(corp.mfa_values, ["urn:corp:mfa", "hwk"]);
    let partner = &c.idps[1].trust;
    assert!(!partner.trust_groups && !partner.mfa_trusted);
    assert_eq!(partner.mfa_values, ["mfa"]);

    let errors = load(&format!(
        "{base}  - {{ name: p, type: jwt, issuer: https://p.example, audience: a, jwks_url: https://p.example/jwks, domains: [partner.example], trust_groups: true }}\n  \
         - {{ name: q, type: jwt, issuer: https://q.example, audience: a, jwks_url: https://q.example/jwks, mfa_values: [mfa] }}\n  \
         - {{ name: \"a:b\", type: jwt, issuer: https://r.example, audience: a, jwks_url: https://r.example/jwks, mfa: maybe }}\n"
    ))
    .expect_err("refused");
    let all = errors.join("\n");
    assert!(
        all.contains("portcullis.yaml:8:143: `trust_groups` is only for an idp that serves the organisation's own member domains; `partner.example` is not in `organisation.member_domains`"),
        "{all}"
    );
    assert!(
        all.contains(":9:") && all.contains("`mfa_values` counts only with `mfa: trusted`"),
        "{all}"
    );
    assert!(all.contains("`a:b` is not an idp name"), "{all}");
    assert!(all.contains("`maybe` is not an mfa setting"), "{all}");
}

/// Issue 20: `phishing_resistant_values` beside `mfa_values`, read into
/// the idp's trust, and refused without `mfa: trusted` or empty.
#[test]
fn phishing_resistant_values_are_read_and_misuse_is_refused_with_positions() {
    let base = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: T, member_domains: [tailwindtraders.com] }
apps:
  - { name: payroll, hosts: [payroll.localhost], upstreams: [127.0.0.1:9001] }
idps:
"#;
    let c = load(&format!(
        "{base}  - {{ name: corp, type: jwt, issuer: https://corp.example, audience: a, jwks_url: https://corp.example/jwks, mfa: trusted, phishing_resistant_values: [fido, wia, FIDO] }}\n  \
         - {{ name: partner-api, type: jwt, issuer: https://p.example, audience: a, jwks_url: https://p.example/jwks }}\n"
    ))
    .expect("loads");
    assert_eq!(c.idps[0].trust.phishing_resistant_values, ["fido", "wia"]);
    assert!(c.idps[1].trust.phishing_resistant_values.is_empty());

    let errors = load(&format!(
        "{base}  - {{ name: p, type: jwt, issuer: https://p.example, audience: a, jwks_url: https://p.example/jwks, phishing_resistant_values: [fido] }}\n  \
         - {{ name: q, type: jwt, issuer: https://q.example, audience: a, jwks_url: https://q.example/jwks, mfa: trusted, phishing_resistant_values: [] }}\n  \
         - {{ name: l, type: local, users_file: users.yaml, phishing_resistant_values: [fido] }}\n"
    ))
    .expect_err("refused");
    let all = errors.join("\n");
    assert!(
        all.contains(":8:")
            && all.contains("`phishing_resistant_values` counts only with `mfa: trusted`"),
        "{all}"
    );
    assert!(
        all.contains(":9:") && all.contains("`phishing_resistant_values` is empty"),
        "{all}"
    );
    assert!(
        all.contains(":10:") && all.contains("phishing_resistant_values"),
        "{all}"
    );
}

#[test]
fn oauth2_idps_are_checked_with_positions() {
    let good = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: T }
sign_in: { host: auth.localhost, idp_order: [github, facebook] }
idps:
  - { name: github, type: oauth2, preset: github, client_id: Iv1.abc, client_secret_env: GH_SECRET }
  - { name: facebook, type: oauth2, preset: facebook, client_id: "1234", client_secret_env: FB_SECRET }
apps:
  - { name: a, hosts: [a.localhost], upstreams: [127.0.0.1:1], sign_up: { idps: [github] } }
"#;
    let c = load(good).expect("loads");
    let IdpKind::Oauth2(gh) = &c.idps[0].kind else {
        panic!("an oauth2 idp: {:?}", c.idps[0].kind);
    };
    assert_eq!(gh.userinfo_url, "https://api.github.com/user");
    assert_eq!(
        c.sign_in.as_ref().map(|s| s.idp_order.clone()),
        Some(vec!["github".to_string(), "facebook".to_string()])
    );

    let bad = good
        .replace(
            "preset: github, client_id",
            "preset: github, mfa: trusted, groups_claim: teams, github_url: ftp://git.example, client_id",
        )
        .replace("preset: facebook,", "preset: facebook, claims: { id: /id },");
    assert_eq!(
        load(&bad).expect_err("refused"),
        [
            "DIR/portcullis.yaml:7:5: `groups_claim` is for idps of type jwt or oidc, not oauth2",
            "DIR/portcullis.yaml:7:5: `mfa` is for idps of type oidc or jwt or local or saml, not oauth2",
            "DIR/portcullis.yaml:7:98: `ftp://git.example` is not a usable github_url: use an https:// URL (http:// only for a loopback address)",
            "DIR/portcullis.yaml:8:63: `claims` is for the generic form; a preset reads its provider's own answer",
        ]
    );
}

#[test]
fn decision_log_defaults_depend_on_the_store_and_the_share_is_checked() {
    let d = load(MINIMAL).expect("loads");
    assert_eq!(d.decision_log.retention, Duration::from_secs(30 * 86_400));
    assert_eq!(d.decision_log.max_entries, 1_000_000);
    assert_eq!(d.decision_log.sample_allows, 1.0, "every allow on SQLite");
    let pg = format!("{MINIMAL}store: {{ postgres: \"postgres://u@localhost/p\" }}\n");
    assert_eq!(load(&pg).expect("loads").decision_log.sample_allows, 0.1);
    let set = format!(
        "{MINIMAL}decision_log: {{ retention: 7d, max_entries: 500, sample_allows: 0.25 }}\n"
    );
    let c = load(&set).expect("loads");
    assert_eq!(
        c.decision_log,
        DecisionLog {
            retention: Duration::from_secs(7 * 86_400),
            max_entries: 500,
            sample_allows: 0.25,
        }
    );
    let bad = format!("{MINIMAL}decision_log: {{ retention: 7x, sample_allows: 1.5 }}\n");
    assert_eq!(
        load(&bad).expect_err("refused"),
        [
            "DIR/portcullis.yaml:7:28: `7x` is not a duration; use 30s, 5m or 1h",
            "DIR/portcullis.yaml:7:47: decision_log.sample_allows is a share from 0.0 to 1.0, not 1.5",
        ]
    );
}

#[test]
fn lint_reads_break_glass_entries_and_the_report_only_age() {
    let d = load(MINIMAL).expect("loads");
    assert_eq!(
        d.lint,
        Lint {
            break_glass: Vec::new(),
            report_only_max_age: Duration::from_secs(30 * 86_400),
        }
    );
    let set = format!(
        "{MINIMAL}lint: {{ break_glass: [\"group:Break-Glass\", Root@Example.com], report_only_max_age: 14d }}\n"
    );
    let c = load(&set).expect("loads");
    assert_eq!(
        c.lint.break_glass,
        [
            rules::UserEntry::Group("break-glass".into()),
            rules::UserEntry::Email("root@example.com".into()),
        ]
    );
    assert_eq!(c.lint.report_only_max_age, Duration::from_secs(14 * 86_400));
}

#[test]
fn the_session_cache_budget_is_in_bytes_with_a_floor() {
    assert_eq!(
        load(MINIMAL).expect("loads").session_cache_bytes,
        crate::session::DEFAULT_CACHE_BYTES
    );
    let set = format!("{MINIMAL}server: {{ session_cache_bytes: 16777216 }}\n");
    assert_eq!(load(&set).expect("loads").session_cache_bytes, 16 << 20);
    let small = format!("{MINIMAL}server: {{ session_cache_bytes: 4096 }}\n");
    assert_eq!(
        load(&small).expect_err("refused"),
        [
            "DIR/portcullis.yaml:7:32: `session_cache_bytes` must be at least 1048576 (1 MiB), not 4096"
        ]
    );
}

/// A SAML idp's metadata over plain http (not loopback) loads, with a
/// warning at its entry: the metadata's certificates verify every sign-in.
#[test]
fn saml_metadata_over_plain_http_is_a_warning() {
    let text = format!(
        "{APPS}sign_in: {{ host: auth.localhost }}\nidps:\n  \
         - {{ name: far, type: saml, metadata_url: \"http://adfs.fabrikam.example/md.xml\", domains: [fabrikam.example] }}\n  \
         - {{ name: near, type: saml, metadata_url: \"http://127.0.0.1:9/md.xml\", domains: [northwind.example] }}\n  \
         - {{ name: safe, type: saml, metadata_url: \"https://login.contoso.example/md.xml\", domains: [contoso.example] }}\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    let rule_file = dir.path().join("rules/a.yaml");
    std::fs::write(&rule_file, "").expect("write");
    let config = Config::from_str(&dir.path().join("portcullis.yaml"), &text).expect("loads");
    let rules = rules::RuleSet::load(
        &[rule_file],
        &rules::CompileContext {
            apps: config.app_names(),
        },
    )
    .expect("rules");
    let warnings: Vec<String> = super::warnings(&config, &rules)
        .iter()
        .map(|w| w.to_string().replace(&*dir.path().to_string_lossy(), "DIR"))
        .collect();
    assert_eq!(
        warnings,
        [
            "DIR/portcullis.yaml:10:5: warning: idp `far`: metadata_url http://adfs.fabrikam.example/md.xml is plain http: whoever can change it on the way can swap the signing certificate that every sign-in is checked against; use https"
        ]
    );
}
