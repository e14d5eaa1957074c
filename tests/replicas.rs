//! Replicas end to end: two real `portcullis serve` processes on one real
//! PostgreSQL database (a throwaway cluster, see `support::postgres`), in
//! front of one recording upstream. What the product promises for
//! replicas: they share the signing keys, so a session issued by one is
//! accepted by the other; a session revoked anywhere is refused by every
//! replica within 5 s; a removed assignment is denied by every replica
//! within the directory cache's 5 s. Loopback only; every wait bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code, reason = "each test binary uses part of the support code")]
mod support;

use portcullis::session::SessionClaims;
use std::time::Duration;
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll, unix_now};
use time::OffsetDateTime;

/// The promise for revocations and removed assignments alike.
const PROPAGATION: Duration = Duration::from_secs(5);
/// How long a poll for a removed assignment may take: the entry B cached at
/// its last allowed request (just before the removal) lives out the 4 s
/// directory TTL; the promise is 5 s.
const ASSIGNMENT_POLL: Duration = PROPAGATION;

/// The status of a GET of `open.test/` as an API client (`Accept:
/// application/json`: 401 without a valid session, never a redirect).
async fn status(gw: &Gateway, cookie: &str) -> u16 {
    gw.get("open.test", "/")
        .header("accept", "application/json")
        .header("cookie", cookie)
        .timeout(WAIT)
        .send()
        .await
        .expect("GET open.test/ through the gateway")
        .status()
        .as_u16()
}

/// Polls `gw` until `cookie` gets `want` instead of 200, for at most
/// `limit`; returns how long that took.
async fn refused_within(
    gw: &Gateway,
    cookie: &str,
    want: u16,
    limit: Duration,
    what: &str,
) -> Duration {
    let seen = poll(limit, || async {
        match status(gw, cookie).await {
            s if s == want => Some(()),
            200 => None,
            other => panic!("{what}: unexpected {other}"),
        }
    })
    .await;
    match seen {
        Some(((), after)) => after,
        None => panic!("{what}: still allowed {limit:?} later"),
    }
}

fn claims(gw_keys: &portcullis::session::KeyRing, cookie: &str) -> SessionClaims {
    let token = cookie
        .strip_prefix("portcullis_session=")
        .expect("cookie value");
    gw_keys
        .verify(token, "open.test", unix_now())
        .expect("the minted cookie verifies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_sessions_revocations_and_assignments() {
    let db = support::postgres::database().await;
    let up = Upstream::start("main").await;
    let apps = [app("open", &[up.address()], "")];
    let rules = "policies: []\n";
    let start = |db: String| {
        let apps = &apps;
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            Gateway::start_with_store(dir, apps, rules, &[], "", "", Some(&db)).await
        }
    };
    // A first: it migrates the database and generates the signing key.
    let a = start(db.clone()).await;
    let b = start(db.clone()).await;
    assert_ne!(a.http, b.http);

    // B found A's key in the store and did not make one of its own.
    let keys = a.store.list_signing_keys().await.expect("signing keys");
    assert_eq!(keys.len(), 1, "one signing key for both replicas");
    assert!(
        !b.log().contains("generated a new signing key"),
        "B generated its own signing key:\n{}",
        b.log()
    );
    assert!(
        a.log().contains("generated a new signing key"),
        "{}",
        a.log()
    );

    // A guest with an assignment: the session works on both replicas.
    let (gus, cookie) = a.guest("open.test", "gus").await;
    let week = OffsetDateTime::now_utc() + time::Duration::days(7);
    a.assign(&gus, "open", Some(week)).await;
    for (name, gw) in [("A", &a), ("B", &b)] {
        let count = up.count();
        assert_eq!(status(gw, &cookie).await, 200, "replica {name}");
        assert_eq!(up.count(), count + 1, "replica {name} proxied");
        assert_eq!(
            up.last().header("x-portcullis-user"),
            Some(gus.as_str()),
            "replica {name}"
        );
    }

    // Revoked through A's store handle (as A's sign-out would): B, which
    // has the session in its verified-token cache, refuses it within 5 s.
    let sid = claims(&a.keys().await, &cookie);
    let now = OffsetDateTime::now_utc();
    let ends = OffsetDateTime::from_unix_timestamp(sid.exp).expect("exp");
    a.store
        .revoke_session(&sid.sid, ends, now)
        .await
        .expect("revoke the session");
    let revoked_after = refused_within(&b, &cookie, 401, PROPAGATION, "revoked session on B").await;
    eprintln!("revocation seen by B after {revoked_after:?}");
    refused_within(&a, &cookie, 401, PROPAGATION, "revoked session on A").await;
    let count = up.count();
    assert_eq!(status(&b, &cookie).await, 401);
    assert_eq!(up.count(), count, "a revoked session was proxied");

    // A second guest: allowed on both, then the assignment is removed
    // through A's store handle; B denies once its cached entry (5 s TTL)
    // is gone.
    let (gina, cookie) = a.guest("open.test", "gina").await;
    a.assign(&gina, "open", Some(week)).await;
    for (name, gw) in [("A", &a), ("B", &b)] {
        assert_eq!(status(gw, &cookie).await, 200, "replica {name}");
        assert_eq!(up.last().header("x-portcullis-user"), Some(gina.as_str()));
    }
    assert!(
        a.store
            .revoke_assignment(&gina, "open")
            .await
            .expect("revoke the assignment"),
        "the assignment was there"
    );
    let removed_after =
        refused_within(&b, &cookie, 403, ASSIGNMENT_POLL, "removed assignment on B").await;
    eprintln!("assignment removal seen by B after {removed_after:?}");
    refused_within(&a, &cookie, 403, ASSIGNMENT_POLL, "removed assignment on A").await;
    let count = up.count();
    assert_eq!(status(&b, &cookie).await, 403);
    assert_eq!(up.count(), count, "an unassigned guest was proxied");
}
