//! `rules::platform::detect` against the shared User-Agent corpora:
//! - `modern.yaml`: 51 real, current UAs with the platform a UA-only condition
//!   must give (every case must pass);
//! - the 17 woothee conformance files (253 cases): woothee's expected `os` and
//!   `category`, mapped to our vocabulary by the table below, which is written
//!   independently of the implementation, plus the few cases where we
//!   deliberately differ from woothee, each with its reason.
//!
//! Data: `shared/testdata/useragents/` (see its README for sources/licences).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rules::platform::{Platform, detect};
use serde::Deserialize;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/useragents"
);

#[derive(Deserialize)]
struct Modern {
    cases: Vec<ModernCase>,
}

#[derive(Deserialize)]
struct ModernCase {
    ua: String,
    platform: String,
}

#[derive(Deserialize)]
struct WootheeCase {
    /// `~` in `blank.yaml`: no User-Agent header at all.
    target: Option<String>,
    /// Absent for some crawlers and one misc entry: woothee reports none.
    os: Option<String>,
    category: String,
}

/// woothee `os` → the platform we expect. Independent of the implementation's
/// mapping on purpose; every `os` in the testsets must be listed here.
const WOOTHEE_OS: &[(&str, Platform)] = &[
    // Desktop Windows, any release, is `windows`.
    ("Windows 10", Platform::Windows),
    ("Windows 8.1", Platform::Windows),
    ("Windows 8", Platform::Windows),
    ("Windows 7", Platform::Windows),
    ("Windows Vista", Platform::Windows),
    ("Windows XP", Platform::Windows),
    ("Windows 2000", Platform::Windows),
    ("Windows 98", Platform::Windows),
    ("Windows UNKNOWN Ver", Platform::Windows),
    // Phones/handhelds are not what a `windows` rule means.
    ("Windows Phone OS", Platform::Unknown),
    ("Windows CE", Platform::Unknown),
    ("Mac OSX", Platform::Macos),
    ("Mac OS Classic", Platform::Macos),
    ("iPhone", Platform::Ios),
    ("iPad", Platform::Ios),
    ("iPod", Platform::Ios),
    ("iOS", Platform::Ios),
    ("Android", Platform::Android),
    ("Linux", Platform::Linux),
    ("ChromeOS", Platform::Chromeos),
    // No word for these in the rule vocabulary.
    ("BSD", Platform::Unknown),
    ("Firefox OS", Platform::Unknown),
    ("BlackBerry", Platform::Unknown),
    ("BlackBerry 10", Platform::Unknown),
    ("SymbianOS", Platform::Unknown),
    ("docomo", Platform::Unknown),
    ("au", Platform::Unknown),
    ("SoftBank", Platform::Unknown),
    ("WILLCOM", Platform::Unknown),
    ("emobile", Platform::Unknown),
    ("jig", Platform::Unknown),
    ("Mobile Transcoder", Platform::Unknown),
    ("DigitalTV", Platform::Unknown),
    ("Nintendo 3DS", Platform::Unknown),
    ("Nintendo DSi", Platform::Unknown),
    ("Nintendo Wii", Platform::Unknown),
    ("Nintendo Wii U", Platform::Unknown),
    ("PlayStation Portable", Platform::Unknown),
    ("PlayStation Vita", Platform::Unknown),
    ("PlayStation 3", Platform::Unknown),
    ("PlayStation 4", Platform::Unknown),
    ("Xbox 360", Platform::Unknown),
    ("Xbox One", Platform::Unknown),
    ("UNKNOWN", Platform::Unknown),
];

/// Where we deliberately differ from woothee's expectation: UA, our platform, why.
const DELIBERATE: &[(&str, Platform, &str)] = &[
    (
        "curl/7.19.7 (x86_64-redhat-linux-gnu) libcurl/7.19.7 NSS/3.19.1 Basic ECC zlib/1.2.3 libidn/1.18 libssh2/1.4.2",
        Platform::Linux,
        "GNU target triple names Linux (modern.yaml and uap-core agree); woothee stops at 'HTTP library'",
    ),
    (
        "Wget/1.12 (linux-gnu)",
        Platform::Linux,
        "GNU target triple names Linux; woothee stops at 'HTTP library'",
    ),
];

