//! The console's decision log: recorded decisions with filters (user, app,
//! decision, reason, time), and one decision's trace by request id — the
//! `crate::decision_log::Trace` that `portcullis explain` and
//! `GET /api/v1/decisions/{id}` show. The request-id box on every console
//! page asks `/.portcullis/admin/decisions?id=…`.

use super::{DECISIONS, Staff, request_id, when};
use crate::admin::{REASONS, parse_time};
use crate::decision_log::Trace;
use crate::html::encode_component;
use crate::portal::{Handler, Reply};
use crate::store::decisions::{DecisionQuery, StoredDecision};
use minijinja::context;

/// Decisions on one page of the list.
const PAGE: u32 = 50;

/// One recorded decision as a row of a table.
pub(super) fn row(d: &StoredDecision) -> minijinja::Value {
    let user = d
        .entry
        .get("user")
        .and_then(|u| u.get("email"))
        .and_then(|e| e.as_str())
        .unwrap_or("")
        .to_string();
    context! {
        url => format!("{DECISIONS}/{}", encode_component(&d.request_id)),
        request_id => d.request_id,
        at => when(d.at),
        app => d.app,
        user,
        decision => d.decision,
        reason => d.reason,
        path => d.entry.get("path").and_then(|p| p.as_str()).unwrap_or(""),
    }
}

