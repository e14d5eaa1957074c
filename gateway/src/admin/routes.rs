//! Routing: which route a path is, which methods it takes, and the order in
//! which a request is judged — authorisation first (an unauthenticated
//! client learns nothing, not even which routes exist), then the route and
//! method, then the body limit; all on the request head, so nothing is read
//! from a request that will be refused.

use super::response::{json_response, method_not_allowed, not_found, respond, text, too_large};
use super::{
    API_PREFIX, AUDIT_PATH, AdminApp, DECISIONS_PATH, GUESTS_PATH, HEALTHZ_PATH, INVITATIONS_PATH,
    MAX_BODY, METRICS_PATH, OPENAPI_PATH, READYZ_PATH, WHATIF_PATH,
};
use http::header::HeaderMap;
use http::{Method, Response, StatusCode};
use std::borrow::Cow;

/// One admin route, parsed from the path (ids still percent-encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    Metrics,
    Healthz,
    Readyz,
    Whatif,
    OpenApi,
    Audit,
    /// `None`: the list; `Some(id)`: one decision.
    Decisions(Option<&'a str>),
    Invitations(InvitationRoute<'a>),
    Guests(GuestRoute<'a>),
}

/// Which invitation endpoint a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InvitationRoute<'a> {
    All,
    One(&'a str),
    Resend(&'a str),
}

/// Which guest endpoint a path is (segments still percent-encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GuestRoute<'a> {
    All,
    One(&'a str),
    Assignment(&'a str, &'a str),
}

impl<'a> Route<'a> {
    /// The route of `path` (without its query), if it is one.
    pub(super) fn of(path: &'a str) -> Option<Route<'a>> {
        Some(match path {
            METRICS_PATH => Route::Metrics,
            HEALTHZ_PATH => Route::Healthz,
            READYZ_PATH => Route::Readyz,
            WHATIF_PATH => Route::Whatif,
            OPENAPI_PATH => Route::OpenApi,
            AUDIT_PATH => Route::Audit,
            DECISIONS_PATH => Route::Decisions(None),
            _ if decision_route(path).is_some() => Route::Decisions(decision_route(path)),
            _ => match (invitation_route(path), guest_route(path)) {
                (Some(r), _) => Route::Invitations(r),
                (_, Some(r)) => Route::Guests(r),
                _ => return None,
            },
        })
    }

    /// The methods the route answers; any other is 405 with `Allow`.
    pub(super) fn methods(self) -> &'static [Method] {
        match self {
            Route::Metrics
            | Route::Healthz
            | Route::Readyz
            | Route::Audit
            | Route::OpenApi
            | Route::Decisions(_) => &[Method::GET],
            Route::Whatif => &[Method::GET, Method::POST],
            Route::Invitations(InvitationRoute::All) => &[Method::GET, Method::POST],
            Route::Invitations(InvitationRoute::One(_)) => &[Method::GET, Method::DELETE],
            Route::Invitations(InvitationRoute::Resend(_)) => &[Method::POST],
            Route::Guests(GuestRoute::All) => &[Method::GET],
            Route::Guests(GuestRoute::One(_)) => &[Method::GET, Method::DELETE],
            Route::Guests(GuestRoute::Assignment(..)) => &[Method::PUT, Method::DELETE],
        }
    }
}

pub(super) fn invitation_route(path: &str) -> Option<InvitationRoute<'_>> {
    let rest = path.strip_prefix(INVITATIONS_PATH)?;
    let valid_id = |id: &str| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match rest.strip_prefix('/') {
        None if rest.is_empty() => Some(InvitationRoute::All),
        Some(tail) => match tail.split_once('/') {
            None if valid_id(tail) => Some(InvitationRoute::One(tail)),
            Some((id, "resend")) if valid_id(id) => Some(InvitationRoute::Resend(id)),
            _ => None,
        },
        None => None,
    }
}

/// `/api/v1/decisions/{request_id}`: the id is 32 lower-case hex digits.
pub(super) fn decision_route(path: &str) -> Option<&str> {
    let id = path.strip_prefix(DECISIONS_PATH)?.strip_prefix('/')?;
    (id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(id)
}

pub(super) fn guest_route(path: &str) -> Option<GuestRoute<'_>> {
    let rest = path.strip_prefix(GUESTS_PATH)?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 320
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.@+%".contains(&b))
    };
    if rest.is_empty() {
        return Some(GuestRoute::All);
    }
    let mut parts = rest.strip_prefix('/')?.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(id), None, None, None) if valid(id) => Some(GuestRoute::One(id)),
        (Some(id), Some("assignments"), Some(app), None) if valid(id) && valid(app) => {
            Some(GuestRoute::Assignment(id, app))
        }
        _ => None,
    }
}

