//! The answers every route shares: JSON bodies, errors (`{"error": …}`,
//! plus `"field"` when one input was wrong), and the fixed refusals (404,
//! 405, 413, 401, 503). Every answer says `Cache-Control: no-store`.

use super::{
    AUDIT_PATH, GUESTS_PATH, HEALTHZ_PATH, INVITATIONS_PATH, MAX_BODY, METRICS_PATH, OPENAPI_PATH,
    READYZ_PATH, WHATIF_PATH,
};
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tracing::warn;

/// A 400: what was wrong and, when one input was, its name.
#[derive(Debug)]
pub(super) struct BadInput {
    field: Option<String>,
    message: String,
}

impl std::fmt::Display for BadInput {
    /// `field: message`, or the message alone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl BadInput {
    pub(super) fn field(field: &str, message: impl Into<String>) -> BadInput {
        BadInput {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub(super) fn general(message: impl Into<String>) -> BadInput {
        BadInput {
            field: None,
            message: message.into(),
        }
    }

    /// A list's `limit` query parameter: 1 to 1000 entries.
    pub(super) fn limit(v: &str) -> Result<u32, BadInput> {
        match v.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(BadInput::field(
                "limit",
                format!("`{v}` is not a number from 1 to 1000"),
            )),
        }
    }

    pub(super) fn response(&self) -> Response<Vec<u8>> {
        let body = match &self.field {
            Some(f) => json!({"error": self.message, "field": f}),
            None => json!({"error": self.message}),
        };
        json_response(StatusCode::BAD_REQUEST, &body)
    }
}
pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Vec<u8>> {
    let len = body.len();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response<Vec<u8>> {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    respond(status, "application/json", body)
}

pub(super) fn not_found() -> Response<Vec<u8>> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": format!(
            "no such admin route; routes are {METRICS_PATH}, {HEALTHZ_PATH}, {READYZ_PATH}, {WHATIF_PATH}, {INVITATIONS_PATH}, {GUESTS_PATH}, {AUDIT_PATH} and {OPENAPI_PATH}"
        )}),
    )
}

pub(super) fn method_not_allowed(allowed: &[Method]) -> Response<Vec<u8>> {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": format!("method not allowed; use {allow}")}),
    );
    if let Ok(v) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}

pub(super) fn too_large() -> Response<Vec<u8>> {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &json!({"error": format!("the request body is larger than {MAX_BODY} bytes")}),
    )
}

pub(super) fn unauthorised(challenge: &'static str, message: &str) -> Response<Vec<u8>> {
    let mut response = json_response(StatusCode::UNAUTHORIZED, &json!({"error": message}));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// A 503 for a store that failed (logged; the caller may try again).
pub(super) fn store_failed(e: &crate::store::StoreError) -> Response<Vec<u8>> {
    warn!(error = %e, "admin API store operation failed");
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": e.to_string()}),
    )
}

/// A time as the API writes it (RFC 3339).
pub(super) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
