//! `pace`: a constant-rate (open-loop) HTTP/1.1 load generator for the load
//! bench (issue 21: "the open-loop latency at 10k req/s: p50 and p99 within
//! 1.2× pingora-pass's"). wrk is closed-loop: a slow answer delays the next
//! request, so the latencies it reports hide the queueing that a stall
//! causes. Neither wrk2 nor oha is packaged for Debian, so this is the
//! small one the issue allows for.
//!
//! Request `k` is due at `start + k / rate`, whatever has come back; the
//! requests are spread over `--connections` keep-alive connections in
//! turn, and each latency is measured from the time its request was due,
//! not sent, so a stall shows in the percentiles instead of pausing the
//! load (no coordinated omission, as in wrk2). Each connection is a thread
//! with a blocking socket that sleeps until its next request is due: a
//! thread's sleep is precise to tens of µs, where an async runtime's timer
//! rounds to the millisecond (which added ~1 ms to every latency in a
//! first version). The bench pins all of them to the load generator's CPU.
//!
//! ```text
//! pace --port P --rate 10000 --duration 5 [--warmup 1] [--connections 32]
//!      [--path /] [--header 'Host: w0.bench']... [--targets FILE [--xff FILE] [--ua FILE]]
//! ```
//!
//! `--targets` takes the load bench's `host<TAB>path<TAB>cookie` lines
//! (`-`: no cookie) and, with `--xff`/`--ua`, rotates X-Forwarded-For and
//! User-Agent values, as the bench's `rotate.lua` does for wrk. Prints one
//! JSON object: requests answered, errors, answers of status 400 or above,
//! the achieved rate, and latency percentiles in µs.

use clap::Parser;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Constant-rate HTTP/1.1 load with latency from each request's due time")]
struct Args {
    /// The port on 127.0.0.1 to load.
    #[arg(long)]
    port: u16,
    /// Requests a second, in total.
    #[arg(long)]
    rate: f64,
    /// Seconds measured.
    #[arg(long)]
    duration: f64,
    /// Seconds sent at the same rate first and not measured.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Keep-alive connections the requests are spread over.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value = "/")]
    path: String,
    /// A request header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// `host<TAB>path<TAB>cookie` lines to take requests from in turn.
    #[arg(long)]
    targets: Option<String>,
    /// X-Forwarded-For values to rotate (with `--targets`).
    #[arg(long)]
    xff: Option<String>,
    /// User-Agent values to rotate (with `--targets`).
    #[arg(long)]
    ua: Option<String>,
}

/// How long one answer may take before its connection counts an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("pace: {e}");
            std::process::exit(2);
        }
    }
}

/// Non-empty lines of a file.
fn lines(path: &str) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The requests to send, in turn.
enum Requests {
    /// The same request every time.
    One(Vec<u8>),
    /// Request `k` takes target `k`, X-Forwarded-For `k` and User-Agent
    /// `k`, each modulo its list's length (rotate.lua's three counters).
    Rotating {
        /// `(host, path, cookie)`; cookie `-` for none.
        targets: Vec<(String, String, String)>,
        xff: Vec<String>,
        uas: Vec<String>,
        /// The `--header` lines.
        base: String,
    },
}

