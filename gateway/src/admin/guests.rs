//! `GET /api/v1/guests`, `GET|DELETE /api/v1/guests/{id}`,
//! `PUT|DELETE /api/v1/guests/{id}/assignments/{app}`: guests (by id or
//! e-mail) with their assignments, as `portcullis guests`. `PUT` grants or
//! extends with `{"days": N}` or `{"until": "YYYY-MM-DD" | RFC 3339}`;
//! deleting a guest ends their sessions first. Each change is an operation
//! of `crate::guests`, done as actor `admin`.

use super::AdminApp;
use super::query::percent_decode;
use super::response::{BadInput, json_response, not_found, rfc3339, store_failed};
use super::routes::GuestRoute;
use crate::guests::{self, Caller, Place, access_end};
use http::{Method, Response, StatusCode};
use rules::UserType;
use serde_json::{Value, json};

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
        let caller = Caller {
            place: Place::Gateway(g),
            actor: "admin",
            now,
        };
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
        let guest = match guests::find(store, &id).await {
            Ok(Some(u)) => u,
            Ok(None) => return no_guest(&id),
            Err(e) => return store_failed(&e),
        };
        let guest = &guest;
        let show = |status: StatusCode| async move {
            match store.assignments_of_user(&guest.id).await {
                Ok(a) => json_response(status, &guest_json(guest, &a, now)),
                Err(e) => store_failed(&e),
            }
        };
        match (route, method) {
            (GuestRoute::One(_), &Method::GET) => show(StatusCode::OK).await,
            (GuestRoute::One(_), _) => match guests::remove(caller, guest).await {
                Ok(ended) => json_response(
                    StatusCode::OK,
                    &json!({ "deleted": guest.id, "sessions_revoked": ended }),
                ),
                Err(e) => store_failed(&e),
            },
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
                if *method == Method::DELETE {
                    return match guests::end(caller, guest, &app).await {
                        Ok(true) => show(StatusCode::OK).await,
                        Ok(false) => json_response(
                            StatusCode::NOT_FOUND,
                            &json!({"error": format!("{} has no assignment to {app}", guest.email), "field": "app"}),
                        ),
                        Err(e) => store_failed(&e),
                    };
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
                match guests::extend(caller, guest, &app, end, None).await {
                    Ok(_) => show(StatusCode::OK).await,
                    Err(e) => store_failed(&e),
                }
            }
            (GuestRoute::All, _) => not_found(),
        }
    }
}
