//! A browser without JavaScript for the sign-in tests: keeps host-only
//! cookies per host (as a browser does), follows redirects by hand across
//! the gateway's hosts (all resolved to its listener) and the test IdP, and
//! fills forms by field name. Every request is bounded by `WAIT`.

use super::WAIT;
use reqwest::Url;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

pub struct Browser {
    http: reqwest::Client,
    /// host → cookie name → value.
    pub cookies: HashMap<String, BTreeMap<String, String>>,
    /// The `User-Agent` sent with every request (none by default).
    pub user_agent: Option<String>,
    /// `Accept-Language` sent with every request, if any.
    pub accept_language: Option<String>,
}

/// One response, with the form fields and links of an HTML page.
#[derive(Debug)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub location: Option<Url>,
    pub body: String,
}

impl Page {
    /// The `value` of the first `<input name="…">` (HTML-unescaped).
    pub fn field(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\"");
        let at = self.body.find(&needle)?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let v = tag.split("value=\"").nth(1)?.split('"').next()?;
        Some(unescape(v))
    }

    /// The text of the first element with this `id` (up to the next `<`).
    pub fn by_id(&self, id: &str) -> Option<String> {
        let needle = format!("id=\"{id}\"");
        let at = self.body.find(&needle)?;
        let start = at + self.body[at..].find('>')? + 1;
        let end = start + self.body[start..].find('<')?;
        Some(unescape(&self.body[start..end]))
    }

    /// Every `href` on the page, resolved against its URL.
    pub fn links(&self) -> Vec<Url> {
        self.body
            .split("href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .filter_map(|h| self.url.join(&unescape(h)).ok())
            .collect()
    }

    /// The `<h1>` text.
    pub fn heading(&self) -> String {
        self.body
            .split("<h1>")
            .nth(1)
            .and_then(|s| s.split("</h1>").next())
            .map(unescape)
            .unwrap_or_default()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    /// A browser that reaches `hosts` at the gateway's `addr`.
    pub fn new(addr: SocketAddr, hosts: &[&str]) -> Browser {
        Browser::patient(addr, hosts, WAIT)
    }

    /// Like [`Browser::new`], waiting up to `timeout` for each answer (for
    /// pages that are slow on purpose, e.g. behind a hung IdP).
    pub fn patient(addr: SocketAddr, hosts: &[&str], timeout: std::time::Duration) -> Browser {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(WAIT);
        for h in hosts {
            b = b.resolve(h, addr);
        }
        Browser {
            http: b.build().expect("HTTP client"),
            cookies: HashMap::new(),
            user_agent: None,
            accept_language: None,
        }
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let jar = self.cookies.get(url.host_str()?)?;
        if jar.is_empty() {
            return None;
        }
        Some(
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    async fn send(&mut self, req: reqwest::RequestBuilder, url: &Url) -> Page {
        let mut req = req
            .header("accept", "text/html")
            .header("sec-fetch-mode", "navigate");
        if let Some(c) = self.cookie_header(url) {
            req = req.header("cookie", c);
        }
        if let Some(ua) = &self.user_agent {
            req = req.header("user-agent", ua);
        }
        if let Some(l) = &self.accept_language {
            req = req.header("accept-language", l);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let host = url.host_str().unwrap_or_default().to_string();
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().expect("ascii set-cookie");
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let Some((k, val)) = pair.split_once('=') else {
                continue;
            };
            let jar = self.cookies.entry(host.clone()).or_default();
            if attrs.to_ascii_lowercase().contains("max-age=0") {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_string(), val.trim().to_string());
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let body = resp.text().await.unwrap_or_default();
        Page {
            url: url.clone(),
            status,
            location,
            body,
        }
    }

    /// One GET, no redirects followed.
    pub async fn get(&mut self, url: &str) -> Page {
        let url = Url::parse(url).expect("URL");
        let req = self.http.get(url.clone());
        self.send(req, &url).await
    }

    /// One form POST, no redirects followed.
    pub async fn post(&mut self, url: &Url, fields: &[(&str, &str)]) -> Page {
        let body = reqwest::Url::parse_with_params("http://x/", fields)
            .expect("form")
            .query()
            .unwrap_or_default()
            .to_string();
        let mut req = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        req = req.header("origin", url.origin().ascii_serialization());
        self.send(req, url).await
    }

    /// Follows redirects from `page` (at most 15) and returns the first
    /// response that is not one.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..15 {
            match (&page.location, page.status) {
                (Some(next), 301..=303 | 307 | 308) => {
                    let next = next.clone();
                    let req = self.http.get(next.clone());
                    page = self.send(req, &next).await;
                }
                _ => return page,
            }
        }
        panic!("more than 15 redirects, last at {}", page.url);
    }

    pub async fn open(&mut self, url: &str) -> Page {
        let p = self.get(url).await;
        self.follow(p).await
    }

    /// Submits the page's form at `action` (resolved against the page) with
    /// its hidden fields plus `fields`, and follows redirects.
    pub async fn submit(&mut self, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(String, String)> = Vec::new();
        for name in ["csrf", "rd", "email", "idp", "action", "token", "reauth"] {
            if fields.iter().any(|(k, _)| *k == name) {
                continue;
            }
            if let Some(v) = page.field(name) {
                all.push((name.to_string(), v));
            }
        }
        all.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let url = page.url.join(action).expect("form action");
        let p = self.post(&url, &refs).await;
        self.follow(p).await
    }
}

/// Walks redirects towards and through the IdP (filling its login form when
/// it shows one); returns the gateway's callback URL without following it.
pub async fn idp_login(b: &mut Browser, mut p: Page, login: &str, pw: &str) -> Url {
    for _ in 0..15 {
        if p.status == 200 && p.url.path().starts_with("/interaction/") {
            p = b.post(&p.url, &[("login", login), ("password", pw)]).await;
            continue;
        }
        let next = p
            .location
            .clone()
            .unwrap_or_else(|| panic!("no redirect: {p:?}"));
        if next.path() == "/.portcullis/callback" {
            return next;
        }
        p = b.get(next.as_str()).await;
    }
    panic!("no callback");
}
