//! Errors and their positions. Every error names a file, a line and a column
//! (1-based, as editors count; 0 when unknown) and says what to write
//! instead. Errors in a file the config names (a users file) carry that
//! file's name and positions.

use std::path::{Path, PathBuf};

/// One problem in the configuration, rendered `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", .file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// A YAML error (syntax, unknown field, wrong type) in the config file,
/// worded as the rule files' are.
pub(super) fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> ConfigError {
    let r = rules::RuleError::from_yaml(path, e);
    ConfigError {
        file: r.file,
        line: r.line,
        column: r.column,
        message: r.kind.to_string(),
    }
}

/// A users file's errors are the config's: `portcullis check` reports them
/// with the rest, under the users file's name.
impl From<crate::local_idp::UsersFileError> for ConfigError {
    fn from(e: crate::local_idp::UsersFileError) -> Self {
        ConfigError {
            file: e.file,
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}
