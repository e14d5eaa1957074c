//! What a person (or the lifecycle task) can do to a guest: find, extend,
//! end, remove, reset MFA, block and unblock sign-in, sign out of one
//! session or everywhere. Each is one function that writes its audit
//! entry; the doors — the admin API (`admin::guests`), the CLI (`portcullis
//! guests`), the owners' pages (`portal::manage`) and the lifecycle task —
//! only parse their input, call it, and render the answer (as
//! `crate::invitations` is for invitations).
//!
//! A door says who acts, when and where it runs ([`Caller`]). Where it runs
//! decides who else learns of the change at once: inside the gateway, this
//! replica's session-revocation list and directory cache; from the CLI,
//! running gateways learn through the store (ended sessions within about a
//! second, `session::sync`; directory changes within the cache's TTL).
//!
//! An audit entry that cannot be written is logged and the operation stands
//! (it has happened in the store already), as in `crate::invitations`.

use crate::config::{App, Owner};
use crate::mfa::{MfaError, Totp};
use crate::state::Gateway;
use crate::store::{NewAuditEntry, Store, StoreError, User, UserState, UserType};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// The longest access a grant or extension may give, in days from now.
pub use crate::invitations::MAX_ACCESS_DAYS;

/// Where an operation runs.
#[derive(Clone, Copy)]
pub enum Place<'a> {
    /// Inside the running gateway (the admin API, the owners' pages): its
    /// session-revocation list and directory cache learn at once.
    Gateway(&'a Gateway),
    /// The store alone (the CLI, the lifecycle task's run): running
    /// gateways learn through the store.
    Store(&'a Store),
}

impl<'a> Place<'a> {
    pub fn store(self) -> &'a Store {
        match self {
            Place::Gateway(g) => &g.store,
            Place::Store(s) => s,
        }
    }

    /// `user_id`'s directory entry changed (assignments, or deleted).
    fn changed(self, user_id: &str) {
        if let Place::Gateway(g) = self {
            g.directory.invalidate_user(user_id);
        }
    }
}

/// Who acts, when, and where: what a door gives every operation. `actor`
/// is the audit entry's (`admin`, the shell user, an owner's user id).
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub place: Place<'a>,
    pub actor: &'a str,
    pub now: OffsetDateTime,
}

impl Caller<'_> {
    fn store(&self) -> &Store {
        self.place.store()
    }

    async fn audit(
        &self,
        action: &str,
        subject: &str,
        app: Option<&str>,
        detail: serde_json::Value,
    ) {
        let r = self
            .store()
            .append_audit(&NewAuditEntry {
                at: self.now,
                actor: self.actor.to_string(),
                action: action.to_string(),
                subject: Some(subject.to_string()),
                app: app.map(str::to_string),
                detail,
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, action, "audit entry not written");
        }
    }
}

/// The guest with this id (`u_…`) or e-mail; `None`: no such user, or a
/// member (members are not managed here).
pub async fn find(store: &Store, id_or_email: &str) -> Result<Option<User>, StoreError> {
    let user = if id_or_email.contains('@') {
        store.get_user_by_email(id_or_email).await?
    } else {
        store.get_user(id_or_email).await?
    };
    Ok(user.filter(|u| u.user_type == UserType::Guest))
}

/// An end given as an RFC 3339 time or a date `YYYY-MM-DD` (UTC midnight);
/// `None` when it is neither.
pub fn parse_until(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            let f = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &f)
                .ok()
                .map(|d| d.midnight().assume_utc())
        })
}

/// The end of a grant or extension: `days` from `now` (1 to 366) or
/// `until` (RFC 3339 or `YYYY-MM-DD`, UTC midnight; in the future, at most
/// 366 days ahead). Exactly one. `Err((field, message))` names the input.
pub fn access_end(
    days: Option<i64>,
    until: Option<&str>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, (&'static str, String)> {
    let max = i64::from(MAX_ACCESS_DAYS);
    match (days, until) {
        (Some(_), Some(_)) => Err(("until", "give days or until, not both".into())),
        (None, None) => Err(("days", format!("give days (1 to {max}) or until (a date)"))),
        (Some(d), None) if !(1..=max).contains(&d) => {
            Err(("days", format!("`{d}` is out of range; use 1 to {max}")))
        }
        (Some(d), None) => Ok(now + time::Duration::days(d)),
        (None, Some(s)) => match parse_until(s) {
            None => Err((
                "until",
                format!("`{s}` is not an RFC 3339 time or a date like 2026-12-31"),
            )),
            Some(t) if t <= now => Err(("until", format!("`{s}` is not in the future"))),
            Some(t) if t > now + time::Duration::days(max) => {
                Err(("until", format!("`{s}` is more than {max} days ahead")))
            }
            Some(t) => Ok(t),
        },
    }
}

/// What [`extend`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extended {
    /// The guest had no assignment to the app (audited `assignment_granted`).
    Granted,
    /// The guest had one, live or ended (audited `assignment_extended`).
    Extended,
}

