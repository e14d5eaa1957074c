//! The task's decisions against a real SQLite store and the file outbox, on
//! a fixed clock: reminders (guest and owners, once per end), expiry, block,
//! sign-out, deletion after `delete_after`, members untouched, and a store
//! outage that only counts errors.

use super::*;
use crate::store::{AuditQuery, NewUser, SessionRecord, UserState, UserType};

const DAY: i64 = 86_400;

/// A fixed instant; the tests never read the wall clock for decisions.
fn t(offset_secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + offset_secs).expect("valid timestamp")
}

struct Env {
    dir: tempfile::TempDir,
    config: Config,
    store: Store,
    mailer: Mailer,
}

async fn env(action: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/a.yaml"), "").expect("write");
    let text = format!(
        r#"
listen: {{ http: 127.0.0.1:8080 }}
rules: ["rules/*.yaml"]
organisation: {{ name: Tailwind Traders, member_domains: [tailwindtraders.com] }}
sign_in: {{ host: auth.localhost }}
mail: {{ from: "Tailwind Traders <noreply@tailwindtraders.com>", outbox: outbox }}
guests: {{ reminder_before: 7d, on_last_assignment_end: {action}, delete_after: 30d }}
apps:
  - {{ name: crm, title: CRM, hosts: [crm.localhost], upstreams: [127.0.0.1:1], owners: [Olga@tailwindtraders.com, "group:crm-owners"] }}
  - {{ name: wiki, title: Wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:1] }}
"#
    );
    let config = Config::from_str(&dir.path().join("portcullis.yaml"), &text).expect("config");
    let mailer =
        Mailer::new(config.mail.as_ref().expect("mail"), "Tailwind Traders").expect("mailer");
    let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
        .await
        .expect("store");
    Env {
        dir,
        config,
        store,
        mailer,
    }
}

impl Env {
    async fn user(&self, id: &str, email: &str, user_type: UserType) {
        let u = NewUser {
            id: id.into(),
            email: email.into(),
            display_name: None,
            user_type,
            identity: None,
        };
        self.store.upsert_user(&u, t(0)).await.expect("user");
    }

    async fn grant(&self, user: &str, app: &str, end: i64) {
        self.store
            .grant_assignment(user, app, Some(t(end)), None, t(0))
            .await
            .expect("grant");
    }

    async fn run(&self, at: i64) -> Outcome {
        run_once(&self.config, &self.store, Some(&self.mailer), t(at)).await
    }

    /// The recipients and subjects of the mails in the outbox, sorted; empties it.
    fn take_outbox(&self) -> Vec<(String, String)> {
        let dir = self.dir.path().join("outbox");
        let mut mails = Vec::new();
        for f in std::fs::read_dir(&dir).expect("outbox") {
            let path = f.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read mail");
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            mails.push((header("To:"), header("Subject:")));
            std::fs::remove_file(&path).expect("remove mail");
        }
        mails.sort();
        mails
    }

    async fn actions(&self, subject: &str) -> Vec<String> {
        let q = AuditQuery {
            subject: Some(subject.into()),
            ..AuditQuery::default()
        };
        let mut a: Vec<String> = self
            .store
            .list_audit(&q)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        a.reverse();
        a
    }
}

