//! Rule test cases (`tests:` in rule files) and the owned request facts that
//! `rules test` and `whatif` build a [`Request`] from.

use crate::CompileContext;
use crate::compile::pos;
use crate::duration::parse_duration;
use crate::error::{RuleError, RuleErrorKind, SourcePos, closest};
use crate::eval::{Decision, Evaluation, explain};
use crate::file::MfaFile;
use crate::file::{S, TestFile};
use crate::model::{AppId, MfaStrength, Request, RuleSet, User, UserType};
use crate::platform::{self, ClientApp, Platform};
use geoip::Country;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// The facts of one request, owned: what a test case or `whatif` states.
/// Fields left `None` are worked out by [`RequestFacts::resolve`].
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    /// E-mail of the signed-in user; `None` = not signed in.
    pub user: Option<String>,
    /// Default: `member` when the user's domain is one of the organisation's
    /// member domains, else `guest`.
    pub user_type: Option<UserType>,
    pub groups: Vec<String>,
    pub app: String,
    /// Default `/`.
    pub path: Option<String>,
    /// Default `GET`.
    pub method: Option<String>,
    pub ip: Option<IpAddr>,
    /// Default: the GeoIP answer for `ip`, else unknown.
    pub country: Option<Country>,
    pub user_agent: Option<String>,
    /// Default: detected from `user_agent`.
    pub platform: Option<Platform>,
    /// Default `browser`.
    pub client_app: Option<ClientApp>,
    /// Default: no MFA.
    pub mfa: MfaStrength,
    /// Default: just now.
    pub signed_in_ago: Option<Duration>,
    /// Default `true`: a guest holds a live assignment to the app.
    pub assigned: Option<bool>,
}

/// [`RequestFacts`] with every default worked out.
#[derive(Clone, Debug)]
pub struct ResolvedFacts {
    pub email: Option<String>,
    pub user_type: UserType,
    pub groups: Vec<String>,
    pub app: AppId,
    pub path: String,
    pub method: String,
    pub ip: Option<IpAddr>,
    pub country: Country,
    pub platform: Platform,
    pub client_app: ClientApp,
    pub mfa: MfaStrength,
    pub signed_in_ago: Duration,
    pub assigned: bool,
}

impl RequestFacts {
    /// Fills the defaults. `lookup` is the GeoIP country lookup (or a stand-in
    /// that answers unknown when no database is configured). Fails when the
    /// app is not in the rule set's configuration.
    pub fn resolve(
        &self,
        rules: &RuleSet,
        member_domains: &[String],
        lookup: &dyn Fn(IpAddr) -> Country,
    ) -> Result<ResolvedFacts, String> {
        let app = rules.app_id(&self.app).ok_or_else(|| {
            let names: Vec<&str> = rules.apps().iter().map(|a| &**a).collect();
            match closest(&self.app, names.iter().copied()) {
                Some(s) => format!("there is no app `{}`; did you mean `{s}`?", self.app),
                None => format!(
                    "there is no app `{}`; apps are: {}",
                    self.app,
                    names.join(", ")
                ),
            }
        })?;
        let email = self.user.as_ref().map(|u| u.trim().to_ascii_lowercase());
        let domain = email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d);
        let user_type = self.user_type.unwrap_or_else(|| match domain {
            Some(d) if member_domains.iter().any(|m| m.eq_ignore_ascii_case(d)) => UserType::Member,
            _ => UserType::Guest,
        });
        Ok(ResolvedFacts {
            email,
            user_type,
            groups: self.groups.iter().map(|g| g.to_ascii_lowercase()).collect(),
            app,
            path: self.path.clone().unwrap_or_else(|| "/".into()),
            method: self
                .method
                .clone()
                .unwrap_or_else(|| "GET".into())
                .to_ascii_uppercase(),
            ip: self.ip.map(|ip| ip.to_canonical()),
            country: self.country.unwrap_or_else(|| {
                self.ip
                    .map_or(Country::Unknown, |ip| lookup(ip.to_canonical()))
            }),
            platform: self
                .platform
                .unwrap_or_else(|| platform::detect(self.user_agent.as_deref(), None)),
            client_app: self.client_app.unwrap_or(ClientApp::Browser),
            mfa: self.mfa,
            signed_in_ago: self.signed_in_ago.unwrap_or(Duration::ZERO),
            assigned: self.assigned.unwrap_or(true),
        })
    }
}

