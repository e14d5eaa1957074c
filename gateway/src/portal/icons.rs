//! `/.portcullis/icons/APP`: an app's icon file (`apps[].icon`), on every
//! host and without a session (a tile's picture is no secret, and a
//! `public` answer can be cached). The URL carries a digest of the bytes
//! (`?v=`), so the answer may be cached for a year.

use super::Reply;
use crate::config::AppIcon;
use crate::snapshot::Snapshot;

/// The icon of app `name`, or 404.
pub(super) fn icon(snapshot: &Snapshot, name: &str) -> Reply {
    let file = snapshot
        .config
        .apps
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.icon.as_ref());
    image(file)
}

/// `/.portcullis/logo`: the organisation's logo file, or 404 (none, or
/// an `https://` one that pages load from its own host).
pub(super) fn logo(snapshot: &Snapshot) -> Reply {
    image(snapshot.config.organisation.logo.as_ref())
}

/// A checked image file with a year's cache (its URL carries a digest of
/// its bytes), or 404.
fn image(icon: Option<&AppIcon>) -> Reply {
    let file = match icon {
        Some(AppIcon::File(f)) => Some(f),
        _ => None,
    };
    let Some(file) = file else {
        return Reply {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("cache-control", "no-store".into())],
            body: b"no such image\n".to_vec(),
        };
    };
    Reply {
        status: 200,
        content_type: file.content_type,
        headers: vec![
            (
                "cache-control",
                "public, max-age=31536000, immutable".into(),
            ),
            ("etag", format!("\"{}\"", file.version)),
            // An SVG opened on its own must not run script or load
            // anything in this origin.
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; sandbox".into(),
            ),
            ("x-content-type-options", "nosniff".into()),
        ],
        body: file.bytes.to_vec(),
    }
}
