//! TOTP and recovery-code tests: the RFC 6238 vectors through the generator
//! the module uses, and the whole flow against real SQLite files, including
//! two store handles on one file standing in for two replicas.
//!
//! Tests named `store_…` exercise the store methods directly (they also run
//! with `cargo test --lib store`).

use std::time::Duration;

use tempfile::TempDir;
use time::OffsetDateTime;
use totp_rs::Algorithm;

use super::*;
use crate::store::{AuditQuery, NewUser, UserType};

const USER: &str = "u_anna";

/// A fixed instant at the start of a 30 s step, plus `secs`.
fn t(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).expect("valid timestamp")
}

/// Production settings but a cheap argon2 cost: the debug build would take
/// seconds per hash at the real cost.
fn totp() -> Totp {
    Totp::new(TotpSettings {
        recovery_hash: argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None).expect("params"),
        ..TotpSettings::default()
    })
}

async fn open(dir: &TempDir) -> Store {
    Store::open_sqlite(&dir.path().join("portcullis.db"))
        .await
        .expect("open store")
}

async fn store_with_user() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    store
        .upsert_user(
            &NewUser {
                id: USER.to_owned(),
                email: "anna@contoso.com".to_owned(),
                display_name: None,
                user_type: UserType::Guest,
                identity: None,
            },
            t(0),
        )
        .await
        .expect("user");
    (dir, store)
}

/// What the user's authenticator app would show at `at`: built from the
/// otpauth URI the app scanned, not from our own code.
fn app_code(enrollment: &Enrollment, at: OffsetDateTime) -> String {
    let app = Generator::from_url(&enrollment.otpauth_uri).expect("the app parses the URI");
    app.generate(u64::try_from(at.unix_timestamp()).expect("after 1970"))
        .to_string()
}

/// Enrolled and confirmed at `t(0)` (step S0 used); returns the enrollment
/// and the recovery codes.
async fn enrolled(store: &Store) -> (Enrollment, RecoveryCodes) {
    let e = totp()
        .enroll(store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    let codes = totp()
        .confirm(store, USER, &app_code(&e, t(0)), t(0))
        .await
        .expect("confirm");
    (e, codes)
}

/// A 6-digit code that is not the app's code at any step near `at`.
fn wrong_code(e: &Enrollment, at: OffsetDateTime) -> String {
    let near: Vec<String> = (-3..=3)
        .map(|k| app_code(e, at + 30 * time::Duration::SECOND * k))
        .collect();
    (0..)
        .map(|n| format!("{:06}", 123_456 + n))
        .find(|c| !near.contains(c))
        .expect("some code is wrong")
}

// ---- RFC 6238 --------------------------------------------------------------

#[derive(serde::Deserialize)]
struct Vectors {
    seeds: std::collections::HashMap<String, Seed>,
    vectors: Vec<Vector>,
}
#[derive(serde::Deserialize)]
struct Seed {
    ascii: String,
}
#[derive(serde::Deserialize)]
struct Vector {
    time: u64,
    algorithm: String,
    totp_8: String,
    totp_6: String,
}

const RFC6238: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/totp/rfc6238.json"
);

