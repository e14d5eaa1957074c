//! The access log: one JSON line per request on stderr, in the shape of the
//! other log lines (`tracing-subscriber`'s JSON format: `timestamp`, `level`,
//! `fields`, `target: "access"`), filtered by `RUST_LOG` like them; or,
//! when the logs are text (`crate::logging`), one compact line a person reads.
//!
//! Why not `tracing::info!`: through the subscriber's JSON layer and the
//! non-blocking writer every request cost a `write(2)` and a wake-up of the
//! writer thread (plus a `sched_yield` or two), about a third of the
//! gateway's own per-request overhead (benches/LOAD.md). Here a line is
//! formatted on the request's thread into a shared buffer (no system call);
//! the buffer is written with one `write(2)` when it holds [`FLUSH_BYTES`],
//! and by [`AccessLog::flush`], which a background task calls every
//! [`FLUSH_EVERY`]. So a line reaches stderr at most that late, and a crash
//! (SIGKILL) can lose that much of the log. Lines are never dropped
//! otherwise.
//!
//! Never tokens, cookies or query strings: the caller passes the path
//! without its query, and nothing else from the request's headers.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The buffer is written out once it holds this many bytes (about 100
/// lines), on the request's thread.
pub const FLUSH_BYTES: usize = 32 * 1024;
/// The background flush interval: the longest a line waits.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One request's access-log fields.
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub app: &'a str,
    pub decision: &'a str,
    /// A refusal's reason (`crate::refusal::Reason`), or empty: the real
    /// one (`access_ended`, …), which `policies` alone does not tell.
    pub reason: &'a str,
    /// Enabled policies that applied.
    pub policies: &'a [std::sync::Arc<str>],
    pub status: u16,
    pub method: &'a str,
    /// The normalised path, without the query.
    pub path: &'a str,
    pub client_ip: Option<IpAddr>,
    /// The user's stable id, or empty.
    pub user: &'a str,
    pub latency_us: u64,
    /// Pingora's error type name, or empty.
    pub error: &'a str,
}

/// The buffered access-log writer; one per process (on `Gateway`).
pub struct AccessLog {
    buf: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").finish_non_exhaustive()
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog {
            buf: Mutex::new(Vec::with_capacity(FLUSH_BYTES * 2)),
        }
    }
}

impl AccessLog {
    /// True when `RUST_LOG` lets access lines through (target `access`,
    /// level info). Cheap: tracing caches the answer per call site.
    pub fn enabled() -> bool {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    }

    /// Appends the line for `e` (when enabled); writes the buffer out when
    /// it is full.
    pub fn log(&self, e: &Entry<'_>) {
        if !AccessLog::enabled() {
            return;
        }
        let full = {
            let mut buf = match self.buf.lock() {
                Ok(b) => b,
                Err(p) => p.into_inner(),
            };
            let now = std::time::SystemTime::now();
            if crate::logging::is_text() {
                format_text(&mut buf, e, now);
            } else {
                format_line(&mut buf, e, now);
            }
            (buf.len() >= FLUSH_BYTES).then(|| std::mem::take(&mut *buf))
        };
        if let Some(lines) = full {
            write_out(&lines);
        }
    }

    /// Writes out whatever is buffered.
    pub fn flush(&self) {
        let lines = {
            let mut buf = match self.buf.lock() {
                Ok(b) => b,
                Err(p) => p.into_inner(),
            };
            if buf.is_empty() {
                return;
            }
            std::mem::replace(&mut *buf, Vec::with_capacity(FLUSH_BYTES * 2))
        };
        write_out(&lines);
    }
}

/// The background task that writes buffered lines out every
/// [`FLUSH_EVERY`]. It keeps flushing through a graceful shutdown (requests
/// still finishing are logged) until the process exits.
pub struct Flusher {
    pub log: std::sync::Arc<AccessLog>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Flusher {
    async fn start(&self, _shutdown: pingora::server::ShutdownWatch) {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.log.flush();
        }
    }
}

/// Whole lines in one `write_all` on stderr (unbuffered, so one system call
/// unless the pipe is full); a failed write is dropped, as the `tracing`
/// writer does.
fn write_out(lines: &[u8]) {
    let _ = std::io::stderr().lock().write_all(lines);
}

/// Appends one JSON line: the shape `tracing-subscriber`'s JSON formatter
/// writes for `info!(target: "access", …)`.
fn format_line(out: &mut Vec<u8>, e: &Entry<'_>, at: std::time::SystemTime) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, at);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"fields\":{\"request_id\":");
    string(out, e.request_id);
    out.extend_from_slice(b",\"app\":");
    string(out, e.app);
    out.extend_from_slice(b",\"decision\":");
    string(out, e.decision);
    out.extend_from_slice(b",\"reason\":");
    string(out, e.reason);
    out.extend_from_slice(b",\"policies\":\"");
    for (i, p) in e.policies.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        escaped(out, p);
    }
    let _ = write!(out, "\",\"status\":{},\"method\":", e.status);
    string(out, e.method);
    out.extend_from_slice(b",\"path\":");
    string(out, e.path);
    out.extend_from_slice(b",\"client_ip\":\"");
    if let Some(ip) = e.client_ip {
        let _ = write!(out, "{ip}");
    }
    out.extend_from_slice(b"\",\"user\":");
    string(out, e.user);
    let _ = write!(out, ",\"latency_us\":{},\"error\":", e.latency_us);
    string(out, e.error);
    out.extend_from_slice(b"},\"target\":\"access\"}\n");
}

