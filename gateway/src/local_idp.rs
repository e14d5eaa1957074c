//! `idps: - { type: local, users_file: users.yaml }`: accounts kept in a file
//! beside the config (break-glass accounts, the quickstart's demo people).
//!
//! The users file is loaded while the config is checked, so `portcullis
//! check` reports its mistakes as `file:line:column: message` like the rest:
//!
//! ```yaml
//! users:
//!   - email: alice@tailwindtraders.com
//!     name: Alice                      # optional
//!     password_hash: "$argon2id$v=19$m=19456,t=2,p=1$…"   # `portcullis hash-password`
//!     user_type: member                # member | guest; default: member for the
//!                                      # organisation's member domains, else guest
//!     groups: [finance]
//!     apps: []                         # guests: the apps they are assigned
//! ```
//!
//! Passwords are only ever compared with [`LocalIdp::verify`]; neither
//! passwords nor hashes are logged, printed by `Debug`, or put in errors.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use serde::Deserialize;
use serde_saphyr::Spanned;
use time::OffsetDateTime;

use crate::store::{Identity, NewUser, Store, StoreError, UserType, new_user_id};

type S<T> = Spanned<T>;

/// How long a guest's assignment from the users file lasts. [`LocalIdp::seed`]
/// renews it at every start, so a guest removed from the file (or from an
/// app's `apps`) loses access at most this long after the last start.
pub const GUEST_ASSIGNMENT: time::Duration = time::Duration::days(30);

/// Verified instead of a real hash when the e-mail is unknown, so that an
/// unknown address takes about as long as a wrong password (no account
/// enumeration by timing). argon2's default cost, the one `portcullis
/// hash-password` uses.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$K6eB2Dqn2k7zyrUBaNmNsw$ZFkIjMmdDYQDpiumJkI0vdvdlLu4BYWxz1juicVgv9k";

/// One problem in a users file, rendered `file:line:column: message` like
/// the config's own errors (the config check reports it with them; the
/// positions are the users file's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", .file.display())]
pub struct UsersFileError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// An account listed in a users file (without its password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalUser {
    /// The e-mail as written in the file (trimmed; case kept).
    pub email: String,
    /// The display name, if given.
    pub name: Option<String>,
    /// As written, or by default member for the organisation's member
    /// domains and guest otherwise.
    pub user_type: UserType,
    /// Lower-case group names.
    pub groups: Vec<String>,
    /// App names; for a guest, the apps they are assigned. Empty for members.
    pub apps: Vec<String>,
}

/// An idp of `type: local`: the users of one users file. Built by the config
/// check ([`LocalIdp::load`]) and immutable afterwards; a reload builds a new
/// one.
#[derive(Clone)]
pub struct LocalIdp {
    /// The idp's name (`idps[].name`); recorded as the users' identity idp.
    pub name: String,
    /// Lower-case e-mail domains routed to this idp at sign-in, besides the
    /// listed addresses (`domains`; default none).
    pub domains: Vec<String>,
    /// `mfa: trusted`: a password sign-in here counts as MFA. Default false
    /// (Portcullis asks for its own second factor).
    pub mfa_trusted: bool,
    /// The listed users, in file order.
    pub users: Vec<LocalUser>,
    /// The PHC strings, index for index with `users`.
    hashes: Vec<String>,
    /// Lower-cased e-mail → index in `users`.
    by_email: HashMap<String, usize>,
}

impl fmt::Debug for LocalIdp {
    // By hand: the password hashes must not reach logs or panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalIdp")
            .field("name", &self.name)
            .field("domains", &self.domains)
            .field("mfa_trusted", &self.mfa_trusted)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// What a users file is checked against: the rest of the config.
#[derive(Clone, Copy, Debug)]
pub struct LoadContext<'a> {
    /// `organisation.member_domains`, lower-case.
    pub member_domains: &'a [String],
    /// The names of the configured apps.
    pub apps: &'a [String],
}

