//! Store and directory-cache tests, each run against both backends: a real
//! SQLite file in a temporary directory and a fresh database on a real
//! PostgreSQL server (`test_postgres`). A test is an `async fn(TestDb)`
//! listed in [`on_both_backends!`], which makes `sqlite::NAME` and
//! `postgres::NAME` of it; an unlisted one is dead code, which the lints
//! refuse. Tests of one backend's own behaviour are plain `#[tokio::test]`s.

use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use time::OffsetDateTime;

use super::test_postgres;
use super::*;

/// Which backend a [`TestDb`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One test's own, empty database.
struct TestDb {
    place: Place,
}

enum Place {
    /// The directory holds `portcullis.db`; it goes when the test ends.
    Sqlite(TempDir),
    /// The URL of a database made for this test alone.
    Postgres(String),
}

impl TestDb {
    async fn new(backend: Backend) -> Self {
        let place = match backend {
            Backend::Sqlite => Place::Sqlite(tempfile::tempdir().expect("tempdir")),
            Backend::Postgres => Place::Postgres(test_postgres::cluster().create_database().await),
        };
        TestDb { place }
    }

    /// A new handle on the database, with its own pool: opening twice is
    /// two replicas (or two processes) sharing one database.
    async fn open(&self) -> Store {
        match &self.place {
            Place::Sqlite(dir) => Store::open_sqlite(&dir.path().join("portcullis.db")).await,
            Place::Postgres(url) => Store::open(url).await,
        }
        .expect("open store")
    }

    /// Makes the database unreachable for good (the file removed, the
    /// PostgreSQL database dropped), to show that what follows needs none.
    async fn destroy(&self) {
        match &self.place {
            Place::Sqlite(dir) => std::fs::remove_dir_all(dir.path()).expect("remove db dir"),
            Place::Postgres(url) => {
                let name = url.rsplit('/').next().expect("database name").to_owned();
                let admin = test_postgres::cluster().url("postgres");
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("admin connection");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .expect("drop database");
            }
        }
    }

    /// The text column read by `sql` (a raw query, to see what is stored).
    async fn strings(&self, sql: &'static str) -> Vec<String> {
        match &self.place {
            Place::Sqlite(dir) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join("portcullis.db"));
                let pool = sqlx::SqlitePool::connect_with(options)
                    .await
                    .expect("raw connection");
                sqlx::query_scalar(sql).fetch_all(&pool).await
            }
            Place::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("raw connection");
                sqlx::query_scalar(sql).fetch_all(&pool).await
            }
        }
        .expect("raw query")
    }

    async fn count_rows(&self, table: &str) -> i64 {
        let sql = match table {
            "consents" => "SELECT COUNT(*) FROM consents",
            "sessions" => "SELECT COUNT(*) FROM sessions",
            other => panic!("no count query for {other}"),
        };
        match &self.place {
            Place::Sqlite(dir) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join("portcullis.db"));
                let pool = sqlx::SqlitePool::connect_with(options)
                    .await
                    .expect("raw connection");
                sqlx::query_scalar(sql).fetch_one(&pool).await
            }
            Place::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("raw connection");
                sqlx::query_scalar(sql).fetch_one(&pool).await
            }
        }
        .expect("count")
    }
}

/// Runs each listed `async fn NAME(db: TestDb)` once per backend, as the
/// tests `sqlite::NAME` and `postgres::NAME`. Every test gets a
/// multi-threaded runtime, so the racing tests really race.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::new(super::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::new(super::Backend::Postgres).await).await
                }
            )*
        }
    };
}

on_both_backends!(
    upsert_user_inserts_then_updates_without_touching_state_or_created_at,
    email_is_unique_ignoring_case,
    identity_is_unique_and_empty_input_is_invalid,
    set_state_of_unknown_user_is_not_found_and_list_filters_by_type,
    delete_user_removes_memberships_and_assignments,
    group_membership_add_list_remove,
    guest_assignment_is_live_until_its_end_and_not_after,
    guest_assignment_without_end_is_rejected_member_one_is_allowed,
    assignment_errors_name_what_is_wrong,
    directory_facts_for_unknown_user_is_ok_and_denies,
    directory_facts_for_blocked_user_with_groups,
    signing_keys_round_trip_newest_first,
    revoked_sessions_are_remembered_until_they_expire,
    audit_lists_newest_first_with_paging_and_filters,
    two_handles_on_one_file_write_concurrently_without_busy_errors,
    cache_answers_without_the_database_once_warm,
    cache_assignment_expiring_while_cached_is_not_live,
    cache_ttl_expiry_forces_a_reload,
    cache_invalidate_user_drops_the_entry,
    cache_remembers_unknown_users,
    cache_database_error_is_an_err_and_not_cached,
    cache_serves_the_last_facts_while_the_store_fails,
    cache_load_is_bounded_by_the_timeout,
    tickets_are_taken_once_and_not_after_they_expire,
    prune_tickets_deletes_only_expired_ones,
    concurrent_takes_of_one_ticket_yield_it_exactly_once,
    passcode_is_accepted_once_ignoring_the_case_of_the_address,
    passcode_wrong_guesses_count_down_then_lock_even_the_right_code,
    expired_passcode_is_refused_without_counting,
    racing_passcode_checks_accept_once_and_count_every_wrong_guess,
    rate_limit_counts_hits_per_fixed_window_bucket_and_key,
    concurrent_rate_limit_hits_all_count,
    rate_limits_stop_at_the_client_and_bound_the_counters,
    racing_rate_limit_checks_let_exactly_the_limit_through,
    secrets_are_stored_only_as_sha256_hex,
    consent_keeps_the_latest_version_and_goes_with_the_user,
    sessions_list_live_ones_and_revoking_all_reaches_is_revoked,
    link_identity_links_only_an_unlinked_user,
    racing_first_sign_ins_link_one_identity,
    totp_enrollment_steps_lockout_and_recovery_codes,
    racing_totp_codes_of_one_step_are_accepted_once,
    passkeys_belong_to_one_user_and_a_counter_only_rises,
    invitation_link_works_once_and_then_says_why_not,
    invitation_input_is_checked,
    racing_redemptions_of_one_link_have_one_winner,
    a_change_on_one_replica_reaches_the_other_within_the_cache_ttl,
    lifecycle_reminders_are_claimed_once_and_a_new_end_clears_the_mark,
    lifecycle_racing_reminder_claims_take_each_once,
    lifecycle_guest_whose_last_assignment_ended_is_claimed_once,
    lifecycle_racing_expiry_claims_act_once,
    lifecycle_sessions_of_blocked_guests_and_deletion_after_the_block,
    lifecycle_members_of_group_for_owners,
    guests_are_counted_by_state,
    lifecycle_removing_the_last_live_assignment_counts_as_its_end,
    access_request_is_idempotent_while_pending_and_decided_once,
    racing_decisions_on_one_request_have_one_winner,
    racing_sign_up_requests_make_one_pending_request,
    decisions_round_trip_filter_and_prune,
    guest_summaries_list_each_guest_once_with_access_and_invitations,
    policy_counts_add_up_the_policies_that_applied_by_state,
    a_compact_allow_reads_back_whole_and_is_counted,
    audit_filters_by_part_of_the_actor_and_the_action_in_the_query,
    decisions_page_by_id,
    a_batch_of_allows_is_one_row_read_back_decision_by_decision,
    recovery_request_is_decided_once_and_its_link_redeemed_once,
    racing_recovery_link_redemptions_have_one_winner,
);

/// A fixed instant, so tests never depend on the wall clock for expiry.
fn t(offset_secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + offset_secs).expect("valid timestamp")
}

fn guest(id: &str, email: &str) -> NewUser {
    NewUser {
        id: id.to_owned(),
        email: email.to_owned(),
        display_name: Some("Anna".to_owned()),
        user_type: UserType::Guest,
        identity: None,
    }
}

fn member(id: &str, email: &str) -> NewUser {
    NewUser {
        user_type: UserType::Member,
        ..guest(id, email)
    }
}

async fn add(store: &Store, user: NewUser) -> User {
    store.upsert_user(&user, t(0)).await.expect("upsert user")
}

// ---- open and migrations ----------------------------------------------------

#[tokio::test]
async fn open_creates_file_and_parent_dirs_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("var/nested/portcullis.db");
    let location = format!("sqlite://{}", path.display());

    let first = Store::open(&location).await.expect("first open");
    add(&first, guest("u1", "anna@contoso.com")).await;
    first.close().await;
    assert!(path.exists());

    // Opening again runs the migrator against an up-to-date schema.
    let second = Store::open(&location).await.expect("second open");
    let again = Store::open(path.to_str().expect("utf-8 path"))
        .await
        .expect("third open, plain path, while the second is open");
    assert!(second.get_user("u1").await.expect("get").is_some());
    assert!(again.get_user("u1").await.expect("get").is_some());
}

#[tokio::test]
async fn open_rejects_in_memory_sqlite() {
    for location in ["sqlite::memory:", ""] {
        let err = Store::open(location).await.expect_err(location);
        assert!(
            matches!(err, StoreError::Unsupported { .. }),
            "{location}: {err:?}"
        );
    }
}

#[tokio::test]
async fn open_takes_both_postgres_url_schemes_and_migrations_are_idempotent() {
    let url = test_postgres::cluster().create_database().await;
    let first = Store::open(&url).await.expect("first open, postgres://");
    assert!(matches!(first, Store::Postgres(_)), "{first:?}");
    add(&first, guest("u1", "anna@contoso.com")).await;
    first.close().await;

    // Opening again runs the migrator against an up-to-date schema; two
    // replicas opening together share it.
    let other_scheme = url.replacen("postgres://", "postgresql://", 1);
    let (second, third) = tokio::join!(Store::open(&url), Store::open(&other_scheme));
    let second = second.expect("second open");
    let third = third.expect("third open, postgresql://, at the same time");
    assert!(second.get_user("u1").await.expect("get").is_some());
    assert!(third.get_user("u1").await.expect("get").is_some());
}

#[tokio::test]
async fn open_postgres_failure_is_bounded_and_never_shows_the_password() {
    // A closed loopback port: the connection is refused at once.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let started = std::time::Instant::now();
    let err = Store::open(&format!(
        "postgres://portcullis:hunter2@127.0.0.1:{port}/portcullis"
    ))
    .await
    .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains(&format!("127.0.0.1:{port}/portcullis")),
        "{shown}"
    );

    let err = Store::open("postgres://portcullis:hunter2@[::1")
        .await
        .expect_err("not a URL");
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

// ---- users ------------------------------------------------------------------

async fn upsert_user_inserts_then_updates_without_touching_state_or_created_at(db: TestDb) {
    let store = db.open().await;
    let created = add(&store, guest("u1", "anna@contoso.com")).await;
    assert_eq!(created.state, UserState::Active);
    assert_eq!(created.created_at, t(0));
    assert_eq!(created.identity, None);

    store
        .set_user_state("u1", UserState::Blocked)
        .await
        .expect("block");
    let updated = store
        .upsert_user(
            &NewUser {
                display_name: None,
                identity: Some(Identity {
                    idp: "contoso".into(),
                    subject: "sub-1".into(),
                }),
                ..guest("u1", "Anna.New@Contoso.com")
            },
            t(100),
        )
        .await
        .expect("update");
    assert_eq!(updated.email, "Anna.New@Contoso.com");
    assert_eq!(
        updated.display_name.as_deref(),
        Some("Anna"),
        "None keeps the name"
    );
    assert_eq!(
        updated.state,
        UserState::Blocked,
        "signing in must not unblock"
    );
    assert_eq!(updated.created_at, t(0));

    // An upsert without an identity keeps the linked one.
    let kept = add(&store, guest("u1", "anna.new@contoso.com")).await;
    assert_eq!(
        kept.identity,
        Some(Identity {
            idp: "contoso".into(),
            subject: "sub-1".into()
        })
    );
    let by_identity = store
        .get_user_by_identity("contoso", "sub-1")
        .await
        .expect("by identity");
    assert_eq!(by_identity.map(|u| u.id).as_deref(), Some("u1"));
    assert_eq!(store.get_user("nobody").await.expect("get"), None);
}

async fn email_is_unique_ignoring_case(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "Anna@Contoso.com")).await;

    let err = store
        .upsert_user(&guest("u2", " anna@contoso.COM "), t(0))
        .await
        .expect_err("same e-mail, other case");
    assert!(
        matches!(err, StoreError::Conflict { what: "email", .. }),
        "{err:?}"
    );
    // The message names the rule, not the address.
    assert!(!err.to_string().contains("anna"), "{err}");

    let found = store
        .get_user_by_email("ANNA@contoso.com")
        .await
        .expect("by email")
        .expect("found");
    assert_eq!(found.id, "u1");
    assert_eq!(found.email, "Anna@Contoso.com", "case as given is kept");
}

async fn identity_is_unique_and_empty_input_is_invalid(db: TestDb) {
    let store = db.open().await;
    let id = Identity {
        idp: "contoso".into(),
        subject: "sub-1".into(),
    };
    add(
        &store,
        NewUser {
            identity: Some(id.clone()),
            ..guest("u1", "a@contoso.com")
        },
    )
    .await;
    let err = store
        .upsert_user(
            &NewUser {
                identity: Some(id),
                ..guest("u2", "b@contoso.com")
            },
            t(0),
        )
        .await
        .expect_err("same identity");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "identity",
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .upsert_user(&guest("u3", "  "), t(0))
        .await
        .expect_err("empty e-mail");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

async fn set_state_of_unknown_user_is_not_found_and_list_filters_by_type(db: TestDb) {
    let store = db.open().await;
    let err = store
        .set_user_state("nobody", UserState::Blocked)
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
    add(&store, guest("g1", "b@partner.com")).await;
    add(&store, member("m1", "a@tailwindtraders.com")).await;
    let guests = store
        .list_users(Some(UserType::Guest))
        .await
        .expect("list guests");
    assert_eq!(
        guests.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["g1"]
    );
    assert_eq!(store.list_users(None).await.expect("list").len(), 2);
}

async fn delete_user_removes_memberships_and_assignments(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "a@partner.com")).await;
    store
        .add_group_member("partners", "u1", t(0))
        .await
        .expect("group");
    store
        .grant_assignment("u1", "payroll", Some(t(100)), None, t(0))
        .await
        .expect("grant");
    assert!(store.delete_user("u1").await.expect("delete"));
    assert!(!store.delete_user("u1").await.expect("delete again"));
    assert!(store.groups_of("u1").await.expect("groups").is_empty());
    assert!(
        store
            .assignments_of_app("payroll")
            .await
            .expect("list")
            .is_empty()
    );
}

