//! The invitation operations every door shares: create (a guest user, the
//! invitation, the e-mail), resend (a new link; the old one dies), revoke,
//! and redeem. The admin API, the CLI, the owners' pages and the portal's
//! `/.portcullis/invite` page (`portal::invitation`) all go through here.
//!
//! The link carries 256 random bits, stored only as a hash; it works once,
//! until it expires (`guests.invitation_lifetime`, 14 days by default),
//! unless revoked. Opening it (a GET, as mail
//! scanners do) never uses it: only a signed-in person whose e-mail matches
//! completes the redemption, and only then does access start.
//!
//! When the e-mail cannot be sent, the invitation stays pending (see
//! [`invite`] for why) and the answer says so with its id; inviting the
//! same address to the same apps again replaces it, so a retry never
//! leaves two.

use crate::config::Config;
use crate::mail::{Mailer, Message, check_domain, is_layout_control, normalise_email, paragraphs};
use crate::store::{
    Invitation, NewAuditEntry, NewInvitation, NewUser, Redemption, Store, StoreError, User,
    UserType, new_user_id,
};
use base64::Engine as _;
use time::OffsetDateTime;

/// How long a link works, from the config.
fn link_lifetime(config: &Config) -> time::Duration {
    time::Duration::try_from(config.guests.invitation_lifetime).unwrap_or(time::Duration::days(14))
}
/// The longest access an invitation may grant.
pub const MAX_ACCESS_DAYS: u32 = 366;
const MAX_MESSAGE_CHARS: usize = 2000;

/// What an inviter asks for.
#[derive(Clone, Debug)]
pub struct InviteRequest {
    pub email: String,
    pub apps: Vec<String>,
    /// Access ends at this time, or …
    pub access_until: Option<OffsetDateTime>,
    /// … this many days after redemption (default 30 when neither is set).
    pub access_days: Option<u32>,
    pub message: Option<String>,
    /// Who invites (shown in the mail and the audit log).
    pub inviter: String,
    /// The mail's language, as the inviter chose (`None`: the
    /// organisation's, `organisation.language`).
    pub language: Option<crate::i18n::Lang>,
}

/// Why an invitation could not be made; `field` names the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no invitation {0}")]
    NotFound(String),
    #[error("the invitation is no longer pending (redeemed, revoked or expired)")]
    NotPending,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The invitation is stored and pending, but its e-mail did not go
    /// out (relay down or refusing, timeout). Resending it, or inviting the
    /// same address to the same apps again, delivers it; nothing else is
    /// needed and nothing was duplicated.
    #[error(
        "the invitation e-mail was not sent ({reason}); invitation {} for {} stays pending, \
         so nothing is lost: resend it once mail works (inviting {} to the same apps again \
         replaces it rather than adding a second one)",
        .invitation.id, .invitation.email, .invitation.email
    )]
    NotSent {
        invitation: Box<Invitation>,
        reason: String,
    },
    #[error("sign-in is not configured (no sign_in.host): invitation links need it")]
    NoSignIn,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InviteError {
    InviteError::Invalid {
        field,
        message: message.into(),
    }
}

