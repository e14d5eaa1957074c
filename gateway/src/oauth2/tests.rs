#![allow(clippy::unwrap_used, reason = "tests")]

use super::config::*;
use super::profile::*;
use super::*;
use serde_json::json;
use std::path::Path;

fn check(yaml: &str, dir: &Path) -> Result<Oauth2IdpConfig, Vec<Oauth2ConfigError>> {
    serde_saphyr::from_str::<Oauth2IdpFile>(yaml)
        .expect("parses")
        .check(dir)
}

#[test]
fn oauth2_presets_fill_in_endpoints_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let gh = check(
        "name: github\ntype: oauth2\npreset: github\nclient_id: c\nclient_secret_env: GH\n",
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        gh.authorization_url,
        "https://github.com/login/oauth/authorize"
    );
    assert_eq!(gh.token_url, "https://github.com/login/oauth/access_token");
    assert_eq!(
        gh.preset,
        Oauth2Preset::GitHub {
            api_url: "https://api.github.com".into()
        }
    );
    assert_eq!(gh.userinfo_url, "https://api.github.com/user");
    assert_eq!(gh.scopes, ["user:email"]);
    assert_eq!(gh.brand(), "GitHub");

    let ghes = check(
        "name: ghes\ntype: oauth2\npreset: github\ngithub_url: https://git.fabrikam.example/\nclient_id: c\nclient_secret_env: GH\ndomains: [Fabrikam.Example]\n",
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        ghes.preset,
        Oauth2Preset::GitHub {
            api_url: "https://git.fabrikam.example/api/v3".into()
        }
    );
    assert_eq!(
        ghes.token_url,
        "https://git.fabrikam.example/login/oauth/access_token"
    );
    assert_eq!(ghes.brand(), "GitHub Enterprise (git.fabrikam.example)");
    assert!(ghes.serves_email("bob@fabrikam.EXAMPLE"));
    // http:// only to loopback (tests).
    check(
        "name: ghes\ntype: oauth2\npreset: github\ngithub_url: http://127.0.0.1:9\nclient_id: c\nclient_secret_env: GH\n",
        dir.path(),
    )
    .unwrap();

    let fb = check(
        "name: fb\ntype: oauth2\npreset: facebook\nclient_id: '123'\nclient_secret_env: FB\n",
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        fb.authorization_url,
        format!("https://www.facebook.com/{FACEBOOK_GRAPH_VERSION}/dialog/oauth")
    );
    assert_eq!(
        fb.userinfo_url,
        format!("https://graph.facebook.com/{FACEBOOK_GRAPH_VERSION}/me")
    );
    assert_eq!(fb.scopes, ["email"]);
    assert_eq!(fb.icon(), "facebook");

    let generic = check(
        "name: sso\ntype: oauth2\nauthorization_url: https://sso.example/a\ntoken_url: https://sso.example/t\nuserinfo_url: https://sso.example/u\nclaims: { id: /data/uid, email_verified: /data/ok }\nclient_id: c\nclient_secret_env: S\n",
        dir.path(),
    )
    .unwrap();
    assert_eq!(generic.preset, Oauth2Preset::Generic);
    assert_eq!(generic.claims.id, "/data/uid");
    assert_eq!(generic.claims.email, "/email");
    assert_eq!(generic.claims.email_verified, "/data/ok");
    assert!(generic.scopes.is_empty());
    assert_eq!(
        (generic.brand().as_str(), generic.icon()),
        ("sso", "letter")
    );
}

#[test]
fn oauth2_config_reports_every_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let errs = check(
        "name: gh\ntype: oauth2\npreset: github\ntoken_url: https://x.example/t\ngithub_url: http://git.example\nclient_id: c\nclient_secret: hunter2\nscopes: [read:user]\nclaims: { id: /id }\n",
        dir.path(),
    )
    .unwrap_err();
    let lines: Vec<u64> = errs.iter().map(|e| e.0).collect();
    assert_eq!(lines, [5, 4, 9, 7, 8], "{errs:?}");
    assert!(errs[0].2.contains("loopback"), "{errs:?}");
    assert!(errs[1].2.contains("github_url"), "{errs:?}");
    assert!(errs[4].2.contains("user:email"), "{errs:?}");

    let errs = check(
        "name: sso\ntype: oauth2\nclient_id: c\nclient_secret_file: missing\nclaims: { id: data/uid }\n",
        dir.path(),
    )
    .unwrap_err();
    assert!(
        errs.iter().any(|e| e.2.contains("needs `token_url`")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.0 == 5 && e.2.contains("not a JSON pointer")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.0 == 4 && e.2.contains("does not exist"))
    );

    let errs = check(
        "name: x\ntype: oauth2\npreset: gitlab\nclient_id: c\nclient_secret_env: X\n",
        dir.path(),
    )
    .unwrap_err();
    assert_eq!((errs[0].0, errs[0].1), (3, 9), "{errs:?}");
    assert!(errs[0].2.contains("github, facebook, generic"));
}

