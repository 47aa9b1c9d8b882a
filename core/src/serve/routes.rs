//! What a request asks for, read from its method, path and query, strictly: a repository name
//! per distribution's grammar, a digest of an algorithm drag verifies in lower-case hex, a tag
//! per the tag grammar. Nothing in a path ever reaches the file system (the catalogue is a map),
//! but a path that is not one of these is refused as such, with the code a registry would give.

use crate::digest::Digest;
use crate::reference::is_valid_tag;

use super::names::{host_component, is_repository};

/// The longest path and query taken; no valid request comes close.
const MAX_TARGET_BYTES: usize = 2048;

/// A request the registry answers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/v2/`: the API check.
    Base,
    /// `/v2/_catalog?n=&last=`
    Catalog(Page),
    /// `/v2/<name>/tags/list?n=&last=`
    Tags(String, Page),
    /// `/v2/<name>/manifests/<tag or digest>`
    Manifest(String, ManifestRef),
    /// `/v2/<name>/blobs/<digest>`
    Blob(String, Digest),
    /// `/v2/<name>/referrers/<digest>?artifactType=`
    Referrers(String, Digest, Option<String>),
}

/// A manifest asked for by tag or by digest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

/// `n` and `last` of a paginated list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) n: Option<usize>,
    pub(crate) last: Option<String>,
}

/// Why a request is refused: the status and distribution error code, and a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

/// Reads a GET or HEAD request's path and query. `keep_host`: a containerd mirror request's
/// `?ns=HOST` puts HOST in front of the name, as `--keep-host` names images.
pub(crate) fn route(path: &str, query: Option<&str>, keep_host: bool) -> Result<Route, Refusal> {
    if path.len() + query.map_or(0, str::len) > MAX_TARGET_BYTES {
        return Err(refuse(414, "NAME_INVALID", "request target too long"));
    }
    let params = parse_query(query.unwrap_or(""))?;
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let rest = path
        .strip_prefix("/v2")
        .ok_or_else(|| refuse(404, "UNSUPPORTED", "not a registry API path (/v2/...)"))?;
    if rest.is_empty() || rest == "/" {
        return Ok(Route::Base);
    }
    let rest = rest
        .strip_prefix('/')
        .ok_or_else(|| refuse(404, "UNSUPPORTED", "not a registry API path (/v2/...)"))?;
    if rest.split('/').any(|part| part == ".." || part == ".") {
        return Err(refuse(
            400,
            "NAME_INVALID",
            "a path with . or .. components",
        ));
    }
    if rest == "_catalog" {
        return Ok(Route::Catalog(page(&param)?));
    }
    let name_of = |name: &str| -> Result<String, Refusal> {
        if !is_repository(name) {
            return Err(refuse(
                400,
                "NAME_INVALID",
                "invalid repository name (lower-case path components, see the distribution spec)",
            ));
        }
        match (keep_host, param("ns")) {
            (true, Some(ns)) => {
                let host = host_component(&ns)
                    .ok_or_else(|| refuse(400, "NAME_INVALID", "invalid ns parameter"))?;
                let full = format!("{host}/{name}");
                if !is_repository(&full) {
                    return Err(refuse(400, "NAME_INVALID", "invalid repository name"));
                }
                Ok(full)
            }
            _ => Ok(name.to_string()),
        }
    };
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags(name_of(name)?, page(&param)?));
    }
    let (front, reference) = rest
        .rsplit_once('/')
        .ok_or_else(|| refuse(404, "UNSUPPORTED", "no such endpoint"))?;
    let (name, kind) = front
        .rsplit_once('/')
        .ok_or_else(|| refuse(404, "UNSUPPORTED", "no such endpoint"))?;
    match kind {
        "manifests" => {
            let name = name_of(name)?;
            if reference.contains(':') {
                Ok(Route::Manifest(
                    name,
                    ManifestRef::Digest(digest(reference)?),
                ))
            } else if is_valid_tag(reference) {
                Ok(Route::Manifest(
                    name,
                    ManifestRef::Tag(reference.to_string()),
                ))
            } else {
                Err(refuse(400, "TAG_INVALID", "invalid tag"))
            }
        }
        "blobs" => {
            if reference == "uploads" {
                return Err(refuse(405, "UNSUPPORTED", UNSUPPORTED_WRITE));
            }
            Ok(Route::Blob(name_of(name)?, digest(reference)?))
        }
        "referrers" => Ok(Route::Referrers(
            name_of(name)?,
            digest(reference)?,
            param("artifactType"),
        )),
        "uploads" if name.ends_with("/blobs") => Err(refuse(405, "UNSUPPORTED", UNSUPPORTED_WRITE)),
        _ => Err(refuse(404, "UNSUPPORTED", "no such endpoint")),
    }
}

