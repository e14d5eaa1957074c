//! `GET /api/v1/guests`, `GET|DELETE /api/v1/guests/{id}`,
//! `PUT|DELETE /api/v1/guests/{id}/assignments/{app}`: guests (by id or
//! e-mail) with their assignments, as `portcullis guests`. `PUT` grants or
//! extends with `{"days": N}` or `{"until": "YYYY-MM-DD" | RFC 3339}`;
//! deleting a guest ends their sessions first.

use super::AdminApp;
use super::invitations::parse_until;
use super::response::{BadInput, json_response, not_found, rfc3339, store_failed};
use super::routes::{GuestRoute, percent_decode};
use http::{Method, Response, StatusCode};
use rules::UserType;
use serde_json::{Value, json};
use tracing::warn;

/// A guest with their assignments, as the API (and `guests show --json`)
/// shows it.
pub fn guest_json(
    u: &crate::store::User,
    assignments: &[crate::store::Assignment],
    now: time::OffsetDateTime,
) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "display_name": u.display_name,
        "state": u.state.as_str(),
        "created_at": rfc3339(u.created_at),
        "idp": u.identity.as_ref().map(|i| i.idp.clone()),
        "assignments": assignments.iter().map(|a| json!({
            "app": a.app,
            "granted_at": rfc3339(a.granted_at),
            "expires_at": a.expires_at.map(rfc3339),
            "granted_by": a.granted_by,
            "live": a.is_live(now),
        })).collect::<Vec<_>>(),
    })
}

/// The end of a grant or extension: `days` from `now` (1 to 366) or
/// `until` (RFC 3339 or `YYYY-MM-DD`, UTC midnight; in the future, at most
/// 366 days ahead). Exactly one. `Err((field, message))` names the input.
pub fn access_end(
    days: Option<i64>,
    until: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<time::OffsetDateTime, (&'static str, String)> {
    let max = i64::from(crate::invite::MAX_ACCESS_DAYS);
    match (days, until) {
        (Some(_), Some(_)) => Err(("until", "give days or until, not both".into())),
        (None, None) => Err(("days", format!("give days (1 to {max}) or until (a date)"))),
        (Some(d), None) if !(1..=max).contains(&d) => {
            Err(("days", format!("`{d}` is out of range; use 1 to {max}")))
        }
        (Some(d), None) => Ok(now + time::Duration::days(d)),
        (None, Some(s)) => match parse_until(s) {
            None => Err((
                "until",
                format!("`{s}` is not an RFC 3339 time or a date like 2026-12-31"),
            )),
            Some(t) if t <= now => Err(("until", format!("`{s}` is not in the future"))),
            Some(t) if t > now + time::Duration::days(max) => {
                Err(("until", format!("`{s}` is more than {max} days ahead")))
            }
            Some(t) => Ok(t),
        },
    }
}

/// The guest with this id or e-mail (`None`: no such user, or a member).
pub async fn find_guest(
    store: &crate::store::Store,
    id_or_email: &str,
) -> Result<Option<crate::store::User>, crate::store::StoreError> {
    let user = if id_or_email.contains('@') {
        store.get_user_by_email(id_or_email).await?
    } else {
        store.get_user(id_or_email).await?
    };
    Ok(user.filter(|u| u.user_type == UserType::Guest))
}

/// The JSON body of `PUT /api/v1/guests/{id}/assignments/{app}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentBody {
    #[serde(default)]
    days: Option<i64>,
    #[serde(default)]
    until: Option<String>,
}

fn no_guest(id: &str) -> Response<Vec<u8>> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("no guest {id}"), "field": "id"}),
    )
}

impl AdminApp {
    async fn audit_entry(&self, action: &str, subject: &str, app: Option<&str>, detail: Value) {
        let r = self
            .gateway
            .store
            .append_audit(&crate::store::NewAuditEntry {
                at: time::OffsetDateTime::now_utc(),
                actor: "admin".into(),
                action: action.into(),
                subject: Some(subject.into()),
                app: app.map(str::to_string),
                detail,
            })
            .await;
        if let Err(e) = r {
            warn!(error = %e, action, "audit entry not written");
        }
    }

