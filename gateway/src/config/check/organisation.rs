//! `organisation`: who runs the gateway, and whose users are members
//! (everyone else is a guest).

use super::Checker;
use crate::config::file::OrganisationFile;
use crate::config::runtime::Organisation;

impl Checker<'_> {
    /// `organisation`: a name, lower-case member domains, a logo that exists.
    pub(super) fn organisation(&mut self, f: &OrganisationFile) -> Organisation {
        let organisation = Organisation {
            name: f.name.value.clone(),
            member_domains: f
                .member_domains
                .iter()
                .map(|d| d.value.trim().to_ascii_lowercase())
                .collect(),
            logo: f.logo.as_ref().map(|l| self.existing_file(l, "logo")),
        };
        if organisation.name.trim().is_empty() {
            self.err(&f.name, "`organisation.name` must not be empty");
        }
        organisation
    }
}
