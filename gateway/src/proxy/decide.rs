//! The access decision for one request to one app, shared by the two ways
//! a request reaches us: proxied (`request_filter`) and asked about by
//! another proxy (`forward_auth`). Both build a [`Question`] from their own
//! inputs and get the same [`Verdict`]; neither re-implements a step.
//!
//! Order: public paths and CORS pre-flights first (no identity needed),
//! then the session (cookie or bearer), the directory (blocked, removed,
//! assigned), and last the rules.

use super::context::{self, Identity};
use crate::decision_log::{Early, Seen, reason_of};
use crate::refusal::Reason;
use crate::session::{KeyRing, SessionClaims, Subject};
use crate::snapshot::Snapshot;
use crate::state::{Gateway, now};
use pingora::http::RequestHeader;
use rules::{ClientApp, Decision, State, User, UserType};
use std::net::IpAddr;
use std::sync::Arc;

/// What is being asked: the original request, as the proxy or the
/// forwarding headers of a trusted proxy describe it.
pub struct Question<'a> {
    /// The routed app (an index into `config.apps`).
    pub app: usize,
    /// Lower-case host without the port: the session cookie's audience.
    pub host: &'a str,
    /// The normalised path (the one that is forwarded).
    pub path: &'a str,
    pub method: &'a str,
    pub client_ip: IpAddr,
    pub client_app: ClientApp,
    /// Whether the client's connection was HTTPS (picks the cookie name).
    pub https: bool,
    /// A re-check of an open connection (`live`): its policy results were
    /// counted when it opened and are not counted again.
    pub recheck: bool,
}

/// The decision and everything the answer and the upstream headers need.
pub struct Verdict {
    pub decision: Decision,
    /// The `decision` label of `portcullis_requests_total`: the decision's
    /// name, or `public` for a public path or pre-flight.
    pub outcome: &'static str,
    /// Who the answer is for: API for a bearer token, else the request's.
    pub client_app: ClientApp,
    /// Why a bearer token was refused (`invalid_token` detail), if it was.
    pub token_problem: Option<&'static str>,
    /// The verified session; `None` for anonymous and public requests.
    pub claims: Option<Arc<SessionClaims>>,
    /// The session came as `Authorization: Bearer`.
    pub bearer: bool,
    /// The user's groups (token and directory), lower-case, sorted.
    pub groups: Vec<String>,
    pub user_type: Option<UserType>,
    /// The enabled policies that applied, for the access log.
    pub applied: Vec<Arc<str>>,
    /// The key set the session was verified with; the request signs its
    /// assertion with the same set. `None` without a session.
    pub keys: Option<Arc<KeyRing>>,
    /// Why a refusal refused (the decision log's own computation); `None`
    /// for an allow.
    pub reason: Option<Reason>,
    /// The end (unix seconds) of an assignment that has ended.
    pub access_ended: Option<i64>,
    /// For `Decision::Mfa`: the strength the policies ask for and the one
    /// the session has; the step-up answer says which will do.
    pub mfa_asked: rules::MfaStrength,
    pub mfa_present: rules::MfaStrength,
}

impl Verdict {
    /// Who the request was decided for (the facts the decision used), when
    /// it has a session: what the identity headers and the assertion say.
    pub fn subject(&self) -> Option<Subject<'_>> {
        let c = self.claims.as_ref()?;
        Some(Subject {
            sub: &c.sub,
            email: &c.email,
            user_type: self.user_type.unwrap_or(c.user_type),
            groups: &self.groups,
        })
    }
}

impl Verdict {
    fn early(decision: Decision, outcome: &'static str, client_app: ClientApp) -> Verdict {
        Verdict {
            decision,
            outcome,
            client_app,
            token_problem: None,
            claims: None,
            bearer: false,
            groups: Vec::new(),
            user_type: None,
            applied: Vec::new(),
            keys: None,
            reason: None,
            access_ended: None,
            mfa_asked: rules::MfaStrength::None,
            mfa_present: rules::MfaStrength::None,
        }
    }
}

/// The directory could not be asked in time: the caller denies with 503.
#[derive(Debug)]
pub struct Unavailable;