    /// The guest endpoints (store: async).
    pub(super) async fn guests(
        &self,
        method: &Method,
        route: GuestRoute<'_>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let g = &self.gateway;
        let store = &g.store;
        let now = time::OffsetDateTime::now_utc();
        let id = match route {
            GuestRoute::All => {
                let users = match store.list_users(Some(UserType::Guest)).await {
                    Ok(u) => u,
                    Err(e) => return store_failed(&e),
                };
                let mut guests = Vec::with_capacity(users.len());
                for u in &users {
                    match store.assignments_of_user(&u.id).await {
                        Ok(a) => guests.push(guest_json(u, &a, now)),
                        Err(e) => return store_failed(&e),
                    }
                }
                return json_response(StatusCode::OK, &json!({ "guests": guests }));
            }
            GuestRoute::One(id) | GuestRoute::Assignment(id, _) => id,
        };
        let Some(id) = percent_decode(id) else {
            return BadInput::field("id", "not valid percent-encoding").response();
        };
        let guest = match find_guest(store, &id).await {
            Ok(Some(u)) => u,
            Ok(None) => return no_guest(&id),
            Err(e) => return store_failed(&e),
        };
        let guest_ref = &guest;
        let show = |status: StatusCode| async move {
            let guest = guest_ref;
            match store.assignments_of_user(&guest.id).await {
                Ok(a) => json_response(status, &guest_json(guest, &a, now)),
                Err(e) => store_failed(&e),
            }
        };
        match (route, method) {
            (GuestRoute::One(_), &Method::GET) => show(StatusCode::OK).await,
            (GuestRoute::One(_), _) => {
                let sids = match g.revoke_sessions_of_user(&guest.id).await {
                    Ok(s) => s,
                    Err(e) => return store_failed(&e),
                };
                match store.delete_user(&guest.id).await {
                    Ok(_) => {}
                    Err(e) => return store_failed(&e),
                }
                g.directory.invalidate_user(&guest.id);
                self.audit_entry(
                    "guest_removed",
                    &guest.id,
                    None,
                    json!({ "email": guest.email, "sessions_revoked": sids.len() }),
                )
                .await;
                json_response(
                    StatusCode::OK,
                    &json!({ "deleted": guest.id, "sessions_revoked": sids.len() }),
                )
            }
            (GuestRoute::Assignment(_, app), _) => {
                let Some(app) = percent_decode(app) else {
                    return BadInput::field("app", "not valid percent-encoding").response();
                };
                let snapshot = g.snapshot.load_full();
                let names: Vec<&str> = snapshot
                    .config
                    .apps
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                if !names.contains(&app.as_str()) {
                    let hint = rules::closest(&app, names.iter().copied())
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    return BadInput::field("app", format!("no app named `{app}`{hint}"))
                        .response();
                }
                let had = match store.assignments_of_user(&guest.id).await {
                    Ok(a) => a.iter().any(|a| a.app == app),
                    Err(e) => return store_failed(&e),
                };
                if *method == Method::DELETE {
                    if !had {
                        return json_response(
                            StatusCode::NOT_FOUND,
                            &json!({"error": format!("{} has no assignment to {app}", guest.email), "field": "app"}),
                        );
                    }
                    if let Err(e) = store.revoke_assignment(&guest.id, &app).await {
                        return store_failed(&e);
                    }
                    g.directory.invalidate_user(&guest.id);
                    self.audit_entry("assignment_revoked", &guest.id, Some(&app), json!({}))
                        .await;
                    return show(StatusCode::OK).await;
                }
                let body: AssignmentBody = match serde_json::from_slice(body) {
                    Ok(b) => b,
                    Err(e) => {
                        return BadInput::general(format!("invalid JSON body: {e}")).response();
                    }
                };
                let end = match access_end(body.days, body.until.as_deref(), now) {
                    Ok(t) => t,
                    Err((field, message)) => return BadInput::field(field, message).response(),
                };
                if let Err(e) = store
                    .grant_assignment(&guest.id, &app, Some(end), Some("admin"), now)
                    .await
                {
                    return store_failed(&e);
                }
                g.directory.invalidate_user(&guest.id);
                self.audit_entry(
                    if had {
                        "assignment_extended"
                    } else {
                        "assignment_granted"
                    },
                    &guest.id,
                    Some(&app),
                    json!({ "until": rfc3339(end) }),
                )
                .await;
                show(StatusCode::OK).await
            }
            (GuestRoute::All, _) => not_found(),
        }
    }
}
