//! `mint-cookie`: prepares a Portcullis SQLite store for the load comparison
//! (benches/load/run) and prints session cookies the gateway will accept.
//!
//! ```text
//! mint-cookie --db FILE --host H [--host H2 ...] [--users K] [--tokens N]
//!             [--domain tailwindtraders.com] [--group G ...] [--mfa]
//! ```
//!
//! Creates (or reuses) a signing key the gateway will keep using (the same
//! rotation rule as `portcullis serve`), upserts K member users
//! `bench-<i>@<domain>`, then prints N lines `HOST<TAB>TOKEN`: token `j` is
//! for user `j % K` and host `j % hosts`, each with its own session id, so
//! every line is a distinct token (a verified-cache miss the first time the
//! gateway sees it). Tokens live 24 h.

use portcullis::session::{KeyRing, SessionClaims, SigningKeyRecord, UserType as SessionUserType};
use portcullis::store::{NewUser, SigningKey, Store, UserType};
use std::io::Write;
use std::path::PathBuf;

/// As in gateway/src/server.rs: keys sign for 30 days, sessions last at
/// most 7, so a key generated here lives 38 days and is never rotated by
/// the gateway during a bench.
const ROTATE_AFTER: i64 = 30 * 86_400;
const MAX_SESSION: i64 = 7 * 86_400;
const KEY_LIFETIME: i64 = ROTATE_AFTER + MAX_SESSION + 86_400;
const TOKEN_LIFETIME: i64 = 86_400;

struct Args {
    db: PathBuf,
    hosts: Vec<String>,
    users: usize,
    tokens: usize,
    domain: String,
    groups: Vec<String>,
    mfa: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: mint-cookie --db FILE --host H [--host H ...] [--users K] [--tokens N] \
         [--domain D] [--group G ...] [--mfa]"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        db: PathBuf::new(),
        hosts: Vec::new(),
        users: 1,
        tokens: 1,
        domain: "tailwindtraders.com".into(),
        groups: Vec::new(),
        mfa: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--db" => a.db = PathBuf::from(value()),
            "--host" => a.hosts.push(value()),
            "--users" => a.users = value().parse().unwrap_or_else(|_| usage()),
            "--tokens" => a.tokens = value().parse().unwrap_or_else(|_| usage()),
            "--domain" => a.domain = value(),
            "--group" => a.groups.push(value()),
            "--mfa" => a.mfa = true,
            _ => usage(),
        }
    }
    if a.db.as_os_str().is_empty() || a.hosts.is_empty() || a.users == 0 {
        usage()
    }
    a
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("mint-cookie: {what}: {e}");
    std::process::exit(1)
}

async fn key_ring(store: &Store, now: i64) -> KeyRing {
    let records: Vec<SigningKeyRecord> = store
        .list_signing_keys()
        .await
        .unwrap_or_else(|e| fail("reading signing keys", e))
        .into_iter()
        .map(SigningKeyRecord::from)
        .filter(|r| !r.is_retired(now))
        .collect();
    if !records.is_empty()
        && let Ok(ring) = KeyRing::from_records("portcullis", records.clone(), now)
        && !ring.needs_rotation(now, ROTATE_AFTER, MAX_SESSION)
    {
        return ring;
    }
    let record = SigningKeyRecord::generate(now, now + KEY_LIFETIME)
        .unwrap_or_else(|e| fail("generating a signing key", e));
    let stored = SigningKey::try_from(&record).unwrap_or_else(|e| fail("signing key", e));
    store
        .insert_signing_key(&stored)
        .await
        .unwrap_or_else(|e| fail("storing the signing key", e));
    let mut all = records;
    all.push(record);
    KeyRing::from_records("portcullis", all, now).unwrap_or_else(|e| fail("key ring", e))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse();
    let now = now();
    let store = Store::open_sqlite(&args.db)
        .await
        .unwrap_or_else(|e| fail("opening the store", e));
    let ring = key_ring(&store, now).await;
    let t = time::OffsetDateTime::from_unix_timestamp(now).unwrap_or_else(|e| fail("time", e));
    let users: Vec<(String, String)> = (0..args.users)
        .map(|i| (format!("u_bench_{i}"), format!("bench-{i}@{}", args.domain)))
        .collect();
    for (id, email) in &users {
        store
            .upsert_user(
                &NewUser {
                    id: id.clone(),
                    email: email.clone(),
                    display_name: None,
                    user_type: UserType::Member,
                    identity: None,
                },
                t,
            )
            .await
            .unwrap_or_else(|e| fail("creating a user", e));
    }
    store.close().await;

    let amr: Vec<String> = if args.mfa {
        vec!["pwd".into(), "mfa".into()]
    } else {
        vec!["pwd".into()]
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for j in 0..args.tokens {
        let (id, email) = &users[j % users.len()];
        let host = &args.hosts[j % args.hosts.len()];
        let claims = SessionClaims {
            iss: "portcullis".into(),
            sub: id.clone(),
            aud: host.as_str().into(),
            email: email.clone(),
            user_type: SessionUserType::Member,
            groups: args.groups.clone().into(),
            idp: "bench".into(),
            amr: amr.clone().into(),
            auth_time: now - 60,
            iat: now - 60,
            exp: now + TOKEN_LIFETIME,
            sid: format!("bench-{j}"),
        };
        let token = ring.issue(&claims).unwrap_or_else(|e| fail("signing", e));
        writeln!(out, "{host}\t{token}").unwrap_or_else(|e| fail("writing", e));
    }
    out.flush().unwrap_or_else(|e| fail("writing", e));
}
