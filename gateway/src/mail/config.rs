//! The `mail:` section of `portcullis.yaml`: [`MailFile`] mirrors what the
//! operator wrote (with spans), [`MailFile::check`] turns it into
//! [`MailConfig`], the form [`super::Mailer::new`] takes.

use lettre::message::Mailbox;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

type S<T> = Spanned<T>;

/// How long one message may take to send (or to write to the outbox) unless
/// `smtp.timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- file types

/// `mail:` as written: `{ from, outbox: DIR }` or `{ from, smtp: {…} }`.
/// How the gateway sends e-mail.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["outbox"] }, { "required": ["smtp"] }]))]
pub struct MailFile {
    /// The `From:` of every message: an address, or `Name <address>`.
    #[schemars(
        with = "String",
        example = "Tailwind Traders <noreply@tailwindtraders.example>"
    )]
    from: S<String>,
    /// A folder (relative to the config file) that gets one `.eml` file per
    /// message instead of sending it: nothing leaves the machine. One of
    /// `outbox` and `smtp`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    outbox: Option<S<String>>,
    /// An SMTP relay.
    #[serde(default)]
    #[schemars(with = "Option<SmtpFile>")]
    smtp: Option<S<SmtpFile>>,
}

/// `mail.smtp`: the relay that sends the gateway's e-mail.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    /// Host name or IP address (no scheme, no port).
    #[schemars(with = "String", example = "smtp.example.com")]
    host: S<String>,
    /// Default 587, or 465 with `tls: tls`.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1))]
    port: Option<S<u16>>,
    /// `starttls` (a plain connection upgraded, the upgrade required), `tls`
    /// (TLS from the first byte, usually port 465) or `none` (loopback hosts
    /// only).
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        extend("enum" = ["starttls", "tls", "none"], "default" = "starttls")
    )]
    tls: Option<S<String>>,
    /// User name for `AUTH`. Default: no `AUTH`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    username: Option<S<String>>,
    /// A file holding the password (one trailing newline ignored). One of
    /// `password_file` and `password_env` with `username`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    password_file: Option<S<String>>,
    /// An environment variable holding the password.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    password_env: Option<S<String>>,
    /// Accepted only to be refused with a better message than "unknown
    /// field": a secret in the config file ends up in backups and reviews.
    /// Its value is never kept.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("deprecated" = true, "not" = {}))]
    password: Option<S<IgnoredAny>>,
    /// Bound on one send, connection included.
    #[serde(default)]
    #[schemars(with = "Option<rules::schema::Duration>", extend("default" = rules::format_duration(DEFAULT_TIMEOUT)))]
    timeout: Option<S<String>>,
}

/// One problem in `mail:`, at a line and column of the config file (the
/// caller knows the file's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFileError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for MailFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

// ------------------------------------------------------------- runtime types

