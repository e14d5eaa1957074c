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
    if !saml_metadata_urls(a, &snapshot) {
        return ExitCode::from(1);
    }
    for idp in &snapshot.config.idps {
        if let portcullis::config::IdpKind::Saml(s) = &idp.kind
            && let Some(md) = s.loaded()
            && md.expired_certs(now) > 0
        {
            // At the idp's entry, as the config's other warnings.
            let (line, column) = snapshot.config.written.idp(&idp.name).unwrap_or((0, 0));
            eprintln!(
                "{}:{line}:{column}: warning: idp `{}`: {} of its {} signing certificate(s) in the metadata have expired; responses are still checked against them, but ask the IdP's admin to roll them over",
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

/// A `metadata_url` is fetched here as the gateway does at start, so
/// its problems show before a partner meets them: a document that does not
/// parse or has no signing certificate is an error (false); one that cannot
/// be fetched now is a warning (the gateway keeps trying). A good copy is
/// kept for the expired-certificate warning.
fn saml_metadata_urls(a: &ConfigArg, snapshot: &portcullis::snapshot::Snapshot) -> bool {
    let urls: Vec<_> = snapshot
        .config
        .idps
        .iter()
        .filter_map(|idp| match &idp.kind {
            portcullis::config::IdpKind::Saml(s) => match &s.source {
                portcullis::saml::MetadataSource::Url(u) => Some((idp.name.as_str(), s, u)),
                portcullis::saml::MetadataSource::File(_) => None,
            },
            _ => None,
        })
        .collect();
    if urls.is_empty() {
        return true;
    }
    let Ok(rt) = super::runtime() else {
        return false;
    };
    let mut ok = true;
    for (name, s, url) in urls {
        match rt.block_on(s.metadata()) {
            Ok(_) => {}
            Err(portcullis::saml::SamlError::Unreachable(e)) => eprintln!(
                "{}: warning: idp `{name}`: metadata_url {url} could not be fetched ({e}); the gateway tries again at start, hourly and on sign-in, and keeps the last good copy",
                a.config.display()
            ),
            Err(e) => {
                eprintln!(
                    "{}: idp `{name}`: metadata_url {url}: {e}",
                    a.config.display()
                );
                ok = false;
            }
        }
    }
    ok
}
