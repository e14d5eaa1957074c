//! `idps: - type: oauth2`: the `oauth2` module checks its own fields, as
//! the `oidc` module does for its idps.

use super::Checker;
use crate::config::file::{IdpFile, S};
use crate::config::runtime::{Idp, IdpKind};

impl Checker<'_> {
    /// `type: oauth2`: needs `client_id`; the rest is checked by
    /// `crate::oauth2::Oauth2IdpFile::check`, whose errors keep their
    /// positions.
    pub(super) fn oauth2_idp(&mut self, i: &S<IdpFile>, name: String) -> Option<Idp> {
        let f = &i.value;
        let Some(client_id) = f.client_id.clone() else {
            self.err(
                i,
                format_args!("idp `{name}` of type oauth2 needs `client_id`"),
            );
            return None;
        };
        let file = crate::oauth2::Oauth2IdpFile {
            name: f.name.clone(),
            kind: f.kind.clone(),
            preset: f.preset.clone(),
            github_url: f.github_url.clone(),
            authorization_url: f.authorization_url.clone(),
            token_url: f.token_url.clone(),
            userinfo_url: f.userinfo_url.clone(),
            claims: f.claims.clone(),
            client_id,
            client_secret_file: f.client_secret_file.clone(),
            client_secret_env: f.client_secret_env.clone(),
            client_secret: f.client_secret.clone(),
            scopes: f.scopes.clone(),
            domains: f.domains.clone(),
        };
        match file.check(&self.dir) {
            Ok(c) => Some(Idp {
                name,
                kind: IdpKind::Oauth2(Box::new(c)),
                trust: crate::trust::IdpTrust::default(),
            }),
            Err(errors) => {
                for (line, column, message) in errors {
                    self.err_at(line, column, message);
                }
                None
            }
        }
    }
}