// ---- groups -------------------------------------------------------------------

async fn group_membership_add_list_remove(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "a@partner.com")).await;
    for group in ["partners", "break-glass", "partners"] {
        store
            .add_group_member(group, "u1", t(0))
            .await
            .expect("add (twice is fine)");
    }
    assert_eq!(
        store.groups_of("u1").await.expect("groups"),
        ["break-glass", "partners"]
    );
    assert!(
        store
            .remove_group_member("partners", "u1")
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_group_member("partners", "u1")
            .await
            .expect("remove again")
    );
    assert_eq!(
        store.groups_of("u1").await.expect("groups"),
        ["break-glass"]
    );

    let err = store
        .add_group_member("partners", "nobody", t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

// ---- assignments ----------------------------------------------------------------

async fn guest_assignment_is_live_until_its_end_and_not_after(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "a@partner.com")).await;
    let granted = store
        .grant_assignment("u1", "payroll", Some(t(100)), Some("owner-1"), t(0))
        .await
        .expect("grant");
    assert_eq!(granted.expires_at, Some(t(100)));
    assert_eq!(granted.granted_by.as_deref(), Some("owner-1"));
    assert!(granted.is_live(t(99)));
    assert!(!granted.is_live(t(100)), "the end is exclusive");

    let live = store
        .directory_facts("u1", "payroll", t(50))
        .await
        .expect("facts");
    assert!(live.user_exists && live.assigned && live.assigned_live);
    assert_eq!(live.assignment_expires_at, Some(t(100)));
    let expired = store
        .directory_facts("u1", "payroll", t(100))
        .await
        .expect("facts");
    assert!(expired.assigned && !expired.assigned_live);
    let other_app = store
        .directory_facts("u1", "crm", t(50))
        .await
        .expect("facts");
    assert!(!other_app.assigned && !other_app.assigned_live);

    // Extending keeps granted_at; revoking removes it.
    let extended = store
        .extend_assignment("u1", "payroll", Some(t(500)), t(10))
        .await
        .expect("extend");
    assert_eq!(
        (extended.granted_at, extended.expires_at),
        (t(0), Some(t(500)))
    );
    assert_eq!(
        store.assignments_of_user("u1").await.expect("list"),
        [extended]
    );
    assert!(
        store
            .revoke_assignment("u1", "payroll")
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_assignment("u1", "payroll")
            .await
            .expect("revoke again")
    );
    assert!(
        store
            .assignments_of_user("u1")
            .await
            .expect("list")
            .is_empty()
    );
}

async fn guest_assignment_without_end_is_rejected_member_one_is_allowed(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("g1", "a@partner.com")).await;
    add(&store, member("m1", "b@tailwindtraders.com")).await;

    let err = store
        .grant_assignment("g1", "payroll", None, None, t(0))
        .await
        .expect_err("guest without an end");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert!(
        store
            .assignments_of_user("g1")
            .await
            .expect("list")
            .is_empty()
    );

    store
        .grant_assignment("g1", "payroll", Some(t(100)), None, t(0))
        .await
        .expect("guest with an end");
    let err = store
        .extend_assignment("g1", "payroll", None, t(0))
        .await
        .expect_err("extending a guest to no end");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");

    let forever = store
        .grant_assignment("m1", "payroll", None, None, t(0))
        .await
        .expect("member without an end");
    assert!(forever.is_live(t(1_000_000_000)));
    let facts = store
        .directory_facts("m1", "payroll", t(1_000_000))
        .await
        .expect("facts");
    assert!(facts.assigned_live);
    assert_eq!(facts.assignment_expires_at, None);
}

async fn assignment_errors_name_what_is_wrong(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("g1", "a@partner.com")).await;
    let err = store
        .grant_assignment("nobody", "payroll", Some(t(100)), None, t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
    let err = store
        .grant_assignment("g1", "payroll", Some(t(0)), None, t(0))
        .await
        .expect_err("end not in the future");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    let err = store
        .extend_assignment("g1", "payroll", Some(t(100)), t(0))
        .await
        .expect_err("nothing to extend");
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "assignment",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- directory facts ---------------------------------------------------------------

async fn directory_facts_for_unknown_user_is_ok_and_denies(db: TestDb) {
    let store = db.open().await;
    let facts = store
        .directory_facts("nobody", "payroll", t(0))
        .await
        .expect("facts");
    assert!(!facts.user_exists && !facts.assigned_live && !facts.blocked);
    assert_eq!(facts.user_type, None);
    assert!(facts.groups.is_empty());
}

async fn directory_facts_for_blocked_user_with_groups(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "a@partner.com")).await;
    for group in ["zeta", "alpha"] {
        store
            .add_group_member(group, "u1", t(0))
            .await
            .expect("group");
    }
    store
        .grant_assignment("u1", "payroll", Some(t(100)), None, t(0))
        .await
        .expect("grant");
    store
        .set_user_state("u1", UserState::Blocked)
        .await
        .expect("block");
    let facts = store
        .directory_facts("u1", "payroll", t(1))
        .await
        .expect("facts");
    assert!(facts.user_exists && facts.blocked);
    assert_eq!(facts.user_type, Some(UserType::Guest));
    assert_eq!(&*facts.groups, ["alpha", "zeta"]);
}

// ---- signing keys, revocation, audit ----------------------------------------------

fn key(kid: &str, created: i64) -> SigningKey {
    SigningKey {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        private_key: b"SECRET".to_vec(),
        public_key: vec![7; 32],
        created_at: t(created),
        not_after: t(created + 1000),
    }
}

async fn signing_keys_round_trip_newest_first(db: TestDb) {
    let store = db.open().await;
    let (old, new) = (key("k-old", 0), key("k-new", 10));
    store.insert_signing_key(&old).await.expect("insert old");
    store.insert_signing_key(&new).await.expect("insert new");
    assert_eq!(
        store.list_signing_keys().await.expect("list"),
        [new.clone(), old.clone()]
    );

    let err = store.insert_signing_key(&old).await.expect_err("same kid");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "signing key",
                ..
            }
        ),
        "{err:?}"
    );
    let debug = format!("{old:?}");
    assert!(
        debug.contains("redacted") && !debug.contains("83, 69, 67"),
        "{debug}"
    );

    assert_eq!(
        store
            .delete_signing_keys_expired(t(1000))
            .await
            .expect("prune"),
        1
    );
    assert_eq!(store.list_signing_keys().await.expect("list"), [new]);
}

async fn revoked_sessions_are_remembered_until_they_expire(db: TestDb) {
    let store = db.open().await;
    store
        .revoke_session("sid-1", t(100), t(0))
        .await
        .expect("revoke");
    store
        .revoke_session("sid-1", t(50), t(5))
        .await
        .expect("revoke twice");
    store
        .revoke_session("sid-2", t(200), t(10))
        .await
        .expect("revoke");
    assert!(store.is_revoked("sid-1").await.expect("check"));
    assert!(!store.is_revoked("sid-3").await.expect("check"));

    let since = store.revocations_since(t(10)).await.expect("since");
    assert_eq!(
        since.iter().map(|r| r.sid.as_str()).collect::<Vec<_>>(),
        ["sid-2"]
    );
    let all = store.revocations_since(t(0)).await.expect("all");
    assert_eq!(all[0].expires_at, t(100), "the later end is kept");
    assert_eq!(all[0].revoked_at, t(0), "the first revocation time is kept");

    assert_eq!(
        store.prune_revoked_sessions(t(100)).await.expect("prune"),
        1
    );
    assert!(!store.is_revoked("sid-1").await.expect("check"));
    assert!(store.is_revoked("sid-2").await.expect("check"));
}

async fn audit_lists_newest_first_with_paging_and_filters(db: TestDb) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for (i, subject) in ["u1", "u2", "u1"].into_iter().enumerate() {
        let id = store
            .append_audit(&NewAuditEntry {
                at: t(0), // same second: order comes from the id
                actor: "admin".into(),
                action: "guest_invited".into(),
                subject: Some(subject.into()),
                app: Some("payroll".into()),
                detail: json!({ "n": i }),
            })
            .await
            .expect("append");
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let all = store
        .list_audit(&AuditQuery::default())
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[2], ids[1], ids[0]]
    );
    assert_eq!(all[0].detail, json!({ "n": 2 }));
    assert_eq!(all[0].at, t(0));

    let page = store
        .list_audit(&AuditQuery {
            before_id: Some(ids[2]),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .expect("page");
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);

    let u1 = store
        .list_audit(&AuditQuery {
            subject: Some("u1".into()),
            ..AuditQuery::default()
        })
        .await
        .expect("by subject");
    assert_eq!(
        u1.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[2], ids[0]]
    );
}

// ---- concurrency ------------------------------------------------------------------

async fn two_handles_on_one_file_write_concurrently_without_busy_errors(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;

    // Enough writers that, without busy_timeout, some fail with "database is
    // locked" on most runs (checked by setting BUSY_TIMEOUT to zero).
    const WRITERS: usize = 100;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..WRITERS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let id = format!("u{i}");
            store
                .upsert_user(&guest(&id, &format!("{id}@partner.com")), t(0))
                .await?;
            store.add_group_member("partners", &id, t(0)).await?;
            store
                .grant_assignment(&id, "payroll", Some(t(100)), None, t(0))
                .await?;
            store
                .append_audit(&NewAuditEntry {
                    at: t(0),
                    actor: "test".into(),
                    action: "guest_invited".into(),
                    subject: Some(id),
                    app: None,
                    detail: json!({}),
                })
                .await?;
            Ok::<_, StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task")
            .expect("no SQLITE_BUSY under concurrent writers");
    }
    let audit = a
        .list_audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(audit.len(), WRITERS);
    assert_eq!(
        b.assignments_of_app("payroll").await.expect("list").len(),
        WRITERS
    );
}

// ---- directory cache -------------------------------------------------------------------

fn cache_with(store: &Store, ttl: Duration) -> DirectoryCache {
    DirectoryCache::new(
        store.clone(),
        DirectoryCacheConfig {
            ttl,
            ..DirectoryCacheConfig::default()
        },
    )
}

async fn assigned_guest(store: &Store, until: i64) {
    add(store, guest("u1", "a@partner.com")).await;
    store
        .grant_assignment("u1", "payroll", Some(t(until)), None, t(0))
        .await
        .expect("grant");
}

async fn cache_answers_without_the_database_once_warm(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 100).await;
    let cache = cache_with(&store, Duration::from_secs(60));
    assert_eq!(cache.cached("u1", "payroll", t(1)), None, "cold");

    let loaded = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("load");
    assert!(loaded.assigned_live);

    // No database any more: the pool is closed and the database is gone.
    store.close().await;
    db.destroy().await;

    assert_eq!(cache.cached("u1", "payroll", t(1)), Some(loaded.clone()));
    assert_eq!(
        cache.get_or_load("u1", "payroll", t(1)).await.expect("hit"),
        loaded
    );
    // Another app of the same user comes from the same entry.
    let crm = cache.cached("u1", "crm", t(1)).expect("same entry");
    assert!(crm.user_exists && !crm.assigned);
}

async fn cache_assignment_expiring_while_cached_is_not_live(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 10).await;
    let cache = cache_with(&store, Duration::from_secs(60));
    assert!(
        cache
            .get_or_load("u1", "payroll", t(0))
            .await
            .expect("load")
            .assigned_live
    );
    store.close().await;

    let before = cache.cached("u1", "payroll", t(9)).expect("cached");
    assert!(before.assigned_live);
    let after = cache.cached("u1", "payroll", t(10)).expect("still cached");
    assert!(!after.assigned_live, "liveness is judged at read time");
    assert_eq!(after.assignment_expires_at, Some(t(10)));
}

async fn cache_ttl_expiry_forces_a_reload(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 100).await;
    let cache = cache_with(&store, Duration::from_millis(200));
    assert!(
        !cache
            .get_or_load("u1", "payroll", t(1))
            .await
            .expect("load")
            .blocked
    );

    store
        .set_user_state("u1", UserState::Blocked)
        .await
        .expect("block");
    assert!(
        !cache.cached("u1", "payroll", t(1)).expect("cached").blocked,
        "a change without invalidation shows after the TTL"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.cached("u1", "payroll", t(1)), None, "expired");
    assert!(
        cache
            .get_or_load("u1", "payroll", t(1))
            .await
            .expect("reload")
            .blocked
    );
}

async fn cache_invalidate_user_drops_the_entry(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 100).await;
    add(&store, guest("u2", "b@partner.com")).await;
    let cache = cache_with(&store, Duration::from_secs(60));
    cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("load");
    cache
        .get_or_load("u2", "payroll", t(1))
        .await
        .expect("load");

    store
        .revoke_assignment("u1", "payroll")
        .await
        .expect("revoke");
    cache.invalidate_user("u1");
    assert_eq!(cache.cached("u1", "payroll", t(1)), None);
    assert!(cache.cached("u2", "payroll", t(1)).is_some(), "others stay");
    let fresh = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("reload");
    assert!(!fresh.assigned && !fresh.assigned_live);

    // refresh() replaces an entry without a miss in between.
    store
        .grant_assignment("u1", "payroll", Some(t(50)), None, t(1))
        .await
        .expect("grant again");
    cache.refresh("u1").await.expect("refresh");
    assert!(
        cache
            .cached("u1", "payroll", t(1))
            .expect("cached")
            .assigned_live
    );
}

async fn cache_remembers_unknown_users(db: TestDb) {
    let store = db.open().await;
    let cache = cache_with(&store, Duration::from_secs(60));
    let facts = cache
        .get_or_load("ghost", "payroll", t(0))
        .await
        .expect("load");
    assert!(!facts.user_exists);
    store.close().await;
    assert_eq!(cache.cached("ghost", "payroll", t(0)), Some(facts));
}

