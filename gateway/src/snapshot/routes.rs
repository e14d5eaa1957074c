//! Which app a request is for: by `Host` (lower-cased, port removed) and the
//! longest matching `path_prefix`. An unknown host is never proxied.

use crate::config::App;
use rustc_hash::FxHashMap;

/// Host → apps on that host, longest path prefix first.
#[derive(Debug, Default)]
pub struct Routes {
    by_host: FxHashMap<String, Vec<(String, usize)>>,
}

impl Routes {
    pub fn new(apps: &[App]) -> Routes {
        let mut by_host: FxHashMap<String, Vec<(String, usize)>> = FxHashMap::default();
        for (i, app) in apps.iter().enumerate() {
            for host in &app.hosts {
                by_host
                    .entry(host.clone())
                    .or_default()
                    .push((app.path_prefix.clone().unwrap_or_default(), i));
            }
        }
        for list in by_host.values_mut() {
            list.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        }
        Routes { by_host }
    }

    /// The app index for a host header value and a normalised path.
    pub fn find(&self, host: &str, path: &str) -> Option<usize> {
        let host = host_without_port(host);
        let list = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_host.get(&host.to_ascii_lowercase())
        } else {
            self.by_host.get(host)
        }?;
        list.iter()
            .find(|(prefix, _)| {
                prefix.is_empty()
                    || path == prefix
                    || (path.starts_with(prefix.as_str())
                        && path.as_bytes().get(prefix.len()) == Some(&b'/'))
            })
            .map(|(_, i)| *i)
    }
}

/// `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`; a trailing dot
/// of a fully qualified name is dropped.
pub fn host_without_port(host: &str) -> &str {
    let h = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    h.strip_suffix('.').unwrap_or(h)
}

/// The request's authority: the absolute-form URI's, else the `Host`
/// header's (empty when neither is usable).
pub fn authority(req: &pingora::http::RequestHeader) -> &str {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get("host").and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// The `:port` part of a `Host` value (empty when there is none or it is
/// not all digits), to build URLs on other hosts of the same listener.
pub fn port_suffix(host: &str) -> &str {
    let rest = if host.starts_with('[') {
        host.find(']').map_or("", |end| &host[end + 1..])
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    match rest.strip_prefix(':') {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn port_suffix_is_digits_only() {
        assert_eq!(port_suffix("demo.localhost:8080"), ":8080");
        assert_eq!(port_suffix("demo.localhost"), "");
        assert_eq!(port_suffix("[::1]:8443"), ":8443");
        assert_eq!(port_suffix("[::1]"), "");
        assert_eq!(port_suffix("evil.com:80@x"), "");
        assert_eq!(port_suffix("a:"), "");
    }

    fn apps() -> Vec<App> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("r.yaml"), "").expect("write");
        let text = r#"
listen: { http: 127.0.0.1:8080 }
rules: [r.yaml]
organisation: { name: T }
apps:
  - { name: site, hosts: [example.test], upstreams: [127.0.0.1:1] }
  - { name: api, hosts: [example.test], path_prefix: /api, upstreams: [127.0.0.1:2] }
  - { name: api-v2, hosts: [example.test], path_prefix: /api/v2/, upstreams: [127.0.0.1:3] }
"#;
        Config::from_str(&dir.path().join(Path::new("c.yaml")), text)
            .expect("config")
            .apps
    }

    #[test]
    fn longest_prefix_wins_and_hosts_ignore_case_and_port() {
        let r = Routes::new(&apps());
        assert_eq!(r.find("example.test", "/"), Some(0));
        assert_eq!(r.find("Example.TEST:8080", "/api"), Some(1));
        assert_eq!(r.find("example.test.", "/api/x"), Some(1));
        assert_eq!(r.find("example.test", "/apix"), Some(0));
        assert_eq!(r.find("example.test", "/api/v2/users"), Some(2));
        assert_eq!(r.find("other.test", "/"), None);
        assert_eq!(r.find("", "/"), None);
    }

    #[test]
    fn ports_and_brackets() {
        assert_eq!(host_without_port("a.b:1"), "a.b");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("a.b"), "a.b");
    }
}