/// What a write is told.
pub(crate) const UNSUPPORTED_WRITE: &str =
    "drag serve is read-only: it serves the images of its archives and layouts; push to a registry instead";

fn digest(s: &str) -> Result<Digest, Refusal> {
    Digest::parse(s).map_err(|e| refuse(400, "DIGEST_INVALID", e.reason))
}

fn page(param: &dyn Fn(&str) -> Option<String>) -> Result<Page, Refusal> {
    let n = match param("n") {
        None => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| refuse(400, "PAGINATION_NUMBER_INVALID", "n must be a number"))?,
        ),
    };
    Ok(Page {
        n,
        last: param("last"),
    })
}

/// `k=v&k=v`, percent-decoded; a malformed escape or a value that is not UTF-8 is refused.
fn parse_query(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, Refusal> {
    let bad = || refuse(400, "UNSUPPORTED", "malformed query");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ok(path: &str, query: Option<&str>) -> Route {
        route(path, query, false).unwrap()
    }

    fn status(path: &str) -> u16 {
        route(path, None, false).unwrap_err().status
    }

    #[test]
    fn the_api_paths_are_read() {
        assert_eq!(ok("/v2/", None), Route::Base);
        assert_eq!(ok("/v2", None), Route::Base);
        assert_eq!(
            ok("/v2/_catalog", Some("n=2&last=a%2Fb")),
            Route::Catalog(Page {
                n: Some(2),
                last: Some("a/b".into())
            })
        );
        assert_eq!(
            ok("/v2/library/alpine/tags/list", None),
            Route::Tags("library/alpine".into(), Page::default())
        );
        assert_eq!(
            ok("/v2/library/alpine/manifests/3.9", Some("ns=docker.io")),
            Route::Manifest("library/alpine".into(), ManifestRef::Tag("3.9".into()))
        );
        assert_eq!(
            ok(&format!("/v2/a/manifests/{D}"), None),
            Route::Manifest("a".into(), ManifestRef::Digest(Digest::parse(D).unwrap()))
        );
        assert_eq!(
            ok(&format!("/v2/a/b/blobs/{D}"), None),
            Route::Blob("a/b".into(), Digest::parse(D).unwrap())
        );
        assert_eq!(
            ok(&format!("/v2/a/referrers/{D}"), Some("artifactType=x%2Fy")),
            Route::Referrers("a".into(), Digest::parse(D).unwrap(), Some("x/y".into()))
        );
    }

    #[test]
    fn ns_names_the_host_only_when_hosts_are_kept() {
        assert_eq!(
            route(
                "/v2/library/alpine/manifests/3.9",
                Some("ns=docker.io"),
                true
            )
            .unwrap(),
            Route::Manifest(
                "docker.io/library/alpine".into(),
                ManifestRef::Tag("3.9".into())
            )
        );
        assert_eq!(
            route("/v2/a/manifests/1", Some("ns=reg.local:5000"), true).unwrap(),
            Route::Manifest("reg.local_5000/a".into(), ManifestRef::Tag("1".into()))
        );
    }

    #[test]
    fn hostile_paths_digests_and_names_are_refused() {
        assert_eq!(status("/v2/../etc/passwd/blobs/x"), 400);
        assert_eq!(status(&format!("/v2/a/../b/blobs/{D}")), 400);
        assert_eq!(status("/v2/a/blobs/sha256:../../etc/passwd"), 400);
        assert_eq!(status("/v2/a/blobs/sha256:ABC"), 400);
        assert_eq!(status("/v2/a/blobs/md5:0123"), 400);
        assert_eq!(status(&format!("/v2/A/blobs/{D}")), 400);
        assert_eq!(status(&format!("/v2/a%2fb/blobs/{D}")), 400);
        assert_eq!(status("/v2/a/manifests/-bad"), 400);
        assert_eq!(status("/etc/passwd"), 404);
        assert_eq!(status("/v2/a/blobs/uploads/"), 405);
        assert_eq!(status("/v2/a/blobs/uploads/123"), 405);
        assert_eq!(status(&format!("/v2/{}/tags/list", "a/".repeat(1100))), 414);
        assert_eq!(
            route("/v2/_catalog", Some("n=x"), false)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            route("/v2/_catalog", Some("last=%zz"), false)
                .unwrap_err()
                .status,
            400
        );
    }
}
