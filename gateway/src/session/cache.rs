//! Verified-token cache: a token is verified once, then served from memory
//! until it expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use sha2::{Digest as _, Sha256};

use super::{ASSERTION_TTL_SECS, KeyRing, SessionClaims, SessionError, Subject};

/// Default memory budget of the verified-token cache (`server.session_cache_bytes`):
/// about 75k sessions at ~900 bytes each (the test `memory_per_cached_session`).
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// Default longest time a verified token stays cached even if its `exp` is
/// later, so that key retirement and (later) session revocation take effect
/// within this bound.
pub const DEFAULT_CACHE_MAX_TTL: Duration = Duration::from_secs(300);

type Key = [u8; 32];

#[derive(Clone)]
struct Entry {
    claims: Arc<SessionClaims>,
    /// When the entry goes (monotonic): never past the token's `exp`, nor
    /// past the cache's max TTL from insertion.
    expires: Instant,
}

/// What a cached token costs in memory, in bytes: the cache's own slot
/// (key, entry, its share of the hash table and of the eviction queues;
/// measured with 100k entries by the test
/// `memory_per_cached_session`) plus each heap block of the claims as
/// glibc's allocator hands it out (the size plus an 8-byte header,
/// rounded up to 16, at least 32).
#[derive(Clone, Copy)]
struct Bytes;

/// The cache's own memory per entry beyond the claims (see [`Bytes`]).
const SLOT_BYTES: u64 = 150;

fn heap_block(size: usize) -> u64 {
    if size == 0 {
        0
    } else {
        ((size + 8).div_ceil(16) * 16).max(32) as u64
    }
}

/// The bytes `claims` hold on the heap, their `Arc` included.
fn claims_bytes(c: &SessionClaims) -> u64 {
    let strings: u64 = [&c.iss, &c.sub, &c.aud, &c.email, &c.idp, &c.sid]
        .iter()
        .map(|s| heap_block(s.capacity()))
        .sum();
    let lists: u64 = [&c.groups, &c.amr]
        .iter()
        .map(|l| {
            heap_block(l.capacity() * std::mem::size_of::<String>())
                + l.iter().map(|s| heap_block(s.capacity())).sum::<u64>()
        })
        .sum();
    // The `Arc`'s block: two counters and the claims.
    heap_block(std::mem::size_of::<SessionClaims>() + 16) + strings + lists
}

impl quick_cache::Weighter<Key, Entry> for Bytes {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        SLOT_BYTES + claims_bytes(&entry.claims)
    }
}

/// Verified claims by SHA-256 of (scope, token).
///
/// Bounded by bytes (`server.session_cache_bytes`, weighed by [`Bytes`]),
/// not entries: a token with many groups costs what it holds. Eviction is
/// quick_cache's S3-FIFO (a token seen once goes first; frequently used
/// sessions stay when the cache is full), chosen over moka for its
/// footprint: ~100 bytes of bookkeeping per entry against moka's ~460 (its
/// access-order deques, timer wheel and per-entry `Arc`s; measured with
/// 100k entries, issue 21). Each entry also ends at the token's `exp`
/// (measured on the monotonic clock from insertion) and a lookup refuses
/// it once `now >= exp` (the caller's clock); an expired entry nobody asks
/// for again waits for eviction, inside the byte budget.
///
/// Failures are **not** cached. A flood of distinct bad tokens therefore
/// adds nothing to memory and cannot evict good sessions; the cost is that
/// a repeated bad token is re-checked each time, which is cheap for every
/// failure except a well-formed token with a wrong signature (one signature
/// check, the same as a cold valid token). Rate limiting such clients is the
/// proxy's job, not the cache's.
pub struct VerifiedCache {
    inner: quick_cache::sync::Cache<Key, Entry, Bytes>,
    max_ttl: Duration,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("entries", &self.inner.len())
            .field("bytes", &self.inner.weight())
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

impl VerifiedCache {
    /// A cache of at most `max_bytes` of tokens, each kept at most
    /// [`DEFAULT_CACHE_MAX_TTL`].
    pub fn new(max_bytes: u64) -> Self {
        VerifiedCache::with_max_ttl(max_bytes, DEFAULT_CACHE_MAX_TTL)
    }

    /// A cache of at most `max_bytes` of tokens, each kept at most `max_ttl`.
    pub fn with_max_ttl(max_bytes: u64, max_ttl: Duration) -> Self {
        // The estimate only sizes the hash table up front; it grows.
        let estimated = (max_bytes / 1024).clamp(16, 1 << 20) as usize;
        VerifiedCache {
            inner: quick_cache::sync::Cache::with_weighter(estimated, max_bytes, Bytes),
            max_ttl,
        }
    }

