//! Outgoing e-mail: sign-in passcodes, invitations, access reminders and
//! self-service sign-up. Each [`Message`] renders an HTML and a text part
//! from the templates beside this file (HTML autoescaped) and goes to an
//! SMTP relay or, in the quickstart, to an outbox folder of `.eml` files.
//! [`Mailer::send`] sends inside the caller's request; [`MailQueue`] sends
//! after it (sign-in passcodes: the answer must not take longer for an
//! address that gets a mail).
//!
//! Bodies carry passcodes and sign-in links, so nothing here logs them.

mod config;
mod lookalike;
mod queue;

pub use config::{
    DEFAULT_TIMEOUT, MailConfig, MailFile, MailFileError, PasswordSource, Smtp, SmtpTls, Transport,
};
pub use lookalike::{Lookalike, check_domain};
pub use queue::MailQueue;

use crate::i18n::{Lang, t};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use minijinja::context;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One e-mail to send. The organisation's name comes from the [`Mailer`].
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A one-time sign-in code (e-mail passcode sign-in).
    Passcode { code: String, valid_minutes: u32 },
    /// A guest invitation; `link` redeems it. `expires` is shown as written
    /// (e.g. "on 30 April 2026").
    Invitation {
        inviter: String,
        apps: Vec<String>,
        link: String,
        personal_message: Option<String>,
        expires: MailDate,
    },
    /// A reminder that an assignment ends: to the guest, or to the app's
    /// owner (`is_owner`) about `guest`. `ends` is shown as written.
    AccessEnding {
        app: String,
        ends: MailDate,
        is_owner: bool,
        guest: String,
    },
    /// To an app owner: someone asks for access; `link` reviews the request.
    SignUpRequest {
        requester: String,
        app: String,
        link: String,
    },
    /// To the requester: the owner's answer; `link` opens the app (approved)
    /// or the access panel (declined).
    SignUpDecision {
        app: String,
        approved: bool,
        link: String,
    },
    /// To an app's owner (or the guest's inviter): `guest` lost their
    /// second factor and asks to set up a new one; `link` approves or
    /// denies (issue 20).
    MfaRecoveryRequest {
        guest: String,
        apps: Vec<String>,
        link: String,
    },
    /// To the guest: the owner's answer. Approved, `link` is the
    /// single-use re-enrolment link, valid `valid_minutes` in the browser
    /// that asked; declined, it is the access panel.
    MfaRecoveryDecision {
        approved: bool,
        link: String,
        valid_minutes: u32,
    },
}

/// When something happens, as a mail says it: a day, written in the
/// mail's language ("on 1 May 2026", "am 1. Mai 2026"), or words given as
/// they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailDate {
    On(time::OffsetDateTime),
    Text(String),
}

impl MailDate {
    fn words(&self, lang: Lang) -> String {
        match self {
            MailDate::On(t) => t!(lang, "mail-on-date", date = crate::i18n::date(lang, *t)),
            MailDate::Text(s) => s.clone(),
        }
    }
}

impl From<&str> for MailDate {
    fn from(s: &str) -> Self {
        MailDate::Text(s.to_string())
    }
}

/// How the organisation's mails look and speak: the default language, the
/// help desk, and the templates of `organisation.templates_dir`.
#[derive(Clone, Debug, Default)]
pub struct Branding {
    pub language: Lang,
    pub support: Option<crate::templates::Support>,
    pub templates: Arc<crate::templates::Overrides>,
}

/// Redacted: messages carry passcodes and sign-in links.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Message::{}(..)", self.kind())
    }
}

