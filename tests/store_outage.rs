//! The database goes away for 30 s: a real PostgreSQL server (this binary's
//! own throwaway cluster, see `support::postgres`) is stopped under a
//! running gateway and started again.
//!
//! What the product promises (README "Replicas and the store"): users who
//! were signed in keep working from the directory cache's last facts
//! (`stale_if_error`, 5 min), a user the gateway has no facts for is denied
//! (fail closed: 503, never a pass), and when the database returns the
//! gateway recovers by itself: new users are let in again and changes made
//! in the store take effect, without a restart. Loopback only; every wait
//! bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code, reason = "each test binary uses part of the support code")]
mod support;

use std::time::{Duration, Instant};
use support::gateway::{Gateway, app};
use support::upstream::Upstream;
use support::{WAIT, poll};
use time::OffsetDateTime;

/// How long the database stays down.
const OUTAGE: Duration = Duration::from_secs(30);

/// The tests of this binary share one PostgreSQL server and one of them
/// stops it: they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_users_keep_working_through_a_30_s_database_outage() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = support::postgres::database().await;
    let up = Upstream::start("main").await;
    let apps = [app("open", &[up.address()], "")];
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_with_store(dir, &apps, "policies: []\n", &[], "", "", Some(&db)).await;

    let week = OffsetDateTime::now_utc() + time::Duration::days(7);
    let (gus, gus_cookie) = gw.guest("open.test", "gus").await;
    gw.assign(&gus, "open", Some(week)).await;
    let (_, member_cookie) = gw.member("open.test", "mia", &[]).await;
    // A guest the gateway has never seen a request from: no cached facts.
    let (newcomer, newcomer_cookie) = gw.guest("open.test", "nora").await;
    gw.assign(&newcomer, "open", Some(week)).await;
    assert_eq!(status(&gw, &gus_cookie).await, 200);
    assert_eq!(status(&gw, &member_cookie).await, 200);

    support::postgres::stop();
    let stopped = Instant::now();
    let (mut sent, mut failed) = (0u32, Vec::new());
    let mut slowest = Duration::ZERO;
    while stopped.elapsed() < OUTAGE {
        for cookie in [&gus_cookie, &member_cookie] {
            let t = Instant::now();
            let s = status(&gw, cookie).await;
            slowest = slowest.max(t.elapsed());
            sent += 1;
            if s != 200 {
                failed.push((stopped.elapsed(), s));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let newcomer_status = status(&gw, &newcomer_cookie).await;
    let newcomer_count = up.count();
    eprintln!(
        "database down {:?}: {sent} requests from signed-in users, {} failed, \
         slowest {slowest:?}; a user without cached facts got {newcomer_status}",
        stopped.elapsed(),
        failed.len()
    );
    assert!(failed.is_empty(), "refused during the outage: {failed:?}");
    assert_eq!(
        newcomer_status, 503,
        "a user the gateway has no facts for must be denied while the store is down"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "requests waited on the dead database: slowest {slowest:?}"
    );
    assert!(
        gw.log().contains("directory unavailable"),
        "the deny during the outage is logged:\n{}",
        gw.log()
    );

    support::postgres::restart();
    let restarted = Instant::now();
    // Recovery without a restart of the gateway: the newcomer gets in.
    let recovered = poll(Duration::from_secs(20), || async {
        (status(&gw, &newcomer_cookie).await == 200).then_some(())
    })
    .await;
    let Some(((), after)) = recovered else {
        panic!(
            "the gateway did not recover within 20 s of the database's return:\n{}",
            gw.log()
        );
    };
    eprintln!("database back: the newcomer was let in after {after:?}");
    assert_eq!(up.count(), newcomer_count + 1);
    // And changes made in the store apply again: a removed assignment is
    // denied within the 5 s replicas promise.
    assert!(
        gw.store
            .revoke_assignment(&gus, "open")
            .await
            .expect("revoke after the restart")
    );
    let denied = poll(Duration::from_secs(5), || async {
        (status(&gw, &gus_cookie).await == 403).then_some(())
    })
    .await;
    assert!(
        denied.is_some(),
        "a removed assignment was still allowed 5 s after the database returned"
    );
    eprintln!(
        "database back: removal in force {:?} after the restart",
        restarted.elapsed()
    );
}

/// Sends `cookie`'s GET and returns the status and how long it took.
async fn timed(gw: &Gateway, cookie: &str) -> (u16, Duration) {
    let t = Instant::now();
    (status(gw, cookie).await, t.elapsed())
}

/// The database slowed (every chunk 2 s late) and then hung (a black hole)
/// by a relay between the gateway and PostgreSQL: a request never waits
/// much longer than the directory's 500 ms load bound, signed-in users are
/// served from their last facts, unknown users are denied, and when the
/// network heals the gateway recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_hung_database_costs_a_request_at_most_the_load_bound() {
    let _turn = ONE_AT_A_TIME.lock().await;
    use support::relay::{Fault, Relay};
    let db = support::postgres::database().await;
    let (prefix, rest) = db.rsplit_once(':').expect("host:port in the URL");
    let (port, path) = rest.split_once('/').expect("port/database");
    let target: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let relay = Relay::start(target);
    let through_relay = format!("{}:{}/{path}", prefix, relay.addr.port());
    let up = Upstream::start("main").await;
    let apps = [app("open", &[up.address()], "")];
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start_with_store(
        dir,
        &apps,
        "policies: []\n",
        &[],
        "",
        "",
        Some(&through_relay),
    )
    .await;
    let week = OffsetDateTime::now_utc() + time::Duration::days(7);
    let (gus, gus_cookie) = gw.guest("open.test", "gus").await;
    gw.assign(&gus, "open", Some(week)).await;
    let (newcomer, newcomer_cookie) = gw.guest("open.test", "nora").await;
    gw.assign(&newcomer, "open", Some(week)).await;
    assert_eq!(status(&gw, &gus_cookie).await, 200);

    for (fault, name) in [
        (
            Fault::Delay(Duration::from_secs(2)),
            "slowed (2 s per chunk)",
        ),
        (Fault::BlackHole, "hung (black hole)"),
    ] {
        relay.set(fault);
        let started = Instant::now();
        let (mut sent, mut refused, mut slowest) = (0, 0, Duration::ZERO);
        while started.elapsed() < Duration::from_secs(8) {
            let (s, took) = timed(&gw, &gus_cookie).await;
            sent += 1;
            refused += usize::from(s != 200);
            slowest = slowest.max(took);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (newcomer_status, newcomer_took) = timed(&gw, &newcomer_cookie).await;
        eprintln!(
            "database {name}: {sent} requests from a signed-in guest, {refused} refused, \
             slowest {slowest:?}; an unknown user got {newcomer_status} in {newcomer_took:?}"
        );
        assert_eq!(
            refused, 0,
            "database {name}: the signed-in guest was refused"
        );
        assert!(
            slowest < Duration::from_millis(1500),
            "database {name}: a request waited {slowest:?}"
        );
        assert_eq!(newcomer_status, 503, "database {name}: no facts, no entry");
        assert!(
            newcomer_took < Duration::from_millis(1500),
            "{newcomer_took:?}"
        );
    }

    relay.set(Fault::Pass);
    let healed = Instant::now();
    let recovered = poll(Duration::from_secs(30), || async {
        (status(&gw, &newcomer_cookie).await == 200).then_some(())
    })
    .await;
    assert!(
        recovered.is_some(),
        "the gateway did not recover within 30 s of the network healing:\n{}",
        gw.log()
    );
    eprintln!(
        "database reachable again: the unknown user was let in after {:?}",
        healed.elapsed()
    );
}
