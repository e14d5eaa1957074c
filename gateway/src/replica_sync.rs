//! Keeps the running gateway's session state in step with the store shared
//! by every replica, off the request path:
//! - **Revocations**: every [`REVOCATION_POLL`] the revocations recorded since
//!   the last poll (by any replica) are added to [`Gateway::revoked`]; the
//!   request path checks that set after verifying a cookie.
//! - **Signing keys**: every [`key_check_interval`] the keys are re-read (so a
//!   key another replica created is trusted), a new key is generated and
//!   stored when the active one is due ([`KeyRing::needs_rotation`]), and
//!   keys whose last session has expired are deleted.
//!
//! When the store does not answer, the gateway keeps serving with what it
//! last knew (the revoked set and the key ring) and logs the failure; a
//! revocation made on another replica then takes effect once the store
//! answers again (a revocation made through this replica takes effect here
//! at once, see [`Gateway::revoke_session`]).

use crate::session::{DEFAULT_LEEWAY_SECS, ISSUER, KeyRing, SigningKeyRecord};
use crate::state::{Gateway, now};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A signing key signs for this long, then a new one takes over.
pub const KEY_ROTATE_AFTER: i64 = 30 * 86_400;
pub use crate::session::MAX_SESSION;
/// A key's whole life: signing, then verifying until the last session it
/// signed has expired, plus a day of margin.
pub const KEY_LIFETIME: i64 = KEY_ROTATE_AFTER + MAX_SESSION + 86_400;

/// How often revocations are fetched from the store. A revocation made on
/// another replica takes effect here within about this long (the contract
/// is 5 s).
pub const REVOCATION_POLL: Duration = Duration::from_secs(1);
/// Revocations are re-read with this much overlap: `revoked_at` has second
/// resolution, comes from the revoking replica's clock, and a transaction
/// may commit a little after the time it wrote.
const REVOCATION_OVERLAP_SECS: i64 = 60;
/// A store call of the background task never waits longer than this.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// Failures are logged at most this often while the store stays down.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// Expired entries leave the local set and the store this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Default interval of the signing-key check.
pub const DEFAULT_KEY_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Environment variable overriding [`DEFAULT_KEY_CHECK_INTERVAL`] (whole
/// seconds, at least 1); tests use it.
pub const KEY_CHECK_INTERVAL_ENV: &str = "PORTCULLIS_KEY_CHECK_INTERVAL_SECS";

/// The signing-key check interval: [`KEY_CHECK_INTERVAL_ENV`] when set to a
/// whole number of seconds ≥ 1, else [`DEFAULT_KEY_CHECK_INTERVAL`].
pub fn key_check_interval() -> Duration {
    parse_interval(std::env::var(KEY_CHECK_INTERVAL_ENV).ok().as_deref())
}

fn parse_interval(value: Option<&str>) -> Duration {
    match value.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(s)) if s >= 1 => Duration::from_secs(s),
        Some(_) => {
            tracing::warn!(
                variable = KEY_CHECK_INTERVAL_ENV,
                "not a whole number of seconds ≥ 1; using the default"
            );
            DEFAULT_KEY_CHECK_INTERVAL
        }
        None => DEFAULT_KEY_CHECK_INTERVAL,
    }
}

/// What the key check decided, from the records in the store.
#[derive(Debug)]
pub struct KeyPlan {
    /// The records that still verify at `now` (retired ones left out).
    pub live: Vec<SigningKeyRecord>,
    /// True when a new key must be generated and stored: there is no live
    /// key, or the newest is due for rotation.
    pub rotate: bool,
}

/// Decides from the stored records (any order, retired ones included).
/// Pure: the clock is `now`.
pub fn plan(records: Vec<SigningKeyRecord>, now: i64) -> KeyPlan {
    let live: Vec<SigningKeyRecord> = records.into_iter().filter(|r| !r.is_retired(now)).collect();
    // The newest live key signs (KeyRing::from_records picks it the same way).
    let newest = live
        .iter()
        .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    let rotate = match newest {
        None => true,
        Some(k) => crate::session::rotation_due(
            k.created_at,
            k.not_after,
            now,
            KEY_ROTATE_AFTER,
            MAX_SESSION,
        ),
    };
    KeyPlan { live, rotate }
}