impl ResolvedFacts {
    /// The evaluator's view of these facts.
    pub fn request(&self) -> Request<'_> {
        Request {
            user: self.email.as_deref().map(|email| User {
                email,
                user_type: self.user_type,
                groups: &self.groups,
                assigned: self.assigned,
            }),
            app: self.app,
            path: &self.path,
            method: &self.method,
            ip: self.ip,
            country: self.country,
            platform: self.platform,
            client_app: self.client_app,
            mfa: self.mfa,
            signed_in_ago: self.email.as_ref().map(|_| self.signed_in_ago),
        }
    }
}

/// A compiled test case from a rule file.
#[derive(Clone, Debug)]
pub struct RuleTest {
    pub name: String,
    pub source: SourcePos,
    pub facts: RequestFacts,
    pub expect: Decision,
    /// Policies (any state) expected to apply, as a set.
    pub applied: Option<Vec<String>>,
}

/// The result of running one test case.
#[derive(Debug)]
pub struct TestOutcome<'r> {
    pub test: &'r RuleTest,
    pub passed: bool,
    /// What went wrong, with the per-policy explanation (empty on a pass).
    pub failure: String,
}

/// Runs every test case of the rule set.
pub fn run_tests<'r>(
    rules: &'r RuleSet,
    member_domains: &[String],
    lookup: &dyn Fn(IpAddr) -> Country,
) -> Vec<TestOutcome<'r>> {
    rules
        .tests()
        .iter()
        .map(|test| {
            let resolved = match test.facts.resolve(rules, member_domains, lookup) {
                Ok(r) => r,
                Err(e) => {
                    return TestOutcome {
                        test,
                        passed: false,
                        failure: e,
                    };
                }
            };
            let req = resolved.request();
            let eval = explain(rules, &req);
            let mut problems = Vec::new();
            if eval.decision != test.expect {
                problems.push(format!("expected {}, got {}", test.expect, eval.decision));
            }
            if let Some(want) = &test.applied {
                let mut got: Vec<&str> = eval
                    .policies
                    .iter()
                    .filter(|t| t.applies)
                    .map(|t| &*t.policy.name)
                    .collect();
                let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
                got.sort_unstable();
                want.sort_unstable();
                if got != want {
                    problems.push(format!(
                        "expected applied [{}], got [{}]",
                        want.join(", "),
                        got.join(", ")
                    ));
                }
            }
            let passed = problems.is_empty();
            let failure = if passed {
                String::new()
            } else {
                failure_text(rules, &req, &eval, &problems)
            };
            TestOutcome {
                test,
                passed,
                failure,
            }
        })
        .collect()
}

fn failure_text(
    rules: &RuleSet,
    req: &Request<'_>,
    eval: &Evaluation<'_>,
    problems: &[String],
) -> String {
    let mut s = format!("{} ({})", problems.join("; "), eval.why.as_str());
    for t in &eval.policies {
        s.push_str(&format!(
            "\n    {} [{}]: {} — {}",
            t.policy.name,
            t.policy.state.as_str(),
            if t.applies {
                t.result.as_str()
            } else {
                "does not apply"
            },
            t.detail(rules, req)
        ));
    }
    s
}

