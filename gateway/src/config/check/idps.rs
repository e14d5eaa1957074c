//! `idps`: identity providers. The fields of an entry depend on its
//! `type`; jwt is checked here, oidc by the `oidc` module, and local loads
//! its users file (`crate::local_idp`), whose errors name that file.

use std::collections::HashMap;
use std::sync::Arc;

use super::Checker;
use crate::config::error::ConfigError;
use crate::config::file::{IDP_TYPES, IdpFile, JWT_ALGORITHMS, S};
use crate::config::runtime::{DEFAULT_JWT_ALGORITHMS, Idp, IdpKind, JwksSource};

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
            .filter_map(|i| self.idp(i, member_domains, apps))
            .collect();
        let mut seen = HashMap::new();
        for i in idps {
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
            ("preset", f.preset.is_some(), OIDC),
            ("client_id", f.client_id.is_some(), OIDC),
            ("client_secret_file", f.client_secret_file.is_some(), OIDC),
            ("client_secret_env", f.client_secret_env.is_some(), OIDC),
            ("client_secret", f.client_secret.is_some(), OIDC),
            ("scopes", f.scopes.is_some(), OIDC),
            (
                "domains",
                !f.domains.is_empty(),
                &["jwt", "oidc", "local", "saml"][..],
            ),
            ("mfa", f.mfa.is_some(), &["oidc", "local", "saml"][..]),
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
        };
        match file.check(&self.dir) {
            Ok(c) => Some(Idp {
                name,
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
        let mfa_trusted = self.mfa_setting(f.mfa.as_ref());
        let domains = self.domains(&f.domains);
        let file = crate::saml::config::SamlIdpFile {
            name: &f.name,
            metadata_url: f.metadata_url.as_ref(),
            metadata_file: f.metadata_file.as_ref(),
            domains,
            domains_at: &f.name,
            attributes: f.attributes.as_ref(),
            mfa_trusted,
            mfa_authn_contexts: f.mfa_authn_contexts.as_ref(),
            allow_idp_initiated: f.allow_idp_initiated.as_ref().is_some_and(|b| b.value),
            sp_key_file: f.sp_key_file.as_ref(),
            sp_cert_file: f.sp_cert_file.as_ref(),
        };
        match file.check(&self.dir) {
            Ok(c) => Some(Idp {
                name,
                kind: IdpKind::Saml(Arc::new(c)),
            }),
            Err(errors) => {
                for (line, column, message) in errors {
                    self.err_at(line, column, message);
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
