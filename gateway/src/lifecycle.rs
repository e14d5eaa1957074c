//! The guest lifecycle task (issue 6, "time-limited access"): every
//! [`interval`] (5 minutes; `PORTCULLIS_LIFECYCLE_INTERVAL_SECS` overrides
//! it, for tests) it
//!
//! 1. ends the access of guests whose last assignment has ended (or was
//!    removed, as an owner ending it does): audits `access_expired` once per
//!    end and, as `guests.on_last_assignment_end` says, also blocks them
//!    (`guest_blocked`) — `block` and `delete`;
//! 2. ends every session of a guest it blocked
//!    ([`guests::end_sessions`]);
//! 3. with `delete`, deletes guests blocked `guests.delete_after` ago and
//!    still without access (`guest_deleted`), their sessions revoked first
//!    ([`guests::remove_expired`]);
//! 4. sends the access-ending reminder to the guest and to each owner of the
//!    app (e-mails, and the members of `group:NAME` owners) once per
//!    assignment end, `guests.reminder_before` ahead.
//!
//! Every step is claimed in the store by one conditional statement
//! ([`Store::end_guest_access`], [`Store::claim_reminders`],
//! [`Store::delete_ended_guest`] through [`guests::remove_expired`]), so
//! any number of replicas may run the task at once and each event happens
//! once. Members are never touched. An error (a store outage, a relay down)
//! is logged and the step is retried on the next run; nothing here stops
//! the gateway. Logs name users by id and apps by name, never an e-mail
//! body or link (the mailer logs the recipient).
//!
//! The request path does not wait for this task: an assignment's end is
//! judged at each request from the cached window, so access is denied at the
//! end itself; the task adds the block, the audit and the sign-out.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::config::{Config, LifecycleAction};
use crate::guests::{self, Place};
use crate::mail::{Mailer, Message};
use crate::state::Gateway;
use crate::store::{DueReminder, Store};

/// How often the task runs unless [`INTERVAL_ENV`] says otherwise.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// Environment variable overriding [`INTERVAL`], in whole seconds
/// (1 to 86400); meant for tests. Anything else keeps the default.
pub const INTERVAL_ENV: &str = "PORTCULLIS_LIFECYCLE_INTERVAL_SECS";

/// The run interval: [`INTERVAL_ENV`] when it holds 1 to 86400 seconds,
/// else [`INTERVAL`] (a bad value is logged).
pub fn interval() -> Duration {
    interval_from(std::env::var(INTERVAL_ENV).ok().as_deref())
}

/// [`interval`] for the variable's value, if set.
fn interval_from(value: Option<&str>) -> Duration {
    let Some(v) = value else {
        return INTERVAL;
    };
    match v.trim().parse::<u64>() {
        Ok(s @ 1..=86_400) => Duration::from_secs(s),
        _ => {
            tracing::warn!(
                value = %v,
                "{INTERVAL_ENV} is not a number of seconds from 1 to 86400; using {}s",
                INTERVAL.as_secs()
            );
            INTERVAL
        }
    }
}

/// What one run did, by user id (for the caller's cache, logs and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Guests whose last assignment ended (audited `access_expired`).
    pub expired: Vec<String>,
    /// Of those, the ones this run blocked.
    pub blocked: Vec<String>,
    /// Blocked guests whose sessions this run ended.
    pub signed_out: Vec<String>,
    /// Guests deleted after `delete_after`.
    pub deleted: Vec<String>,
    /// Reminders sent to the guest, as (user id, app).
    pub reminded: Vec<(String, String)>,
    /// Owner reminders sent, as (owner e-mail, app).
    pub owners_reminded: Vec<(String, String)>,
    /// Steps or items that failed (logged; retried next run).
    pub errors: usize,
}

impl Outcome {
    /// The users whose directory entry this run changed.
    pub fn changed_users(&self) -> impl Iterator<Item = &str> {
        self.expired.iter().chain(&self.deleted).map(String::as_str)
    }
}

