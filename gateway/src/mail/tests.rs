use super::*;
use mailparse::MailHeaderMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const FROM: &str = "Tailwind Traders <noreply@tailwindtraders.com>";
const ORG: &str = "Tailwind Traders";

// ------------------------------------------------------------------ config

fn check(yaml: &str, dir: &Path) -> Result<MailConfig, Vec<String>> {
    let file: MailFile = serde_saphyr::from_str(yaml).map_err(|e| vec![e.to_string()])?;
    file.check(dir)
        .map_err(|es| es.iter().map(ToString::to_string).collect())
}

#[test]
fn outbox_config_resolves_against_the_config_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = check(
        "from: \"Tailwind Traders <noreply@tailwindtraders.com>\"\noutbox: var/outbox\n",
        dir.path(),
    )
    .expect("valid");
    assert_eq!(c.from.to_string(), FROM);
    assert_eq!(
        c.transport,
        Transport::Outbox(dir.path().join("var/outbox"))
    );
    assert_eq!(c.timeout, Duration::from_secs(10));
}

#[test]
fn smtp_config_with_defaults_and_a_password_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("smtp.password"), "s3cret\n").expect("write");
    let c = check(
        r#"
from: noreply@tailwindtraders.com
smtp:
  host: smtp.tailwindtraders.com
  username: portcullis
  password_file: smtp.password
"#,
        dir.path(),
    )
    .expect("valid");
    assert_eq!(
        c.transport,
        Transport::Smtp(Smtp {
            host: "smtp.tailwindtraders.com".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            credentials: Some((
                "portcullis".into(),
                PasswordSource::File(dir.path().join("smtp.password"))
            )),
        })
    );
    let c = check(
        r#"
from: noreply@tailwindtraders.com
smtp: { host: smtp.tailwindtraders.com, tls: tls, username: portcullis, password_env: SMTP_PASSWORD, timeout: 30s }
"#,
        dir.path(),
    )
    .expect("valid");
    let Transport::Smtp(s) = &c.transport else {
        panic!("smtp expected")
    };
    assert_eq!((s.port, s.tls), (465, SmtpTls::Tls));
    assert_eq!(
        s.credentials,
        Some((
            "portcullis".into(),
            PasswordSource::Env("SMTP_PASSWORD".into())
        ))
    );
    assert_eq!(c.timeout, Duration::from_secs(30));
    for host in ["127.0.0.1", "localhost", "::1"] {
        let c = check(
            &format!("from: a@b.example\nsmtp: {{ host: \"{host}\", port: 2525, tls: none }}\n"),
            dir.path(),
        )
        .expect("loopback without TLS");
        assert!(matches!(
            c.transport,
            Transport::Smtp(Smtp {
                tls: SmtpTls::None,
                port: 2525,
                ..
            })
        ));
    }
}

#[test]
fn every_config_error_names_its_field_and_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let errors = check(
        r#"
from: "Tailwind Traders"
smtp:
  host: "smtp://mail.example.com"
  port: 0
  tls: ssl
  username: portcullis
  password: hunter2
  password_file: missing.password
  timeout: 10x
"#,
        dir.path(),
    )
    .expect_err("broken");
    let dir_text = dir.path().display().to_string();
    let errors: Vec<String> = errors.iter().map(|e| e.replace(&dir_text, "DIR")).collect();
    assert_eq!(
        errors,
        [
            "2:7: `Tailwind Traders` is not a sender; use an address such as `Tailwind Traders <noreply@tailwindtraders.com>`",
            "4:9: `smtp://mail.example.com` is not a host name or IP address (no scheme or port; the port goes in `mail.smtp.port`)",
            "5:9: `mail.smtp.port` must not be 0",
            "6:8: `ssl` is not a choice for `mail.smtp.tls` (one of: starttls, tls, none)",
            "8:13: `mail.smtp.password` is not allowed: a password in the config file leaks through backups and reviews; put it in a file (`password_file`) or an environment variable (`password_env`)",
            "9:18: password file `DIR/missing.password` does not exist (paths are relative to the config file)",
            "10:12: `10x` is not a duration; use 10s, 30s or 1m",
        ]
    );
    // The inline password never shows up in an error.
    assert!(!errors.iter().any(|e| e.contains("hunter2")));
}

