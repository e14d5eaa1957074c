//! The gateway's modules form a DAG (issue 13): a test over the sources
//! that fails when a cycle appears, so a newcomer can read the modules from
//! the bottom (store, session, snapshot) up (proxy, portal, server).
//!
//! Two levels are checked: between the crate's top-level modules (`proxy`,
//! `portal`, `state`, …), and between the children of each directory module
//! (`proxy::admission`, `proxy::decide`, …). A child naming its own
//! parent's (or any ancestor's) items (`super::Ctx`) is how Rust modules
//! share private helpers and is not a cycle; naming a sibling that names it
//! back is. Paths are read from `crate::…` and `super::…` in the code (use
//! groups included), comments and `#[cfg(test)]` modules left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["proxy", "decide"]`) → the module paths it names.
type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// The module path of a source file relative to `src/`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its `#[cfg(test)]`
/// tail (test modules may name anything).
fn code(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path named after `crate::` or `super::` in `code`, as written
/// (`a::b::c`), use groups expanded; `super` paths are returned with their
/// leading `super` segments.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let prefix = if !boundary {
            None
        } else if rest.starts_with(b"crate::") {
            Some(vec!["crate".to_string()])
        } else if rest.starts_with(b"super::") {
            Some(Vec::new())
        } else {
            None
        };
        match prefix {
            Some(start) => {
                let (end, paths) =
                    parse_tree(code, if start.is_empty() { i } else { i + 7 }, start);
                out.extend(paths);
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` from `at`, prefixing `prefix`; returns the
/// position after it and the expanded paths.
fn parse_tree(code: &str, mut at: usize, prefix: Vec<String>) -> (usize, Vec<Vec<String>>) {
    let bytes = code.as_bytes();
    let mut path = prefix;
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if at < bytes.len() && bytes[at] == b'{' {
            let mut all = Vec::new();
            at += 1;
            loop {
                while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b',') {
                    at += 1;
                }
                if at >= bytes.len() || bytes[at] == b'}' {
                    return (at + 1, all);
                }
                let (next, paths) = parse_tree(code, at, path.clone());
                all.extend(paths);
                if next <= at {
                    return (at + 1, all);
                }
                at = skip_rename(bytes, next);
            }
        }
        let start = at;
        while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
            at += 1;
        }
        if at == start {
            return (at, vec![path]);
        }
        path.push(code[start..at].to_string());
        if code[at..].starts_with("::") {
            at += 2;
        } else {
            // `as name`, `;`, `,`, `(`: the path ends here.
            return (at, vec![path]);
        }
    }
}

/// Skips ` as name` after a path in a use group.
fn skip_rename(bytes: &[u8], mut at: usize) -> usize {
    let start = at;
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    if !(bytes[at..].starts_with(b"as") && bytes.get(at + 2).is_some_and(u8::is_ascii_whitespace)) {
        return start;
    }
    at += 2;
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
        at += 1;
    }
    at
}

/// Builds the graph of `files` (path relative to `src/`, source).
fn graph(files: &[(String, String)]) -> Graph {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(f, _)| module_of(f)).collect();
    let mut g = Graph::new();
    for (file, source) in files {
        let me = module_of(file);
        let here = g.entry(me.clone()).or_default();
        // A `mod.rs` (or `lib.rs`) is its module; a plain file's `super`
        // is its parent.
        for named in named_paths(&code(source)) {
            let absolute: Vec<String> = if named.first().is_some_and(|s| s == "crate") {
                named[1..].to_vec()
            } else {
                let ups = named.iter().take_while(|s| *s == "super").count();
                let base = me.len().saturating_sub(ups);
                me[..base]
                    .iter()
                    .cloned()
                    .chain(named[ups..].iter().cloned())
                    .collect()
            };
            // The longest known module that the path starts with.
            let target = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|m| modules.contains(m));
            if let Some(t) = target
                && t != me
            {
                here.insert(t);
            }
        }
    }
    g
}

/// Cycles between top-level modules and between the children of each
/// module, as lists of module paths (empty: a DAG).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    // Top level: every edge between different first segments.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in g {
        let Some(a) = from.first() else { continue };
        for to in tos {
            if let Some(b) = to.first()
                && a != b
            {
                top.entry(a.clone()).or_default().insert(b.clone());
            }
        }
    }
    found.extend(strongly_connected(&top));
    // Siblings: within each parent, edges from one child's subtree to
    // another child (never to the parent or an ancestor).
    let mut parents: BTreeSet<Vec<String>> = g
        .keys()
        .filter(|m| !m.is_empty())
        .map(|m| m[..m.len() - 1].to_vec())
        .collect();
    parents.remove(&Vec::new());
    for parent in parents {
        let depth = parent.len();
        let mut local: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, tos) in g {
            if from.len() <= depth || from[..depth] != parent[..] {
                continue;
            }
            for to in tos {
                if to.len() > depth && to[..depth] == parent[..] && to[depth] != from[depth] {
                    local
                        .entry(from[depth].clone())
                        .or_default()
                        .insert(to[depth].clone());
                }
            }
        }
        for cycle in strongly_connected(&local) {
            found.push(
                cycle
                    .into_iter()
                    .map(|c| format!("{}::{c}", parent.join("::")))
                    .collect(),
            );
        }
    }
    found
}

/// The strongly connected components with more than one node (Tarjan).
fn strongly_connected(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.g.get(v) {
            for w in next {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Every `.rs` file under `dir` except test files, relative to `root`.
fn sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(root, &path, out);
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let is_test = name == "tests.rs" || name.starts_with("test_");
        if name.ends_with(".rs")
            && !is_test
            && let (Ok(rel), Ok(text)) = (path.strip_prefix(root), std::fs::read_to_string(&path))
        {
            out.push((rel.to_string_lossy().into_owned(), text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(f, s)| (f.to_string(), s.to_string()))
            .collect()
    }

    #[test]
    fn the_gateways_modules_have_no_cycle() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        sources(&root, &root, &mut all);
        assert!(all.len() > 50, "read only {} files", all.len());
        let found = cycles(&graph(&all));
        assert!(
            found.is_empty(),
            "module cycles (break them: move the shared item to a lower module):\n{}",
            found
                .iter()
                .map(|c| c.join(" <-> "))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn a_planted_cycle_is_found_and_a_child_naming_its_parent_is_not() {
        let dag = files(&[
            ("lib.rs", "pub mod a; pub mod b;"),
            (
                "a.rs",
                "use crate::b::Thing;\n// crate::a::never, a comment\n",
            ),
            ("b/mod.rs", "mod c; pub struct Thing; use self::c::X;"),
            (
                "b/c.rs",
                "use super::Thing; use super::super::b::Thing as T;",
            ),
        ]);
        assert!(
            cycles(&graph(&dag)).is_empty(),
            "{:?}",
            cycles(&graph(&dag))
        );

        let top = files(&[
            ("a.rs", "use crate::{b::Thing, c};"),
            ("b.rs", "fn f() { crate::a::g() }"),
        ]);
        assert_eq!(
            cycles(&graph(&top)),
            vec![vec!["a".to_string(), "b".to_string()]]
        );

        let siblings = files(&[
            ("p/mod.rs", "mod x; mod y;"),
            ("p/x.rs", "use super::y::Y;"),
            ("p/y.rs", "use crate::p::{x::X};"),
        ]);
        assert_eq!(
            cycles(&graph(&siblings)),
            vec![vec!["p::x".to_string(), "p::y".to_string()]]
        );

        // Test modules may name anything.
        let tests_only = files(&[
            ("a.rs", "use crate::b::B;"),
            (
                "b.rs",
                "pub struct B;\n#[cfg(test)]\nmod tests { use crate::a::A; }",
            ),
        ]);
        assert!(cycles(&graph(&tests_only)).is_empty());
    }

    #[test]
    fn use_groups_and_renames_are_read() {
        let paths =
            named_paths("use crate::{a::{b, c::D as E}, f};\nlet x = super::super::g::h(1);");
        let paths: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
        assert_eq!(
            paths,
            vec![
                "crate::a::b",
                "crate::a::c::D",
                "crate::f",
                "super::super::g::h"
            ]
        );
    }
}
