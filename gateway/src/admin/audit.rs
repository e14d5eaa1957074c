//! `GET /api/v1/audit?subject=&app=&actor=&action=&before=&limit=`: the
//! audit log, newest first (`limit` 1 to 1000, default 100; `subject` a
//! user id or e-mail; `actor` any part of it, in any case; `action` exact).

use super::AdminApp;
use super::response::{BadInput, json_response, rfc3339, store_failed};
use http::{Response, StatusCode};
use serde_json::{Value, json};

/// An audit record as the API shows it.
pub fn audit_json(e: &crate::store::AuditEntry) -> Value {
    json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "app": e.app,
        "detail": e.detail,
    })
}

impl AdminApp {
    /// `GET /api/v1/audit?subject=&app=&actor=&action=&before=&limit=`.
    pub(super) async fn audit(&self, query: Option<&str>) -> Response<Vec<u8>> {
        let mut q = crate::store::AuditQuery::default();
        for (k, v) in openidconnect::url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "subject" if !v.is_empty() => q.subject = Some(v.into_owned()),
                "app" if !v.is_empty() => q.app = Some(v.into_owned()),
                "actor" if !v.is_empty() => q.actor = Some(v.into_owned()),
                "action" if !v.is_empty() => q.action = Some(v.into_owned()),
                "subject" | "app" | "actor" | "action" => {}
                "before" => match v.parse::<i64>() {
                    Ok(n) => q.before_id = Some(n),
                    Err(_) => {
                        return BadInput::field("before", format!("`{v}` is not an entry id"))
                            .response();
                    }
                },
                "limit" => match BadInput::limit(&v) {
                    Ok(n) => q.limit = n,
                    Err(e) => return e.response(),
                },
                other => {
                    return BadInput::field(
                        "query",
                        format!(
                            "unknown parameter `{other}`; use subject, app, actor, action, before or limit"
                        ),
                    )
                    .response();
                }
            }
        }
        // A subject given as an e-mail means that user.
        if let Some(s) = q.subject.clone().filter(|s| s.contains('@')) {
            match self.gateway.store.get_user_by_email(&s).await {
                Ok(Some(u)) => q.subject = Some(u.id),
                Ok(None) => {}
                Err(e) => return store_failed(&e),
            }
        }
        match self.gateway.store.list_audit(&q).await {
            Ok(list) => json_response(
                StatusCode::OK,
                &json!({ "entries": list.iter().map(audit_json).collect::<Vec<_>>() }),
            ),
            Err(e) => store_failed(&e),
        }
    }
}
