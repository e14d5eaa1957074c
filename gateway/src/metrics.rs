//! Prometheus metrics. Names start with `portcullis_`; labels are bounded by
//! configuration (app, policy, idp, decision, result) and never carry a user,
//! an address or a path.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The label used for requests that matched no app (unknown host).
pub const NO_APP: &str = "-";

/// Every metric the gateway exports, registered in one registry.
pub struct Metrics {
    pub registry: Registry,
    /// `decision`: allow, block, mfa, sign_in, public (a public path or
    /// pre-flight), reserved (`/.portcullis/…`), not_found (unknown host),
    /// bad_request (refused before deciding), error (a deny because deciding
    /// failed).
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    /// What each policy asked (`result`: block, mfa, sign_in_frequency) when
    /// it applied, per state, so report-only policies show their effect.
    pub policy_results: IntCounterVec,
    /// 1 healthy, 0 down.
    pub upstream_health: IntGaugeVec,
    /// `result`: success, failure.
    pub config_reloads: IntCounterVec,
    pub config_last_reload_success: Gauge,
    /// Session and bearer-token checks that were not cache hits; `result` is
    /// `ok` or a `SessionError` name.
    pub token_verifications: IntCounterVec,
    /// Completed and failed sign-ins by IdP (`passcode` for the e-mail
    /// one-time passcode) and `result` (`ok` or a bounded failure name).
    pub sign_ins: IntCounterVec,
    /// MFA checks by `method` (`idp`, `totp`, `recovery_code`, `enroll`) and
    /// `result`.
    pub mfa: IntCounterVec,
    /// Invitation events on this replica: `created`, `resent`, `revoked`,
    /// `redeemed`.
    pub invitations: IntCounterVec,
    /// Guests by `state` (`active`, `blocked`, `without_access`), from the
    /// store, refreshed by each guest-lifecycle run.
    pub guests: IntGaugeVec,
    /// Revoked sessions held in memory (denied on every request).
    pub revoked_sessions: IntGauge,
    /// The verified-token cache: the bytes its entries hold (as its
    /// weigher counts them, against `server.session_cache_bytes`) and
    /// their number; set when the metrics are read.
    pub session_cache_bytes: IntGauge,
    pub session_cache_entries: IntGauge,
    /// Unix time of the last successful read of revocations from the store;
    /// alert when it falls behind (revocations from other replicas are then
    /// not applied here).
    pub revocations_last_sync: Gauge,
    /// 1 when the last round-trip to the store (the 1 s session-revocation
    /// poll) succeeded, 0 when it failed or timed out. Starts at 1: the
    /// gateway does not start without its store.
    pub store_up: IntGauge,
    /// The `notAfter` (Unix time) of the HTTPS listener's certificate, read
    /// at start (the certificate in service; a renewed file is served after a
    /// restart or a graceful upgrade). Absent without `listen.https`.
    pub tls_certificate_expiry: Gauge,
    /// Open long-lived connections (WebSocket, event stream, gRPC) that are
    /// re-decided every 500 ms (`proxy::live`).
    pub live_connections: IntGauge,
    /// Requests whose client closed the connection before the answer was
    /// complete (the client's doing: logged at debug, not as an error).
    pub client_disconnects: IntCounter,
    /// Connections closed by the limits of `connections`, by `reason`:
    /// `request_head_timeout`, `client_connection_limit`.
    pub connections_closed: IntCounterVec,
    /// Long-lived connections ended because access was no longer allowed,
    /// by the decision that ended them (`sign_in`, `block`, `mfa`, `error`,
    /// `app_removed`).
    pub live_connections_ended: IntCounterVec,
    /// Decision-log entries dropped because the store was slow or down (a
    /// full queue, or a batch not written in time); requests never wait.
    pub decision_log_dropped: IntCounter,
    pub build_info: GaugeVec,
}

