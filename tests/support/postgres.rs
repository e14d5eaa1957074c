//! A throwaway PostgreSQL cluster for an integration-test binary, started
//! on first use, one fresh database per call of [`database`]: the store
//! tests' own harness (`gateway/src/store/test_postgres.rs`, a `#[cfg(test)]`
//! module of the lib that integration tests cannot reach), included as is.

#[path = "../../gateway/src/store/test_postgres.rs"]
mod cluster;

/// A new, empty database on this binary's cluster: its `postgres://` URL.
pub async fn database() -> String {
    cluster::cluster().create_database().await
}

/// Stops this binary's PostgreSQL server (fast shutdown): every database on
/// it is unreachable until [`restart`].
pub fn stop() {
    cluster::cluster().stop();
}

/// Starts the server stopped by [`stop`] again, same port and data.
pub fn restart() {
    cluster::cluster().restart();
}
