//! The trust boundary per IdP: what a claim of an identity provider counts
//! for, as far as the config trusts that IdP (DESIGN.md, "Trust boundary").
//!
//! Every sign-in ends in one place (`portal::signin::session`, `complete`)
//! and every bearer token in one mapping (`session::bearer`); both ask this
//! module, so an IdP type added later gets the same boundary for free:
//!
//! - **Groups** an IdP asserts are qualified by its name
//!   (`fabrikam-entra:engineers`), in the session, the identity headers and
//!   the rules. A bare `group:x` in a rule or `owners:` is the directory's
//!   own group, so a partner IdP that sends `break-glass` or an owners'
//!   group name gets nothing by it (issue 15). An IdP that serves only the
//!   organisation's member domains may set `trust_groups: true`; its
//!   groups then also count under their bare names (`portcullis check`
//!   refuses it anywhere else).
//! - **MFA**: an IdP's `amr`/`acr` counts only for an IdP with
//!   `mfa: trusted`, and then only the values in its `mfa_values`
//!   (default [`DEFAULT_MFA_VALUES`]); it is phishing-resistant MFA
//!   (`phishing_resistant_mfa` in the rules) only when it names one of its
//!   `phishing_resistant_values` (default none: a partner's IdP is not
//!   believed about the kind of factor unless the config says so).
//! - **Members**: an IdP speaks only for the e-mail domains it is given; an
//!   e-mail in a member domain from an IdP that does not serve that domain
//!   is refused, and a member is made only by an IdP that serves it.
//!
//! Pure: no I/O, no clock; a leaf module (it names no other module).

use rules::MfaStrength;

/// The `amr`/`acr` values that count as MFA when an idp sets no
/// `mfa_values`.
pub const DEFAULT_MFA_VALUES: &[&str] = &["mfa"];

/// Most groups taken from one sign-in or token; the rest are left out.
pub const MAX_GROUPS: usize = 1_000;

/// What the config trusts one IdP for. Built by `config::check` from the
/// idp entry's common fields (`domains`, `trust_groups`, `mfa`,
/// `mfa_values`), whatever its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpTrust {
    /// Lower-case e-mail domains the IdP answers for (its `domains`).
    pub domains: Vec<String>,
    /// `trust_groups: true`: its groups also count under their bare names.
    /// Only ever set on an IdP whose `domains` are all member domains.
    pub trust_groups: bool,
    /// `mfa: trusted`: its `amr`/`acr` may count as MFA.
    pub mfa_trusted: bool,
    /// The `amr`/`acr` values that count as MFA (lower-case compared).
    pub mfa_values: Vec<String>,
    /// The `amr`/`acr` values that count as phishing-resistant MFA
    /// (lower-case compared), e.g. Entra's `fido`, `wia`, `x509`, or a SAML
    /// `AuthnContextClassRef` for smart cards. Each also counts as MFA.
    pub phishing_resistant_values: Vec<String>,
}

impl Default for IdpTrust {
    /// Trusted for nothing: no domains, no bare groups, no MFA.
    fn default() -> Self {
        IdpTrust {
            domains: Vec::new(),
            trust_groups: false,
            mfa_trusted: false,
            mfa_values: DEFAULT_MFA_VALUES.iter().map(|s| s.to_string()).collect(),
            phishing_resistant_values: Vec::new(),
        }
    }
}