#[tokio::test]
async fn reminders_go_once_to_the_guest_and_the_owners_then_block_sign_out_and_delete() {
    let e = env("delete").await;
    e.user("anna", "anna@contoso.com", UserType::Guest).await;
    e.user("mia", "mia@tailwindtraders.com", UserType::Member)
        .await;
    e.user("max", "max@tailwindtraders.com", UserType::Member)
        .await;
    e.user("bob", "bob@tailwindtraders.com", UserType::Member)
        .await;
    for m in ["mia", "max"] {
        e.store
            .add_group_member("crm-owners", m, t(0))
            .await
            .expect("group");
    }
    e.store
        .set_user_state("max", UserState::Blocked)
        .await
        .expect("block max");
    e.grant("anna", "crm", 3 * DAY).await;
    e.grant("anna", "wiki", 20 * DAY).await;
    e.grant("bob", "crm", DAY).await; // a member whose access ends: untouched
    e.store
        .insert_session(&SessionRecord {
            sid: "s-anna".into(),
            user_id: "anna".into(),
            idp: "contoso".into(),
            created_at: t(0),
            expires_at: t(40 * DAY),
            device: None,
        })
        .await
        .expect("session");

    // crm ends within 7 days: the guest and both owners (Olga by e-mail, Mia
    // by group; Max is blocked) are told, once.
    let out = e.run(1).await;
    assert_eq!(out.reminded, [("anna".to_string(), "crm".to_string())]);
    assert_eq!(out.errors, 0, "{out:?}");
    let ends = crate::invitations::human_date(t(3 * DAY));
    assert_eq!(
        e.take_outbox(),
        [
            (
                "anna@contoso.com".to_string(),
                format!("Your access to CRM at Tailwind Traders ends {ends}")
            ),
            (
                "mia@tailwindtraders.com".to_string(),
                format!("Access of anna@contoso.com to CRM ends {ends}")
            ),
            (
                "olga@tailwindtraders.com".to_string(),
                format!("Access of anna@contoso.com to CRM ends {ends}")
            ),
        ]
    );
    assert_eq!(e.run(60).await, Outcome::default());
    assert!(e.take_outbox().is_empty());

    // The owner extends crm: the new end gets its own reminder; wiki's comes
    // 7 days before its end, to the guest only (wiki has no owners).
    e.store
        .extend_assignment("anna", "crm", Some(t(10 * DAY)), t(DAY))
        .await
        .expect("extend");
    let out = e.run(4 * DAY).await;
    assert_eq!(out.reminded, [("anna".to_string(), "crm".to_string())]);
    assert_eq!(e.take_outbox().len(), 3);
    let out = e.run(14 * DAY).await;
    assert_eq!(out.reminded, [("anna".to_string(), "wiki".to_string())]);
    assert_eq!(e.take_outbox().len(), 1);

    // crm ended, wiki still live: nothing happens to the guest.
    let out = e.run(15 * DAY).await;
    assert!(out.expired.is_empty(), "{out:?}");
    // The last one ended: expired, blocked and signed out in one run.
    let out = e.run(20 * DAY + 1).await;
    assert_eq!(out.expired, ["anna"]);
    assert_eq!(out.blocked, ["anna"]);
    assert_eq!(out.signed_out, ["anna"]);
    let anna = e.store.get_user("anna").await.expect("get").expect("anna");
    assert_eq!(anna.state, UserState::Blocked);
    assert!(e.store.is_revoked("s-anna").await.expect("revoked?"));
    assert_eq!(e.actions("anna").await, ["access_expired", "guest_blocked"]);
    assert_eq!(e.run(25 * DAY).await, Outcome::default());

    // Deleted delete_after (30 days) after the block, not a second before.
    assert_eq!(e.run(50 * DAY).await, Outcome::default());
    let out = e.run(50 * DAY + 1).await;
    assert_eq!(out.deleted, ["anna"]);
    assert!(e.store.get_user("anna").await.expect("get").is_none());
    assert_eq!(
        e.actions("anna").await,
        ["access_expired", "guest_blocked", "guest_deleted"]
    );

    // The member whose assignment ended was never touched.
    let bob = e.store.get_user("bob").await.expect("get").expect("bob");
    assert_eq!(bob.state, UserState::Active);
    assert!(e.actions("bob").await.is_empty());
    assert!(e.take_outbox().is_empty());
}

#[tokio::test]
async fn none_only_audits_and_block_never_deletes() {
    for action in ["none", "block"] {
        let e = env(action).await;
        e.user("anna", "anna@contoso.com", UserType::Guest).await;
        e.grant("anna", "wiki", 100).await;
        let out = e.run(200).await;
        assert_eq!(out.expired, ["anna"], "{action}");
        let state = e
            .store
            .get_user("anna")
            .await
            .expect("get")
            .expect("anna")
            .state;
        let out = e.run(400 * DAY).await;
        assert!(out.deleted.is_empty(), "{action}");
        match action {
            "none" => {
                assert_eq!(state, UserState::Active);
                assert_eq!(e.actions("anna").await, ["access_expired"]);
            }
            _ => {
                assert_eq!(state, UserState::Blocked);
                assert_eq!(e.actions("anna").await, ["access_expired", "guest_blocked"]);
            }
        }
        // A guest never assigned anything is left alone.
        e.user("new", "new@contoso.com", UserType::Guest).await;
        assert!(e.run(401 * DAY).await.expired.is_empty());
    }
}

#[tokio::test]
async fn a_failed_reminder_is_retried_and_a_store_outage_only_counts_errors() {
    let e = env("block").await;
    e.user("anna", "anna@contoso.com", UserType::Guest).await;
    e.grant("anna", "wiki", DAY).await;
    // The outbox cannot be written: the claim is given back.
    let outbox = e.dir.path().join("outbox");
    std::fs::remove_dir_all(&outbox).expect("rm outbox");
    std::fs::write(&outbox, "not a folder").expect("block outbox");
    let out = e.run(1).await;
    assert!(out.reminded.is_empty());
    assert_eq!(out.errors, 1);
    std::fs::remove_file(&outbox).expect("rm file");
    std::fs::create_dir(&outbox).expect("mkdir outbox");
    let out = e.run(2).await;
    assert_eq!(out.reminded, [("anna".to_string(), "wiki".to_string())]);
    assert_eq!(e.take_outbox().len(), 1);

    e.store.close().await;
    let out = e.run(2 * DAY).await;
    assert!(out.expired.is_empty() && out.reminded.is_empty());
    assert!(out.errors >= 3, "{out:?}");
}

#[test]
fn interval_takes_1_to_86400_seconds_from_the_environment() {
    assert_eq!(interval_from(Some("2")), Duration::from_secs(2));
    assert_eq!(interval_from(Some(" 86400 ")), Duration::from_secs(86_400));
    for bad in ["0", "86401", "soon", ""] {
        assert_eq!(interval_from(Some(bad)), INTERVAL, "{bad:?}");
    }
    assert_eq!(interval_from(None), INTERVAL);
}