#[test]
fn cleartext_smtp_is_refused_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    for host in ["mail.example.com", "10.0.0.5", "app.localhost"] {
        let errors = check(
            &format!("from: a@b.example\nsmtp: {{ host: {host}, tls: none }}\n"),
            dir.path(),
        )
        .expect_err("cleartext off loopback");
        assert_eq!(
            errors,
            [format!(
                "2:{}: `tls: none` is only allowed for a loopback host (localhost, 127.0.0.1, ::1), not `{host}`: passcodes and invitation links would cross the network in clear text; use `starttls` or `tls`",
                22 + host.len()
            )]
        );
    }
}

#[test]
fn transport_and_credential_combinations() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), "x").expect("write");
    let cases: &[(&str, &str)] = &[
        (
            "from: a@b.example\n",
            "1:7: `mail` needs a transport: `outbox: var/outbox` (one .eml file per message) or `smtp: { host, … }`",
        ),
        (
            "from: a@b.example\noutbox: out\nsmtp: { host: localhost }\n",
            "3:7: `mail` takes one of `outbox` or `smtp`, not both",
        ),
        (
            "from: a@b.example\nsmtp: { host: localhost, username: u }\n",
            "2:36: `mail.smtp.username` needs a password: add `password_file` or `password_env`",
        ),
        (
            "from: a@b.example\nsmtp: { host: localhost, password_env: P }\n",
            "2:40: a password needs `mail.smtp.username` as well",
        ),
        (
            "from: a@b.example\nsmtp: { host: localhost, username: u, password_file: pw, password_env: P }\n",
            "2:72: use one of `password_file` or `password_env`, not both",
        ),
        (
            "from: a@b.example\nsmtp: { host: localhost, username: u, password_env: \"A=B\" }\n",
            "2:53: `A=B` is not an environment variable name",
        ),
        (
            "from: \"a@b.example\\r\\nBcc: x@evil.example\"\noutbox: out\n",
            "1:7: `a@b.example\\r\\nBcc: x@evil.example` is not a sender; use an address such as `Tailwind Traders <noreply@tailwindtraders.com>`",
        ),
    ];
    let got: Vec<Vec<String>> = cases
        .iter()
        .map(|(yaml, _)| check(yaml, dir.path()).expect_err(yaml))
        .collect();
    let want: Vec<Vec<String>> = cases.iter().map(|(_, e)| vec![e.to_string()]).collect();
    assert_eq!(got, want);
    // Unknown fields are refused by serde with the file's position.
    let e = check("from: a@b.example\noutbox: out\nsmpt: {}\n", dir.path()).expect_err("typo");
    assert!(e[0].contains("smpt"), "{e:?}");
}

// -------------------------------------------------------------- rendering

fn outbox_mailer(dir: &Path) -> Mailer {
    let cfg = MailConfig {
        from: FROM.parse().expect("from"),
        transport: Transport::Outbox(dir.to_path_buf()),
        timeout: DEFAULT_TIMEOUT,
    };
    Mailer::new(&cfg, ORG).expect("mailer")
}