/// One run of the task at `now` with `config`'s `guests` and `apps`.
/// `mailer: None` (no `mail` configured) skips the reminders, leaving them
/// unclaimed.
pub async fn run_once(
    config: &Config,
    store: &Store,
    mailer: Option<&Mailer>,
    now: OffsetDateTime,
) -> Outcome {
    let mut out = Outcome::default();
    let action = config.guests.on_last_assignment_end;
    end_access(store, action, now, &mut out).await;
    sign_out_blocked(store, now, &mut out).await;
    if action == LifecycleAction::Delete {
        delete_due(store, config.guests.delete_after, now, &mut out).await;
    }
    match mailer {
        Some(mailer) => remind(config, store, mailer, now, &mut out).await,
        None => tracing::debug!("no mail configured: no access-ending reminders"),
    }
    out
}

async fn end_access(
    store: &Store,
    action: LifecycleAction,
    now: OffsetDateTime,
    out: &mut Outcome,
) {
    let block = match action {
        LifecycleAction::None => false,
        LifecycleAction::Block | LifecycleAction::Delete => true,
    };
    match store.end_guest_access(block, now).await {
        Ok(ended) => {
            for g in ended {
                tracing::info!(user = %g.user_id, blocked = g.blocked, "guest's last assignment ended");
                if g.blocked {
                    out.blocked.push(g.user_id.clone());
                }
                out.expired.push(g.user_id);
            }
        }
        Err(e) => {
            out.errors += 1;
            tracing::warn!(error = %e, "guest expiry not checked; retried next run");
        }
    }
}

async fn sign_out_blocked(store: &Store, now: OffsetDateTime, out: &mut Outcome) {
    let users = match store.lifecycle_blocked_with_sessions(now).await {
        Ok(u) => u,
        Err(e) => {
            out.errors += 1;
            tracing::warn!(error = %e, "sessions of blocked guests not checked; retried next run");
            return;
        }
    };
    for user in users {
        match guests::end_sessions(Place::Store(store), &user, now).await {
            Ok(sids) => {
                tracing::info!(user = %user, sessions = sids.len(), "blocked guest signed out");
                out.signed_out.push(user);
            }
            Err(e) => {
                out.errors += 1;
                tracing::warn!(user = %user, error = %e, "blocked guest's sessions not ended; retried next run");
            }
        }
    }
}

async fn delete_due(store: &Store, delete_after: Duration, now: OffsetDateTime, out: &mut Outcome) {
    let blocked_by = now - delete_after;
    let due = match store.guests_due_for_deletion(blocked_by, now).await {
        Ok(d) => d,
        Err(e) => {
            out.errors += 1;
            tracing::warn!(error = %e, "guests due for deletion not listed; retried next run");
            return;
        }
    };
    for user in due {
        match guests::remove_expired(Place::Store(store), &user.id, blocked_by, now).await {
            Ok(true) => {
                tracing::info!(user = %user.id, "blocked guest deleted");
                out.deleted.push(user.id);
            }
            Ok(false) => {} // unblocked, re-granted or deleted elsewhere meanwhile
            Err(e) => {
                out.errors += 1;
                tracing::warn!(user = %user.id, error = %e, "guest not deleted; retried next run");
            }
        }
    }
}

async fn remind(
    config: &Config,
    store: &Store,
    mailer: &Mailer,
    now: OffsetDateTime,
    out: &mut Outcome,
) {
    let due = match store
        .claim_reminders(now + config.guests.reminder_before, now)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            out.errors += 1;
            tracing::warn!(error = %e, "access-ending reminders not claimed; retried next run");
            return;
        }
    };
    for d in due {
        remind_one(config, store, mailer, &d, out).await;
    }
}

