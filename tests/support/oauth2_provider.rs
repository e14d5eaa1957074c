//! A real OAuth 2.0 provider on loopback for the `type: oauth2` tests, in
//! three shapes, each as its documentation gives it:
//!
//! - **GitHub** (Enterprise Server layout, what `github_url` points at):
//!   `GET /login/oauth/authorize`, `POST /login/oauth/access_token` (a bad
//!   code is `200 {"error": "bad_verification_code"}`), `GET /api/v3/user`
//!   and `GET /api/v3/user/emails` (the latter only with the `user:email`
//!   scope; every API request without a `User-Agent` gets `403`).
//! - **Facebook**: `GET /v23.0/dialog/oauth`, `/v23.0/oauth/access_token`
//!   (GET or POST), `GET /v23.0/me?fields=id,name,email` with
//!   `appsecret_proof`; `email` only when the user has a confirmed one;
//!   errors as Graph error objects.
//! - **Generic** (RFC 6749): `/authorize`, `/token` (client authentication
//!   with HTTP Basic), `/userinfo` with a nested answer for JSON pointers.
//!
//! The "browser session" at the provider is [`Provider::sign_in_as`]: the
//! authorization endpoint signs that user in and redirects straight back
//! with a code. Codes are single use and bound to the redirect URI and the
//! PKCE challenge. Every request is recorded. Dies on `Drop`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const CLIENT_ID: &str = "portcullis-oauth2";
pub const CLIENT_SECRET: &str = "oauth2-test-secret";
pub const FB_VERSION: &str = "v23.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    GitHub,
    Facebook,
    Generic,
}

#[derive(Clone, Debug)]
pub struct Email {
    pub email: String,
    pub verified: bool,
    pub primary: bool,
}

/// A user account at the provider.
#[derive(Clone, Debug)]
pub struct User {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub emails: Vec<Email>,
}

impl User {
    /// A user whose one address is primary and `verified` as given.
    pub fn new(id: u64, login: &str, name: &str, email: &str, verified: bool) -> User {
        User {
            id,
            login: login.into(),
            name: name.into(),
            emails: vec![Email {
                email: email.into(),
                verified,
                primary: true,
            }],
        }
    }

    fn primary(&self) -> Option<&Email> {
        self.emails.iter().find(|e| e.primary)
    }
}

/// One request as the provider received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub form: HashMap<String, String>,
    pub headers: HashMap<String, String>,
}

struct Grant {
    user: u64,
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
}

#[derive(Default)]
struct State {
    redirect_uri: String,
    current: Option<u64>,
    users: HashMap<u64, User>,
    codes: HashMap<String, Grant>,
    /// access token → (user id, scope)
    tokens: HashMap<String, (u64, String)>,
    seen: Vec<Seen>,
    counter: u64,
}

