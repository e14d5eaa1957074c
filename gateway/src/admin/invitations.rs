//! `GET|POST /api/v1/invitations`, `GET|DELETE /api/v1/invitations/{id}`,
//! `POST /api/v1/invitations/{id}/resend`: guest invitations, as
//! `portcullis invite` and `portcullis invitations`; both go through
//! `crate::invitations`. `POST` takes `{email, apps, access_days |
//! access_until, message, inviter}`; answers never carry the link (it goes
//! to the guest only). When the e-mail could not be sent, `POST` and
//! `resend` answer 503 with `{error, invitation}`: the invitation is kept
//! pending (see `crate::invitations::invite`), and the error says how to
//! deliver it.

use super::AdminApp;
use super::response::{BadInput, json_response, not_found};
use super::routes::InvitationRoute;
use crate::guests::parse_until;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tracing::warn;

/// An invitation as the API shows it (never the link).
fn invitation_json(i: &crate::store::Invitation, now: time::OffsetDateTime) -> Value {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    json!({
        "id": i.id,
        "email": i.email,
        "user_id": i.user_id,
        "apps": i.apps,
        "status": i.status(now),
        "inviter": i.inviter,
        "message": i.message,
        "access_until": i.access_until.map(rfc3339),
        "access_days": i.access_days,
        "created_at": rfc3339(i.created_at),
        "expires_at": rfc3339(i.expires_at),
        "redeemed_at": i.redeemed_at.map(rfc3339),
        "revoked_at": i.revoked_at.map(rfc3339),
    })
}

/// The JSON body of `POST /api/v1/invitations`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    apps: Vec<String>,
    #[serde(default)]
    access_days: Option<u32>,
    /// RFC 3339 time or `YYYY-MM-DD` (UTC midnight).
    #[serde(default)]
    access_until: Option<String>,
    #[serde(default)]
    message: Option<String>,
    inviter: String,
    /// The mail's language (`en`, `de`); default the organisation's.
    #[serde(default)]
    language: Option<String>,
}

impl AdminApp {
    /// The invitation endpoints (store and mail: async).
    pub(super) async fn invitations(
        &self,
        method: &Method,
        route: InvitationRoute<'_>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        use crate::invitations::{self, InviteError};
        let g = &self.gateway;
        let now = time::OffsetDateTime::now_utc();
        let snapshot = g.snapshot.load_full();
        let mailer = g.mailer.load_full();
        let mailer = mailer.as_deref();
        let error = |e: InviteError| -> Response<Vec<u8>> {
            match e {
                InviteError::Invalid { field, message } => {
                    BadInput::field(field, message).response()
                }
                InviteError::NotFound(_) => not_found(),
                InviteError::NotPending => json_response(
                    StatusCode::CONFLICT,
                    &json!({"error": "the invitation is no longer pending (redeemed, revoked or expired)"}),
                ),
                // Stored but not mailed: the answer carries the invitation
                // (its id to resend) next to what happened.
                InviteError::NotSent { ref invitation, .. } => {
                    warn!(error = %e, "invitation e-mail not sent");
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({"error": e.to_string(), "invitation": invitation_json(invitation, now)}),
                    )
                }
                other => {
                    warn!(error = %other, "invitation operation failed");
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({"error": other.to_string()}),
                    )
                }
            }
        };
        let no_mail = || {
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "mail and sign_in must be configured to send invitations"}),
            )
        };
        match (route, method) {
            (InvitationRoute::All, &Method::GET) => match g.store.list_invitations().await {
                Ok(list) => json_response(
                    StatusCode::OK,
                    &json!({"invitations": list.iter().map(|i| invitation_json(i, now)).collect::<Vec<_>>()}),
                ),
                Err(e) => error(InviteError::Store(e)),
            },
            (InvitationRoute::All, _) => {
                let body: InviteBody = match serde_json::from_slice(body) {
                    Ok(b) => b,
                    Err(e) => {
                        return BadInput::general(format!("invalid JSON body: {e}")).response();
                    }
                };
                let access_until = match body.access_until.as_deref().map(|s| (s, parse_until(s))) {
                    Some((s, None)) => {
                        return BadInput::field(
                            "access_until",
                            format!("`{s}` is not an RFC 3339 time or a date like 2026-12-31"),
                        )
                        .response();
                    }
                    Some((_, t)) => t,
                    None => None,
                };
                let language = match body.language.as_deref().map(|l| (l, crate::i18n::Lang::parse(l))) {
                    Some((l, None)) => {
                        return BadInput::field(
                            "language",
                            format!(
                                "`{l}` is not a language of the gateway; use {}",
                                crate::i18n::Lang::tags().join(" or ")
                            ),
                        )
                        .response();
                    }
                    Some((_, lang)) => lang,
                    None => None,
                };
                let Some(mailer) = mailer else {
                    return no_mail();
                };
                let req = invitations::InviteRequest {
                    language,
                    email: body.email,
                    apps: body.apps,
                    access_until,
                    access_days: body.access_days,
                    message: body.message,
                    inviter: body.inviter,
                };
                let created =
                    invitations::invite(&snapshot.config, &g.store, mailer, &req, now).await;
                if created.is_ok() {
                    g.metrics.invitations.with_label_values(&["created"]).inc();
                }
                match created {
                    Ok((inv, _link)) => {
                        json_response(StatusCode::CREATED, &invitation_json(&inv, now))
                    }
                    Err(e) => error(e),
                }
            }
            (InvitationRoute::One(id), &Method::GET) => match g.store.get_invitation(id).await {
                Ok(Some(i)) => json_response(StatusCode::OK, &invitation_json(&i, now)),
                Ok(None) => not_found(),
                Err(e) => error(InviteError::Store(e)),
            },
            (InvitationRoute::One(id), _) => {
                match invitations::revoke(&g.store, id, "admin", now).await {
                    Ok(i) => {
                        g.metrics.invitations.with_label_values(&["revoked"]).inc();
                        json_response(StatusCode::OK, &invitation_json(&i, now))
                    }
                    Err(e) => error(e),
                }
            }
            (InvitationRoute::Resend(id), _) => {
                let Some(mailer) = mailer else {
                    return no_mail();
                };
                match invitations::resend(&snapshot.config, &g.store, mailer, id, "admin", now)
                    .await
                {
                    Ok((i, _link)) => {
                        g.metrics.invitations.with_label_values(&["resent"]).inc();
                        json_response(StatusCode::OK, &invitation_json(&i, now))
                    }
                    Err(e) => error(e),
                }
            }
        }
    }
}
