//! The data path: the only `impl ProxyHttp`; each phase calls a module named
//! after its job.

pub mod path;
pub mod route;