/// True when `next` differs from `current` in the keys it trusts or the key
/// it signs with (so the ring in service must be replaced).
pub fn ring_changed(current: &KeyRing, next: &KeyRing) -> bool {
    let kids =
        |r: &KeyRing| -> BTreeSet<String> { r.records().iter().map(|k| k.kid.clone()).collect() };
    current.active_kid() != next.active_kid() || kids(current) != kids(next)
}

/// Reads the signing keys from the store, generating and storing a new one
/// when none is live or the newest is due, and builds the ring. Used at
/// start and by the periodic key check.
pub async fn load_keys(store: &Store, now: i64) -> Result<KeyRing, String> {
    let records: Vec<SigningKeyRecord> = store
        .list_signing_keys()
        .await
        .map_err(|e| format!("signing keys: {e}"))?
        .into_iter()
        .map(SigningKeyRecord::from)
        .collect();
    let KeyPlan { mut live, rotate } = plan(records, now);
    if rotate {
        let record = SigningKeyRecord::generate(now, now.saturating_add(KEY_LIFETIME))
            .map_err(|e| format!("signing key: {e}"))?;
        let stored =
            crate::store::SigningKey::try_from(&record).map_err(|e| format!("signing key: {e}"))?;
        store
            .insert_signing_key(&stored)
            .await
            .map_err(|e| format!("storing the signing key: {e}"))?;
        tracing::info!(kid = %record.kid, "generated a new signing key");
        live.push(record);
    }
    KeyRing::from_records(ISSUER, live, now).map_err(|e| format!("signing keys: {e}"))
}

