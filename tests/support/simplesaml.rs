//! A real SAML 2.0 IdP on loopback: Debian's SimpleSAMLphp (package
//! `simplesamlphp`, 1.19) under PHP's built-in server, installed by
//! `scripts/test-deps`. Configured as an enterprise partner's IdP signs:
//! the assertion signed with RSA-SHA256 and exclusive C14N, a persistent
//! NameID, the claim URIs AD FS and Entra ID send as attribute names
//! (`attributes.NameFormat` uri), and the `AuthnContextClassRef` an IdP
//! reports after MFA (AD FS's and Entra's `multipleauthn`).
//!
//! Its whole config lives in a temporary folder (`SIMPLESAMLPHP_CONFIG_DIR`):
//! `config.php`, one `exampleauth:UserPass` account, the hosted IdP and our
//! SP as `saml20-sp-remote`. The IdP's metadata is served at
//! [`SimpleSaml::metadata_url`], which the gateway reads (`metadata_url`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// SimpleSAMLphp's `www` folder (Debian's layout).
pub const WWW: &str = "/usr/share/simplesamlphp/www";
pub const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";

/// One account of the IdP.
pub struct Account<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub groups: &'a [&'a str],
}

pub struct SimpleSaml {
    child: Child,
    pub port: u16,
    pub entity_id: String,
    pub dir: PathBuf,
}

fn php_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl SimpleSaml {
    /// Panics with what to run when SimpleSAMLphp or PHP is missing.
    pub fn assert_installed() {
        assert!(
            Path::new(WWW).join("module.php").exists()
                && Command::new("php")
                    .arg("-v")
                    .output()
                    .is_ok_and(|o| o.status.success()),
            "SimpleSAMLphp or php is missing: run scripts/test-deps"
        );
    }

    /// Starts the IdP on `port` (loopback) in `dir`, with one account, the
    /// SP `sp_entity_id` whose ACS is `acs`, and `authn_context` as every
    /// assertion's `AuthnContextClassRef`.
    pub fn start(
        dir: &Path,
        port: u16,
        account: &Account<'_>,
        sp_entity_id: &str,
        acs: &str,
        sp_slo: Option<&str>,
        authn_context: &str,
    ) -> SimpleSaml {
        Self::assert_installed();
        let dir = dir.join("simplesamlphp");
        for sub in [
            "config", "metadata", "cert", "log", "data", "tmp", "sessions",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=idp.fabrikam.test"])
            .arg("-keyout")
            .arg(dir.join("cert/idp.key"))
            .arg("-out")
            .arg(dir.join("cert/idp.crt"))
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = dir.display().to_string();
        let salt: String = (0..16)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        std::fs::write(
            dir.join("config/config.php"),
            format!(
                r#"<?php
$config = [
    'baseurlpath' => '/',
    'certdir' => {cert},
    'loggingdir' => {log},
    'datadir' => {data},
    'tempdir' => {tmp},
    'metadatadir' => {metadata},
    'secretsalt' => {salt},
    'auth.adminpassword' => {salt},
    'technicalcontact_name' => 'Tests',
    'technicalcontact_email' => 'na@idp.fabrikam.test',
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => false],
    'logging.handler' => 'errorlog',
    'logging.level' => SimpleSAML\Logger::WARNING,
    // Plain HTTP on loopback: cookies without Secure.
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'session.phpsession.savepath' => {sessions},
    'store.type' => 'phpsession',
    'production' => false,
    'showerrors' => true,
    'admin.checkforupdates' => false,
    'usenewui' => true,
    'metadata.sources' => [['type' => 'flatfile']],
];
"#,
                cert = php_str(&format!("{root}/cert/")),
                log = php_str(&format!("{root}/log/")),
                data = php_str(&format!("{root}/data/")),
                tmp = php_str(&format!("{root}/tmp/")),
                metadata = php_str(&format!("{root}/metadata/")),
                sessions = php_str(&format!("{root}/sessions")),
                salt = php_str(&salt),
            ),
        )
        .expect("config.php");
        let groups: Vec<String> = account.groups.iter().map(|g| php_str(g)).collect();
        std::fs::write(
            dir.join("config/authsources.php"),
            format!(
                r#"<?php
$config = [
    'partner-users' => [
        'exampleauth:UserPass',
        {user} => [
            'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress' => [{email}],
            'http://schemas.microsoft.com/identity/claims/displayname' => [{name}],
            'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups' => [{groups}],
        ],
    ],
];
"#,
                user = php_str(&format!("{}:{}", account.username, account.password)),
                email = php_str(account.email),
                name = php_str(account.name),
                groups = groups.join(", "),
            ),
        )
        .expect("authsources.php");
        let entity_id = "https://idp.fabrikam.test/adfs/services/trust".to_string();
        std::fs::write(
            dir.join("metadata/saml20-idp-hosted.php"),
            format!(
                r#"<?php
$metadata[{entity}] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'partner-users',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'authproc' => [
        10 => ['class' => 'saml:PersistentNameID', 'attribute' => 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'],
        20 => ['class' => 'saml:AuthnContextClassRef', 'AuthnContextClassRef' => {context}],
    ],
];
"#,
                entity = php_str(&entity_id),
                context = php_str(authn_context),
            ),
        )
        .expect("saml20-idp-hosted.php");
        let slo = sp_slo
            .map(|s| format!("    'SingleLogoutService' => {},\n", php_str(s)))
            .unwrap_or_default();
        std::fs::write(
            dir.join("metadata/saml20-sp-remote.php"),
            format!(
                r#"<?php
$metadata[{sp}] = [
    'AssertionConsumerService' => [['Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'Location' => {acs}]],
{slo}    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'validate.logout' => false,
];
"#,
                sp = php_str(sp_entity_id),
                acs = php_str(acs),
            ),
        )
        .expect("saml20-sp-remote.php");

        let log = std::fs::File::create(dir.join("php.log")).expect("php.log");
        let child = Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", WWW])
            .env("SIMPLESAMLPHP_CONFIG_DIR", dir.join("config"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("php is installed (scripts/test-deps)");
        let idp = SimpleSaml {
            child,
            port,
            entity_id,
            dir,
        };
        idp.wait_ready();
        idp
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where SimpleSAMLphp serves its IdP metadata.
    pub fn metadata_url(&self) -> String {
        format!("{}/saml2/idp/metadata.php", self.origin())
    }

    /// Its log (PHP's built-in server and SimpleSAMLphp's warnings).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("php.log")).unwrap_or_default()
    }

    /// Waits (10 s at most) until the metadata answers 200.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read as _, Write as _};
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let req = "GET /saml2/idp/metadata.php HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
                let mut answer = String::new();
                if s.write_all(req.as_bytes()).is_ok() && s.read_to_string(&mut answer).is_ok() {
                    assert!(
                        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
                        "SimpleSAMLphp's metadata did not answer 200:\n{}\n{}",
                        answer.lines().next().unwrap_or(""),
                        self.log()
                    );
                    assert!(
                        answer.contains("EntityDescriptor"),
                        "{answer}\n{}",
                        self.log()
                    );
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "SimpleSAMLphp did not start on port {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SimpleSaml {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
