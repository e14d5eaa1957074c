//! `console`: the roles of the admin console. Each entry is a member's
//! e-mail or `group:NAME`, a directory group. A partner IdP's groups reach
//! a session only qualified by the IdP's name (`fabrikam-entra:admins`,
//! `crate::trust`), so an entry with a `:` in the group name would hand a
//! console role to whoever that partner says is in its group: refused.

use super::Checker;
use crate::config::file::{ConsoleFile, S};
use crate::config::runtime::{Console, Owner};

impl Checker<'_> {
    /// `console`, when given; the console needs `sign_in` (it is served on
    /// the sign-in host).
    pub(super) fn console(&mut self, f: Option<&S<ConsoleFile>>, sign_in: bool) -> Console {
        let Some(f) = f else {
            return Console::default();
        };
        if !sign_in {
            self.err(
                f,
                "`console` needs `sign_in`: the console is served on the sign-in host",
            );
        }
        Console {
            admins: self.console_role(&f.value.admins, "admins"),
            helpdesk: self.console_role(&f.value.helpdesk, "helpdesk"),
        }
    }

    fn console_role(&mut self, entries: &[S<String>], role: &str) -> Vec<Owner> {
        let mut out = Vec::new();
        for e in entries {
            let v = e.value.trim();
            if let Some(g) = v.strip_prefix("group:") {
                let g = g.trim();
                if g.is_empty() {
                    self.err(
                        e,
                        format_args!("console.{role}: `group:` needs a group name"),
                    );
                } else if g.contains(':') {
                    self.err(
                        e,
                        format_args!(
                            "console.{role}: `{v}` is an identity provider's group; console roles take directory groups only (group:NAME without `:`), so a partner cannot grant itself a role"
                        ),
                    );
                } else {
                    out.push(Owner::Group(g.to_ascii_lowercase()));
                }
                continue;
            }
            match v.split_once('@') {
                Some((l, d)) if !l.is_empty() && d.contains('.') && !v.contains(' ') => {
                    out.push(Owner::Email(v.to_ascii_lowercase()));
                }
                _ => self.err(
                    e,
                    format_args!("console.{role}: `{v}` is not an e-mail address or `group:NAME`"),
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Owner};

    fn load(extra: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rules.yaml"), "").expect("write");
        let path = dir.path().join("portcullis.yaml");
        let text = format!(
            "listen: {{ http: 127.0.0.1:8080 }}\nrules: [rules.yaml]\norganisation: {{ name: T, member_domains: [t.example] }}\napps:\n  - {{ name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9001] }}\n{extra}"
        );
        Config::from_str(&path, &text).map_err(|es| {
            es.iter()
                .map(|e| e.to_string().replace(&*dir.path().to_string_lossy(), "DIR"))
                .collect()
        })
    }

    #[test]
    fn roles_are_members_emails_or_directory_groups() {
        let c = load(
            "sign_in: { host: auth.localhost }\nmail: { from: a@t.example, outbox: out }\nconsole: { admins: [Ada@T.example, \"group:Sec-Team\"], helpdesk: [\"group:helpdesk\"] }\n",
        )
        .expect("loads");
        assert_eq!(
            c.console.admins,
            [
                Owner::Email("ada@t.example".into()),
                Owner::Group("sec-team".into())
            ]
        );
        assert_eq!(c.console.helpdesk, [Owner::Group("helpdesk".into())]);
        assert!(load("").expect("loads").console.admins.is_empty());
    }

    #[test]
    fn a_partner_group_a_non_address_and_a_console_without_sign_in_are_refused() {
        assert_eq!(
            load(
                "console:\n  admins: [\"group:fabrikam-entra:admins\", bob]\n  helpdesk: [\"group: \"]\n"
            )
            .expect_err("refused"),
            [
                "DIR/portcullis.yaml:7:3: `console` needs `sign_in`: the console is served on the sign-in host",
                "DIR/portcullis.yaml:7:12: console.admins: `group:fabrikam-entra:admins` is an identity provider's group; console roles take directory groups only (group:NAME without `:`), so a partner cannot grant itself a role",
                "DIR/portcullis.yaml:7:43: console.admins: `bob` is not an e-mail address or `group:NAME`",
                "DIR/portcullis.yaml:8:14: console.helpdesk: `group:` needs a group name",
            ]
        );
    }
}
