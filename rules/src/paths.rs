//! Per-path and per-method conditions inside one app.
//!
//! Patterns match the normalised path (percent-decoded where safe, dot
//! segments and repeated slashes removed by the gateway) case-sensitively:
//! - `*` matches within one segment, `**` across segments;
//! - a pattern ending in `/*` or `/**` also matches the directory itself, so
//!   `/admin/*` covers `/admin`, `/admin/` and everything below it (a rule
//!   meant to guard a folder must not miss the folder's own page).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Clone, Debug)]
pub(crate) struct PathCondition {
    pub include: GlobSet,
    pub exclude: GlobSet,
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
}

impl PathCondition {
    pub fn build(
        include: &[String],
        exclude: &[String],
    ) -> Result<PathCondition, (usize, bool, String)> {
        Ok(PathCondition {
            include: glob_set(include).map_err(|(i, e)| (i, true, e))?,
            exclude: glob_set(exclude).map_err(|(i, e)| (i, false, e))?,
            include_patterns: include.to_vec(),
            exclude_patterns: exclude.to_vec(),
        })
    }
}

/// Checks one pattern; the error text says what is wrong with it.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if !pattern.starts_with('/') {
        return Err("a path pattern starts with `/`".into());
    }
    for glob in expand(pattern) {
        GlobBuilder::new(&glob)
            .literal_separator(true)
            .build()
            .map_err(|e| e.kind().to_string())?;
    }
    Ok(())
}

fn expand(pattern: &str) -> Vec<String> {
    let mut out = vec![pattern.to_string()];
    for suffix in ["/**", "/*"] {
        if let Some(dir) = pattern.strip_suffix(suffix) {
            // `/admin/*` covers the folder itself and everything below it.
            out = vec![format!("{dir}/**"), format!("{dir}/"), dir.to_string()];
            if dir.is_empty() {
                out.push("/".into());
            }
            break;
        }
    }
    out
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, (usize, String)> {
    let mut builder = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        check_pattern(p).map_err(|e| (i, e))?;
        for glob in expand(p) {
            let g = GlobBuilder::new(&glob)
                .literal_separator(true)
                .build()
                .map_err(|e| (i, e.kind().to_string()))?;
            builder.add(g);
        }
    }
    builder.build().map_err(|e| (0, e.to_string()))
}

/// HTTP methods a `methods` list may name, as bits of a mask.
pub(crate) const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The bit of a method, or 0 for a method outside [`METHODS`] (which then
/// matches no `methods` list).
pub(crate) fn method_bit(method: &str) -> u16 {
    METHODS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(method))
        .map_or(0, |i| 1 << i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(include: &[&str], exclude: &[&str]) -> PathCondition {
        let inc: Vec<String> = include.iter().map(|s| s.to_string()).collect();
        let exc: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        PathCondition::build(&inc, &exc).expect("valid patterns")
    }

    #[test]
    fn folder_pattern_covers_the_folder_itself() {
        let c = cond(&["/admin/*"], &[]);
        for p in ["/admin", "/admin/", "/admin/users", "/admin/a/b/c"] {
            assert!(c.include.is_match(p), "{p}");
        }
        for p in ["/administrator", "/", "/x/admin", "/Admin"] {
            assert!(!c.include.is_match(p), "{p}");
        }
    }

    #[test]
    fn single_star_stays_in_a_segment() {
        let c = cond(&["/api/*/export"], &[]);
        assert!(c.include.is_match("/api/v1/export"));
        assert!(!c.include.is_match("/api/v1/x/export"));
    }

    #[test]
    fn patterns_must_start_with_a_slash() {
        assert!(check_pattern("admin/*").is_err());
        assert!(check_pattern("/a/[").is_err());
        assert!(check_pattern("/a/**").is_ok());
    }

    #[test]
    fn method_bits() {
        assert_eq!(method_bit("GET"), 1);
        assert_eq!(method_bit("post"), 4);
        assert_eq!(method_bit("PROPFIND"), 0);
    }
}
