//! `idps`: identity providers. The fields of an entry depend on its
//! `type`; jwt is checked here, oidc by the `oidc` module, and local loads
//! its users file (`crate::local_idp`), whose errors name that file.

use std::collections::HashMap;
use std::sync::Arc;

use super::Checker;
use crate::config::error::ConfigError;
use crate::config::file::{IDP_TYPES, IdpFile, JWT_ALGORITHMS, S};
use crate::config::runtime::{DEFAULT_JWT_ALGORITHMS, Idp, IdpKind, JwksSource};
use crate::trust::IdpTrust;

impl Checker<'_> {
    /// `idps`: each entry checked by its type; names unique.
    pub(super) fn idps(
        &mut self,
        idps: &[S<IdpFile>],
        member_domains: &[String],
        apps: &[String],
    ) -> Vec<Idp> {
        let checked = idps
            .iter()
            .filter_map(|i| {
                let mut idp = self.idp(i, member_domains, apps)?;
                idp.trust = self.trust(i, &idp, member_domains);
                Some(idp)
            })
            .collect();
        let mut seen = HashMap::new();
        for i in idps {
            let n = &i.value.name.value;
            // `:` separates an IdP's name from its groups' names
            // (`fabrikam-entra:engineers`); `,` separates groups in the
            // identity header.
            if n.trim().is_empty() || n.contains([':', ',']) || n.contains(char::is_whitespace) {
                self.err(
                    &i.value.name,
                    format_args!(
                        "`{n}` is not an idp name; use letters, digits, `-`, `_` or `.` (no `:`, `,` or spaces)"
                    ),
                );
            }
            if let Some(first) = seen.insert(i.value.name.value.clone(), i.referenced.line()) {
                self.err(
                    &i.value.name,
                    format_args!(
                        "idp `{}` is defined twice (first on line {first})",
                        i.value.name.value
                    ),
                );
            }
        }
        checked
    }

    /// What the idp's claims count for (`crate::trust`), from the entry's
    /// common fields. `trust_groups` is refused unless every one of its
    /// `domains` is a member domain: a partner's IdP must never be able to
    /// name the directory's groups (`break-glass`, an owners' group).
    fn trust(&mut self, i: &S<IdpFile>, idp: &Idp, member_domains: &[String]) -> IdpTrust {
        let f = &i.value;
        let domains: Vec<String> = f
            .domains
            .iter()
            .filter_map(|d| rules::mail_domain(&d.value))
            .collect();
        let trust_groups = match &f.trust_groups {
            Some(t) if t.value => {
                let foreign: Vec<&str> = domains
                    .iter()
                    .filter(|d| !member_domains.iter().any(|m| m == *d))
                    .map(String::as_str)
                    .collect();
                if domains.is_empty() {
                    self.err(
                        t,
                        format_args!(
                            "`trust_groups` is only for an idp that serves the organisation's own member domains; idp `{}` has no `domains`",
                            idp.name
                        ),
                    );
                    false
                } else if !foreign.is_empty() {
                    self.err(
                        t,
                        format_args!(
                            "`trust_groups` is only for an idp that serves the organisation's own member domains; {} not in `organisation.member_domains`",
                            foreign
                                .iter()
                                .map(|d| format!("`{d}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                                + if foreign.len() == 1 { " is" } else { " are" }
                        ),
                    );
                    false
                } else if !idp.kind.asserts_groups() {
                    self.err(
                        t,
                        format_args!(
                            "idp `{}` asserts no groups of its own; remove `trust_groups`",
                            idp.name
                        ),
                    );
                    false
                } else {
                    true
                }
            }
            _ => false,
        };
        let mfa_trusted = f.mfa.as_ref().is_some_and(|m| m.value.trim() == "trusted");
        if let Some(m) = &f.mfa
            && matches!(idp.kind, IdpKind::Jwt { .. })
            && !matches!(m.value.trim(), "trusted" | "untrusted")
        {
            self.err(
                m,
                format_args!(
                    "`{}` is not an mfa setting (one of: trusted, untrusted)",
                    m.value
                ),
            );
        }
        let mfa_values = match (&f.mfa_values, &idp.kind) {
            // A SAML IdP names its MFA in `mfa_authn_contexts` (its
            // `AuthnContextClassRef`s, checked with the rest of the entry).
            (None, IdpKind::Saml(s)) => s.mfa_authn_contexts.clone(),
            (None, _) => IdpTrust::default().mfa_values,
            (Some(list), _) => self.amr_values(
                list,
                "mfa_values",
                "leave it out for the default (mfa)",
                mfa_trusted,
            ),
        };
        let phishing_resistant_values =
            self.phishing_resistant_values(f.phishing_resistant_values.as_ref(), mfa_trusted);
        IdpTrust {
            domains,
            trust_groups,
            mfa_trusted,
            mfa_values,
            phishing_resistant_values,
        }
    }

    /// An idp's `phishing_resistant_values`: like `mfa_values`, and
    /// likewise only with `mfa: trusted` (an IdP not trusted for MFA is not
    /// believed about the kind of factor either).
    fn phishing_resistant_values(
        &mut self,
        list: Option<&S<Vec<S<String>>>>,
        mfa_trusted: bool,
    ) -> Vec<String> {
        match list {
            None => Vec::new(),
            Some(list) => self.amr_values(
                list,
                "phishing_resistant_values",
                "leave it out if no method of this idp is phishing-resistant",
                mfa_trusted,
            ),
        }
    }

    /// A list of `amr`/`acr` values named `field`: each one token, compared
    /// without case and kept once; never empty (`if_empty` says what to do
    /// instead); counted only with `mfa: trusted`.
    fn amr_values(
        &mut self,
        list: &S<Vec<S<String>>>,
        field: &str,
        if_empty: &str,
        mfa_trusted: bool,
    ) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for m in &list.value {
            let t = m.value.trim();
            if t.is_empty() || t.contains(char::is_whitespace) {
                self.err(m, format_args!("`{t}` is not an amr or acr value"));
            } else if !v.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                v.push(t.to_string());
            }
        }
        if list.value.is_empty() {
            self.err(list, format_args!("`{field}` is empty; {if_empty}"));
        }
        if !mfa_trusted {
            self.err(
                list,
                format_args!(
                    "`{field}` counts only with `mfa: trusted`; add that or remove `{field}`"
                ),
            );
        }
        v
    }

    /// An idp's `domains`, each checked (`rules::mail_domain`).
    fn domains(&mut self, list: &[S<String>]) -> Vec<String> {
        let mut domains = Vec::new();
        for d in list {
            match rules::mail_domain(&d.value) {
                Some(v) => domains.push(v),
                None => self.err(d, rules::mail_domain_error(&d.value)),
            }
        }
        domains
    }

    /// One entry: only the fields of its type, then the type's own checks.
    fn idp(&mut self, i: &S<IdpFile>, member_domains: &[String], apps: &[String]) -> Option<Idp> {
        let f = &i.value;
        let name = f.name.value.clone();
        const JWT: &[&str] = &["jwt"];
        const OIDC: &[&str] = &["oidc"];
        const OAUTH2: &[&str] = &["oauth2"];
        const CLIENT: &[&str] = &["oidc", "oauth2"];
        const LOCAL: &[&str] = &["local"];
        const SAML: &[&str] = &["saml"];
        for (field, set, types) in [
            ("issuer", f.issuer.is_some(), &["jwt", "oidc"][..]),
            ("audience", f.audience.is_some(), JWT),
            ("jwks_file", f.jwks_file.is_some(), JWT),
            ("jwks_url", f.jwks_url.is_some(), JWT),
            ("algorithms", f.algorithms.is_some(), JWT),
            (
                "groups_claim",
                f.groups_claim.is_some(),
                &["jwt", "oidc"][..],
            ),
            ("preset", f.preset.is_some(), CLIENT),
            ("client_id", f.client_id.is_some(), CLIENT),
            ("client_secret_file", f.client_secret_file.is_some(), CLIENT),
            ("client_secret_env", f.client_secret_env.is_some(), CLIENT),
            ("client_secret", f.client_secret.is_some(), CLIENT),
            ("scopes", f.scopes.is_some(), CLIENT),
            ("github_url", f.github_url.is_some(), OAUTH2),
            ("authorization_url", f.authorization_url.is_some(), OAUTH2),
            ("token_url", f.token_url.is_some(), OAUTH2),
            ("userinfo_url", f.userinfo_url.is_some(), OAUTH2),
            ("claims", f.claims.is_some(), OAUTH2),
            (
                "domains",
                !f.domains.is_empty(),
                &["jwt", "oidc", "oauth2", "local", "saml"][..],
            ),
            (
                "mfa",
                f.mfa.is_some(),
                &["oidc", "jwt", "local", "saml"][..],
            ),
            ("mfa_values", f.mfa_values.is_some(), &["oidc", "jwt"][..]),
            (
                "phishing_resistant_values",
                f.phishing_resistant_values.is_some(),
                &["oidc", "jwt", "saml"][..],
            ),
            (
                "trust_groups",
                f.trust_groups.is_some(),
                &["oidc", "jwt", "saml"][..],
            ),
            ("discovery_url", f.discovery_url.is_some(), OIDC),
            ("tenants", !f.tenants.is_empty(), OIDC),
            ("hosted_domains", !f.hosted_domains.is_empty(), OIDC),
            ("users_file", f.users_file.is_some(), LOCAL),
            ("metadata_url", f.metadata_url.is_some(), SAML),
            ("metadata_file", f.metadata_file.is_some(), SAML),
            ("attributes", f.attributes.is_some(), SAML),
            ("mfa_authn_contexts", f.mfa_authn_contexts.is_some(), SAML),
            ("allow_idp_initiated", f.allow_idp_initiated.is_some(), SAML),
            ("sp_key_file", f.sp_key_file.is_some(), SAML),
            ("sp_cert_file", f.sp_cert_file.is_some(), SAML),
        ] {
            let kind = f.kind.value.as_str();
            if set && IDP_TYPES.contains(&kind) && !types.contains(&kind) {
                self.err(
                    i,
                    format_args!(
                        "`{field}` is for idps of type {}, not {kind}",
                        types.join(" or ")
                    ),
                );
            }
        }
        match f.kind.value.as_str() {
            "jwt" => {
                let mut required = |field: &Option<S<String>>, what: &str| match field {
                    Some(v) => v.value.clone(),
                    None => {
                        self.err(i, format_args!("idp `{name}` of type jwt needs `{what}`"));
                        String::new()
                    }
                };
                let issuer = required(&f.issuer, "issuer");
                let audience = required(&f.audience, "audience");
                let jwks = match (&f.jwks_file, &f.jwks_url) {
                    (Some(p), None) => JwksSource::File(self.existing_file(p, "JWKS file")),
                    (None, Some(u))
                        if u.value.starts_with("https://") || u.value.starts_with("http://") =>
                    {
                        JwksSource::Url(u.value.clone())
                    }
                    (None, Some(u)) => {
                        self.err(u, "`jwks_url` must be an http(s) URL");
                        return None;
                    }
                    _ => {
                        self.err(
                            i,
                            format_args!(
                                "idp `{name}` needs exactly one of `jwks_file` or `jwks_url`"
                            ),
                        );
                        return None;
                    }
                };
                let algorithms = match &f.algorithms {
                    None => DEFAULT_JWT_ALGORITHMS.iter().map(|s| s.to_string()).collect(),
                    Some(list) => list
                        .iter()
                        .filter_map(|a| {
                            if JWT_ALGORITHMS.contains(&a.value.as_str()) {
                                Some(a.value.clone())
                            } else {
                                self.err(a, format_args!(
                                    "`{}` is not an allowed signature algorithm (one of: {}; `none` and HMAC are never accepted)",
                                    a.value,
                                    JWT_ALGORITHMS.join(", ")
                                ));
                                None
                            }
                        })
                        .collect(),
                };
                Some(Idp {
                    name,
                    trust: IdpTrust::default(),
                    kind: IdpKind::Jwt {
                        issuer,
                        audience,
                        jwks,
                        algorithms,
                        groups_claim: f.groups_claim.as_ref().map(|g| g.value.clone()),
                        domains: self.domains(&f.domains),
                    },
                })
            }
            "oidc" => self.oidc_idp(i, name),
            "oauth2" => self.oauth2_idp(i, name),
            "local" => self.local_idp(i, name, member_domains, apps),
            "saml" => self.saml_idp(i, name),
            other => {
                let hint = rules::closest(other, IDP_TYPES.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                self.err(
                    &f.kind,
                    format_args!(
                        "`{other}` is not an idp type (one of: {}){hint}",
                        IDP_TYPES.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// `type: local`: checks the entry, then loads and checks its users file
    /// (errors there carry the users file's name and positions).
    fn local_idp(
        &mut self,
        i: &S<IdpFile>,
        name: String,
        member_domains: &[String],
        apps: &[String],
    ) -> Option<Idp> {
        let f = &i.value;
        let domains = self.domains(&f.domains);
        let mfa_trusted = match f.mfa.as_ref() {
            None => false,
            Some(m) => match m.value.trim() {
                "trusted" => true,
                "untrusted" => false,
                other => {
                    let hint = rules::closest(other, ["trusted", "untrusted"])
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        m,
                        format_args!(
                            "`{other}` is not an mfa setting (one of: trusted, untrusted){hint}"
                        ),
                    );
                    false
                }
            },
        };
        let Some(users_file) = &f.users_file else {
            self.err(
                i,
                format_args!("idp `{name}` of type local needs `users_file`"),
            );
            return None;
        };
        let path = self.existing_file(users_file, "users file");
        if !path.is_file() {
            return None;
        }
        let cx = crate::local_idp::LoadContext {
            member_domains,
            apps,
        };
        match crate::local_idp::LocalIdp::load(&name, domains, mfa_trusted, &path, cx) {
            Ok(idp) => Some(Idp {
                name,
                trust: IdpTrust::default(),
                kind: IdpKind::Local(Arc::new(idp)),
            }),
            Err(errors) => {
                self.errors
                    .extend(errors.into_iter().map(ConfigError::from));
                None
            }
        }
    }

    /// `type: oidc`: the `oidc` module checks its own fields.
    fn oidc_idp(&mut self, i: &S<IdpFile>, name: String) -> Option<Idp> {
        let f = &i.value;
        let Some(client_id) = f.client_id.clone() else {
            self.err(
                i,
                format_args!("idp `{name}` of type oidc needs `client_id`"),
            );
            return None;
        };
        let file = crate::oidc::OidcIdpFile {
            name: f.name.clone(),
            kind: f.kind.clone(),
            preset: f.preset.clone(),
            issuer: f.issuer.clone(),
            client_id,
            client_secret_file: f.client_secret_file.clone(),
            client_secret_env: f.client_secret_env.clone(),
            client_secret: f.client_secret.clone(),
            scopes: f.scopes.clone(),
            domains: f.domains.clone(),
            groups_claim: f.groups_claim.clone(),
            mfa: f.mfa.clone(),
            discovery_url: f.discovery_url.clone(),
            tenants: f.tenants.clone(),
            hosted_domains: f.hosted_domains.clone(),
        };
        match file.check(&self.dir) {
            Ok(c) => Some(Idp {
                name,
                trust: IdpTrust::default(),
                kind: IdpKind::Oidc(Box::new(c)),
            }),
            Err(errors) => {
                for (line, column, message) in errors {
                    self.err_at(line, column, message);
                }
                None
            }
        }
    }

    /// `type: saml`: the `saml` module checks its own fields and the
    /// metadata file.
    fn saml_idp(&mut self, i: &S<IdpFile>, name: String) -> Option<Idp> {
        let f = &i.value;
        // Only checked here: `trust` reads `mfa: trusted` for every type.
        self.mfa_setting(f.mfa.as_ref());
        let domains = self.domains(&f.domains);
        let file = crate::saml::config::SamlIdpFile {
            name: &f.name,
            metadata_url: f.metadata_url.as_ref(),
            metadata_file: f.metadata_file.as_ref(),
            domains,
            domains_at: &f.name,
            attributes: f.attributes.as_ref(),
            mfa_authn_contexts: f.mfa_authn_contexts.as_ref(),
            allow_idp_initiated: f.allow_idp_initiated.as_ref().is_some_and(|b| b.value),
            sp_key_file: f.sp_key_file.as_ref(),
            sp_cert_file: f.sp_cert_file.as_ref(),
        };
        match file.check(&self.dir) {
            Ok(c) => Some(Idp {
                name,
                trust: IdpTrust::default(),
                kind: IdpKind::Saml(Arc::new(c)),
            }),
            Err(errors) => {
                for e in errors {
                    match e.file {
                        Some(file) => self.errors.push(ConfigError {
                            file,
                            line: e.line,
                            column: e.column,
                            message: e.message,
                        }),
                        None => self.err_at(e.line, e.column, e.message),
                    }
                }
                None
            }
        }
    }

    /// `mfa: trusted | untrusted` (default untrusted).
    fn mfa_setting(&mut self, m: Option<&S<String>>) -> bool {
        match m {
            None => false,
            Some(m) => match m.value.trim() {
                "trusted" => true,
                "untrusted" => false,
                other => {
                    let hint = rules::closest(other, ["trusted", "untrusted"])
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.err(
                        m,
                        format_args!(
                            "`{other}` is not an mfa setting (one of: trusted, untrusted){hint}"
                        ),
                    );
                    false
                }
            },
        }
    }
}
