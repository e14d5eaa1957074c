//! `portcullis check`: load the config, the rule files and every file they
//! reference; print a one-line summary, or every error (exit 1).

use super::{ConfigArg, load, plural};
use std::process::ExitCode;

pub fn run(a: &ConfigArg) -> ExitCode {
    let snapshot = match load(a) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // An ended IdP signing certificate: a warning (exit 0). Signatures are
    // checked against the key the metadata lists; the IdP's admin should
    // still roll it over, and its metadata may change soon.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for idp in &snapshot.config.idps {
        if let portcullis::config::IdpKind::Saml(s) = &idp.kind
            && let Some(md) = s.loaded()
            && md.expired_certs(now) > 0
        {
            eprintln!(
                "{}: warning: idp `{}`: {} of its {} signing certificate(s) in the metadata have expired",
                a.config.display(),
                idp.name,
                md.expired_certs(now),
                md.signing_certs
            );
        }
    }
    let r = &snapshot.rules;
    // Warnings print with their position and do not fail the check.
    for w in portcullis::config::warnings(&snapshot.config, r) {
        eprintln!("{w}");
    }
    println!(
        "{}: OK — {} app{}, {} polic{}, {} named location{}, {} rule test{} in {} rule file{}{}",
        a.config.display(),
        r.apps().len(),
        plural(r.apps().len()),
        r.policies().len(),
        if r.policies().len() == 1 { "y" } else { "ies" },
        r.named_locations().len(),
        plural(r.named_locations().len()),
        r.tests().len(),
        plural(r.tests().len()),
        r.files().len(),
        plural(r.files().len()),
        snapshot
            .geoip
            .as_ref()
            .map(|db| format!(", GeoIP {} ({})", db.database_type(), db.path().display()))
            .unwrap_or_default(),
    );
    ExitCode::SUCCESS
}