pub struct Provider {
    pub addr: SocketAddr,
    pub shape: Shape,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Provider {
    /// Starts the provider; register the gateway's callback with
    /// [`Provider::set_redirect_uri`] once its port is known.
    pub async fn start(shape: Shape) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(answer(shape, req, &st).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Provider {
            addr,
            shape,
            state,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers the client's redirect URI (exact match, as GitHub and
    /// Facebook compare it).
    pub fn set_redirect_uri(&self, uri: &str) {
        self.state.lock().expect("state").redirect_uri = uri.to_string();
    }

    pub fn add_user(&self, user: User) {
        self.state
            .lock()
            .expect("state")
            .users
            .insert(user.id, user);
    }

    /// The user the provider's own session has signed in (what its
    /// authorization endpoint answers for).
    pub fn sign_in_as(&self, id: u64) {
        self.state.lock().expect("state").current = Some(id);
    }

    /// The user renames their login (GitHub allows it; the old name is
    /// then free for anyone).
    pub fn rename(&self, id: u64, login: &str) {
        if let Some(u) = self.state.lock().expect("state").users.get_mut(&id) {
            u.login = login.to_string();
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state").seen.clone()
    }
}

fn parse(q: &str) -> HashMap<String, String> {
    openidconnect::url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn json_response(status: u16, v: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("response")
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn answer(shape: Shape, req: Request<Incoming>, st: &Mutex<State>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(super::WAIT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        _ => Vec::new(),
    };
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parse(parts.uri.query().unwrap_or("")),
        form: parse(&String::from_utf8_lossy(&body)),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let mut s = st.lock().expect("state");
    s.seen.push(seen.clone());
    let fb = |p: &str| format!("/{FB_VERSION}{p}");
    match (shape, seen.path.as_str()) {
        (Shape::GitHub, "/login/oauth/authorize") => authorize(&mut s, &seen),
        (Shape::Facebook, p) if p == fb("/dialog/oauth") => authorize(&mut s, &seen),
        (Shape::Generic, "/authorize") => authorize(&mut s, &seen),
        (Shape::GitHub, "/login/oauth/access_token") => token(shape, &mut s, &seen),
        (Shape::Facebook, p) if p == fb("/oauth/access_token") => token(shape, &mut s, &seen),
        (Shape::Generic, "/token") => token(shape, &mut s, &seen),
        (Shape::GitHub, p) if p.starts_with("/api/v3/") => github_api(&s, &seen),
        (Shape::Facebook, p) if p == fb("/me") => facebook_me(&s, &seen),
        (Shape::Generic, "/userinfo") => generic_userinfo(&s, &seen),
        _ => json_response(404, json!({ "message": "Not Found" })),
    }
}

/// Signs the current user in and redirects back with a code.
fn authorize(s: &mut State, req: &Seen) -> Response<Full<Bytes>> {
    let q = &req.query;
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("redirect_uri") != Some(&s.redirect_uri)
    {
        return json_response(400, json!({ "error": "redirect_uri_mismatch" }));
    }
    let Some(user) = s.current else {
        return json_response(400, json!({ "error": "nobody signed in at the provider" }));
    };
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(c), Some(m)) if m == "S256" => Some(c.clone()),
        (Some(_), _) => return json_response(400, json!({ "error": "invalid_request" })),
        _ => None,
    };
    s.counter += 1;
    let code = format!("code{}x{}", s.counter, unix_nanos());
    s.codes.insert(
        code.clone(),
        Grant {
            user,
            redirect_uri: s.redirect_uri.clone(),
            challenge,
            scope: q.get("scope").cloned().unwrap_or_default(),
        },
    );
    let mut to = openidconnect::url::Url::parse(&s.redirect_uri).expect("redirect URI");
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = q.get("state") {
        to.query_pairs_mut().append_pair("state", state);
    }
    Response::builder()
        .status(302)
        .header("location", to.as_str())
        .body(Full::new(Bytes::new()))
        .expect("response")
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn token(shape: Shape, s: &mut State, req: &Seen) -> Response<Full<Bytes>> {
    // Parameters in the body (POST) or, for Facebook's documented GET, the
    // query.
    let mut p = req.query.clone();
    p.extend(req.form.clone());
    let refuse = |what: &str| match shape {
        // GitHub answers a bad exchange with 200 and an error object.
        Shape::GitHub => json_response(
            200,
            json!({ "error": "bad_verification_code", "error_description": what,
                    "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code" }),
        ),
        Shape::Facebook => json_response(
            400,
            json!({ "error": { "message": what, "type": "OAuthException", "code": 100, "fbtrace_id": "test" } }),
        ),
        Shape::Generic => json_response(
            400,
            json!({ "error": "invalid_grant", "error_description": what }),
        ),
    };
    let client_ok = match shape {
        Shape::Generic => {
            let basic = format!(
                "Basic {}",
                base64_std(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
            );
            req.headers.get("authorization") == Some(&basic)
                && p.get("grant_type").map(String::as_str) == Some("authorization_code")
        }
        _ => {
            p.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && p.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    };
    if !client_ok {
        return refuse("client authentication failed");
    }
    let Some(code) = p.get("code") else {
        return refuse("no code");
    };
    // Single use: taken whatever happens next.
    let Some(grant) = s.codes.remove(code) else {
        return refuse("The code passed is incorrect or expired.");
    };
    if p.get("redirect_uri")
        .is_some_and(|r| *r != grant.redirect_uri)
        || (shape == Shape::Facebook && !p.contains_key("redirect_uri"))
    {
        return refuse("redirect_uri does not match");
    }
    if let Some(challenge) = &grant.challenge {
        let ok = p
            .get("code_verifier")
            .is_some_and(|v| b64url(&sha2::Sha256::digest(v.as_bytes())) == *challenge);
        if !ok {
            return refuse("PKCE verification failed");
        }
    }
    s.counter += 1;
    let access = format!("tok{}x{}", s.counter, unix_nanos());
    s.tokens
        .insert(access.clone(), (grant.user, grant.scope.clone()));
    match shape {
        Shape::GitHub => {
            let wants_json = req
                .headers
                .get("accept")
                .is_some_and(|a| a.contains("application/json"));
            if wants_json {
                json_response(
                    200,
                    json!({ "access_token": access, "scope": grant.scope.replace(' ', ","), "token_type": "bearer" }),
                )
            } else {
                Response::builder()
                    .status(200)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(format!(
                        "access_token={access}&scope=user%3Aemail&token_type=bearer"
                    ))))
                    .expect("response")
            }
        }
        Shape::Facebook => json_response(
            200,
            json!({ "access_token": access, "token_type": "bearer", "expires_in": 5183944 }),
        ),
        Shape::Generic => json_response(
            200,
            json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600 }),
        ),
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The access token of a request: `Authorization: Bearer|token X`, or
/// Facebook's `access_token` parameter.
fn bearer<'a>(s: &'a State, req: &Seen) -> Option<(&'a User, String, String)> {
    let t = req
        .headers
        .get("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("token "))
                .map(str::to_string)
        })
        .or_else(|| req.query.get("access_token").cloned())?;
    let (id, scope) = s.tokens.get(&t)?;
    Some((s.users.get(id)?, scope.clone(), t))
}

fn github_api(s: &State, req: &Seen) -> Response<Full<Bytes>> {
    if !req.headers.contains_key("user-agent") {
        return Response::builder()
            .status(403)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            )))
            .expect("response");
    }
    let Some((user, scope, _)) = bearer(s, req) else {
        return json_response(401, json!({ "message": "Requires authentication" }));
    };
    match req.path.as_str() {
        "/api/v3/user" => json_response(
            200,
            json!({
                "login": user.login, "id": user.id, "node_id": format!("U_{}", user.id),
                "type": "User", "site_admin": false, "name": user.name,
                // The public profile address: not necessarily verified.
                "email": user.emails.iter().find(|e| !e.primary).map(|e| e.email.clone()),
            }),
        ),
        "/api/v3/user/emails" if scope.split([' ', ',']).any(|s| s == "user:email" || s == "user") => {
            json_response(
                200,
                Value::Array(
                    user.emails
                        .iter()
                        .map(|e| json!({ "email": e.email, "verified": e.verified, "primary": e.primary, "visibility": if e.primary { Value::from("private") } else { Value::Null } }))
                        .collect(),
                ),
            )
        }
        _ => json_response(404, json!({ "message": "Not Found" })),
    }
}