#[test]
fn rfc6238_appendix_b_all_18_vectors_through_the_module_generator() {
    let text = std::fs::read_to_string(RFC6238).expect("shared/testdata/totp/rfc6238.json");
    let data: Vectors = serde_json::from_str(&text).expect("vectors JSON");
    assert_eq!(data.vectors.len(), 18);
    let mut failures = Vec::new();
    for v in &data.vectors {
        let algorithm: Algorithm = v.algorithm.parse().expect("algorithm");
        let seed = data.seeds[&v.algorithm].ascii.as_bytes();
        for (digits, want) in [(8, &v.totp_8), (6, &v.totp_6)] {
            let g = generator(algorithm, digits, 30, seed).expect("generator");
            let got = g.generate(v.time).to_string();
            // The checking path must find exactly the vector's step.
            let step = matching_step(&g, want, v.time, 1);
            if &got != want || step != Some(v.time / 30) {
                failures.push(format!(
                    "{} t={} digits={digits}: generated {got}, want {want}; matched step {step:?}",
                    v.algorithm, v.time
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn matching_step_takes_the_window_and_nothing_wider() {
    let g = generator(Algorithm::SHA1, 6, 30, b"12345678901234567890").expect("generator");
    let now: u64 = 1_800_000_000 + 15;
    let origin = now / 30;
    for k in [-1i64, 0, 1] {
        let step = origin.checked_add_signed(k).expect("step");
        let code = g.generate(step * 30).to_string();
        assert_eq!(matching_step(&g, &code, now, 1), Some(step), "offset {k}");
    }
    for k in [-2i64, 2] {
        let step = origin.checked_add_signed(k).expect("step");
        let code = g.generate(step * 30).to_string();
        assert_eq!(matching_step(&g, &code, now, 1), None, "offset {k}");
    }
    for bad in ["", "12345", "1234567", "+12345", "12 345", "abcdef"] {
        assert_eq!(matching_step(&g, bad, now, 1), None, "{bad:?}");
    }
}

// ---- enrollment --------------------------------------------------------------

#[tokio::test]
async fn enroll_confirm_verify_round_trip() {
    let (_dir, store) = store_with_user().await;
    let e = totp()
        .enroll(&store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    assert!(
        e.otpauth_uri
            .starts_with("otpauth://totp/Tailwind%20Traders:anna%40contoso.com?secret="),
        "{}",
        e.otpauth_uri
    );
    assert!(
        e.otpauth_uri
            .contains(&format!("secret={}", e.secret_base32))
    );
    assert!(
        e.otpauth_uri.ends_with("&issuer=Tailwind%20Traders"),
        "{}",
        e.otpauth_uri
    );
    assert_eq!(e.secret_base32.len(), 32, "160-bit secret");
    let svg = e
        .qr_svg_data_uri
        .strip_prefix("data:image/svg+xml;base64,")
        .expect("SVG data URI");
    let svg = base64::engine::general_purpose::STANDARD
        .decode(svg)
        .expect("base64");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));

    let factor = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    assert_eq!(
        (factor.algorithm.as_str(), factor.digits, factor.period),
        ("SHA1", 6, 30)
    );
    assert!(factor.confirmed_at.is_none());

    // Not usable before confirmation.
    let err = totp()
        .verify(&store, USER, &app_code(&e, t(0)), t(0))
        .await
        .expect_err("unconfirmed");
    assert_eq!(err.as_str(), "not_enrolled");

    let codes = totp()
        .confirm(&store, USER, &app_code(&e, t(0)), t(0))
        .await
        .expect("confirm");
    assert_eq!(codes.0.len(), 10);
    let factor = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    assert_eq!(factor.confirmed_at, Some(t(0)));

    // The confirming code is used up; the next step's code works.
    let err = totp()
        .verify(&store, USER, &app_code(&e, t(0)), t(5))
        .await
        .expect_err("confirming code reused");
    assert_eq!(err.as_str(), "replayed");
    totp()
        .verify(&store, USER, &app_code(&e, t(30)), t(31))
        .await
        .expect("next code");

    // A confirmed factor is neither re-enrolled nor re-confirmed.
    let err = totp()
        .enroll(&store, USER, "anna@contoso.com", "Tailwind Traders", t(40))
        .await
        .expect_err("already enrolled");
    assert_eq!(err.as_str(), "already_enrolled");
    let err = totp()
        .confirm(&store, USER, &app_code(&e, t(60)), t(60))
        .await
        .expect_err("already confirmed");
    assert_eq!(err.as_str(), "already_enrolled");
}

#[tokio::test]
async fn enrolling_again_before_confirming_replaces_the_secret() {
    let (_dir, store) = store_with_user().await;
    let first = totp()
        .enroll(&store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    let second = totp()
        .enroll(&store, USER, "anna@contoso.com", "Tailwind Traders", t(1))
        .await
        .expect("enroll again");
    assert_ne!(first.secret_base32, second.secret_base32);
    let old = app_code(&first, t(1));
    if old != app_code(&second, t(1)) {
        let err = totp()
            .confirm(&store, USER, &old, t(1))
            .await
            .expect_err("old secret");
        assert_eq!(err.as_str(), "invalid_code");
    }
    totp()
        .confirm(&store, USER, &app_code(&second, t(1)), t(1))
        .await
        .expect("new secret confirms");
}

#[tokio::test]
async fn enroll_rejects_unusable_labels_and_unknown_users() {
    let (_dir, store) = store_with_user().await;
    for (label, issuer) in [("a:b", "Tailwind"), ("anna", "Tail:wind"), ("", "Tailwind")] {
        let err = totp()
            .enroll(&store, USER, label, issuer, t(0))
            .await
            .expect_err(label);
        assert_eq!(err.as_str(), "invalid_input", "{label:?} {issuer:?}");
    }
    let err = totp()
        .enroll(&store, "u_nobody", "bob@contoso.com", "Tailwind", t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(
            err,
            MfaError::Store(StoreError::NotFound { what: "user", .. })
        ),
        "{err:?}"
    );
    let err = totp()
        .verify(&store, "u_nobody", "123456", t(0))
        .await
        .expect_err("no factor");
    assert_eq!(err.as_str(), "not_enrolled");
}

// ---- verification window and replay ---------------------------------------

#[tokio::test]
async fn codes_one_step_either_side_are_accepted_two_steps_are_not() {
    let (_dir, store) = store_with_user().await;
    let (e, _) = enrolled(&store).await;
    // Each round moves far ahead so earlier acceptances do not make these
    // codes replays; within a round, -1 is tried before 0 and +1.
    let mut base = 300;
    for k in [-1i64, 0, 1] {
        let now = t(base + 10);
        let code = app_code(&e, now + time::Duration::seconds(30 * k));
        totp()
            .verify(&store, USER, &code, now)
            .await
            .unwrap_or_else(|err| panic!("offset {k}: {err}"));
        base += 300;
    }
    for k in [-2i64, 2] {
        let now = t(base + 10);
        let code = app_code(&e, now + time::Duration::seconds(30 * k));
        let neighbours: Vec<String> = (-1..=1)
            .map(|j| app_code(&e, now + time::Duration::seconds(30 * j)))
            .collect();
        if neighbours.contains(&code) {
            continue; // one-in-a-million collision with an in-window code
        }
        let err = totp()
            .verify(&store, USER, &code, now)
            .await
            .expect_err("outside the window");
        assert_eq!(err.as_str(), "invalid_code", "offset {k}");
        base += 300;
    }
}

#[tokio::test]
async fn the_same_code_twice_is_a_replay() {
    let (_dir, store) = store_with_user().await;
    let (e, _) = enrolled(&store).await;
    let code = app_code(&e, t(600));
    totp()
        .verify(&store, USER, &code, t(600))
        .await
        .expect("first");
    let err = totp()
        .verify(&store, USER, &code, t(601))
        .await
        .expect_err("second");
    assert_eq!(err.as_str(), "replayed");
    // Still a replay later in the window.
    let err = totp()
        .verify(&store, USER, &code, t(629))
        .await
        .expect_err("third");
    assert_eq!(err.as_str(), "replayed");
}

#[tokio::test]
async fn an_older_code_after_a_newer_one_is_a_replay() {
    let (_dir, store) = store_with_user().await;
    let (e, _) = enrolled(&store).await;
    let now = t(900);
    let newer = app_code(&e, now + time::Duration::seconds(30));
    let older = app_code(&e, now);
    totp()
        .verify(&store, USER, &newer, now)
        .await
        .expect("newer");
    if older != newer {
        let err = totp()
            .verify(&store, USER, &older, now)
            .await
            .expect_err("older after newer");
        assert_eq!(err.as_str(), "replayed");
    }
}

#[tokio::test]
async fn a_replay_is_refused_by_another_replica() {
    let (dir, a) = store_with_user().await;
    let b = open(&dir).await;
    let (e, _) = enrolled(&a).await;
    let code = app_code(&e, t(1200));
    totp()
        .verify(&a, USER, &code, t(1200))
        .await
        .expect("replica a");
    let err = totp()
        .verify(&b, USER, &code, t(1201))
        .await
        .expect_err("replica b");
    assert_eq!(err.as_str(), "replayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_with_one_code_exactly_one_wins() {
    let (dir, a) = store_with_user().await;
    let b = open(&dir).await;
    let (e, _) = enrolled(&a).await;
    for round in 1..=10 {
        let now = t(3000 * round);
        let code = app_code(&e, now);
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let (a, code) = (a.clone(), code.clone());
                async move { totp().verify(&a, USER, &code, now).await }
            }),
            tokio::spawn({
                let (b, code) = (b.clone(), code.clone());
                async move { totp().verify(&b, USER, &code, now).await }
            }),
        );
        let results = [ra.expect("task a"), rb.expect("task b")];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        let loser = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("a loser");
        assert_eq!(loser.as_str(), "replayed", "round {round}");
    }
}

#[tokio::test]
async fn store_record_totp_step_is_compare_and_set() {
    let (_dir, store) = store_with_user().await;
    enrolled(&store).await;
    let s0 = 1_800_000_000 / 30;
    assert!(
        !store
            .record_totp_step(USER, s0, t(0))
            .await
            .expect("same step")
    );
    assert!(
        !store
            .record_totp_step(USER, s0 - 1, t(0))
            .await
            .expect("older")
    );
    assert!(
        store
            .record_totp_step(USER, s0 + 5, t(150))
            .await
            .expect("newer")
    );
    assert!(
        !store
            .record_totp_step(USER, s0 + 4, t(150))
            .await
            .expect("older again")
    );
    let f = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    assert_eq!(f.last_used_step, Some(s0 + 5));
    // No confirmed factor: nothing to accept.
    assert!(
        !store
            .record_totp_step("u_nobody", s0 + 9, t(0))
            .await
            .expect("none")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_record_totp_step_race_on_two_handles_has_one_winner() {
    let (dir, a) = store_with_user().await;
    let b = open(&dir).await;
    enrolled(&a).await;
    let s0 = 1_800_000_000 / 30;
    for round in 1..=20 {
        let step = s0 + round;
        let now = t(30 * round);
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let a = a.clone();
                async move { a.record_totp_step(USER, step, now).await }
            }),
            tokio::spawn({
                let b = b.clone();
                async move { b.record_totp_step(USER, step, now).await }
            }),
        );
        let won = [ra.expect("a").expect("a"), rb.expect("b").expect("b")];
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}");
    }
}

// ---- lockout ---------------------------------------------------------------

#[tokio::test]
async fn five_failures_lock_for_fifteen_minutes_then_a_success_resets() {
    let (_dir, store) = store_with_user().await;
    let (e, codes) = enrolled(&store).await;
    let now = t(600);
    let wrong = wrong_code(&e, now);
    for i in 1..=4 {
        let err = totp()
            .verify(&store, USER, &wrong, now)
            .await
            .expect_err("wrong");
        assert_eq!(err.as_str(), "invalid_code", "attempt {i}");
    }
    let until = now + time::Duration::minutes(15);
    match totp().verify(&store, USER, &wrong, now).await {
        Err(MfaError::Locked { until: got }) => assert_eq!(got, until),
        other => panic!("fifth failure: {other:?}"),
    }
    // Locked: even the right code is refused, and a recovery code too.
    let right = app_code(&e, now);
    let err = totp()
        .verify(&store, USER, &right, now)
        .await
        .expect_err("locked");
    assert_eq!(err.as_str(), "locked");
    let err = totp()
        .use_recovery_code(&store, USER, &codes.0[0], now)
        .await
        .expect_err("locked");
    assert_eq!(err.as_str(), "locked");
    let later = until - time::Duration::SECOND;
    let err = totp()
        .verify(&store, USER, &app_code(&e, later), later)
        .await
        .expect_err("still locked");
    assert_eq!(err.as_str(), "locked");

    // At the end of the lock the right code works and clears the count.
    totp()
        .verify(&store, USER, &app_code(&e, until), until)
        .await
        .expect("unlocked");
    let f = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    assert_eq!((f.failed_attempts, f.locked_until), (0, None));
}

#[tokio::test]
async fn store_record_mfa_failure_counts_and_locks_atomically() {
    let (_dir, store) = store_with_user().await;
    enrolled(&store).await;
    let lock = Duration::from_secs(900);
    for n in 1..=2 {
        let s = store
            .record_mfa_failure(USER, 3, lock, t(10))
            .await
            .expect("fail")
            .expect("factor");
        assert_eq!((s.failed_attempts, s.locked_until), (n, None));
    }
    let s = store
        .record_mfa_failure(USER, 3, lock, t(10))
        .await
        .expect("fail")
        .expect("factor");
    assert_eq!((s.failed_attempts, s.locked_until), (0, Some(t(910))));
    assert!(
        store
            .record_mfa_failure("u_nobody", 3, lock, t(10))
            .await
            .expect("no factor")
            .is_none()
    );
}

// ---- recovery codes --------------------------------------------------------

#[tokio::test]
async fn a_recovery_code_works_once() {
    let (_dir, store) = store_with_user().await;
    let (_, codes) = enrolled(&store).await;
    for c in &codes.0 {
        assert!(recovery::normalize(c).is_some(), "{c}");
        assert_eq!(c.len(), 11);
    }
    let hashes = store
        .unused_recovery_code_hashes(USER)
        .await
        .expect("hashes");
    assert_eq!(hashes.len(), 10);
    assert!(
        hashes.iter().all(|h| h.starts_with("$argon2id$v=19$")),
        "{hashes:?}"
    );

    let left = totp()
        .use_recovery_code(&store, USER, &codes.0[0], t(10))
        .await
        .expect("first use");
    assert_eq!(left, 9);
    let err = totp()
        .use_recovery_code(&store, USER, &codes.0[0], t(11))
        .await
        .expect_err("second use");
    assert_eq!(err.as_str(), "invalid_code");
    // Typed loosely: lower case, blanks, no dash.
    let loose = format!(" {} ", codes.0[1].replace('-', " ").to_lowercase());
    assert_eq!(
        totp()
            .use_recovery_code(&store, USER, &loose, t(12))
            .await
            .expect("loose"),
        8
    );
    let err = totp()
        .use_recovery_code(&store, USER, "not a code", t(13))
        .await
        .expect_err("garbage");
    assert_eq!(err.as_str(), "invalid_code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_with_one_recovery_code_exactly_one_wins() {
    let (dir, a) = store_with_user().await;
    let b = open(&dir).await;
    let (_, codes) = enrolled(&a).await;
    let code = codes.0[3].clone();
    let (ra, rb) = tokio::join!(
        tokio::spawn({
            let (a, code) = (a.clone(), code.clone());
            async move { totp().use_recovery_code(&a, USER, &code, t(5)).await }
        }),
        tokio::spawn({
            let (b, code) = (b.clone(), code.clone());
            async move { totp().use_recovery_code(&b, USER, &code, t(5)).await }
        }),
    );
    let results = [ra.expect("task a"), rb.expect("task b")];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let loser = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("loser");
    assert!(
        matches!(loser.as_str(), "replayed" | "invalid_code"),
        "{loser:?}"
    );
    assert_eq!(
        a.unused_recovery_code_hashes(USER)
            .await
            .expect("hashes")
            .len(),
        9
    );
}

#[test]
fn default_recovery_hash_cost_is_argon2s_owasp_default() {
    let s = TotpSettings::default();
    assert_eq!(
        (
            s.recovery_hash.m_cost(),
            s.recovery_hash.t_cost(),
            s.recovery_hash.p_cost()
        ),
        (19 * 1024, 2, 1)
    );
    assert_eq!(
        (s.max_failures, s.lockout, s.skew_steps, s.recovery_codes),
        (5, Duration::from_secs(900), 1, 10)
    );
}

// ---- reset -----------------------------------------------------------------

#[tokio::test]
async fn reset_removes_the_factor_and_codes_and_is_audited() {
    let (_dir, store) = store_with_user().await;
    let (e, codes) = enrolled(&store).await;
    assert!(
        totp()
            .reset(&store, USER, "u_owner", t(100))
            .await
            .expect("reset")
    );
    assert!(store.get_totp_factor(USER).await.expect("get").is_none());
    assert!(
        store
            .unused_recovery_code_hashes(USER)
            .await
            .expect("codes")
            .is_empty()
    );
    let err = totp()
        .verify(&store, USER, &app_code(&e, t(120)), t(120))
        .await
        .expect_err("reset");
    assert_eq!(err.as_str(), "not_enrolled");
    let err = totp()
        .use_recovery_code(&store, USER, &codes.0[0], t(120))
        .await
        .expect_err("reset");
    assert_eq!(err.as_str(), "not_enrolled");

    let audit = store
        .list_audit(&AuditQuery {
            subject: Some(USER.to_owned()),
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (
            audit[0].action.as_str(),
            audit[0].actor.as_str(),
            audit[0].at
        ),
        ("mfa_reset", "u_owner", t(100))
    );
    assert_eq!(
        audit[0].detail,
        serde_json::json!({"method": "totp", "had_factor": true})
    );

    // A second reset has nothing to remove but is still recorded; the user
    // can enroll again.
    assert!(
        !totp()
            .reset(&store, USER, "u_owner", t(130))
            .await
            .expect("reset")
    );
    totp()
        .enroll(&store, USER, "anna@contoso.com", "Tailwind Traders", t(140))
        .await
        .expect("enroll again");
}

// ---- names and redaction ---------------------------------------------------

#[test]
fn error_and_method_names_are_stable() {
    let names: Vec<&str> = [
        MfaError::InvalidCode,
        MfaError::Malformed,
        MfaError::Replayed,
        MfaError::Locked { until: t(0) },
        MfaError::NotEnrolled,
        MfaError::NoReplacement,
        MfaError::AlreadyEnrolled,
        MfaError::Invalid { reason: "x" },
        MfaError::Store(StoreError::NotFound {
            op: "x",
            what: "user",
        }),
        MfaError::Internal { reason: "x" },
    ]
    .iter()
    .map(MfaError::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "invalid_code",
            "malformed",
            "replayed",
            "locked",
            "not_enrolled",
            "no_replacement",
            "already_enrolled",
            "invalid_input",
            "store_error",
            "internal"
        ]
    );
    assert_eq!(MfaMethod::Totp.as_str(), "totp");
    assert_eq!(MfaMethod::RecoveryCode.as_str(), "recovery_code");
    assert_eq!(result_label::<()>(&Ok(())), "ok");
    assert_eq!(result_label::<()>(&Err(MfaError::Replayed)), "replayed");
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let (_dir, store) = store_with_user().await;
    let (e, codes) = enrolled(&store).await;
    let factor = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    let new = NewTotpFactor {
        user_id: USER.to_owned(),
        secret: factor.secret.clone(),
        algorithm: "SHA1".to_owned(),
        digits: 6,
        period: 30,
    };
    let debug = format!("{e:?} {codes:?} {factor:?} {new:?} {:?}", totp());
    let secret_bytes = format!("{:?}", factor.secret);
    let secret_hex: String = factor.secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut forbidden = vec![
        e.secret_base32.clone(),
        e.otpauth_uri.clone(),
        secret_bytes.trim_matches(['[', ']']).to_owned(),
        secret_hex,
    ];
    forbidden.extend(codes.0.iter().cloned());
    for c in &codes.0 {
        forbidden.push(c.replace('-', ""));
    }
    for secret in &forbidden {
        assert!(
            !debug.contains(secret.as_str()),
            "{secret} leaked in {debug}"
        );
    }
    assert!(debug.contains("<redacted>"), "{debug}");
}

// ---- The partner's enrollment (issue 17) ----------------------------------

#[tokio::test]
async fn a_wrong_code_during_enrollment_keeps_the_key() {
    let (_dir, store) = store_with_user().await;
    let first = totp()
        .pending_enrollment(&store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    let err = totp()
        .confirm(&store, USER, &wrong_code(&first, t(0)), t(0))
        .await
        .expect_err("wrong code");
    assert_eq!(err.as_str(), "invalid_code");
    // The page shown after the wrong code: the same key, URI and QR code.
    let again = totp()
        .pending_enrollment(&store, USER, "anna@contoso.com", "Tailwind Traders", t(5))
        .await
        .expect("pending enrollment");
    assert_eq!(again, first, "a wrong code must not replace the key");
    // So the entry the app already has confirms.
    totp()
        .confirm(&store, USER, &app_code(&first, t(30)), t(30))
        .await
        .expect("the app's entry still works");
    let err = totp()
        .pending_enrollment(&store, USER, "anna@contoso.com", "Tailwind Traders", t(40))
        .await
        .expect_err("confirmed");
    assert_eq!(err.as_str(), "already_enrolled");
}

#[tokio::test]
async fn pending_enrollment_without_a_factor_makes_one() {
    let (_dir, store) = store_with_user().await;
    let e = totp()
        .pending_enrollment(&store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    let f = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("pending factor");
    assert!(f.confirmed_at.is_none());
    totp()
        .confirm(&store, USER, &app_code(&e, t(0)), t(0))
        .await
        .expect("confirm");
}

#[tokio::test]
async fn codes_with_spaces_and_dashes_are_accepted() {
    let (_dir, store) = store_with_user().await;
    let e = totp()
        .enroll(&store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    let c = app_code(&e, t(0));
    totp()
        .confirm(&store, USER, &format!(" {} {} ", &c[..3], &c[3..]), t(0))
        .await
        .expect("confirm with a blank");
    for (k, typed) in [
        |c: &str| format!("{}-{}", &c[..3], &c[3..]),
        |c: &str| format!("{} {}", &c[..3], &c[3..]),
        |c: &str| format!("{} {} {}", &c[..2], &c[2..4], &c[4..]),
    ]
    .iter()
    .enumerate()
    {
        let at = t(60 * (i64::try_from(k).expect("small") + 1));
        let code = typed(&app_code(&e, at));
        totp()
            .verify(&store, USER, &code, at)
            .await
            .unwrap_or_else(|err| panic!("{code:?}: {err}"));
    }
    assert!(looks_like_totp_code("581 980"));
    assert!(looks_like_totp_code("581-980"));
    assert!(!looks_like_totp_code("ABCDE-FGHJK"));
    assert!(!looks_like_totp_code("58198"));
}

#[tokio::test]
async fn a_malformed_code_costs_no_try() {
    let (_dir, store) = store_with_user().await;
    let (e, codes) = enrolled(&store).await;
    let now = t(600);
    let max = totp().settings().max_failures;
    // More malformed attempts than the lockout allows, of every kind.
    let malformed = ["", "12345", "1234567", "12a456", "one two", "12345678901"];
    for _ in 0..=max {
        for m in malformed {
            let err = totp()
                .verify(&store, USER, m, now)
                .await
                .expect_err("malformed");
            assert_eq!(err.as_str(), "malformed", "{m:?}");
            assert!(
                !looks_like_totp_code(m) && !looks_like_recovery_code(m),
                "{m:?}"
            );
        }
    }
    let f = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    assert_eq!((f.failed_attempts, f.locked_until), (0, None));
    // A wrong code of the right shape still counts.
    let err = totp()
        .verify(&store, USER, &wrong_code(&e, now), now)
        .await
        .expect_err("wrong");
    assert_eq!(err.as_str(), "invalid_code");
    let f = store
        .get_totp_factor(USER)
        .await
        .expect("get")
        .expect("factor");
    assert_eq!(f.failed_attempts, 1);
    totp()
        .verify(&store, USER, &app_code(&e, now), now)
        .await
        .expect("not locked");
    assert!(looks_like_recovery_code(&codes.0[0]));
}

#[tokio::test]
async fn the_otpauth_link_carries_the_issuer_and_the_account() {
    let (_dir, store) = store_with_user().await;
    let e = totp()
        .pending_enrollment(&store, USER, "anna@contoso.com", "Tailwind Traders", t(0))
        .await
        .expect("enroll");
    let uri = url::Url::parse(&e.otpauth_uri).expect("an otpauth URI parses");
    assert_eq!(uri.scheme(), "otpauth");
    assert_eq!(uri.host_str(), Some("totp"));
    let label = percent_decode(uri.path().trim_start_matches('/'));
    assert_eq!(label, "Tailwind Traders:anna@contoso.com");
    let query: std::collections::HashMap<String, String> = uri.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("issuer").map(String::as_str),
        Some("Tailwind Traders")
    );
    assert_eq!(query.get("secret"), Some(&e.secret_base32));
    // The key shown for typing: blocks of four of the same key.
    let grouped = e.secret_grouped();
    assert_eq!(grouped.replace(' ', ""), e.secret_base32);
    assert!(
        grouped.split(' ').all(|b| b.len() == 4),
        "blocks of four: {grouped}"
    );
    assert_eq!(group_by_four("ABCDEFGHIJ"), "ABCD EFGH IJ");
}

/// The label of an otpauth URI is percent-encoded in its path.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("l={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// New recovery codes take a current code: a wrong one changes nothing and
/// counts as a failure; the right one replaces every code (used or not),
/// is audited, and is refused without a confirmed factor.
#[tokio::test]
async fn regenerating_recovery_codes_needs_a_current_code_and_replaces_all() {
    let (_dir, store) = store_with_user().await;
    let (e, old) = enrolled(&store).await;
    totp()
        .use_recovery_code(&store, USER, &old.0[0], t(5))
        .await
        .expect("one used");
    let before = store
        .unused_recovery_code_hashes(USER)
        .await
        .expect("hashes");
    let err = totp()
        .regenerate_recovery_codes(&store, USER, &wrong_code(&e, t(30)), t(30))
        .await
        .expect_err("a wrong code");
    assert_eq!(err.as_str(), "invalid_code");
    assert_eq!(
        store
            .unused_recovery_code_hashes(USER)
            .await
            .expect("hashes"),
        before
    );
    let new = totp()
        .regenerate_recovery_codes(&store, USER, &app_code(&e, t(30)), t(30))
        .await
        .expect("regenerate");
    assert_eq!(new.0.len(), 10);
    assert_eq!(
        store
            .unused_recovery_code_hashes(USER)
            .await
            .expect("hashes")
            .len(),
        10
    );
    // Two of the old ones (more would lock the factor: each is a failure).
    for c in &old.0[1..3] {
        assert!(
            totp()
                .use_recovery_code(&store, USER, c, t(40))
                .await
                .is_err(),
            "{c}"
        );
    }
    assert_eq!(
        totp()
            .use_recovery_code(&store, USER, &new.0[0], t(41))
            .await
            .expect("new code"),
        9
    );
    let audit = store
        .list_audit(&AuditQuery {
            subject: Some(USER.into()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "recovery_codes_regenerated" && a.actor == USER)
    );
    // Without a confirmed factor there is nothing to renew.
    totp()
        .reset(&store, USER, USER, t(50))
        .await
        .expect("reset");
    let err = totp()
        .regenerate_recovery_codes(&store, USER, &app_code(&e, t(60)), t(60))
        .await
        .expect_err("no factor");
    assert_eq!(err.as_str(), "not_enrolled");
    assert!(
        !store
            .replace_recovery_codes(USER, &[])
            .await
            .expect("store")
    );
}

/// Issue 17: replacing the authenticator keeps the old key working until a
/// code from the new key confirms it; a wrong code, or starting again, keeps
/// the same new key (no dead entry in the app); the recovery codes stay.
#[tokio::test]
async fn replacing_keeps_the_old_key_until_the_new_one_is_confirmed() {
    let (_dir, store) = store_with_user().await;
    let (old, codes) = enrolled(&store).await;
    let totp = totp();
    let new = totp
        .begin_replacement(&store, USER, "anna@contoso.com", "Tailwind Traders", t(30))
        .await
        .expect("begin");
    assert_ne!(new.secret_base32, old.secret_base32);
    // The old key still passes, at the next step.
    totp.verify(&store, USER, &app_code(&old, t(60)), t(60))
        .await
        .expect("the old key works while the new one waits");
    // Starting again, and a wrong code, keep the same new key.
    let again = totp
        .begin_replacement(&store, USER, "anna@contoso.com", "Tailwind Traders", t(90))
        .await
        .expect("begin again");
    assert_eq!(again.secret_base32, new.secret_base32);
    let wrong = totp
        .finish_replacement(&store, USER, &wrong_code(&new, t(90)), t(90))
        .await;
    assert!(matches!(wrong, Err(MfaError::InvalidCode)), "{wrong:?}");
    let shown = totp
        .waiting_replacement(&store, USER, "anna@contoso.com", "Tailwind Traders", t(90))
        .await
        .expect("still waiting");
    assert_eq!(shown.secret_base32, new.secret_base32);
    // An old-key code does not confirm the new key.
    let old_code = totp
        .finish_replacement(&store, USER, &app_code(&old, t(120)), t(120))
        .await;
    assert!(
        matches!(old_code, Err(MfaError::InvalidCode)),
        "{old_code:?}"
    );
    // The new key's code of the same step the old key last used is no
    // replay: it is another key.
    totp.finish_replacement(&store, USER, &app_code(&new, t(60)), t(60))
        .await
        .expect("confirmed");
    let old_after = totp
        .verify(&store, USER, &app_code(&old, t(150)), t(150))
        .await;
    assert!(
        matches!(old_after, Err(MfaError::InvalidCode)),
        "{old_after:?}"
    );
    totp.verify(&store, USER, &app_code(&new, t(150)), t(150))
        .await
        .expect("the new key is the factor");
    assert!(
        totp.use_recovery_code(&store, USER, &codes.0[0], t(180))
            .await
            .is_ok(),
        "the recovery codes stay"
    );
    let audit = store
        .list_audit(&crate::store::AuditQuery::default())
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "mfa_replaced" && e.actor == USER)
    );
    // Nothing is waiting any more.
    let none = totp
        .finish_replacement(&store, USER, &app_code(&new, t(180)), t(180))
        .await;
    assert!(matches!(none, Err(MfaError::NoReplacement)), "{none:?}");
}

/// A replacement not finished in time is discarded: confirming it fails,
/// the old key still works, and starting again makes a new key.
#[tokio::test]
async fn a_replacement_left_too_long_starts_again_with_a_new_key() {
    let (_dir, store) = store_with_user().await;
    let (old, _) = enrolled(&store).await;
    let totp = totp();
    let first = totp
        .begin_replacement(&store, USER, "anna@contoso.com", "Tailwind Traders", t(30))
        .await
        .expect("begin");
    let late = t(30 + 16 * 60);
    let refused = totp
        .finish_replacement(&store, USER, &app_code(&first, late), late)
        .await;
    assert!(
        matches!(refused, Err(MfaError::NoReplacement)),
        "{refused:?}"
    );
    totp.verify(&store, USER, &app_code(&old, late), late)
        .await
        .expect("the old key works");
    let second = totp
        .begin_replacement(&store, USER, "anna@contoso.com", "Tailwind Traders", late)
        .await
        .expect("begin again");
    assert_ne!(second.secret_base32, first.secret_base32);
    // Cancelled: nothing waits, the old key stays.
    assert!(store.cancel_totp_replacement(USER).await.expect("cancel"));
    let gone = totp
        .waiting_replacement(&store, USER, "anna@contoso.com", "Tailwind Traders", late)
        .await;
    assert!(matches!(gone, Err(MfaError::NoReplacement)), "{gone:?}");
}