/// The checked `mail:` section.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The `From:` of every message.
    pub from: Mailbox,
    pub transport: Transport,
    /// Bound on one send, connection included (default 10 s).
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One `.eml` file per message in this folder (created when the mailer
    /// starts). The quickstart's choice: nothing leaves the machine.
    Outbox(PathBuf),
    Smtp(Smtp),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    /// Default 587, or 465 with `tls: tls`.
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and where its password is; `None`: no `AUTH`.
    pub credentials: Option<(String, PasswordSource)>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS`, which is required (default).
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption; allowed only for loopback hosts.
    None,
}

/// Where the SMTP password is; it is read when the mailer starts, never kept
/// in the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file (relative paths were resolved against the config's folder);
    /// one trailing newline is ignored.
    File(PathBuf),
    /// The name of an environment variable.
    Env(String),
}

// ------------------------------------------------------------------ checking

impl MailFile {
    /// Checks `mail:`, reporting every problem it finds. `config_dir` is the
    /// folder of the config file; `outbox` and `password_file` are relative
    /// to it. A `password_file` must exist now; a `password_env` variable is
    /// looked up only when the mailer starts (so `check` runs without
    /// secrets).
    pub fn check(&self, config_dir: &Path) -> Result<MailConfig, Vec<MailFileError>> {
        let mut errors = Vec::new();
        let mut err = |at: &dyn Spot, message: String| {
            let (line, column) = at.spot();
            errors.push(MailFileError {
                line,
                column,
                message,
            });
        };

        let from = match self.from.value.trim().parse::<Mailbox>() {
            Ok(m) if !has_control(&self.from.value) => Some(m),
            _ => {
                err(
                    &self.from,
                    format!(
                        "`{}` is not a sender; use an address such as `Tailwind Traders <noreply@tailwindtraders.com>`",
                        self.from.value.escape_debug()
                    ),
                );
                None
            }
        };

        let mut timeout = DEFAULT_TIMEOUT;
        let transport = match (&self.outbox, &self.smtp) {
            (Some(dir), None) => {
                if dir.value.trim().is_empty() {
                    err(dir, "`mail.outbox` must name a folder".to_string());
                }
                Some(Transport::Outbox(config_dir.join(dir.value.trim())))
            }
            (None, Some(smtp)) => {
                let s = &smtp.value;
                let host = s.host.value.trim().to_string();
                let host_ok = !host.is_empty()
                    && (host.parse::<IpAddr>().is_ok()
                        || host.split('.').all(|l| {
                            !l.is_empty()
                                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        }));
                if !host_ok {
                    err(
                        &s.host,
                        format!(
                            "`{}` is not a host name or IP address (no scheme or port; the port goes in `mail.smtp.port`)",
                            s.host.value.escape_debug()
                        ),
                    );
                }
                let tls = match s.tls.as_ref().map(|t| (t, t.value.as_str())) {
                    None | Some((_, "starttls")) => SmtpTls::StartTls,
                    Some((_, "tls")) => SmtpTls::Tls,
                    Some((t, "none")) => {
                        if host_ok && !is_loopback(&host) {
                            err(
                                t,
                                format!(
                                    "`tls: none` is only allowed for a loopback host (localhost, 127.0.0.1, ::1), not `{host}`: passcodes and invitation links would cross the network in clear text; use `starttls` or `tls`"
                                ),
                            );
                        }
                        SmtpTls::None
                    }
                    Some((t, other)) => {
                        err(
                            t,
                            format!(
                                "`{}` is not a choice for `mail.smtp.tls` (one of: starttls, tls, none)",
                                other.escape_debug()
                            ),
                        );
                        SmtpTls::StartTls
                    }
                };
                let port = match &s.port {
                    Some(p) if p.value == 0 => {
                        err(p, "`mail.smtp.port` must not be 0".to_string());
                        0
                    }
                    Some(p) => p.value,
                    None if tls == SmtpTls::Tls => 465,
                    None => 587,
                };
                if let Some(p) = &s.password {
                    err(
                        p,
                        "`mail.smtp.password` is not allowed: a password in the config file leaks through backups and reviews; put it in a file (`password_file`) or an environment variable (`password_env`)".to_string(),
                    );
                }
                let password = match (&s.password_file, &s.password_env) {
                    (Some(f), None) => {
                        let path = config_dir.join(f.value.trim());
                        if !path.is_file() {
                            err(
                                f,
                                format!(
                                    "password file `{}` does not exist (paths are relative to the config file)",
                                    path.display()
                                ),
                            );
                        }
                        Some(PasswordSource::File(path))
                    }
                    (None, Some(e)) => {
                        let name = e.value.trim();
                        let ok = !name.is_empty()
                            && !name.contains('=')
                            && !name.contains('\0')
                            && !has_control(name);
                        if !ok {
                            err(
                                e,
                                format!(
                                    "`{}` is not an environment variable name",
                                    e.value.escape_debug()
                                ),
                            );
                        }
                        Some(PasswordSource::Env(name.to_string()))
                    }
                    (Some(_), Some(e)) => {
                        err(
                            e,
                            "use one of `password_file` or `password_env`, not both".to_string(),
                        );
                        None
                    }
                    (None, None) => None,
                };
                let credentials = match (&s.username, password) {
                    (Some(u), Some(p)) => {
                        if u.value.trim().is_empty() || has_control(&u.value) {
                            err(u, "`mail.smtp.username` must not be empty".to_string());
                        }
                        Some((u.value.trim().to_string(), p))
                    }
                    (Some(u), None) => {
                        if s.password.is_none() && s.password_env.is_none() {
                            err(
                                u,
                                "`mail.smtp.username` needs a password: add `password_file` or `password_env`".to_string(),
                            );
                        }
                        None
                    }
                    (None, Some(_)) => {
                        let at: &dyn Spot = match (&s.password_file, &s.password_env) {
                            (Some(f), _) => f,
                            (_, Some(e)) => e,
                            (None, None) => &smtp,
                        };
                        err(
                            at,
                            "a password needs `mail.smtp.username` as well".to_string(),
                        );
                        None
                    }
                    (None, None) => None,
                };
                if let Some(t) = &s.timeout {
                    match rules::parse_duration(&t.value) {
                        Some(d) => timeout = d,
                        None => err(
                            t,
                            format!(
                                "`{}` is not a duration; use 10s, 30s or 1m",
                                t.value.escape_debug()
                            ),
                        ),
                    }
                }
                Some(Transport::Smtp(Smtp {
                    host,
                    port,
                    tls,
                    credentials,
                }))
            }
            (Some(_), Some(smtp)) => {
                err(
                    smtp,
                    "`mail` takes one of `outbox` or `smtp`, not both".to_string(),
                );
                None
            }
            (None, None) => {
                err(
                    &self.from,
                    "`mail` needs a transport: `outbox: var/outbox` (one .eml file per message) or `smtp: { host, … }`".to_string(),
                );
                None
            }
        };

        match (from, transport) {
            (Some(from), Some(transport)) if errors.is_empty() => Ok(MailConfig {
                from,
                transport,
                timeout,
            }),
            _ => {
                errors.sort_by_key(|e| (e.line, e.column));
                Err(errors)
            }
        }
    }
}

/// Where a spanned value was written.
trait Spot {
    fn spot(&self) -> (u64, u64);
}

impl<T> Spot for S<T> {
    fn spot(&self) -> (u64, u64) {
        (self.referenced.line(), self.referenced.column())
    }
}

impl<T> Spot for &S<T> {
    fn spot(&self) -> (u64, u64) {
        (*self).spot()
    }
}

pub(super) fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        // Only the name itself: `*.localhost` goes to the resolver, which
        // need not keep it on this machine.
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}
