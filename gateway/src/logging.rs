//! How `serve` logs: JSON lines for machines (journald, Kubernetes, a log
//! shipper) or a compact line a person reads on a terminal; chosen by
//! `serve --log-format` or `PORTCULLIS_LOG_FORMAT` (`auto`, `json`, `text`;
//! `auto`: text when stderr is a terminal, else JSON). `RUST_LOG` filters;
//! without it, Portcullis's own lines from `info` and third-party crates'
//! (Pingora's internals: bootstrap steps, per-connection errors, health
//! flips that Portcullis logs itself) from `error` only.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// The filter when `RUST_LOG` is not set. The access log's target is
/// `access`; everything of ours is under `portcullis`.
pub const DEFAULT_FILTER: &str = "error,portcullis=info,access=info";

/// The environment variable that picks the format when no flag does.
pub const FORMAT_ENV: &str = "PORTCULLIS_LOG_FORMAT";

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// One JSON object per line.
    Json,
    /// A compact line for people.
    Text,
}

impl LogFormat {
    /// `json` or `text` for `auto`, from whether stderr is a terminal.
    pub fn resolve(self, stderr_is_terminal: bool) -> LogFormat {
        match self {
            LogFormat::Auto if stderr_is_terminal => LogFormat::Text,
            LogFormat::Auto => LogFormat::Json,
            f => f,
        }
    }

    /// The flag's value, else [`FORMAT_ENV`]'s, else `auto`; a value the
    /// variable cannot be is an error naming it.
    pub fn choose(flag: Option<LogFormat>) -> Result<LogFormat, String> {
        if let Some(f) = flag {
            return Ok(f);
        }
        match std::env::var(FORMAT_ENV) {
            Err(_) => Ok(LogFormat::Auto),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => Ok(LogFormat::Auto),
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                _ => Err(format!("{FORMAT_ENV}=`{v}`: use auto, json or text")),
            },
        }
    }
}

/// Whether lines are text (set once by [`init`]); the access log, which
/// formats its own lines, reads it.
static TEXT: AtomicBool = AtomicBool::new(false);

/// The format `serve` was started with (before `auto` is resolved), which
/// an in-place upgrade hands to the new process.
static CHOSEN: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// [`FORMAT_ENV`]'s value for a process that should log as this one does.
pub fn chosen_name() -> &'static str {
    match CHOSEN.get() {
        Some(LogFormat::Json) => "json",
        Some(LogFormat::Text) => "text",
        Some(LogFormat::Auto) | None => "auto",
    }
}

/// Whether log lines are the text format.
pub fn is_text() -> bool {
    TEXT.load(Ordering::Relaxed)
}

/// Installs the subscriber: `format` (after `auto` is resolved) through a
/// lossy non-blocking writer, filtered by `RUST_LOG` or [`DEFAULT_FILTER`].
pub fn init(format: LogFormat) {
    let _ = CHOSEN.set(format);
    let terminal = std::io::stderr().is_terminal();
    let format = format.resolve(terminal);
    TEXT.store(format == LogFormat::Text, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    // Log lines are written by a separate thread: a blocking write per
    // request on the hot path cost ~24 µs (benches/LOAD.md). When the
    // buffer (128k lines) is full, lines are dropped rather than stalling
    // requests; the writer reports how many on exit.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(128_000)
        .lossy(true)
        .finish(std::io::stderr());
    // The guard flushes on drop; `serve` only returns through process exit.
    std::mem::forget(guard);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.compact().with_ansi(terminal).try_init(),
        _ => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_text_on_a_terminal_and_json_elsewhere() {
        assert_eq!(LogFormat::Auto.resolve(true), LogFormat::Text);
        assert_eq!(LogFormat::Auto.resolve(false), LogFormat::Json);
        assert_eq!(LogFormat::Json.resolve(true), LogFormat::Json);
        assert_eq!(LogFormat::Text.resolve(false), LogFormat::Text);
    }

    #[test]
    fn the_default_filter_keeps_ours_and_only_third_party_errors() {
        let f: tracing_subscriber::EnvFilter = DEFAULT_FILTER.parse().expect("a filter");
        let text = f.to_string();
        assert!(text.contains("portcullis=info"), "{text}");
        assert!(text.contains("access=info"), "{text}");
        assert!(
            text.starts_with("error") || text.contains(",error"),
            "{text}"
        );
    }
}
