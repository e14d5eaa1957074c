//! The operations on sign-up requests (self-service access requests): a
//! partner asks for access to an app whose `sign_up` allows it; an owner
//! approves (or the request is approved at once when `approval: automatic`
//! and the domain is allowed); approval grants the app for `access_days`.
//! The portal's `/.portcullis/sign-up…` pages (`portal::signup`) go through
//! here.
//!
//! Only requests are stored until someone decides: a partner who asks gets a
//! guest user without an identity (as an invitation makes one), linked at
//! their first sign-in, and no assignment.

use crate::config::{App, Approval, Config, SignUp};
use crate::mail::{Mailer, Message};
use crate::store::{
    AccessRequest, NewAccessRequest, NewAuditEntry, NewUser, RequestStatus, Store, StoreError,
    User, UserType, new_user_id,
};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// The longest answer to one attribute, in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 500;
/// Who decided an automatic approval (the audit actor, `decided_by`).
pub const AUTOMATIC: &str = "automatic";

/// Why a sign-up step did not happen; the portal turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The app does not exist or does not allow sign-up.
    #[error("app `{0}` does not take sign-up requests")]
    NotOffered(String),
    /// The address's domain is not in the app's `sign_up.domains`.
    #[error("{0} is not an allowed domain for this app")]
    DomainNotAllowed(String),
    /// A member domain (or a member): members need no sign-up.
    #[error("{0} belongs to the organisation: members need no sign-up")]
    Member(String),
    #[error("no request {0}")]
    NotFound(String),
    /// Decided already (by another owner, or automatically).
    #[error("the request was already decided")]
    AlreadyDecided(Box<AccessRequest>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the e-mail was not sent: {0}")]
    Mail(String),
}

/// What [`request`] did.
#[derive(Debug)]
pub enum Outcome {
    /// Stored as pending; the owners were told.
    Pending(AccessRequest),
    /// The user already had a pending request for the app: nothing new.
    AlreadyPending(AccessRequest),
    /// Approved at once (`approval: automatic`); access has started.
    Approved(AccessRequest),
}

/// The app `name` and its sign-up settings, if it takes requests.
pub fn offered<'c>(config: &'c Config, name: &str) -> Result<(&'c App, &'c SignUp), SignUpError> {
    config
        .apps
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.sign_up.as_ref().map(|s| (a, s)))
        .ok_or_else(|| SignUpError::NotOffered(name.to_string()))
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Whether `email` may ask for `sign_up`'s app: never a member domain (a
/// member signs in with the organisation's own IdP and needs no request),
/// and one of `domains` when the list is not empty. `email` is already
/// normalised (lower case).
pub fn check_domain(config: &Config, sign_up: &SignUp, email: &str) -> Result<(), SignUpError> {
    let domain = domain_of(email);
    if config
        .organisation
        .member_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Err(SignUpError::Member(domain.to_string()));
    }
    if !sign_up.domains.is_empty() && !sign_up.domains.iter().any(|d| d == domain) {
        return Err(SignUpError::DomainNotAllowed(domain.to_string()));
    }
    Ok(())
}