#[test]
fn github_subject_is_the_numeric_id_and_only_a_primary_verified_email_counts() {
    let user = json!({ "login": "octocat", "id": 583231, "name": "The Octocat", "email": "public@x.example" });
    let emails = json!([
        { "email": "other@x.example", "verified": true, "primary": false, "visibility": null },
        { "email": "Octo@X.example", "verified": true, "primary": true, "visibility": "public" },
    ]);
    let p = github_profile(&user, &emails).unwrap();
    assert_eq!(p.id, "583231");
    assert_eq!(p.email.as_deref(), Some("Octo@X.example"));
    assert!(p.email_verified);
    assert_eq!(p.name.as_deref(), Some("The Octocat"));

    let unverified = json!([
        { "email": "verified@x.example", "verified": true, "primary": false },
        { "email": "octo@x.example", "verified": false, "primary": true },
    ]);
    let p = github_profile(&user, &unverified).unwrap();
    assert!(!p.email_verified, "a verified secondary does not stand in");

    // The login is never the subject.
    assert_eq!(
        github_profile(&json!({ "login": "octocat" }), &emails),
        Err(Oauth2Error::MissingId)
    );
    assert_eq!(
        github_profile(&json!({ "id": "583231" }), &emails),
        Err(Oauth2Error::MissingId)
    );
}

#[test]
fn facebook_email_counts_when_graph_returns_it() {
    let p = facebook_profile(
        &json!({ "id": "10158000000000001", "name": "Fay", "email": "fay@x.example" }),
    )
    .unwrap();
    assert_eq!(
        (p.id.as_str(), p.email_verified),
        ("10158000000000001", true)
    );
    let p = facebook_profile(&json!({ "id": "10158000000000001", "name": "Fay" })).unwrap();
    assert!(p.email.is_none() && !p.email_verified);
    assert_eq!(
        facebook_profile(&json!({ "id": "fay" })),
        Err(Oauth2Error::MissingId)
    );
}

#[test]
fn generic_claims_are_json_pointers() {
    let claims = ClaimPointers {
        id: "/data/uid".into(),
        email: "/data/mail/address".into(),
        email_verified: "/data/mail/confirmed".into(),
        name: "/data/display".into(),
    };
    let info = json!({ "data": { "uid": 77, "display": "Gus",
        "mail": { "address": "gus@x.example", "confirmed": true } } });
    let p = generic_profile(&info, &claims).unwrap();
    assert_eq!(
        p,
        Profile {
            id: "77".into(),
            email: Some("gus@x.example".into()),
            email_verified: true,
            name: Some("Gus".into()),
        }
    );
    let info = json!({ "data": { "uid": "u-1", "mail": { "address": "gus@x.example", "confirmed": "yes" } } });
    assert!(!generic_profile(&info, &claims).unwrap().email_verified);
    assert_eq!(
        generic_profile(&json!({ "data": { "uid": true } }), &claims),
        Err(Oauth2Error::MissingId)
    );
}

#[test]
fn token_endpoint_errors_keep_only_a_code() {
    assert_eq!(
        error_code(br#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#),
        "bad_verification_code"
    );
    assert_eq!(
        error_code(br#"{"error":{"message":"Invalid verification code format.","type":"OAuthException","code":100}}"#),
        "OAuthException"
    );
    assert_eq!(error_code(b"<html>"), "unparsable token response");
}

#[test]
fn authorize_url_sends_state_pkce_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s"), "secret").unwrap();
    let c = check(
        "name: github\ntype: oauth2\npreset: github\nclient_id: cid\nclient_secret_file: s\n",
        dir.path(),
    )
    .unwrap();
    let client = Oauth2Client::new(c, Duration::from_secs(1)).unwrap();
    let redirect = Url::parse("https://auth.example/.portcullis/oauth2/callback").unwrap();
    let (url, pending) = client.authorize_url(&redirect, 100).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(url.path(), "/login/oauth/authorize");
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["scope"], "user:email");
    assert_eq!(q["state"], pending.state);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], redirect.as_str());
    assert!(!format!("{pending:?}").contains(&pending.pkce_verifier));
}
