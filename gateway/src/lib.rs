//! The Portcullis gateway: configuration, the policy snapshot, the policy
//! CLI's answers and (as they land) the proxy, sign-in, store and admin
//! listener. See `DESIGN.md` in the docs.
#![forbid(unsafe_code)]

pub mod access_requests;
pub mod admin;
pub mod config;
pub mod connections;
pub mod decision_log;
pub mod demo;
pub mod guests;
pub mod html;
pub mod i18n;
pub mod invitations;
pub mod lifecycle;
pub mod local_idp;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod mfa;
#[cfg(test)]
mod module_graph;
pub mod oauth2;
pub mod oidc;
pub mod passkeys;
pub mod pools;
pub mod portal;
pub mod proxy;
pub mod recovery_requests;
pub mod refusal;
pub mod reload;
pub mod replica_sync;
pub mod reserved;
pub mod saml;
pub mod schema;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod templates;
pub mod trust;
pub mod upgrade;
pub mod whatif;
