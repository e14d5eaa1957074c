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
mod model;
mod paths;
pub mod platform;
pub mod schema;

pub use cases::{RequestFacts, ResolvedFacts, RuleTest, TestOutcome, run_tests};
pub use compile::CompileContext;
pub use duration::{format_duration, parse_duration};
pub use error::{RuleError, RuleErrorKind, SourcePos, closest};
pub use eval::{Decision, Evaluation, PolicyTrace, Reason, Requirement, Why, evaluate, explain};
pub use model::{
    AppId, Control, Grant, NamedLocation, Operator, Policy, Request, RuleSet, State, User,
    UserEntry, UserType,
};
pub use platform::{ClientApp, Platform};
