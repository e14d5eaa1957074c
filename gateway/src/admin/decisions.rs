//! The decision log over the admin API (issue 18):
//! `GET /api/v1/decisions/{request_id}` — one decision's whole trace (the
//! `portcullis explain --json` object), so a help desk answers "why was I
//! blocked" from the id on the 403 page; and
//! `GET /api/v1/decisions?user=&app=&decision=&reason=&since=&until=&limit=`
//! — recorded decisions, newest first.

use super::AdminApp;
use super::response::{BadInput, json_response, not_found, store_failed};
use crate::store::decisions::DecisionQuery;
use http::{Response, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The closed set of reasons a refusal can have (DESIGN.md).
pub const REASONS: &[&str] = &[
    "not_shared",
    "access_ended",
    "mfa_required",
    "stronger_mfa_required",
    "location",
    "device_platform",
    "policy_block",
    "account_blocked",
    "sign_in_required",
];

/// A time given as RFC 3339, or as a duration meaning that long ago
/// (`since=7d`).
pub fn parse_time(v: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t);
    }
    let ago = rules::parse_duration(v)?;
    Some(now - time::Duration::try_from(ago).ok()?)
}

impl AdminApp {
    /// `GET /api/v1/decisions/{request_id}`.
    pub(super) async fn decision(&self, request_id: &str) -> Response<Vec<u8>> {
        match self.gateway.store.get_decision(request_id).await {
            Ok(Some(d)) => json_response(StatusCode::OK, &d.entry),
            Ok(None) => not_found(),
            Err(e) => store_failed(&e),
        }
    }

    /// `GET /api/v1/decisions?user=&app=&decision=&reason=&since=&until=&limit=`.
    pub(super) async fn decisions(&self, query: Option<&str>) -> Response<Vec<u8>> {
        let mut q = DecisionQuery::default();
        let now = OffsetDateTime::now_utc();
        for (k, v) in openidconnect::url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if v.is_empty() {
                continue;
            }
            match &*k {
                "user" => q.user = Some(v.into_owned()),
                "app" => q.app = Some(v.into_owned()),
                "decision" if rules::Decision::parse(&v).is_some() => {
                    q.decision = Some(v.into_owned());
                }
                "decision" => {
                    return BadInput::field(
                        "decision",
                        format!("`{v}` is not a decision; use allow, block, mfa or sign_in"),
                    )
                    .response();
                }
                "reason" if REASONS.contains(&&*v) => q.reason = Some(v.into_owned()),
                "reason" => {
                    return BadInput::field(
                        "reason",
                        format!("`{v}` is not a reason; use one of {}", REASONS.join(", ")),
                    )
                    .response();
                }
                "since" | "until" => {
                    let Some(t) = parse_time(&v, now) else {
                        return BadInput::field(
                            &k,
                            format!("`{v}` is not a time; use RFC 3339 or a duration ago like 7d"),
                        )
                        .response();
                    };
                    if k == "since" {
                        q.since = Some(t);
                    } else {
                        q.until = Some(t);
                    }
                }
                "limit" => match BadInput::limit(&v) {
                    Ok(n) => q.limit = n,
                    Err(e) => return e.response(),
                },
                other => {
                    return BadInput::field(
                        "query",
                        format!(
                            "unknown parameter `{other}`; use user, app, decision, reason, since, until or limit"
                        ),
                    )
                    .response();
                }
            }
        }
        // A user given as an e-mail means that user.
        if let Some(s) = q.user.clone().filter(|s| s.contains('@')) {
            match self.gateway.store.get_user_by_email(&s).await {
                Ok(Some(u)) => q.user = Some(u.id),
                Ok(None) => return json_response(StatusCode::OK, &json!({ "decisions": [] })),
                Err(e) => return store_failed(&e),
            }
        }
        match self.gateway.store.list_decisions(&q).await {
            Ok(list) => json_response(
                StatusCode::OK,
                &json!({ "decisions": list.into_iter().map(|d| d.entry).collect::<Vec<_>>() }),
            ),
            Err(e) => store_failed(&e),
        }
    }
}
