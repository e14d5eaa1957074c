//! The invitation operation against a real SQLite store, the file outbox
//! and an SMTP relay that is down: the regressions of issue 14, finding 9
//! (a failed send, look-alike domains, line breaks in the inviter).

use super::*;
use crate::mail::{MailConfig, Smtp, SmtpTls, Transport};
use crate::store::AuditQuery;
use std::path::Path;
use std::time::Duration;

fn t() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("valid timestamp")
}

struct Env {
    dir: tempfile::TempDir,
    config: Config,
    store: Store,
    /// Writes to `<dir>/outbox`.
    outbox: Mailer,
    /// An SMTP relay on a port where nothing listens.
    down: Mailer,
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
    // Dropped here: the port is closed while the test runs.
}

async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/a.yaml"), "").expect("write");
    let text = r#"
listen: { http: 127.0.0.1:8080 }
rules: ["rules/*.yaml"]
organisation: { name: Tailwind Traders, member_domains: [tailwindtraders.com] }
sign_in: { host: auth.localhost }
mail: { from: "Tailwind Traders <noreply@tailwindtraders.com>", outbox: outbox }
apps:
  - { name: crm, title: CRM, hosts: [crm.localhost], upstreams: [127.0.0.1:1] }
  - { name: wiki, title: Wiki, hosts: [wiki.localhost], upstreams: [127.0.0.1:1] }
"#;
    let config = Config::from_str(&dir.path().join("portcullis.yaml"), text).expect("config");
    let outbox =
        Mailer::new(config.mail.as_ref().expect("mail"), "Tailwind Traders").expect("mailer");
    let down = Mailer::new(
        &MailConfig {
            from: "noreply@tailwindtraders.com".parse().expect("from"),
            transport: Transport::Smtp(Smtp {
                host: "127.0.0.1".into(),
                port: closed_port(),
                tls: SmtpTls::None,
                credentials: None,
            }),
            timeout: Duration::from_secs(2),
        },
        "Tailwind Traders",
    )
    .expect("mailer");
    let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
        .await
        .expect("store");
    Env {
        dir,
        config,
        store,
        outbox,
        down,
    }
}

fn request(email: &str, apps: &[&str]) -> InviteRequest {
    InviteRequest {
        email: email.into(),
        apps: apps.iter().map(ToString::to_string).collect(),
        access_until: None,
        access_days: Some(7),
        message: None,
        inviter: "Alice".into(),
        language: None,
    }
}

/// The text parts of the mails in the outbox (decoded).
fn mails(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("outbox")) else {
        return Vec::new();
    };
    entries
        .map(|f| {
            let raw = std::fs::read(f.expect("entry").path()).expect("read mail");
            let mail = mailparse::parse_mail(&raw).expect("parses");
            mail.subparts
                .iter()
                .find(|p| p.ctype.mimetype == "text/plain")
                .expect("a text part")
                .get_body()
                .expect("decodes")
        })
        .collect()
}

impl Env {
    async fn invite(
        &self,
        mailer: &Mailer,
        req: &InviteRequest,
    ) -> Result<Invitation, InviteError> {
        invite(&self.config, &self.store, mailer, req, t())
            .await
            .map(|(i, _link)| i)
    }

    async fn pending_to(&self, email: &str) -> Vec<Invitation> {
        self.store
            .list_invitations()
            .await
            .expect("list")
            .into_iter()
            .filter(|i| i.email == email && i.status(t()) == "pending")
            .collect()
    }

    async fn users_with(&self, email: &str) -> usize {
        self.store
            .list_users(None)
            .await
            .expect("users")
            .iter()
            .filter(|u| u.email == email)
            .count()
    }

    async fn audit(&self) -> Vec<(String, serde_json::Value)> {
        let mut a: Vec<_> = self
            .store
            .list_audit(&AuditQuery::default())
            .await
            .expect("audit")
            .into_iter()
            .map(|e| (e.action, e.detail))
            .collect();
        a.reverse();
        a
    }
}

