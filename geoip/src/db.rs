//! The MaxMind country database: load, verify, reload, look up.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{MaxMindDbError, Reader};

use crate::country::{Country, CountryCode};

/// A verified, immutable MaxMind DB (GeoIP2/GeoLite2 Country or City, or any
/// other database whose records carry `country.iso_code`).
///
/// The file is read into memory once, not memory-mapped: mapping needs
/// `unsafe` (forbidden in this crate) and a mapped file that is overwritten in
/// place — exactly what a database updater does — is undefined behaviour. A
/// country database is a few megabytes, and reading it makes a
/// [`CountryDb`] a true snapshot: replacing the file never changes it.
pub struct CountryDb {
    reader: Reader<Vec<u8>>,
    path: PathBuf,
}

/// Why a database could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be read.
    #[error("{}: cannot open: {source}; check the `geoip.country_db` path", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a MaxMind DB or is corrupt (found by the full
    /// verification pass that runs on every load).
    #[error(
        "{}: {}; download the database again",
        path.display(),
        invalid_database(source)
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the reader found.
        #[source]
        source: MaxMindDbError,
    },
    /// A valid MaxMind DB that holds no countries (for example an ASN
    /// database).
    #[error(
        "{}: database type `{database_type}` has no countries; use a GeoIP2/GeoLite2 Country or City database",
        path.display()
    )]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The `database_type` from its metadata.
        database_type: String,
    },
}

impl GeoIpError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            GeoIpError::Open { path, .. }
            | GeoIpError::Invalid { path, .. }
            | GeoIpError::WrongType { path, .. } => path,
        }
    }
}

/// `maxminddb` starts most messages with "invalid database"; add it only
/// where it does not, so it is said once.
fn invalid_database(e: &MaxMindDbError) -> String {
    let s = e.to_string();
    if s.starts_with("invalid database") {
        s
    } else {
        format!("invalid database: {s}")
    }
}

impl CountryDb {
    /// Reads the database at `path`, runs the reader's full verification
    /// (a corrupt data section still opens fine and only fails on the lookups
    /// that touch it) and checks the database type is a Country or City one.
    ///
    /// Runs at start-up and on reload, never on the request path (it reads
    /// and walks the whole file).
    pub fn open(path: &Path) -> Result<CountryDb, GeoIpError> {
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Open {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |source| GeoIpError::Invalid {
            path: path.to_owned(),
            source,
        };
        let reader = Reader::from_source(bytes).map_err(invalid)?;
        reader.verify().map_err(invalid)?;
        let database_type = &reader.metadata().database_type;
        if !has_countries(database_type) {
            return Err(GeoIpError::WrongType {
                path: path.to_owned(),
                database_type: database_type.clone(),
            });
        }
        Ok(CountryDb {
            reader,
            path: path.to_owned(),
        })
    }

    /// Re-reads the same path and returns a new database; `self` is untouched,
    /// so on error the caller keeps serving from the one it has.
    pub fn reload(&self) -> Result<CountryDb, GeoIpError> {
        CountryDb::open(&self.path)
    }

    /// The country of `ip` (`country.iso_code`: where the address is used,
    /// not `registered_country`, where its block is registered).
    ///
    /// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack
    /// listener reports) are looked up as IPv4. Not found, a record without a
    /// country, a code that is not ISO 3166-1, or a decode error all give
    /// [`Country::Unknown`].
    pub fn lookup(&self, ip: IpAddr) -> Country {
        let Ok(found) = self.reader.lookup(ip.to_canonical()) else {
            return Country::Unknown;
        };
        match found.decode_path::<&str>(&maxminddb::path!["country", "iso_code"]) {
            Ok(Some(code)) => CountryCode::parse(code).map_or(Country::Unknown, Country::Known),
            Ok(None) | Err(_) => Country::Unknown,
        }
    }

    /// The file this database was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every country some network of the database is placed in (for
    /// `rules lint`: a named location's country the database never gives
    /// can never match). Walks the whole database: a CLI-time call, never on
    /// the request path. A record that does not decode is skipped.
    pub fn countries(&self) -> std::collections::BTreeSet<CountryCode> {
        let mut found = std::collections::BTreeSet::new();
        let Ok(networks) = self.reader.networks(maxminddb::WithinOptions::default()) else {
            return found;
        };
        for item in networks.flatten() {
            if let Ok(Some(code)) =
                item.decode_path::<&str>(&maxminddb::path!["country", "iso_code"])
                && let Ok(code) = CountryCode::parse(code)
            {
                found.insert(code);
            }
        }
        found
    }

    /// `database_type` from the metadata, e.g. `GeoIP2-Country`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the database was built, in seconds since the Unix epoch.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }
}

impl std::fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryDb")
            .field("path", &self.path)
            .field("database_type", &self.database_type())
            .field("build_epoch", &self.build_epoch())
            .finish()
    }
}

/// Country and City databases (GeoIP2, GeoLite2, DB-IP and Enterprise-style
/// names) carry `country.iso_code`; ASN, ISP, Domain, … do not.
fn has_countries(database_type: &str) -> bool {
    let t = database_type.to_ascii_lowercase();
    t.contains("country") || t.contains("city")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn database_types() {
        for t in [
            "GeoIP2-Country",
            "GeoLite2-Country",
            "GeoIP2-City",
            "GeoLite2-City",
            "DBIP-Country-Lite",
        ] {
            assert!(has_countries(t), "{t}");
        }
        for t in ["GeoLite2-ASN", "GeoIP2-ISP", "GeoIP2-Domain", ""] {
            assert!(!has_countries(t), "{t}");
        }
    }

    #[test]
    fn missing_file_names_it() {
        let err = CountryDb::open(Path::new("/nonexistent/country.mmdb")).unwrap_err();
        assert!(matches!(err, GeoIpError::Open { .. }));
        assert_eq!(err.path(), Path::new("/nonexistent/country.mmdb"));
        let msg = err.to_string();
        assert!(
            msg.starts_with("/nonexistent/country.mmdb: cannot open: No such file or directory"),
            "{msg}"
        );
    }

    #[test]
    fn db_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<CountryDb>();
    }
}