fn every_message() -> Vec<Message> {
    vec![
        Message::Passcode {
            code: "482913".into(),
            valid_minutes: 10,
        },
        Message::Invitation {
            inviter: "Megan Bowen".into(),
            apps: vec!["payroll".into(), "wiki".into()],
            link: "https://portal.tailwindtraders.com/.portcullis/invite/abc?x=1&y=2".into(),
            personal_message: Some("Welcome aboard!\nSee you Monday.".into()),
            expires: "on 30 April 2026".into(),
        },
        Message::AccessEnding {
            app: "payroll".into(),
            ends: "on 1 May 2026".into(),
            is_owner: false,
            guest: "anna@contoso.com".into(),
        },
        Message::AccessEnding {
            app: "payroll".into(),
            ends: "on 1 May 2026".into(),
            is_owner: true,
            guest: "anna@contoso.com".into(),
        },
        Message::SignUpRequest {
            requester: "anna@contoso.com".into(),
            app: "wiki".into(),
            link: "https://portal.tailwindtraders.com/.portcullis/requests/7".into(),
        },
        Message::SignUpDecision {
            app: "wiki".into(),
            approved: true,
            link: "https://wiki.tailwindtraders.com/".into(),
        },
        Message::SignUpDecision {
            app: "wiki".into(),
            approved: false,
            link: "https://portal.tailwindtraders.com/.portcullis/apps".into(),
        },
        Message::MfaRecoveryRequest {
            guest: "anna@contoso.com".into(),
            apps: vec!["Wiki".into(), "Payroll".into()],
            link: "https://portal.tailwindtraders.com/.portcullis/mfa/lost/review?id=rec_1".into(),
        },
        Message::MfaRecoveryDecision {
            approved: true,
            link: "https://portal.tailwindtraders.com/.portcullis/mfa/lost/reenrol?token=abc"
                .into(),
            valid_minutes: 30,
        },
        Message::MfaRecoveryDecision {
            approved: false,
            link: "https://portal.tailwindtraders.com/.portcullis/apps".into(),
            valid_minutes: 30,
        },
    ]
}

#[test]
fn every_message_renders_both_parts_with_the_organisation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    for m in every_message() {
        let r = mailer.render(&m).expect("renders");
        assert!(r.text.contains(ORG), "{}: {}", m.kind(), r.text);
        assert!(r.html.contains(ORG), "{}", m.kind());
        assert!(r.html.starts_with("<!DOCTYPE html>"), "{}", m.kind());
        assert!(!r.text.contains("{{") && !r.html.contains("{{"));
        assert!(!r.subject.is_empty());
    }
    let r = mailer.render(&every_message()[0]).expect("renders");
    assert_eq!(r.subject, "Your Tailwind Traders sign-in code");
    assert!(r.text.contains("    482913\n") && r.text.contains("valid for 10 minutes"));
    let r = mailer.render(&every_message()[1]).expect("renders");
    assert_eq!(r.subject, "Megan Bowen invited you to Tailwind Traders");
    assert!(r.text.contains("  - payroll\n  - wiki\n"), "{}", r.text);
    assert!(
        r.text.contains("    Welcome aboard!\n    See you Monday."),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("https://portal.tailwindtraders.com/.portcullis/invite/abc?x=1&y=2")
    );
    assert!(
        r.html.contains(
            "href=\"https://portal.tailwindtraders.com/.portcullis/invite/abc?x=1&amp;y=2\""
        ),
        "{}",
        r.html
    );
    let r = mailer.render(&every_message()[3]).expect("renders");
    assert_eq!(
        r.subject,
        "Access of anna@contoso.com to payroll ends on 1 May 2026"
    );
    assert!(
        r.text
            .starts_with("The access of anna@contoso.com to payroll")
    );
    let r = mailer.render(&every_message()[6]).expect("renders");
    assert_eq!(r.subject, "Your request for wiki was declined");
}

#[test]
fn html_escapes_what_users_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    let m = Message::Invitation {
        inviter: "<script>alert(1)</script>".into(),
        apps: vec!["<b>payroll</b>".into()],
        link: "https://x.example/\"><script>alert(2)</script>".into(),
        personal_message: Some("<img src=x onerror=alert(3)> & <script>evil()</script>".into()),
        expires: "tomorrow".into(),
    };
    let r = mailer.render(&m).expect("renders");
    assert!(!r.html.contains("<script"), "{}", r.html);
    assert!(!r.html.contains("<img"), "{}", r.html);
    assert!(!r.html.contains("<b>payroll"), "{}", r.html);
    assert!(
        r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        r.html
    );
    assert!(
        r.html.contains("&lt;img src=x onerror=alert(3)&gt; &amp; "),
        "{}",
        r.html
    );
    assert!(
        r.html
            .contains("href=\"https://x.example/&quot;&gt;&lt;script&gt;"),
        "{}",
        r.html
    );
    // The text part is text/plain: shown as written.
    assert!(r.text.contains("<script>alert(1)</script> invited you"));
}