impl Message {
    /// A stable name for logs and metrics (also the templates' base name).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Passcode { .. } => "passcode",
            Message::Invitation { .. } => "invitation",
            Message::AccessEnding { .. } => "access_ending",
            Message::SignUpRequest { .. } => "signup_request",
            Message::SignUpDecision { .. } => "signup_decision",
            Message::MfaRecoveryRequest { .. } => "mfa_recovery_request",
            Message::MfaRecoveryDecision { .. } => "mfa_recovery_decision",
        }
    }

    fn subject(&self, org: &str, lang: Lang) -> String {
        let subject = match self {
            Message::Passcode { .. } => t!(lang, "mail-passcode-subject", org = org),
            Message::Invitation { inviter, .. } => {
                t!(
                    lang,
                    "mail-invitation-subject",
                    inviter = inviter,
                    org = org
                )
            }
            Message::AccessEnding {
                app,
                ends,
                is_owner: false,
                ..
            } => t!(
                lang,
                "mail-access-ending-subject",
                app = app,
                org = org,
                ends = ends.words(lang)
            ),
            Message::AccessEnding {
                app,
                ends,
                is_owner: true,
                guest,
            } => t!(
                lang,
                "mail-access-ending-owner-subject",
                guest = guest,
                app = app,
                ends = ends.words(lang)
            ),
            Message::SignUpRequest { requester, app, .. } => {
                t!(
                    lang,
                    "mail-signup-request-subject",
                    requester = requester,
                    app = app
                )
            }
            Message::SignUpDecision {
                app,
                approved: true,
                ..
            } => t!(lang, "mail-signup-approved-subject", app = app),
            Message::SignUpDecision {
                app,
                approved: false,
                ..
            } => t!(lang, "mail-signup-declined-subject", app = app),
            Message::MfaRecoveryRequest { guest, .. } => {
                t!(lang, "mail-mfa-recovery-request-subject", guest = guest)
            }
            Message::MfaRecoveryDecision { approved: true, .. } => {
                t!(lang, "mail-mfa-recovery-approved-subject", org = org)
            }
            Message::MfaRecoveryDecision {
                approved: false, ..
            } => t!(lang, "mail-mfa-recovery-declined-subject", org = org),
        };
        // Header injection: a name with CR/LF must not start a new header.
        // lettre encodes the subject too; this keeps it one readable line.
        subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }

    /// The templates' values. Every one-line value is folded to one line
    /// and the personal message keeps only plain line breaks: the text part
    /// is `text/plain`, where an inviter `Alice\r\nClick http://evil` would
    /// otherwise start a line of its own that reads as ours (issue 14,
    /// finding 9). The operations refuse such input first
    /// (`invitations::invite`); this holds for every message and caller.
    fn context(&self, org: &str, lang: Lang) -> minijinja::Value {
        let org = one_line(org);
        match self {
            Message::Passcode {
                code,
                valid_minutes,
            } => context! { org, code => one_line(code), valid_minutes },
            Message::Invitation {
                inviter,
                apps,
                link,
                personal_message,
                expires,
            } => context! {
                org,
                inviter => one_line(inviter),
                apps => apps.iter().map(|a| one_line(a)).collect::<Vec<_>>(),
                link => one_line(link),
                personal_message => personal_message.as_deref().map(paragraphs),
                expires => one_line(&expires.words(lang)),
            },
            Message::AccessEnding {
                app,
                ends,
                is_owner,
                guest,
            } => context! {
                org,
                app => one_line(app),
                ends => one_line(&ends.words(lang)),
                is_owner,
                guest => one_line(guest),
            },
            Message::SignUpRequest {
                requester,
                app,
                link,
            } => context! {
                org,
                requester => one_line(requester),
                app => one_line(app),
                link => one_line(link),
            },
            Message::SignUpDecision {
                app,
                approved,
                link,
            } => context! { org, app => one_line(app), approved, link => one_line(link) },
            Message::MfaRecoveryRequest { guest, apps, link } => context! {
                org,
                guest => one_line(guest),
                apps => apps.iter().map(|a| one_line(a)).collect::<Vec<_>>(),
                link => one_line(link),
            },
            Message::MfaRecoveryDecision {
                approved,
                link,
                valid_minutes,
            } => context! { org, approved, link => one_line(link), valid_minutes },
        }
    }
}

