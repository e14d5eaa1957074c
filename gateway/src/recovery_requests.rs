//! Getting back in without the help desk (issue 20): a guest who lost
//! their second factor asks on the MFA step; the owners of their app (or,
//! for an app without owners, whoever invited them) approve by a mailed
//! link; the guest gets a single-use re-enrolment link, valid
//! [`LINK_TTL`], that works only in the browser that asked and only while
//! signed in as that guest; redeeming it removes the lost factors so the
//! guest sets up new ones after their usual first factor. The portal's
//! `/.portcullis/mfa/lost…` pages (`portal::recovery`) are one door; this
//! module is the operation, audited at every step.
//!
//! Who may approve is decided again at decision time from the current
//! config and directory: an owner of an app the guest holds now (the app
//! they asked from, when they named one and still hold it), or for an app
//! with no owners the person recorded as granting it. Owning another app
//! grants nothing here. Members never use this: their own organisation's
//! process applies.
//!
//! What each step protects against:
//! - the request is bound to a random secret in a cookie of the browser
//!   that asked (stored as a digest), so a link forwarded, phished or read
//!   from a mailbox does nothing in another browser;
//! - the link's token is 256 random bits, stored as a digest, redeemed by
//!   one conditional statement (once, across replicas), and only within
//!   [`LINK_TTL`] of the approval;
//! - a request lapses after [`PENDING_TTL`] undecided.

use crate::config::{App, Config};
use crate::mail::{Mailer, Message};
use crate::mfa::Totp;
use crate::store::{
    NewAuditEntry, RecoveryLink, RecoveryRequest, RecoveryStatus, Store, StoreError, User,
    UserState, UserType,
};
use base64::Engine as _;
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};

/// How long an approved re-enrolment link works.
pub const LINK_TTL: Duration = Duration::minutes(30);
/// How long a request waits for a decision.
pub const PENDING_TTL: Duration = Duration::days(7);
/// The path of the owners' review page (`?id=`).
pub const REVIEW_PATH: &str = "/.portcullis/mfa/lost/review";
/// The path of the guest's re-enrolment link (`?token=`).
pub const REENROL_PATH: &str = "/.portcullis/mfa/lost/reenrol";

/// Why a recovery step did not happen; the portal turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Members use their own organisation's process.
    #[error("members recover through their own organisation")]
    Member,
    /// The guest holds no app whose owners (or inviter) could approve.
    #[error("nobody can approve this request")]
    NoApprover,
    #[error("no such request")]
    NotFound,
    /// The signed-in person may not decide this request: not an owner of
    /// (nor the inviter to) an app this guest holds.
    #[error("not an approver of this request")]
    NotApprover,
    /// Decided already (by another owner), or lapsed.
    #[error("the request was already decided")]
    AlreadyDecided(Box<RecoveryRequest>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`ask`] did.
#[derive(Debug)]
pub struct Asked {
    pub request: RecoveryRequest,
    /// `false`: a pending request existed; it is bound to this browser now
    /// and nobody was mailed again.
    pub created: bool,
    /// How many approvers were mailed.
    pub mailed: usize,
}

/// The apps `guest` holds now that a request about `app` concerns: only
/// `app` when they hold it, else every app they hold.
async fn apps_in_scope<'c>(
    config: &'c Config,
    store: &Store,
    guest: &User,
    app: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<(&'c App, Option<String>)>, StoreError> {
    let live: Vec<_> = store
        .assignments_of_user(&guest.id)
        .await?
        .into_iter()
        .filter(|a| a.is_live(now))
        .collect();
    let named: Vec<_> = live
        .iter()
        .filter(|a| Some(a.app.as_str()) == app)
        .collect();
    let chosen = if named.is_empty() {
        live.iter().collect()
    } else {
        named
    };
    Ok(chosen
        .into_iter()
        .filter_map(|a| {
            let app = config.apps.iter().find(|c| c.name == a.app)?;
            Some((app, a.granted_by.clone()))
        })
        .collect())
}

/// The inviter's e-mail from an assignment's `granted_by` (an e-mail as
/// invitations record it, or a user id), if it names an active member.
/// A guest never approves another guest.
async fn inviter_email(store: &Store, granted_by: &str) -> Result<Option<String>, StoreError> {
    let user = if granted_by.contains('@') {
        store.get_user_by_email(granted_by).await?
    } else {
        store.get_user(granted_by).await?
    };
    Ok(user
        .filter(|u| u.user_type == UserType::Member && u.state == UserState::Active)
        .map(|u| u.email.to_ascii_lowercase()))
}