/// Issue 14, finding 9: a 503 for an unsent mail used to leave a pending
/// invitation that the admin's retry then doubled. Now the answer names
/// the kept invitation, a retry replaces it (one pending, one user), and
/// the retry that gets through is the one that is mailed.
#[tokio::test]
async fn regression_a_failed_send_keeps_one_resendable_invitation_and_a_retry_does_not_duplicate() {
    let e = env().await;
    let bob = "bob@fabrikam.example";
    let err = e
        .invite(&e.down, &request(bob, &["wiki"]))
        .await
        .expect_err("mail is down");
    let InviteError::NotSent { invitation, reason } = &err else {
        panic!("expected NotSent, got {err:?}");
    };
    assert!(reason.contains("SMTP"), "{reason}");
    let message = err.to_string();
    assert!(message.contains("e-mail was not sent"), "{message}");
    assert!(message.contains(&invitation.id), "{message}");
    assert!(message.contains("stays pending"), "{message}");
    let first = invitation.id.clone();
    assert_eq!(e.pending_to(bob).await.len(), 1);
    assert_eq!(e.users_with(bob).await, 1);

    // The admin retries while mail is still down: still one of each.
    let err = e
        .invite(&e.down, &request(bob, &["wiki"]))
        .await
        .expect_err("still down");
    let InviteError::NotSent { invitation, .. } = err else {
        panic!("expected NotSent, got {err:?}");
    };
    let second = invitation.id.clone();
    assert_ne!(first, second);
    let pending = e.pending_to(bob).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].id, second);
    assert_eq!(
        e.store
            .get_invitation(&first)
            .await
            .expect("get")
            .expect("kept")
            .status(t()),
        "revoked"
    );
    assert_eq!(e.users_with(bob).await, 1);
    assert!(mails(e.dir.path()).is_empty());

    // Mail works again: the retry is delivered and is the only one pending.
    let third = e
        .invite(&e.outbox, &request(bob, &["wiki"]))
        .await
        .expect("sent");
    let pending = e.pending_to(bob).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].id, third.id);
    assert_eq!(e.users_with(bob).await, 1);
    assert_eq!(mails(e.dir.path()).len(), 1);

    // The log says what happened to each.
    let log = e.audit().await;
    let invited: Vec<&str> = log
        .iter()
        .filter(|(a, _)| a == "guest_invited")
        .map(|(_, d)| d["mail"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(invited, ["not sent", "not sent", "sent"]);
    let replaced: Vec<&str> = log
        .iter()
        .filter(|(a, _)| a == "invitation_revoked")
        .map(|(_, d)| d["replaced_by"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(replaced, [second.as_str(), third.id.as_str()]);

    // Another app for the same address is another invitation, untouched.
    e.invite(&e.outbox, &request(bob, &["crm"]))
        .await
        .expect("sent");
    assert_eq!(e.pending_to(bob).await.len(), 2);
}

/// The other way to deliver a kept invitation: resend it once mail works.
#[tokio::test]
async fn an_unsent_invitation_is_delivered_by_a_resend() {
    let e = env().await;
    let err = e
        .invite(&e.down, &request("carol@contoso.example", &["wiki"]))
        .await
        .expect_err("mail is down");
    let InviteError::NotSent { invitation, .. } = err else {
        panic!("expected NotSent, got {err:?}");
    };
    let err = resend(&e.config, &e.store, &e.down, &invitation.id, "admin", t())
        .await
        .expect_err("still down");
    assert!(matches!(err, InviteError::NotSent { .. }), "{err:?}");
    let (again, _) = resend(&e.config, &e.store, &e.outbox, &invitation.id, "admin", t())
        .await
        .expect("resent");
    assert_eq!(again.id, invitation.id);
    assert_eq!(again.status(t()), "pending");
    assert_eq!(mails(e.dir.path()).len(), 1);
}

/// Issue 14, finding 9: `bob@fabrıkam.example` (dotless ı) was accepted
/// silently. Look-alike domains are refused on the `email` field, before
/// anything is stored; real internationalised domains still work.
#[tokio::test]
async fn regression_lookalike_domains_are_refused_and_real_idns_accepted() {
    let e = env().await;
    // The same look-alike written as an A-label.
    let a_label = format!(
        "bob@{}",
        idna::domain_to_ascii("fabrıkam.example").expect("valid IDN")
    );
    for (email, says) in [
        ("bob@fabrıkam.example", "looks like `fabrikam`"),
        ("bob@pаypal.example", "mixes scripts (Latin and Cyrillic)"),
        ("bob@аррӏе.example", "looks like `apple`"),
        (a_label.as_str(), "looks like `fabrikam`"),
        // A look-alike of a member domain is a look-alike, not a member.
        ("bob@tailwindtrаders.com", "mixes scripts"),
    ] {
        match e.invite(&e.outbox, &request(email, &["wiki"])).await {
            Err(InviteError::Invalid { field, message }) => {
                assert_eq!(field, "email", "{email}");
                assert!(message.contains(says), "{email}: {message}");
            }
            other => panic!("{email}: expected a refusal, got {other:?}"),
        }
        assert_eq!(e.users_with(email).await, 0, "{email}");
    }
    assert!(e.store.list_invitations().await.expect("list").is_empty());
    assert!(mails(e.dir.path()).is_empty());

    for email in ["ivan@пример.рф", "kenji@例え.jp", "anna@münchen.de"] {
        let inv = e
            .invite(&e.outbox, &request(email, &["wiki"]))
            .await
            .unwrap_or_else(|err| panic!("{email}: {err}"));
        assert_eq!(inv.email, email);
    }
    assert_eq!(mails(e.dir.path()).len(), 3);
}

/// Issue 14, finding 9: CR/LF in `inviter` became line breaks in the
/// plain-text body. Refused now (the field is one line), as are control
/// characters in the message; the message's own line breaks are kept.
#[tokio::test]
async fn regression_control_characters_in_the_inviter_and_message_are_refused() {
    let e = env().await;
    for inviter in [
        "Alice\r\nClick http://evil",
        "Alice\nClick",
        "Alice\u{2028}Click",
        "Alice\u{202E}kcilC",
    ] {
        let req = InviteRequest {
            inviter: inviter.into(),
            ..request("dave@contoso.example", &["wiki"])
        };
        match e.invite(&e.outbox, &req).await {
            Err(InviteError::Invalid { field, message }) => {
                assert_eq!(field, "inviter", "{inviter:?}");
                assert!(message.contains("control character"), "{message}");
            }
            other => panic!("{inviter:?}: expected a refusal, got {other:?}"),
        }
    }
    let req = InviteRequest {
        message: Some("Hi\u{1b}[2J there".into()),
        ..request("dave@contoso.example", &["wiki"])
    };
    assert!(matches!(
        e.invite(&e.outbox, &req).await,
        Err(InviteError::Invalid {
            field: "message",
            ..
        })
    ));
    assert!(e.store.list_invitations().await.expect("list").is_empty());

    // Paragraphs typed in a form (CR LF) are kept, as plain line breaks,
    // and every line of the message is indented in the text part.
    let req = InviteRequest {
        message: Some("Welcome!\r\nClick http://evil\rSee you".into()),
        ..request("dave@contoso.example", &["wiki"])
    };
    let inv = e.invite(&e.outbox, &req).await.expect("sent");
    assert_eq!(
        inv.message.as_deref(),
        Some("Welcome!\nClick http://evil\nSee you")
    );
    let mail = mails(e.dir.path()).remove(0);
    assert!(
        !mail.lines().any(|l| l.starts_with("Click")),
        "a line of the message starts at the margin:\n{mail}"
    );
    assert_eq!(e.users_with("dave@contoso.example").await, 1);
}
