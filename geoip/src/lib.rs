//! GeoIP for Portcullis: where a request comes from.
//!
//! Three jobs, all used while building a request's context:
//!
//! * [`client_ip`] — the client address, believing `X-Forwarded-For` /
//!   `Forwarded` only from [`TrustedProxies`];
//! * [`CountryDb`] — the country of that address from a verified MaxMind
//!   database, reloadable as a new immutable value;
//! * [`LocationTable`] — every named location (IP ranges, countries) that
//!   matches an address and a country, as a [`LocationSet`].
//!
//! Nothing here logs, spawns or touches global state; loading reads files,
//! lookups do no I/O and never fail (an address that cannot be placed is
//! [`Country::Unknown`]).

#![forbid(unsafe_code)]

mod client_ip;
mod country;
mod db;
mod locations;

pub use client_ip::{ClientIpError, MAX_HOPS, TrustedProxies, client_ip, client_network};
pub use country::{Country, CountryCode, UnknownCountry};
pub use db::{CountryDb, GeoIpError};
pub use locations::{LocationSet, LocationTable, LocationTableBuilder};