/// The e-mails of everyone who may approve a request of `guest` about
/// `app`, and the titles of the apps concerned.
pub async fn approvers(
    config: &Config,
    store: &Store,
    guest: &User,
    app: Option<&str>,
    now: OffsetDateTime,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let mut emails = BTreeSet::new();
    let mut titles = Vec::new();
    for (app, granted_by) in apps_in_scope(config, store, guest, app, now).await? {
        titles.push(app.title.clone());
        if app.owners.is_empty() {
            if let Some(by) = granted_by
                && let Some(e) = inviter_email(store, &by).await?
            {
                emails.insert(e);
            }
        } else {
            emails.extend(
                crate::guests::owner_emails(store, app, &guest.email)
                    .await
                    .0,
            );
        }
    }
    emails.remove(&guest.email.to_ascii_lowercase());
    Ok((emails.into_iter().collect(), titles))
}

/// Whether `approver` (with lower-case `groups`) may decide `guest`'s
/// request about `app`: an owner of an app in scope, or for an app without
/// owners its inviter. Never the guest themselves.
pub async fn may_decide(
    config: &Config,
    store: &Store,
    guest: &User,
    app: Option<&str>,
    approver: &User,
    groups: &[String],
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    if approver.id == guest.id || approver.state != UserState::Active {
        return Ok(false);
    }
    for (app, granted_by) in apps_in_scope(config, store, guest, app, now).await? {
        let yes = if app.owners.is_empty() {
            match granted_by {
                Some(by) => inviter_email(store, &by)
                    .await?
                    .is_some_and(|e| e.eq_ignore_ascii_case(&approver.email)),
                None => false,
            }
        } else {
            app.owners
                .iter()
                .any(|o| o.matches(&approver.email, groups))
        };
        if yes {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `guest` lost their second factor: stores the request bound to the
/// browser secret `browser` and mails every approver a link to the review
/// page (`base` is the auth host's origin). Asking again while a request
/// is pending binds it to this browser and mails nobody.
#[allow(clippy::too_many_arguments)]
pub async fn ask(
    config: &Config,
    store: &Store,
    mailer: Option<&Mailer>,
    base: &str,
    guest: &User,
    app: Option<&str>,
    browser: &str,
    now: OffsetDateTime,
) -> Result<Asked, RecoveryError> {
    if guest.user_type == UserType::Member {
        return Err(RecoveryError::Member);
    }
    let (emails, titles) = approvers(config, store, guest, app, now).await?;
    if emails.is_empty() {
        return Err(RecoveryError::NoApprover);
    }
    let (request, created) = store
        .create_recovery_request(&guest.id, app, browser, now)
        .await?;
    audit(
        store,
        &guest.id,
        if created {
            "mfa_recovery_requested"
        } else {
            "mfa_recovery_asked_again"
        },
        &request,
        serde_json::json!({ "approvers": emails.len() }),
        now,
    )
    .await;
    let mut mailed = 0;
    if created {
        let Some(mailer) = mailer else {
            tracing::warn!(request = %request.id, "no mail configured: approvers are not told of MFA recovery requests");
            return Ok(Asked {
                request,
                created,
                mailed,
            });
        };
        let link = format!("{base}{REVIEW_PATH}?id={}", request.id);
        for to in &emails {
            let sent = mailer
                .send(
                    to,
                    &Message::MfaRecoveryRequest {
                        guest: guest.email.clone(),
                        apps: titles.clone(),
                        link: link.clone(),
                    },
                )
                .await;
            match sent {
                Ok(()) => mailed += 1,
                // One mailbox failing must not lose the request.
                Err(e) => {
                    tracing::warn!(error = %e, request = %request.id, "MFA recovery mail to an approver not sent");
                }
            }
        }
    }
    Ok(Asked {
        request,
        created,
        mailed,
    })
}

/// An approver's decision on request `id`. Checks that `approver` may
/// decide it now (see [`may_decide`]); of racing decisions exactly one
/// wins. Approved, the guest is mailed the re-enrolment link (valid
/// [`LINK_TTL`] from `now`); denied, a note. Audited with the approver's
/// user id as actor.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    config: &Config,
    store: &Store,
    mailer: Option<&Mailer>,
    base: &str,
    id: &str,
    approve: bool,
    approver: &User,
    groups: &[String],
    now: OffsetDateTime,
) -> Result<RecoveryRequest, RecoveryError> {
    let req = store
        .get_recovery_request(id)
        .await?
        .ok_or(RecoveryError::NotFound)?;
    let guest = store
        .get_user(&req.user_id)
        .await?
        .ok_or(RecoveryError::NotFound)?;
    if guest.user_type == UserType::Member {
        return Err(RecoveryError::Member);
    }
    // Before anything about the request's state: a forged or guessed id
    // tells someone who is not an approver nothing.
    if !may_decide(
        config,
        store,
        &guest,
        req.app.as_deref(),
        approver,
        groups,
        now,
    )
    .await?
    {
        audit(
            store,
            &approver.id,
            "mfa_recovery_refused",
            &req,
            serde_json::json!({ "reason": "not_approver", "by": approver.email }),
            now,
        )
        .await;
        return Err(RecoveryError::NotApprover);
    }
    let token = new_token();
    let link = approve.then(|| (token.as_str(), now + LINK_TTL));
    let Some(decided) = store
        .decide_recovery_request(id, link, &approver.email, now - PENDING_TTL, now)
        .await?
    else {
        return Err(RecoveryError::AlreadyDecided(Box::new(req)));
    };
    audit(
        store,
        &approver.id,
        if approve {
            "mfa_recovery_approved"
        } else {
            "mfa_recovery_denied"
        },
        &decided,
        serde_json::json!({ "by": approver.email }),
        now,
    )
    .await;
    if let Some(mailer) = mailer {
        let link = if approve {
            format!("{base}{REENROL_PATH}?token={token}")
        } else {
            format!("{base}/.portcullis/apps")
        };
        let minutes = u32::try_from(LINK_TTL.whole_minutes()).unwrap_or(30);
        let sent = mailer
            .send(
                &guest.email,
                &Message::MfaRecoveryDecision {
                    approved: approve,
                    link,
                    valid_minutes: minutes,
                },
            )
            .await;
        if let Err(e) = sent {
            // The decision stands; the guest can ask again.
            tracing::warn!(error = %e, request = %decided.id, "MFA recovery decision mail not sent");
        }
    }
    Ok(decided)
}

/// Redeems the re-enrolment link `token` for `guest` in the browser
/// holding `browser`. Redeemed, the lost factors are removed (the TOTP
/// factor and its recovery codes, every passkey), so the guest sets up new
/// ones without a second factor; every outcome is audited.
pub async fn redeem(
    store: &Store,
    totp: &Totp,
    token: &str,
    browser: &str,
    guest: &User,
    now: OffsetDateTime,
) -> Result<RecoveryLink, StoreError> {
    let link = store
        .redeem_recovery_link(token, browser, &guest.id, now)
        .await?;
    let RecoveryLink::Valid(req) = &link else {
        let reason = match &link {
            RecoveryLink::Unknown => "unknown",
            RecoveryLink::Used => "used",
            RecoveryLink::Expired => "expired",
            RecoveryLink::OtherBrowser => "other_browser",
            RecoveryLink::OtherUser => "other_user",
            RecoveryLink::Valid(_) => "valid",
        };
        let r = store
            .append_audit(&NewAuditEntry {
                at: now,
                actor: guest.id.clone(),
                action: "mfa_recovery_refused".into(),
                subject: Some(guest.id.clone()),
                app: None,
                detail: serde_json::json!({ "reason": reason }),
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "audit entry not written");
        }
        return Ok(link);
    };
    totp.reset(store, &guest.id, &guest.id, now)
        .await
        .map_err(|e| match e {
            crate::mfa::MfaError::Store(s) => s,
            // `reset` only deletes and appends: its other errors cannot
            // happen, and would be a deny all the same.
            _ => StoreError::Invalid {
                op: "mfa_recovery",
                reason: "mfa reset failed",
            },
        })?;
    let mut removed = 0;
    for p in store.list_passkeys(&guest.id).await? {
        if store.delete_passkey(&guest.id, &p.credential_id).await? {
            removed += 1;
        }
    }
    audit(
        store,
        &guest.id,
        "mfa_recovered",
        req,
        serde_json::json!({ "passkeys_removed": removed }),
        now,
    )
    .await;
    Ok(link)
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn audit(
    store: &Store,
    actor: &str,
    action: &str,
    req: &RecoveryRequest,
    extra: serde_json::Value,
    now: OffsetDateTime,
) {
    let mut detail = serde_json::json!({ "request": req.id, "status": req.status.as_str() });
    if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    let r = store
        .append_audit(&NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: action.to_string(),
            subject: Some(req.user_id.clone()),
            app: req.app.clone(),
            detail,
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}

/// Whether a request is still waiting for a decision at `now`.
pub fn is_pending(req: &RecoveryRequest, now: OffsetDateTime) -> bool {
    req.status == RecoveryStatus::Pending && req.created_at > now - PENDING_TTL
}
