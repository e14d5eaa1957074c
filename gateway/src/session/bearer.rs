//! Bearer tokens from external issuers (`idps` of `type: jwt`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::jwt::{self, DEFAULT_LEEWAY_SECS, b64d};
use super::{SessionClaims, SessionError, UserType};

/// The algorithms accepted when an idp sets no `algorithms` list.
pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::PS256,
];

/// Largest JWKS document we accept (1 MiB); real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Parses one entry of an idp's `algorithms` list (config load time).
///
/// `none` and the HMAC algorithms (`HS256`, `HS384`, `HS512`) are refused
/// whatever the config says: `none` means an unsigned token, and HMAC with a
/// verification key taken from a public JWKS means anyone holding the public
/// key can sign (the algorithm / key confusion attack).
pub fn parse_algorithm(name: &str) -> Result<Algorithm, SessionError> {
    if name.eq_ignore_ascii_case("none") {
        return Err(SessionError::Config(
            "algorithm `none` is never allowed: it accepts unsigned tokens".into(),
        ));
    }
    let alg = Algorithm::from_str(name).map_err(|_| {
        SessionError::Config(format!(
            "`{name}` is not a JWT signing algorithm; use RS256, RS384, RS512, PS256, PS384, \
             PS512, ES256, ES384 or EdDSA"
        ))
    })?;
    if alg.family() == AlgorithmFamily::Hmac {
        return Err(SessionError::Config(format!(
            "`{name}` is never allowed for bearer tokens: HMAC needs a shared secret, and with a \
             public key as the secret anyone could sign; use RS256, ES256, EdDSA or PS256"
        )));
    }
    Ok(alg)
}

/// Where an idp's verification keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS file, read when the verifier is built (config load or reload).
    File(PathBuf),
    /// A JWKS URL, fetched by the refresh task ([`BearerVerifier::spawn_refresh`]).
    /// Must be `https`, or `http` to a loopback address (tests, local IdPs).
    Url(String),
}

/// One `idps` entry of `type: jwt`, in runtime form.
#[derive(Clone, Debug)]
pub struct BearerConfig {
    /// The idp's configured name; becomes [`SessionClaims::idp`].
    pub name: String,
    /// Required `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Where the keys come from.
    pub jwks: JwksSource,
    /// Allowed `alg` values; default [`DEFAULT_ALGORITHMS`]. HMAC is refused.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`; default 60 s.
    pub leeway_secs: i64,
    /// Claim holding the e-mail address; default `email`.
    pub email_claim: String,
    /// Claim holding the groups (a list, or one string); default `groups`.
    pub groups_claim: String,
    /// The organisation's member domains. A token with an e-mail in one of
    /// them is refused unless that domain is also in `domains` (then its
    /// user is a member); default empty.
    pub member_domains: Vec<String>,
    /// The e-mail domains this issuer speaks for (the idp's `domains`): a
    /// token with an e-mail in another domain is refused. Default empty:
    /// any domain but the member domains.
    pub domains: Vec<String>,
    /// How often a URL source is fetched again; default 15 minutes.
    pub refresh_interval: Duration,
    /// Bound on one fetch (connect, request and body); default 5 s.
    pub fetch_timeout: Duration,
    /// Least time between two fetches triggered by unknown `kid`s, and the
    /// retry delay after a failed fetch; default 30 s.
    pub min_refresh_gap: Duration,
    /// What the idp's claims count for (`crate::trust`): its groups are
    /// qualified by its name (bare too with `trust_groups`), its `amr`/`acr`
    /// is MFA only with `mfa: trusted`. Default: trusted for nothing.
    pub trust: crate::trust::IdpTrust,
}

impl BearerConfig {
    /// A config with the defaults listed on each field.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks: JwksSource,
    ) -> Self {
        BearerConfig {
            name: name.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            jwks,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            email_claim: "email".into(),
            groups_claim: "groups".into(),
            member_domains: Vec::new(),
            domains: Vec::new(),
            refresh_interval: Duration::from_secs(15 * 60),
            fetch_timeout: Duration::from_secs(5),
            min_refresh_gap: Duration::from_secs(30),
            trust: crate::trust::IdpTrust::default(),
        }
    }
}

/// A usable verification key and the algorithms it may be used with.
struct JwkKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, JwkKey>,
}