/// Appends one line for a person (`serve --log-format text`), in the
/// shape of the other text lines: `TIME  INFO access: GET wiki /path ->
/// 403 block (policies) user=… ip=… 1.2ms id=…`. Control characters are
/// escaped, so a line is always one line.
fn format_text(out: &mut Vec<u8>, e: &Entry<'_>, at: std::time::SystemTime) {
    timestamp(out, at);
    out.extend_from_slice(b"  INFO access: ");
    plain(out, e.method);
    out.push(b' ');
    plain(out, e.app);
    out.push(b' ');
    plain(out, if e.path.is_empty() { "-" } else { e.path });
    let _ = write!(out, " -> {} ", e.status);
    plain(out, e.decision);
    if !e.reason.is_empty() {
        out.extend_from_slice(b" reason=");
        plain(out, e.reason);
    }
    if !e.policies.is_empty() {
        out.extend_from_slice(b" (");
        for (i, p) in e.policies.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            plain(out, p);
        }
        out.push(b')');
    }
    if !e.user.is_empty() {
        out.extend_from_slice(b" user=");
        plain(out, e.user);
    }
    if let Some(ip) = e.client_ip {
        let _ = write!(out, " ip={ip}");
    }
    let _ = write!(
        out,
        " {}.{}ms",
        e.latency_us / 1000,
        (e.latency_us % 1000) / 100
    );
    if !e.error.is_empty() {
        out.extend_from_slice(b" error=");
        plain(out, e.error);
    }
    if !e.request_id.is_empty() {
        out.extend_from_slice(b" id=");
        plain(out, e.request_id);
    }
    out.push(b'\n');
}

/// `s` with control characters written as `\u{..}` escapes.
fn plain(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// JSON string escaping (RFC 8259 §7): quote, backslash and control
/// characters; everything else is copied (the input is UTF-8).
fn escaped(out: &mut Vec<u8>, s: &str) {
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let _ = write!(out, "\\u{b:04x}");
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// RFC 3339 UTC with microseconds, as `tracing-subscriber` writes it.
fn timestamp(out: &mut Vec<u8>, at: std::time::SystemTime) {
    let d = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = i64::try_from(d.as_secs()).unwrap_or(0);
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        d.subsec_micros()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_line_is_json_in_the_tracing_shape_with_every_field() {
        let policies: Vec<Arc<str>> = vec!["a".into(), "b\"c".into()];
        let e = Entry {
            request_id: "0123",
            app: "payroll",
            decision: "allow",
            reason: "",
            policies: &policies,
            status: 200,
            method: "GET",
            path: "/x\n\u{1}é",
            client_ip: Some("2001:db8::1".parse().expect("ip")),
            user: "u-1",
            latency_us: 42,
            error: "",
        };
        let mut out = Vec::new();
        let at = std::time::UNIX_EPOCH + Duration::from_micros(1_764_013_926_000_123);
        format_line(&mut out, &e, at);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["timestamp"], "2025-11-24T19:52:06.000123Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "access");
        let f = &v["fields"];
        assert_eq!(f["request_id"], "0123");
        assert_eq!(f["app"], "payroll");
        assert_eq!(f["decision"], "allow");
        assert_eq!(f["reason"], "");
        assert_eq!(f["policies"], "a,b\"c");
        assert_eq!(f["status"], 200);
        assert_eq!(f["method"], "GET");
        assert_eq!(f["path"], "/x\n\u{1}é");
        assert_eq!(f["client_ip"], "2001:db8::1");
        assert_eq!(f["user"], "u-1");
        assert_eq!(f["latency_us"], 42);
        assert_eq!(f["error"], "");
    }

    #[test]
    fn a_text_line_is_one_readable_line() {
        let policies: Vec<Arc<str>> = vec!["guests-need-mfa".into()];
        let e = Entry {
            request_id: "0123",
            app: "wiki",
            decision: "mfa",
            reason: "mfa_required",
            policies: &policies,
            status: 302,
            method: "GET",
            path: "/x\n\u{1}é",
            client_ip: Some("127.0.0.1".parse().expect("ip")),
            user: "u-1",
            latency_us: 1_234,
            error: "",
        };
        let mut out = Vec::new();
        let at = std::time::UNIX_EPOCH + Duration::from_micros(1_764_013_926_000_123);
        format_text(&mut out, &e, at);
        let line = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            line,
            "2025-11-24T19:52:06.000123Z  INFO access: GET wiki /x\\u{a}\\u{1}é -> 302 mfa reason=mfa_required (guests-need-mfa) user=u-1 ip=127.0.0.1 1.2ms id=0123\n"
        );
    }

    #[test]
    fn no_client_ip_is_an_empty_string() {
        let e = Entry {
            request_id: "",
            app: "-",
            decision: "bad_request",
            reason: "",
            policies: &[],
            status: 400,
            method: "GET",
            path: "",
            client_ip: None,
            user: "",
            latency_us: 0,
            error: "",
        };
        let mut out = Vec::new();
        format_line(&mut out, &e, std::time::SystemTime::now());
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["fields"]["client_ip"], "");
        assert_eq!(v["fields"]["policies"], "");
    }

    #[test]
    fn a_refusal_carries_its_reason_beside_the_policies_that_applied() {
        let policies: Vec<Arc<str>> = vec!["guests-need-mfa".into()];
        let e = Entry {
            request_id: "0123",
            app: "wiki",
            decision: "block",
            reason: "access_ended",
            policies: &policies,
            status: 403,
            method: "GET",
            path: "/",
            client_ip: None,
            user: "u-1",
            latency_us: 1,
            error: "",
        };
        let mut out = Vec::new();
        format_line(&mut out, &e, std::time::SystemTime::now());
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["fields"]["reason"], "access_ended");
        assert_eq!(v["fields"]["policies"], "guests-need-mfa");
    }
}