/// Decides `q`. `req` gives the headers the session and platform are read
/// from (`Cookie`, `Authorization`, `User-Agent`, client hints, `Origin`).
/// Never waits on an IdP; waits on the store only on a directory-cache
/// miss, bounded by the directory's timeout. Counts `policy_results`.
pub async fn decide(
    g: &Gateway,
    snapshot: &Snapshot,
    req: &RequestHeader,
    q: &Question<'_>,
    request_id: &str,
) -> Result<Verdict, Unavailable> {
    let app = &snapshot.config.apps[q.app];
    let preflight = q.method == "OPTIONS"
        && req.headers.contains_key("origin")
        && req.headers.contains_key("access-control-request-method");
    if super::path::is_public(&app.public_paths, q.path) || (preflight && app.allow_cors_preflight)
    {
        return Ok(Verdict::early(Decision::Allow, "public", q.client_app));
    }

    let now = now();
    let keys = g.keys.load_full();
    let facts = context::build(
        g,
        &keys,
        snapshot,
        req,
        q.client_ip,
        q.client_app,
        q.host,
        q.https,
        now,
    );
    let facts_of = (facts.country, facts.platform, facts.client_app);
    let (claims, bearer) = match facts.identity {
        Identity::Signed { claims, bearer } => (Some(claims), bearer),
        Identity::Anonymous => (None, false),
        Identity::BadToken(problem) => {
            g.decision_log.record(&Seen {
                client_app: ClientApp::Api,
                early: Early::BadToken(problem),
                ..seen(snapshot, q, request_id, now, &facts_of, Decision::SignIn)
            });
            let mut v = Verdict::early(Decision::SignIn, "sign_in", ClientApp::Api);
            v.token_problem = Some(problem);
            v.reason = Some(Reason::SignInRequired);
            return Ok(v);
        }
    };

    // Directory facts: cached; a miss waits for the store with a timeout.
    // An unanswerable question is a deny.
    let dir = match &claims {
        Some(c) => {
            let at = time_of(now);
            let dir = match g.directory.cached(&c.sub, &app.name, at) {
                Some(f) => Ok(f),
                None => g.directory.get_or_load(&c.sub, &app.name, at).await,
            };
            match dir {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!(request_id, error = %e, "directory unavailable; denying");
                    return Err(Unavailable);
                }
            }
        }
        None => None,
    };
    let asked = Asked {
        app: q.app,
        path: q.path,
        method: q.method,
        ip: Some(q.client_ip),
        country: facts.country,
        platform: facts.platform,
        client_app: facts.client_app,
    };
    let user = claims.as_ref().zip(dir.as_ref()).map(|(c, dir)| {
        (
            Claimed {
                email: &c.email,
                user_type: c.user_type,
                groups: &c.groups,
                mfa: c.mfa_strength(),
                signed_in_ago: std::time::Duration::from_secs(c.signed_in_ago(now).max(0) as u64),
            },
            dir,
        )
    });
    let unknown = if bearer {
        UnknownUser::NoFacts
    } else {
        UnknownUser::SignInAgain
    };
    let (eval, user_type, groups, assigned, access_ended) =
        match judge(&snapshot.rules, Policies::Candidates, &asked, user, unknown) {
            Judgement::Directory {
                decision,
                early,
                user_type,
            } => {
                // Blocked, or a cookie for a user the directory no longer has.
                let client_app = if bearer { ClientApp::Api } else { q.client_app };
                g.decision_log.record(&Seen {
                    claims: claims.as_ref(),
                    user_type,
                    early,
                    ..seen(snapshot, q, request_id, now, &facts_of, decision)
                });
                let mut v = Verdict::early(decision, decision.as_str(), client_app);
                // Who was refused: for the log, and the page's way out (sign
                // out, switch account). Never an identity for an app.
                v.claims = claims.clone();
                v.reason = Some(match early {
                    Early::AccountBlocked => Reason::AccountBlocked,
                    _ => Reason::SignInRequired,
                });
                return Ok(v);
            }
            Judgement::Rules {
                eval,
                user_type,
                groups,
                assigned,
                access_ended,
            } => (eval, user_type, groups, assigned, access_ended),
        };
    let mfa_present = claims
        .as_ref()
        .map_or(rules::MfaStrength::None, |c| c.mfa_strength());
    g.decision_log.record(&Seen {
        claims: claims.as_ref(),
        user_type,
        groups: &groups,
        assigned,
        access_ended,
        early: Early::Rules,
        eval: Some(&eval),
        ..seen(snapshot, q, request_id, now, &facts_of, eval.decision)
    });
    let blocked_by = match eval.why {
        rules::Why::BlockedByPolicy(i) => snapshot.rules.policies().get(i as usize),
        _ => None,
    };
    let reason = reason_of(
        eval.decision,
        Early::Rules,
        Some(eval.why),
        access_ended.is_some(),
        blocked_by,
    );
    let mut applied = Vec::new();
    for t in eval.policies.iter().filter(|t| t.applies) {
        if !q.recheck {
            g.metrics
                .policy_results
                .with_label_values(&[&t.policy.name, t.policy.state.as_str(), t.result.as_str()])
                .inc();
        }
        if t.policy.state == State::Enabled {
            applied.push(t.policy.name.clone());
        }
    }
    Ok(Verdict {
        decision: eval.decision,
        outcome: eval.decision.as_str(),
        client_app: facts.client_app,
        token_problem: None,
        claims,
        bearer,
        groups,
        user_type,
        applied,
        keys: Some(keys),
        reason,
        access_ended,
        mfa_asked: eval.mfa_asked,
        mfa_present,
    })
}

/// What the rules are asked about besides the user: the request's own facts.
pub struct Asked<'a> {
    /// The routed app (an index into `config.apps`, the rules' app id).
    pub app: usize,
    /// The normalised path.
    pub path: &'a str,
    pub method: &'a str,
    pub ip: Option<IpAddr>,
    pub country: geoip::Country,
    pub platform: rules::Platform,
    pub client_app: ClientApp,
}

