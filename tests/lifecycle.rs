//! The guest lifecycle end to end (issue 6, "time-limited access"): the real
//! `portcullis serve` with the lifecycle task every second
//! (`PORTCULLIS_LIFECYCLE_INTERVAL_SECS=1`), the file outbox and
//! `guests: { reminder_before: 1d, on_last_assignment_end: block }`. A guest
//! whose only assignment ends in 3 s is reminded (and the app's owner too),
//! allowed until the end, denied after it, then blocked and signed out.
//! Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code, reason = "each test binary uses part of the support code")]
mod support;

use portcullis::session::{SessionClaims, UserType};
use portcullis::store::{AuditQuery, SessionRecord, UserState};
use std::time::{Duration, Instant};
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{poll, unix_now};
use time::OffsetDateTime;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const GUEST: &str = "anna@contoso.com";
const OWNER: &str = "olga@tailwindtraders.com";

/// The recipients of the mails in the outbox, sorted.
fn outbox_recipients(gw: &Gateway) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(gw.path("outbox")) else {
        return Vec::new();
    };
    let mut to: Vec<String> = dir
        .filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("To:"))
                .map(|v| v.trim().to_string())
        })
        .collect();
    to.sort();
    to
}

async fn status(gw: &Gateway, cookie: &str) -> u16 {
    gw.get("crm.test", "/")
        .header("accept", HTML)
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_is_reminded_denied_at_the_end_then_blocked_and_signed_out() {
    let started = Instant::now();
    let up = Upstream::start("crm").await;
    let apps = [app(
        "crm",
        &[up.address()],
        &format!("title: CRM, owners: [{OWNER}]"),
    )];
    let top = "sign_in: { host: auth.test }\n\
               mail: { from: \"Tailwind Traders <noreply@tailwindtraders.com>\", outbox: outbox }\n\
               guests: { reminder_before: 1d, on_last_assignment_end: block }\n";
    let gw = Gateway::start_configured(
        tempfile::tempdir().unwrap(),
        &apps,
        "policies: []\n",
        &[("PORTCULLIS_LIFECYCLE_INTERVAL_SECS", "1")],
        "",
        top,
    )
    .await;

    // A guest with a session the store knows (as a sign-in records it) and
    // one assignment that ends in 3 s.
    let id = gw.add_user(GUEST, UserType::Guest).await;
    let now = unix_now();
    let sid = portcullis::session::new_sid();
    let claims = SessionClaims {
        iss: portcullis::server::ISSUER.into(),
        sub: id.clone(),
        aud: "crm.test".into(),
        email: GUEST.to_string(),
        user_type: UserType::Guest,
        groups: Default::default(),
        idp: "partner-api".into(),
        amr: vec!["pwd".to_string()].into(),
        auth_time: now - 60,
        iat: now,
        exp: now + 3600,
        sid: sid.clone(),
    };
    let cookie = format!(
        "portcullis_session={}",
        gw.keys().await.issue(&claims).expect("issue session")
    );
    gw.store
        .insert_session(&SessionRecord {
            sid: sid.clone(),
            user_id: id.clone(),
            idp: "partner-api".to_string(),
            created_at: OffsetDateTime::from_unix_timestamp(now).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(now + 3600).unwrap(),
            device: None,
        })
        .await
        .expect("record session");
    let ends =
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + time::Duration::seconds(3);
    gw.assign(&id, "crm", Some(ends)).await;

    assert_eq!(status(&gw, &cookie).await, 200, "allowed before the end");

    // The reminder: to the guest and to the owner, once.
    let reminded = poll(Duration::from_secs(3), || async {
        let to = outbox_recipients(&gw);
        (to.len() >= 2).then_some(to)
    })
    .await;
    let (to, took) = reminded.expect("no reminder in the outbox within 3 s");
    assert_eq!(to, [GUEST, OWNER]);
    println!("reminders in the outbox after {took:?}");

    // Denied from the end on (the directory cache keeps the end time), at
    // the latest one cache TTL (5 s) later.
    let denied = poll(Duration::from_secs(3 + 5 + 2), || async {
        match status(&gw, &cookie).await {
            200 => None,
            other => Some(other),
        }
    })
    .await;
    let (code, _) = denied.expect("still allowed 10 s after a 3 s assignment");
    assert!(
        OffsetDateTime::now_utc() >= ends,
        "denied ({code}) before the end"
    );
    assert_eq!(code, 403);
    let proxied = up.count();

    // Blocked and signed out by the task within a few seconds of the end.
    let blocked = poll(Duration::from_secs(5), || async {
        let user = gw.store.get_user(&id).await.expect("get user")?;
        let revoked = gw.store.is_revoked(&sid).await.expect("is revoked");
        (user.state == UserState::Blocked && revoked).then_some(())
    })
    .await;
    assert!(blocked.is_some(), "not blocked and signed out within 5 s");
    let late = OffsetDateTime::now_utc() - ends;
    println!("blocked and signed out {late} after the end");
    assert!(
        late <= time::Duration::seconds(8),
        "blocked {late} after the end"
    );

    // The revoked session no longer counts: the cookie is as good as none.
    let signed_out = poll(Duration::from_secs(3), || async {
        match status(&gw, &cookie).await {
            302 | 401 => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(
        signed_out.is_some(),
        "the revoked session still answers 403"
    );

    let audit: Vec<String> = gw
        .store
        .list_audit(&AuditQuery {
            subject: Some(id.clone()),
            ..AuditQuery::default()
        })
        .await
        .expect("audit")
        .into_iter()
        .rev()
        .map(|e| e.action)
        .collect();
    assert_eq!(audit, ["access_expired", "guest_blocked"]);
    // One reminder each, however many runs there were.
    assert_eq!(outbox_recipients(&gw), [GUEST, OWNER]);
    assert_eq!(
        up.count(),
        proxied,
        "a request reached the app after the end"
    );
    let log = gw.log();
    assert!(!log.contains("Your access to"), "a mail body in the log");
    // The guests gauge follows (each run counts them).
    let counted = support::poll(Duration::from_secs(5), || async {
        gw.metrics()
            .await
            .contains("portcullis_guests{state=\"blocked\"} 1")
            .then_some(())
    })
    .await;
    assert!(
        counted.is_some(),
        "portcullis_guests does not show the blocked guest"
    );
    println!("total {:?}", started.elapsed());
}
