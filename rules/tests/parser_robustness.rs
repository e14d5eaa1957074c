//! Malformed rule files never panic, never hang, and every error names its
//! file and a place in it.
//!
//! A rule file is reviewed text, but `check` and reload read whatever is on
//! disk (a half-written file, a bad merge, a hostile commit); the gateway must
//! answer with positioned errors and keep the old snapshot, never crash.
//! Inputs: arbitrary bytes, mutations of the real rule files (the quickstart
//! rules and the golden fixtures), and hand-picked parser attacks (billion
//! laughs, deep nesting, huge lines, BOM, NUL, multi-document streams).

use geoip::Country;
use proptest::prelude::*;
use proptest::sample::Index;
use rules::*;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CASES: u32 = 256;

/// How long one hand-picked input may take (a debug build on a busy
/// machine); the parser's budget should make each take milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

fn ctx() -> CompileContext {
    CompileContext {
        apps: ["demo", "payroll", "wiki"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

/// The real rule files: the quickstart rules and every golden fixture.
static SEEDS: LazyLock<Vec<(String, Vec<u8>)>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("../deploy/quickstart/rules/access.yaml")];
    let mut golden: Vec<PathBuf> = std::fs::read_dir(root.join("tests/golden"))
        .expect("golden fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    golden.sort();
    files.extend(golden);
    let seeds: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(p).expect("seed rule file"))
        })
        .collect();
    assert!(seeds.len() >= 7, "seed files missing: {}", seeds.len());
    seeds
});

/// Compiles `sources` and checks the shape of the answer: every error names
/// its file first, has a line (1-based) and column unless it is an I/O
/// error, and a compiled set can be evaluated and its tests run.
fn check(sources: &[(PathBuf, String)]) -> Result<(), TestCaseError> {
    match RuleSet::from_sources(sources, &ctx()) {
        Ok(rules) => {
            // Whatever compiled must also decide without panicking.
            let _ = run_tests(&rules, &["tailwindtraders.com".into()], &|_| {
                Country::Unknown
            });
            for app in rules.apps() {
                let facts = RequestFacts {
                    user: Some("anna@contoso.com".into()),
                    app: app.to_string(),
                    ip: Some("203.0.113.7".parse().expect("ip")),
                    ..Default::default()
                };
                let resolved = facts
                    .resolve(&rules, &[], &|_| Country::Unknown)
                    .expect("configured app");
                let req = resolved.request();
                let fast = evaluate(&rules, &req);
                let full = explain(&rules, &req);
                prop_assert_eq!(fast.decision, full.decision);
                for t in &full.policies {
                    let _ = t.detail(&rules, &req);
                }
            }
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty(), "Err(vec![]) says nothing");
            for e in &errors {
                let text = e.to_string();
                let file = e.file.display().to_string();
                prop_assert!(
                    sources.iter().any(|(f, _)| *f == e.file),
                    "error names a file that was not given: {text}"
                );
                prop_assert!(
                    text.starts_with(&format!("{file}:")),
                    "error does not start with its file name: {text}"
                );
                if !matches!(e.kind, RuleErrorKind::Io(_)) {
                    prop_assert!(
                        e.line >= 1 && e.column >= 1,
                        "error without a position: {text:?} ({:?})",
                        e.kind
                    );
                }
            }
        }
    }
    Ok(())
}

fn check_one(name: &str, text: String) -> Result<(), TestCaseError> {
    check(&[(PathBuf::from(name), text)])
}

/// Runs `check` on another thread and fails if it does not come back within
/// [`DEADLINE`] (the parser's budget must bound the work).
fn check_bounded(name: &str, text: String) {
    if let Err(e) = check_all_bounded(vec![(name.to_string(), text)]) {
        panic!("{e}");
    }
}