    /// The cached claims for `token` in `scope`, if it was verified before
    /// and `now` is still before its `exp`.
    ///
    /// `scope` is what the token was verified *for*: the app host for a
    /// session cookie, the idp name for a bearer token. It is part of the
    /// key because a cookie verified for one host must not be accepted from
    /// the cache on another (cross-host replay past the `aud` check).
    pub fn get(&self, scope: &str, token: &str, now: i64) -> Option<Arc<SessionClaims>> {
        let key = key(scope, token);
        let entry = self.inner.get(&key)?;
        if now >= entry.claims.exp || Instant::now() >= entry.expires {
            self.inner.remove(&key);
            return None;
        }
        Some(entry.claims)
    }

    /// Caches verified `claims` for `token` in `scope` until their `exp`
    /// (at most the cache's max TTL); claims already expired at `now` are
    /// not cached. Returns the shared claims.
    pub fn insert(
        &self,
        scope: &str,
        token: &str,
        claims: SessionClaims,
        now: i64,
    ) -> Arc<SessionClaims> {
        let claims = Arc::new(claims);
        let remaining = claims.exp.saturating_sub(now);
        if remaining > 0 {
            let ttl = Duration::from_secs(remaining.unsigned_abs()).min(self.max_ttl);
            self.inner.insert(
                key(scope, token),
                Entry {
                    claims: Arc::clone(&claims),
                    expires: Instant::now() + ttl,
                },
            );
        }
        claims
    }

    /// The cached claims, or the result of `verify` (cached when it is `Ok`).
    ///
    /// The request path calls this with the token from the cookie or the
    /// `Authorization` header; `verify` runs only on a miss.
    pub fn get_or_verify(
        &self,
        scope: &str,
        token: &str,
        now: i64,
        verify: impl FnOnce() -> Result<SessionClaims, SessionError>,
    ) -> Result<Arc<SessionClaims>, SessionError> {
        if let Some(hit) = self.get(scope, token, now) {
            return Ok(hit);
        }
        let claims = verify()?;
        Ok(self.insert(scope, token, claims, now))
    }

    /// Drops every entry, e.g. after a key was revoked.
    pub fn invalidate_all(&self) {
        self.inner.clear();
    }

    /// Number of entries.
    pub fn entry_count(&self) -> u64 {
        self.inner.len() as u64
    }

    /// The memory the entries hold, in bytes (as [`Bytes`] weighs them).
    pub fn weighted_bytes(&self) -> u64 {
        self.inner.weight()
    }

    /// Drops the entries whose time has passed; tests call it before
    /// reading [`VerifiedCache::entry_count`].
    pub fn run_pending_tasks(&self) {
        let now = Instant::now();
        self.inner.retain(|_, e| e.expires > now);
    }
}

/// Signed upstream assertions, reused for half their lifetime.
///
/// Signing costs about 10 µs (Ed25519, aws-lc-rs, release build): twice the
/// whole per-request budget of the hot path. A user's requests to one app
/// within [`ASSERTION_TTL_SECS`]` / 2` therefore share one assertion; the app
/// always receives one with at least half its lifetime left. Kept as the
/// header value it is sent as: a hit is a reference-count bump, not a copy
/// and re-validation of ~600 bytes per request.
pub struct AssertionCache {
    inner: Cache<Key, (http::HeaderValue, i64)>,
}

impl std::fmt::Debug for AssertionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionCache")
            .field("entries", &self.inner.entry_count())
            .finish()
    }
}

impl AssertionCache {
    /// A cache of at most `capacity` assertions.
    pub fn new(capacity: u64) -> Self {
        let reuse = Duration::from_secs(ASSERTION_TTL_SECS.unsigned_abs() / 2);
        AssertionCache {
            inner: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(reuse)
                .build(),
        }
    }

    /// The assertion for `user` and `app_name` at `now`: a cached one issued
    /// less than `ASSERTION_TTL_SECS / 2` ago by the ring's active key, or a
    /// freshly signed one (see [`KeyRing::assertion`]).
    pub fn get_or_sign<'a>(
        &self,
        ring: &KeyRing,
        user: impl Into<Subject<'a>>,
        app_name: &str,
        now: i64,
    ) -> Result<http::HeaderValue, SessionError> {
        let user: Subject<'a> = user.into();
        let key = assertion_key(ring, &user, app_name);
        if let Some((tok, iat)) = self.inner.get(&key)
            && (iat..iat.saturating_add(ASSERTION_TTL_SECS / 2)).contains(&now)
        {
            return Ok(tok);
        }
        // A compact JWS is base64url and dots: always a header value.
        let tok = http::HeaderValue::from_str(&ring.assertion(user, app_name, now)?)
            .map_err(|_| SessionError::Malformed("the assertion is not a header value"))?;
        self.inner.insert(key, (tok.clone(), now));
        Ok(tok)
    }
}