/// A character that changes how text is laid out rather than what it says:
/// C0 and C1 controls (CR, LF, NEL, ESC, NUL, …), the Unicode line and
/// paragraph separators, and the bidirectional embedding, override and
/// isolate controls (the "Trojan Source" reordering, CVE-2021-42574).
/// Names and other one-line values that reach a mail must not hold them.
pub fn is_layout_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` on one line: each layout control becomes a space (as in the subject).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if is_layout_control(c) { ' ' } else { c })
        .collect()
}

/// A multi-line text with `\n` as its only line break (CR LF, CR, NEL and
/// the Unicode separators become one) and tabs kept; any other layout
/// control becomes a space. The text template indents every line it then
/// has, so none starts at the margin.
pub fn paragraphs(s: &str) -> String {
    let unified = s.replace("\r\n", "\n");
    unified
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => '\n',
            c if is_layout_control(c) => ' ',
            c => c,
        })
        .collect()
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient is not one plain address (or carries CR/LF, which would
    /// inject headers). Nothing was sent.
    #[error("{address:?} is not an e-mail address: {reason}")]
    BadAddress { address: String, reason: String },
    /// The mailer could not start (password not found, outbox not creatable).
    #[error("mail is not set up: {0}")]
    Setup(String),
    #[error("cannot render the {kind} e-mail: {message}")]
    Render { kind: &'static str, message: String },
    #[error("cannot write to the outbox {}: {source}", .path.display())]
    Outbox {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The relay refused the message, or the connection failed.
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("sending took longer than {}s", .0.as_secs_f32())]
    Timeout(Duration),
    /// [`MailQueue::push`] could not queue the message (the queue is full
    /// or has stopped). Nothing was sent.
    #[error("not sent: {0}")]
    NotQueued(&'static str),
}

/// Sends [`Message`]s. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    org: String,
    from: Mailbox,
    timeout: Duration,
    templates: crate::templates::Templates,
    /// The language of mails no browser asked for.
    language: Lang,
    /// The help desk, said at the end of every mail ("Questions? Ask …").
    support: Option<crate::templates::Support>,
    transport: Sender,
}

enum Sender {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &self.inner.transport {
            Sender::Outbox(p) => format!("outbox {}", p.display()),
            Sender::Smtp(_) => "smtp".to_string(),
        };
        f.debug_struct("Mailer")
            .field("from", &self.inner.from.to_string())
            .field("transport", &transport)
            .finish_non_exhaustive()
    }
}

/// The three parts of a rendered message.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mailer {
    /// Builds the mailer at start-up (and on reload): reads the SMTP
    /// password from its file or environment variable and creates the outbox
    /// folder. Opens no connection; the first send does.
    pub fn new(cfg: &MailConfig, org_name: &str) -> Result<Mailer, MailError> {
        Mailer::branded(cfg, org_name, &Branding::default())
    }

    /// [`Mailer::new`] with the organisation's language, help desk and
    /// template overrides (read now: a reload does not change them).
    pub fn branded(
        cfg: &MailConfig,
        org_name: &str,
        branding: &Branding,
    ) -> Result<Mailer, MailError> {
        let transport = match &cfg.transport {
            Transport::Outbox(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| MailError::Outbox {
                    path: dir.clone(),
                    source,
                })?;
                Sender::Outbox(dir.clone())
            }
            Transport::Smtp(smtp) => Sender::Smtp(smtp_transport(smtp, cfg.timeout)?),
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                org: org_name.to_string(),
                from: cfg.from.clone(),
                timeout: cfg.timeout,
                templates: crate::templates::Templates::new(&branding.templates),
                language: branding.language,
                support: branding.support.clone(),
                transport,
            }),
        })
    }

    /// Renders both parts of `message` and sends it to `to` (or writes it to
    /// the outbox). Returns once the relay accepted it or the file is in
    /// place; fails after the configured timeout (default 10 s). Logs the
    /// kind and the recipient, never the body.
    pub async fn send(&self, to: &str, message: &Message) -> Result<(), MailError> {
        self.send_in(to, None, message).await
    }

    /// [`Mailer::send`] in `lang` (`None`: the organisation's language): a
    /// passcode in the language of the browser that asked, an invitation
    /// in the one its inviter chose.
    pub async fn send_in(
        &self,
        to: &str,
        lang: Option<Lang>,
        message: &Message,
    ) -> Result<(), MailError> {
        let to = recipient(to)?;
        let outbox = matches!(self.inner.transport, Sender::Outbox(_));
        let lang = lang.unwrap_or(self.inner.language);
        let email = self.build(to.clone(), lang, message, outbox)?;
        let kind = message.kind();
        let timeout = self.inner.timeout;
        let sent = tokio::time::timeout(timeout, async {
            match &self.inner.transport {
                Sender::Outbox(dir) => write_outbox(dir, email.formatted()).await.map(|_| ()),
                Sender::Smtp(t) => t
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Smtp(e.to_string())),
            }
        })
        .await
        .unwrap_or(Err(MailError::Timeout(timeout)));
        match &sent {
            Ok(()) => tracing::info!(kind, to = %to, "mail sent"),
            Err(e) => tracing::warn!(kind, to = %to, error = %e, "mail not sent"),
        }
        sent
    }

    /// `readable_text`: the plain-text part as 8-bit UTF-8 (the outbox: a
    /// link in it copied from `cat` works, where quoted-printable breaks
    /// it), unless a line is too long for 8-bit (then the usual encoding).
    /// Relays get lettre's encodings, which need no `8BITMIME`.
    fn build(
        &self,
        to: Address,
        lang: Lang,
        message: &Message,
        readable_text: bool,
    ) -> Result<lettre::Message, MailError> {
        let r = self.render_in(lang, message)?;
        let parts = if readable_text {
            let text = match eight_bit(&r.text) {
                Some(body) => SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(body),
                None => SinglePart::plain(r.text),
            };
            MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(r.html))
        } else {
            MultiPart::alternative_plain_html(r.text, r.html)
        };
        lettre::Message::builder()
            .from(self.inner.from.clone())
            .to(Mailbox::new(None, to))
            .subject(r.subject)
            // A fresh `<random@this host>`: relays and spam filters expect one.
            .message_id(None)
            .multipart(parts)
            .map_err(|e| MailError::Render {
                kind: message.kind(),
                message: e.to_string(),
            })
    }

    /// Renders `message` in the organisation's language.
    #[cfg(test)]
    pub(crate) fn render(&self, message: &Message) -> Result<Rendered, MailError> {
        self.render_in(self.inner.language, message)
    }

    pub(crate) fn render_in(&self, lang: Lang, message: &Message) -> Result<Rendered, MailError> {
        let kind = message.kind();
        let ctx = minijinja::context! {
            lang => lang.tag(),
            support => self
                .inner
                .support
                .as_ref()
                .map(|s| one_line(&support_line(s, &self.inner.org, lang))),
            ..message.context(&self.inner.org, lang)
        };
        let render = |ext: &str| {
            self.inner
                .templates
                .mail(&format!("{kind}.{ext}"), &ctx)
                .map_err(|e| MailError::Render {
                    kind,
                    message: e.to_string(),
                })
        };
        Ok(Rendered {
            subject: message.subject(&self.inner.org, lang),
            text: render("txt")? + "\n",
            html: render("html")? + "\n",
        })
    }
}

/// The help desk as a mail names it: "the Tailwind service desk
/// (help@…, https://…)".
fn support_line(s: &crate::templates::Support, org: &str, lang: Lang) -> String {
    let name = s
        .text
        .clone()
        .unwrap_or_else(|| t!(lang, "support-default", org = org));
    let contact: Vec<&str> = [s.email.as_deref(), s.url.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if contact.is_empty() {
        name
    } else {
        format!("{name} ({})", contact.join(", "))
    }
}

/// Whether `s` is exactly one bare e-mail address (as a recipient must be).
pub fn is_plain_address(s: &str) -> bool {
    recipient(s).is_ok()
}

/// Checks a recipient: exactly one bare address (`anna@contoso.com`).
/// Stops header injection (CR/LF in `to` would add headers such as `Bcc:`)
/// and lists smuggled in as "a@x, b@y".
fn recipient(to: &str) -> Result<Address, MailError> {
    let bad = |reason: &str| MailError::BadAddress {
        address: to.to_string(),
        reason: reason.to_string(),
    };
    if config::has_control(to) {
        return Err(bad("it contains a line break or another control character"));
    }
    to.trim()
        .parse::<Address>()
        .map_err(|e| bad(&format!("{e}; use one address such as anna@contoso.com")))
}

fn smtp_transport(
    smtp: &Smtp,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls_params = || {
        TlsParameters::new(smtp.host.clone())
            .map_err(|e| MailError::Setup(format!("TLS for {}: {e}", smtp.host)))
    };
    let tls = match smtp.tls {
        SmtpTls::StartTls => Tls::Required(tls_params()?),
        SmtpTls::Tls => Tls::Wrapper(tls_params()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((user, source)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), read_password(source)?));
    }
    Ok(builder.build())
}

fn read_password(source: &PasswordSource) -> Result<String, MailError> {
    let password = match source {
        PasswordSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            MailError::Setup(format!(
                "cannot read the SMTP password file {}: {e}",
                path.display()
            ))
        })?,
        PasswordSource::Env(name) => std::env::var(name).map_err(|_| {
            MailError::Setup(format!(
                "the environment variable {name} (mail.smtp.password_env) is not set"
            ))
        })?,
    };
    let password = password
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&password);
    if password.is_empty() {
        return Err(MailError::Setup("the SMTP password is empty".to_string()));
    }
    Ok(password.to_string())
}

/// `text` as an 8-bit body (CRLF line ends), or `None` when 8-bit cannot
/// carry it: a NUL or a lone CR, or a line over RFC 5322's 998 bytes.
/// lettre's own check also refuses lines over 76 characters, which every
/// invitation link is.
fn eight_bit(text: &str) -> Option<Body> {
    let text = text.replace("\r\n", "\n");
    if text.contains(['\0', '\r']) || text.lines().any(|l| l.len() > 998) {
        return None;
    }
    let crlf = text.replace('\n', "\r\n");
    Some(Body::dangerous_pre_encoded(
        crlf.into_bytes(),
        ContentTransferEncoding::EightBit,
    ))
}

/// Writes one message as `<outbox>/<UTC time>-<random>.eml`. The file is
/// written under a dot-name first and renamed into place, so a reader of
/// `*.eml` never sees half a message; names sort by time, and the random
/// part keeps concurrent sends apart.
async fn write_outbox(dir: &Path, bytes: Vec<u8>) -> Result<PathBuf, MailError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.nanosecond()
        );
        let name = format!("{stamp}-{:016x}.eml", rand::random::<u64>());
        let tmp = dir.join(format!(".{name}.tmp"));
        let path = dir.join(&name);
        let io = |source| MailError::Outbox {
            path: path.clone(),
            source,
        };
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(path)
    })
    .await
    .map_err(|e| MailError::Outbox {
        path: PathBuf::new(),
        source: std::io::Error::other(e),
    })?
}

/// Lower-cases and checks an e-mail address: one `@`, a dotted domain, no
/// blanks or control characters, at most 254 bytes.
pub fn normalise_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.len() <= 254
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    ok.then_some(e)
}

#[cfg(test)]
mod tests;