/// Grants `guest` access to `app` until `until`, or moves the end of the
/// assignment they have (live or ended). The audit entry
/// (`assignment_granted` or `assignment_extended`, by the caller, for the
/// app) keeps `until`, and `days` when the person asked in days (the owners'
/// pages). `until` must be in the future (else [`StoreError::Invalid`]);
/// the door checks the range ([`access_end`]).
pub async fn extend(
    caller: Caller<'_>,
    guest: &User,
    app: &str,
    until: OffsetDateTime,
    days: Option<u32>,
) -> Result<Extended, StoreError> {
    let store = caller.store();
    let had = store
        .assignments_of_user(&guest.id)
        .await?
        .iter()
        .any(|a| a.app == app);
    store
        .grant_assignment(&guest.id, app, Some(until), Some(caller.actor), caller.now)
        .await?;
    caller.place.changed(&guest.id);
    let mut detail = serde_json::json!({ "until": rfc3339(until) });
    if let Some(days) = days {
        detail["days"] = days.into();
    }
    let (done, action) = if had {
        (Extended::Extended, "assignment_extended")
    } else {
        (Extended::Granted, "assignment_granted")
    };
    caller.audit(action, &guest.id, Some(app), detail).await;
    Ok(done)
}

/// Ends `guest`'s access to `app` now (audited `assignment_revoked`). For
/// the lifecycle task this counts as the assignment's end (the guest is
/// blocked on its next run if it was the last). `false`: there was no
/// assignment, and nothing is audited.
pub async fn end(caller: Caller<'_>, guest: &User, app: &str) -> Result<bool, StoreError> {
    if !caller.store().revoke_assignment(&guest.id, app).await? {
        return Ok(false);
    }
    caller.place.changed(&guest.id);
    caller
        .audit(
            "assignment_revoked",
            &guest.id,
            Some(app),
            serde_json::json!({}),
        )
        .await;
    Ok(true)
}

/// Ends every live session of `user_id` ("sign out everywhere"); returns
/// the session ids ended now. Not audited: the operation that asks for it
/// is.
pub async fn end_sessions(
    place: Place<'_>,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    match place {
        // Also into this replica's revocation list, so it refuses them now.
        Place::Gateway(g) => g.revoke_sessions_of_user(user_id).await,
        Place::Store(s) => s.revoke_sessions_of_user(user_id, now).await,
    }
}