impl AdminApp {
    /// Answers one request whose body was read already, as the listener
    /// does. `target` is the path and query (`/a?b=c`);
    /// `body` is what was read of the request body (longer than
    /// [`MAX_BODY`]: 413). Authorisation comes first, then the route and
    /// method, then the body limit.
    pub async fn handle(
        &self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let (path, query) = split_target(target);
        let route = match self.admit(method, path, headers) {
            Ok(r) => r,
            Err(refused) => return *refused,
        };
        if body.len() > MAX_BODY {
            return too_large();
        }
        self.answer(method, route, query, body).await
    }

    /// Authorisation, route and method, decided on the request head. `Ok`:
    /// the route to answer; `Err`: the refusal to send (boxed: refusals are
    /// rare, and the `Ok` path should not carry a whole response's size).
    pub(super) fn admit<'p>(
        &self,
        method: &Method,
        path: &'p str,
        headers: &HeaderMap,
    ) -> Result<Route<'p>, Box<Response<Vec<u8>>>> {
        if (path == "/api" || path.starts_with(API_PREFIX))
            && let Some(refused) = self.authorise(path, headers)
        {
            return Err(Box::new(refused));
        }
        let route = Route::of(path).ok_or_else(|| Box::new(not_found()))?;
        let allowed = route.methods();
        if allowed.contains(method) {
            Ok(route)
        } else {
            Err(Box::new(method_not_allowed(allowed)))
        }
    }

    /// Answers an admitted request (its body read and within [`MAX_BODY`]).
    pub(super) async fn answer(
        &self,
        method: &Method,
        route: Route<'_>,
        query: Option<&str>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        match route {
            Route::Invitations(r) => self.invitations(method, r, body).await,
            Route::Guests(r) => self.guests(method, r, body).await,
            Route::Audit => self.audit(query).await,
            Route::Decisions(None) => self.decisions(query).await,
            Route::Decisions(Some(id)) => self.decision(id).await,
            Route::Whatif => self.whatif(method, query, body).await,
            _ => self.answer_now(route),
        }
    }

    /// The routes answered without waiting on the store.
    fn answer_now(&self, route: Route<'_>) -> Response<Vec<u8>> {
        match route {
            Route::Metrics => {
                self.gateway.set_cache_metrics();
                respond(
                    StatusCode::OK,
                    prometheus::TEXT_FORMAT,
                    self.gateway.metrics.render(),
                )
            }
            Route::Healthz => text(StatusCode::OK, "ok\n"),
            Route::Readyz if self.gateway.is_ready() => text(StatusCode::OK, "ready\n"),
            Route::Readyz => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
            Route::OpenApi => json_response(StatusCode::OK, &super::openapi::document()),
            // The store's routes; only `answer` reaches them.
            Route::Audit
            | Route::Decisions(_)
            | Route::Invitations(_)
            | Route::Guests(_)
            | Route::Whatif => not_found(),
        }
    }
}

/// `/a?b=c` as (`/a`, `Some("b=c")`).
pub(super) fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// Decodes one query-string part or path segment the way forms encode
/// them: `%XX` escapes, and `+` for a space (`%2B` is a plus). `None` for a
/// broken escape (`%4`, `%zz`) or bytes that are not UTF-8, which the
/// caller refuses: a mistyped id must not quietly mean something else.
pub(super) fn percent_decode(s: &str) -> Option<String> {
    // `percent_encoding` passes a broken escape through as text; check first.
    let well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}