impl LocalIdp {
    /// The users whose password hash is one of `phcs` (compared as text:
    /// a PHC string carries its own random salt, so an equal string is the
    /// very hash published with that password). For `check`'s warning about
    /// the quickstart's public demo passwords.
    pub fn users_with_hash<'a>(
        &'a self,
        phcs: &'a [&str],
    ) -> impl Iterator<Item = &'a LocalUser> + 'a {
        self.users
            .iter()
            .zip(&self.hashes)
            .filter(|(_, h)| phcs.contains(&h.as_str()))
            .map(|(u, _)| u)
    }

    /// Reads and checks the users file at `path` (already resolved against
    /// the config's folder), reporting every error with its position in that
    /// file. Runs while the config is checked (`check`, `serve`, reload).
    pub fn load(
        name: &str,
        domains: Vec<String>,
        mfa_trusted: bool,
        path: &Path,
        cx: LoadContext<'_>,
    ) -> Result<LocalIdp, Vec<UsersFileError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![UsersFileError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the users file: {e}"),
            }]
        })?;
        LocalIdp::from_str(name, domains, mfa_trusted, path, &text, cx)
    }

    /// [`LocalIdp::load`] on text as if read from `path` (tests).
    pub fn from_str(
        name: &str,
        domains: Vec<String>,
        mfa_trusted: bool,
        path: &Path,
        text: &str,
        cx: LoadContext<'_>,
    ) -> Result<LocalIdp, Vec<UsersFileError>> {
        let file: UsersFile = serde_saphyr::from_str(text).map_err(|e| {
            // Worded as the config's and the rule files' YAML errors are.
            let r = rules::RuleError::from_yaml(path, &e);
            vec![UsersFileError {
                file: r.file,
                line: r.line,
                column: r.column,
                message: r.kind.to_string(),
            }]
        })?;
        let mut errors = Vec::new();
        let mut err = |at: (u64, u64), message: String| {
            errors.push(UsersFileError {
                file: path.to_path_buf(),
                line: at.0,
                column: at.1,
                message,
            });
        };
        let pos = |s: &S<String>| (s.referenced.line(), s.referenced.column());
        if file.users.value.is_empty() {
            err(
                (file.users.referenced.line(), file.users.referenced.column()),
                "`users` is empty; list at least one user (or remove the idp)".into(),
            );
        }
        let mut users = Vec::new();
        let mut hashes = Vec::new();
        let mut by_email: HashMap<String, usize> = HashMap::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        for u in &file.users.value {
            let u = &u.value;
            let email = u.email.value.trim().to_string();
            let key = email.to_lowercase();
            let domain = match email_domain(&email) {
                Some(d) => d,
                None => {
                    err(
                        pos(&u.email),
                        format!(
                            "`{}` is not an e-mail address; write it like anna@contoso.com",
                            u.email.value
                        ),
                    );
                    String::new()
                }
            };
            if let Some(first) = first_line.insert(key.clone(), u.email.referenced.line()) {
                err(
                    pos(&u.email),
                    format!(
                        "`{email}` is listed twice (first on line {first}; e-mails are compared ignoring case)"
                    ),
                );
            }
            if !is_argon2_phc(&u.password_hash.value) {
                // Never echo the value: it may be a password pasted by mistake.
                err(
                    pos(&u.password_hash),
                    "`password_hash` is not an argon2 PHC string ($argon2id$v=19$…); make one with `portcullis hash-password`".into(),
                );
            }
            let user_type = match &u.user_type {
                None if cx.member_domains.contains(&domain) => UserType::Member,
                None => UserType::Guest,
                Some(t) => match UserType::parse(t.value.trim()) {
                    Some(t) => t,
                    None => {
                        let hint = rules::closest(&t.value, ["member", "guest"])
                            .map(|c| format!("; did you mean `{c}`?"))
                            .unwrap_or_default();
                        err(
                            pos(t),
                            format!(
                                "`{}` is not a user type (one of: member, guest){hint}",
                                t.value
                            ),
                        );
                        UserType::Guest
                    }
                },
            };
            let mut groups = Vec::new();
            for g in &u.groups {
                let group = g.value.trim().to_ascii_lowercase();
                if group.is_empty() {
                    err(pos(g), "a group name must not be empty".into());
                } else if !groups.contains(&group) {
                    groups.push(group);
                }
            }
            let mut apps = Vec::new();
            for a in &u.apps {
                let app = a.value.trim();
                if !cx.apps.iter().any(|x| x == app) {
                    let hint = rules::closest(app, cx.apps.iter().map(String::as_str))
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    err(
                        pos(a),
                        format!("there is no app `{app}` in the configuration{hint}"),
                    );
                } else if !apps.iter().any(|x: &String| x == app) {
                    apps.push(app.to_string());
                }
            }
            if user_type == UserType::Member
                && let Some(a) = u.apps.first()
            {
                err(
                    pos(a),
                    format!(
                        "`apps` is for guests (the apps they are assigned); `{email}` is a member and needs no assignment"
                    ),
                );
            }
            by_email.entry(key).or_insert(users.len());
            users.push(LocalUser {
                email,
                name: u
                    .name
                    .as_ref()
                    .map(|n| n.value.trim().to_string())
                    .filter(|n| !n.is_empty()),
                user_type,
                groups,
                apps,
            });
            hashes.push(u.password_hash.value.clone());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(LocalIdp {
            name: name.to_string(),
            domains,
            mfa_trusted,
            users,
            hashes,
            by_email,
        })
    }

    /// Whether `email` is listed in the users file (ignoring case and
    /// surrounding blanks).
    pub fn knows(&self, email: &str) -> bool {
        self.by_email.contains_key(&email.trim().to_lowercase())
    }

    /// Whether sign-in for `email` goes to this idp: it is listed, or its
    /// domain is one of `domains`.
    pub fn serves(&self, email: &str) -> bool {
        self.knows(email) || email_domain(email.trim()).is_some_and(|d| self.domains.contains(&d))
    }

    /// The user when `password` is theirs, `None` for a wrong password or an
    /// unknown e-mail. An unknown e-mail is checked against a fixed dummy
    /// hash, so both take about one argon2 verification (tens of
    /// milliseconds of CPU with the default cost): callers run it in
    /// `tokio::task::spawn_blocking`, never on the async executor.
    pub fn verify(&self, email: &str, password: &str) -> Option<LocalUser> {
        let argon = Argon2::default();
        let found = self.by_email.get(&email.trim().to_lowercase()).copied();
        let phc = found.map_or(DUMMY_HASH, |i| self.hashes[i].as_str());
        let ok = PasswordHash::new(phc)
            .is_ok_and(|h| argon.verify_password(password.as_bytes(), &h).is_ok());
        match found {
            Some(i) if ok => Some(self.users[i].clone()),
            _ => None,
        }
    }

    /// Puts every listed user into the store, at startup (and after a
    /// reload): a user found by e-mail keeps their stable id, a new one gets
    /// [`new_user_id`]; the identity is this idp with the lower-cased e-mail
    /// as subject. Adds the listed group memberships (it never removes
    /// others) and grants each guest's `apps` until `now` +
    /// [`GUEST_ASSIGNMENT`], recorded as granted by `idp:NAME`. Members get no
    /// assignments. Stops at the first store error.
    pub async fn seed(&self, store: &Store, now: OffsetDateTime) -> Result<(), StoreError> {
        let granted_by = format!("idp:{}", self.name);
        for u in &self.users {
            let id = match store.get_user_by_email(&u.email).await? {
                Some(existing) => existing.id,
                None => new_user_id(),
            };
            let user = store
                .upsert_user(
                    &NewUser {
                        id,
                        email: u.email.clone(),
                        display_name: u.name.clone(),
                        user_type: u.user_type,
                        identity: Some(Identity {
                            idp: self.name.clone(),
                            subject: u.email.to_lowercase(),
                        }),
                    },
                    now,
                )
                .await?;
            for g in &u.groups {
                store.add_group_member(g, &user.id, now).await?;
            }
            if u.user_type == UserType::Guest {
                for app in &u.apps {
                    store
                        .grant_assignment(
                            &user.id,
                            app,
                            Some(now + GUEST_ASSIGNMENT),
                            Some(&granted_by),
                            now,
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// An argon2id PHC string of `password` with argon2's default cost and a
/// random salt (`portcullis hash-password`). Takes tens of milliseconds.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// Whether `s` parses as a PHC string of argon2 (id, i or d) with valid
/// parameters and a hash.
fn is_argon2_phc(s: &str) -> bool {
    let Ok(h) = PasswordHash::new(s) else {
        return false;
    };
    matches!(h.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d")
        && h.hash.is_some()
        && h.salt.is_some()
        && argon2::Params::try_from(&h).is_ok()
}

/// The lower-case domain of a plausible e-mail address: one `@`, a
/// non-empty local part without blanks, a domain of dotted labels.
fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.split_once('@')?;
    let ok_local = !local.is_empty() && !local.chars().any(|c| c.is_whitespace() || c == '@');
    let ok_domain = domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    (ok_local && ok_domain).then(|| domain.to_ascii_lowercase())
}

// ---------------------------------------------------------------- file types

/// The users file of an idp of type `local`: accounts with passwords
/// (break-glass accounts, demo identities). Paths in the config are relative
/// to the config file; the file is re-read on reload.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Portcullis users file (idp type local)")]
struct UsersFile {
    /// The accounts; e-mails are unique (case-insensitive).
    #[schemars(with = "Vec<UserFile>")]
    users: S<Vec<S<UserFile>>>,
}

/// One account.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UserFile {
    /// The sign-in e-mail address.
    #[schemars(with = "String", example = "alice@tailwindtraders.com")]
    email: S<String>,
    /// Display name. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    name: Option<S<String>>,
    /// An argon2id PHC string, as `portcullis hash-password` prints it.
    /// Never the password itself.
    #[schemars(with = "String", regex(pattern = "^\\$argon2(id|i|d)\\$"))]
    password_hash: S<String>,
    /// `member` or `guest`. Default: from the e-mail's domain and the
    /// config's `organisation.member_domains`.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::UserTypeWord>")]
    user_type: Option<S<String>>,
    /// Group names (for `group:NAME` in rules and app owners).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    groups: Vec<S<String>>,
    /// (guests) Apps the guest is assigned to, renewed for 30 days at every
    /// start.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    apps: Vec<S<String>>,
}

/// The JSON Schema of a users file (`portcullis schema users`).
pub fn users_file_schema(generator: schemars::SchemaGenerator) -> schemars::Schema {
    generator.into_root_schema_for::<UsersFile>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PHC string of `password` at the lowest cost (debug builds are slow
    /// at the default one); `verify` reads the cost from the string.
    fn cheap_hash(password: &str) -> String {
        let params = argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None).expect("params");
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"a fixed test salt").expect("salt");
        argon
            .hash_password(password.as_bytes(), &salt)
            .expect("hash")
            .to_string()
    }

    fn demo() -> LocalIdp {
        let text = format!(
            r#"users:
  - {{ email: Alice@TailwindTraders.com, name: Alice, password_hash: "{}", groups: [Finance, finance] }}
  - {{ email: bob@fabrikam.example, password_hash: "{}", apps: [demo, wiki] }}
"#,
            cheap_hash("alice-pw"),
            cheap_hash("bob-pw")
        );
        let apps = ["demo".to_string(), "wiki".to_string()];
        let cx = LoadContext {
            member_domains: &["tailwindtraders.com".to_string()],
            apps: &apps,
        };
        LocalIdp::from_str(
            "demo",
            vec!["breakglass.example".into()],
            false,
            Path::new("users.yaml"),
            &text,
            cx,
        )
        .expect("loads")
    }

    fn t(offset_secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + offset_secs).expect("timestamp")
    }

    #[test]
    fn user_types_default_from_the_member_domains_and_groups_are_lower_case() {
        let idp = demo();
        assert_eq!(idp.users[0].user_type, UserType::Member);
        assert_eq!(idp.users[0].groups, ["finance"]);
        assert_eq!(idp.users[0].email, "Alice@TailwindTraders.com");
        assert_eq!(idp.users[1].user_type, UserType::Guest);
        assert_eq!(idp.users[1].apps, ["demo", "wiki"]);
    }

    #[test]
    fn knows_listed_addresses_and_serves_its_domains() {
        let idp = demo();
        assert!(idp.knows(" alice@tailwindtraders.com"));
        assert!(idp.knows("BOB@FABRIKAM.EXAMPLE"));
        assert!(!idp.knows("carol@fabrikam.example"));
        assert!(idp.serves("carol@BreakGlass.example"));
        assert!(idp.serves("bob@fabrikam.example"));
        assert!(!idp.serves("carol@fabrikam.example"));
        assert!(!idp.serves("not an address"));
    }

    #[test]
    fn verify_accepts_only_the_right_password() {
        let idp = demo();
        let alice = idp
            .verify("ALICE@tailwindtraders.com", "alice-pw")
            .expect("right password");
        assert_eq!(alice.name.as_deref(), Some("Alice"));
        assert_eq!(idp.verify("alice@tailwindtraders.com", "bob-pw"), None);
        assert_eq!(idp.verify("alice@tailwindtraders.com", ""), None);
        // Unknown e-mails go through the dummy hash and fail.
        assert_eq!(idp.verify("mallory@fabrikam.example", "alice-pw"), None);
    }

    #[test]
    fn the_dummy_hash_costs_what_hash_password_costs() {
        // Otherwise an unknown e-mail would answer faster than a known one.
        let dummy = PasswordHash::new(DUMMY_HASH).expect("parses");
        let made = hash_password("x").expect("hash");
        let made = PasswordHash::new(&made).expect("parses");
        assert_eq!(dummy.algorithm, made.algorithm);
        assert_eq!(
            argon2::Params::try_from(&dummy).expect("params"),
            argon2::Params::try_from(&made).expect("params")
        );
        assert!(Argon2::default().verify_password(b"x", &made).is_ok());
    }

    #[test]
    fn debug_never_shows_the_hashes() {
        let text = format!("{:?}", demo());
        assert!(!text.contains("argon2"), "{text}");
    }

    #[tokio::test]
    async fn seed_upserts_users_groups_and_guest_assignments_keeping_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir.path().join("p.db"))
            .await
            .expect("open");
        // Bob was invited before the file listed him: he keeps his id.
        let bob_id = new_user_id();
        store
            .upsert_user(
                &NewUser {
                    id: bob_id.clone(),
                    email: "Bob@Fabrikam.example".into(),
                    display_name: None,
                    user_type: UserType::Guest,
                    identity: None,
                },
                t(0),
            )
            .await
            .expect("invite");
        let idp = demo();
        idp.seed(&store, t(10)).await.expect("seed");

        let alice = store
            .get_user_by_identity("demo", "alice@tailwindtraders.com")
            .await
            .expect("read")
            .expect("alice");
        assert_eq!(alice.user_type, UserType::Member);
        assert_eq!(
            store.groups_of(&alice.id).await.expect("groups"),
            ["finance"]
        );
        assert!(
            store
                .assignments_of_user(&alice.id)
                .await
                .expect("read")
                .is_empty()
        );

        let bob = store
            .get_user_by_email("bob@fabrikam.example")
            .await
            .expect("read")
            .expect("bob");
        assert_eq!(bob.id, bob_id);
        let apps = store.assignments_of_user(&bob_id).await.expect("read");
        assert_eq!(
            apps.iter().map(|a| a.app.as_str()).collect::<Vec<_>>(),
            ["demo", "wiki"]
        );
        assert!(
            apps.iter()
                .all(|a| a.expires_at == Some(t(10) + GUEST_ASSIGNMENT)
                    && a.granted_by.as_deref() == Some("idp:demo"))
        );

        // A second start renews, and creates no one new.
        idp.seed(&store, t(1000)).await.expect("seed again");
        let again = store
            .get_user_by_identity("demo", "alice@tailwindtraders.com")
            .await
            .expect("read")
            .expect("alice");
        assert_eq!(again.id, alice.id);
        assert_eq!(store.list_users(None).await.expect("list").len(), 2);
        let apps = store.assignments_of_user(&bob_id).await.expect("read");
        assert!(
            apps.iter()
                .all(|a| a.expires_at == Some(t(1000) + GUEST_ASSIGNMENT))
        );
    }
}