fn facebook_me(s: &State, req: &Seen) -> Response<Full<Bytes>> {
    let Some((user, _, token)) = bearer(s, req) else {
        return json_response(
            400,
            json!({ "error": { "message": "An active access token must be used to query information about the current user.", "type": "OAuthException", "code": 2500 } }),
        );
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    let proof: String = aws_lc_rs::hmac::sign(&key, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if req.query.get("appsecret_proof") != Some(&proof) {
        return json_response(
            400,
            json!({ "error": { "message": "Invalid appsecret_proof provided in the API argument", "type": "GraphMethodException", "code": 100 } }),
        );
    }
    let fields = req.query.get("fields").cloned().unwrap_or_default();
    let mut me = serde_json::Map::new();
    for f in fields.split(',') {
        match f {
            "id" => {
                me.insert("id".into(), Value::from(user.id.to_string()));
            }
            "name" => {
                me.insert("name".into(), Value::from(user.name.clone()));
            }
            // Only a confirmed address is ever returned.
            "email" => {
                if let Some(e) = user.primary().filter(|e| e.verified) {
                    me.insert("email".into(), Value::from(e.email.clone()));
                }
            }
            _ => {}
        }
    }
    if !me.contains_key("id") {
        me.insert("id".into(), Value::from(user.id.to_string()));
    }
    json_response(200, Value::Object(me))
}

fn generic_userinfo(s: &State, req: &Seen) -> Response<Full<Bytes>> {
    let Some((user, _, _)) = bearer(s, req) else {
        return json_response(401, json!({ "error": "invalid_token" }));
    };
    let primary = user.primary();
    json_response(
        200,
        json!({ "data": {
            "uid": user.id, "handle": user.login, "display": user.name,
            "mail": { "address": primary.map(|e| e.email.clone()), "confirmed": primary.is_some_and(|e| e.verified) },
        }}),
    )
}