/// Adds the revocations recorded at or after `since` (Unix seconds) to the
/// gateway's revoked set; returns the latest `revoked_at` seen (or `since`
/// when there was none).
pub async fn load_revocations(gateway: &Gateway, since: i64) -> Result<i64, StoreError> {
    let from = time::OffsetDateTime::from_unix_timestamp(since.max(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let rows = gateway.store.revocations_since(from).await?;
    let latest = rows
        .iter()
        .map(|r| r.revoked_at.unix_timestamp())
        .max()
        .unwrap_or(since)
        .max(since);
    let now = now();
    let dropped = gateway.revoked.insert_all(
        rows.iter().map(|r| {
            (
                r.sid.as_str(),
                r.expires_at
                    .unix_timestamp()
                    .saturating_add(DEFAULT_LEEWAY_SECS),
            )
        }),
        now,
    );
    if dropped > 0 {
        tracing::error!(
            dropped,
            "the revoked-session set is full; the revocations ending soonest were forgotten"
        );
    }
    gateway
        .metrics
        .revoked_sessions
        .set(gateway.revoked.len() as i64);
    Ok(latest)
}

/// One revocation poll (every [`REVOCATION_POLL`]): reads the revocations
/// since `since` (less the overlap), waiting at most `timeout`. Sets
/// `portcullis_store_up` to 1 when the store answered and 0 when it failed
/// or timed out, so an alert sees a store outage within seconds. Returns
/// the new high-water mark, or why the store did not answer.
pub async fn poll_revocations(
    gateway: &Gateway,
    since: i64,
    timeout: Duration,
) -> Result<i64, String> {
    let from = since.saturating_sub(REVOCATION_OVERLAP_SECS);
    let result = match tokio::time::timeout(timeout, load_revocations(gateway, from)).await {
        Ok(Ok(latest)) => Ok(latest),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    };
    match result {
        Ok(_) => {
            gateway.metrics.store_up.set(1);
            gateway.metrics.revocations_last_sync.set(now() as f64);
        }
        Err(_) => gateway.metrics.store_up.set(0),
    }
    result
}

/// The background service: revocation poll and key check.
pub struct SessionSync {
    pub gateway: Arc<Gateway>,
    /// The latest `revoked_at` the start-up load saw.
    pub revocations_since: i64,
}

struct Warn(Option<Instant>);

impl Warn {
    /// True when a failure should be logged now (the first one, then at
    /// most every [`WARN_EVERY`]).
    fn due(&mut self) -> bool {
        let due = self.0.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}

#[async_trait]
impl BackgroundService for SessionSync {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let g = &self.gateway;
        let mut since = self.revocations_since;
        let mut poll = tokio::time::interval(REVOCATION_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let key_every = key_check_interval();
        let mut keys = tokio::time::interval_at(tokio::time::Instant::now() + key_every, key_every);
        keys.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune = Instant::now();
        let (mut revocation_warn, mut key_warn) = (Warn(None), Warn(None));
        let mut failing = false;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = poll.tick() => {
                    match poll_revocations(g, since, STORE_TIMEOUT).await {
                        Ok(latest) => {
                            since = since.max(latest);
                            if failing {
                                failing = false;
                                tracing::info!("session revocations are in sync with the store again");
                            }
                        }
                        Err(error) => {
                            failing = true;
                            if revocation_warn.due() {
                                tracing::warn!(
                                    %error,
                                    revoked = g.revoked.len(),
                                    "cannot read session revocations; serving with the last known set"
                                );
                            }
                        }
                    }
                    if last_prune.elapsed() >= PRUNE_EVERY {
                        last_prune = Instant::now();
                        prune(g).await;
                    }
                }
                _ = keys.tick() => {
                    if let Err(e) = check_keys(g).await
                        && key_warn.due()
                    {
                        tracing::warn!(error = %e, "signing-key check failed; keeping the current keys");
                    }
                }
            }
        }
    }
}

/// One key check: reload, rotate when due, install the ring if it changed,
/// delete keys that no longer verify anything.
pub async fn check_keys(gateway: &Gateway) -> Result<(), String> {
    let now = now();
    let next = tokio::time::timeout(STORE_TIMEOUT, load_keys(&gateway.store, now))
        .await
        .map_err(|_| "the store did not answer in time".to_string())??;
    let current = gateway.keys.load();
    if ring_changed(&current, &next) {
        tracing::info!(
            active = %next.active_kid(),
            keys = next.records().len(),
            "signing keys updated"
        );
        let kept: BTreeSet<&str> = next.records().iter().map(|k| k.kid.as_str()).collect();
        let removed = current
            .records()
            .iter()
            .any(|k| !kept.contains(k.kid.as_str()));
        gateway.keys.store(Arc::new(next));
        // A key deleted from the store (e.g. compromised) must stop
        // verifying at once: without this, a cookie it signed stayed
        // accepted from the verified-token cache for up to 5 minutes.
        // (Cached assertions are keyed by the signing kid: none is reused.)
        if removed {
            gateway.sessions.invalidate_all();
        }
    }
    let expired = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|_| "the clock is out of range".to_string())?;
    match tokio::time::timeout(
        STORE_TIMEOUT,
        gateway.store.delete_signing_keys_expired(expired),
    )
    .await
    {
        Ok(Ok(n)) if n > 0 => tracing::info!(deleted = n, "deleted retired signing keys"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("the store did not answer in time".to_string()),
    }
    Ok(())
}

/// Forgets revocations of sessions that have expired (locally, and in the
/// store; the store keeps them for the leeway too, so a replica whose clock
/// is a little behind still sees them).
async fn prune(gateway: &Gateway) {
    let now = now();
    gateway.revoked.prune(now);
    gateway
        .metrics
        .revoked_sessions
        .set(gateway.revoked.len() as i64);
    let until = time::OffsetDateTime::from_unix_timestamp(now.saturating_sub(DEFAULT_LEEWAY_SECS))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    if let Ok(Err(e)) =
        tokio::time::timeout(STORE_TIMEOUT, gateway.store.prune_revoked_sessions(until)).await
    {
        tracing::debug!(error = %e, "pruning revoked sessions failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn key(created_at: i64) -> SigningKeyRecord {
        SigningKeyRecord::generate(created_at, created_at + KEY_LIFETIME).expect("key")
    }

    #[test]
    fn no_key_or_only_retired_keys_means_a_new_key() {
        let p = plan(vec![], 1_000);
        assert!(p.rotate && p.live.is_empty());
        let old = key(0);
        let p = plan(vec![old.clone()], old.not_after);
        assert!(p.rotate, "a retired key does not count");
        assert!(p.live.is_empty());
    }

    #[test]
    fn a_fresh_key_is_kept_and_a_due_key_is_rotated() {
        let k = key(0);
        let p = plan(vec![k.clone()], 10 * DAY);
        assert!(!p.rotate);
        assert_eq!(p.live.len(), 1);
        assert!(plan(vec![k.clone()], KEY_ROTATE_AFTER - 1).live.len() == 1);
        assert!(!plan(vec![k.clone()], KEY_ROTATE_AFTER - 1).rotate);
        let due = plan(vec![k.clone()], KEY_ROTATE_AFTER);
        assert!(due.rotate, "30 days old: rotate");
        assert_eq!(due.live.len(), 1, "the old key still verifies");
    }

    #[test]
    fn a_key_too_close_to_its_end_for_a_full_session_is_rotated() {
        // A short-lived key (e.g. from an older build): a 7-day session
        // issued now would outlive it.
        let k = SigningKeyRecord::generate(0, 10 * DAY).expect("key");
        assert!(!plan(vec![k.clone()], 2 * DAY).rotate);
        assert!(plan(vec![k], 3 * DAY + 1).rotate);
    }

    #[test]
    fn a_newer_key_from_another_replica_means_no_rotation_and_a_new_ring() {
        let old = key(0);
        let new = key(KEY_ROTATE_AFTER + 5);
        let now = KEY_ROTATE_AFTER + 10;
        assert!(plan(vec![old.clone()], now).rotate);
        let p = plan(vec![new.clone(), old.clone()], now);
        assert!(!p.rotate, "the other replica already rotated");
        let current = KeyRing::from_records(ISSUER, vec![old.clone()], now).expect("ring");
        let next = KeyRing::from_records(ISSUER, p.live, now).expect("ring");
        assert!(ring_changed(&current, &next));
        assert_eq!(next.active_kid(), new.kid, "the newest key signs");
        let same = KeyRing::from_records(ISSUER, vec![old.clone()], now).expect("ring");
        assert!(!ring_changed(&current, &same));
        // Once the old key retires, the ring drops it.
        let later =
            KeyRing::from_records(ISSUER, vec![new, old.clone()], old.not_after).expect("ring");
        assert!(ring_changed(&next, &later));
        assert_eq!(later.records().len(), 1);
    }

    /// A real `Gateway` over an empty config and a SQLite store in `dir`.
    async fn gateway(dir: &std::path::Path) -> Gateway {
        std::fs::write(dir.join("rules.yaml"), "policies: []\n").expect("rules");
        let config = "listen: { http: 127.0.0.1:8080 }\nrules: [rules.yaml]\n\
             organisation: { name: Test, member_domains: [tailwindtraders.com] }\n\
             apps:\n  - { name: wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:9002] }\n";
        let path = dir.join("portcullis.yaml");
        std::fs::write(&path, config).expect("config");
        let snapshot = crate::snapshot::Snapshot::load(&path).expect("snapshot");
        let store = Store::open_sqlite(&dir.join("db.sqlite"))
            .await
            .expect("store");
        let keys = load_keys(&store, now()).await.expect("keys");
        let directory = crate::store::DirectoryCache::new(store.clone(), Default::default());
        Gateway::new(
            path,
            snapshot,
            keys,
            Vec::new(),
            store,
            directory,
            crate::metrics::Metrics::new(),
        )
    }

    #[tokio::test]
    async fn a_revocation_is_local_at_once_and_in_the_store_for_other_replicas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = gateway(dir.path()).await;
        let exp = now() + 3600;
        g.revoke_session("sid-a", exp).await.expect("revoke");
        assert!(
            g.revoked.contains("sid-a"),
            "denied here without waiting for the poll"
        );
        assert!(g.store.is_revoked("sid-a").await.expect("store"));

        // Another replica's revocation arrives through the poll.
        let other = dir.path();
        let replica = gateway(other).await;
        assert!(!replica.revoked.contains("sid-b"));
        let t = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).expect("time");
        g.store
            .revoke_session("sid-b", t(exp), t(now()))
            .await
            .expect("revoke b");
        let latest = load_revocations(&replica, 0).await.expect("poll");
        assert!(replica.revoked.contains("sid-a") && replica.revoked.contains("sid-b"));
        assert!(latest >= now() - 5, "the poll's high-water mark: {latest}");
        assert_eq!(replica.metrics.revoked_sessions.get(), 2);
    }

    #[tokio::test]
    async fn the_poll_sets_store_up_to_whether_the_store_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = gateway(dir.path()).await;
        g.metrics.store_up.set(0);
        poll_revocations(&g, 0, STORE_TIMEOUT)
            .await
            .expect("the store answers");
        assert_eq!(g.metrics.store_up.get(), 1);
        assert!(g.metrics.revocations_last_sync.get() > 0.0);

        // A closed store fails every call: the gauge drops to 0.
        g.store.close().await;
        let error = poll_revocations(&g, 0, STORE_TIMEOUT)
            .await
            .expect_err("the store is closed");
        assert!(!error.is_empty());
        assert_eq!(g.metrics.store_up.get(), 0);
    }

    #[tokio::test]
    async fn the_key_check_trusts_a_stored_key_and_rotates_a_due_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = gateway(dir.path()).await;
        let first = g.keys.load().active_kid().to_string();
        check_keys(&g).await.expect("check");
        assert_eq!(g.keys.load().active_kid(), first, "nothing to do");

        // Another replica stored a newer key: trusted and signing after the check.
        let now = now();
        let newer = SigningKeyRecord::generate(now + 1, now + KEY_LIFETIME).expect("key");
        let stored = crate::store::SigningKey::try_from(&newer).expect("record");
        g.store.insert_signing_key(&stored).await.expect("insert");
        check_keys(&g).await.expect("check");
        let ring = g.keys.load();
        assert_eq!(ring.active_kid(), newer.kid);
        assert_eq!(ring.records().len(), 2, "the old key still verifies");

        // A due key: the check generates and stores a new one.
        let dir2 = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir2.path().join("db.sqlite"))
            .await
            .expect("store");
        let old = SigningKeyRecord::generate(
            now - KEY_ROTATE_AFTER,
            now - KEY_ROTATE_AFTER + KEY_LIFETIME,
        )
        .expect("key");
        store
            .insert_signing_key(&crate::store::SigningKey::try_from(&old).expect("record"))
            .await
            .expect("insert");
        let ring = load_keys(&store, now).await.expect("keys");
        assert_ne!(ring.active_kid(), old.kid, "rotated");
        assert_eq!(ring.records().len(), 2);
        assert_eq!(
            store.list_signing_keys().await.expect("list").len(),
            2,
            "stored for the replicas"
        );
    }

    #[test]
    fn the_interval_override_is_whole_seconds_at_least_one() {
        assert_eq!(parse_interval(None), DEFAULT_KEY_CHECK_INTERVAL);
        assert_eq!(parse_interval(Some("2")), Duration::from_secs(2));
        assert_eq!(parse_interval(Some(" 5 ")), Duration::from_secs(5));
        assert_eq!(parse_interval(Some("0")), DEFAULT_KEY_CHECK_INTERVAL);
        assert_eq!(parse_interval(Some("1.5")), DEFAULT_KEY_CHECK_INTERVAL);
        assert_eq!(parse_interval(Some("x")), DEFAULT_KEY_CHECK_INTERVAL);
    }
}
