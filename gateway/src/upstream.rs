//! Upstream pools: one per app, round robin over the app's upstreams,
//! skipping those that fail their health check.

use crate::config::App;
use pingora::lb::LoadBalancer;
use pingora::lb::selection::RoundRobin;
use pingora::upstreams::peer::HttpPeer;
use std::sync::Arc;

/// One app's pool.
pub struct Pool {
    pub app: App,
    pub lb: Arc<LoadBalancer<RoundRobin>>,
}

/// Pools by app index (the index into `config.apps` of the snapshot they
/// were built for).
#[derive(Default)]
pub struct Upstreams {
    pub pools: Vec<Arc<Pool>>,
}

impl Upstreams {
    /// Builds a pool per app. Fails when an upstream address does not
    /// resolve.
    pub fn build(apps: &[App]) -> Result<Upstreams, String> {
        let pools = apps
            .iter()
            .map(|app| {
                let lb =
                    LoadBalancer::try_from_iter(app.upstreams.iter().map(|u| u.address.as_str()))
                        .map_err(|e| format!("app `{}`: upstreams: {e}", app.name))?;
                Ok(Arc::new(Pool {
                    app: app.clone(),
                    lb: Arc::new(lb),
                }))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Upstreams { pools })
    }

    /// A peer for the app, or `None` when every upstream is down.
    pub fn peer(&self, app: usize) -> Option<Box<HttpPeer>> {
        let pool = self.pools.get(app)?;
        let backend = pool.lb.select(b"", 256)?;
        let upstream = pool
            .app
            .upstreams
            .iter()
            .find(|u| u.tls)
            .map(|u| u.address.clone());
        let tls = upstream.is_some();
        let sni = pool.app.upstream_tls.sni.clone().unwrap_or_else(|| {
            backend
                .addr
                .to_string()
                .rsplit_once(':')
                .map_or(String::new(), |(h, _)| h.to_string())
        });
        let mut peer = HttpPeer::new(backend.addr.to_string(), tls, sni);
        peer.options.connection_timeout = Some(pool.app.connect_timeout);
        peer.options.read_timeout = Some(pool.app.read_timeout);
        if pool.app.upstream_tls.insecure_skip_verify {
            peer.options.verify_cert = false;
            peer.options.verify_hostname = false;
        }
        Some(Box::new(peer))
    }
}
