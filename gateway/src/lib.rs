//! The Portcullis gateway: CLI, configuration, and (as they land) the proxy,
//! sign-in, store and admin listener. See `../shared/DESIGN.md`.
#![forbid(unsafe_code)]

pub mod session;
pub mod store;
