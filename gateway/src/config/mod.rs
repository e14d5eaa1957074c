//! `portcullis.yaml`: what the operator wrote, checked, as the program uses
//! it. Paths are relative to the config file. Unknown fields are errors;
//! every error carries `file:line:column`.
//!
//! ```text
//! portcullis.yaml ──read (Config::load)──▶ text
//!   ──serde_saphyr──▶ ConfigFile (file.rs): the file types, with spans;
//!                     a syntax error, unknown field or wrong type stops here
//!   ──check/──▶ Config (runtime.rs): the runtime types; or every error
//!               found, each with its position (error.rs)
//! ```
//!
//! - `file.rs`: the file types, field for field as written
//!   (`deny_unknown_fields`, `Spanned`), which also generate the JSON Schema
//!   (`crate::schema`); `shapes.rs` gives their string fields a shape.
//! - `check/`: one file per section (`listen`, `apps`, `idps`, `sign_in`,
//!   ...); `check/mod.rs` says in which order and why. The `mail`, `oidc`
//!   and `local_idp` modules check their own parts and hand back errors with
//!   positions.
//! - `runtime.rs`: what the rest of the gateway reads ([`Config`], [`App`],
//!   [`IdpKind`], ...), re-exported here.
//! - `error.rs`: [`ConfigError`].
//! - `warnings.rs`: what `portcullis check` warns about (exit 0).

mod check;
mod error;
mod file;
mod runtime;
pub mod shapes;
#[cfg(test)]
mod tests;
mod warnings;

use std::path::Path;

pub use error::ConfigError;
pub use file::config_file_schema;
pub use runtime::{
    Admin, App, AppIcon, Approval, Attribute, Config, Console, DEFAULT_JWT_ALGORITHMS, DecisionLog,
    Fallback, GeoIp, Guests, HealthCheck, Https, IconFile, Idp, IdpKind, JwksSource,
    LifecycleAction, Lint, Listen, OnUnauthenticated, Organisation, Owner, PasscodeSettings,
    RateLimits, SignIn, SignUp, Store, Support, Terms, Upstream, UpstreamTls, Written,
};
pub use warnings::warnings;

impl Config {
    /// Reads and checks a config file, reporting every error it can find.
    /// Referenced files are checked for existence here; their contents
    /// (rules, GeoIP) are loaded by their own loaders.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the config file: {e}"),
            }]
        })?;
        Config::from_str(path, &text)
    }

    /// Checks config text as if read from `path` (used by tests).
    pub fn from_str(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
        let file: file::ConfigFile =
            serde_saphyr::from_str(text).map_err(|e| vec![error::yaml_error(path, &e)])?;
        check::check(path, file)
    }

    pub fn app_names(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.clone()).collect()
    }

    /// Fetches each SAML idp's `metadata_url` now and keeps it fresh in the
    /// background (at start and after every reload: a reloaded config
    /// brings new idps). Needs a Tokio runtime.
    pub fn keep_saml_metadata_fresh(&self) {
        for idp in &self.idps {
            if let IdpKind::Saml(saml) = &idp.kind {
                saml.keep_fresh();
            }
        }
    }
}
