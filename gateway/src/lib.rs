//! The Portcullis gateway: configuration, the policy snapshot, the policy
//! CLI's answers and (as they land) the proxy, sign-in, store and admin
//! listener. See `DESIGN.md` in the docs.
#![forbid(unsafe_code)]

pub mod access_requests;
pub mod admin;
pub mod config;
pub mod demo;
pub mod guests;
pub mod invitations;
pub mod lifecycle;
pub mod local_idp;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod oidc;
pub mod portal;
pub mod proxy;
pub mod reload;
pub mod schema;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod upgrade;
pub mod upstream;
pub mod whatif;

/// The old name of [`invitations`], for `portal/signin.rs` until it says
/// `invitations` (it is being restructured beside this change).
#[doc(hidden)]
pub use invitations as invite;
