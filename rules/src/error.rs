//! Rule-file errors: every one says what is wrong, where (file, line, column),
//! and what to write instead.

use serde_saphyr::MessageFormatter;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a rule file, rendered as `file:line:column: message`.
///
/// Lines and columns are 1-based, as editors count them. `line == 0` means the
/// position is unknown (the YAML parser could not say); the file is still named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {kind}", .file.display())]
pub struct RuleError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub kind: RuleErrorKind,
}

/// What went wrong. The text of each variant is part of the user interface
/// (golden tests pin it): say what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleErrorKind {
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("{0}")]
    Yaml(String),
    #[error("unknown field `{field}`{}", did_you_mean(.suggestion).unwrap_or_else(|| format!(" (expected one of: {expected})")))]
    UnknownField {
        field: String,
        suggestion: Option<String>,
        expected: String,
    },
    #[error(
        "`{value}` is not an IP range; use CIDR notation such as 203.0.113.0/24 or 2001:db8::/48"
    )]
    BadCidr { value: String },
    #[error("`{value}` has host bits set; did you mean `{network}`?")]
    CidrHostBits { value: String, network: String },
    #[error("`{value}` is not an ISO 3166-1 alpha-2 country code{}", did_you_mean(.suggestion).unwrap_or_default())]
    UnknownCountry {
        value: String,
        suggestion: Option<String>,
    },
    #[error("`{value}` is not a duration; use 30m, 12h or 7d")]
    BadDuration { value: String },
    #[error("`{value}` is not {what}{} (one of: {allowed})", did_you_mean(.suggestion).unwrap_or_default())]
    UnknownWord {
        what: &'static str,
        value: String,
        suggestion: Option<String>,
        allowed: String,
    },
    #[error(
        "`{value}` is not a user; use all, guests, members, group:NAME, domain:example.com or an e-mail address"
    )]
    BadUser { value: String },
    #[error("there is no named location `{name}`{}", did_you_mean(.suggestion).unwrap_or_default())]
    UnknownLocation {
        name: String,
        suggestion: Option<String>,
    },
    #[error("there is no app `{name}` in the configuration{}", did_you_mean(.suggestion).unwrap_or_default())]
    UnknownApp {
        name: String,
        suggestion: Option<String>,
    },
    #[error("there is no policy `{name}`{}", did_you_mean(.suggestion).unwrap_or_default())]
    UnknownPolicy {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{what} `{name}` is defined twice; the first is at {first}")]
    Duplicate {
        what: &'static str,
        name: String,
        first: String,
    },
    #[error(
        "`{field}` is empty; a condition that includes nothing never applies (remove it, or set `state: disabled`)"
    )]
    EmptyInclude { field: String },
    #[error("named location `{name}` has neither `ip_ranges` nor `countries`")]
    EmptyLocation { name: String },
    #[error("`{field}` cannot contain `all`; to switch a policy off use `state: disabled`")]
    ExcludeAll { field: String },
    #[error("`{field}` needs an `include` list (use `include: [all]` to start from everything)")]
    MissingInclude { field: String },
    #[error("`{field}` cannot mix `all` with other entries")]
    AllWithOthers { field: String },
    #[error("`{value}` is not a date; write it as YYYY-MM-DD, e.g. 2026-11-02")]
    BadDate { value: String },
    #[error("a policy needs a `grant` or a `session` control (or both)")]
    NothingToDo,
    #[error("`grant.require` is empty; list at least one control, e.g. [mfa]")]
    EmptyRequire,
    #[error("`{value}` is not a valid path pattern: {detail}")]
    BadPathPattern { value: String, detail: String },
    #[error("`{value}` is not an IP address")]
    BadIp { value: String },
    #[error("a name must not be empty")]
    EmptyName,
}

fn did_you_mean(suggestion: &Option<String>) -> Option<String> {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
}

/// The closest candidate to `input` by edit distance, if it is close enough to
/// be a plausible typo (at most a third of the input's length, and at most 3).
///
/// Bounded work: edit distance costs the product of both lengths, and names
/// come from users, so inputs over 64 characters get no suggestion and
/// candidates whose length alone rules them out are skipped.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    const MAX_LEN: usize = 64;
    let n = input.chars().count();
    if n > MAX_LEN {
        return None;
    }
    let limit = (n / 3).clamp(1, 3);
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.chars().count().abs_diff(n) <= limit)
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// A place in a rule file, kept on compiled items so later errors (duplicates,
/// unknown references) and explanations can point back to the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePos {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

impl SourcePos {
    pub(crate) fn error(&self, kind: RuleErrorKind) -> RuleError {
        RuleError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            kind,
        }
    }
}

impl RuleError {
    /// A YAML parse or shape error from serde-saphyr, with its position and
    /// a "did you mean" for unknown fields. The gateway's config loader uses
    /// it too, so both files report such errors alike.
    pub fn from_yaml(file: &Path, e: &serde_saphyr::Error) -> RuleError {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        // The parser wraps errors with source snippets and alias context; the
        // structured error is inside.
        let mut inner = e;
        while let serde_saphyr::Error::WithSnippet { error, .. }
        | serde_saphyr::Error::AliasError { error, .. } = inner
        {
            inner = error;
        }
        let kind = match inner {
            serde_saphyr::Error::SerdeUnknownField {
                field, expected, ..
            } => RuleErrorKind::UnknownField {
                field: field.clone(),
                suggestion: closest(field, expected.iter().copied()),
                expected: expected.join(", "),
            },
            _ => RuleErrorKind::Yaml(
                serde_saphyr::UserMessageFormatter
                    .format_message(e)
                    .into_owned(),
            ),
        };
        RuleError {
            file: file.to_path_buf(),
            line,
            column,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_ignores_strangers() {
        let words = ["platforms", "locations", "users"];
        assert_eq!(closest("platfroms", words).as_deref(), Some("platforms"));
        assert_eq!(closest("Users", words).as_deref(), Some("users"));
        assert_eq!(closest("banana", words), None);
    }
}