impl IdpTrust {
    /// The groups a session or bearer token of IdP `idp` carries for the
    /// groups it asserted: each as `idp:group`, lower-case, and also bare
    /// when the IdP has `trust_groups`. Empty and oversized names are left
    /// out, as are groups past [`MAX_GROUPS`]; no duplicates.
    pub fn groups<S: AsRef<str>>(&self, idp: &str, asserted: &[S]) -> Vec<String> {
        let mut out = Vec::new();
        for g in asserted.iter().take(MAX_GROUPS) {
            let g = g.as_ref().trim();
            // Control characters and commas would break the identity
            // header's comma-separated list.
            if g.is_empty() || g.len() > 256 || g.contains(|c: char| c.is_control() || c == ',') {
                continue;
            }
            let g = g.to_lowercase();
            out.push(qualify(idp, &g));
            if self.trust_groups {
                out.push(g);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the sign-in's `amr` values or `acr` count as MFA: only for
    /// an IdP with `mfa: trusted`, and only the values in `mfa_values` or
    /// `phishing_resistant_values`.
    pub fn mfa<S: AsRef<str>>(&self, amr: &[S], acr: Option<&str>) -> bool {
        self.mfa_strength(amr, acr).is_mfa()
    }

    /// How strong the sign-in's MFA counts as: nothing unless the IdP has
    /// `mfa: trusted`; then phishing-resistant when an `amr` value or the
    /// `acr` is one of `phishing_resistant_values`, plain MFA when one is in
    /// `mfa_values`, else none.
    pub fn mfa_strength<S: AsRef<str>>(&self, amr: &[S], acr: Option<&str>) -> MfaStrength {
        if !self.mfa_trusted {
            return MfaStrength::None;
        }
        let said = || amr.iter().map(|a| a.as_ref()).chain(acr);
        let named =
            |list: &[String]| said().any(|v| list.iter().any(|m| m.eq_ignore_ascii_case(v)));
        if named(&self.phishing_resistant_values) {
            MfaStrength::PhishingResistant
        } else if named(&self.mfa_values) {
            MfaStrength::Mfa
        } else {
            MfaStrength::None
        }
    }

    /// Home-realm discovery: does this IdP answer for `email`'s domain?
    pub fn serves(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }
}

/// A group as IdP `idp` asserted it: `idp:group`, lower-case.
pub fn qualify(idp: &str, group: &str) -> String {
    format!("{}:{}", idp.to_lowercase(), group.to_lowercase())
}

/// Whether `email` is in one of `member_domains`.
pub fn in_member_domain(email: &str, member_domains: &[String]) -> bool {
    email
        .rsplit_once('@')
        .is_some_and(|(_, d)| member_domains.iter().any(|m| m.eq_ignore_ascii_case(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(trust_groups: bool, mfa_trusted: bool, values: &[&str]) -> IdpTrust {
        IdpTrust {
            domains: vec!["fabrikam.example".into()],
            trust_groups,
            mfa_trusted,
            mfa_values: values.iter().map(|s| s.to_string()).collect(),
            phishing_resistant_values: Vec::new(),
        }
    }

    #[test]
    fn partner_groups_are_qualified_and_never_bare() {
        let t = trust(false, false, &["mfa"]);
        assert_eq!(
            t.groups(
                "Fabrikam-Entra",
                &["Engineers", "break-glass", "", "a,b", "engineers"]
            ),
            ["fabrikam-entra:break-glass", "fabrikam-entra:engineers"]
        );
        let own = trust(true, false, &["mfa"]);
        assert_eq!(
            own.groups("corp", &["Finance"]),
            ["corp:finance", "finance"]
        );
        let many: Vec<String> = (0..MAX_GROUPS + 5).map(|i| format!("g{i}")).collect();
        assert_eq!(t.groups("p", &many).len(), MAX_GROUPS);
    }

    #[test]
    fn mfa_counts_only_for_a_trusted_idp_and_only_its_values() {
        let untrusted = trust(false, false, &["mfa"]);
        assert!(!untrusted.mfa(&["pwd", "mfa"], None));
        let trusted = trust(false, true, &["mfa"]);
        assert!(trusted.mfa(&["pwd", "mfa"], None));
        assert!(!trusted.mfa(&["pwd", "otp"], Some("urn:x:pwd")));
        let acr = trust(false, true, &["urn:x:mfa", "hwk"]);
        assert!(acr.mfa(&["pwd"], Some("urn:x:MFA")));
        assert!(acr.mfa(&["hwk"], None));
        assert!(!acr.mfa(&["mfa"], None));
    }

    #[test]
    fn phishing_resistant_only_for_a_trusted_idp_and_only_its_values() {
        let mut t = trust(false, true, &["mfa"]);
        t.phishing_resistant_values = vec!["fido".into(), "urn:x:smartcard".into()];
        assert_eq!(t.mfa_strength(&["pwd", "mfa"], None), MfaStrength::Mfa);
        assert_eq!(
            t.mfa_strength(&["FIDO"], None),
            MfaStrength::PhishingResistant
        );
        assert_eq!(
            t.mfa_strength(&["pwd"], Some("urn:x:SmartCard")),
            MfaStrength::PhishingResistant
        );
        // A phishing-resistant value is MFA too.
        assert!(t.mfa(&["fido"], None));
        assert_eq!(t.mfa_strength(&["otp", "hwk"], None), MfaStrength::None);
        // An IdP not trusted for MFA is believed about nothing.
        t.mfa_trusted = false;
        assert_eq!(t.mfa_strength(&["fido", "mfa"], None), MfaStrength::None);
        // By default no value is phishing-resistant, whatever the IdP says.
        let default = trust(false, true, &["mfa"]);
        assert_eq!(
            default.mfa_strength(&["mfa", "fido", "phr", "hwk"], Some("phr")),
            MfaStrength::Mfa
        );
    }

    #[test]
    fn member_domains_and_served_domains() {
        let t = trust(false, false, &[]);
        assert!(t.serves("a@Fabrikam.Example"));
        assert!(!t.serves("a@tailwindtraders.com"));
        assert!(!t.serves("no-at-sign"));
        assert!(in_member_domain(
            "erin@TailwindTraders.com",
            &["tailwindtraders.com".into()]
        ));
        assert!(!in_member_domain(
            "erin@partner.example",
            &["tailwindtraders.com".into()]
        ));
    }
}