async fn cache_database_error_is_an_err_and_not_cached(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 100).await;
    let cache = cache_with(&store, Duration::from_secs(60));
    store.close().await;
    let err = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect_err("closed pool");
    assert!(
        matches!(
            err,
            StoreError::Database {
                op: "directory_user",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(cache.cached("u1", "payroll", t(1)), None);
}

/// A database restart or fail-over: signed-in users keep the facts the store
/// last gave, up to `stale_if_error`; users without an entry, and users
/// changed on this replica during the outage, are still denied.
async fn cache_serves_the_last_facts_while_the_store_fails(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 100).await;
    add(&store, guest("u2", "b@partner.com")).await;
    add(&store, guest("u3", "c@partner.com")).await;
    let config = |stale_if_error| DirectoryCacheConfig {
        ttl: Duration::from_millis(100),
        stale_if_error,
        ..DirectoryCacheConfig::default()
    };
    let cache = DirectoryCache::new(store.clone(), config(Duration::from_secs(60)));
    let strict = DirectoryCache::new(store.clone(), config(Duration::ZERO));
    let loaded = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("load");
    cache
        .get_or_load("u2", "payroll", t(1))
        .await
        .expect("load");
    strict
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("load");
    store.close().await;
    tokio::time::sleep(Duration::from_millis(250)).await;

    assert_eq!(
        cache.cached("u1", "payroll", t(1)),
        None,
        "past the TTL: ask"
    );
    assert_eq!(
        cache
            .get_or_load("u1", "payroll", t(1))
            .await
            .expect("stale"),
        loaded
    );
    assert_eq!(
        cache.cached("u1", "payroll", t(1)),
        Some(loaded),
        "while the store fails, stale entries answer without a load"
    );
    cache
        .get_or_load("u3", "payroll", t(1))
        .await
        .expect_err("never loaded: no facts to serve");
    cache.invalidate_user("u2");
    cache
        .get_or_load("u2", "payroll", t(1))
        .await
        .expect_err("changed here during the outage: deny");
    strict
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect_err("stale_if_error: 0 serves nothing stale");
}

async fn cache_load_is_bounded_by_the_timeout(db: TestDb) {
    let store = db.open().await;
    assigned_guest(&store, 100).await;
    let cache = DirectoryCache::new(
        store.clone(),
        DirectoryCacheConfig {
            load_timeout: Duration::from_millis(100),
            ..DirectoryCacheConfig::default()
        },
    );
    // Hold every pooled connection so the load cannot start.
    let _held = match &store {
        Store::Sqlite(b) => HeldConnections::Sqlite(b.hold_all_connections().await),
        Store::Postgres(b) => HeldConnections::Postgres(b.hold_all_connections().await),
    };
    let started = std::time::Instant::now();
    let err = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect_err("no connection");
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// The request path's loads have their own connections on SQLite: writers
/// that hold every writing connection (one inside a write transaction, the
/// rest as if waiting for its lock) do not hold up a directory load.
#[tokio::test]
async fn sqlite_directory_loads_do_not_queue_behind_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("portcullis.db"))
        .await
        .expect("open");
    assigned_guest(&store, 100).await;
    let Store::Sqlite(backend) = &store else {
        panic!("a SQLite store");
    };
    let mut held = backend.hold_writer_connections().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *held[0])
        .await
        .expect("take the write lock");
    sqlx::query("UPDATE users SET display_name = 'writing' WHERE id = 'u1'")
        .execute(&mut *held[0])
        .await
        .expect("write under the lock");
    let cache = DirectoryCache::new(
        store.clone(),
        DirectoryCacheConfig {
            load_timeout: Duration::from_secs(2),
            ..DirectoryCacheConfig::default()
        },
    );
    let facts = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("the load runs on a reader connection");
    assert!(facts.user_exists, "{facts:?}");
}

// ---- sign-in state ------------------------------------------------------------------

/// Pooled connections checked out and kept, whichever the backend.
#[allow(dead_code)] // held only for their Drop
enum HeldConnections {
    Sqlite(Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>>),
    Postgres(Vec<sqlx::pool::PoolConnection<sqlx::Postgres>>),
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn tickets_are_taken_once_and_not_after_they_expire(db: TestDb) {
    let store = db.open().await;
    store
        .put_ticket("oidc_state", "state-1", r#"{"n":1}"#, t(60), t(0))
        .await
        .expect("put");
    let err = store
        .put_ticket("oidc_state", "state-1", "other", t(60), t(1))
        .await
        .expect_err("duplicate live ticket");
    assert!(
        matches!(err, StoreError::Conflict { what: "ticket", .. }),
        "{err:?}"
    );
    // The same key of another kind is another ticket.
    store
        .put_ticket("sso_handoff", "state-1", "handoff", t(60), t(0))
        .await
        .expect("put other kind");

    assert_eq!(
        store
            .take_ticket("oidc_state", "state-1", t(59))
            .await
            .expect("take"),
        Some(r#"{"n":1}"#.to_owned()),
        "the payload of the first put, not the refused second"
    );
    assert_eq!(
        store
            .take_ticket("oidc_state", "state-1", t(59))
            .await
            .expect("take again"),
        None,
        "single use"
    );
    assert_eq!(
        store
            .take_ticket("oidc_state", "nope", t(0))
            .await
            .expect("take unknown"),
        None
    );
    assert_eq!(
        store
            .take_ticket("sso_handoff", "state-1", t(0))
            .await
            .expect("take other kind"),
        Some("handoff".to_owned())
    );

    // The end is exclusive; an expired ticket is deleted by the take.
    store
        .put_ticket("oidc_state", "state-2", "late", t(60), t(0))
        .await
        .expect("put");
    assert_eq!(
        store
            .take_ticket("oidc_state", "state-2", t(60))
            .await
            .expect("take expired"),
        None
    );
    assert_eq!(
        store.prune_tickets(t(1000)).await.expect("prune"),
        0,
        "already gone"
    );

    // An expired ticket under a key is replaced by a new put.
    store
        .put_ticket("oidc_state", "state-3", "old", t(10), t(0))
        .await
        .expect("put");
    store
        .put_ticket("oidc_state", "state-3", "new", t(100), t(10))
        .await
        .expect("replace expired");
    assert_eq!(
        store
            .take_ticket("oidc_state", "state-3", t(20))
            .await
            .expect("take"),
        Some("new".to_owned())
    );

    let err = store
        .put_ticket("oidc_state", "state-4", "x", t(0), t(0))
        .await
        .expect_err("end not after now");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

async fn prune_tickets_deletes_only_expired_ones(db: TestDb) {
    let store = db.open().await;
    for (key, end) in [("a", 10), ("b", 20), ("c", 30)] {
        store
            .put_ticket("k", key, key, t(end), t(0))
            .await
            .expect("put");
    }
    assert_eq!(store.prune_tickets(t(20)).await.expect("prune"), 2);
    assert_eq!(
        store.take_ticket("k", "c", t(20)).await.expect("take"),
        Some("c".to_owned())
    );
}

async fn concurrent_takes_of_one_ticket_yield_it_exactly_once(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    const TICKETS: usize = 10;
    const TAKERS: usize = 8;
    for i in 0..TICKETS {
        a.put_ticket(
            "oidc_state",
            &format!("s{i}"),
            &format!("p{i}"),
            t(60),
            t(0),
        )
        .await
        .expect("put");
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..TICKETS {
        for j in 0..TAKERS {
            let store = if j % 2 == 0 { a.clone() } else { b.clone() };
            tasks.spawn(async move {
                let got = store
                    .take_ticket("oidc_state", &format!("s{i}"), t(1))
                    .await;
                (i, got)
            });
        }
    }
    let mut winners = [0usize; TICKETS];
    while let Some(done) = tasks.join_next().await {
        let (i, got) = done.expect("task");
        if let Some(payload) = got.expect("take") {
            assert_eq!(payload, format!("p{i}"));
            winners[i] += 1;
        }
    }
    assert_eq!(winners, [1; TICKETS], "each ticket taken exactly once");
}

async fn passcode_is_accepted_once_ignoring_the_case_of_the_address(db: TestDb) {
    let store = db.open().await;
    store
        .create_passcode("Anna@Contoso.com", "123456", t(300), t(0))
        .await
        .expect("create");
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "123456", 5, t(10))
            .await
            .expect("check"),
        PasscodeCheck::Accepted
    );
    assert_eq!(
        store
            .check_passcode("ANNA@contoso.com ", "123456", 5, t(11))
            .await
            .expect("check again"),
        PasscodeCheck::NotFound,
        "used up"
    );
    assert_eq!(
        store
            .check_passcode("bob@contoso.com", "123456", 5, t(11))
            .await
            .expect("check unknown"),
        PasscodeCheck::NotFound
    );
}

async fn passcode_wrong_guesses_count_down_then_lock_even_the_right_code(db: TestDb) {
    let store = db.open().await;
    store
        .create_passcode("anna@contoso.com", "111111", t(300), t(0))
        .await
        .expect("create");
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "000000", 3, t(1))
            .await
            .expect("wrong 1"),
        PasscodeCheck::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "000001", 3, t(2))
            .await
            .expect("wrong 2"),
        PasscodeCheck::Wrong { attempts_left: 1 }
    );
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "000002", 3, t(3))
            .await
            .expect("wrong 3"),
        PasscodeCheck::Wrong { attempts_left: 0 }
    );
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "111111", 3, t(4))
            .await
            .expect("right, too late"),
        PasscodeCheck::TooManyAttempts
    );
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "000003", 3, t(5))
            .await
            .expect("wrong, too late"),
        PasscodeCheck::TooManyAttempts
    );

    // A new code replaces the dead one and starts the count again.
    store
        .create_passcode("anna@contoso.com", "222222", t(300), t(10))
        .await
        .expect("create again");
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "111111", 3, t(11))
            .await
            .expect("old code"),
        PasscodeCheck::Wrong { attempts_left: 2 },
        "the old code is gone and counts as wrong"
    );
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "222222", 3, t(12))
            .await
            .expect("new code"),
        PasscodeCheck::Accepted,
        "a right code with attempts left is accepted"
    );

    let err = store
        .check_passcode("anna@contoso.com", "222222", 0, t(12))
        .await
        .expect_err("max 0");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

async fn expired_passcode_is_refused_without_counting(db: TestDb) {
    let store = db.open().await;
    store
        .create_passcode("anna@contoso.com", "123456", t(300), t(0))
        .await
        .expect("create");
    for code in ["123456", "999999", "999999"] {
        assert_eq!(
            store
                .check_passcode("anna@contoso.com", code, 2, t(300))
                .await
                .expect("check at the end"),
            PasscodeCheck::Expired,
            "{code}"
        );
    }
    assert_eq!(store.prune_passcodes(t(299)).await.expect("prune early"), 0);
    assert_eq!(store.prune_passcodes(t(300)).await.expect("prune"), 1);
    assert_eq!(
        store
            .check_passcode("anna@contoso.com", "123456", 2, t(301))
            .await
            .expect("check pruned"),
        PasscodeCheck::NotFound
    );
}

async fn racing_passcode_checks_accept_once_and_count_every_wrong_guess(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    const ADDRESSES: usize = 5;
    const CHECKERS: usize = 8;

    // Right codes: exactly one check per address wins.
    for i in 0..ADDRESSES {
        a.create_passcode(&format!("u{i}@contoso.com"), "424242", t(300), t(0))
            .await
            .expect("create");
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ADDRESSES {
        for j in 0..CHECKERS {
            let store = if j % 2 == 0 { a.clone() } else { b.clone() };
            tasks.spawn(async move {
                let got = store
                    .check_passcode(&format!("u{i}@contoso.com"), "424242", 5, t(1))
                    .await;
                (i, got)
            });
        }
    }
    let mut accepted = [0usize; ADDRESSES];
    while let Some(done) = tasks.join_next().await {
        let (i, got) = done.expect("task");
        match got.expect("check") {
            PasscodeCheck::Accepted => accepted[i] += 1,
            PasscodeCheck::NotFound => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, [1; ADDRESSES], "each code accepted exactly once");

    // Wrong codes: every guess counts, so exactly `max` are answered Wrong
    // (each with its own count) and the rest find the code dead.
    const MAX: u32 = 3;
    a.create_passcode("w@contoso.com", "424242", t(300), t(0))
        .await
        .expect("create");
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..CHECKERS {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            store
                .check_passcode("w@contoso.com", &format!("00000{j}"), MAX, t(1))
                .await
        });
    }
    let mut left = Vec::new();
    let mut dead = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("task").expect("check") {
            PasscodeCheck::Wrong { attempts_left } => left.push(attempts_left),
            PasscodeCheck::TooManyAttempts => dead += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    left.sort_unstable();
    assert_eq!(left, [0, 1, 2]);
    assert_eq!(dead, CHECKERS - MAX as usize);
}

async fn rate_limit_counts_hits_per_fixed_window_bucket_and_key(db: TestDb) {
    let store = db.open().await;
    let minute = Duration::from_secs(60);
    // t(0) is a multiple of 60: t(-1) is the last second of the window before.
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "1.2.3.4", minute, t(-1))
            .await
            .expect("hit"),
        1
    );
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "1.2.3.4", minute, t(0))
            .await
            .expect("hit"),
        1
    );
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "1.2.3.4", minute, t(30))
            .await
            .expect("hit"),
        2
    );
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "1.2.3.4", minute, t(59))
            .await
            .expect("hit"),
        3
    );
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "5.6.7.8", minute, t(59))
            .await
            .expect("hit"),
        1,
        "another key"
    );
    assert_eq!(
        store
            .hit_rate_limit("otp_check", "1.2.3.4", minute, t(59))
            .await
            .expect("hit"),
        1,
        "another bucket"
    );
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "1.2.3.4", minute, t(60))
            .await
            .expect("hit"),
        1,
        "a new window starts from zero"
    );

    // Windows of t(-60..0) and t(0..60) have ended at t(60); t(60..120) has not.
    assert_eq!(store.prune_rate_limits(t(60)).await.expect("prune"), 4);
    assert_eq!(
        store
            .hit_rate_limit("otp_send", "1.2.3.4", minute, t(61))
            .await
            .expect("hit"),
        2,
        "the live window was kept"
    );

    let err = store
        .hit_rate_limit("otp_send", "1.2.3.4", Duration::from_millis(500), t(0))
        .await
        .expect_err("window under a second");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