impl Handler<'_> {
    /// `GET /.portcullis/admin/decisions`: the list, or with `id=` the
    /// trace of that request.
    pub(super) async fn decisions_page(&self, staff: &Staff) -> Reply {
        if let Some(raw) = self.query("id").filter(|v| !v.trim().is_empty()) {
            return match request_id(&raw) {
                Some(id) => Reply::redirect(format!("{DECISIONS}/{id}")),
                None => self.console_message(
                    staff,
                    400,
                    &self.t("console-not-request-id"),
                    &self.t("console-request-id-format"),
                ),
            };
        }
        let get = |n: &str| {
            self.query(n)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let (user, app, decision, reason, since, until, before) = (
            get("user"),
            get("app"),
            get("decision"),
            get("reason"),
            get("since"),
            get("until"),
            get("before"),
        );
        let mut q = DecisionQuery {
            limit: PAGE,
            ..DecisionQuery::default()
        };
        let mut errors = Vec::new();
        if !before.is_empty() {
            match before.parse::<i64>() {
                Ok(id) => q.before_id = Some(id),
                Err(_) => errors.push(self.t("console-bad-before")),
            }
        }
        if !app.is_empty() {
            q.app = Some(app.clone());
        }
        if !decision.is_empty() {
            if rules::Decision::parse(&decision).is_some() {
                q.decision = Some(decision.clone());
            } else {
                errors.push(self.t("console-bad-decision"));
            }
        }
        if !reason.is_empty() {
            if REASONS.contains(&reason.as_str()) {
                q.reason = Some(reason.clone());
            } else {
                errors.push(self.t("console-bad-reason"));
            }
        }
        let now = self.time();
        let time = |v: &str| parse_time(v, now).or_else(|| crate::guests::parse_until(v));
        if !since.is_empty() {
            match time(&since) {
                Some(t) => q.since = Some(t),
                None => errors.push(self.t("console-bad-since")),
            }
        }
        if !until.is_empty() {
            match time(&until) {
                Some(t) => q.until = Some(t),
                None => errors.push(self.t("console-bad-until")),
            }
        }
        let store = &self.gateway.store;
        if !user.is_empty() {
            if user.contains('@') {
                match store.get_user_by_email(&user).await {
                    Ok(Some(u)) => q.user = Some(u.id),
                    // Nobody with that address: nothing to list.
                    Ok(None) => q.user = Some(String::new()),
                    Err(e) => return self.unavailable("users", &e),
                }
            } else {
                q.user = Some(user.clone());
            }
        }
        let list = if errors.is_empty() {
            match store.list_decisions(&q).await {
                Ok(list) => list,
                Err(e) => return self.unavailable("decisions", &e),
            }
        } else {
            Vec::new()
        };
        let rows: Vec<minijinja::Value> = list.iter().map(row).collect();
        // Keyset paging: the next page is the rows older than this one's
        // last, with the same filters.
        let page_url = |before: Option<i64>| {
            let mut s = openidconnect::url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("user", &user),
                ("app", &app),
                ("decision", &decision),
                ("reason", &reason),
                ("since", &since),
                ("until", &until),
            ] {
                if !v.is_empty() {
                    s.append_pair(k, v);
                }
            }
            if let Some(b) = before {
                s.append_pair("before", &b.to_string());
            }
            let query = s.finish();
            if query.is_empty() {
                DECISIONS.to_string()
            } else {
                format!("{DECISIONS}?{query}")
            }
        };
        let older_url = (list.len() == PAGE as usize)
            .then(|| list.last().map(|d| page_url(Some(d.id))))
            .flatten();
        let newest_url = q.before_id.map(|_| page_url(None));
        // The chart: the last day, of the app filtered on (if any).
        let day = DecisionQuery {
            app: q.app.clone(),
            since: Some(now - time::Duration::hours(super::chart::HOURS)),
            limit: super::chart::MAX_READ,
            ..DecisionQuery::default()
        };
        let chart = match store.list_decisions(&day).await {
            Ok(list) => super::chart::chart(&list, now, self.lang),
            Err(e) => return self.unavailable("decisions", &e),
        };
        let apps: Vec<&str> = self
            .snapshot
            .config
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let error = (!errors.is_empty()).then(|| errors.join(" "));
        self.console_page(
            staff,
            if error.is_some() { 400 } else { 200 },
            "console/decisions.html",
            "decisions",
            context! {
                rows, apps, error, chart, older_url, newest_url,
                reasons => REASONS,
                decisions => ["allow", "block", "mfa", "sign_in"],
                f => context! { user, app, decision, reason, since, until },
            },
        )
    }

    /// `GET /.portcullis/admin/decisions/{request id}`: one decision's trace.
    pub(super) async fn decision_page(&self, staff: &Staff, raw: &str) -> Reply {
        let Some(id) = request_id(raw) else {
            return self.console_message(
                staff,
                400,
                &self.t("console-not-request-id"),
                &self.t("console-request-id-format"),
            );
        };
        let found = match self.gateway.store.get_decision(&id).await {
            Ok(f) => f,
            Err(e) => return self.unavailable("decision", &e),
        };
        let Some(d) = found else {
            return self.console_message(
                staff,
                404,
                &self.t("console-no-decision"),
                &self.t("console-no-decision-text"),
            );
        };
        let t: Trace = match serde_json::from_value(d.entry.clone()) {
            Ok(t) => t,
            Err(e) => return self.unavailable("decision entry", &e),
        };
        let user_url = match &t.user {
            Some(u) if u.user_type == "guest" => Some(format!(
                "/.portcullis/admin/guests/{}",
                encode_component(&u.id)
            )),
            _ => None,
        };
        let signed_in_ago = t
            .signed_in_ago
            .map(|s| rules::format_duration(std::time::Duration::from_secs(s)));
        let policies: Vec<minijinja::Value> = t
            .policies
            .iter()
            .map(|p| {
                context! {
                    name => p.name, state => p.state, applies => p.applies,
                    result => p.result, satisfied => p.satisfied,
                    condition => p.condition, why => p.why,
                }
            })
            .collect();
        self.console_page(
            staff,
            200,
            "console/decision.html",
            "decisions",
            context! {
                trace => context! {
                    request_id => t.request_id, time => t.time, decision => t.decision,
                    reason => t.reason, why => t.why, deciding_policy => t.deciding_policy,
                    recheck => t.recheck, app => t.app, host => t.host, method => t.method,
                    path => t.path, client_ip => t.client_ip, country => t.country,
                    locations => t.locations.join(", "), platform => t.platform,
                    client_app => t.client_app, mfa => t.mfa, signed_in_ago,
                    access_ended => t.access_ended, policies_complete => t.policies_complete,
                    user => t.user.as_ref().map(|u| context! {
                        id => u.id, email => u.email, kind => u.user_type,
                        groups => u.groups.join(", "), assigned => u.assigned,
                    }),
                },
                user_url, policies,
                table => t.table(),
            },
        )
    }
}
