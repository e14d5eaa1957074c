//! `apps[].sign_up`: partners ask for access themselves. Checked after the
//! idps, which it names.

use super::Checker;
use crate::config::file::{AppFile, IdpFile};
use crate::config::runtime::{Approval, Attribute, SignUp};

impl Checker<'_> {
    /// `apps[].sign_up`, checked against the idps.
    pub(super) fn sign_up(&mut self, app: &AppFile, idps: &[&IdpFile]) -> Option<SignUp> {
        let f = &app.sign_up.as_ref()?.value;
        if f.enabled == Some(false) {
            return None;
        }
        let domains: Vec<String> = f
            .domains
            .iter()
            .map(|d| {
                let v = d.value.trim().trim_start_matches('@').to_ascii_lowercase();
                if !v.contains('.') || v.contains(['@', ' ', '/']) {
                    self.err(d, format_args!("`{}` is not an e-mail domain", d.value));
                }
                v
            })
            .collect();
        let names: Vec<&str> = idps
            .iter()
            .filter(|i| matches!(i.kind.value.as_str(), "oidc" | "oauth2" | "local"))
            .map(|i| i.name.value.as_str())
            .collect();
        for i in &f.idps {
            if !names.contains(&i.value.as_str()) {
                let hint = rules::closest(&i.value, names.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                self.err(
                    i,
                    format_args!(
                        "sign_up offers idp `{}`, which is not an idp of type oidc, oauth2 or local{hint}",
                        i.value
                    ),
                );
            }
        }
        let mut attributes: Vec<Attribute> = Vec::new();
        for a in &f.attributes {
            let name = a.value.name.value.clone();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                self.err(
                    &a.value.name,
                    format_args!(
                        "attribute name `{name}` must be lower-case letters, digits and `_`"
                    ),
                );
            }
            if attributes.iter().any(|x| x.name == name) {
                self.err(
                    &a.value.name,
                    format_args!("attribute `{name}` is listed twice"),
                );
            }
            attributes.push(Attribute {
                label: a
                    .value
                    .label
                    .clone()
                    .unwrap_or_else(|| name.replace('_', " ")),
                name,
                required: a.value.required,
            });
        }
        let approval = match f.approval.as_ref() {
            None => Approval::Owner,
            Some(a) => match a.value.as_str() {
                "owner" => Approval::Owner,
                "automatic" => {
                    if domains.is_empty() {
                        self.err(
                            a,
                            "`approval: automatic` needs `domains`: only requests from allowed domains are approved without an owner",
                        );
                    }
                    Approval::Automatic
                }
                other => {
                    self.err(
                        a,
                        format_args!("`{other}` is not a choice for sign_up.approval (one of: owner, automatic)"),
                    );
                    Approval::Owner
                }
            },
        };
        let access_days = match &f.access_days {
            None => 30,
            Some(d) if (1..=366).contains(&d.value) => d.value,
            Some(d) => {
                self.err(d, "sign_up.access_days must be between 1 and 366");
                30
            }
        };
        Some(SignUp {
            domains,
            idps: f.idps.iter().map(|i| i.value.clone()).collect(),
            attributes,
            approval,
            access_days,
        })
    }
}
