//! After a method vouched for someone ([`SignedIn`]): the directory user the
//! sign-in is for, the auth host's session and its audit entry; and, once
//! consent is settled, the hand-off to the app host (a one-time code the
//! app host turns into its own cookie).

use super::passcode::may_use_passcode;
use super::{PASSCODE_IDP, PASSKEY_IDP, SignedIn};
use crate::config::IdpKind;
use crate::portal::apphost::{HANDOFF_KIND, Handoff};
use crate::portal::{HANDOFF_TTL_SECS, Handler, Reply, paths, random_token, seconds};
use crate::session::{SessionClaims, cookie, new_sid};
use crate::store::{
    Identity, NewAuditEntry, NewUser, SessionRecord, StoreError, User, UserState, UserType,
    new_user_id,
};
use crate::trust;
use rules::MfaStrength;

impl Handler<'_> {
    /// The auth host's session, if valid, not revoked, and its user active.
    pub(in crate::portal) async fn auth_session(&self) -> Option<(SessionClaims, User)> {
        let claims = self.session()?;
        let store = &self.gateway.store;
        if store.is_revoked(&claims.sid).await.unwrap_or(true) {
            return None;
        }
        match store.get_user(&claims.sub).await {
            Ok(Some(u)) if u.state == UserState::Active => Some((claims, u)),
            _ => None,
        }
    }

    /// Finds the user the sign-in is for, starts the session, and goes on
    /// to consent or back to the app.
    pub(super) async fn complete(&self, s: SignedIn, rd: &str) -> Reply {
        let store = &self.gateway.store;
        let vouched = match self.vouch(&s) {
            Ok(v) => v,
            Err((result, title, text)) => {
                self.count_sign_in(&s.idp, result);
                tracing::info!(request_id = %self.req.request_id, idp = %s.idp, result, "sign-in refused");
                return self.start_again(403, &self.t(title), &self.t(text));
            }
        };
        let user = match self.resolve_user(&s, vouched.member).await {
            Ok(Ok(u)) => u,
            Ok(Err((result, title, text))) => {
                self.count_sign_in(&s.idp, result);
                return self.start_again(403, &self.t(title), &self.t(text));
            }
            Err(e) => return self.unavailable("directory", &e),
        };
        let sid = new_sid();
        let lifetime = seconds(self.sign_in.session_lifetime);
        let record = SessionRecord {
            sid: sid.clone(),
            user_id: user.id.clone(),
            idp: s.idp.clone(),
            created_at: self.time(),
            expires_at: self.time() + self.sign_in.session_lifetime,
            device: crate::portal::device::describe(self.req.headers),
        };
        if let Err(e) = store.insert_session(&record).await {
            return self.unavailable("session", &e);
        }
        // `mfa` (and `phr`) in the session only when we vouch for it: an
        // IdP that is not `mfa: trusted` may say what it likes in `amr`.
        let mut amr = s.amr;
        crate::session::set_mfa_amr(&mut amr, vouched.mfa);
        let keys = self.gateway.keys.load();
        let claims = SessionClaims {
            iss: keys.issuer().into(),
            sub: user.id.clone(),
            aud: self.sign_in.host.as_str().into(),
            email: user.email.clone(),
            user_type: user.user_type,
            groups: vouched.groups.into(),
            idp: s.idp.as_str().into(),
            amr: amr.into(),
            auth_time: s.auth_time,
            iat: self.now,
            exp: self.now + lifetime,
            sid,
        };
        let token = match keys.issue(&claims) {
            Ok(t) => t,
            Err(e) => return self.unavailable("issue session", &e),
        };
        let _ = store
            .append_audit(&NewAuditEntry {
                at: self.time(),
                actor: user.id.clone(),
                action: "signed_in".into(),
                subject: Some(user.id.clone()),
                app: None,
                detail: serde_json::json!({
                    "idp": s.idp,
                    "mfa": claims.mfa(),
                    "mfa_strength": claims.mfa_strength().as_str(),
                }),
            })
            .await;
        self.count_sign_in(&s.idp, "ok");
        if vouched.mfa.is_mfa() {
            self.gateway
                .metrics
                .mfa
                .with_label_values(&["idp", "ok"])
                .inc();
        }
        self.after_sign_in(&claims, &user, rd)
            .await
            .with_cookie(cookie::set_cookie(&token, self.req.https, lifetime))
    }

    /// The trust boundary (`crate::trust`, DESIGN.md): what this sign-in's
    /// claims count for, decided here for every kind of IdP so that none
    /// can bypass it. Groups of an external IdP are qualified by its name
    /// (bare too only with `trust_groups`); its `amr`/`acr` is MFA only
    /// with `mfa: trusted` and a value of `mfa_values`; an e-mail in a
    /// member domain is refused from an IdP that does not serve that
    /// domain (a partner's IdP can assert any address), and only an IdP
    /// that serves it may make a member. A local IdP's groups are the
    /// directory's own; a passcode carries none.
    fn vouch(&self, s: &SignedIn) -> Result<Vouched, Refusal> {
        let config = &self.snapshot.config;
        let member_domain = trust::in_member_domain(&s.email, &config.organisation.member_domains);
        if s.idp == PASSCODE_IDP {
            return Ok(Vouched {
                groups: Vec::new(),
                mfa: MfaStrength::None,
                member: false,
            });
        }
        // A passkey this gateway checked itself (`signin::passkey`): a
        // possession factor verified with the device's PIN or biometrics,
        // bound to this origin.
        if s.idp == PASSKEY_IDP {
            return Ok(Vouched {
                groups: Vec::new(),
                mfa: MfaStrength::PhishingResistant,
                member: false,
            });
        }
        // An idp no longer in the config (a reload between start and
        // callback) vouches for nothing.
        let Some(idp) = config.idps.iter().find(|i| i.name == s.idp) else {
            return Err(NOT_INVITED);
        };
        if let IdpKind::Local(_) = idp.kind {
            return Ok(Vouched {
                groups: s.groups.iter().map(|g| g.to_lowercase()).collect(),
                mfa: if s.mfa {
                    MfaStrength::Mfa
                } else {
                    MfaStrength::None
                },
                member: member_domain && s.authoritative,
            });
        }
        let serves = idp.trust.serves(&s.email);
        if member_domain && !serves {
            return Err(MEMBER_DOMAIN);
        }
        Ok(Vouched {
            groups: idp.trust.groups(&s.idp, &s.groups),
            mfa: idp.trust.mfa_strength(&s.amr, s.acr.as_deref()),
            member: member_domain && serves && s.authoritative,
        })
    }

    /// The directory's user for this sign-in: by identity; else an invited
    /// user not yet linked to any identity, by e-mail; else a new member when
    /// `may_create_member` (the organisation's own IdP vouches for a member
    /// domain, see [`Self::vouch`]). Anyone else gets
    /// `Err((result, title, text))`.
    async fn resolve_user(
        &self,
        s: &SignedIn,
        may_create_member: bool,
    ) -> Result<Result<User, Refusal>, StoreError> {
        let store = &self.gateway.store;
        let user = if s.idp == PASSKEY_IDP {
            // The passkey named its user (by the stored credential); the
            // same people as the e-mailed code, nobody with an IdP.
            match store.get_user(&s.subject).await? {
                Some(u) if u.user_type == UserType::Guest && may_use_passcode(&u, &u.email) => u,
                _ => return Ok(Err(NOT_INVITED)),
            }
        } else if s.idp == PASSCODE_IDP {
            // The code proved the mailbox; the address is the identity, for
            // users not linked to an IdP.
            match store.get_user_by_email(&s.email).await? {
                Some(u) if may_use_passcode(&u, &s.email) => {
                    if u.identity.is_none() {
                        store.link_identity(&u.id, PASSCODE_IDP, &s.email).await?;
                    }
                    u
                }
                _ => return Ok(Err(NOT_INVITED)),
            }
        } else if let Some(u) = store.get_user_by_identity(&s.idp, &s.subject).await? {
            u
        } else {
            match store.get_user_by_email(&s.email).await? {
                Some(u) if u.identity.is_none() => {
                    match store.link_identity(&u.id, &s.idp, &s.subject).await {
                        // The IdP's display name for an invited user who had none.
                        Ok(()) if u.display_name.is_none() && s.name.is_some() => {
                            store
                                .upsert_user(
                                    &NewUser {
                                        id: u.id.clone(),
                                        email: u.email.clone(),
                                        display_name: s.name.clone(),
                                        user_type: u.user_type,
                                        identity: None,
                                    },
                                    self.time(),
                                )
                                .await?
                        }
                        Ok(()) => u,
                        Err(StoreError::Conflict { .. }) => return Ok(Err(LINKED_ELSEWHERE)),
                        Err(e) => return Err(e),
                    }
                }
                // Matched by e-mail but linked to another account: never
                // take it over (users are iss+sub, not e-mail).
                Some(_) => return Ok(Err(LINKED_ELSEWHERE)),
                None => {
                    if !may_create_member {
                        return Ok(Err(NOT_INVITED));
                    }
                    store
                        .upsert_user(
                            &NewUser {
                                id: new_user_id(),
                                email: s.email.clone(),
                                display_name: s.name.clone(),
                                user_type: UserType::Member,
                                identity: Some(Identity {
                                    idp: s.idp.clone(),
                                    subject: s.subject.clone(),
                                }),
                            },
                            self.time(),
                        )
                        .await?
                }
            }
        };
        if user.state != UserState::Active {
            return Ok(Err((
                "blocked",
                "reason-policy_block-title",
                "msg-account-blocked",
            )));
        }
        Ok(Ok(user))
    }

    /// Back to the app host with a one-time code, or the landing page when
    /// there is no valid return URL.
    pub(in crate::portal) async fn handoff(&self, claims: &SessionClaims, rd: &str) -> Reply {
        if (rd.starts_with("/.portcullis/invite?")
            || rd.starts_with("/.portcullis/sign-up/")
            || rd.starts_with("/.portcullis/mfa/lost?")
            || rd.starts_with("/.portcullis/mfa/lost/")
            || rd == paths::MANAGE
            || rd.starts_with("/.portcullis/manage/")
            || rd == paths::APPS
            || rd == paths::SECURITY
            || rd.starts_with("/.portcullis/security?")
            || rd == crate::portal::console::ADMIN
            || rd.starts_with("/.portcullis/admin/"))
            && !rd.contains(['\\', '\r', '\n'])
        {
            // Back to the invitation (or the sign-up step, or the owner's
            // page) that sent the person to sign in; a local path, never
            // another host.
            return Reply::redirect(rd.to_string());
        }
        let Some(target) = self.target(rd) else {
            return Reply::redirect(paths::APPS.to_string());
        };
        let code = random_token(16);
        let payload = Handoff {
            host: target.host.clone(),
            path: target.path,
            claims: claims.clone(),
        };
        let payload = match serde_json::to_string(&payload) {
            Ok(p) => p,
            Err(e) => return self.unavailable("hand-off", &e),
        };
        let expires = self.time() + time::Duration::seconds(HANDOFF_TTL_SECS);
        if let Err(e) = self
            .gateway
            .store
            .put_ticket(HANDOFF_KIND, &code, &payload, expires, self.time())
            .await
        {
            return self.unavailable("hand-off", &e);
        }
        Reply::redirect(format!(
            "{}://{}{}{}?code={code}",
            self.scheme(),
            target.host,
            self.req.port_suffix,
            paths::SESSION
        ))
    }
}

/// What a sign-in's claims count for, once [`Handler::vouch`]ed.
struct Vouched {
    /// The session's groups: qualified by the IdP (`crate::trust`).
    groups: Vec<String>,
    /// What the sign-in counts as for MFA.
    mfa: MfaStrength,
    /// A new member may be made for this e-mail.
    member: bool,
}

/// A refused sign-in: the `result` label, the page's title and text
/// (message keys).
type Refusal = (&'static str, &'static str, &'static str);

const MEMBER_DOMAIN: Refusal = (
    "member_domain",
    "msg-member-domain-title",
    "msg-member-domain",
);
const NOT_INVITED: (&str, &str, &str) = ("not_invited", "msg-not-invited-title", "msg-not-invited");
const LINKED_ELSEWHERE: (&str, &str, &str) = (
    "identity_conflict",
    "msg-linked-elsewhere-title",
    "msg-linked-elsewhere",
);
