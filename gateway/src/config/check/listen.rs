//! `listen`, `admin` and `trusted_proxies`: where traffic comes in, and
//! which peers may say where it came from.

use ipnet::IpNet;
use std::net::SocketAddr;

use super::Checker;
use crate::config::file::{AdminFile, ListenFile, S};
use crate::config::runtime::{Admin, Https, Listen};

impl Checker<'_> {
    /// `listen`: at least one of `http` and `https`; the certificate and key
    /// files must exist.
    pub(super) fn listen(&mut self, f: &S<ListenFile>) -> Listen {
        let listen = Listen {
            http: f.value.http.as_ref().and_then(|s| self.addr(s)),
            https: f.value.https.as_ref().map(|h| Https {
                address: self
                    .addr(&h.address)
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
                cert: self.existing_file(&h.cert, "certificate file"),
                key: self.existing_file(&h.key, "key file"),
            }),
        };
        if f.value.http.is_none() && f.value.https.is_none() {
            self.err(f, "`listen` needs `http`, `https` or both");
        }
        listen
    }

    /// `admin`: its own address, never one of the public listeners'.
    pub(super) fn admin(&mut self, f: Option<&S<AdminFile>>, listen: &Listen) -> Option<Admin> {
        let a = f?;
        let admin = Admin {
            address: self
                .addr(&a.value.address)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            token_file: a
                .value
                .token_file
                .as_ref()
                .map(|t| self.existing_file(t, "admin token file")),
        };
        if [listen.http, listen.https.as_ref().map(|h| h.address)].contains(&Some(admin.address)) {
            // The admin API must never be reachable on the public port.
            self.err(a, "`admin.address` must differ from the public listeners");
        }
        Some(admin)
    }

    /// `trusted_proxies`: CIDR ranges or single addresses, without host bits.
    pub(super) fn trusted_proxies(&mut self, f: &[S<String>]) -> Vec<IpNet> {
        f.iter()
            .filter_map(|s| {
                match s
                    .value
                    .parse::<IpNet>()
                    .or_else(|_| s.value.parse::<std::net::IpAddr>().map(IpNet::from))
                {
                    Ok(n) if n.trunc() == n => Some(n),
                    Ok(n) => {
                        self.err(
                            s,
                            format_args!(
                                "`{}` has host bits set; did you mean `{}`?",
                                s.value,
                                n.trunc()
                            ),
                        );
                        None
                    }
                    Err(_) => {
                        self.err(
                            s,
                            format_args!(
                                "`{}` is not an IP range; use CIDR notation such as 10.0.0.0/8",
                                s.value
                            ),
                        );
                        None
                    }
                }
            })
            .collect()
    }
}