#[test]
fn a_name_with_a_line_break_stays_in_the_subject() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    let m = Message::Invitation {
        inviter: "Eve\r\nBcc: victim@example.com".into(),
        apps: vec!["wiki".into()],
        link: "https://x.example/".into(),
        personal_message: None,
        expires: "tomorrow".into(),
    };
    let r = mailer.render(&m).expect("renders");
    assert_eq!(
        r.subject,
        "Eve  Bcc: victim@example.com invited you to Tailwind Traders"
    );
}

/// Issue 14, finding 9: CR/LF in the inviter became line breaks in the
/// plain-text body, where "Click http://evil" then stood on a line of its
/// own, as if we wrote it. Every one-line value is folded (a space per
/// control character, as in the subject); the personal message keeps its
/// line breaks, each line indented.
#[test]
fn regression_line_breaks_in_names_do_not_start_lines_of_the_text_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    let evil = "Alice\r\nClick http://evil";
    let m = Message::Invitation {
        inviter: evil.into(),
        apps: vec!["wiki\nClick http://evil".into()],
        link: "https://x.example/".into(),
        personal_message: Some("Hi\r\nClick http://evil\rand\u{2028}Click\u{1b}[2J".into()),
        expires: "tomorrow".into(),
    };
    let r = mailer.render(&m).expect("renders");
    assert!(
        !r.text.lines().any(|l| l.starts_with("Click")),
        "a line starts with Click:\n{}",
        r.text
    );
    assert!(
        r.text.contains("Alice  Click http://evil invited you"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("    Click http://evil\n    and\n    Click [2J"),
        "{}",
        r.text
    );
    assert!(!r.text.contains('\r') && !r.text.contains('\u{1b}'));
    for m in [
        Message::AccessEnding {
            app: "wiki".into(),
            ends: "soon".into(),
            is_owner: true,
            guest: evil.into(),
        },
        Message::SignUpRequest {
            requester: evil.into(),
            app: "wiki".into(),
            link: "https://x.example/".into(),
        },
    ] {
        let r = mailer.render(&m).expect("renders");
        assert!(
            !r.text.lines().any(|l| l.starts_with("Click")),
            "{}: {}",
            m.kind(),
            r.text
        );
    }
}

#[test]
fn paragraphs_keep_plain_line_breaks_only() {
    assert_eq!(
        paragraphs("a\r\nb\rc\u{85}d\u{2029}e\tf"),
        "a\nb\nc\nd\ne\tf"
    );
    assert_eq!(paragraphs("a\u{0}b\u{202E}c"), "a b c");
    assert!(is_layout_control('\u{2066}') && !is_layout_control('é'));
}

// ----------------------------------------------------------------- outbox

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read outbox")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

fn part<'a>(mail: &'a mailparse::ParsedMail<'a>, mime: &str) -> String {
    mail.subparts
        .iter()
        .find(|p| p.ctype.mimetype == mime)
        .unwrap_or_else(|| panic!("no {mime} part"))
        .get_body()
        .expect("body")
}

