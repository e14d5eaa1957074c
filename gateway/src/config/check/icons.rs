//! `apps[].icon`: the access panel tile's picture, an `https://` URL or a
//! file beside the config. A file is read here, so `check` reports a
//! missing, oversized or mislabelled one at its line and column, and the
//! gateway serves the bytes it checked (`/.portcullis/icons/`).

use super::Checker;
use crate::config::file::S;
use crate::config::runtime::{AppIcon, IconFile};
use base64::Engine as _;
use sha2::Digest as _;

/// Larger icons are refused: a tile is 48 px.
const MAX_ICON_BYTES: usize = 256 * 1024;

impl Checker<'_> {
    /// The icon `s` names, or `None` (with an error recorded).
    pub(super) fn app_icon(&mut self, s: &S<String>) -> Option<AppIcon> {
        self.image(s, "icon")
    }

    /// The picture `s` names (a file beside the config or an `https://`
    /// URL), called `what` in errors; `None` with an error recorded.
    pub(super) fn image(&mut self, s: &S<String>, what: &str) -> Option<AppIcon> {
        let text = s.value.trim();
        if text.is_empty() {
            self.err(s, format_args!("`{what}` is empty; name a file or an https:// URL"));
            return None;
        }
        if let Some(rest) = text.strip_prefix("http://") {
            self.err(
                s,
                format_args!(
                    "{what} `{text}`: use https://{rest} (a page of the gateway loads no plain-HTTP images)"
                ),
            );
            return None;
        }
        if text.starts_with("https://") {
            return match openidconnect::url::Url::parse(text) {
                Ok(u) if u.host_str().is_some() && u.username().is_empty() => {
                    Some(AppIcon::Url(u.to_string()))
                }
                _ => {
                    self.err(s, format_args!("{what} `{text}` is not a URL"));
                    None
                }
            };
        }
        let path = self.dir.join(text);
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let Some(content_type) = content_type(&ext) else {
            self.err(
                s,
                format_args!(
                    "{what} `{text}`: use an .svg, .png, .jpg, .gif, .webp or .ico file, or an https:// URL"
                ),
            );
            return None;
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                self.err(
                    s,
                    format_args!(
                        "{what} `{}` cannot be read: {e} (paths are relative to the config file)",
                        path.display()
                    ),
                );
                return None;
            }
        };
        if bytes.len() > MAX_ICON_BYTES {
            self.err(
                s,
                format_args!(
                    "{what} `{text}` is {} KiB; at most 256 KiB",
                    bytes.len() / 1024
                ),
            );
            return None;
        }
        if !looks_like(&ext, &bytes) {
            self.err(
                s,
                format_args!("{what} `{text}` is not a .{ext} file (its content says otherwise)"),
            );
            return None;
        }
        let digest = sha2::Sha256::digest(&bytes);
        let version = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9]);
        Some(AppIcon::File(IconFile {
            bytes: bytes.into(),
            content_type,
            version,
        }))
    }
}

fn content_type(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

/// Whether the bytes start as a file of this extension does: the answer's
/// content type comes from the name, and a browser must not be told
/// `image/png` for something else.
fn looks_like(ext: &str, b: &[u8]) -> bool {
    match ext {
        "png" => b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "jpg" | "jpeg" => b.starts_with(&[0xff, 0xd8, 0xff]),
        "gif" => b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"),
        "webp" => b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP",
        "ico" => b.starts_with(&[0, 0, 1, 0]),
        "svg" => std::str::from_utf8(b).is_ok_and(|t| t.contains("<svg")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{AppIcon, Config};

    fn load(dir: &std::path::Path, icon: &str) -> Result<Config, Vec<String>> {
        std::fs::create_dir_all(dir.join("rules")).expect("mkdir");
        std::fs::write(dir.join("rules/a.yaml"), "").expect("write");
        let text = format!(
            "listen: {{ http: 127.0.0.1:8080 }}\nrules: [\"rules/*.yaml\"]\n\
             organisation: {{ name: T }}\napps:\n  - name: wiki\n    icon: {icon}\n    \
             hosts: [wiki.localhost]\n    upstreams: [127.0.0.1:9001]\n"
        );
        Config::from_str(&dir.join("portcullis.yaml"), &text)
            .map_err(|es| es.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_file_is_read_and_checked_a_url_must_be_https() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("icons")).expect("mkdir");
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"/>";
        std::fs::write(dir.path().join("icons/wiki.svg"), svg).expect("write");
        std::fs::write(dir.path().join("icons/fake.png"), svg).expect("write");
        let c = load(dir.path(), "icons/wiki.svg").expect("loads");
        match &c.apps[0].icon {
            Some(AppIcon::File(f)) => {
                assert_eq!(f.content_type, "image/svg+xml");
                assert_eq!(&*f.bytes, svg);
                assert_eq!(f.version.len(), 12);
            }
            other => panic!("{other:?}"),
        }
        let c = load(dir.path(), "https://cdn.example/wiki.png").expect("loads");
        assert_eq!(
            c.apps[0].icon,
            Some(AppIcon::Url("https://cdn.example/wiki.png".into()))
        );
        // Each mistake at the icon's line and column (line 6, column 11).
        for (icon, says) in [
            ("icons/missing.svg", "cannot be read"),
            ("icons/fake.png", "is not a .png file"),
            ("icons/wiki.bmp", "use an .svg, .png"),
            (
                "http://cdn.example/wiki.png",
                "use https://cdn.example/wiki.png",
            ),
            ("\"https://\"", "is not a URL"),
        ] {
            let errors = load(dir.path(), icon).expect_err(icon);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains(":6:11: "), "{icon}: {errors:?}");
            assert!(errors[0].contains(says), "{icon}: {errors:?}");
        }
    }
}
