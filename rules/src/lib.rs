//! The Portcullis policy core: rule files, the compiled policy set and the
//! evaluator. Pure: no I/O beyond reading rule files, no clock, no async, no
//! logging; time comes in as input (`Request::signed_in_ago`).
//!
//! ```text
//! rule files ──parse (file.rs)──▶ file types with spans
//!            ──compile.rs──▶ RuleSet (indexed by app and user, named locations in prefix tries)
//! Request ──eval.rs──▶ Evaluation { decision, why, per-policy traces }
//! ```
#![forbid(unsafe_code)]

mod cases;
mod compile;
mod duration;
mod error;
mod eval;
mod file;
mod lint;
mod model;
mod paths;
pub mod platform;
pub mod schema;

pub use cases::{RequestFacts, ResolvedFacts, RuleTest, TestOutcome, run_tests};
pub use compile::CompileContext;
pub use duration::{format_duration, parse_duration};
pub use error::{RuleError, RuleErrorKind, SourcePos, closest};
pub use eval::{Decision, Evaluation, PolicyTrace, Reason, Requirement, Why, evaluate, explain};
pub use lint::{Finding, LintKind, LintOptions, lint};
pub use model::{
    AppId, Control, Grant, MfaStrength, NamedLocation, Operator, Policy, Request, RuleSet, State,
    User, UserEntry, UserType,
};
pub use platform::{ClientApp, Platform};

/// An e-mail domain as an IdP's `domains` entry gives it: trimmed and
/// lower-cased; `None` unless it has a dot, does not start or end with one,
/// and has only letters, digits, `-` and `.` (no `@`, no wildcard).
pub fn mail_domain(raw: &str) -> Option<String> {
    let v = raw.trim().to_ascii_lowercase();
    let ok = v.contains('.')
        && !v.starts_with('.')
        && !v.ends_with('.')
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then_some(v)
}

/// What to tell someone whose `domains` entry [`mail_domain`] refused.
pub fn mail_domain_error(raw: &str) -> String {
    format!("`{raw}` is not a domain; write it like contoso.com (no @, no wildcard)")
}