/// One metric family as the registry exports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    /// The name without a suffix (`portcullis_request_duration_seconds`).
    pub name: String,
    /// Its label names (histograms' `le` not included).
    pub labels: Vec<String>,
    /// True for histograms: exported as `_bucket` (with `le`), `_sum` and
    /// `_count`.
    pub histogram: bool,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("portcullis_requests_total", "Requests by app and decision."),
            &["app", "decision"],
        )
        .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_request_duration_seconds",
                "Time from the request head to the end of the response, by app.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["app"],
        )
        .expect("valid metric");
        let policy_results = IntCounterVec::new(
            Opts::new(
                "portcullis_policy_results_total",
                "Policies that applied, by what they asked; report-only ones show what they would have done.",
            ),
            &["policy", "state", "result"],
        )
        .expect("valid metric");
        let upstream_health = IntGaugeVec::new(
            Opts::new(
                "portcullis_upstream_health",
                "1 when the upstream passes its health check, else 0.",
            ),
            &["app", "upstream"],
        )
        .expect("valid metric");
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "portcullis_config_reloads_total",
                "Configuration reloads by result.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let config_last_reload_success = Gauge::new(
            "portcullis_config_last_reload_success_timestamp_seconds",
            "Unix time of the last configuration load that was put in service.",
        )
        .expect("valid metric");
        let token_verifications = IntCounterVec::new(
            Opts::new(
                "portcullis_token_verifications_total",
                "Session cookies and bearer tokens verified (cache misses), by kind and result.",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let sign_ins = IntCounterVec::new(
            Opts::new(
                "portcullis_sign_ins_total",
                "Sign-ins by identity provider and result.",
            ),
            &["idp", "result"],
        )
        .expect("valid metric");
        let mfa = IntCounterVec::new(
            Opts::new(
                "portcullis_mfa_total",
                "Multi-factor checks by method and result.",
            ),
            &["method", "result"],
        )
        .expect("valid metric");
        let revoked_sessions = IntGauge::new(
            "portcullis_revoked_sessions",
            "Revoked sessions held in memory until they expire.",
        )
        .expect("valid metric");
        let session_cache_bytes = IntGauge::new(
            "portcullis_session_cache_bytes",
            "Bytes held by the verified-token cache (limit: server.session_cache_bytes).",
        )
        .expect("valid metric");
        let session_cache_entries = IntGauge::new(
            "portcullis_session_cache_entries",
            "Verified session cookies and bearer tokens held in memory.",
        )
        .expect("valid metric");
        let revocations_last_sync = Gauge::new(
            "portcullis_session_revocations_last_sync_timestamp_seconds",
            "Unix time of the last successful read of session revocations from the store.",
        )
        .expect("valid metric");
        let invitations = IntCounterVec::new(
            Opts::new(
                "portcullis_invitations_total",
                "Guest invitation events by kind (created, resent, revoked, redeemed).",
            ),
            &["event"],
        )
        .expect("valid metric");
        let guests = IntGaugeVec::new(
            Opts::new(
                "portcullis_guests",
                "Guest users by state (active: a live assignment; without_access: active, none live).",
            ),
            &["state"],
        )
        .expect("valid metric");
        let store_up = IntGauge::new(
            "portcullis_store_up",
            "1 when the last store round-trip (the session-revocation poll) succeeded, else 0.",
        )
        .expect("valid metric");
        store_up.set(1);
        let tls_certificate_expiry = Gauge::new(
            "portcullis_tls_certificate_expiry_timestamp_seconds",
            "Unix time at which the HTTPS listener's certificate expires (its notAfter).",
        )
        .expect("valid metric");
        let decision_log_dropped = IntCounter::new(
            "portcullis_decision_log_dropped_total",
            "Decision-log entries dropped because the store was slow or down.",
        )
        .expect("valid metric");
        let client_disconnects = IntCounter::new(
            "portcullis_client_disconnects_total",
            "Requests whose client closed the connection before the answer was complete.",
        )
        .expect("valid metric");
        let connections_closed = IntCounterVec::new(
            Opts::new(
                "portcullis_connections_closed_total",
                "Client connections closed by the connection limits, by reason (request_head_timeout, client_connection_limit).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for reason in ["request_head_timeout", "client_connection_limit"] {
            connections_closed.with_label_values(&[reason]);
        }
        let live_connections = IntGauge::new(
            "portcullis_live_connections",
            "Open long-lived connections (WebSocket, event stream, gRPC) re-decided while open.",
        )
        .expect("valid metric");
        let live_connections_ended = IntCounterVec::new(
            Opts::new(
                "portcullis_live_connections_ended_total",
                "Long-lived connections ended because access was no longer allowed, by decision.",
            ),
            &["decision"],
        )
        .expect("valid metric");
        let build_info = GaugeVec::new(
            Opts::new(
                "portcullis_build_info",
                "Always 1; the labels say which build runs.",
            ),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        for c in [
            Box::new(requests.clone()) as Box<dyn Collector>,
            Box::new(request_duration.clone()),
            Box::new(policy_results.clone()),
            Box::new(upstream_health.clone()),
            Box::new(config_reloads.clone()),
            Box::new(config_last_reload_success.clone()),
            Box::new(token_verifications.clone()),
            Box::new(sign_ins.clone()),
            Box::new(mfa.clone()),
            Box::new(invitations.clone()),
            Box::new(guests.clone()),
            Box::new(revoked_sessions.clone()),
            Box::new(session_cache_bytes.clone()),
            Box::new(session_cache_entries.clone()),
            Box::new(revocations_last_sync.clone()),
            Box::new(store_up.clone()),
            Box::new(live_connections.clone()),
            Box::new(live_connections_ended.clone()),
            Box::new(client_disconnects.clone()),
            Box::new(connections_closed.clone()),
            Box::new(decision_log_dropped.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            request_duration,
            policy_results,
            upstream_health,
            config_reloads,
            config_last_reload_success,
            token_verifications,
            sign_ins,
            mfa,
            invitations,
            guests,
            revoked_sessions,
            session_cache_bytes,
            session_cache_entries,
            revocations_last_sync,
            store_up,
            tls_certificate_expiry,
            live_connections,
            live_connections_ended,
            client_disconnects,
            connections_closed,
            decision_log_dropped,
            build_info,
        }
    }

    /// Registers the certificate-expiry gauge and sets it to `not_after`
    /// (Unix seconds). Called once at start when an HTTPS listener is
    /// configured, so a plain-HTTP gateway does not export a meaningless 0.
    pub fn set_tls_certificate_expiry(&self, not_after: i64) {
        self.tls_certificate_expiry.set(not_after as f64);
        // Already registered (a second call): the value above is the update.
        let _ = self
            .registry
            .register(Box::new(self.tls_certificate_expiry.clone()));
    }

    /// Every metric family the gateway can export, with its labels: the
    /// source of truth for the dashboards and alerts under `deploy/`
    /// (tests/deploy.rs). Includes the certificate-expiry gauge, which is
    /// exported only with an HTTPS listener.
    pub fn families(&self) -> Vec<Family> {
        let histograms = [self.request_duration.desc()[0].fq_name.clone()];
        let collectors: [&dyn Collector; 23] = [
            &self.requests,
            &self.request_duration,
            &self.policy_results,
            &self.upstream_health,
            &self.config_reloads,
            &self.config_last_reload_success,
            &self.token_verifications,
            &self.sign_ins,
            &self.mfa,
            &self.invitations,
            &self.guests,
            &self.revoked_sessions,
            &self.session_cache_bytes,
            &self.session_cache_entries,
            &self.revocations_last_sync,
            &self.store_up,
            &self.tls_certificate_expiry,
            &self.live_connections,
            &self.live_connections_ended,
            &self.client_disconnects,
            &self.connections_closed,
            &self.decision_log_dropped,
            &self.build_info,
        ];
        let mut families: Vec<Family> = collectors
            .iter()
            .flat_map(|c| c.desc())
            .map(|d| Family {
                name: d.fq_name.clone(),
                labels: d.variable_labels.clone(),
                histogram: histograms.contains(&d.fq_name),
            })
            .collect();
        families.sort_by(|a, b| a.name.cmp(&b.name));
        families.dedup();
        families
    }

    /// The names of every series [`Metrics::families`] exports: histograms
    /// expand to `_bucket`, `_sum` and `_count`.
    pub fn names(&self) -> Vec<String> {
        self.families()
            .into_iter()
            .flat_map(|f| {
                if f.histogram {
                    ["_bucket", "_sum", "_count"]
                        .iter()
                        .map(|s| format!("{}{s}", f.name))
                        .collect()
                } else {
                    vec![f.name]
                }
            })
            .collect()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// The `notAfter` (Unix seconds) of the first certificate in a PEM file
/// (the leaf, as TLS servers expect it first).
pub fn certificate_not_after(path: &std::path::Path) -> Result<i64, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| format!("{}: no `BEGIN CERTIFICATE` block", path.display()))?
        .map_err(|e| format!("{}: not PEM: {e}", path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("{}: the certificate does not parse: {e}", path.display()))?;
    Ok(cert.validity().not_after.timestamp())
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_metric_is_exported() {
        let m = Metrics::new();
        m.requests.with_label_values(&["payroll", "allow"]).inc();
        m.request_duration
            .with_label_values(&["payroll"])
            .observe(0.001);
        m.policy_results
            .with_label_values(&["p", "report_only", "block"])
            .inc();
        m.upstream_health
            .with_label_values(&["payroll", "127.0.0.1:9001"])
            .set(1);
        m.config_reloads.with_label_values(&["success"]).inc();
        m.token_verifications
            .with_label_values(&["cookie", "ok"])
            .inc();
        m.sign_ins.with_label_values(&["demo", "ok"]).inc();
        m.mfa.with_label_values(&["totp", "ok"]).inc();
        m.invitations.with_label_values(&["created"]).inc();
        m.guests.with_label_values(&["active"]).set(3);
        m.live_connections_ended
            .with_label_values(&["sign_in"])
            .inc();
        let text = String::from_utf8(m.render()).expect("utf-8");
        for name in [
            "portcullis_requests_total{app=\"payroll\",decision=\"allow\"} 1",
            "portcullis_request_duration_seconds_bucket",
            "portcullis_policy_results_total{policy=\"p\",result=\"block\",state=\"report_only\"} 1",
            "portcullis_upstream_health{app=\"payroll\",upstream=\"127.0.0.1:9001\"} 1",
            "portcullis_config_reloads_total{result=\"success\"} 1",
            "portcullis_config_last_reload_success_timestamp_seconds",
            "portcullis_token_verifications_total",
            "portcullis_sign_ins_total{idp=\"demo\",result=\"ok\"} 1",
            "portcullis_mfa_total{method=\"totp\",result=\"ok\"} 1",
            "portcullis_invitations_total{event=\"created\"} 1",
            "portcullis_guests{state=\"active\"} 3",
            "portcullis_build_info{version=",
            "portcullis_revoked_sessions 0",
            "portcullis_session_revocations_last_sync_timestamp_seconds",
            "portcullis_store_up 1",
            "portcullis_live_connections 0",
            "portcullis_live_connections_ended_total{decision=\"sign_in\"} 1",
            // Exported from the start at 0, so a rate works at once.
            "portcullis_client_disconnects_total 0",
            "portcullis_decision_log_dropped_total 0",
            "portcullis_connections_closed_total{reason=\"request_head_timeout\"} 0",
            "portcullis_connections_closed_total{reason=\"client_connection_limit\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        assert!(
            !text.contains("portcullis_tls_certificate_expiry_timestamp_seconds"),
            "exported only with an HTTPS listener"
        );
        m.set_tls_certificate_expiry(1_900_000_000);
        m.set_tls_certificate_expiry(1_900_000_001);
        let text = String::from_utf8(m.render()).expect("utf-8");
        assert!(
            text.contains("portcullis_tls_certificate_expiry_timestamp_seconds 1900000001"),
            "{text}"
        );
    }

    #[test]
    fn families_and_names_cover_every_registered_metric() {
        let m = Metrics::new();
        m.set_tls_certificate_expiry(1);
        let families = m.families();
        // Every registered family is listed, with its labels.
        for f in m.registry.gather() {
            let listed = families
                .iter()
                .find(|x| x.name == f.name())
                .unwrap_or_else(|| panic!("{} not in families()", f.name()));
            for metric in f.get_metric() {
                for label in metric.get_label() {
                    assert!(listed.labels.iter().any(|l| l == label.name()));
                }
            }
        }
        let requests = families
            .iter()
            .find(|f| f.name == "portcullis_requests_total")
            .expect("requests");
        assert_eq!(requests.labels, ["app", "decision"]);
        let names = m.names();
        for n in [
            "portcullis_request_duration_seconds_bucket",
            "portcullis_request_duration_seconds_sum",
            "portcullis_request_duration_seconds_count",
            "portcullis_store_up",
            "portcullis_tls_certificate_expiry_timestamp_seconds",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing in {names:?}");
        }
        assert!(!names.contains(&"portcullis_request_duration_seconds".to_string()));
    }

    #[test]
    fn certificate_not_after_reads_the_leaf_of_a_pem_file() {
        let mut params = rcgen::CertificateParams::new(vec!["gw.example".into()]).expect("params");
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, cert.pem()).expect("write");
        // 2031-05-17T00:00:00Z
        assert_eq!(certificate_not_after(&path), Ok(1_936_742_400));
        std::fs::write(&path, "not a certificate").expect("write");
        let err = certificate_not_after(&path).expect_err("no PEM");
        assert!(err.contains("BEGIN CERTIFICATE"), "{err}");
        assert!(certificate_not_after(&dir.path().join("missing.pem")).is_err());
    }
}