async fn concurrent_rate_limit_hits_all_count(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    const HITS: u32 = 40;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..HITS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            store
                .hit_rate_limit(
                    "signin",
                    "anna@contoso.com",
                    Duration::from_secs(3600),
                    t(5),
                )
                .await
        });
    }
    let mut seen = Vec::new();
    while let Some(done) = tasks.join_next().await {
        seen.push(done.expect("task").expect("hit"));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=HITS).collect::<Vec<_>>(),
        "each hit its own number"
    );
}

/// The limits of one passcode request: the client's, then the address's.
fn passcode_limits<'a>(client: &'a str, email: &'a str) -> [RateLimit<'a>; 2] {
    [
        RateLimit {
            bucket: "passcode-ip",
            key: client,
            max: 5,
        },
        RateLimit {
            bucket: "passcode-address",
            key: email,
            max: 3,
        },
    ]
}

/// Issue 14, finding 6: 500 passcode requests from one IP made 500
/// counters (one per address tried). A client over its limit now writes
/// nothing, and each limit keeps at most `max_counters` per window, however
/// many clients there are.
async fn rate_limits_stop_at_the_client_and_bound_the_counters(db: TestDb) {
    let store = db.open().await;
    let hour = Duration::from_secs(3600);
    let over_ip = RateVerdict::Over {
        bucket: "passcode-ip".into(),
    };

    // One client, 200 addresses: 5 requests get through (5 address
    // counters), the other 195 are refused by the client's counter alone.
    let mut verdicts = Vec::new();
    for i in 0..200 {
        let email = format!("victim{i}@contoso.com");
        let limits = passcode_limits("198.51.100.7", &email);
        verdicts.push(
            store
                .hit_rate_limits(&limits, hour, 1000, t(i))
                .await
                .expect("hit"),
        );
    }
    assert!(verdicts[..5].iter().all(|v| *v == RateVerdict::Within));
    assert!(verdicts[5..].iter().all(|v| *v == over_ip), "{verdicts:?}");
    assert_eq!(
        store.rate_limit_counters().await.expect("count"),
        6,
        "one client counter and 5 address counters, not 1 + 200"
    );
    // An address over its limit, asked for by other clients.
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let limits = passcode_limits(client, "anna@contoso.com");
        assert_eq!(
            store
                .hit_rate_limits(&limits, hour, 1000, t(300))
                .await
                .expect("hit"),
            RateVerdict::Within
        );
    }
    let limits = passcode_limits("203.0.113.4", "anna@contoso.com");
    assert_eq!(
        store
            .hit_rate_limits(&limits, hour, 1000, t(301))
            .await
            .expect("hit"),
        RateVerdict::Over {
            bucket: "passcode-address".into()
        }
    );
    assert_eq!(store.rate_limit_counters().await.expect("count"), 6 + 5);

    // Many clients (a botnet, a provider's worth of /64s): with
    // max_counters 10, the 11th new client of the window is refused without
    // a counter; clients already counted go on as before.
    let max = 10;
    let mut full = 0;
    for i in 0..50 {
        let client = format!("2001:db8:{i:x}::/64");
        let email = format!("x{i}@fabrikam.com");
        let limits = passcode_limits(&client, &email);
        match store
            .hit_rate_limits(&limits, hour, max, t(3600 + i))
            .await
            .expect("hit")
        {
            RateVerdict::Within => {}
            RateVerdict::Full { bucket } => {
                assert_eq!(bucket, "passcode-ip");
                full += 1;
            }
            other => panic!("client {i}: {other:?}"),
        }
    }
    assert_eq!(full, 40);
    let limits = passcode_limits("2001:db8:0::/64", "x0@fabrikam.com");
    assert_eq!(
        store
            .hit_rate_limits(&limits, hour, max, t(3700))
            .await
            .expect("hit"),
        RateVerdict::Within,
        "a client counted before the window filled"
    );
    // The address limit fills too: a counted client, new addresses past
    // the address bucket's 10 counters.
    for i in 0..4 {
        let email = format!("y{i}@fabrikam.com");
        let limits = passcode_limits("2001:db8:1::/64", &email);
        assert_eq!(
            store
                .hit_rate_limits(&limits, hour, max, t(3701))
                .await
                .expect("hit"),
            RateVerdict::Full {
                bucket: "passcode-address".into()
            },
            "no address counter is left"
        );
    }
    // This window's counters: 10 per bucket (the old window's 11 are
    // still there until pruned).
    assert_eq!(store.rate_limit_counters().await.expect("count"), 11 + 20);
    assert_eq!(store.prune_rate_limits(t(3600)).await.expect("prune"), 11);
    assert_eq!(store.rate_limit_counters().await.expect("count"), 20);

    // The next window starts empty, tallies included.
    assert_eq!(store.prune_rate_limits(t(7200)).await.expect("prune"), 20);
    let limits = passcode_limits("2001:db8:ff::/64", "z@fabrikam.com");
    assert_eq!(
        store
            .hit_rate_limits(&limits, hour, max, t(7200))
            .await
            .expect("hit"),
        RateVerdict::Within
    );

    for (limits, max_counters, window) in [
        (passcode_limits("a", "b"), 0, hour),
        (passcode_limits("a", "b"), 10, Duration::from_millis(500)),
        (
            [RateLimit {
                bucket: "",
                key: "a",
                max: 1,
            }; 2],
            10,
            hour,
        ),
    ] {
        let err = store
            .hit_rate_limits(&limits, window, max_counters, t(0))
            .await
            .expect_err("invalid");
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    }
}

/// Racing checks from one client on two handles (two replicas): each hit
/// counts once, exactly the client's limit gets through, and the
/// transaction neither deadlocks nor fails busy.
async fn racing_rate_limit_checks_let_exactly_the_limit_through(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    const HITS: i64 = 40;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..HITS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            // Half the requests share an address, half bring a new one.
            let email = if i % 2 == 0 {
                "anna@contoso.com".to_string()
            } else {
                format!("n{i}@contoso.com")
            };
            let limits = passcode_limits("198.51.100.7", &email);
            store
                .hit_rate_limits(&limits, Duration::from_secs(3600), 1000, t(i))
                .await
        });
    }
    let mut verdicts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        verdicts.push(done.expect("task").expect("hit"));
    }
    // Exactly the client's 5 got past its counter (a few of them may then
    // have met anna's limit of 3); every other was refused by it.
    let over_ip = RateVerdict::Over {
        bucket: "passcode-ip".into(),
    };
    let refused_by_client = verdicts.iter().filter(|v| **v == over_ip).count();
    assert_eq!(refused_by_client, 40 - 5, "{verdicts:?}");
    let counters = a.rate_limit_counters().await.expect("count");
    assert!(counters <= 6, "{counters} counters");
}

async fn secrets_are_stored_only_as_sha256_hex(db: TestDb) {
    let store = db.open().await;
    store
        .put_ticket("oidc_state", "raw-state-value", "{}", t(60), t(0))
        .await
        .expect("put");
    store
        .create_passcode("Anna@Contoso.com", "654321", t(60), t(0))
        .await
        .expect("create");
    store
        .hit_rate_limit("signin", "raw-rate-key", Duration::from_secs(60), t(0))
        .await
        .expect("hit");
    let [ticket] = <[String; 1]>::try_from(db.strings("SELECT key_hash FROM tickets").await)
        .expect("one ticket row");
    let [email] = <[String; 1]>::try_from(db.strings("SELECT email_lower FROM passcodes").await)
        .expect("one passcode row");
    let [code] = <[String; 1]>::try_from(db.strings("SELECT code_hash FROM passcodes").await)
        .expect("one passcode row");
    let [rate] = <[String; 1]>::try_from(db.strings("SELECT key_hash FROM rate_limits").await)
        .expect("one rate-limit row");
    assert!(is_sha256_hex(&ticket), "{ticket}");
    assert!(is_sha256_hex(&code), "{code}");
    assert!(is_sha256_hex(&rate), "{rate}");
    assert_eq!(email, "anna@contoso.com");
    // The code hash depends on the address: the same code for another
    // address is another hash.
    store
        .create_passcode("bob@contoso.com", "654321", t(60), t(0))
        .await
        .expect("create");
    let other = db
        .strings("SELECT code_hash FROM passcodes WHERE email_lower = 'bob@contoso.com'")
        .await;
    assert_eq!(other.len(), 1, "{other:?}");
    assert_ne!(other[0], code);
}

async fn consent_keeps_the_latest_version_and_goes_with_the_user(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    assert_eq!(store.consent_of("u1").await.expect("none yet"), None);
    store
        .record_consent("u1", "2024-01", t(10))
        .await
        .expect("record");
    store
        .record_consent("u1", "2025-06", t(20))
        .await
        .expect("record newer");
    assert_eq!(
        store.consent_of("u1").await.expect("consent"),
        Some(Consent {
            terms_version: "2025-06".into(),
            accepted_at: t(20),
        })
    );
    let err = store
        .record_consent("nobody", "2025-06", t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );

    assert!(store.delete_user("u1").await.expect("delete"));
    assert_eq!(db.count_rows("consents").await, 0, "deleted with the user");
    assert_eq!(store.consent_of("u1").await.expect("after delete"), None);
}

fn session(sid: &str, user: &str, created: i64, end: i64) -> SessionRecord {
    SessionRecord {
        sid: sid.to_owned(),
        user_id: user.to_owned(),
        idp: "contoso".to_owned(),
        created_at: t(created),
        expires_at: t(end),
        device: None,
    }
}

async fn sessions_list_live_ones_and_revoking_all_reaches_is_revoked(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u2", "bob@contoso.com")).await;
    let s1 = session("s1", "u1", 0, 1000);
    let s2 = session("s2", "u1", 10, 2000);
    let s3 = session("s3", "u1", 5, 50);
    let s4 = session("s4", "u2", 0, 1000);
    for s in [&s1, &s2, &s3, &s4] {
        store.insert_session(s).await.expect("insert");
    }
    let err = store.insert_session(&s1).await.expect_err("duplicate sid");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "session",
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .insert_session(&session("s9", "nobody", 0, 10))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );

    assert_eq!(
        store.sessions_of_user("u1", t(100)).await.expect("list"),
        [s1.clone(), s2.clone()],
        "unexpired only, oldest first"
    );
    assert_eq!(
        store.sessions_of_user("u1", t(0)).await.expect("list"),
        [s1.clone(), s3.clone(), s2.clone()]
    );

    // Signing out of one session hides it from the list.
    store
        .revoke_session("s1", s1.expires_at, t(100))
        .await
        .expect("sign out");
    assert_eq!(
        store.sessions_of_user("u1", t(100)).await.expect("list"),
        std::slice::from_ref(&s2)
    );

    assert_eq!(
        store
            .revoke_sessions_of_user("u1", t(200))
            .await
            .expect("revoke all"),
        ["s2"],
        "live, not yet revoked sessions only"
    );
    assert!(store.is_revoked("s1").await.expect("s1"));
    assert!(store.is_revoked("s2").await.expect("s2"));
    assert!(!store.is_revoked("s3").await.expect("s3 had expired"));
    assert!(!store.is_revoked("s4").await.expect("another user's"));
    let since = store.revocations_since(t(200)).await.expect("since");
    assert_eq!(
        since,
        [RevokedSession {
            sid: "s2".into(),
            expires_at: t(2000),
            revoked_at: t(200),
        }],
        "kept until the session's own end"
    );
    assert!(
        store
            .sessions_of_user("u1", t(200))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .revoke_sessions_of_user("u1", t(300))
            .await
            .expect("again")
            .is_empty()
    );

    assert_eq!(store.prune_sessions(t(1000)).await.expect("prune"), 3);
    assert_eq!(db.count_rows("sessions").await, 1);
    assert!(store.delete_user("u1").await.expect("delete u1"));
    assert!(store.delete_user("u2").await.expect("delete u2"));
    assert_eq!(db.count_rows("sessions").await, 0, "deleted with the user");
}

async fn link_identity_links_only_an_unlinked_user(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u2", "bob@contoso.com")).await;

    store
        .link_identity("u1", "contoso", "sub-1")
        .await
        .expect("link");
    let linked = store
        .get_user_by_identity("contoso", "sub-1")
        .await
        .expect("lookup")
        .expect("linked");
    assert_eq!(linked.id, "u1");
    store
        .link_identity("u1", "contoso", "sub-1")
        .await
        .expect("the same link again is fine");

    for (user, idp, subject) in [
        ("u1", "contoso", "sub-2"),  // u1 is linked elsewhere
        ("u1", "fabrikam", "sub-1"), // another IdP is another identity
        ("u2", "contoso", "sub-1"),  // another user holds it
    ] {
        let err = store
            .link_identity(user, idp, subject)
            .await
            .expect_err("conflict");
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    what: "identity",
                    ..
                }
            ),
            "{user} {idp} {subject}: {err:?}"
        );
    }
    assert_eq!(
        store
            .get_user("u1")
            .await
            .expect("get")
            .expect("u1")
            .identity,
        Some(Identity {
            idp: "contoso".into(),
            subject: "sub-1".into(),
        }),
        "unchanged"
    );
    assert_eq!(
        store
            .get_user("u2")
            .await
            .expect("get")
            .expect("u2")
            .identity,
        None
    );

    let err = store
        .link_identity("nobody", "contoso", "sub-3")
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