/// How the console and the admin API name one session: a digest of its
/// id (16 bytes of SHA-256, URL-safe base64), so pages, API answers and
/// the audit log never show the id the session token carries.
pub fn session_handle(sid: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(sid.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs `guest` out of the session named by `handle` ([`session_handle`];
/// audited `session_ended` with its IdP and start): inside the gateway
/// this replica refuses it at once, the others within about a second
/// (`session::sync`). `false`: no live session of this guest has that
/// handle (ended meanwhile, or another person's), and nothing is audited.
pub async fn end_session(
    caller: Caller<'_>,
    guest: &User,
    handle: &str,
) -> Result<bool, StoreError> {
    let sessions = caller
        .store()
        .sessions_of_user(&guest.id, caller.now)
        .await?;
    let Some(s) = sessions.iter().find(|s| session_handle(&s.sid) == handle) else {
        return Ok(false);
    };
    match caller.place {
        Place::Gateway(g) => {
            g.revoke_session(&s.sid, s.expires_at.unix_timestamp())
                .await?
        }
        Place::Store(store) => {
            store
                .revoke_session(&s.sid, s.expires_at, caller.now)
                .await?
        }
    }
    caller
        .audit(
            "session_ended",
            &guest.id,
            None,
            serde_json::json!({ "session": handle, "idp": s.idp, "started": rfc3339(s.created_at) }),
        )
        .await;
    Ok(true)
}

/// Signs `guest` out everywhere (audited `sessions_ended` with how many):
/// every live session ends, as in [`end_sessions`]. Returns that number.
pub async fn sign_out_everywhere(caller: Caller<'_>, guest: &User) -> Result<usize, StoreError> {
    let ended = end_sessions(caller.place, &guest.id, caller.now)
        .await?
        .len();
    caller
        .audit(
            "sessions_ended",
            &guest.id,
            None,
            serde_json::json!({ "ended": ended }),
        )
        .await;
    Ok(ended)
}

/// Ends `guest`'s sessions, then deletes them with their assignments and
/// memberships (audited `guest_removed`, keeping the e-mail and how many
/// sessions ended). Returns that number.
///
/// Sessions first: deleting the user deletes their session rows, and with
/// them what would tell the replicas to refuse those sessions.
pub async fn remove(caller: Caller<'_>, guest: &User) -> Result<usize, StoreError> {
    let ended = end_sessions(caller.place, &guest.id, caller.now)
        .await?
        .len();
    caller.store().delete_user(&guest.id).await?;
    caller.place.changed(&guest.id);
    caller
        .audit(
            "guest_removed",
            &guest.id,
            None,
            serde_json::json!({ "email": guest.email, "sessions_revoked": ended }),
        )
        .await;
    Ok(ended)
}

/// The lifecycle's removal: ends the sessions of `user_id`, then deletes
/// them only if they are still due (blocked at or before `blocked_by`, no
/// live access at `now`); the store audits `guest_deleted` (actor `system`)
/// in the same transaction. `false`: no longer due (unblocked, re-granted,
/// or deleted by another replica meanwhile). Sessions first, as in
/// [`remove`].
pub async fn remove_expired(
    place: Place<'_>,
    user_id: &str,
    blocked_by: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    end_sessions(place, user_id, now).await?;
    let deleted = place
        .store()
        .delete_ended_guest(user_id, blocked_by, now)
        .await?;
    if deleted {
        place.changed(user_id);
    }
    Ok(deleted)
}

/// Blocks `guest`'s sign-in (audited `guest_blocked`): from now on the
/// account is refused everywhere with the reason `account_blocked` — at
/// sign-in, on the portal's pages, and on every app for the sessions they
/// hold (inside the gateway its directory cache drops them, so the next
/// request reads the block; other replicas within the cache's TTL). Their
/// sessions are kept, so [`unblock`] gives them back. Unlike the
/// lifecycle's block this one sets no `blocked_at`, so the lifecycle never
/// deletes a guest for it. `false`: already blocked; nothing audited.
pub async fn block(caller: Caller<'_>, guest: &User) -> Result<bool, StoreError> {
    set_blocked(caller, guest, true).await
}

/// Lets `guest` sign in again (audited `guest_unblocked`), whoever blocked
/// them (a person, or the lifecycle when their last access ended: the
/// lifecycle's delete is called off too). `false`: not blocked; nothing
/// audited.
pub async fn unblock(caller: Caller<'_>, guest: &User) -> Result<bool, StoreError> {
    set_blocked(caller, guest, false).await
}

async fn set_blocked(caller: Caller<'_>, guest: &User, blocked: bool) -> Result<bool, StoreError> {
    let (state, action) = if blocked {
        (UserState::Blocked, "guest_blocked")
    } else {
        (UserState::Active, "guest_unblocked")
    };
    // Read again: the door's copy may be older than another's change.
    let now_state = caller
        .store()
        .get_user(&guest.id)
        .await?
        .map(|u| u.state)
        .ok_or(StoreError::NotFound {
            op: "set_user_state",
            what: "user",
        })?;
    if now_state == state {
        return Ok(false);
    }
    caller.store().set_user_state(&guest.id, state).await?;
    caller.place.changed(&guest.id);
    caller
        .audit(
            action,
            &guest.id,
            None,
            serde_json::json!({ "email": guest.email }),
        )
        .await;
    Ok(true)
}

/// Resets `guest`'s MFA: their factor and recovery codes are deleted and
/// they enrol again at their next step-up. `totp` audits `mfa_reset` by the
/// caller. Returns whether a factor existed.
pub async fn reset_mfa(caller: Caller<'_>, totp: &Totp, guest: &User) -> Result<bool, MfaError> {
    totp.reset(caller.store(), &guest.id, caller.actor, caller.now)
        .await
}

/// The e-mails of `app`'s owners, who are told about its guests (a sign-up
/// request, an access ending): those named and the active members of owner
/// groups, lower-case, sorted, without duplicates, never `leave_out` (the
/// guest). A group that cannot be read is logged and skipped; the second
/// value counts those.
pub async fn owner_emails(store: &Store, app: &App, leave_out: &str) -> (Vec<String>, usize) {
    let mut emails = BTreeSet::new();
    let mut unread = 0;
    for owner in &app.owners {
        match owner {
            Owner::Email(e) => {
                emails.insert(e.to_ascii_lowercase());
            }
            Owner::Group(g) => match store.members_of_group(g).await {
                Ok(members) => emails.extend(
                    members
                        .into_iter()
                        .filter(|m| m.state == UserState::Active)
                        .map(|m| m.email.to_ascii_lowercase()),
                ),
                Err(e) => {
                    unread += 1;
                    tracing::warn!(app = %app.name, group = %g, error = %e, "owner group not read; its members are not told");
                }
            },
        }
    }
    emails.remove(&leave_out.to_ascii_lowercase());
    (emails.into_iter().collect(), unread)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    //! Each operation against a real SQLite store on a fixed clock: what it
    //! changes and the audit entry it writes, by whom.
    use super::*;
    use crate::store::{AuditQuery, NewUser, SessionRecord};

    fn t(days: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + days * 86_400).expect("timestamp")
    }

    async fn store_with_guest() -> (tempfile::TempDir, Store, User) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .expect("store");
        let guest = store
            .upsert_user(
                &NewUser {
                    id: "u_ann".into(),
                    email: "ann@contoso.com".into(),
                    display_name: None,
                    user_type: UserType::Guest,
                    identity: None,
                },
                t(0),
            )
            .await
            .expect("guest");
        (dir, store, guest)
    }

    /// (actor, action, app, detail) of every entry about `subject`, oldest first.
    async fn audit(store: &Store, subject: &str) -> Vec<(String, String, Option<String>, String)> {
        let q = AuditQuery {
            subject: Some(subject.into()),
            ..AuditQuery::default()
        };
        let mut entries: Vec<_> = store
            .list_audit(&q)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| (e.actor, e.action, e.app, e.detail.to_string()))
            .collect();
        entries.reverse();
        entries
    }

    #[tokio::test]
    async fn extend_grants_then_extends_and_end_revokes_once() {
        let (_dir, store, ann) = store_with_guest().await;
        let by = |actor, now| Caller {
            place: Place::Store(&store),
            actor,
            now,
        };
        let done = extend(by("admin", t(0)), &ann, "wiki", t(10), None).await;
        assert_eq!(done.expect("granted"), Extended::Granted);
        let done = extend(by("u_olga", t(1)), &ann, "wiki", t(20), Some(19)).await;
        assert_eq!(done.expect("extended"), Extended::Extended);
        let ends: Vec<_> = store
            .assignments_of_user("u_ann")
            .await
            .expect("assignments")
            .into_iter()
            .map(|a| (a.app, a.expires_at, a.granted_by))
            .collect();
        assert_eq!(
            ends,
            [("wiki".to_string(), Some(t(20)), Some("u_olga".to_string()))]
        );
        assert!(end(by("jo", t(2)), &ann, "wiki").await.expect("ended"));
        assert!(!end(by("jo", t(2)), &ann, "wiki").await.expect("no more"));
        let wiki = Some("wiki".to_string());
        assert_eq!(
            audit(&store, "u_ann").await,
            [
                (
                    "admin".into(),
                    "assignment_granted".into(),
                    wiki.clone(),
                    r#"{"until":"2027-01-25T08:00:00Z"}"#.into()
                ),
                (
                    "u_olga".into(),
                    "assignment_extended".into(),
                    wiki.clone(),
                    r#"{"days":19,"until":"2027-02-04T08:00:00Z"}"#.into()
                ),
                ("jo".into(), "assignment_revoked".into(), wiki, "{}".into()),
            ]
        );
    }

    #[tokio::test]
    async fn remove_ends_sessions_first_then_deletes_and_audits() {
        let (_dir, store, ann) = store_with_guest().await;
        store
            .insert_session(&SessionRecord {
                sid: "s-ann".into(),
                user_id: "u_ann".into(),
                idp: "contoso".into(),
                created_at: t(0),
                expires_at: t(1),
                device: None,
            })
            .await
            .expect("session");
        let caller = Caller {
            place: Place::Store(&store),
            actor: "jo",
            now: t(0),
        };
        assert_eq!(remove(caller, &ann).await.expect("removed"), 1);
        assert!(
            find(&store, "ann@contoso.com")
                .await
                .expect("find")
                .is_none()
        );
        assert_eq!(
            audit(&store, "u_ann").await,
            [(
                "jo".into(),
                "guest_removed".into(),
                None,
                r#"{"email":"ann@contoso.com","sessions_revoked":1}"#.into()
            )]
        );
    }

    #[tokio::test]
    async fn block_and_unblock_change_the_state_once_each_and_are_audited() {
        let (_dir, store, ann) = store_with_guest().await;
        let by = |actor| Caller {
            place: Place::Store(&store),
            actor,
            now: t(1),
        };
        assert!(block(by("jo"), &ann).await.expect("blocked"));
        assert!(!block(by("jo"), &ann).await.expect("already"));
        let state = |s: &Store| {
            let s = s.clone();
            async move { s.get_user("u_ann").await.expect("user").expect("ann").state }
        };
        assert_eq!(state(&store).await, UserState::Blocked);
        // The directory the request path reads says so.
        let dir = store.directory_user("u_ann").await.expect("directory");
        assert_eq!(dir.expect("ann").state, UserState::Blocked);
        assert!(unblock(by("kim"), &ann).await.expect("unblocked"));
        assert!(!unblock(by("kim"), &ann).await.expect("not blocked"));
        assert_eq!(state(&store).await, UserState::Active);
        assert_eq!(
            audit(&store, "u_ann").await,
            [
                (
                    "jo".into(),
                    "guest_blocked".into(),
                    None,
                    r#"{"email":"ann@contoso.com"}"#.into()
                ),
                (
                    "kim".into(),
                    "guest_unblocked".into(),
                    None,
                    r#"{"email":"ann@contoso.com"}"#.into()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn one_session_or_all_end_and_another_guests_session_is_refused() {
        let (_dir, store, ann) = store_with_guest().await;
        for (sid, user) in [("s-1", "u_ann"), ("s-2", "u_ann"), ("s-3", "u_ann")] {
            store
                .insert_session(&SessionRecord {
                    sid: sid.into(),
                    user_id: user.into(),
                    idp: "contoso".into(),
                    created_at: t(0),
                    expires_at: t(2),
                    device: None,
                })
                .await
                .expect("session");
        }
        let caller = Caller {
            place: Place::Store(&store),
            actor: "jo",
            now: t(1),
        };
        let one = session_handle("s-1");
        assert!(end_session(caller, &ann, &one).await.expect("ended"));
        assert!(!end_session(caller, &ann, &one).await.expect("gone"));
        assert!(
            !end_session(caller, &ann, "s-2")
                .await
                .expect("a sid is no handle")
        );
        assert!(!end_session(caller, &ann, "nobody's").await.expect("none"));
        assert!(store.is_revoked("s-1").await.expect("revoked?"));
        assert_eq!(sign_out_everywhere(caller, &ann).await.expect("all"), 2);
        assert!(
            store
                .sessions_of_user("u_ann", t(1))
                .await
                .expect("live")
                .is_empty()
        );
        let actions: Vec<String> = audit(&store, "u_ann")
            .await
            .into_iter()
            .map(|e| e.1)
            .collect();
        assert_eq!(actions, ["session_ended", "sessions_ended"]);
    }

    #[tokio::test]
    async fn find_takes_an_id_or_an_email_and_never_a_member() {
        let (_dir, store, _ann) = store_with_guest().await;
        for key in ["u_ann", "ann@contoso.com"] {
            let found = find(&store, key).await.expect("find");
            assert_eq!(found.map(|u| u.id).as_deref(), Some("u_ann"), "{key}");
        }
        store
            .upsert_user(
                &NewUser {
                    id: "u_mia".into(),
                    email: "mia@tailwindtraders.com".into(),
                    display_name: None,
                    user_type: UserType::Member,
                    identity: None,
                },
                t(0),
            )
            .await
            .expect("member");
        assert!(find(&store, "u_mia").await.expect("find").is_none());
    }
}