/// Everything the assertion says, plus the signing key: a different user,
/// app, group list or key never shares an entry.
fn assertion_key(ring: &KeyRing, user: &Subject<'_>, app_name: &str) -> Key {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(ring.active_kid());
    field(ring.issuer());
    field(app_name);
    field(user.sub);
    field(user.email);
    field(user.user_type.as_str());
    for g in user.groups {
        field(g);
    }
    h.finalize().into()
}

fn key(scope: &str, token: &str) -> Key {
    let mut h = Sha256::new();
    // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
    h.update((scope.len() as u64).to_le_bytes());
    h.update(scope.as_bytes());
    h.update(token.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::UserType;
    use std::cell::Cell;

    /// The weight of one test entry (`claims`).
    fn entry() -> u64 {
        SLOT_BYTES + claims_bytes(&claims(0))
    }

    fn claims(exp: i64) -> SessionClaims {
        SessionClaims {
            iss: "https://gw".into(),
            sub: "u1".into(),
            aud: "app.localhost".into(),
            email: "a@example.com".into(),
            user_type: UserType::Guest,
            groups: vec![],
            idp: "idp".into(),
            amr: vec![],
            auth_time: 0,
            iat: 0,
            exp,
            sid: "s".into(),
        }
    }

    #[test]
    fn verified_token_is_served_from_cache() {
        let cache = VerifiedCache::new(100 * entry());
        let calls = Cell::new(0);
        let verify = || {
            calls.set(calls.get() + 1);
            Ok(claims(1_000))
        };
        let a = cache
            .get_or_verify("app.localhost", "tok", 10, verify)
            .expect("first");
        let b = cache
            .get_or_verify("app.localhost", "tok", 11, || {
                calls.set(calls.get() + 1);
                Err(SessionError::BadSignature)
            })
            .expect("second is a hit");
        assert_eq!(calls.get(), 1);
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn scope_is_part_of_the_key() {
        let cache = VerifiedCache::new(100 * entry());
        cache.insert("a.localhost", "tok", claims(1_000), 0);
        assert!(cache.get("a.localhost", "tok", 1).is_some());
        assert!(
            cache.get("b.localhost", "tok", 1).is_none(),
            "cross-host replay"
        );
        assert!(cache.get("a.localhos", "ttok", 1).is_none());
    }

    #[test]
    fn failures_are_not_cached() {
        let cache = VerifiedCache::new(100 * entry());
        let r = cache.get_or_verify("s", "bad", 0, || Err(SessionError::BadSignature));
        assert_eq!(r, Err(SessionError::BadSignature));
        cache.run_pending_tasks();
        assert_eq!(cache.entry_count(), 0);
        let r = cache.get_or_verify("s", "bad", 0, || Ok(claims(100)));
        assert!(
            r.is_ok(),
            "a later good verify is not shadowed by the failure"
        );
    }

    #[test]
    fn entry_never_outlives_exp_on_the_callers_clock() {
        let cache = VerifiedCache::new(100 * entry());
        cache.insert("s", "tok", claims(100), 0);
        assert!(cache.get("s", "tok", 99).is_some());
        assert!(cache.get("s", "tok", 100).is_none());
        assert!(
            cache.get("s", "tok", 50).is_none(),
            "dropped once seen expired"
        );
        // Already expired at insertion: not cached at all.
        cache.insert("s", "old", claims(100), 100);
        assert!(cache.get("s", "old", 0).is_none());
    }

    #[test]
    fn entry_is_evicted_at_exp_in_real_time() {
        let cache = VerifiedCache::new(100 * entry());
        let now = 1_000;
        // exp one second away: moka drops it after 1 s of monotonic time,
        // even though a lookup with a stale clock would still accept it.
        cache.insert("s", "tok", claims(now + 1), now);
        assert!(cache.get("s", "tok", now).is_some());
        std::thread::sleep(Duration::from_millis(1_200));
        assert!(cache.get("s", "tok", now).is_none());
        cache.run_pending_tasks();
        assert_eq!(cache.entry_count(), 0);
    }

    #[test]
    fn max_ttl_caps_long_lived_tokens() {
        let cache = VerifiedCache::with_max_ttl(100 * entry(), Duration::from_millis(200));
        cache.insert("s", "tok", claims(i64::MAX), 0);
        assert!(cache.get("s", "tok", 1).is_some());
        std::thread::sleep(Duration::from_millis(400));
        assert!(cache.get("s", "tok", 1).is_none());
    }

    #[test]
    fn assertions_are_reused_for_half_their_lifetime() {
        let ring = KeyRing::generate("https://gw", 0, 100_000).expect("ring");
        let cache = AssertionCache::new(100);
        let user = claims(10_000);
        // A hit hands out the cached value itself (its buffer), not a copy.
        let same_buffer = |x: &http::HeaderValue, y: &http::HeaderValue| {
            x.as_bytes().as_ptr() == y.as_bytes().as_ptr()
        };
        let a = cache
            .get_or_sign(&ring, &user, "payroll", 100)
            .expect("sign");
        let b = cache
            .get_or_sign(&ring, &user, "payroll", 129)
            .expect("hit");
        assert!(same_buffer(&a, &b));
        let c = cache
            .get_or_sign(&ring, &user, "payroll", 130)
            .expect("re-sign");
        assert!(!same_buffer(&a, &c));
        assert!(
            ring.verify_assertion(c.to_str().expect("ascii"), "payroll", 130 + 29)
                .is_ok()
        );
        // Another app, another group list: never the same assertion.
        let d = cache
            .get_or_sign(&ring, &user, "hr", 130)
            .expect("other app");
        assert!(
            ring.verify_assertion(d.to_str().expect("ascii"), "hr", 130)
                .is_ok()
        );
        let mut more = user.clone();
        more.groups.push("admins".into());
        let e = cache
            .get_or_sign(&ring, &more, "payroll", 131)
            .expect("other groups");
        assert!(!same_buffer(&c, &e));
        // A clock that went backwards does not reuse one from the future.
        let f = cache
            .get_or_sign(&ring, &more, "payroll", 100)
            .expect("past");
        assert!(!same_buffer(&e, &f));
    }

    #[test]
    fn capacity_bound_holds_under_a_flood_of_distinct_tokens() {
        let cache = VerifiedCache::new(100 * entry());
        for i in 0..5_000 {
            cache.insert("s", &format!("tok-{i}"), claims(10_000), 0);
        }
        cache.run_pending_tasks();
        assert!(
            cache.entry_count() <= 100,
            "entries: {}",
            cache.entry_count()
        );
    }

    /// Claims the size of a real cookie session's: a `u_` id, an e-mail,
    /// three groups, `pwd` + `mfa`, a 22-character session id.
    fn realistic(i: usize) -> SessionClaims {
        SessionClaims {
            iss: "portcullis".into(),
            sub: format!("u_{i:022}").as_str().into(),
            aud: "payroll.contoso.com".into(),
            email: format!("user.{i:06}@contoso.com").as_str().into(),
            user_type: UserType::Member,
            groups: vec!["finance".into(), "staff".into(), "vpn-users".into()],
            idp: "entra".into(),
            amr: vec!["pwd".into(), "mfa".into()],
            auth_time: 1_000,
            iat: 1_000,
            exp: 1_000_000,
            sid: format!("{i:022}").as_str().into(),
        }
    }

    /// Resident memory (Linux), for the per-entry figure below.
    fn rss_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }

    /// Issue 21: 100k cached sessions, in bytes per entry. The RSS figure
    /// is only clean when this test runs alone
    /// (`cargo test --lib -- --exact session::cache::tests::memory_per_cached_session`).
    #[test]
    fn memory_per_cached_session() {
        const N: usize = 100_000;
        let tokens: Vec<String> = (0..N).map(|i| format!("token-{i:040}")).collect();
        let cache = VerifiedCache::new(N as u64 * 2048);
        let before = rss_bytes();
        for (i, t) in tokens.iter().enumerate() {
            cache.insert("payroll.contoso.com", t, realistic(i), 1_000);
        }
        cache.run_pending_tasks();
        let after = rss_bytes();
        assert_eq!(cache.entry_count(), N as u64);
        let weighed = cache.weighted_bytes() / N as u64;
        if let (Some(a), Some(b)) = (after, before) {
            eprintln!(
                "RSS: {} bytes per cached session; weighed: {weighed}",
                a.saturating_sub(b) / N as u64
            );
        }
        assert_eq!(
            weighed,
            SLOT_BYTES + claims_bytes(&realistic(0)),
            "every entry weighed alike"
        );
    }
}
