//! `pingora-pass LISTEN UPSTREAM [THREADS]`: the smallest Pingora reverse
//! proxy, the reference the load comparison measures Portcullis against
//! (benches/LOAD.md). Every request goes to the one plain-HTTP upstream over
//! Pingora's keep-alive pool. Server settings are Pingora's defaults (as in
//! the gateway: work-stealing runtime, upstream pool of 128) apart from the
//! thread count.

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::{Opt, ServerConf};

struct Pass {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Pass {
    type CTX = ();
    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 4 {
        eprintln!("usage: pingora-pass LISTEN_ADDR UPSTREAM_ADDR [THREADS]");
        std::process::exit(2);
    }
    let threads = match args.get(3).map(|t| t.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("pingora-pass: THREADS must be a positive integer");
            std::process::exit(2);
        }
    };
    let conf = ServerConf {
        threads,
        pid_file: std::env::temp_dir()
            .join(format!("pingora-pass-{}.pid", std::process::id()))
            .to_string_lossy()
            .into_owned(),
        upgrade_sock: std::env::temp_dir()
            .join(format!("pingora-pass-{}.sock", std::process::id()))
            .to_string_lossy()
            .into_owned(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        Pass {
            upstream: args[2].clone(),
        },
    );
    proxy.add_tcp(&args[1]);
    server.add_service(proxy);
    server.run_forever();
}
