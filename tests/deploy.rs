//! The files under `deploy/` against the gateway they deploy:
//! - every metric a Grafana panel or a Prometheus rule queries is one the
//!   gateway exports (`Metrics::families`, the registry itself), with the
//!   labels it has; a typo or a renamed metric fails here, not on a blank
//!   dashboard or a silent alert;
//! - every exported metric appears on the dashboard;
//! - the alerts cover what the issue asks for (error rate, p99 latency,
//!   reload failures, upstream down, store down, certificate expiry);
//! - the Kubernetes ConfigMap's config and rules pass `portcullis check` and
//!   `portcullis rules test`.
//!
//! The tools that check the files' own syntax (promtool, hadolint,
//! kubernetes-validate, systemd-analyze) run in `scripts/check-deploy`.

use portcullis::metrics::{Family, Metrics};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

fn read(path: &str) -> String {
    let p = deploy(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Labels every scraped series carries besides its own (Prometheus adds
/// them at scrape time).
const TARGET_LABELS: &[&str] = &["instance", "job"];

/// A metric as a query names it, with the labels its matchers use.
#[derive(Debug, PartialEq, Eq)]
struct MetricRef {
    name: String,
    matchers: Vec<String>,
}

/// What a PromQL expression refers to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Refs {
    /// Identifiers starting with `portcullis_` or `portcullis:` (recording
    /// rules), with their `{…}` matchers' label names.
    metrics: Vec<MetricRef>,
    /// Label names in `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`,
    /// `group_left (…)`, `group_right (…)` and `label_values(m, label)`.
    grouping: Vec<String>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Extracts the metric names and label names of a PromQL expression (or a
/// Grafana `label_values(…)` query). A small scanner, not a parser: it skips
/// string literals and comments, so `{app="portcullis_x"}` names no metric,
/// and reads the label names of matchers and grouping clauses.
fn refs(expr: &str) -> Refs {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Refs::default();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // Reads a string literal starting at `j` (a quote); returns the index
    // after it.
    let skip_string = |j: usize| {
        let quote = chars[j];
        let mut k = j + 1;
        while k < chars.len() && chars[k] != quote {
            if chars[k] == '\\' && quote != '`' {
                k += 1;
            }
            k += 1;
        }
        k + 1
    };
    let ident_at = |j: usize| -> (String, usize) {
        let mut k = j;
        while k < chars.len() && is_ident(chars[k]) {
            k += 1;
        }
        (chars[j..k].iter().collect(), k)
    };
    // The comma-separated label names in parentheses at `j` (after spaces).
    let label_list = |j: usize| -> (Vec<String>, usize) {
        let mut k = skip_ws(j);
        let mut labels = Vec::new();
        if k >= chars.len() || chars[k] != '(' {
            return (labels, j);
        }
        k += 1;
        while k < chars.len() && chars[k] != ')' {
            if is_ident_start(chars[k]) {
                let (l, next) = ident_at(k);
                labels.push(l);
                k = next;
            } else {
                k += 1;
            }
        }
        (labels, k + 1)
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(i);
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '[' {
            // A range or subquery duration: `[5m]`, `[$__rate_interval]`.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '$' || c == '.' {
            // A number (`1e3`, `0x1f`) or a Grafana variable: not a name.
            i += 1;
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let (word, next) = ident_at(i);
            i = next;
            match word.as_str() {
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" => {
                    let (labels, next) = label_list(i);
                    out.grouping.extend(labels);
                    i = next;
                }
                "label_values" => {
                    // label_values(metric, label) or label_values(label)
                    let (args, _) = label_list(i);
                    if let Some(label) = args.last().filter(|_| args.len() == 2) {
                        out.grouping.push(label.clone());
                    }
                }
                _ if word.starts_with("portcullis_") || word.starts_with("portcullis:") => {
                    let mut matchers = Vec::new();
                    let mut k = skip_ws(i);
                    if k < chars.len() && chars[k] == '{' {
                        k += 1;
                        while k < chars.len() && chars[k] != '}' {
                            if chars[k] == '"' || chars[k] == '\'' || chars[k] == '`' {
                                k = skip_string(k);
                            } else if is_ident_start(chars[k]) {
                                let (l, next) = ident_at(k);
                                matchers.push(l);
                                k = next;
                            } else {
                                k += 1;
                            }
                        }
                        i = k + 1;
                    }
                    out.metrics.push(MetricRef {
                        name: word,
                        matchers,
                    });
                }
                _ => {}
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The series the gateway exports: name → its label names (histogram
/// series carry `le` on `_bucket`).
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let mut series = BTreeMap::new();
    let families = Metrics::new().families();
    for Family {
        name,
        labels,
        histogram,
    } in families
    {
        let labels: BTreeSet<String> = labels.into_iter().collect();
        if histogram {
            let mut bucket = labels.clone();
            bucket.insert("le".into());
            series.insert(format!("{name}_bucket"), bucket);
            series.insert(format!("{name}_sum"), labels.clone());
            series.insert(format!("{name}_count"), labels);
        } else {
            series.insert(name, labels);
        }
    }
    series
}

/// Checks one expression; `recorded` are the recording rules' names and the
/// labels they keep. Returns one message per problem.
fn check_expr(
    expr: &str,
    exported: &BTreeMap<String, BTreeSet<String>>,
    recorded: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let r = refs(expr);
    let mut problems = Vec::new();
    if r.metrics.is_empty() {
        problems.push(format!("queries no portcullis metric: {expr}"));
    }
    let mut known_labels: BTreeSet<String> = TARGET_LABELS.iter().map(|s| s.to_string()).collect();
    for m in &r.metrics {
        let labels = match exported.get(&m.name).or_else(|| recorded.get(&m.name)) {
            Some(l) => l,
            None => {
                problems.push(format!(
                    "`{}` is not a metric the gateway exports (nor a recording rule): {expr}",
                    m.name
                ));
                continue;
            }
        };
        known_labels.extend(labels.iter().cloned());
        for l in &m.matchers {
            if !labels.contains(l) && !TARGET_LABELS.contains(&l.as_str()) {
                problems.push(format!(
                    "`{}` has no label `{l}` (it has {labels:?}): {expr}",
                    m.name
                ));
            }
        }
    }
    for l in &r.grouping {
        if !known_labels.contains(l) {
            problems.push(format!(
                "label `{l}` is on none of the metrics the query names: {expr}"
            ));
        }
    }
    problems
}

/// Every `expr` of the dashboard's panels and the queries of its variables.
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    ("query" | "definition", Value::String(s)) if s.contains("portcullis") => {
                        out.push(s.clone())
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// A rule's name (`record` or `alert`) and its expression.
type Rule = (String, String);

/// The Prometheus rule file: its recording rules and its alerts.
fn prometheus_rules() -> (Vec<Rule>, Vec<Rule>) {
    let doc = yaml("prometheus/alerts.yaml");
    let (mut records, mut alerts) = (Vec::new(), Vec::new());
    for group in doc["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr").to_string();
            match (rule["record"].as_str(), rule["alert"].as_str()) {
                (Some(name), None) => records.push((name.to_string(), expr)),
                (None, Some(name)) => alerts.push((name.to_string(), expr)),
                _ => panic!("a rule is either `record` or `alert`: {rule}"),
            }
        }
    }
    (records, alerts)
}

/// The labels a recording rule keeps: its `by (…)` labels (every rule here
/// aggregates with `by`).
fn recorded_labels(records: &[Rule]) -> BTreeMap<String, BTreeSet<String>> {
    records
        .iter()
        .map(|(name, expr)| {
            let mut labels: BTreeSet<String> = refs(expr).grouping.into_iter().collect();
            // histogram_quantile drops `le`.
            labels.remove("le");
            (name.clone(), labels)
        })
        .collect()
}

#[test]
fn the_scanner_finds_metrics_and_labels_and_skips_strings() {
    let r = refs(
        r#"sum by (app, le) (rate(portcullis_request_duration_seconds_bucket{app=~"$app", decision!="portcullis_x"}[$__rate_interval])) / 1e3 # portcullis_comment"#,
    );
    assert_eq!(
        r.metrics,
        [MetricRef {
            name: "portcullis_request_duration_seconds_bucket".into(),
            matchers: vec!["app".into(), "decision".into()],
        }]
    );
    assert_eq!(r.grouping, ["app", "le"]);
    let r = refs("sum(rate(portcullis_requests_total[5m])) without (decision) > 0.05");
    assert_eq!(r.metrics[0].name, "portcullis_requests_total");
    assert_eq!(r.grouping, ["decision"]);
    let r = refs("label_values(portcullis_requests_total, app)");
    assert_eq!(r.metrics[0].name, "portcullis_requests_total");
    assert_eq!(r.grouping, ["app"]);
    let r = refs("portcullis:requests:rate5m{app=\"x\"}");
    assert_eq!(r.metrics[0].name, "portcullis:requests:rate5m");
}

#[test]
fn the_check_rejects_unknown_metrics_and_labels() {
    let exported = exported();
    let none = BTreeMap::new();
    assert!(check_expr("rate(portcullis_requests_total[5m])", &exported, &none).is_empty());
    let p = check_expr("rate(portcullis_request_total[5m])", &exported, &none);
    assert!(
        p[0].contains("`portcullis_request_total` is not a metric"),
        "{p:?}"
    );
    let p = check_expr(
        "portcullis_upstream_health{host=\"a\"} == 0",
        &exported,
        &none,
    );
    assert!(p[0].contains("has no label `host`"), "{p:?}");
    let p = check_expr(
        "sum by (user) (rate(portcullis_requests_total[5m]))",
        &exported,
        &none,
    );
    assert!(p[0].contains("label `user`"), "{p:?}");
    // A histogram is queried through its series, never by its bare name.
    let p = check_expr(
        "rate(portcullis_request_duration_seconds[5m])",
        &exported,
        &none,
    );
    assert!(p[0].contains("is not a metric"), "{p:?}");
    let p = check_expr("up == 0", &exported, &none);
    assert!(p[0].contains("queries no portcullis metric"), "{p:?}");
    assert!(
        check_expr(
            "portcullis_store_up{instance=\"gw-1\"} == 0",
            &exported,
            &none
        )
        .is_empty()
    );
}

#[test]
fn every_grafana_query_names_an_exported_metric_and_every_metric_has_a_panel() {
    let dashboard: Value = serde_json::from_str(&read("grafana/portcullis.json"))
        .expect("deploy/grafana/portcullis.json is JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 15, "found only {} queries", queries.len());
    let exported = exported();
    let problems: Vec<String> = queries
        .iter()
        .flat_map(|q| check_expr(q, &exported, &BTreeMap::new()))
        .collect();
    assert!(
        problems.is_empty(),
        "deploy/grafana/portcullis.json:\n{}",
        problems.join("\n")
    );

    // Every family the gateway exports is on the dashboard.
    let used: BTreeSet<String> = queries
        .iter()
        .flat_map(|q| refs(q).metrics)
        .map(|m| m.name)
        .collect();
    let unused: Vec<String> = Metrics::new()
        .families()
        .into_iter()
        .filter(|f| {
            let series = if f.histogram {
                vec![
                    format!("{}_bucket", f.name),
                    format!("{}_sum", f.name),
                    format!("{}_count", f.name),
                ]
            } else {
                vec![f.name.clone()]
            };
            !series.iter().any(|s| used.contains(s))
        })
        .map(|f| f.name)
        .collect();
    assert!(
        unused.is_empty(),
        "metrics the gateway exports but no panel of deploy/grafana/portcullis.json shows: {unused:?}"
    );

    // Panels use the `datasource` variable, so the dashboard imports anywhere.
    for p in dashboard["panels"].as_array().expect("panels") {
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
}

#[test]
fn every_prometheus_rule_names_an_exported_metric() {
    let (records, alerts) = prometheus_rules();
    let exported = exported();
    let recorded = recorded_labels(&records);
    for name in recorded.keys() {
        assert!(name.starts_with("portcullis:"), "recording rule {name}");
    }
    let problems: Vec<String> = records
        .iter()
        .chain(alerts.iter())
        .flat_map(|(name, expr)| {
            check_expr(expr, &exported, &recorded)
                .into_iter()
                .map(move |p| format!("{name}: {p}"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "deploy/prometheus/alerts.yaml:\n{}",
        problems.join("\n")
    );

    // The alerts the operations issue asks for, by the metric each watches.
    let watched = |metric: &str| -> Vec<&str> {
        alerts
            .iter()
            .filter(|(_, e)| refs(e).metrics.iter().any(|m| m.name == metric))
            .map(|(n, _)| n.as_str())
            .collect()
    };
    for (what, metric) in [
        ("error rate", "portcullis_requests_total"),
        ("p99 latency", "portcullis_request_duration_seconds_bucket"),
        ("reload failures", "portcullis_config_reloads_total"),
        ("upstream down", "portcullis_upstream_health"),
        ("store down", "portcullis_store_up"),
        (
            "certificate expiry",
            "portcullis_tls_certificate_expiry_timestamp_seconds",
        ),
    ] {
        assert!(!watched(metric).is_empty(), "no alert on {what} ({metric})");
    }
}

#[test]
fn the_kubernetes_config_and_rules_pass_check_and_their_tests() {
    let cm = yaml("kubernetes/configmap.yaml");
    let config = cm["data"]["portcullis.yaml"]
        .as_str()
        .expect("portcullis.yaml");
    let rules = cm["data"]["access.yaml"].as_str().expect("access.yaml");
    // The Deployment mounts the Secret here; a stand-in token for the check.
    let secrets = "/run/secrets/portcullis/";
    assert!(
        config.contains(secrets),
        "the admin token comes from the Secret"
    );
    // postgres://USER@HOST/…: a password would be `USER:PASSWORD@`.
    let url = config
        .split("postgres://")
        .nth(1)
        .expect("a store.postgres URL");
    let user_info = url.split('@').next().unwrap_or_default();
    assert!(
        !user_info.contains(':'),
        "no password in the ConfigMap's URL: PGPASSWORD comes from the Secret"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    std::fs::write(
        dir.path().join("secrets/admin-token"),
        "a-stand-in-admin-token-of-enough-length-0123456789",
    )
    .expect("token");
    let local = config.replace(secrets, &format!("{}/secrets/", dir.path().display()));
    let path = dir.path().join("portcullis.yaml");
    std::fs::write(&path, local).expect("config");
    std::fs::write(dir.path().join("rules/access.yaml"), rules).expect("rules");
    for args in [
        &["check", "--config"][..],
        &["rules", "test", "--config"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .arg(&path)
            .output()
            .expect("run portcullis");
        assert!(
            out.status.success(),
            "portcullis {args:?} on deploy/kubernetes/configmap.yaml:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The Deployment mounts the keys the config reads.
    let deployment = yaml("kubernetes/deployment.yaml");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("\"rules/access.yaml\"") && volumes.contains("\"admin-token\""));
}
