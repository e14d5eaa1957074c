//! The portal's refusal and error pages: the card of `crate::refusal`
//! (what happened, what next, whom to ask, the request id) with the ways
//! on — the apps page, switch account, sign out — and, for a client that
//! asks for JSON, the same `reason` as JSON.

use super::{Handler, Reply, page_headers, paths};
use crate::refusal::{Facts, Page, Reason};

impl Handler<'_> {
    /// An error page (status ≥ 400): `text`, an optional `next` step and
    /// best `link`, and the ways on.
    pub(super) fn refusal(
        &self,
        status: u16,
        title: &str,
        text: &str,
        link: Option<(&str, &str)>,
        reason: Option<(Reason, String)>,
    ) -> Reply {
        let (reason, next) = match reason {
            Some((r, next)) => (Some(r.as_str()), Some(next)),
            None => (None, None),
        };
        let page = self.ways_on(Page {
            chrome: self.chrome(),
            request_id: self.req.request_id,
            title: title.into(),
            text: text.into(),
            next,
            reason,
            link: link.map(|(l, _)| l.to_string()),
            link_text: link.map(|(_, t)| t.to_string()),
            ..Page::default()
        });
        self.refusal_reply(status, &page)
    }

    /// The facts every refusal words itself with: language, organisation,
    /// help desk. Callers add the app, the inviter, the owners.
    pub(super) fn facts(&self) -> Facts<'_> {
        Facts {
            lang: self.lang,
            org: self.org(),
            support: self.chrome().support_line(),
            ..Facts::default()
        }
    }

    /// A refusal for `reason`, worded from `facts`.
    pub(super) fn refusal_for(
        &self,
        status: u16,
        reason: Reason,
        facts: &Facts<'_>,
        link: Option<(&str, &str)>,
    ) -> Reply {
        let mut page = self.ways_on(Page::for_reason(
            reason,
            facts,
            self.req.request_id,
            self.chrome(),
        ));
        page.link = link.map(|(l, _)| l.to_string());
        page.link_text = link.map(|(_, t)| t.to_string());
        self.refusal_reply(status, &page)
    }

    fn refusal_reply(&self, status: u16, page: &Page<'_>) -> Reply {
        // For the access log: the proxy takes it off the answer
        // (`reserved::REASON_HEADER`).
        let reason: Vec<(&'static str, String)> = page
            .reason
            .map(|r| (crate::reserved::REASON_HEADER, r.to_string()))
            .into_iter()
            .collect();
        if wants_json(self.req.headers) {
            let code = page.reason.unwrap_or(match status {
                404 => "not_found",
                400 | 413 => "bad_request",
                429 => "too_many_requests",
                500..=599 => "unavailable",
                _ => "refused",
            });
            return Reply {
                status,
                content_type: "application/json",
                headers: reason,
                body: page.json(code),
            };
        }
        let mut reply = Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: page_headers().into_iter().chain(reason).collect(),
            body: page.html(&self.snapshot.templates),
        };
        super::csp_for(&mut reply, &page.chrome);
        reply
    }

    /// The apps page always; sign out and switch account for someone with
    /// a session here.
    fn ways_on<'p>(&self, mut page: Page<'p>) -> Page<'p> {
        let on_app_host = self.req.app.is_some();
        page.apps_url = Some(if on_app_host {
            format!("{}{}", self.auth_origin(), paths::APPS)
        } else {
            paths::APPS.to_string()
        });
        if self.session().is_some() {
            page.sign_out_url = Some(paths::SIGN_OUT.to_string());
            page.switch_url = Some(if on_app_host {
                format!("{}?switch=1", paths::SIGN_OUT)
            } else {
                format!("{}?reauth=1", paths::SIGN_IN)
            });
        }
        page
    }
}

/// Whether the client asked for JSON rather than a page (an API client
/// or a script): `Accept` names `application/json` and not `text/html`.
fn wants_json(headers: &http::HeaderMap) -> bool {
    let accept = headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/html")
}

#[cfg(test)]
mod tests {
    use super::wants_json;

    #[test]
    fn json_only_for_clients_that_ask_for_it_and_not_for_a_page() {
        let mut h = http::HeaderMap::new();
        assert!(!wants_json(&h));
        h.insert("accept", "application/json".parse().expect("value"));
        assert!(wants_json(&h));
        h.insert(
            "accept",
            "text/html,application/xhtml+xml,application/json;q=0.9"
                .parse()
                .expect("value"),
        );
        assert!(!wants_json(&h));
    }
}
