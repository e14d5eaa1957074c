//! `sign_in`: the auth host where people sign in, how long their session
//! lasts, which idps they are offered, the passcode fallback, the terms
//! of use and how the rate limits tell clients apart.

use std::time::Duration;

use super::Checker;
use crate::config::file::{ConfigFile, S};
use crate::config::runtime::{App, Fallback, PasscodeSettings, RateLimits, SignIn, Terms};

impl Checker<'_> {
    /// `sign_in`: required once anything signs people in (an idp of type
    /// oidc, oauth2 or local, or `mail` for passcodes).
    pub(super) fn sign_in(&mut self, f: &ConfigFile, apps: &[App]) -> Option<SignIn> {
        let browser_idps: Vec<(&str, &S<String>)> = f
            .idps
            .iter()
            .filter(|i| {
                matches!(
                    i.value.kind.value.as_str(),
                    "oidc" | "oauth2" | "local" | "saml"
                )
            })
            .map(|i| (i.value.name.value.as_str(), &i.value.kind))
            .collect();
        let Some(s) = &f.sign_in else {
            if let Some((name, kind)) = browser_idps.first() {
                self.err(
                    kind,
                    format_args!(
                        "idp `{name}` of type {} needs `sign_in: {{ host: … }}` (the auth host where people sign in)",
                        kind.value
                    ),
                );
            } else if let Some(m) = &f.mail {
                self.err(
                    m,
                    "`mail` needs `sign_in: { host: … }` (the auth host where people sign in with an e-mailed code)",
                );
            }
            return None;
        };
        let s = &s.value;

        let host = s.host.value.trim().to_string();
        let valid_host = !host.is_empty()
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid_host {
            self.err(
                &s.host,
                format_args!(
                    "`{}` is not a host name (no scheme, port or path); use e.g. auth.example.com",
                    s.host.value
                ),
            );
        } else if host != host.to_ascii_lowercase() {
            self.err(
                &s.host,
                format_args!(
                    "`{host}` must be lower-case; did you mean `{}`?",
                    host.to_ascii_lowercase()
                ),
            );
        } else if let Some(app) = apps.iter().find(|a| a.hosts.contains(&host)) {
            // The sign-in pages must be their own origin: an app served on
            // the same host could script them and read what people type.
            self.err(
                &s.host,
                format_args!(
                    "`{host}` is a host of app `{}`; the sign-in host must be a host of its own",
                    app.name
                ),
            );
        }

        let session_lifetime = match &s.session_lifetime {
            None => SignIn::DEFAULT_SESSION_LIFETIME,
            // `duration` refuses 0 already.
            Some(d) => match self.duration(d) {
                Some(v) if v > SignIn::MAX_SESSION_LIFETIME => {
                    self.err(
                        d,
                        format_args!("`session_lifetime` {} is too long; at most 30d", d.value),
                    );
                    SignIn::MAX_SESSION_LIFETIME
                }
                Some(v) => v,
                None => SignIn::DEFAULT_SESSION_LIFETIME,
            },
        };

        let mut idp_order = Vec::new();
        for entry in s.idp_order.iter().flat_map(|l| &l.value) {
            let name = entry.value.trim();
            match f.idps.iter().find(|i| i.value.name.value == name) {
                None => {
                    let hint = rules::closest(name, browser_idps.iter().map(|(n, _)| *n))
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        entry,
                        format_args!("there is no idp `{name}` in `idps`{hint}"),
                    );
                }
                Some(i)
                    if !matches!(
                        i.value.kind.value.as_str(),
                        "oidc" | "oauth2" | "local" | "saml"
                    ) =>
                {
                    self.err(
                        entry,
                        format_args!(
                            "idp `{name}` is of type {}; `idp_order` lists idps of type oidc, oauth2, saml or local",
                            i.value.kind.value
                        ),
                    );
                }
                Some(_) if idp_order.iter().any(|n| n == name) => {
                    self.err(
                        entry,
                        format_args!("idp `{name}` is listed twice in `idp_order`"),
                    );
                }
                Some(_) => idp_order.push(name.to_string()),
            }
        }

        let fallback = match &s.fallback {
            None if f.mail.is_some() => Fallback::Passcode,
            None => Fallback::None,
            Some(v) => match v.value.trim() {
                "passcode" if f.mail.is_none() => {
                    self.err(
                        v,
                        "`fallback: passcode` needs `mail` (the passcode is sent by e-mail); configure `mail` or use `fallback: none`",
                    );
                    Fallback::None
                }
                "passcode" => Fallback::Passcode,
                "none" => Fallback::None,
                other => {
                    let hint = rules::closest(other, ["passcode", "none"])
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        v,
                        format_args!("`{other}` is not a fallback (one of: passcode, none){hint}"),
                    );
                    Fallback::None
                }
            },
        };

        let terms = s.terms.as_ref().map(|t| {
            let version = t.version.value.trim().to_string();
            if version.is_empty() {
                self.err(&t.version, "`terms.version` must not be empty");
            }
            let url = t.url.value.trim().to_string();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                self.err(
                    &t.url,
                    format_args!(
                        "`{url}` is not an http(s) URL; use e.g. https://example.com/terms"
                    ),
                );
            }
            Terms { version, url }
        });

        let mut passcode = PasscodeSettings::default();
        if let Some(p) = &s.passcode {
            if let Some(d) = &p.ttl {
                match self.duration(d) {
                    Some(v) if v > Duration::from_secs(3600) => self.err(
                        d,
                        // A code that lives long is a code that can be guessed
                        // or phished at leisure.
                        "`passcode.ttl` must be at most 1h",
                    ),
                    Some(v) => passcode.ttl = v,
                    None => {}
                }
            }
            if let Some(v) = p.window.as_ref().and_then(|d| self.duration(d)) {
                passcode.window = v;
            }
            if let Some(d) = &p.resend_after {
                match self.duration(d) {
                    // Longer leaves a person whose mail went astray waiting.
                    Some(v) if v > Duration::from_secs(300) => {
                        self.err(d, "`passcode.resend_after` must be at most 5m")
                    }
                    Some(v) => passcode.resend_after = v,
                    None => {}
                }
            }
            if let Some(n) = &p.max_attempts {
                if n.value == 0 || n.value > 10 {
                    // Each wrong guess is a chance at the code: keep few.
                    self.err(n, "`passcode.max_attempts` must be between 1 and 10");
                } else {
                    passcode.max_attempts = n.value;
                }
            }
            for (field, value, slot) in [
                ("per_address", &p.per_address, &mut passcode.per_address),
                ("per_ip", &p.per_ip, &mut passcode.per_ip),
            ] {
                if let Some(n) = value {
                    if n.value == 0 {
                        self.err(n, format_args!("`passcode.{field}` must be at least 1"));
                    } else {
                        *slot = n.value;
                    }
                }
            }
        }

        let mut rate_limits = RateLimits::default();
        if let Some(r) = &s.rate_limits {
            if let Some(n) = &r.ipv6_prefix {
                if (32..=128).contains(&n.value) {
                    rate_limits.ipv6_prefix = n.value;
                } else {
                    // Shorter than a /32 is a whole provider's customers
                    // sharing one allowance.
                    self.err(
                        n,
                        "`rate_limits.ipv6_prefix` must be between 32 and 128 (64: one home or office line)",
                    );
                }
            }
            if let Some(n) = &r.max_counters {
                if n.value < 100 {
                    // So few that a handful of clients could fill a window
                    // and lock everyone else out.
                    self.err(n, "`rate_limits.max_counters` must be at least 100");
                } else {
                    rate_limits.max_counters = n.value;
                }
            }
        }

        let passkey_sign_in = s
            .passkeys
            .as_ref()
            .and_then(|p| p.sign_in.as_ref())
            .is_some_and(|b| b.value);
        Some(SignIn {
            host: host.to_ascii_lowercase(),
            session_lifetime,
            idp_order,
            fallback,
            terms,
            passcode,
            rate_limits,
            passkey_sign_in,
        })
    }
}