/// Checks several inputs at once, each on its own thread, and reports every
/// one that fails, panics or runs past [`DEADLINE`].
fn check_all_bounded(inputs: Vec<(String, String)>) -> Result<(), String> {
    let started = Instant::now();
    let pending: Vec<(String, mpsc::Receiver<Result<(), TestCaseError>>)> = inputs
        .into_iter()
        .map(|(name, text)| {
            let (tx, rx) = mpsc::channel();
            let label = name.clone();
            std::thread::Builder::new()
                .name(label.clone())
                .stack_size(8 << 20)
                .spawn(move || {
                    let _ = tx.send(check_one(&label, text));
                })
                .expect("spawn");
            (name, rx)
        })
        .collect();
    let mut failures = Vec::new();
    for (name, rx) in pending {
        let left = DEADLINE.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(Ok(())) => eprintln!("{name}: {:?}", started.elapsed()),
            Ok(Err(e)) => failures.push(format!("{name}: {e}")),
            Err(mpsc::RecvTimeoutError::Timeout) => failures.push(format!(
                "{name}: compiling did not return within {DEADLINE:?}"
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failures.push(format!("{name}: compiling panicked"))
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// The errors for one in-memory file (for the hand-picked tests).
fn errors_of(name: &str, text: &str) -> Vec<RuleError> {
    match RuleSet::from_sources(&[(PathBuf::from(name), text.to_string())], &ctx()) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------
// Mutations of real rule files.

#[derive(Clone, Debug)]
enum Mutation {
    /// Removes up to `len` bytes at `at`.
    Delete { at: Index, len: usize },
    /// Inserts bytes at `at`.
    Insert { at: Index, bytes: Vec<u8> },
    /// Inserts a YAML-significant token at `at`.
    Token { at: Index, token: &'static str },
    /// Copies up to `len` bytes from `from` to `to`.
    Duplicate { from: Index, len: usize, to: Index },
    /// Replaces line `at` with line `from` of another seed file.
    SpliceLine { at: Index, seed: Index, from: Index },
    /// Duplicates line `at` (duplicate keys, names, list items).
    RepeatLine { at: Index },
    /// Swaps two lines.
    SwapLines { a: Index, b: Index },
}

const TOKENS: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "<<: ",
    "? ",
    "|",
    ">-",
    "'",
    "\"",
    "#",
    "\t",
    "\n",
    "\r\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "\u{feff}",
    "\0",
    "~",
    "\u{2028}",
    "\u{85}",
    "é",
    "🦀",
    "  ",
    "all",
    "block",
    "null",
    "!",
    "@",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), prop::sample::select(TOKENS))
            .prop_map(|(at, token)| Mutation::Token { at, token }),
        (any::<Index>(), 1usize..128, any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(at, seed, from)| Mutation::SpliceLine { at, seed, from }),
        any::<Index>().prop_map(|at| Mutation::RepeatLine { at }),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn apply(mut text: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = text.len();
    match m {
        Mutation::Delete { at, len } => {
            if n > 0 {
                let start = at.index(n);
                let end = (start + len).min(n);
                text.drain(start..end);
            }
        }
        Mutation::Insert { at, bytes } => {
            let i = at.index(n + 1);
            text.splice(i..i, bytes.iter().copied());
        }
        Mutation::Token { at, token } => {
            let i = at.index(n + 1);
            text.splice(i..i, token.bytes());
        }
        Mutation::Duplicate { from, len, to } => {
            if n > 0 {
                let start = from.index(n);
                let chunk = text[start..(start + len).min(n)].to_vec();
                let i = to.index(n + 1);
                text.splice(i..i, chunk);
            }
        }
        Mutation::SpliceLine { at, seed, from } => {
            let mut ls = lines(&text);
            let other = lines(&SEEDS[seed.index(SEEDS.len())].1);
            if !ls.is_empty() && !other.is_empty() {
                let i = at.index(ls.len());
                ls[i] = other[from.index(other.len())].clone();
            }
            text = ls.concat();
        }
        Mutation::RepeatLine { at } => {
            let mut ls = lines(&text);
            if !ls.is_empty() {
                let i = at.index(ls.len());
                let l = ls[i].clone();
                ls.insert(i, l);
            }
            text = ls.concat();
        }
        Mutation::SwapLines { a, b } => {
            let mut ls = lines(&text);
            if !ls.is_empty() {
                let (i, j) = (a.index(ls.len()), b.index(ls.len()));
                ls.swap(i, j);
            }
            text = ls.concat();
        }
    }
    text
}

fn mutated() -> impl Strategy<Value = (String, String)> {
    (any::<Index>(), prop::collection::vec(mutation(), 1..6)).prop_map(|(seed, mutations)| {
        let (name, bytes) = &SEEDS[seed.index(SEEDS.len())];
        let bytes = mutations.iter().fold(bytes.clone(), apply);
        (name.clone(), String::from_utf8_lossy(&bytes).into_owned())
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Integration tests have no `lib.rs` beside them to store
        // regressions next to; a failure prints the shrunk input instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes (as a text editor would show them, lossily) never
    /// panic and every error is positioned.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_one("bytes.yaml", String::from_utf8_lossy(&bytes).into_owned())?;
    }

    /// Arbitrary text built from YAML-significant tokens and words of the
    /// rule vocabulary gets further into the parser than random bytes.
    #[test]
    fn token_soup_never_panics(
        tokens in prop::collection::vec(
            prop_oneof![
                prop::sample::select(TOKENS).prop_map(str::to_string),
                prop::sample::select(&[
                    "policies", "named_locations", "tests", "name", "users", "apps",
                    "include", "exclude", "grant", "require", "mfa", "session",
                    "sign_in_frequency", "12h", "locations", "ip_ranges", "countries",
                    "10.0.0.0/8", "payroll", "state", "report_only", "request", "expect",
                    "paths", "/admin/*", "methods", "POST", " ", "\n  ", "\n    ",
                ][..]).prop_map(str::to_string),
            ],
            0..80,
        )
    ) {
        check_one("soup.yaml", tokens.concat())?;
    }

    /// Mutations of the real rule files (deletions, insertions, duplicated
    /// spans, lines spliced in from other files, repeated and swapped lines).
    #[test]
    fn mutated_rule_files_never_panic((name, text) in mutated()) {
        check_one(&name, text)?;
    }

    /// Several mutated files at once: errors keep their own file's name.
    #[test]
    fn mutated_file_sets_never_panic(files in prop::collection::vec(mutated(), 1..4)) {
        let sources: Vec<(PathBuf, String)> = files
            .into_iter()
            .enumerate()
            .map(|(i, (name, text))| (PathBuf::from(format!("{i}-{name}")), text))
            .collect();
        check(&sources)?;
    }
}

// ---------------------------------------------------------------------------
// Hand-picked inputs.

#[test]
fn the_seed_files_themselves_are_handled() {
    for (name, bytes) in SEEDS.iter() {
        check_bounded(name, String::from_utf8_lossy(bytes).into_owned());
    }
}

/// "A billion laughs": nine levels of nine aliases each would expand to 9^9
/// scalars. The alias budget must stop it.
#[test]
fn billion_laughs_is_bounded() {
    let mut y = String::from(
        "x-laughs:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let (prev, next) = (w[0], w[1]);
        let refs = vec![format!("*{prev}"); 9].join(",");
        y.push_str(&format!("  {next}: &{next} [{refs}]\n"));
    }
    // Once as an unknown field (rejected early), once where a value is
    // expected (the aliases must be expanded to be checked).
    check_bounded("laughs-unknown.yaml", y.clone());
    let inner = y.replace(
        "x-laughs:\n",
        "named_locations:\n  - name: x\n    countries:\n",
    );
    let inner = inner.replace("\n  ", "\n      ");
    check_bounded(
        "laughs-value.yaml",
        format!("{inner}policies: [*i, *i, *i]\n"),
    );
    // And where every alias is a string a valid field accepts.
    let mut y = String::from(
        "named_locations:\n  - name: x\n    countries: &a [DE, FR, DE, FR, DE, FR, DE, FR]\n",
    );
    for i in 0..5_000 {
        y.push_str(&format!("  - {{ name: l{i}, countries: *a }}\n"));
    }
    check_bounded("alias-fanout.yaml", y);
}

#[test]
fn deep_nesting_is_bounded() {
    check_bounded("brackets.yaml", "[".repeat(10_000));
    check_bounded("braces.yaml", "{".repeat(10_000));
    check_bounded(
        "policies-brackets.yaml",
        format!("policies: {}", "[".repeat(10_000)),
    );
    check_bounded(
        "closed-brackets.yaml",
        format!("policies: {}{}", "[".repeat(10_000), "]".repeat(10_000)),
    );
    let mut block = String::new();
    for depth in 0..1_000 {
        block.push_str(&" ".repeat(depth));
        block.push_str("a:\n");
    }
    check_bounded("block-nesting.yaml", block);
    let mut seqs = String::new();
    for depth in 0..1_000 {
        seqs.push_str(&" ".repeat(depth * 2));
        seqs.push_str("-\n");
    }
    check_bounded("sequence-nesting.yaml", seqs);
}

#[test]
fn a_one_megabyte_line_is_bounded() {
    const MB: usize = 1 << 20;
    check_bounded("a.yaml", "a".repeat(MB));
    check_bounded("key.yaml", format!("{}: 1", "k".repeat(MB)));
    check_bounded("quoted.yaml", format!("\"{}\"", "q".repeat(MB)));
    check_bounded(
        "flow.yaml",
        format!("policies: [{}]", "{}, ".repeat(MB / 4)),
    );
    check_bounded(
        "users.yaml",
        format!(
            "policies:\n  - name: p\n    users: {{ include: [{}] }}\n    apps: {{ include: [all] }}\n    grant: block\n",
            vec!["guests"; MB / 8].join(",")
        ),
    );
}

#[test]
fn very_long_policy_names_are_handled() {
    let name = "n".repeat(100_000);
    let policy = |n: &str| {
        format!(
            "  - name: {n}\n    users: {{ include: [all] }}\n    apps: {{ include: [all] }}\n    grant: block\n"
        )
    };
    let one = format!("policies:\n{}", policy(&name));
    assert!(
        errors_of("long.yaml", &one).is_empty(),
        "a long name is a name"
    );
    check_bounded("long.yaml", one);
    // Twice: the duplicate error quotes it.
    let twice = format!("policies:\n{}{}", policy(&name), policy(&name));
    check_bounded("long-twice.yaml", twice);
    let unknown_app = format!(
        "policies:\n  - name: p\n    users: {{ include: [all] }}\n    apps: {{ include: [{}] }}\n    grant: block\n",
        "payrol".repeat(20_000)
    );
    check_bounded("long-app.yaml", unknown_app);
}

/// "Did you mean" suggestions compare a misspelt name with every defined
/// one by edit distance, which is quadratic in the lengths: a long policy or
/// location name referenced with one character changed must not turn
/// `check` (or a reload) into minutes of CPU. 100k characters is a 100 kB
/// rule file.
#[test]
fn suggestions_for_long_names_are_bounded() {
    let name = "n".repeat(100_000);
    let policy = format!(
        "  - name: {name}\n    users: {{ include: [all] }}\n    apps: {{ include: [all] }}\n    grant: block\n"
    );
    let result = check_all_bounded(vec![
        // A test case's `applied` list names a policy that does not exist.
        (
            "long-applied.yaml".into(),
            format!(
                "policies:\n{policy}tests:\n  - name: t\n    request: {{ app: payroll }}\n    expect: block\n    applied: [{name}x]\n"
            ),
        ),
        // A policy names a location that does not exist.
        (
            "long-location.yaml".into(),
            format!(
                "named_locations:\n  - name: {name}\n    countries: [DE]\npolicies:\n  - name: p\n    users: {{ include: [all] }}\n    apps: {{ include: [all] }}\n    locations: {{ include: [{name}x] }}\n    grant: block\n"
            ),
        ),
    ]);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn tabs_are_reported_with_a_position() {
    let text = "policies:\n\t- name: x\n\t  users: { include: [all] }\n";
    let errors = errors_of("tabs.yaml", text);
    assert!(!errors.is_empty(), "tab indentation is not YAML");
    check_bounded("tabs.yaml", text.into());
    check_bounded("tab-values.yaml", "policies:\t[]\n".into());
}

#[test]
fn a_byte_order_mark_is_handled() {
    let text = "\u{feff}policies: []\n";
    check_bounded("bom.yaml", text.into());
    // Editors on Windows write a BOM; the file is otherwise valid.
    assert_eq!(errors_of("bom.yaml", text), Vec::new());
    check_bounded("bom-middle.yaml", "policies:\u{feff} []\n".into());
}

#[test]
fn multi_document_streams_are_handled() {
    check_bounded("docs.yaml", "policies: []\n---\npolicies: []\n".into());
    check_bounded("doc-start.yaml", "---\npolicies: []\n...\n".into());
    check_bounded("docs-only.yaml", "---\n---\n---\n".into());
    check_bounded("many-docs.yaml", "---\n".repeat(100_000));
    check_bounded("many-ends.yaml", "...\n".repeat(100_000));
}

#[test]
fn nul_bytes_are_handled() {
    check_bounded("nul.yaml", "policies:\0 []\n".into());
    check_bounded("nul-only.yaml", "\0".repeat(1_000));
    check_bounded(
        "nul-name.yaml",
        "policies:\n  - name: \"a\\0b\"\n    users: { include: [all] }\n    apps: { include: [all] }\n    grant: block\n".into(),
    );
}

#[test]
fn odd_scalars_are_handled() {
    for (name, text) in [
        ("null.yaml", "~\n"),
        ("null-word.yaml", "null\n"),
        ("number.yaml", "42\n"),
        ("list.yaml", "- a\n- b\n"),
        ("policies-null.yaml", "policies: ~\n"),
        ("policies-string.yaml", "policies: all\n"),
        ("cr-only.yaml", "policies: []\rtests: []\r"),
        ("crlf.yaml", "policies: []\r\ntests: []\r\n"),
        ("merge.yaml", "policies:\n  - <<: {name: x}\n"),
        ("tag.yaml", "policies: !!binary aGVsbG8=\n"),
        ("directive.yaml", "%YAML 9.9\n---\npolicies: []\n"),
        ("line-sep.yaml", "policies:\u{2028}[]\n"),
        ("comment-only.yaml", "# nothing\n   \n# here\n"),
        ("indented-comment.yaml", "   # x\n\t# y\n"),
    ] {
        check_bounded(name, text.into());
    }
}