impl Requests {
    fn new(args: &Args) -> io::Result<Requests> {
        let base: String = args.headers.iter().map(|h| format!("{h}\r\n")).collect();
        let Some(path) = &args.targets else {
            return Ok(Requests::One(
                format!("GET {} HTTP/1.1\r\n{base}\r\n", args.path).into_bytes(),
            ));
        };
        let mut targets = Vec::new();
        for (i, t) in lines(path)?.iter().enumerate() {
            let mut parts = t.split('\t');
            let (Some(host), Some(p), Some(cookie)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{path} line {}: want host<TAB>path<TAB>cookie", i + 1),
                ));
            };
            targets.push((host.to_owned(), p.to_owned(), cookie.to_owned()));
        }
        if targets.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path}: no targets"),
            ));
        }
        Ok(Requests::Rotating {
            targets,
            xff: args
                .xff
                .as_deref()
                .map(lines)
                .transpose()?
                .unwrap_or_default(),
            uas: args
                .ua
                .as_deref()
                .map(lines)
                .transpose()?
                .unwrap_or_default(),
            base,
        })
    }

    /// Request `k`'s bytes.
    fn get(&self, k: u64) -> std::borrow::Cow<'_, [u8]> {
        let (targets, xff, uas, base) = match self {
            Requests::One(r) => return r.as_slice().into(),
            Requests::Rotating {
                targets,
                xff,
                uas,
                base,
            } => (targets, xff, uas, base),
        };
        let pick = |len: usize| (k % len as u64) as usize;
        let (host, path, cookie) = &targets[pick(targets.len())];
        let mut r = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{base}");
        if cookie != "-" {
            r.push_str(&format!("Cookie: portcullis_session={cookie}\r\n"));
        }
        if !xff.is_empty() {
            r.push_str(&format!("X-Forwarded-For: {}\r\n", xff[pick(xff.len())]));
        }
        if !uas.is_empty() {
            r.push_str(&format!("User-Agent: {}\r\n", uas[pick(uas.len())]));
        }
        r.push_str("\r\n");
        r.into_bytes().into()
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    /// Latencies (µs from the due time) of the measured answers.
    latencies: Vec<u64>,
    errors: u64,
    status_errors: u64,
}

fn run(args: &Args) -> io::Result<String> {
    if !(args.rate > 0.0 && args.duration > 0.0 && args.connections > 0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--rate, --duration and --connections must be above 0",
        ));
    }
    let requests = Arc::new(Requests::new(args)?);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let warm = (args.rate * args.warmup).round() as u64;
    let total = warm + (args.rate * args.duration).round() as u64;
    // Connected before the clock starts.
    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        streams.push(connect(args.port)?);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let conns = args.connections as u64;
    let port = args.port;
    let threads: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(c, stream)| {
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                let mut stream = Some(stream);
                let mut buf = Vec::with_capacity(4096);
                let mut k = c as u64;
                while k < total {
                    let due = start + interval.mul_f64(k as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let request = requests.get(k);
                    let answer = match stream.as_mut() {
                        Some(s) => exchange(s, &request, &mut buf),
                        None => Err(io::Error::other("not connected")),
                    };
                    match answer {
                        Ok(status) => {
                            if k >= warm {
                                tally.latencies.push(due.elapsed().as_micros() as u64);
                                if status >= 400 {
                                    tally.status_errors += 1;
                                }
                            }
                        }
                        Err(_) => {
                            if k >= warm {
                                tally.errors += 1;
                            }
                            stream = connect(port).ok();
                        }
                    }
                    k += conns;
                }
                tally
            })
        })
        .collect();
    let tallies: Vec<Tally> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_default())
        .collect();
    let measured_for = start.elapsed().as_secs_f64() - args.warmup;
    let mut latencies: Vec<u64> = tallies
        .iter()
        .flat_map(|t| t.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let i = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[i.clamp(1, latencies.len()) - 1]
    };
    Ok(serde_json::json!({
        "requests": latencies.len(),
        "errors": tallies.iter().map(|t| t.errors).sum::<u64>(),
        "status_errors": tallies.iter().map(|t| t.status_errors).sum::<u64>(),
        "rate": latencies.len() as f64 / measured_for.max(1e-9),
        "p50_us": pct(50.0),
        "p90_us": pct(90.0),
        "p99_us": pct(99.0),
        "p999_us": pct(99.9),
        "max_us": latencies.last().copied().unwrap_or(0),
    })
    .to_string())
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    s.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(s)
}

/// Sends one request and reads its answer (headers and a
/// `Content-Length` body) off a keep-alive connection; its status.
fn exchange(s: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> io::Result<u16> {
    s.write_all(request)?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(buf) {
            Ok(httparse::Status::Complete(head)) => head,
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        let status = response.code.unwrap_or(0);
        let mut length = 0usize;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "content-length"))?;
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunked answers are not read",
                ));
            }
        }
        while buf.len() < head + length {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Ok(status);
    }
}