/// The members of a JWK we read. Parsed by hand rather than with
/// `jsonwebtoken::jwk::Jwk` so that one odd key (an encryption key, an
/// unknown `kty`) is skipped instead of failing the whole set.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// Parses a JWKS, keeping the keys usable with `allowed` algorithms. Fails
/// when the document is not a JWKS or has no usable key.
fn parse_jwks(json: &[u8], allowed: &[Algorithm]) -> Result<KeySet, SessionError> {
    #[derive(Deserialize)]
    struct Doc {
        keys: Vec<Value>,
    }
    let doc: Doc = serde_json::from_slice(json)
        .map_err(|e| SessionError::Jwks(format!("not a JWKS document: {e}")))?;
    let mut set = KeySet::default();
    let mut skipped = 0usize;
    for v in doc.keys {
        match serde_json::from_value::<RawJwk>(v)
            .ok()
            .and_then(|k| usable_key(k, allowed))
        {
            Some((kid, key)) => {
                set.by_kid.entry(kid).or_insert(key);
            }
            None => skipped += 1,
        }
    }
    if set.by_kid.is_empty() {
        return Err(SessionError::Jwks(format!(
            "no usable signing key ({skipped} skipped: encryption keys, symmetric keys, or \
             algorithms outside the allow-list)"
        )));
    }
    if skipped > 0 {
        debug!(skipped, "JWKS keys skipped");
    }
    Ok(set)
}

/// The key's id (empty if it has none) and the key with the algorithms it may
/// verify, or `None` if it may verify nothing we allow.
fn usable_key(k: RawJwk, allowed: &[Algorithm]) -> Option<(String, JwkKey)> {
    if k.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    // The algorithms this key type can verify. A symmetric (`oct`) key is
    // never usable: HMAC verification with published key material is key
    // confusion by construction.
    let (family_algs, key): (&[Algorithm], DecodingKey) = match (k.kty.as_str(), k.crv.as_deref()) {
        ("RSA", _) => (
            AlgorithmFamily::Rsa.algorithms(),
            DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?,
        ),
        ("EC", Some(crv)) => {
            let (alg, len) = match crv {
                "P-256" => (&[Algorithm::ES256][..], 32),
                "P-384" => (&[Algorithm::ES384][..], 48),
                _ => return None,
            };
            let (x, y) = (k.x.as_deref()?, k.y.as_deref()?);
            if b64d(x).ok()?.len() != len || b64d(y).ok()?.len() != len {
                return None;
            }
            (alg, DecodingKey::from_ec_components(x, y).ok()?)
        }
        ("OKP", Some("Ed25519")) => {
            let x = k.x.as_deref()?;
            if b64d(x).ok()?.len() != 32 {
                return None;
            }
            (
                &[Algorithm::EdDSA][..],
                DecodingKey::from_ed_components(x).ok()?,
            )
        }
        _ => return None,
    };
    // A key that names its `alg` is used with exactly that algorithm, so a
    // token cannot pick a different one for the same key material.
    let algorithms: Vec<Algorithm> = match k.alg.as_deref() {
        Some(a) => {
            let a = Algorithm::from_str(a).ok()?;
            vec![a]
        }
        None => family_algs.to_vec(),
    }
    .into_iter()
    .filter(|a| family_algs.contains(a) && allowed.contains(a))
    .collect();
    if algorithms.is_empty() {
        return None;
    }
    Some((k.kid.unwrap_or_default(), JwkKey { key, algorithms }))
}

enum Source {
    File(PathBuf),
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
        poke: Arc<Notify>,
    },
}

/// Verifies bearer tokens of one idp against its JWKS.
///
/// Built at config load; for a URL source it starts with no keys, so call
/// [`BearerVerifier::refresh`] once and then [`BearerVerifier::spawn_refresh`].
pub struct BearerVerifier {
    cfg: BearerConfig,
    keys: ArcSwap<KeySet>,
    source: Source,
}

impl std::fmt::Debug for BearerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerVerifier")
            .field("idp", &self.cfg.name)
            .field("keys", &self.keys.load().by_kid.len())
            .finish_non_exhaustive()
    }
}