/// Sends one claimed reminder: the guest's first (a failure gives the claim
/// back, so the next run tries again), then the owners' (a failure is
/// logged; the guest is not mailed twice for it).
async fn remind_one(
    config: &Config,
    store: &Store,
    mailer: &Mailer,
    d: &DueReminder,
    out: &mut Outcome,
) {
    let guest = match store.get_user(&d.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return, // deleted since the claim
        Err(e) => {
            out.errors += 1;
            tracing::warn!(user = %d.user_id, app = %d.app, error = %e, "reminder not sent; retried next run");
            release(store, d).await;
            return;
        }
    };
    let app = config.apps.iter().find(|a| a.name == d.app);
    let title = app.map_or_else(|| d.app.clone(), |a| a.title.clone());
    let message = |is_owner| Message::AccessEnding {
        app: title.clone(),
        ends: crate::mail::MailDate::On(d.expires_at),
        is_owner,
        guest: guest.email.clone(),
    };
    if let Err(e) = mailer.send(&guest.email, &message(false)).await {
        out.errors += 1;
        tracing::warn!(user = %d.user_id, app = %d.app, error = %e, "reminder not sent; retried next run");
        release(store, d).await;
        return;
    }
    out.reminded.push((d.user_id.clone(), d.app.clone()));
    let owners = match app {
        Some(app) => {
            let (owners, unread_groups) = guests::owner_emails(store, app, &guest.email).await;
            out.errors += unread_groups;
            owners
        }
        None => Vec::new(), // the app left the config: nobody owns it
    };
    for owner in owners {
        match mailer.send(&owner, &message(true)).await {
            Ok(()) => out.owners_reminded.push((owner, d.app.clone())),
            Err(e) => {
                out.errors += 1;
                tracing::warn!(app = %d.app, error = %e, "owner reminder not sent");
            }
        }
    }
}

async fn release(store: &Store, d: &DueReminder) {
    if let Err(e) = store.release_reminder(d).await {
        tracing::warn!(user = %d.user_id, app = %d.app, error = %e,
            "reminder claim not given back; this end gets no reminder");
    }
}

/// Runs the task every [`interval`] on the background runtime, reading the
/// current config (a reload applies from the next run) and the portal's
/// mailer (or one built from `mail` when sign-in is off). A run that panics
/// is logged and the next one starts on time.
pub fn spawn(gateway: Arc<Gateway>) {
    let every = interval();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut own_mailer: Option<(Arc<Config>, Mailer)> = None;
        loop {
            tick.tick().await;
            let config = gateway.snapshot.load_full().config.clone();
            let mailer = match gateway.mailer.load_full() {
                Some(m) => Some((*m).clone()),
                None => mailer_for(&config, &mut own_mailer),
            };
            let g = gateway.clone();
            let run = tokio::spawn(async move {
                let out = run_once(
                    &config,
                    &g.store,
                    mailer.as_ref(),
                    OffsetDateTime::now_utc(),
                )
                .await;
                for user in out.changed_users() {
                    g.directory.invalidate_user(user);
                }
                match g.store.count_guests(OffsetDateTime::now_utc()).await {
                    Ok(c) => {
                        let m = &g.metrics.guests;
                        m.with_label_values(&["active"]).set(gauge(c.active));
                        m.with_label_values(&["blocked"]).set(gauge(c.blocked));
                        m.with_label_values(&["without_access"])
                            .set(gauge(c.without_access));
                    }
                    Err(e) => tracing::warn!(error = %e, "counting guests failed"),
                }
                out
            });
            match run.await {
                Ok(out) if out.errors > 0 => {
                    tracing::warn!(
                        errors = out.errors,
                        "guest lifecycle run had errors; retried next run"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "guest lifecycle run failed; retried next run")
                }
            }
        }
    });
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A mailer of our own when the portal has none, rebuilt when the config
/// changes.
fn mailer_for(config: &Arc<Config>, own: &mut Option<(Arc<Config>, Mailer)>) -> Option<Mailer> {
    let mail = config.mail.as_ref()?;
    if let Some((c, m)) = own.as_ref()
        && Arc::ptr_eq(c, config)
    {
        return Some(m.clone());
    }
    match Mailer::branded(
        mail,
        &config.organisation.name,
        &config.organisation.mail_branding(),
    ) {
        Ok(m) => {
            *own = Some((config.clone(), m.clone()));
            Some(m)
        }
        Err(e) => {
            tracing::warn!(error = %e, "mailer not built: no access-ending reminders");
            None
        }
    }
}

#[cfg(test)]
mod tests;
