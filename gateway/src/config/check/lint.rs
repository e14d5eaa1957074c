//! `lint`: the break-glass accounts and the report-only age limit that
//! `portcullis rules lint` checks the rules against.

use super::Checker;
use crate::config::file::LintFile;
use crate::config::runtime::Lint;
use rules::UserEntry;

impl Checker<'_> {
    /// `lint`, with defaults.
    pub(super) fn lint(&mut self, f: Option<&LintFile>) -> Lint {
        let mut l = Lint {
            break_glass: Vec::new(),
            report_only_max_age: Lint::DEFAULT_REPORT_ONLY_MAX_AGE,
        };
        let Some(f) = f else { return l };
        for b in &f.break_glass {
            let v = b.value.trim().to_ascii_lowercase();
            let entry = match v.strip_prefix("group:") {
                Some(g) if !g.trim().is_empty() => Some(UserEntry::Group(g.trim().into())),
                Some(_) => None,
                None => match v.rsplit_once('@') {
                    Some((local, domain)) if !local.is_empty() && domain.contains('.') => {
                        Some(UserEntry::Email(v.as_str().into()))
                    }
                    _ => None,
                },
            };
            match entry {
                Some(e) => l.break_glass.push(e),
                None => self.err(
                    b,
                    format_args!(
                        "lint.break_glass: `{}` is neither group:NAME nor an e-mail address",
                        b.value
                    ),
                ),
            }
        }
        if let Some(d) = f
            .report_only_max_age
            .as_ref()
            .and_then(|d| self.duration(d))
        {
            l.report_only_max_age = d;
        }
        l
    }
}