async fn racing_first_sign_ins_link_one_identity(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    add(&a, guest("u1", "anna@contoso.com")).await;
    const RACERS: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..RACERS {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let subject = format!("sub-{j}");
            (
                subject.clone(),
                store.link_identity("u1", "contoso", &subject).await,
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            (subject, Ok(())) => winners.push(subject),
            (
                _,
                Err(StoreError::Conflict {
                    what: "identity", ..
                }),
            ) => {}
            (_, Err(e)) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        a.get_user("u1").await.expect("get").expect("u1").identity,
        Some(Identity {
            idp: "contoso".into(),
            subject: winners[0].clone(),
        })
    );
}

// ---- TOTP factors and recovery codes ------------------------------------------

fn totp(user: &str, secret: u8) -> NewTotpFactor {
    NewTotpFactor {
        user_id: user.to_owned(),
        secret: vec![secret; 20],
        algorithm: "SHA1".to_owned(),
        digits: 6,
        period: 30,
    }
}

async fn totp_enrollment_steps_lockout_and_recovery_codes(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    let err = store
        .begin_totp_enrollment(&totp("nobody", 1), t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );

    // Enrollment can restart (a fresh QR code) until it is confirmed.
    store
        .begin_totp_enrollment(&totp("u1", 1), t(0))
        .await
        .expect("begin");
    store
        .begin_totp_enrollment(&totp("u1", 2), t(1))
        .await
        .expect("begin again");
    let factor = store
        .get_totp_factor("u1")
        .await
        .expect("get")
        .expect("factor");
    assert_eq!(
        (
            factor.secret.clone(),
            factor.created_at,
            factor.confirmed_at
        ),
        (vec![2; 20], t(1), None)
    );
    assert!(
        !store.record_totp_step("u1", 100, t(2)).await.expect("step"),
        "an unconfirmed factor accepts no code"
    );
    let codes = ["hash-b".to_owned(), "hash-a".to_owned()];
    assert!(
        store
            .confirm_totp_factor("u1", 100, &codes, t(3))
            .await
            .expect("confirm")
    );
    assert!(
        !store
            .confirm_totp_factor("u1", 101, &[], t(3))
            .await
            .expect("confirm again"),
        "already confirmed"
    );
    let err = store
        .begin_totp_enrollment(&totp("u1", 3), t(4))
        .await
        .expect_err("confirmed factor");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "confirmed TOTP factor",
                ..
            }
        ),
        "{err:?}"
    );

    // Each step is accepted once, and never an older one.
    assert!(!store.record_totp_step("u1", 100, t(4)).await.expect("step"));
    assert!(store.record_totp_step("u1", 101, t(4)).await.expect("step"));
    assert!(
        !store
            .record_totp_step("u1", 101, t(5))
            .await
            .expect("replay")
    );
    assert!(!store.record_totp_step("u1", 99, t(5)).await.expect("older"));

    // The third failure locks for a minute and restarts the count.
    let lockout = Duration::from_secs(60);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let f = store
            .record_mfa_failure("u1", 3, lockout, t(10))
            .await
            .expect("failure")
            .expect("factor");
        seen.push((f.failed_attempts, f.locked_until));
    }
    assert_eq!(seen, [(1, None), (2, None), (0, Some(t(70)))]);
    assert!(
        !store
            .record_totp_step("u1", 102, t(69))
            .await
            .expect("step"),
        "locked"
    );
    assert!(
        !store
            .consume_recovery_code("u1", "hash-a", t(69))
            .await
            .expect("recovery while locked"),
        "locked"
    );
    assert_eq!(
        store
            .unused_recovery_code_hashes("u1")
            .await
            .expect("unused"),
        ["hash-a", "hash-b"],
        "a refused recovery code is not used up"
    );
    assert!(
        store
            .record_totp_step("u1", 102, t(70))
            .await
            .expect("step"),
        "the lock ends"
    );
    let factor = store
        .get_totp_factor("u1")
        .await
        .expect("get")
        .expect("factor");
    assert_eq!(
        (
            factor.last_used_step,
            factor.failed_attempts,
            factor.locked_until
        ),
        (Some(102), 0, None)
    );

    assert!(
        store
            .consume_recovery_code("u1", "hash-a", t(71))
            .await
            .expect("recovery")
    );
    assert!(
        !store
            .consume_recovery_code("u1", "hash-a", t(72))
            .await
            .expect("recovery again"),
        "single use"
    );
    assert_eq!(
        store
            .unused_recovery_code_hashes("u1")
            .await
            .expect("unused"),
        ["hash-b"]
    );
    assert_eq!(
        store
            .record_mfa_failure("nobody", 3, lockout, t(10))
            .await
            .expect("failure"),
        None
    );

    assert!(store.delete_totp_factor("u1").await.expect("delete"));
    assert!(!store.delete_totp_factor("u1").await.expect("delete again"));
    assert_eq!(store.get_totp_factor("u1").await.expect("get"), None);
    assert!(
        store
            .unused_recovery_code_hashes("u1")
            .await
            .expect("unused")
            .is_empty()
    );
}

async fn racing_totp_codes_of_one_step_are_accepted_once(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    add(&a, guest("u1", "anna@contoso.com")).await;
    a.begin_totp_enrollment(&totp("u1", 1), t(0))
        .await
        .expect("begin");
    assert!(
        a.confirm_totp_factor("u1", 10, &[], t(0))
            .await
            .expect("confirm")
    );
    const RACERS: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..RACERS {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move { store.record_totp_step("u1", 11, t(1)).await });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        if done.expect("task").expect("step") {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "one code, one use, across replicas");
}

// ---- invitations ------------------------------------------------------------------

fn invitation(user: &str, expires: i64) -> NewInvitation {
    NewInvitation {
        email: "Anna@Partner.com".to_owned(),
        user_id: user.to_owned(),
        apps: vec!["payroll".to_owned(), "crm".to_owned()],
        access_until: None,
        access_days: Some(30),
        message: Some("Welcome aboard".to_owned()),
        inviter: "owner@tailwindtraders.com".to_owned(),
        expires_at: t(expires),
    }
}