#[tokio::test]
async fn outbox_gets_one_parseable_eml_per_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = dir.path().join("var/outbox");
    let mailer = outbox_mailer(&outbox);
    let m = Message::Invitation {
        inviter: "Zoë Müller".into(),
        apps: vec!["payroll".into()],
        link: "https://portal.tailwindtraders.com/.portcullis/invite/tok123".into(),
        personal_message: Some("Grüße aus Köln — see you soon".into()),
        expires: "on 30 April 2026".into(),
    };
    mailer.send("anna@contoso.com", &m).await.expect("sent");
    let files = eml_files(&outbox);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(name.ends_with(".eml") && !name.starts_with('.'), "{name}");
    let bytes = std::fs::read(&files[0]).expect("read");
    let mail = mailparse::parse_mail(&bytes).expect("parses");
    let header = |h: &str| mail.headers.get_first_value(h).unwrap_or_default();
    assert_eq!(
        header("Subject"),
        "Zoë Müller invited you to Tailwind Traders"
    );
    assert_eq!(
        header("From"),
        "\"Tailwind Traders\" <noreply@tailwindtraders.com>"
    );
    assert_eq!(header("To"), "anna@contoso.com");
    assert!(!header("Message-ID").is_empty() && !header("Date").is_empty());
    assert_eq!(mail.ctype.mimetype, "multipart/alternative");
    let text = part(&mail, "text/plain");
    let html = part(&mail, "text/html");
    for body in [&text, &html] {
        assert!(body.contains("https://portal.tailwindtraders.com/.portcullis/invite/tok123"));
        assert!(body.contains("Grüße aus Köln — see you soon"), "{body}");
    }
}

/// `cat` of an outbox file shows the text part as written: a long link
/// (which quoted-printable would break with `=` line ends and `=3D`) and
/// non-ASCII text are there verbatim, in an 8-bit UTF-8 part.
#[tokio::test]
async fn outbox_text_is_readable_with_cat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    let link = "https://auth.localhost:8080/.portcullis/invite/Zk3b9Qx-_7yT2mA8vLc0pRs4uWd6eNh1jGf5?lang=de&next=%2Fwiki%2Fstart";
    let m = Message::Invitation {
        inviter: "Zoë Müller".into(),
        apps: vec!["wiki".into()],
        link: link.into(),
        personal_message: Some("Grüße aus Köln".into()),
        expires: "on 30 April 2026".into(),
    };
    mailer.send("anna@contoso.com", &m).await.expect("sent");
    let files = eml_files(dir.path());
    let raw = std::fs::read_to_string(&files[0]).expect("UTF-8 text");
    let text_part = raw
        .split("Content-Type: text/plain")
        .nth(1)
        .and_then(|rest| rest.split("Content-Type: text/html").next())
        .expect("a text/plain part before the HTML one");
    assert!(
        text_part.contains("Content-Transfer-Encoding: 8bit"),
        "{text_part}"
    );
    assert!(text_part.contains(link), "{text_part}");
    assert!(text_part.contains("Grüße aus Köln"), "{text_part}");
    // Still a well-formed message whose parts decode to the same text.
    let mail = mailparse::parse_mail(raw.as_bytes()).expect("parses");
    assert!(part(&mail, "text/plain").contains(link));
    assert!(part(&mail, "text/html").contains("Grüße aus Köln"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_each_get_their_own_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    let sends = (0..40).map(|i| {
        let mailer = mailer.clone();
        tokio::spawn(async move {
            let m = Message::Passcode {
                code: format!("{i:06}"),
                valid_minutes: 10,
            };
            mailer.send(&format!("user{i}@contoso.com"), &m).await
        })
    });
    for s in sends.collect::<Vec<_>>() {
        s.await.expect("join").expect("sent");
    }
    let files = eml_files(dir.path());
    // No temporary file left behind, one file per message.
    assert_eq!(files.len(), 40, "{files:?}");
    let mut codes: Vec<String> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).expect("read");
            let mail = mailparse::parse_mail(&bytes).expect("parses");
            let to = mail.headers.get_first_value("To").expect("to");
            let text = part(&mail, "text/plain");
            let i: usize = to
                .trim_start_matches("user")
                .trim_end_matches("@contoso.com")
                .parse()
                .expect("index");
            assert!(text.contains(&format!("{i:06}")), "{to} got the wrong code");
            to
        })
        .collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 40);
}

