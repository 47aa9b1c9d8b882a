//! Putting a manifest: byte for byte, under its own media type, so its digest is the one it
//! had; the digest the registry answers is compared with the one drag computed, since a
//! registry that rewrote the document would break every index and signature naming it.

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::http::{Body, Request};
use crate::manifest::RawManifest;
use crate::registry::Session;

/// Puts `m` into the session's repository under `reference` (a tag, or its digest).
pub(crate) async fn put(dest: &Session, reference: &str, m: &RawManifest) -> Result<()> {
    let what = format!("manifest {}:{reference}", dest.display_name());
    if let Ok(d) = Digest::parse(reference) {
        if d != m.digest {
            return Err(Error::Usage(format!(
                "{what}: the manifest's digest is {}, not the one named",
                m.digest
            )));
        }
    }
    let url = dest.url(&format!("manifests/{reference}"))?;
    let content_type = HeaderValue::from_str(&m.media_type)
        .map_err(|_| Error::manifest(&what, "its media type cannot be sent as a Content-Type"))?;
    let mut req = Request::new(Method::PUT, url, &what);
    req.headers.insert(CONTENT_TYPE, content_type);
    req.body = Body::Bytes(bytes::Bytes::from(m.bytes.clone()));
    let resp = dest.send(req).await?;
    if resp.status() != StatusCode::CREATED && resp.status() != StatusCode::OK {
        let mut e = resp.into_error(what.as_str()).await;
        if let Error::Registry(r) = &mut e {
            // distribution answers a URL its policy refuses with a 500 of UNKNOWN errors.
            if matches!(r.status, 400 | 500) && names_layer_urls(m, &what) {
                r.hint
                    .get_or_insert_with(crate::hints::foreign_urls_refused);
            }
        }
        return Err(e);
    }
    if let Some(answered) = resp.header("docker-content-digest") {
        match Digest::parse(answered.trim()) {
            Ok(d) if d == m.digest => {}
            _ => {
                return Err(Error::Upload {
                    what,
                    reason: format!(
                        "the registry answered Docker-Content-Digest {}, but the manifest sent \
                         is {}: it may have stored something else",
                        crate::terminal_text::shown(answered.trim()),
                        m.digest
                    ),
                })
            }
        }
    }
    Ok(())
}

/// True when `m` is an image manifest with a layer that names URLs: the one kind of content a
/// registry refuses by policy rather than by mistake.
fn names_layer_urls(m: &RawManifest, what: &str) -> bool {
    match m.parse(what) {
        Ok(crate::manifest::Manifest::Image(image)) => {
            image.layers.iter().any(|l| !l.urls.is_empty())
        }
        _ => false,
    }
}
