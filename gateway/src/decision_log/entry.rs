//! What the request path hands the log: [`Seen`] borrows the decision's
//! own values; [`Pending`] is the owned copy that crosses to the writer,
//! with every string of the request in one buffer (one allocation).

use crate::config::Config;
use crate::session::SessionClaims;
use geoip::Country;
use rules::{ClientApp, Decision, Evaluation, Platform, Requirement, RuleSet, UserType, Why};
use smallvec::SmallVec;
use std::net::IpAddr;
use std::sync::Arc;

/// How a decision was reached before (or instead of) the rules.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Early {
    /// By the rules (`eval` is set).
    Rules,
    /// The directory has the user blocked.
    AccountBlocked,
    /// A cookie for a user the directory no longer has.
    UnknownUser,
    /// A bearer token was refused (its `SessionError` name).
    BadToken(&'static str),
}

impl Early {
    pub(crate) fn as_str(self) -> Option<&'static str> {
        match self {
            Early::Rules => None,
            Early::AccountBlocked => Some("account_blocked"),
            Early::UnknownUser => Some("unknown_user"),
            Early::BadToken(_) => Some("bad_token"),
        }
    }
}

/// One decision as the deciding code sees it: all borrowed, nothing
/// worked out anew.
pub struct Seen<'a> {
    /// The config and rules of the request's snapshot.
    pub config: &'a Arc<Config>,
    pub rules: &'a Arc<RuleSet>,
    /// The answer's `X-Request-Id` (32 hex digits); anything else (a
    /// re-check) gets a fresh id.
    pub request_id: &'a str,
    /// Unix seconds.
    pub at: i64,
    pub app: usize,
    pub host: &'a str,
    /// The normalised path, without the query.
    pub path: &'a str,
    pub method: &'a str,
    pub client_ip: IpAddr,
    pub country: Country,
    pub platform: Platform,
    pub client_app: ClientApp,
    pub claims: Option<&'a Arc<SessionClaims>>,
    /// The directory's (or else the token's) user type.
    pub user_type: Option<UserType>,
    /// Token and directory groups, lower-case.
    pub groups: &'a [String],
    /// A live assignment to the app.
    pub assigned: bool,
    /// The end (unix seconds) of an assignment that has ended.
    pub access_ended: Option<i64>,
    pub decision: Decision,
    pub early: Early,
    /// The rules' evaluation (the hot path's: the policies that applied).
    pub eval: Option<&'a Evaluation<'a>>,
    /// A re-check of an open connection.
    pub recheck: bool,
}