#[tokio::test]
async fn outbox_files_appear_whole_and_sort_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    // A reader polling the folder meanwhile only ever sees complete `.eml`
    // files: the message is written under a dot-name and renamed.
    let watch_dir = dir.path().to_path_buf();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let watcher = std::thread::spawn(move || {
        let mut seen = 0;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            for f in std::fs::read_dir(&watch_dir).expect("read").flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "eml") {
                    let bytes = std::fs::read(&p).expect("read");
                    let mail = mailparse::parse_mail(&bytes).expect("parses");
                    assert_eq!(mail.subparts.len(), 2, "partial file {}", p.display());
                    seen += 1;
                }
            }
        }
        seen
    });
    for i in 0..20 {
        let m = Message::Passcode {
            code: format!("{i:06}"),
            valid_minutes: 5,
        };
        mailer.send("anna@contoso.com", &m).await.expect("sent");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(watcher.join().expect("watcher") > 0);
    let files = eml_files(dir.path());
    assert_eq!(files.len(), 20);
    // Sorted by name is sorted by time of sending.
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).expect("read");
        assert!(
            text.contains(&format!("{i:06}")),
            "{} out of order",
            f.display()
        );
    }
}

#[tokio::test]
async fn bad_recipients_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(dir.path());
    let m = Message::Passcode {
        code: "123456".into(),
        valid_minutes: 10,
    };
    for to in [
        "anna@contoso.com\r\nBcc: eve@evil.example",
        "anna@contoso.com\nBcc: eve@evil.example",
        "anna@contoso.com, eve@evil.example",
        "Anna <anna@contoso.com>",
        "not-an-address",
        "",
    ] {
        match mailer.send(to, &m).await {
            Err(MailError::BadAddress { address, .. }) => assert_eq!(address, to),
            other => panic!("{to:?}: {other:?}"),
        }
    }
    assert!(eml_files(dir.path()).is_empty());
    let e = mailer
        .send("a@b.example\r\nBcc: x@y.example", &m)
        .await
        .expect_err("bad");
    assert_eq!(
        e.to_string(),
        "\"a@b.example\\r\\nBcc: x@y.example\" is not an e-mail address: it contains a line break or another control character"
    );
}

#[test]
fn messages_do_not_print_their_secrets() {
    let m = Message::Passcode {
        code: "482913".into(),
        valid_minutes: 10,
    };
    assert_eq!(format!("{m:?}"), "Message::passcode(..)");
}

// ------------------------------------------------------------------- SMTP

