//! Device platform and client app type.