/// The redemption link's base: the auth host as the public listener serves
/// it (from the config, never from a request's `Host`).
pub fn link_base(config: &Config) -> Result<String, InviteError> {
    let host = &config.sign_in.as_ref().ok_or(InviteError::NoSignIn)?.host;
    Ok(match (&config.listen.https, &config.listen.http) {
        (Some(h), _) if h.address.port() == 443 => format!("https://{host}"),
        (Some(h), _) => format!("https://{host}:{}", h.address.port()),
        (None, Some(a)) if a.port() == 80 => format!("http://{host}"),
        (None, Some(a)) => format!("http://{host}:{}", a.port()),
        (None, None) => format!("https://{host}"),
    })
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// "8 December 2026".
pub fn date(t: OffsetDateTime) -> String {
    format!("{} {} {}", t.day(), t.month(), t.year())
}

/// "on 8 December 2026".
pub fn human_date(t: OffsetDateTime) -> String {
    format!("on {}", date(t))
}

/// The first layout control in `text` (see [`is_layout_control`]), said for
/// an error message; `allowed` are the ones the field may hold.
fn layout_control(text: &str, allowed: &[char]) -> Option<String> {
    text.chars()
        .find(|c| is_layout_control(*c) && !allowed.contains(c))
        .map(|c| format!("U+{:04X}", u32::from(c)))
}

/// Invites a guest: checks the request, makes (or reuses) the guest user,
/// stores the invitation and sends the e-mail. Returns the invitation and
/// the link (the caller must never log the link).
///
/// What it refuses ([`InviteError::Invalid`], naming the field): an
/// address whose domain could be a look-alike ([`check_domain`]: mixed
/// scripts, `fabrıkam` for `fabrikam`), an inviter with a line break or
/// another control character (it is shown in the plain-text mail, where
/// `Alice\r\nClick http://evil` would add a line that reads as ours), and
/// a message with control characters other than line breaks and tabs
/// (its line breaks are kept, as `\n`: a message has paragraphs).
///
/// A pending invitation to the same address for the same apps is replaced
/// (revoked, audit `invitation_revoked` with `replaced_by`): an admin who
/// retries after a failed send, or invites twice, ends with one pending
/// invitation and one live link, carrying the latest terms.
///
/// When the mail cannot be sent, the invitation is kept, pending, and
/// [`InviteError::NotSent`] carries it. This is deliberate (the SMTP-fault
/// test in `tests/faults.rs` relies on it): the admin's request is
/// recorded, not lost, and a resend delivers it once mail works. Deleting
/// it instead would need the guest user removed too, which is not safe
/// when the user existed before (an earlier invitation, a revoked
/// assignment). The user is made once per address and reused by a retry,
/// so nothing is duplicated either way.
pub async fn invite(
    config: &Config,
    store: &Store,
    mailer: &Mailer,
    req: &InviteRequest,
    now: OffsetDateTime,
) -> Result<(Invitation, String), InviteError> {
    let base = link_base(config)?;
    let email = normalise_email(&req.email)
        .ok_or_else(|| invalid("email", format!("`{}` is not an e-mail address", req.email)))?;
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    // Before anything else about the domain: a look-alike of a member
    // domain must not be answered as "a member domain".
    check_domain(domain).map_err(|e| invalid("email", format!("`{email}`: {e}")))?;
    if config
        .organisation
        .member_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Err(invalid(
            "email",
            format!("{domain} is a member domain of the organisation: members need no invitation"),
        ));
    }
    if req.apps.is_empty() {
        return Err(invalid("apps", "name at least one app"));
    }
    let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
    for app in &req.apps {
        if !names.contains(&app.as_str()) {
            let hint = rules::closest(app, names.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(invalid("apps", format!("no app named `{app}`{hint}")));
        }
    }
    let (access_until, access_days) = match (req.access_until, req.access_days) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "access_until",
                "give an end date or a number of days, not both",
            ));
        }
        (Some(t), None) if t <= now => {
            return Err(invalid("access_until", "must be in the future"));
        }
        (Some(t), None) if t > now + time::Duration::days(i64::from(MAX_ACCESS_DAYS)) => {
            return Err(invalid(
                "access_until",
                format!("at most {MAX_ACCESS_DAYS} days ahead"),
            ));
        }
        (Some(t), None) => (Some(t), None),
        (None, Some(d)) if d == 0 || d > MAX_ACCESS_DAYS => {
            return Err(invalid(
                "access_days",
                format!("between 1 and {MAX_ACCESS_DAYS}"),
            ));
        }
        (None, Some(d)) => (None, Some(d)),
        (None, None) => (None, Some(30)),
    };
    if let Some(c) = req
        .message
        .as_deref()
        .and_then(|m| layout_control(m, &['\r', '\n', '\t', '\u{85}', '\u{2028}', '\u{2029}']))
    {
        return Err(invalid(
            "message",
            format!("contains the control character {c}; only line breaks and tabs may be used"),
        ));
    }
    let message = req
        .message
        .as_deref()
        .map(|m| paragraphs(m).trim().to_string())
        .filter(|m| !m.is_empty());
    if message
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS)
    {
        return Err(invalid(
            "message",
            format!("at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    if req.inviter.trim().is_empty() {
        return Err(invalid("inviter", "say who invites"));
    }
    if let Some(c) = layout_control(&req.inviter, &[]) {
        return Err(invalid(
            "inviter",
            format!(
                "contains a line break or another control character ({c}); \
                 give one line, such as a name or an e-mail address"
            ),
        ));
    }
    // Read before ours exists: two racing invitations may then both stay
    // (a duplicate an admin can revoke), but neither can revoke the other's
    // and leave none.
    let replaced = pending_alike(store, &email, &req.apps, now).await?;
    let user = guest_for(store, &email, now).await?;
    let token = new_token();
    let invitation = store
        .create_invitation(
            &NewInvitation {
                email: email.clone(),
                user_id: user.id.clone(),
                apps: req.apps.clone(),
                access_until,
                access_days,
                message,
                inviter: req.inviter.trim().to_string(),
                expires_at: now + link_lifetime(config),
            },
            &token,
            now,
        )
        .await?;
    for old in &replaced {
        // `false`: redeemed or revoked meanwhile; not pending either way.
        if store.revoke_invitation(&old.id, now).await? {
            audit(
                store,
                old,
                &invitation.inviter,
                "invitation_revoked",
                now,
                serde_json::json!({ "replaced_by": invitation.id }),
            )
            .await;
        }
    }
    let link = format!("{base}/.portcullis/invite?token={token}");
    let sent = send(config, mailer, &invitation, &link, req.language).await;
    audit(
        store,
        &invitation,
        &invitation.inviter,
        "guest_invited",
        now,
        serde_json::json!({ "mail": if sent.is_ok() { "sent" } else { "not sent" } }),
    )
    .await;
    match sent {
        Ok(()) => Ok((invitation, link)),
        Err(reason) => Err(InviteError::NotSent {
            invitation: Box::new(invitation),
            reason,
        }),
    }
}

/// The pending invitations to `email` for exactly the apps `apps` (in any
/// order): the ones a new invitation with these apps replaces.
async fn pending_alike(
    store: &Store,
    email: &str,
    apps: &[String],
    now: OffsetDateTime,
) -> Result<Vec<Invitation>, InviteError> {
    let set = |a: &[String]| {
        let mut v: Vec<String> = a.to_vec();
        v.sort();
        v.dedup();
        v
    };
    let wanted = set(apps);
    Ok(store
        .list_invitations()
        .await?
        .into_iter()
        .filter(|i| {
            i.status(now) == "pending"
                && i.email.eq_ignore_ascii_case(email)
                && set(&i.apps) == wanted
        })
        .collect())
}

/// The guest user for `email`: the existing one, or a new one without an
/// identity (linked at the first sign-in).
async fn guest_for(store: &Store, email: &str, now: OffsetDateTime) -> Result<User, InviteError> {
    match store.get_user_by_email(email).await? {
        Some(u) if u.user_type == UserType::Member => Err(invalid(
            "email",
            format!("{email} is a member: members need no invitation"),
        )),
        Some(u) => Ok(u),
        None => Ok(store
            .upsert_user(
                &NewUser {
                    id: new_user_id(),
                    email: email.to_string(),
                    display_name: None,
                    user_type: UserType::Guest,
                    identity: None,
                },
                now,
            )
            .await?),
    }
}

/// Sends the invitation mail in `lang` (`None`: the organisation's);
/// `Err` says why it did not go out.
async fn send(
    config: &Config,
    mailer: &Mailer,
    inv: &Invitation,
    link: &str,
    lang: Option<crate::i18n::Lang>,
) -> Result<(), String> {
    let titles = inv
        .apps
        .iter()
        .map(|a| {
            config
                .apps
                .iter()
                .find(|c| &c.name == a)
                .map_or_else(|| a.clone(), |c| c.title.clone())
        })
        .collect();
    mailer
        .send_in(
            &inv.email,
            lang,
            &Message::Invitation {
                inviter: inv.inviter.clone(),
                apps: titles,
                link: link.to_string(),
                personal_message: inv.message.clone(),
                expires: crate::mail::MailDate::On(inv.expires_at),
            },
        )
        .await
        .map_err(|e| e.to_string())
}

/// Appends `action` about `inv`; `extra` (an object, or null) adds to the
/// detail `{invitation, apps}`.
async fn audit(
    store: &Store,
    inv: &Invitation,
    actor: &str,
    action: &str,
    now: OffsetDateTime,
    extra: serde_json::Value,
) {
    let mut detail = serde_json::json!({ "invitation": inv.id, "apps": inv.apps });
    if let (Some(d), serde_json::Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    let r = store
        .append_audit(&NewAuditEntry {
            at: now,
            actor: actor.to_string(),
            action: action.to_string(),
            subject: Some(inv.user_id.clone()),
            app: None,
            detail,
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}

/// Sends a pending invitation again with a new link; the old link dies.
pub async fn resend(
    config: &Config,
    store: &Store,
    mailer: &Mailer,
    id: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<(Invitation, String), InviteError> {
    let base = link_base(config)?;
    let token = new_token();
    if !store
        .reissue_invitation(id, &token, now + link_lifetime(config), now)
        .await?
    {
        return Err(not_changed(store, id).await?);
    }
    let inv = changed(store, id).await?;
    let link = format!("{base}/.portcullis/invite?token={token}");
    // The old link died with the reissue; when this mail fails the
    // invitation stays pending for the next resend, as after `invite`.
    if let Err(reason) = send(config, mailer, &inv, &link, None).await {
        return Err(InviteError::NotSent {
            invitation: Box::new(inv),
            reason,
        });
    }
    audit(
        store,
        &inv,
        actor,
        "invitation_resent",
        now,
        serde_json::Value::Null,
    )
    .await;
    Ok((inv, link))
}

/// Why a change to invitation `id` did not apply: it is gone, or no
/// longer pending.
async fn not_changed(store: &Store, id: &str) -> Result<InviteError, InviteError> {
    Ok(match store.get_invitation(id).await? {
        None => InviteError::NotFound(id.to_string()),
        Some(_) => InviteError::NotPending,
    })
}

/// Invitation `id` as a change just left it.
async fn changed(store: &Store, id: &str) -> Result<Invitation, InviteError> {
    store
        .get_invitation(id)
        .await?
        .ok_or_else(|| InviteError::NotFound(id.to_string()))
}

/// Revokes a pending invitation.
pub async fn revoke(
    store: &Store,
    id: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<Invitation, InviteError> {
    if !store.revoke_invitation(id, now).await? {
        return Err(not_changed(store, id).await?);
    }
    let inv = changed(store, id).await?;
    audit(
        store,
        &inv,
        actor,
        "invitation_revoked",
        now,
        serde_json::Value::Null,
    )
    .await;
    Ok(inv)
}

/// Why a redemption did not happen, as the page explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Expired,
    Revoked,
    AlreadyUsed,
    /// Signed in as someone else than the invited address.
    OtherPerson,
}

/// Redeems `token` for the signed-in `user`: the e-mail must be the invited
/// one (checked before the link is used, so signing in with the wrong
/// account does not burn it), then the link is used atomically and the
/// apps are granted until the invitation's end.
pub async fn redeem(
    store: &Store,
    token: &str,
    user: &User,
    now: OffsetDateTime,
) -> Result<Result<Invitation, Refusal>, StoreError> {
    match store.invitation_by_token(token).await? {
        None => return Ok(Err(Refusal::NotFound)),
        Some(i) if i.user_id != user.id && !i.email.eq_ignore_ascii_case(&user.email) => {
            return Ok(Err(Refusal::OtherPerson));
        }
        Some(_) => {}
    }
    let inv = match store.redeem_invitation(token, now).await? {
        Redemption::Redeemed(i) => *i,
        Redemption::NotFound => return Ok(Err(Refusal::NotFound)),
        Redemption::Expired => return Ok(Err(Refusal::Expired)),
        Redemption::Revoked => return Ok(Err(Refusal::Revoked)),
        Redemption::AlreadyUsed => return Ok(Err(Refusal::AlreadyUsed)),
    };
    let end = inv.access_end(now);
    for app in &inv.apps {
        store
            .grant_assignment(&user.id, app, Some(end), Some(&inv.inviter), now)
            .await?;
    }
    audit(
        store,
        &inv,
        &user.id,
        "invitation_redeemed",
        now,
        serde_json::Value::Null,
    )
    .await;
    Ok(Ok(inv))
}

#[cfg(test)]
mod tests;