/// `python3 -m aiosmtpd` on a free loopback port, writing to a maildir;
/// killed on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("tempdir");
        // The Mailbox handler wants a folder that does not exist yet.
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test-deps installs aiosmtpd)");
        let mut sink = SmtpSink {
            child,
            port,
            maildir,
            _dir: dir,
        };
        sink.wait_until_ready();
        sink
    }

    fn wait_until_ready(&mut self) {
        use std::io::Read;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("aiosmtpd exited ({status}); is it installed (scripts/test-deps)? {err}");
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let mut banner = [0u8; 3];
                if s.read_exact(&mut banner).is_ok() && &banner == b"220" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn mailer(&self) -> Mailer {
        let cfg = MailConfig {
            from: FROM.parse().expect("from"),
            transport: Transport::Smtp(Smtp {
                host: "127.0.0.1".into(),
                port: self.port,
                tls: SmtpTls::None,
                credentials: None,
            }),
            timeout: Duration::from_secs(10),
        };
        Mailer::new(&cfg, ORG).expect("mailer")
    }

    /// The delivered messages, oldest first, waiting (bounded) for `n`.
    fn delivered(&self, n: usize) -> Vec<Vec<u8>> {
        let new = self.maildir.join("new");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&new)
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            let modified = e.metadata().and_then(|m| m.modified());
                            (modified.unwrap_or(std::time::UNIX_EPOCH), e.path())
                        })
                        .collect()
                })
                .unwrap_or_default();
            if files.len() >= n {
                files.sort();
                return files
                    .iter()
                    .map(|(_, p)| std::fs::read(p).expect("read"))
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages arrived",
                files.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[tokio::test]
async fn smtp_delivers_a_passcode_and_an_invitation() {
    let sink = SmtpSink::start();
    let mailer = sink.mailer();
    mailer
        .send(
            "anna@contoso.com",
            &Message::Passcode {
                code: "739204".into(),
                valid_minutes: 10,
            },
        )
        .await
        .expect("passcode sent");
    let link = "https://portal.tailwindtraders.com/.portcullis/invite/Zm9vYmFy";
    mailer
        .send(
            "ben@fabrikam.com",
            &Message::Invitation {
                inviter: "Megan Bowen".into(),
                apps: vec!["payroll".into()],
                link: link.into(),
                personal_message: Some("<script>x</script>".into()),
                expires: "on 30 April 2026".into(),
            },
        )
        .await
        .expect("invitation sent");

    let mut mails = sink.delivered(2);
    mails.sort_by_key(|m| !String::from_utf8_lossy(m).contains("X-RcptTo: anna@contoso.com"));
    let passcode = mailparse::parse_mail(&mails[0]).expect("parses");
    let h = |m: &mailparse::ParsedMail, k: &str| m.headers.get_first_value(k).unwrap_or_default();
    assert_eq!(
        h(&passcode, "Subject"),
        "Your Tailwind Traders sign-in code"
    );
    assert_eq!(h(&passcode, "X-MailFrom"), "noreply@tailwindtraders.com");
    assert_eq!(h(&passcode, "To"), "anna@contoso.com");
    assert!(part(&passcode, "text/plain").contains("739204"));
    assert!(part(&passcode, "text/html").contains("739204"));

    let invitation = mailparse::parse_mail(&mails[1]).expect("parses");
    assert_eq!(h(&invitation, "X-RcptTo"), "ben@fabrikam.com");
    assert_eq!(
        h(&invitation, "Subject"),
        "Megan Bowen invited you to Tailwind Traders"
    );
    assert!(part(&invitation, "text/plain").contains(link));
    let html = part(&invitation, "text/html");
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
}

#[tokio::test]
async fn smtp_server_down_is_an_error_within_the_timeout() {
    let cfg = |port| MailConfig {
        from: FROM.parse().expect("from"),
        transport: Transport::Smtp(Smtp {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            credentials: None,
        }),
        timeout: Duration::from_secs(1),
    };
    let m = Message::Passcode {
        code: "1".into(),
        valid_minutes: 1,
    };
    // Nothing listens: refused at once.
    let mailer = Mailer::new(&cfg(free_port()), ORG).expect("mailer");
    let started = Instant::now();
    let e = mailer.send("anna@contoso.com", &m).await.expect_err("down");
    assert!(matches!(e, MailError::Smtp(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Accepts but never greets: cut off by the timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let mailer = Mailer::new(&cfg(port), ORG).expect("mailer");
    let started = Instant::now();
    let e = mailer
        .send("anna@contoso.com", &m)
        .await
        .expect_err("silent");
    assert!(
        matches!(e, MailError::Smtp(_) | MailError::Timeout(_)),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[test]
fn smtp_password_comes_from_its_file_or_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\r\n").expect("write");
    assert_eq!(
        read_password(&PasswordSource::File(pw)).expect("read"),
        "s3cret"
    );
    let e = read_password(&PasswordSource::Env(
        "PORTCULLIS_TEST_SURELY_UNSET_VAR".into(),
    ))
    .expect_err("unset");
    assert_eq!(
        e.to_string(),
        "mail is not set up: the environment variable PORTCULLIS_TEST_SURELY_UNSET_VAR (mail.smtp.password_env) is not set"
    );
    let e = read_password(&PasswordSource::File(dir.path().join("nope"))).expect_err("missing");
    assert!(
        e.to_string().contains("cannot read the SMTP password file"),
        "{e}"
    );
}

#[test]
fn mailer_is_shareable_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Mailer>();
}

#[test]
fn emails_are_lower_cased_and_checked() {
    assert_eq!(
        normalise_email(" Bob@Fabrikam.Example ").as_deref(),
        Some("bob@fabrikam.example")
    );
    for bad in [
        "bob",
        "@x.com",
        "bob@x",
        "bob@.x.com",
        "bob@x.com.",
        "a b@x.com",
        "a@b@x.com",
        "<a>@x.com",
    ] {
        assert_eq!(normalise_email(bad), None, "{bad}");
    }
}
