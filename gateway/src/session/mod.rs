//! Sessions: the gateway cookie and bearer tokens.