async fn invitation_link_works_once_and_then_says_why_not(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@partner.com")).await;
    let first = store
        .create_invitation(&invitation("u1", 1000), "token-1", t(0))
        .await
        .expect("create");
    assert_eq!(first.apps, ["payroll", "crm"]);
    assert_eq!(first.access_days, Some(30));
    assert_eq!(first.status(t(0)), "pending");
    assert_eq!(
        store
            .invitation_by_token("token-1")
            .await
            .expect("by token"),
        Some(first.clone()),
        "opening the link reads it"
    );
    assert_eq!(
        store.get_invitation(&first.id).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        store.redeem_invitation("nope", t(1)).await.expect("redeem"),
        Redemption::NotFound
    );
    match store
        .redeem_invitation("token-1", t(10))
        .await
        .expect("redeem")
    {
        Redemption::Redeemed(won) => {
            assert_eq!(won.id, first.id);
            assert_eq!(won.redeemed_at, Some(t(10)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        store
            .redeem_invitation("token-1", t(11))
            .await
            .expect("redeem again"),
        Redemption::AlreadyUsed
    );
    assert!(
        !store
            .revoke_invitation(&first.id, t(12))
            .await
            .expect("revoke redeemed"),
        "a used link is not pending"
    );

    let revoked = store
        .create_invitation(&invitation("u1", 1000), "token-2", t(1))
        .await
        .expect("create");
    assert!(
        store
            .revoke_invitation(&revoked.id, t(5))
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_invitation(&revoked.id, t(6))
            .await
            .expect("revoke again")
    );
    assert_eq!(
        store
            .redeem_invitation("token-2", t(7))
            .await
            .expect("redeem"),
        Redemption::Revoked
    );

    // The end of the link is exclusive; resending gives a new link and the
    // old one stops working.
    let expired = store
        .create_invitation(&invitation("u1", 100), "token-3", t(2))
        .await
        .expect("create");
    assert_eq!(
        store
            .redeem_invitation("token-3", t(100))
            .await
            .expect("redeem"),
        Redemption::Expired
    );
    assert!(
        store
            .reissue_invitation(&expired.id, "token-4", t(300), t(150))
            .await
            .expect("reissue")
    );
    assert_eq!(
        store
            .redeem_invitation("token-3", t(160))
            .await
            .expect("old link"),
        Redemption::NotFound
    );
    assert!(matches!(
        store
            .redeem_invitation("token-4", t(160))
            .await
            .expect("new link"),
        Redemption::Redeemed(_)
    ));

    assert_eq!(
        store
            .list_invitations()
            .await
            .expect("list")
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        [expired.id.as_str(), revoked.id.as_str(), first.id.as_str()],
        "newest first"
    );
    // Only the SHA-256 of a token is stored.
    for hash in db.strings("SELECT token_hash FROM invitations").await {
        assert!(is_sha256_hex(&hash), "{hash}");
    }
}

async fn invitation_input_is_checked(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@partner.com")).await;
    let no_apps = NewInvitation {
        apps: Vec::new(),
        ..invitation("u1", 100)
    };
    let both_ends = NewInvitation {
        access_until: Some(t(500)),
        ..invitation("u1", 100)
    };
    for (what, inv, now) in [
        ("no apps", no_apps, 0),
        ("two ends", both_ends, 0),
        ("link already expired", invitation("u1", 100), 100),
    ] {
        let err = store
            .create_invitation(&inv, "token", t(now))
            .await
            .expect_err(what);
        assert!(matches!(err, StoreError::Invalid { .. }), "{what}: {err:?}");
    }
    let err = store
        .create_invitation(&invitation("nobody", 100), "token", t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

async fn racing_redemptions_of_one_link_have_one_winner(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    add(&a, guest("u1", "anna@partner.com")).await;
    a.create_invitation(&invitation("u1", 1000), "token-1", t(0))
        .await
        .expect("create");
    const RACERS: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..RACERS {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move { store.redeem_invitation("token-1", t(1)).await });
    }
    let (mut won, mut used) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("task").expect("redeem") {
            Redemption::Redeemed(_) => won += 1,
            Redemption::AlreadyUsed => used += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((won, used), (1, RACERS - 1));
}

// ---- replicas ------------------------------------------------------------------------

/// Two replicas on one database: a change made through one reaches the
/// other's directory cache within its TTL (5 s in production, 300 ms
/// here) and its revocation poll at once.
async fn a_change_on_one_replica_reaches_the_other_within_the_cache_ttl(db: TestDb) {
    let replica_a = db.open().await;
    let replica_b = db.open().await;
    assigned_guest(&replica_a, 1000).await;
    replica_a
        .insert_session(&session("s1", "u1", 0, 1000))
        .await
        .expect("session");
    let ttl = Duration::from_millis(300);
    let cache_a = cache_with(&replica_a, ttl);
    assert!(
        cache_a
            .get_or_load("u1", "payroll", t(1))
            .await
            .expect("load")
            .assigned_live
    );

    // Replica B removes the guest's access and ends their sessions.
    let started = std::time::Instant::now();
    assert!(
        replica_b
            .revoke_assignment("u1", "payroll")
            .await
            .expect("revoke")
    );
    assert_eq!(
        replica_b
            .revoke_sessions_of_user("u1", t(2))
            .await
            .expect("end sessions"),
        ["s1"]
    );

    // Replica A's poll sees the revocation right away …
    let since = replica_a.revocations_since(t(0)).await.expect("poll");
    assert_eq!(
        since.iter().map(|r| r.sid.as_str()).collect::<Vec<_>>(),
        ["s1"]
    );
    // … and its cache answers from the old entry until the TTL, then
    // reloads and denies (a second of slack for the reload on a busy host).
    let deadline = started + ttl + Duration::from_secs(1);
    loop {
        let facts = cache_a
            .get_or_load("u1", "payroll", t(3))
            .await
            .expect("load");
        if !facts.assigned_live {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica A still allows after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- self-service sign-up requests -----------------------------------------------

fn request(app: &str, user: &str) -> NewAccessRequest {
    NewAccessRequest {
        app: app.to_owned(),
        user_id: user.to_owned(),
        attributes: [("company".to_owned(), "Fabrikam".to_owned())].into(),
    }
}

async fn access_request_is_idempotent_while_pending_and_decided_once(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@partner.com")).await;
    let (r, created) = store
        .create_access_request(&request("wiki", "u1"), t(0))
        .await
        .expect("create");
    assert!(created);
    assert_eq!(r.status, RequestStatus::Pending);
    assert_eq!(r.attributes["company"], "Fabrikam");
    assert_eq!(
        (r.created_at, r.decided_at, r.decided_by.as_deref()),
        (t(0), None, None)
    );
    // Asking again while pending shows the pending one.
    let (again, created) = store
        .create_access_request(&request("wiki", "u1"), t(5))
        .await
        .expect("again");
    assert!(!created);
    assert_eq!(again, r);
    assert_eq!(
        store
            .pending_access_request("wiki", "u1")
            .await
            .expect("pending"),
        Some(r.clone())
    );
    assert_eq!(
        store
            .pending_access_request("docs", "u1")
            .await
            .expect("docs"),
        None
    );
    // Another app is another request.
    let (docs, created) = store
        .create_access_request(&request("docs", "u1"), t(1))
        .await
        .expect("docs");
    assert!(created && docs.id != r.id);
    let ids: Vec<String> = store
        .list_access_requests(None)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [docs.id.clone(), r.id.clone()], "newest first");
    assert_eq!(
        store
            .list_access_requests(Some("wiki"))
            .await
            .expect("wiki")
            .len(),
        1
    );

    // Decided once; a second decision changes nothing.
    let won = store
        .decide_access_request(&r.id, RequestStatus::Approved, "alice@t.example", t(10))
        .await
        .expect("decide")
        .expect("pending");
    assert_eq!(won.status, RequestStatus::Approved);
    assert_eq!(
        (won.decided_at, won.decided_by.as_deref()),
        (Some(t(10)), Some("alice@t.example"))
    );
    assert_eq!(
        store
            .decide_access_request(&r.id, RequestStatus::Denied, "bob@t.example", t(11))
            .await
            .expect("decide again"),
        None
    );
    assert_eq!(
        store.get_access_request(&r.id).await.expect("get"),
        Some(won)
    );
    assert_eq!(
        store
            .decide_access_request("req_nope", RequestStatus::Denied, "x", t(11))
            .await
            .expect("unknown"),
        None
    );
    let err = store
        .decide_access_request(&docs.id, RequestStatus::Pending, "x", t(11))
        .await
        .expect_err("pending is no decision");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    // Once decided, a new request may be made.
    let (next, created) = store
        .create_access_request(&request("wiki", "u1"), t(20))
        .await
        .expect("after decision");
    assert!(created && next.id != r.id);

    let err = store
        .create_access_request(&request("wiki", "nobody"), t(0))
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
    // Requests go with the user.
    assert!(store.delete_user("u1").await.expect("delete"));
    assert!(
        store
            .list_access_requests(None)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn racing_decisions_on_one_request_have_one_winner(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    add(&a, guest("u1", "anna@partner.com")).await;
    let (r, _) = a
        .create_access_request(&request("wiki", "u1"), t(0))
        .await
        .expect("create");
    const RACERS: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..RACERS {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        let id = r.id.clone();
        let decision = if j % 3 == 0 {
            RequestStatus::Denied
        } else {
            RequestStatus::Approved
        };
        tasks.spawn(async move {
            store
                .decide_access_request(&id, decision, &format!("owner{j}@t.example"), t(1))
                .await
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Some(w) = done.expect("task").expect("decide") {
            winners.push(w);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = a
        .get_access_request(&r.id)
        .await
        .expect("get")
        .expect("some");
    assert_eq!(stored, winners[0]);
}

async fn racing_sign_up_requests_make_one_pending_request(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    add(&a, guest("u1", "anna@partner.com")).await;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..8 {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            store
                .create_access_request(&request("wiki", "u1"), t(0))
                .await
        });
    }
    let (mut ids, mut created) = (std::collections::BTreeSet::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (r, new) = done.expect("task").expect("create");
        ids.insert(r.id);
        created += usize::from(new);
    }
    assert_eq!((ids.len(), created), (1, 1));
}

// ---- guest lifecycle ------------------------------------------------------------

async fn actions_of(store: &Store, subject: &str) -> Vec<String> {
    let q = AuditQuery {
        subject: Some(subject.to_owned()),
        ..AuditQuery::default()
    };
    let mut actions: Vec<String> = store
        .list_audit(&q)
        .await
        .expect("list audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    actions.reverse();
    actions
}

async fn lifecycle_reminders_are_claimed_once_and_a_new_end_clears_the_mark(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u3", "carl@contoso.com")).await;
    add(&store, member("m1", "mia@tailwind.com")).await;
    let grant = |u: &'static str, app: &'static str, end: i64| {
        let store = store.clone();
        async move {
            store
                .grant_assignment(u, app, Some(t(end)), None, t(0))
                .await
                .expect("grant")
        }
    };
    grant("u1", "crm", 100).await;
    grant("u1", "wiki", 10_000).await; // not due yet
    grant("m1", "crm", 100).await; // a member: never reminded
    grant("u3", "crm", 100).await;
    store
        .set_user_state("u3", UserState::Blocked)
        .await
        .expect("block");

    let due = store.claim_reminders(t(1000), t(1)).await.expect("claim");
    assert_eq!(
        due.iter()
            .map(|d| (d.user_id.as_str(), d.app.as_str()))
            .collect::<Vec<_>>(),
        [("u1", "crm")]
    );
    assert_eq!((due[0].expires_at, due[0].claimed_at), (t(100), t(1)));
    assert!(
        store
            .claim_reminders(t(1000), t(2))
            .await
            .expect("again")
            .is_empty()
    );
    let other = db.open().await;
    assert!(
        other
            .claim_reminders(t(1000), t(2))
            .await
            .expect("replica")
            .is_empty()
    );

    // A failed send gives the claim back; the next run takes it again.
    assert!(store.release_reminder(&due[0]).await.expect("release"));
    assert!(
        !store
            .release_reminder(&due[0])
            .await
            .expect("release twice")
    );
    assert_eq!(
        store
            .claim_reminders(t(1000), t(3))
            .await
            .expect("retry")
            .len(),
        1
    );

    // Re-granting the same end keeps the mark; a new end clears it.
    grant("u1", "crm", 100).await;
    assert!(
        store
            .claim_reminders(t(1000), t(4))
            .await
            .expect("same end")
            .is_empty()
    );
    store
        .extend_assignment("u1", "crm", Some(t(200)), t(5))
        .await
        .expect("extend");
    assert_eq!(
        store
            .claim_reminders(t(1000), t(6))
            .await
            .expect("extended")
            .len(),
        1
    );
    store
        .grant_assignment("u1", "crm", Some(t(300)), None, t(7))
        .await
        .expect("re-grant");
    assert_eq!(
        store
            .claim_reminders(t(1000), t(8))
            .await
            .expect("re-granted")
            .len(),
        1
    );
    // An end already past (crm, at 300) is not reminded; wiki now is.
    let due = store
        .claim_reminders(t(20_000), t(400))
        .await
        .expect("past");
    assert_eq!(
        due.iter().map(|d| d.app.as_str()).collect::<Vec<_>>(),
        ["wiki"]
    );
}

async fn lifecycle_racing_reminder_claims_take_each_once(db: TestDb) {
    let store = db.open().await;
    for i in 0..5 {
        let id = format!("u{i}");
        add(&store, guest(&id, &format!("g{i}@contoso.com"))).await;
        store
            .grant_assignment(&id, "crm", Some(t(100)), None, t(0))
            .await
            .expect("grant");
    }
    let mut handles = Vec::new();
    for _ in 0..4 {
        let s = db.open().await;
        handles.push(tokio::spawn(async move {
            s.claim_reminders(t(1000), t(1)).await.expect("claim")
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("join"));
    }
    all.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(
        all.iter().map(|d| d.user_id.as_str()).collect::<Vec<_>>(),
        ["u0", "u1", "u2", "u3", "u4"]
    );
}

async fn lifecycle_guest_whose_last_assignment_ended_is_claimed_once(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u2", "bob@contoso.com")).await; // never assigned
    add(&store, guest("u4", "dora@contoso.com")).await;
    add(&store, member("m1", "mia@tailwind.com")).await;
    for (u, app, end) in [
        ("u1", "crm", 100),
        ("u1", "wiki", 200),
        ("u4", "crm", 100),
        ("m1", "crm", 100),
    ] {
        store
            .grant_assignment(u, app, Some(t(end)), None, t(0))
            .await
            .expect("grant");
    }
    let ended = store.end_guest_access(true, t(150)).await.expect("t150");
    assert_eq!(
        ended.iter().map(|g| g.user_id.as_str()).collect::<Vec<_>>(),
        ["u4"],
        "u1 still has wiki"
    );
    let ended = store.end_guest_access(true, t(250)).await.expect("t250");
    assert_eq!(
        ended,
        [EndedGuest {
            user_id: "u1".into(),
            email: "anna@contoso.com".into(),
            ended_at: t(200),
            blocked: true,
        }]
    );
    assert!(
        store
            .end_guest_access(true, t(260))
            .await
            .expect("again")
            .is_empty()
    );
    let u1 = store.get_user("u1").await.expect("get").expect("u1");
    assert_eq!(u1.state, UserState::Blocked);
    assert_eq!(
        actions_of(&store, "u1").await,
        ["access_expired", "guest_blocked"]
    );
    for untouched in ["u2", "m1"] {
        let u = store.get_user(untouched).await.expect("get").expect("user");
        assert_eq!(u.state, UserState::Active, "{untouched}");
        assert!(
            actions_of(&store, untouched).await.is_empty(),
            "{untouched}"
        );
    }

    // Unblocked by an admin: the same end is not acted on again.
    store
        .set_user_state("u1", UserState::Active)
        .await
        .expect("unblock");
    assert!(
        store
            .end_guest_access(true, t(300))
            .await
            .expect("unblocked")
            .is_empty()
    );
    // A new grant that ends later makes the guest eligible again.
    store
        .grant_assignment("u1", "crm", Some(t(400)), None, t(300))
        .await
        .expect("re-grant");
    assert!(
        store
            .end_guest_access(true, t(350))
            .await
            .expect("live")
            .is_empty()
    );
    let ended = store.end_guest_access(false, t(450)).await.expect("t450");
    assert_eq!(ended.len(), 1);
    assert!(!ended[0].blocked, "block false only audits");
    let u1 = store.get_user("u1").await.expect("get").expect("u1");
    assert_eq!(u1.state, UserState::Active);
    assert_eq!(
        actions_of(&store, "u1").await,
        ["access_expired", "guest_blocked", "access_expired"]
    );
}

async fn lifecycle_racing_expiry_claims_act_once(db: TestDb) {
    let store = db.open().await;
    for i in 0..5 {
        let id = format!("u{i}");
        add(&store, guest(&id, &format!("g{i}@contoso.com"))).await;
        store
            .grant_assignment(&id, "crm", Some(t(100)), None, t(0))
            .await
            .expect("grant");
    }
    let mut handles = Vec::new();
    for _ in 0..4 {
        let s = db.open().await;
        handles.push(tokio::spawn(async move {
            s.end_guest_access(true, t(200)).await.expect("claim")
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("join"));
    }
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|g| g.blocked));
    for i in 0..5 {
        assert_eq!(
            actions_of(&store, &format!("u{i}")).await,
            ["access_expired", "guest_blocked"]
        );
    }
}

async fn lifecycle_sessions_of_blocked_guests_and_deletion_after_the_block(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u2", "bob@contoso.com")).await;
    for u in ["u1", "u2"] {
        store
            .grant_assignment(u, "crm", Some(t(100)), None, t(0))
            .await
            .expect("grant");
        store
            .insert_session(&session(&format!("s-{u}"), u, 10, 10_000))
            .await
            .expect("session");
    }
    assert!(
        store
            .lifecycle_blocked_with_sessions(t(50))
            .await
            .expect("none yet")
            .is_empty()
    );
    assert_eq!(
        store
            .end_guest_access(true, t(200))
            .await
            .expect("end")
            .len(),
        2
    );
    assert_eq!(
        store
            .lifecycle_blocked_with_sessions(t(201))
            .await
            .expect("blocked"),
        ["u1", "u2"]
    );
    for u in ["u1", "u2"] {
        store
            .revoke_sessions_of_user(u, t(201))
            .await
            .expect("revoke");
    }
    assert!(
        store
            .lifecycle_blocked_with_sessions(t(202))
            .await
            .expect("revoked")
            .is_empty()
    );

    // u2 is unblocked by an admin: never due for deletion.
    store
        .set_user_state("u2", UserState::Active)
        .await
        .expect("unblock");
    assert!(
        store
            .guests_due_for_deletion(t(199), t(300))
            .await
            .expect("early")
            .is_empty()
    );
    let due = store
        .guests_due_for_deletion(t(200), t(300))
        .await
        .expect("due");
    assert_eq!(
        due.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u1"]
    );
    assert!(
        !store
            .delete_ended_guest("u1", t(199), t(300))
            .await
            .expect("not yet")
    );
    assert!(
        !store
            .delete_ended_guest("u2", t(200), t(300))
            .await
            .expect("active")
    );
    let other = db.open().await;
    let (a, b) = tokio::join!(
        store.delete_ended_guest("u1", t(200), t(300)),
        other.delete_ended_guest("u1", t(200), t(300)),
    );
    assert!(a.expect("a") ^ b.expect("b"), "exactly one deletes");
    assert!(store.get_user("u1").await.expect("get").is_none());
    assert!(store.get_user("u2").await.expect("get").is_some());
    assert_eq!(
        actions_of(&store, "u1").await,
        ["access_expired", "guest_blocked", "guest_deleted"]
    );
}

async fn guests_are_counted_by_state(db: TestDb) {
    let store = db.open().await;
    assert_eq!(
        store.count_guests(t(0)).await.expect("count"),
        crate::store::GuestCounts::default()
    );
    add(&store, guest("g1", "a@partner.example")).await;
    add(&store, guest("g2", "b@partner.example")).await;
    add(&store, guest("g3", "c@partner.example")).await;
    add(&store, member("m1", "m@tailwind.com")).await;
    store
        .grant_assignment("g1", "wiki", Some(t(100)), None, t(0))
        .await
        .expect("grant");
    store
        .grant_assignment("g2", "wiki", Some(t(10)), None, t(0))
        .await
        .expect("grant");
    store
        .set_user_state("g3", UserState::Blocked)
        .await
        .expect("block");
    let c = store.count_guests(t(5)).await.expect("count");
    assert_eq!((c.active, c.blocked, c.without_access), (2, 1, 0));
    // g2's assignment has ended by t(50).
    let c = store.count_guests(t(50)).await.expect("count");
    assert_eq!((c.active, c.blocked, c.without_access), (1, 1, 1));
}

async fn lifecycle_members_of_group_for_owners(db: TestDb) {
    let store = db.open().await;
    add(&store, member("m2", "Zoe@tailwind.com")).await;
    add(&store, member("m1", "adam@tailwind.com")).await;
    add(&store, member("m3", "other@tailwind.com")).await;
    for m in ["m1", "m2"] {
        store
            .add_group_member("crm-owners", m, t(0))
            .await
            .expect("add");
    }
    store
        .add_group_member("else", "m3", t(0))
        .await
        .expect("add");
    let emails: Vec<String> = store
        .members_of_group("crm-owners")
        .await
        .expect("members")
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(emails, ["adam@tailwind.com", "Zoe@tailwind.com"]);
    assert!(
        store
            .members_of_group("nobody")
            .await
            .expect("empty")
            .is_empty()
    );
}

async fn lifecycle_removing_the_last_live_assignment_counts_as_its_end(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, member("m1", "mia@tailwind.com")).await;
    for (u, app, end) in [
        ("u1", "crm", 1000),
        ("u1", "wiki", 2000),
        ("m1", "crm", 1000),
    ] {
        store
            .grant_assignment(u, app, Some(t(end)), None, t(0))
            .await
            .expect("grant");
    }
    // One of two removed: the other is live, nothing ends yet.
    assert!(store.revoke_assignment("u1", "crm").await.expect("revoke"));
    assert!(
        store
            .end_guest_access(true, t(100))
            .await
            .expect("t100")
            .is_empty()
    );
    // The last one removed (an owner ends it): ended now, once.
    assert!(store.revoke_assignment("u1", "wiki").await.expect("revoke"));
    assert!(store.revoke_assignment("m1", "crm").await.expect("member"));
    let ended = store.end_guest_access(true, t(200)).await.expect("t200");
    assert_eq!(
        ended
            .iter()
            .map(|g| (g.user_id.as_str(), g.ended_at, g.blocked))
            .collect::<Vec<_>>(),
        [("u1", t(200), true)]
    );
    assert!(
        store
            .end_guest_access(true, t(300))
            .await
            .expect("again")
            .is_empty()
    );
    assert_eq!(
        actions_of(&store, "u1").await,
        ["access_expired", "guest_blocked"]
    );
    let m1 = store.get_user("m1").await.expect("get").expect("m1");
    assert_eq!(m1.state, UserState::Active, "members are never touched");

    // Removing an assignment whose end was already acted on is no new end.
    store
        .set_user_state("u1", UserState::Active)
        .await
        .expect("unblock");
    store
        .grant_assignment("u1", "crm", Some(t(400)), None, t(300))
        .await
        .expect("grant");
    assert_eq!(
        store
            .end_guest_access(false, t(500))
            .await
            .expect("t500")
            .len(),
        1
    );
    assert!(
        store
            .revoke_assignment("u1", "crm")
            .await
            .expect("revoke ended")
    );
    assert!(
        store
            .end_guest_access(false, t(600))
            .await
            .expect("t600")
            .is_empty()
    );
    // Removing one that does not exist marks nothing.
    assert!(!store.revoke_assignment("u1", "nope").await.expect("none"));
    assert!(
        store
            .end_guest_access(false, t(700))
            .await
            .expect("t700")
            .is_empty()
    );
}

fn decision(
    id: &str,
    at: i64,
    user: Option<&str>,
    decision: &'static str,
) -> decisions::NewDecision {
    decisions::NewDecision {
        request_id: id.into(),
        at: OffsetDateTime::from_unix_timestamp(at).expect("time"),
        app: if at % 2 == 0 { "payroll" } else { "wiki" }.into(),
        user_id: user.map(Into::into),
        decision,
        reason: (decision == "block").then_some("policy_block"),
        entry: json!({"request_id": id, "at": at}).to_string().into(),
    }
}

fn no_allows() -> decisions::AllowBatch {
    decisions::AllowBatch::default()
}

/// A compact allow (`COMPACT_ALLOW_FIELDS`: `[v, why, host, method, path,
/// user, client_ip, country, locations, platform, client_app,
/// mfa_strength, mfa_asked, signed_in_ago, access_ended, policies]`) whose
/// one applying policy is `policy`.
fn compact_allow(path: &str, policy: &str) -> serde_json::Value {
    json!([
        decisions::COMPACT_ALLOW,
        "allowed",
        "payroll.localhost",
        "GET",
        path,
        ["anna@contoso.com", "guest", ["partners"], true],
        "198.51.100.1",
        "DE",
        [],
        "windows",
        "browser",
        "mfa",
        "mfa",
        60,
        null,
        [[policy, "enabled", "mfa", true]],
    ])
}

/// The allows of a flush are one row (`AllowBatch`), and every reader
/// sees them one by one, as if each were a row: found by request id
/// (first, inside and greatest of the batch, around a refusal whose id
/// falls between them), listed in order with the filters applied to each,
/// paged inside the batch, counted by policy, and pruned by count in
/// decisions.
async fn a_batch_of_allows_is_one_row_read_back_decision_by_decision(db: TestDb) {
    let store = db.open().await;
    let t0 = 1_800_000_000;
    // Time-ordered ids: 12 hex digits of milliseconds, 20 random.
    let id = |ms: u64, tail: u64| format!("{ms:012x}{tail:020x}");
    let ms = 1_800_000_000_000u64;
    let mut allows = decisions::AllowBatch::default();
    // Appended out of id order, as concurrent requests finish.
    let order = [
        (2, "u_anna", "payroll"),
        (0, "u_ben", "wiki"),
        (5, "u_anna", "wiki"),
        (3, "u_anna", "payroll"),
    ];
    for (k, user, app) in order {
        assert!(allows.push(
            &id(ms + k, 7),
            t0 + k as i64,
            app,
            Some(user),
            &compact_allow(&format!("/{k}"), "guests-mfa"),
        ));
    }
    assert_eq!(allows.len(), 4);
    // A refusal whose id falls inside the batch's range, in its own row.
    let refusal = decisions::NewDecision {
        entry: json!({"request_id": "r", "policies": [
            {"name": "guests-mfa", "state": "enabled", "applies": true},
        ]})
        .to_string()
        .into(),
        ..decision(&id(ms + 4, 1), t0 + 4, Some("u_anna"), "block")
    };
    assert_eq!(
        store
            .append_decisions(std::slice::from_ref(&refusal), &allows)
            .await
            .expect("append"),
        5
    );
    // The same batch again (a retry) is skipped.
    assert_eq!(
        store.append_decisions(&[], &allows).await.expect("again"),
        0
    );

    // By request id: the least, one inside, the greatest, the refusal.
    for k in [0u64, 2, 3, 5] {
        let got = store
            .get_decision(&id(ms + k, 7))
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("allow {k} found"));
        assert_eq!(got.request_id, id(ms + k, 7));
        assert_eq!(got.decision, "allow");
        assert_eq!(got.reason, None);
        assert_eq!(got.at.unix_timestamp(), t0 + k as i64);
        assert_eq!(got.entry["path"], format!("/{k}"));
        assert_eq!(got.entry["request_id"], id(ms + k, 7));
        assert_eq!(
            got.entry["policies"][0]["why"],
            "all conditions match; asks mfa (met)"
        );
    }
    let got = store
        .get_decision(&id(ms + 4, 1))
        .await
        .expect("get")
        .expect("refusal");
    assert_eq!(got.decision, "block");
    // In the batch's range but not in it; after it; not an id at all.
    for missing in [id(ms + 1, 7), id(ms + 2, 8), id(ms + 9, 0), "x".repeat(32)] {
        assert!(
            store.get_decision(&missing).await.expect("get").is_none(),
            "{missing}"
        );
    }

    // Listed as if each were a row: the batch's allows in the order
    // appended, newest first, the refusal (appended first) last.
    let paths = |list: &[decisions::StoredDecision]| -> Vec<String> {
        list.iter()
            .map(|d| d.entry["path"].as_str().unwrap_or(&d.decision).to_owned())
            .collect()
    };
    let q = decisions::DecisionQuery::default;
    let all = store.list_decisions(&q()).await.expect("all");
    assert_eq!(paths(&all), ["/3", "/5", "/0", "/2", "block"]);
    let ids: Vec<i64> = all.iter().map(|d| d.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids in order: {ids:?}");
    let anna_wiki = decisions::DecisionQuery {
        user: Some("u_anna".into()),
        app: Some("wiki".into()),
        ..q()
    };
    assert_eq!(
        paths(&store.list_decisions(&anna_wiki).await.expect("user")),
        ["/5"]
    );
    let window = decisions::DecisionQuery {
        since: OffsetDateTime::from_unix_timestamp(t0 + 2).ok(),
        until: OffsetDateTime::from_unix_timestamp(t0 + 5).ok(),
        ..q()
    };
    assert_eq!(
        paths(&store.list_decisions(&window).await.expect("window")),
        ["/3", "/2", "block"]
    );
    let allows_only = decisions::DecisionQuery {
        decision: Some("allow".into()),
        ..q()
    };
    assert_eq!(
        store
            .list_decisions(&allows_only)
            .await
            .expect("allows")
            .len(),
        4
    );
    let reasons = decisions::DecisionQuery {
        reason: Some("policy_block".into()),
        ..q()
    };
    assert_eq!(
        paths(&store.list_decisions(&reasons).await.expect("reason")),
        ["block"]
    );
    // Pages of two end and begin inside the batch.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_decisions(&decisions::DecisionQuery {
                before_id: before,
                limit: 2,
                ..q()
            })
            .await
            .expect("page");
        seen.extend(paths(&page));
        match page.last() {
            Some(last) if page.len() == 2 => before = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen, ["/3", "/5", "/0", "/2", "block"]);

    // Counted by policy: four allows and the refusal.
    let counts = store
        .policy_counts(OffsetDateTime::UNIX_EPOCH, 1000)
        .await
        .expect("counts");
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (counts[0].policy.as_str(), counts[0].applied),
        ("guests-mfa", 5)
    );

    // Pruned by count in decisions: the batch holds the 4 newest, so
    // keeping 4 drops the refusal only; keeping 2 keeps the whole batch.
    let long_ago = OffsetDateTime::from_unix_timestamp(0).expect("time");
    assert_eq!(store.prune_decisions(long_ago, 2).await.expect("prune"), 1);
    assert_eq!(store.list_decisions(&q()).await.expect("left").len(), 4);
    // By age: the batch goes when its first time is before the cut.
    let later = OffsetDateTime::from_unix_timestamp(t0 + 1).expect("time");
    assert_eq!(store.prune_decisions(later, 0).await.expect("age"), 4);
    assert!(store.list_decisions(&q()).await.expect("none").is_empty());
}

async fn decisions_round_trip_filter_and_prune(db: TestDb) {
    let store = db.open().await;
    let t0 = 1_800_000_000;
    let batch: Vec<_> = (0..10)
        .map(|i| {
            let user = (i % 3 == 0).then_some("u_anna");
            let d = if i % 2 == 0 { "block" } else { "allow" };
            decision(&format!("{i:032x}"), t0 + i, user, d)
        })
        .collect();
    assert_eq!(
        store
            .append_decisions(&batch, &no_allows())
            .await
            .expect("append"),
        10
    );
    // An id seen before is skipped, not an error (a batch retried).
    assert_eq!(
        store
            .append_decisions(&batch[..2], &no_allows())
            .await
            .expect("again"),
        0
    );

    let one = store
        .get_decision(&format!("{:032x}", 4))
        .await
        .expect("get")
        .expect("recorded");
    assert_eq!(one.decision, "block");
    assert_eq!(one.reason.as_deref(), Some("policy_block"));
    assert_eq!(one.app, "payroll");
    assert_eq!(one.entry["at"], t0 + 4);
    assert!(store.get_decision("missing").await.expect("get").is_none());

    let ids = |list: Vec<decisions::StoredDecision>| -> Vec<i64> {
        list.iter().map(|d| d.at.unix_timestamp() - t0).collect()
    };
    let q = decisions::DecisionQuery::default;
    assert_eq!(
        ids(store.list_decisions(&q()).await.expect("all")),
        (0..10).rev().collect::<Vec<_>>()
    );
    let anna = decisions::DecisionQuery {
        user: Some("u_anna".into()),
        ..q()
    };
    assert_eq!(
        ids(store.list_decisions(&anna).await.expect("user")),
        [9, 6, 3, 0]
    );
    let blocks = decisions::DecisionQuery {
        decision: Some("block".into()),
        reason: Some("policy_block".into()),
        app: Some("payroll".into()),
        since: OffsetDateTime::from_unix_timestamp(t0 + 2).ok(),
        until: OffsetDateTime::from_unix_timestamp(t0 + 8).ok(),
        limit: 2,
        ..q()
    };
    assert_eq!(
        ids(store.list_decisions(&blocks).await.expect("filtered")),
        [6, 4]
    );

    // Age first (before t0 + 2 goes), then the count (the newest 5 stay).
    let before = OffsetDateTime::from_unix_timestamp(t0 + 2).expect("time");
    assert_eq!(store.prune_decisions(before, 5).await.expect("prune"), 5);
    assert_eq!(
        ids(store.list_decisions(&q()).await.expect("left")),
        [9, 8, 7, 6, 5]
    );
    assert_eq!(store.prune_decisions(before, 5).await.expect("again"), 0);
}

/// An allow as the log's writer stores it (an array of its facts by
/// position, without what the row's columns hold) is read back whole by every reader, and its
/// policies count as applied.
async fn a_compact_allow_reads_back_whole_and_is_counted(db: TestDb) {
    let store = db.open().await;
    let compact = compact_allow("/pay", "guests-mfa");
    let id = "019af12e80000123456789abcdef0123";
    let allow = decisions::NewDecision {
        entry: compact.to_string().into(),
        ..decision(id, 1_800_000_000, Some("u_anna"), "allow")
    };
    // A refusal beside it, stored whole: both forms are counted together.
    let block = decisions::NewDecision {
        entry: json!({"request_id": "b", "policies": [
            {"name": "guests-mfa", "state": "enabled", "applies": true},
            {"name": "other", "state": "enabled", "applies": false},
        ]})
        .to_string()
        .into(),
        ..decision(
            "019af12e8000ffff456789abcdef0123",
            1_800_000_001,
            None,
            "block",
        )
    };
    store
        .append_decisions(&[allow, block], &no_allows())
        .await
        .expect("append");
    let want = json!({
        "request_id": id,
        "time": "2027-01-15T08:00:00Z",
        "decision": "allow",
        "reason": null,
        "why": "allowed",
        "deciding_policy": null,
        "recheck": false,
        "app": "payroll",
        "host": "payroll.localhost",
        "method": "GET",
        "path": "/pay",
        "user": {"id": "u_anna", "email": "anna@contoso.com", "type": "guest", "groups": ["partners"], "assigned": true},
        "client_ip": "198.51.100.1",
        "country": "DE",
        "locations": [],
        "platform": "windows",
        "client_app": "browser",
        "mfa": true,
        "mfa_strength": "mfa",
        "mfa_asked": "mfa",
        "signed_in_ago": 60,
        "access_ended": null,
        "policies_complete": false,
        "policies": [{
            "name": "guests-mfa", "state": "enabled", "applies": true, "result": "mfa",
            "satisfied": true, "condition": "applies",
            "why": "all conditions match; asks mfa (met)"
        }],
    });
    let got = store
        .get_decision(id)
        .await
        .expect("get")
        .expect("recorded");
    assert_eq!(got.entry, want);
    let listed = store
        .list_decisions(&decisions::DecisionQuery::default())
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].entry, want);
    let counts = store
        .policy_counts(OffsetDateTime::UNIX_EPOCH, 1000)
        .await
        .expect("counts");
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (
            counts[0].policy.as_str(),
            counts[0].state.as_str(),
            counts[0].applied
        ),
        ("guests-mfa", "enabled", 2)
    );
}

fn passkey(user: &str, id: u8, backup_eligible: bool) -> NewPasskey {
    NewPasskey {
        credential_id: vec![id; 16],
        user_id: user.to_owned(),
        name: format!("key {id}"),
        credential: "{}".to_owned(),
        sign_count: 0,
        backup_eligible,
        backup_state: false,
    }
}

fn passkey_use<'a>(id: &'a [u8], user: &'a str, count: u32, be: bool) -> PasskeyUse<'a> {
    PasskeyUse {
        credential_id: id,
        user_id: user,
        sign_count: count,
        backup_eligible: be,
        backup_state: be,
        credential: "{\"n\":1}",
    }
}

/// Issue 20: a credential id belongs to one user; an assertion is accepted
/// only when its counter rises (replays and cloned authenticators are
/// refused), only for its owner, and only with the backup-eligible flag it
/// was registered with.
async fn passkeys_belong_to_one_user_and_a_counter_only_rises(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u2", "ben@fabrikam.example")).await;
    store
        .add_passkey(&passkey("u1", 1, false), t(0))
        .await
        .expect("add");
    store
        .add_passkey(&passkey("u1", 2, true), t(1))
        .await
        .expect("add");
    let err = store
        .add_passkey(&passkey("u2", 1, false), t(2))
        .await
        .expect_err("a credential id registered twice");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let keys = store.list_passkeys("u1").await.expect("list");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].name, "key 1");
    assert!(keys[1].backup_eligible);
    assert!(store.list_passkeys("u2").await.expect("list").is_empty());

    let id1 = vec![1u8; 16];
    // Another user's credential id signs nobody in.
    assert!(
        !store
            .record_passkey_use(&passkey_use(&id1, "u2", 1, false), t(3))
            .await
            .expect("use")
    );
    assert!(
        store
            .record_passkey_use(&passkey_use(&id1, "u1", 5, false), t(4))
            .await
            .expect("use")
    );
    // The same counter again (a replay) and a lower one (a clone) are refused.
    for count in [5, 4] {
        assert!(
            !store
                .record_passkey_use(&passkey_use(&id1, "u1", count, false), t(5))
                .await
                .expect("use")
        );
    }
    // A flag that says the key became syncable is refused too.
    assert!(
        !store
            .record_passkey_use(&passkey_use(&id1, "u1", 9, true), t(6))
            .await
            .expect("use")
    );
    let k = store.get_passkey(&id1).await.expect("get").expect("there");
    assert_eq!((k.sign_count, k.last_used_at), (5, Some(t(4))));
    assert_eq!(k.credential, "{\"n\":1}");

    // A synced passkey keeps no counter: 0 after 0 is accepted each time.
    let id2 = vec![2u8; 16];
    for at in [7, 8] {
        assert!(
            store
                .record_passkey_use(&passkey_use(&id2, "u1", 0, true), t(at))
                .await
                .expect("use")
        );
    }

    assert!(
        store
            .rename_passkey("u1", &id2, "Phone")
            .await
            .expect("rename")
    );
    assert!(
        !store
            .rename_passkey("u2", &id2, "Mine")
            .await
            .expect("rename")
    );
    assert!(!store.delete_passkey("u2", &id2).await.expect("delete"));
    assert!(store.delete_passkey("u1", &id2).await.expect("delete"));
    assert!(
        !store
            .delete_passkey("u1", &id2)
            .await
            .expect("delete again")
    );
    assert_eq!(store.list_passkeys("u1").await.expect("list").len(), 1);
}

async fn guest_summaries_list_each_guest_once_with_access_and_invitations(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("g1", "b@partner.example")).await;
    add(&store, guest("g2", "a@partner.example")).await;
    add(&store, guest("g3", "c@partner.example")).await;
    add(&store, member("m1", "m@tailwind.com")).await;
    for app in ["wiki", "crm"] {
        store
            .grant_assignment("g1", app, Some(t(100)), None, t(0))
            .await
            .expect("grant");
    }
    // g2: two invitations, the later one pending; g3: one expired.
    let mut first = invitation("g2", 50);
    first.inviter = "old@tailwindtraders.com".into();
    store
        .create_invitation(&first, "token-a", t(0))
        .await
        .expect("invite");
    store
        .create_invitation(&invitation("g2", 500), "token-b", t(10))
        .await
        .expect("invite");
    store
        .create_invitation(&invitation("g3", 20), "token-c", t(0))
        .await
        .expect("invite");
    let list = store.guest_summaries(t(30)).await.expect("summaries");
    let shown: Vec<(&str, Vec<&str>, Option<&str>, bool)> = list
        .iter()
        .map(|g| {
            (
                g.user.id.as_str(),
                g.assignments.iter().map(|a| a.app.as_str()).collect(),
                g.inviter.as_deref(),
                g.invitation_pending,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("g2", vec![], Some("owner@tailwindtraders.com"), true),
            ("g1", vec!["crm", "wiki"], None, false),
            ("g3", vec![], Some("owner@tailwindtraders.com"), false),
        ]
    );
    assert_eq!(list[1].assignments[1].expires_at, Some(t(100)));
    let of_g2: Vec<String> = store
        .invitations_of_user("g2")
        .await
        .expect("of g2")
        .into_iter()
        .map(|i| i.inviter)
        .collect();
    assert_eq!(
        of_g2,
        ["owner@tailwindtraders.com", "old@tailwindtraders.com"]
    );
    assert!(
        store
            .invitations_of_user("g1")
            .await
            .expect("none")
            .is_empty()
    );
}

async fn policy_counts_add_up_the_policies_that_applied_by_state(db: TestDb) {
    let store = db.open().await;
    let traced = |id: &str, at: i64, policies: serde_json::Value| decisions::NewDecision {
        entry: json!({ "request_id": id, "policies": policies })
            .to_string()
            .into(),
        ..decision(id, at, None, "block")
    };
    let p = |name: &str, state: &str, applies: bool| json!({ "name": name, "state": state, "applies": applies, "result": "block" });
    store
        .append_decisions(
            &[
                // Before the day asked about: not counted.
                traced("d0", 100, json!([p("a", "enabled", true)])),
                traced(
                    "d1",
                    200,
                    json!([p("a", "enabled", true), p("r", "report_only", true)]),
                ),
                traced(
                    "d2",
                    300,
                    json!([p("a", "enabled", false), p("r", "report_only", true)]),
                ),
                traced("d3", 400, json!([p("a", "enabled", true)])),
                traced("d4", 500, json!([])),
            ],
            &no_allows(),
        )
        .await
        .expect("append");
    let since = OffsetDateTime::from_unix_timestamp(150).expect("time");
    let mut counts: Vec<(String, String, u64)> = store
        .policy_counts(since, 1000)
        .await
        .expect("counts")
        .into_iter()
        .map(|c| (c.policy, c.state, c.applied))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("a".to_string(), "enabled".to_string(), 2),
            ("r".to_string(), "report_only".to_string(), 2),
        ]
    );
    let later = OffsetDateTime::from_unix_timestamp(1000).expect("time");
    assert!(
        store
            .policy_counts(later, 1000)
            .await
            .expect("none")
            .is_empty()
    );
    // At most the newest rows: d3 and d4 (d4 lists no policy).
    let newest: Vec<(String, u64)> = store
        .policy_counts(since, 2)
        .await
        .expect("newest")
        .into_iter()
        .map(|c| (c.policy, c.applied))
        .collect();
    assert_eq!(newest, [("a".to_string(), 1)]);
}

async fn audit_filters_by_part_of_the_actor_and_the_action_in_the_query(db: TestDb) {
    let store = db.open().await;
    let entry = |actor: &str, action: &str| NewAuditEntry {
        at: t(0),
        actor: actor.into(),
        action: action.into(),
        subject: Some("u1".into()),
        app: None,
        detail: json!({}),
    };
    store
        .append_audit(&entry("Ada@Tailwind.com", "guest_blocked"))
        .await
        .expect("audit");
    store
        .append_audit(&entry("a_b%c", "guest_unblocked"))
        .await
        .expect("audit");
    for _ in 0..5 {
        store
            .append_audit(&entry("system", "reminder_sent"))
            .await
            .expect("audit");
    }
    let actions = |q: AuditQuery| {
        let store = store.clone();
        async move {
            store
                .list_audit(&q)
                .await
                .expect("list")
                .into_iter()
                .map(|e| e.action)
                .collect::<Vec<_>>()
        }
    };
    // A page of 2 still reaches Ada's entry under five newer ones.
    let q = |actor: Option<&str>, action: Option<&str>| AuditQuery {
        actor: actor.map(str::to_owned),
        action: action.map(str::to_owned),
        limit: 2,
        ..AuditQuery::default()
    };
    assert_eq!(actions(q(Some("ada@tail"), None)).await, ["guest_blocked"]);
    assert_eq!(
        actions(q(None, Some("guest_blocked"))).await,
        ["guest_blocked"]
    );
    assert!(actions(q(None, Some("guest"))).await.is_empty());
    // `%` and `_` match themselves only.
    assert_eq!(actions(q(Some("_b%"), None)).await, ["guest_unblocked"]);
    assert!(
        actions(q(Some("%"), Some("reminder_sent")))
            .await
            .is_empty()
    );
}

async fn decisions_page_by_id(db: TestDb) {
    let store = db.open().await;
    store
        .append_decisions(
            &[
                decision("p1", 10, None, "block"),
                decision("p2", 11, None, "allow"),
                decision("p3", 12, None, "block"),
                decision("p4", 13, None, "block"),
            ],
            &no_allows(),
        )
        .await
        .expect("append");
    let page = |before: Option<i64>| {
        let store = store.clone();
        async move {
            store
                .list_decisions(&decisions::DecisionQuery {
                    decision: Some("block".into()),
                    before_id: before,
                    limit: 2,
                    ..decisions::DecisionQuery::default()
                })
                .await
                .expect("list")
        }
    };
    let first = page(None).await;
    let ids: Vec<&str> = first.iter().map(|d| d.request_id.as_str()).collect();
    assert_eq!(ids, ["p4", "p3"]);
    let second = page(Some(first[1].id)).await;
    let ids: Vec<&str> = second.iter().map(|d| d.request_id.as_str()).collect();
    assert_eq!(ids, ["p1"]);
}

async fn recovery_request_is_decided_once_and_its_link_redeemed_once(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    add(&store, guest("u2", "ben@fabrikam.example")).await;
    let (req, created) = store
        .create_recovery_request("u1", Some("wiki"), "browser-a", t(0))
        .await
        .expect("create");
    assert!(created);
    assert_eq!(req.status, RecoveryStatus::Pending);
    assert_eq!(req.app.as_deref(), Some("wiki"));
    // Asking again while pending: the same request, bound to the new
    // browser.
    let (again, created) = store
        .create_recovery_request("u1", None, "browser-b", t(1))
        .await
        .expect("create again");
    assert!(!created);
    assert_eq!(again.id, req.id);
    let err = store
        .create_recovery_request("nobody", None, "browser-x", t(1))
        .await
        .expect_err("unknown user");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    // A lapsed request (asked before `asked_after`) cannot be decided.
    assert!(
        store
            .decide_recovery_request(&req.id, None, "olivia@t.com", t(5), t(10))
            .await
            .expect("decide")
            .is_none()
    );
    let approved = store
        .decide_recovery_request(&req.id, Some(("tok", t(100))), "olivia@t.com", t(-5), t(10))
        .await
        .expect("decide")
        .expect("pending");
    assert_eq!(approved.status, RecoveryStatus::Approved);
    assert_eq!(approved.link_expires_at, Some(t(100)));
    // Decided once.
    assert!(
        store
            .decide_recovery_request(&req.id, None, "dave@t.com", t(-5), t(11))
            .await
            .expect("decide")
            .is_none()
    );
    // The link: the browser that asked last, the right user, in time.
    let look = |token: &'static str, browser: &'static str, user: &'static str, at: i64| {
        let store = store.clone();
        async move {
            store
                .recovery_link(token, browser, user, t(at))
                .await
                .expect("look")
        }
    };
    assert_eq!(
        look("nope", "browser-b", "u1", 20).await,
        RecoveryLink::Unknown
    );
    assert_eq!(
        look("tok", "browser-a", "u1", 20).await,
        RecoveryLink::OtherBrowser
    );
    assert_eq!(
        look("tok", "browser-b", "u2", 20).await,
        RecoveryLink::OtherUser
    );
    assert_eq!(
        look("tok", "browser-b", "u1", 100).await,
        RecoveryLink::Expired
    );
    assert!(matches!(
        look("tok", "browser-b", "u1", 20).await,
        RecoveryLink::Valid(_)
    ));
    for (browser, user, at, why) in [
        ("browser-a", "u1", 20, RecoveryLink::OtherBrowser),
        ("browser-b", "u2", 20, RecoveryLink::OtherUser),
        ("browser-b", "u1", 100, RecoveryLink::Expired),
    ] {
        let r = store
            .redeem_recovery_link("tok", browser, user, t(at))
            .await
            .expect("redeem");
        assert_eq!(r, why);
    }
    let used = store
        .redeem_recovery_link("tok", "browser-b", "u1", t(21))
        .await
        .expect("redeem");
    let RecoveryLink::Valid(used) = used else {
        panic!("not redeemed: {used:?}");
    };
    assert_eq!(used.status, RecoveryStatus::Used);
    assert_eq!(used.used_at, Some(t(21)));
    assert_eq!(
        store
            .redeem_recovery_link("tok", "browser-b", "u1", t(22))
            .await
            .expect("redeem"),
        RecoveryLink::Used
    );
    // A used request no longer blocks a new one.
    let (next, created) = store
        .create_recovery_request("u1", None, "browser-c", t(30))
        .await
        .expect("create");
    assert!(created);
    assert_ne!(next.id, req.id);
}

async fn racing_recovery_link_redemptions_have_one_winner(db: TestDb) {
    let store = db.open().await;
    add(&store, guest("u1", "anna@contoso.com")).await;
    let (req, _) = store
        .create_recovery_request("u1", None, "browser", t(0))
        .await
        .expect("create");
    store
        .decide_recovery_request(&req.id, Some(("tok", t(100))), "olivia@t.com", t(-5), t(1))
        .await
        .expect("decide")
        .expect("pending");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = db.open().await;
        tasks.push(tokio::spawn(async move {
            store
                .redeem_recovery_link("tok", "browser", "u1", t(2))
                .await
                .expect("redeem")
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.expect("join") {
            RecoveryLink::Valid(_) => won += 1,
            RecoveryLink::Used => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
}