/// The signed-in user as the session (or the "what if" question) states
/// them, before the directory is heard.
pub struct Claimed<'a> {
    pub email: &'a str,
    /// The session's claim; the directory's type wins when it has one.
    pub user_type: UserType,
    /// The token's groups (the directory's are added).
    pub groups: &'a [String],
    pub mfa: rules::MfaStrength,
    pub signed_in_ago: std::time::Duration,
}

/// What a user the directory does not know means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownUser {
    /// A cookie for a user since deleted: sign in again.
    SignInAgain,
    /// A bearer token from an IdP, or a "what if" about someone never
    /// invited: decided on the request's facts with no groups or
    /// assignment from the directory (a guest is then not shared).
    NoFacts,
}

/// Which policies the evaluation traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policies {
    /// Those the user index names as candidates (the request path).
    Candidates,
    /// Every policy, each with the condition that decided it ("what if").
    All,
}

/// The decision once the session is known.
pub enum Judgement<'r> {
    /// The directory decided before the rules: a blocked account, or an
    /// unknown user's cookie.
    Directory {
        decision: Decision,
        early: Early,
        user_type: Option<UserType>,
    },
    /// The rules decided, on these facts.
    Rules {
        eval: rules::Evaluation<'r>,
        /// The directory's (or else the claimed) user type.
        user_type: Option<UserType>,
        /// Token and directory groups, lower-case, sorted, deduplicated.
        groups: Vec<String>,
        /// A live assignment to the app.
        assigned: bool,
        /// When the user's assignment to the app ended, if it has.
        access_ended: Option<i64>,
    },
}

/// The decision for a request whose session (if any) is known, given the
/// directory's facts about its user: blocked and unknown users first, then
/// the rules on the directory's user type, groups and assignment. The one
/// place this is decided: the proxy, forward-auth, the live re-check and
/// "what if" (CLI and admin API) all come here.
pub fn judge<'r>(
    rules: &'r rules::RuleSet,
    policies: Policies,
    asked: &Asked<'_>,
    user: Option<(Claimed<'_>, &crate::store::DirectoryFacts)>,
    unknown: UnknownUser,
) -> Judgement<'r> {
    let mut groups: Vec<String> = Vec::new();
    let mut user_type = None;
    let mut assigned = false;
    let mut access_ended = None;
    let mut email = None;
    let (mut mfa, mut signed_in_ago) = (rules::MfaStrength::None, None);
    if let Some((c, dir)) = &user {
        if dir.blocked || (!dir.user_exists && unknown == UnknownUser::SignInAgain) {
            let (decision, early) = if dir.blocked {
                (Decision::Block, Early::AccountBlocked)
            } else {
                (Decision::SignIn, Early::UnknownUser)
            };
            return Judgement::Directory {
                decision,
                early,
                user_type: dir.user_type,
            };
        }
        // The directory is authoritative; the token's claim otherwise.
        user_type = Some(dir.user_type.unwrap_or(c.user_type));
        groups = c
            .groups
            .iter()
            .chain(dir.groups.iter())
            .map(|g| g.to_ascii_lowercase())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        assigned = dir.assigned_live;
        if dir.assigned && !dir.assigned_live {
            access_ended = dir.assignment_expires_at.map(|t| t.unix_timestamp());
        }
        email = Some(c.email.to_ascii_lowercase());
        mfa = c.mfa;
        signed_in_ago = Some(c.signed_in_ago);
    }
    let request = rules::Request {
        user: match (&email, user_type) {
            (Some(email), Some(user_type)) => Some(User {
                email,
                user_type,
                groups: &groups,
                assigned,
            }),
            _ => None,
        },
        app: asked.app as rules::AppId,
        path: asked.path,
        method: asked.method,
        ip: asked.ip,
        country: asked.country,
        platform: asked.platform,
        client_app: asked.client_app,
        mfa,
        signed_in_ago,
    };
    let eval = match policies {
        Policies::Candidates => rules::evaluate(rules, &request),
        Policies::All => rules::explain(rules, &request),
    };
    Judgement::Rules {
        eval,
        user_type,
        groups,
        assigned,
        access_ended,
    }
}

/// The decision-log record of `q` with the request's own facts and no
/// user; the callers add what they know.
fn seen<'a>(
    snapshot: &'a Snapshot,
    q: &'a Question<'_>,
    request_id: &'a str,
    now: i64,
    &(country, platform, client_app): &(geoip::Country, rules::Platform, ClientApp),
    decision: Decision,
) -> Seen<'a> {
    Seen {
        config: &snapshot.config,
        rules: &snapshot.rules,
        request_id,
        at: now,
        app: q.app,
        host: q.host,
        path: q.path,
        method: q.method,
        client_ip: q.client_ip,
        country,
        platform,
        client_app,
        claims: None,
        user_type: None,
        groups: &[],
        assigned: false,
        access_ended: None,
        decision,
        early: Early::Rules,
        eval: None,
        recheck: q.recheck,
    }
}

fn time_of(now: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
