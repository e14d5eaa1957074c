//! The Portcullis policy core: rule files, the compiled policy set and the
//! evaluator. Pure: no I/O beyond reading rule files, no clock, no async.
#![forbid(unsafe_code)]

pub mod platform;