impl BearerVerifier {
    /// Checks the config and, for a file source, reads the keys.
    ///
    /// Fails on an empty or HMAC-containing algorithm list, an unreadable or
    /// keyless JWKS file, or a JWKS URL that is neither `https` nor loopback.
    pub fn new(cfg: BearerConfig) -> Result<Self, SessionError> {
        if cfg.algorithms.is_empty() {
            return Err(SessionError::Config(format!(
                "idp {}: `algorithms` is empty; leave it out for the default",
                cfg.name
            )));
        }
        if cfg
            .algorithms
            .iter()
            .any(|a| a.family() == AlgorithmFamily::Hmac)
        {
            return Err(SessionError::Config(format!(
                "idp {}: HMAC algorithms are never allowed for bearer tokens",
                cfg.name
            )));
        }
        let (source, keys) = match &cfg.jwks {
            JwksSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    SessionError::Jwks(format!("idp {}: {}: {e}", cfg.name, path.display()))
                })?;
                let keys = parse_jwks(&bytes, &cfg.algorithms).map_err(|e| {
                    SessionError::Jwks(format!("idp {}: {}: {e}", cfg.name, path.display()))
                })?;
                (Source::File(path.clone()), keys)
            }
            JwksSource::Url(url) => {
                let url = check_jwks_url(&cfg.name, url)?;
                let client = reqwest::Client::builder()
                    .timeout(cfg.fetch_timeout)
                    .connect_timeout(cfg.fetch_timeout)
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
                    .map_err(|e| {
                        SessionError::Config(format!("idp {}: HTTP client: {e}", cfg.name))
                    })?;
                let poke = Arc::new(Notify::new());
                (Source::Url { url, client, poke }, KeySet::default())
            }
        };
        Ok(BearerVerifier {
            cfg,
            keys: ArcSwap::from_pointee(keys),
            source,
        })
    }

    /// The idp's configured name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The `iss` this idp's tokens carry.
    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    /// Number of usable keys in the current set.
    pub fn key_count(&self) -> usize {
        self.keys.load().by_kid.len()
    }

    /// Verifies a bearer token at `now` and maps it to [`SessionClaims`].
    ///
    /// Runs on a cache miss for every request with `Authorization: Bearer`;
    /// never waits on the network. Checks, in order: shape, `alg` against the
    /// allow-list, the key by `kid` (an unknown `kid` wakes the refresh task,
    /// at most once per `min_refresh_gap`, and fails now: the client's retry
    /// finds the new key), `alg` against the key, the signature, then `iss`,
    /// `aud`, `exp`, `nbf`, `iat` (with leeway) and `sub`.
    ///
    /// Mapping: `sub` qualified by the idp's name (`partner-api:bot-1`); e-mail
    /// from `email_claim` (or empty); groups from `groups_claim`, qualified
    /// by the idp's name (`partner-api:ops`; bare too with `trust_groups`);
    /// `amr`, with `mfa` only when the idp is trusted for it;
    /// `auth_time` (else `iat`, else `now`); `sid` from `jti` (or empty);
    /// `idp` is the idp's name; `user_type` is member only when the e-mail's
    /// domain is both a member domain and one of the idp's `domains`.
    ///
    /// The trust boundary (issue 14, finding 1): a token's `sub` was looked
    /// up as a directory user id, so a token whose `sub` was a guest's or a
    /// member's id acted as that user, and a token with a member-domain
    /// e-mail was a member. Now the subject never names a directory user
    /// (directory ids have no `:`), the e-mail must be in a domain the idp
    /// speaks for, and a member is made only by an idp given a member domain.
    pub fn verify(&self, token: &str, now: i64) -> Result<SessionClaims, SessionError> {
        let parts = jwt::split(token)?;
        // `none`, HMAC and anything outside the allow-list stop here, before
        // a key is even looked up (see `parse_algorithm`).
        let alg = Algorithm::from_str(&parts.header.alg)
            .ok()
            .filter(|a| a.family() != AlgorithmFamily::Hmac && self.cfg.algorithms.contains(a))
            .ok_or(SessionError::AlgorithmNotAllowed)?;
        let keys = self.keys.load();
        let key = match parts.header.kid.as_deref() {
            Some(kid) => keys.by_kid.get(kid),
            None if keys.by_kid.len() == 1 => keys.by_kid.values().next(),
            None => None,
        };
        let Some(key) = key else {
            self.poke();
            return Err(SessionError::UnknownKid);
        };
        // The token's `alg` must be one the key is for: an RSA key is never
        // used for ES256, a key published as RS256 never for PS256.
        if !key.algorithms.contains(&alg) {
            return Err(SessionError::AlgorithmNotAllowed);
        }
        match jsonwebtoken::crypto::verify(
            parts.signature,
            parts.signing_input.as_bytes(),
            &key.key,
            alg,
        ) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Err(SessionError::BadSignature),
        }
        let payload = b64d(parts.payload).map_err(|_| SessionError::Malformed("payload"))?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| SessionError::Malformed("claims"))?;
        self.map_claims(&claims, now)
    }

    fn map_claims(&self, c: &Map<String, Value>, now: i64) -> Result<SessionClaims, SessionError> {
        let cfg = &self.cfg;
        if c.get("iss").and_then(Value::as_str) != Some(cfg.issuer.as_str()) {
            return Err(SessionError::WrongIssuer);
        }
        let aud_ok = match c.get("aud") {
            Some(Value::String(a)) => *a == cfg.audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(cfg.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(SessionError::WrongAudience);
        }
        let exp = numeric_date(c, "exp")?.ok_or(SessionError::Malformed("exp missing"))?;
        let nbf = numeric_date(c, "nbf")?;
        let iat = numeric_date(c, "iat")?;
        jwt::check_times(exp, nbf, iat, now, cfg.leeway_secs)?;
        let sub = c
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(SessionError::Malformed("sub missing"))?;
        let email = c
            .get(&cfg.email_claim)
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The trust boundary (issue 15): the issuer's groups are its own,
        // `partner-api:ops`, never the directory's `ops`.
        let groups = match c.get(&cfg.groups_claim) {
            Some(Value::Array(a)) => {
                let names: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                cfg.trust.groups(&cfg.name, &names)
            }
            Some(Value::String(g)) => cfg.trust.groups(&cfg.name, &[g.as_str()]),
            _ => Vec::new(),
        };
        let mut amr: Vec<String> = match c.get("amr") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        // `mfa` (and `phr`) only when the idp is trusted for it (`mfa:
        // trusted` and a value of its `mfa_values` or
        // `phishing_resistant_values`), whatever the token's `amr` says.
        let strength = cfg
            .trust
            .mfa_strength(&amr, c.get("acr").and_then(Value::as_str));
        super::set_mfa_amr(&mut amr, strength);
        let auth_time = numeric_date(c, "auth_time")?.or(iat).unwrap_or(now);
        let user_type = user_type_of(cfg, email)?;
        Ok(SessionClaims {
            iss: cfg.issuer.as_str().into(),
            sub: format!("{}:{sub}", cfg.name),
            aud: cfg.audience.as_str().into(),
            email: email.to_owned(),
            user_type,
            groups: groups.into(),
            idp: cfg.name.as_str().into(),
            amr: amr.into(),
            auth_time,
            iat: iat.unwrap_or(now),
            exp,
            sid: c
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Reads the keys again (file) or fetches them (URL), bounded by
    /// `fetch_timeout`, and swaps them in. On any failure the previous keys
    /// stay in use and the error is returned. Returns the number of keys.
    pub async fn refresh(&self) -> Result<usize, SessionError> {
        let bytes = match &self.source {
            Source::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| SessionError::Jwks(format!("{}: {e}", path.display())))?,
            Source::Url { url, client, .. } => {
                tokio::time::timeout(self.cfg.fetch_timeout, fetch(client, url))
                    .await
                    .map_err(|_| SessionError::Jwks(format!("{url}: timed out")))??
            }
        };
        let keys = parse_jwks(&bytes, &self.cfg.algorithms)?;
        let n = keys.by_kid.len();
        self.keys.store(Arc::new(keys));
        Ok(n)
    }

    /// Starts the background refresh of a URL source on the current tokio
    /// runtime; `None` for a file source. The task fetches at once, then every
    /// `refresh_interval` (after a failure, after `min_refresh_gap`), and when
    /// [`verify`](Self::verify) meets an unknown `kid`, at most once per
    /// `min_refresh_gap`. It ends by itself once the verifier is dropped;
    /// abort the handle to end it sooner.
    pub fn spawn_refresh(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let Source::Url { poke, .. } = &self.source else {
            return None;
        };
        let poke = Arc::clone(poke);
        let this = Arc::downgrade(self);
        let interval = self.cfg.refresh_interval;
        let gap = self.cfg.min_refresh_gap;
        Some(tokio::spawn(refresh_loop(this, poke, interval, gap)))
    }

    fn poke(&self) {
        if let Source::Url { poke, .. } = &self.source {
            poke.notify_one();
        }
    }
}

/// The `iss` claim of a token, read **without verifying anything**: only to
/// pick the one verifier (of several `jwt` idps) whose keys may judge the
/// token. That verifier then checks the signature and `iss` itself, so a
/// forged `iss` only chooses which keys must have signed it. `None` for a
/// token that is not a JWS with a JSON payload holding a string `iss`.
pub fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let parts = jwt::split(token).ok()?;
    let payload = b64d(parts.payload).ok()?;
    serde_json::from_slice::<Iss>(&payload).ok().map(|c| c.iss)
}

async fn refresh_loop(
    this: Weak<BearerVerifier>,
    poke: Arc<Notify>,
    interval: Duration,
    gap: Duration,
) {
    use tokio::time::{Instant, sleep_until};
    let mut last: Option<(Instant, bool)> = None;
    loop {
        if let Some((at, ok)) = last {
            let next = at + if ok { interval } else { gap.min(interval) };
            tokio::select! {
                () = sleep_until(next) => {}
                () = poke.notified() => {
                    // Rate limit: a stream of tokens with made-up `kid`s must
                    // not turn us into a request generator against the IdP.
                    sleep_until(at + gap).await;
                }
            }
        }
        let Some(v) = this.upgrade() else { return };
        let ok = match v.refresh().await {
            Ok(n) => {
                debug!(idp = %v.cfg.name, keys = n, "JWKS refreshed");
                true
            }
            Err(e) => {
                warn!(idp = %v.cfg.name, error = %e, "JWKS refresh failed; keeping the previous keys");
                false
            }
        };
        drop(v);
        last = Some((Instant::now(), ok));
    }
}

async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, SessionError> {
    let fail = |e: &dyn std::fmt::Display| SessionError::Jwks(format!("{url}: {e}"));
    let mut resp = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| fail(&e))?;
    if !resp.status().is_success() {
        return Err(fail(&format_args!("HTTP status {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(&e))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(fail(&"JWKS larger than 1 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JWKS URL must be `https`: over plain HTTP an on-path attacker could
/// serve their own keys and sign any token. Loopback `http` is allowed for
/// tests and a local IdP.
fn check_jwks_url(idp: &str, url: &str) -> Result<reqwest::Url, SessionError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| SessionError::Config(format!("idp {idp}: jwks_url `{url}`: {e}")))?;
    let loopback = parsed.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(SessionError::Config(format!(
            "idp {idp}: jwks_url `{url}` must use https (plain http is only allowed to loopback)"
        ))),
    }
}

/// A NumericDate claim (RFC 7519 §2): integer or fractional seconds.
/// `Ok(None)` when absent, `Malformed` when present but not a number.
/// Member or guest for a token's e-mail, or refused when the issuer does
/// not speak for its domain (see [`BearerVerifier::verify`]).
fn user_type_of(cfg: &BearerConfig, email: &str) -> Result<UserType, SessionError> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(UserType::Guest);
    };
    let listed = cfg.domains.iter().any(|d| d.eq_ignore_ascii_case(domain));
    let member = cfg
        .member_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain));
    match (cfg.domains.is_empty(), listed, member) {
        (false, false, _) | (true, _, true) => Err(SessionError::DomainNotAllowed),
        (_, true, true) => Ok(UserType::Member),
        _ => Ok(UserType::Guest),
    }
}

fn numeric_date(c: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, SessionError> {
    match c.get(name) {
        None => Ok(None),
        Some(v) => {
            let n = v
                .as_i64()
                .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
                // `as` saturates; NaN cannot come out of JSON.
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.floor() as i64)
                })
                .ok_or(SessionError::Malformed("time claim is not a number"))?;
            Ok(Some(n))
        }
    }
}

#[cfg(test)]
mod tests;
