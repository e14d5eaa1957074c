//! A real SMTP server on loopback: `python3 -m aiosmtpd` (installed by
//! scripts/test-deps) delivering into a maildir. Killed on `Drop`; start-up and
//! every wait bounded.

use super::gateway::free_port;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("tempdir");
        // The Mailbox handler wants a folder that does not exist yet.
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test-deps installs aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("aiosmtpd exited ({status}); run scripts/test-deps: {err}");
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let mut banner = [0u8; 3];
                if s.read_exact(&mut banner).is_ok() && &banner == b"220" {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    /// Every delivered message (raw RFC 5322 text), in no particular order.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in rd.filter_map(Result::ok) {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        out.push(text);
                    }
                }
            }
        }
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text part (else the body) of every mail in `mails` addressed to `to`.
pub fn texts_to(mails: &[String], to: &str) -> Vec<String> {
    mails
        .iter()
        .filter(|m| m.contains(to))
        .filter_map(|m| {
            let parsed = mailparse::parse_mail(m.as_bytes()).ok()?;
            parsed
                .subparts
                .iter()
                .find(|p| p.ctype.mimetype == "text/plain")
                .and_then(|p| p.get_body().ok())
                .or_else(|| parsed.get_body().ok())
        })
        .collect()
}
