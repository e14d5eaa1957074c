//! Any bytes as a rule file: compiling never panics or hangs, every error
//! names its file first and has a line and column, and whatever compiles can
//! decide a request and run its own test cases.
#![no_main]

use geoip::Country;
use libfuzzer_sys::fuzz_target;
use rules::{CompileContext, RequestFacts, RuleErrorKind, RuleSet, evaluate, explain, run_tests};
use std::path::PathBuf;
use std::sync::LazyLock;

static CTX: LazyLock<CompileContext> = LazyLock::new(|| CompileContext {
    apps: ["demo", "payroll", "wiki"]
        .iter()
        .map(|s| s.to_string())
        .collect(),
});

fuzz_target!(|data: &[u8]| {
    let name = PathBuf::from("fuzz.yaml");
    let text = String::from_utf8_lossy(data).into_owned();
    match RuleSet::from_sources(&[(name.clone(), text)], &CTX) {
        Ok(rules) => {
            let _ = run_tests(&rules, &["tailwindtraders.com".into()], &|_| {
                Country::Unknown
            });
            for app in rules.apps() {
                for user in [None, Some("anna@contoso.com")] {
                    let facts = RequestFacts {
                        user: user.map(str::to_string),
                        app: app.to_string(),
                        ip: Some("203.0.113.7".parse().expect("ip")),
                        ..Default::default()
                    };
                    let resolved = facts
                        .resolve(&rules, &[], &|_| Country::Unknown)
                        .expect("a configured app");
                    let req = resolved.request();
                    let fast = evaluate(&rules, &req);
                    let full = explain(&rules, &req);
                    assert_eq!(fast.decision, full.decision);
                    assert_eq!(fast.why, full.why);
                    for t in &full.policies {
                        let _ = t.detail(&rules, &req);
                    }
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "Err(vec![]) says nothing");
            for e in &errors {
                let text = e.to_string();
                assert_eq!(e.file, name, "{text}");
                assert!(text.starts_with("fuzz.yaml:"), "{text}");
                if !matches!(e.kind, RuleErrorKind::Io(_)) {
                    assert!(e.line >= 1 && e.column >= 1, "no position: {text:?}");
                }
            }
        }
    }
});