/// The guest user for `email`: the existing one, or a new one without an
/// identity, linked at the first sign-in (so the partner can sign in at
/// all: guests the directory does not know are refused). A member is
/// refused.
pub async fn guest_for(
    store: &Store,
    email: &str,
    now: OffsetDateTime,
) -> Result<User, SignUpError> {
    match store.get_user_by_email(email).await? {
        Some(u) if u.user_type == UserType::Member => Err(SignUpError::Member(email.to_string())),
        Some(u) => Ok(u),
        None => {
            let new = NewUser {
                id: new_user_id(),
                email: email.to_string(),
                display_name: None,
                user_type: UserType::Guest,
                identity: None,
            };
            match store.upsert_user(&new, now).await {
                Ok(u) => Ok(u),
                // Two first requests raced: the other made the user.
                Err(StoreError::Conflict { .. }) => store
                    .get_user_by_email(email)
                    .await?
                    .ok_or(SignUpError::NotFound(email.to_string())),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The answers to `sign_up.attributes` in a posted form (`attr_NAME`):
/// trimmed, at most [`MAX_ATTRIBUTE_CHARS`] each, required ones present.
/// Fields the app does not ask for are ignored; empty optional ones left
/// out.
pub fn answers(
    sign_up: &SignUp,
    form: &HashMap<String, String>,
) -> Result<BTreeMap<String, String>, SignUpError> {
    let mut out = BTreeMap::new();
    for a in &sign_up.attributes {
        let v = form
            .get(&format!("attr_{}", a.name))
            .map(|v| v.trim())
            .unwrap_or("");
        if v.is_empty() {
            if a.required {
                return Err(SignUpError::Invalid {
                    field: a.name.clone(),
                    message: format!("{} is required", a.label),
                });
            }
            continue;
        }
        if v.chars().count() > MAX_ATTRIBUTE_CHARS
            || v.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(SignUpError::Invalid {
                field: a.name.clone(),
                message: format!(
                    "{}: at most {MAX_ATTRIBUTE_CHARS} characters of text",
                    a.label
                ),
            });
        }
        out.insert(a.name.clone(), v.to_string());
    }
    Ok(out)
}

/// Whether the signed-in person (e-mail, lower-case groups) owns `app`.
pub fn is_owner(app: &App, email: &str, groups: &[String]) -> bool {
    app.owners.iter().any(|o| o.matches(email, groups))
}

/// Stores `user`'s request for `app` with `attributes`. Asking again while
/// a request is pending returns that one and sends nothing. With
/// `approval: automatic` (the domain checked again here) it is approved at
/// once: access for `access_days` and the decision mail. Otherwise each
/// owner is told (by e-mail, and each active member of an owner group),
/// with a link to the review page.
/// `base` is the auth host's origin for links (see `invitations::link_base`).
#[allow(clippy::too_many_arguments)]
pub async fn request(
    config: &Config,
    store: &Store,
    mailer: Option<&Mailer>,
    base: &str,
    app: &App,
    user: &User,
    attributes: BTreeMap<String, String>,
    now: OffsetDateTime,
) -> Result<Outcome, SignUpError> {
    let sign_up = app
        .sign_up
        .as_ref()
        .ok_or_else(|| SignUpError::NotOffered(app.name.clone()))?;
    check_domain(config, sign_up, &user.email.to_ascii_lowercase())?;
    let (req, created) = store
        .create_access_request(
            &NewAccessRequest {
                app: app.name.clone(),
                user_id: user.id.clone(),
                attributes,
            },
            now,
        )
        .await?;
    if !created {
        return Ok(Outcome::AlreadyPending(req));
    }
    audit(store, &req, &user.id, "access_requested", now).await;
    if sign_up.approval == Approval::Automatic {
        return match decide_request(config, store, mailer, base, &req.id, true, AUTOMATIC, now)
            .await
        {
            Ok(r) => Ok(Outcome::Approved(r)),
            // An owner decided in between: that decision stands.
            Err(SignUpError::AlreadyDecided(r)) => Ok(Outcome::Approved(*r)),
            Err(e) => Err(e),
        };
    }
    let Some(mailer) = mailer else {
        tracing::warn!(request = %req.id, "no mail configured: owners are not told of sign-up requests");
        return Ok(Outcome::Pending(req));
    };
    let link = format!("{base}/.portcullis/sign-up/review?id={}", req.id);
    // A group that cannot be read is logged there; its members are not told.
    let (owners, _unread_groups) = crate::guests::owner_emails(store, app, &user.email).await;
    for to in owners {
        let sent = mailer
            .send(
                &to,
                &Message::SignUpRequest {
                    requester: user.email.clone(),
                    app: app.title.clone(),
                    link: link.clone(),
                },
            )
            .await;
        // One owner's mailbox failing must not lose the request; the
        // others (and the owners' pages) still see it.
        if let Err(e) = sent {
            tracing::warn!(error = %e, request = %req.id, "sign-up request mail to an owner not sent");
        }
    }
    Ok(Outcome::Pending(req))
}

/// Approves or denies the pending request `id` as `actor` (an owner's
/// e-mail, or [`AUTOMATIC`]). The decision is one conditional statement:
/// of racing decisions exactly one wins, the others get
/// [`SignUpError::AlreadyDecided`]. Approval grants the app for
/// `access_days` from now (the access panel is the mail's link); either
/// way the partner gets the decision mail.
#[allow(clippy::too_many_arguments)]
pub async fn decide_request(
    config: &Config,
    store: &Store,
    mailer: Option<&Mailer>,
    base: &str,
    id: &str,
    approve: bool,
    actor: &str,
    now: OffsetDateTime,
) -> Result<AccessRequest, SignUpError> {
    let status = if approve {
        RequestStatus::Approved
    } else {
        RequestStatus::Denied
    };
    let Some(req) = store.decide_access_request(id, status, actor, now).await? else {
        return Err(match store.get_access_request(id).await? {
            Some(r) => SignUpError::AlreadyDecided(Box::new(r)),
            None => SignUpError::NotFound(id.to_string()),
        });
    };
    let app = config.apps.iter().find(|a| a.name == req.app);
    let title = app.map_or_else(|| req.app.clone(), |a| a.title.clone());
    if approve {
        let days = app
            .and_then(|a| a.sign_up.as_ref())
            .map_or(30, |s| s.access_days);
        let end = now + time::Duration::days(i64::from(days));
        store
            .grant_assignment(&req.user_id, &req.app, Some(end), Some(actor), now)
            .await?;
    }
    audit(
        store,
        &req,
        actor,
        if approve {
            "access_approved"
        } else {
            "access_denied"
        },
        now,
    )
    .await;
    // Approved: the app itself (its first host, on the auth host's scheme
    // and port); declined: the access panel.
    let link = match (
        approve,
        app.and_then(|a| a.hosts.first().map(|h| (a, h))),
        &config.sign_in,
    ) {
        (true, Some((a, host)), Some(s)) => format!(
            "{}{}",
            base.replacen(&s.host, host, 1),
            a.path_prefix.as_deref().unwrap_or("/")
        ),
        _ => format!("{base}/.portcullis/apps"),
    };
    if let (Some(mailer), Some(user)) = (mailer, store.get_user(&req.user_id).await?) {
        let sent = mailer
            .send(
                &user.email,
                &Message::SignUpDecision {
                    app: title,
                    approved: approve,
                    link,
                },
            )
            .await;
        if let Err(e) = sent {
            // The decision stands; the partner sees it on the access panel.
            tracing::warn!(error = %e, request = %req.id, "sign-up decision mail not sent");
        }
    }
    Ok(req)
}

async fn audit(store: &Store, req: &AccessRequest, actor: &str, action: &str, now: OffsetDateTime) {
    let r = store
        .append_audit(&NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: action.to_string(),
            subject: Some(req.user_id.clone()),
            app: Some(req.app.clone()),
            detail: serde_json::json!({ "request": req.id, "attributes": req.attributes }),
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}