pub(crate) fn compile_test(
    file: &Path,
    t: &S<TestFile>,
    policy_names: &[String],
    ctx: &CompileContext,
) -> Result<RuleTest, Vec<RuleError>> {
    let f = &t.value;
    let r = &f.request.value;
    let mut errors = Vec::new();
    let mut word = |s: &S<String>, what: &'static str, names: &[&str], ok: bool| {
        if !ok {
            errors.push(pos(file, s).error(RuleErrorKind::UnknownWord {
                what,
                value: s.value.clone(),
                suggestion: closest(&s.value, names.iter().copied()),
                allowed: names.join(", "),
            }));
        }
    };

    let expect = Decision::parse(&f.expect.value);
    word(&f.expect, "a decision", Decision::NAMES, expect.is_some());
    let user_type = r.user_type.as_ref().and_then(|s| {
        let v = UserType::parse(&s.value);
        word(s, "a user type", &["guest", "member"], v.is_some());
        v
    });
    let platform_names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
    let platform = r.platform.as_ref().and_then(|s| {
        let v = Platform::parse(&s.value);
        word(s, "a platform", &platform_names, v.is_some());
        v
    });
    let client_app = r.client_app.as_ref().and_then(|s| {
        let v = ClientApp::parse(&s.value);
        word(s, "a client app type", &["browser", "api"], v.is_some());
        v
    });
    if !ctx.apps.contains(&r.app.value) {
        errors.push(pos(file, &r.app).error(RuleErrorKind::UnknownApp {
            name: r.app.value.clone(),
            suggestion: closest(&r.app.value, ctx.apps.iter().map(String::as_str)),
        }));
    }
    let ip =
        r.ip.as_ref()
            .and_then(|s| match s.value.trim().parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    errors.push(pos(file, s).error(RuleErrorKind::BadIp {
                        value: s.value.clone(),
                    }));
                    None
                }
            });
    let country = r
        .country
        .as_ref()
        .and_then(|s| match Country::parse(&s.value) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(pos(file, s).error(RuleErrorKind::UnknownCountry {
                    value: s.value.clone(),
                    suggestion: e.suggestion.map(|c| c.to_string()),
                }));
                None
            }
        });
    let mfa = match &r.mfa {
        None => MfaStrength::None,
        Some(S {
            value: MfaFile::Bool(b),
            ..
        }) => {
            if *b {
                MfaStrength::Mfa
            } else {
                MfaStrength::None
            }
        }
        Some(
            s @ S {
                value: MfaFile::Word(w),
                ..
            },
        ) => {
            let v = MfaStrength::parse(w);
            if v.is_none() {
                errors.push(pos(file, s).error(RuleErrorKind::UnknownWord {
                    what: "an MFA strength",
                    value: w.clone(),
                    suggestion: closest(w, MfaStrength::NAMES.iter().copied()),
                    allowed: "true, false, phishing_resistant".into(),
                }));
            }
            v.unwrap_or_default()
        }
    };
    let signed_in_ago = r.signed_in_ago.as_ref().and_then(|s| {
        let d = parse_duration(&s.value);
        if d.is_none() {
            errors.push(pos(file, s).error(RuleErrorKind::BadDuration {
                value: s.value.clone(),
            }));
        }
        d
    });
    if let Some(u) = &r.user
        && !u.value.contains('@')
    {
        errors.push(pos(file, u).error(RuleErrorKind::BadUser {
            value: u.value.clone(),
        }));
    }
    for name in f.applied.iter().flatten() {
        if !policy_names.contains(&name.value) {
            errors.push(pos(file, name).error(RuleErrorKind::UnknownPolicy {
                name: name.value.clone(),
                suggestion: closest(&name.value, policy_names.iter().map(String::as_str)),
            }));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleTest {
        name: f.name.value.clone(),
        source: pos(file, &f.name),
        facts: RequestFacts {
            user: r.user.as_ref().map(|u| u.value.clone()),
            user_type,
            groups: r.groups.iter().map(|g| g.value.clone()).collect(),
            app: r.app.value.clone(),
            path: r.path.as_ref().map(|p| p.value.clone()),
            method: r.method.as_ref().map(|m| m.value.clone()),
            ip,
            country,
            user_agent: r.user_agent.clone(),
            platform,
            client_app,
            mfa,
            signed_in_ago,
            assigned: r.assigned,
        },
        expect: expect.unwrap_or(Decision::Block),
        applied: f
            .applied
            .as_ref()
            .map(|v| v.iter().map(|s| s.value.clone()).collect()),
    })
}
