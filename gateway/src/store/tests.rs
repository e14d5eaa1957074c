//! Store and directory-cache tests against real SQLite files in a tempdir.

use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use time::OffsetDateTime;

use super::*;

/// A fixed instant, so tests never depend on the wall clock for expiry.
fn t(offset_secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + offset_secs).expect("valid timestamp")
}

async fn open_temp() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("portcullis.db"))
        .await
        .expect("open store");
    (dir, store)
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
async fn open_rejects_postgres_and_in_memory_for_now() {
    for location in ["postgres://db/portcullis", "sqlite::memory:", ""] {
        let err = Store::open(location).await.expect_err(location);
        assert!(
            matches!(err, StoreError::Unsupported { .. }),
            "{location}: {err:?}"
        );
    }
}

// ---- users ------------------------------------------------------------------

#[tokio::test]
async fn upsert_user_inserts_then_updates_without_touching_state_or_created_at() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn email_is_unique_ignoring_case() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn identity_is_unique_and_empty_input_is_invalid() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn set_state_of_unknown_user_is_not_found_and_list_filters_by_type() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn delete_user_removes_memberships_and_assignments() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn group_membership_add_list_remove() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn guest_assignment_is_live_until_its_end_and_not_after() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn guest_assignment_without_end_is_rejected_member_one_is_allowed() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn assignment_errors_name_what_is_wrong() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn directory_facts_for_unknown_user_is_ok_and_denies() {
    let (_dir, store) = open_temp().await;
    let facts = store
        .directory_facts("nobody", "payroll", t(0))
        .await
        .expect("facts");
    assert!(!facts.user_exists && !facts.assigned_live && !facts.blocked);
    assert_eq!(facts.user_type, None);
    assert!(facts.groups.is_empty());
}

#[tokio::test]
async fn directory_facts_for_blocked_user_with_groups() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn signing_keys_round_trip_newest_first() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn revoked_sessions_are_remembered_until_they_expire() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn audit_lists_newest_first_with_paging_and_filters() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_write_concurrently_without_busy_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("portcullis.db");
    let a = Store::open_sqlite(&path).await.expect("open a");
    let b = Store::open_sqlite(&path).await.expect("open b");

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

#[tokio::test]
async fn cache_answers_without_the_database_once_warm() {
    let (dir, store) = open_temp().await;
    assigned_guest(&store, 100).await;
    let cache = cache_with(&store, Duration::from_secs(60));
    assert_eq!(cache.cached("u1", "payroll", t(1)), None, "cold");

    let loaded = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect("load");
    assert!(loaded.assigned_live);

    // No database any more: the pool is closed and the file is gone.
    store.close().await;
    std::fs::remove_dir_all(dir.path()).expect("remove db dir");

    assert_eq!(cache.cached("u1", "payroll", t(1)), Some(loaded.clone()));
    assert_eq!(
        cache.get_or_load("u1", "payroll", t(1)).await.expect("hit"),
        loaded
    );
    // Another app of the same user comes from the same entry.
    let crm = cache.cached("u1", "crm", t(1)).expect("same entry");
    assert!(crm.user_exists && !crm.assigned);
}

#[tokio::test]
async fn cache_assignment_expiring_while_cached_is_not_live() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn cache_ttl_expiry_forces_a_reload() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn cache_invalidate_user_drops_the_entry() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn cache_remembers_unknown_users() {
    let (_dir, store) = open_temp().await;
    let cache = cache_with(&store, Duration::from_secs(60));
    let facts = cache
        .get_or_load("ghost", "payroll", t(0))
        .await
        .expect("load");
    assert!(!facts.user_exists);
    store.close().await;
    assert_eq!(cache.cached("ghost", "payroll", t(0)), Some(facts));
}

#[tokio::test]
async fn cache_database_error_is_an_err_and_not_cached() {
    let (_dir, store) = open_temp().await;
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

#[tokio::test]
async fn cache_load_is_bounded_by_the_timeout() {
    let (_dir, store) = open_temp().await;
    assigned_guest(&store, 100).await;
    let cache = DirectoryCache::new(
        store.clone(),
        DirectoryCacheConfig {
            load_timeout: Duration::from_millis(100),
            ..DirectoryCacheConfig::default()
        },
    );
    // Hold every pooled connection so the load cannot start.
    let Store::Sqlite(sqlite) = &store;
    let _held = sqlite.hold_all_connections().await;
    let started = std::time::Instant::now();
    let err = cache
        .get_or_load("u1", "payroll", t(1))
        .await
        .expect_err("no connection");
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