fn expected_from_woothee(case: &WootheeCase) -> Result<Platform, String> {
    if let Some(target) = case.target.as_deref()
        && let Some(&(_, platform, _)) = DELIBERATE.iter().find(|(ua, _, _)| *ua == target)
    {
        return Ok(platform);
    }
    // A crawler is not a device, whatever platform it imitates.
    if case.category == "crawler" {
        return Ok(Platform::Unknown);
    }
    let os = case.os.as_deref().unwrap_or("UNKNOWN");
    WOOTHEE_OS
        .iter()
        .find(|(name, _)| *name == os)
        .map(|&(_, p)| p)
        .ok_or_else(|| format!("woothee os {os:?} is missing from the WOOTHEE_OS table"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn counts(platforms: impl Iterator<Item = Platform>) -> String {
    let mut by: BTreeMap<Platform, usize> = BTreeMap::new();
    for p in platforms {
        *by.entry(p).or_default() += 1;
    }
    by.iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn modern_corpus_gives_the_expected_platform() {
    let path = PathBuf::from(DATA).join("modern.yaml");
    let modern: Modern = serde_saphyr::from_str(&read(&path)).expect("modern.yaml parses");
    assert_eq!(modern.cases.len(), 51, "modern.yaml case count changed");

    let mut ok = 0;
    let mut mismatches = Vec::new();
    for case in &modern.cases {
        let want = Platform::parse(&case.platform)
            .unwrap_or_else(|| panic!("bad platform {:?} for {:?}", case.platform, case.ua));
        let got = detect(Some(&case.ua), None);
        if got == want {
            ok += 1;
        } else {
            mismatches.push(format!("  want {want}, got {got}: {:?}", case.ua));
        }
        // An "Unknown" or garbage hint must leave the UA in charge.
        for hint in ["\"Unknown\"", "\"Plan 9\""] {
            let with_hint = detect(Some(&case.ua), Some(hint));
            if with_hint != want {
                mismatches.push(format!(
                    "  hint {hint}: want {want}, got {with_hint}: {:?}",
                    case.ua
                ));
            }
        }
    }
    println!(
        "modern.yaml: {ok}/{} agree ({})",
        modern.cases.len(),
        counts(modern.cases.iter().map(|c| detect(Some(&c.ua), None))),
    );
    assert!(
        mismatches.is_empty(),
        "modern.yaml: {ok}/{} right, {} mismatch(es):\n{}",
        modern.cases.len(),
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn woothee_testsets_give_the_mapped_platform() {
    let dir = PathBuf::from(DATA).join("woothee-testsets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 17, "woothee-testsets file count changed");

    let mut total = 0;
    let mut deliberate = 0;
    let mut got_all = Vec::new();
    let mut mismatches = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cases: Vec<WootheeCase> =
            serde_saphyr::from_str(&read(file)).unwrap_or_else(|e| panic!("{name} parses: {e}"));
        let mut ok = 0;
        for case in &cases {
            let got = detect(case.target.as_deref(), None);
            got_all.push(got);
            if case
                .target
                .as_deref()
                .is_some_and(|t| DELIBERATE.iter().any(|(ua, _, _)| *ua == t))
            {
                deliberate += 1;
            }
            match expected_from_woothee(case) {
                Ok(want) if want == got => ok += 1,
                Ok(want) => mismatches.push(format!(
                    "  {name}: want {want} (woothee os {:?}, category {}), got {got}: {:?}",
                    case.os, case.category, case.target
                )),
                Err(e) => mismatches.push(format!("  {name}: {e}: {:?}", case.target)),
            }
        }
        println!("{name}: {ok}/{} agree", cases.len());
        total += cases.len();
    }
    println!(
        "woothee-testsets: {total} cases ({}); {} deliberate differences from woothee; {} mismatches",
        counts(got_all.into_iter()),
        deliberate,
        mismatches.len()
    );
    assert_eq!(total, 253, "woothee-testsets case count changed");
    assert_eq!(
        deliberate,
        DELIBERATE.len(),
        "every deliberate difference is in the data"
    );
    assert!(
        mismatches.is_empty(),
        "woothee-testsets: {} mismatch(es):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
