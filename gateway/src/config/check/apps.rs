//! `apps`: the apps behind the gateway, their hosts, upstreams and
//! timeouts, and who owns them. Their `sign_up` is in `sign_up.rs`.

use std::collections::HashMap;
use std::time::Duration;

use super::Checker;
use crate::config::file::{AppFile, S};
use crate::config::runtime::{App, HealthCheck, OnUnauthenticated, Owner, Upstream, UpstreamTls};

impl Checker<'_> {
    /// `apps`: at least one; names and (host, path prefix) pairs unique.
    /// Owners and sign-up are filled in later (`owners`, `sign_up`), after
    /// the idps.
    pub(super) fn apps(&mut self, apps: &S<Vec<S<AppFile>>>) -> Vec<App> {
        if apps.value.is_empty() {
            self.err(apps, "`apps` is empty; list at least one app");
        }
        let mut names = HashMap::new();
        let mut hosts = HashMap::new();
        let mut out = Vec::new();
        for a in &apps.value {
            let f = &a.value;
            let name = f.name.value.trim().to_string();
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                self.err(
                    &f.name,
                    format_args!("`{name}` is not an app name; use letters, digits, `-` and `_`"),
                );
            }
            if name == "all" {
                self.err(
                    &f.name,
                    "`all` is reserved in rule files; choose another app name",
                );
            }
            if let Some(first) = names.insert(name.clone(), f.name.referenced.line()) {
                self.err(
                    &f.name,
                    format_args!("app `{name}` is defined twice (first on line {first})"),
                );
            }
            if f.hosts.value.is_empty() {
                self.err(
                    &f.hosts,
                    format_args!("app `{name}` needs at least one host"),
                );
            }
            let mut app_hosts = Vec::new();
            for h in &f.hosts.value {
                let host = h.value.trim().to_ascii_lowercase();
                let ok = !host.is_empty()
                    && host.split('.').all(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    });
                if !ok {
                    self.err(
                        h,
                        format_args!("`{}` is not a host name (no scheme, port or path)", h.value),
                    );
                }
                let prefix = f
                    .path_prefix
                    .as_ref()
                    .map(|p| p.value.trim_end_matches('/').to_string())
                    .unwrap_or_default();
                if let Some(other) = hosts.insert((host.clone(), prefix), name.clone()) {
                    self.err(
                        h,
                        format_args!(
                            "host `{host}` with this path prefix already belongs to app `{other}`"
                        ),
                    );
                }
                app_hosts.push(host);
            }
            if f.upstreams.value.is_empty() {
                self.err(
                    &f.upstreams,
                    format_args!("app `{name}` needs at least one upstream"),
                );
            }
            for u in &f.upstreams.value {
                let text = u.value.trim();
                let bare = text
                    .strip_prefix("https://")
                    .or_else(|| text.strip_prefix("http://"))
                    .unwrap_or(text);
                let ok = bare
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    self.err(
                        u,
                        format_args!(
                            "`{text}` is not an upstream; use HOST:PORT or https://HOST:PORT"
                        ),
                    );
                }
            }
            for p in &f.public_paths {
                if !p.value.starts_with('/') {
                    self.err(
                        p,
                        format_args!("public path `{}` must start with `/`", p.value),
                    );
                }
            }
            let upstreams = f
                .upstreams
                .value
                .iter()
                .map(|u| {
                    let t = u.value.trim();
                    match t.strip_prefix("https://") {
                        Some(a) => Upstream {
                            address: a.trim_end_matches('/').to_string(),
                            tls: true,
                        },
                        None => Upstream {
                            address: t
                                .trim_start_matches("http://")
                                .trim_end_matches('/')
                                .to_string(),
                            tls: false,
                        },
                    }
                })
                .collect();
            let path_prefix = f.path_prefix.as_ref().map(|p| {
                if !p.value.starts_with('/') {
                    self.err(
                        p,
                        format_args!("path prefix `{}` must start with `/`", p.value),
                    );
                }
                p.value.trim_end_matches('/').to_string()
            });
            let upstream_tls = match &f.upstream_tls {
                None => UpstreamTls::default(),
                Some(t) => UpstreamTls {
                    ca_file: t.ca_file.as_ref().map(|c| self.existing_file(c, "CA file")),
                    insecure_skip_verify: t.insecure_skip_verify,
                    sni: t.sni.clone(),
                },
            };
            let mut dur = |d: &Option<S<String>>, default: u64| {
                d.as_ref()
                    .and_then(|d| self.duration(d))
                    .unwrap_or(Duration::from_secs(default))
            };
            let connect_timeout = dur(&f.connect_timeout, 5);
            let read_timeout = dur(&f.read_timeout, 60);
            let health_check = HealthCheck {
                path: f
                    .health_check
                    .as_ref()
                    .and_then(|h| h.path.as_ref())
                    .map(|p| {
                        if !p.value.starts_with('/') {
                            self.err(
                                p,
                                format_args!("health check path `{}` must start with `/`", p.value),
                            );
                        }
                        p.value.clone()
                    }),
                interval: f
                    .health_check
                    .as_ref()
                    .and_then(|h| h.interval.as_ref())
                    .and_then(|i| self.duration(i))
                    .unwrap_or(Duration::from_secs(5)),
            };
            let on_unauthenticated = match f.on_unauthenticated.as_ref() {
                None => OnUnauthenticated::Auto,
                Some(o) => match o.value.as_str() {
                    "auto" => OnUnauthenticated::Auto,
                    "redirect" => OnUnauthenticated::Redirect,
                    "deny" => OnUnauthenticated::Deny,
                    other => {
                        self.err(
                            o,
                            format_args!("`{other}` is not a choice for on_unauthenticated (one of: auto, redirect, deny)"),
                        );
                        OnUnauthenticated::Auto
                    }
                },
            };
            let allow_cors_preflight = match f.cors_preflight.as_ref() {
                None => false,
                Some(c) => {
                    match c.value.as_str() {
                        "allow" => true,
                        "deny" => false,
                        other => {
                            self.err(c, format_args!("`{other}` is not a choice for cors_preflight (one of: allow, deny)"));
                            false
                        }
                    }
                }
            };
            out.push(App {
                title: f.title.clone().unwrap_or_else(|| name.clone()),
                name,
                description: f.description.clone(),
                icon: f.icon.as_ref().and_then(|i| self.app_icon(i)),
                hosts: app_hosts,
                path_prefix,
                upstreams,
                public_paths: f.public_paths.iter().map(|p| p.value.clone()).collect(),
                preserve_host: f.preserve_host.unwrap_or(true),
                upstream_tls,
                connect_timeout,
                read_timeout,
                health_check,
                on_unauthenticated,
                allow_cors_preflight,
                forward_session_cookie: f.forward_session_cookie,
                forward_authorization: f.forward_authorization,
                owners: Vec::new(),
                sign_up: None,
            });
        }
        out
    }

    /// `apps[].owners`: e-mails or `group:NAME`.
    pub(super) fn owners(&mut self, app: &AppFile) -> Vec<Owner> {
        app.owners
            .iter()
            .filter_map(|o| {
                let v = o.value.trim();
                if let Some(g) = v.strip_prefix("group:") {
                    if g.trim().is_empty() {
                        self.err(o, "`group:` needs a group name");
                        return None;
                    }
                    return Some(Owner::Group(g.trim().to_ascii_lowercase()));
                }
                match v.split_once('@') {
                    Some((l, d)) if !l.is_empty() && d.contains('.') && !v.contains(' ') => {
                        Some(Owner::Email(v.to_ascii_lowercase()))
                    }
                    _ => {
                        self.err(
                            o,
                            format_args!("owner `{v}` is not an e-mail address or `group:NAME`"),
                        );
                        None
                    }
                }
            })
            .collect()
    }
}