impl Seen<'_> {
    /// Whether this decision is recorded: the log is on, and it is a
    /// refusal, or an allow picked by the sample (a re-check's allow
    /// never).
    pub(super) fn kept(&self) -> bool {
        let s = &self.config.decision_log;
        if s.max_entries == 0 {
            return false;
        }
        if self.decision != Decision::Allow {
            return true;
        }
        if self.recheck {
            return false;
        }
        s.sample_allows >= 1.0 || (s.sample_allows > 0.0 && rand::random::<f64>() < s.sample_allows)
    }

    pub(super) fn to_pending(&self) -> Pending {
        let mut text = String::with_capacity(
            self.host.len()
                + self.path.len()
                + self.method.len()
                + self.groups.iter().map(|g| g.len() + 1).sum::<usize>(),
        );
        text.push_str(self.host);
        let host_end = text.len() as u32;
        text.push_str(self.path);
        let path_end = text.len() as u32;
        text.push_str(self.method);
        let method_end = text.len() as u32;
        for g in self.groups {
            text.push_str(g);
            text.push('\n');
        }
        let request_id =
            <[u8; 32]>::try_from(self.request_id.as_bytes()).unwrap_or_else(|_| new_request_id());
        Pending {
            config: Arc::clone(self.config),
            rules: Arc::clone(self.rules),
            request_id,
            at: self.at,
            app: self.app as u32,
            client_ip: self.client_ip,
            country: self.country,
            platform: self.platform,
            client_app: self.client_app,
            claims: self.claims.cloned(),
            user_type: self.user_type,
            assigned: self.assigned,
            access_ended: self.access_ended,
            decision: self.decision,
            early: self.early,
            why: self.eval.map(|e| e.why),
            applied: self
                .eval
                .map(|e| {
                    e.policies
                        .iter()
                        .filter(|t| t.applies)
                        .map(|t| Applied {
                            index: t.index,
                            result: t.result,
                            satisfied: t.satisfied,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            recheck: self.recheck,
            text,
            host_end,
            path_end,
            method_end,
        }
    }
}

/// A policy that applied, as the hot path's evaluation traced it.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Applied {
    pub index: u32,
    pub result: Requirement,
    pub satisfied: bool,
}

/// The owned entry on its way to the writer.
pub(crate) struct Pending {
    pub config: Arc<Config>,
    pub rules: Arc<RuleSet>,
    pub request_id: [u8; 32],
    pub at: i64,
    pub app: u32,
    pub client_ip: IpAddr,
    pub country: Country,
    pub platform: Platform,
    pub client_app: ClientApp,
    pub claims: Option<Arc<SessionClaims>>,
    pub user_type: Option<UserType>,
    pub assigned: bool,
    pub access_ended: Option<i64>,
    pub decision: Decision,
    pub early: Early,
    pub why: Option<Why>,
    pub applied: SmallVec<[Applied; 4]>,
    pub recheck: bool,
    /// Host, path and method back to back, then each group and a newline.
    text: String,
    host_end: u32,
    path_end: u32,
    method_end: u32,
}

impl Pending {
    pub fn request_id(&self) -> &str {
        std::str::from_utf8(&self.request_id).unwrap_or_default()
    }

    pub fn host(&self) -> &str {
        self.text.get(..self.host_end as usize).unwrap_or_default()
    }

    pub fn path(&self) -> &str {
        self.text
            .get(self.host_end as usize..self.path_end as usize)
            .unwrap_or_default()
    }

    pub fn method(&self) -> &str {
        self.text
            .get(self.path_end as usize..self.method_end as usize)
            .unwrap_or_default()
    }

    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.text
            .get(self.method_end as usize..)
            .unwrap_or_default()
            .split_terminator('\n')
    }
}

/// A new request id: 32 lower-case hex digits, the first 12 the
/// milliseconds since 1970 and the other 20 random (80 bits), as UUIDv7
/// orders them. Ids made later sort later, so the decision log's unique
/// index on them is appended at its right edge, a page or two dirtied per
/// batch, instead of one random leaf page per entry (each a 4 KiB WAL
/// frame on SQLite).
pub fn new_request_id() -> [u8; 32] {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    request_id_at(millis, rand::random::<u128>())
}

/// The id of [`new_request_id`] for a time and random bits.
fn request_id_at(millis: u128, random: u128) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = (millis & ((1 << 48) - 1)) << 80 | (random & ((1 << 80) - 1));
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_sort_by_the_time_they_were_made() {
        let a = request_id_at(1_796_000_000_000, u128::MAX);
        let b = request_id_at(1_796_000_000_001, 0);
        assert!(a < b);
        assert_eq!(&a[..12], b"01a229f12800");
        assert_eq!(&a[12..], b"ffffffffffffffffffff");
        assert_eq!(&b[12..], b"00000000000000000000");
        let (x, y) = (new_request_id(), new_request_id());
        assert_ne!(x, y);
        assert!(
            x.iter()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // Made now: the prefix is within a minute of the clock.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let made = u128::from_str_radix(std::str::from_utf8(&x[..12]).unwrap_or(""), 16)
            .unwrap_or_default();
        assert!(now.abs_diff(made) < 60_000, "{made} vs {now}");
    }
}
