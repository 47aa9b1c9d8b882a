//! The answers to the requests [`super::routes`] reads, as distribution gives them: manifests
//! as stored with their own media type (by tag, negotiated against `Accept`), blobs whole or by
//! range, tag and repository lists paged with `n`/`last` and a `Link` to the next page, the
//! referrers of a manifest, and errors as `{"errors":[{"code","message"}]}`.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use serde_json::json;

use crate::digest::Digest;

use super::body::{self, Body};
use super::catalogue::Catalogue;
use super::log::ServeLog;
use super::range::{self, Wanted};
use super::routes::{ManifestRef, Page, Refusal};

/// The most entries one page of a list holds, whatever `n` asks.
const MAX_PAGE: usize = 1000;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A distribution error answer.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    let text = json!({"errors": [{"code": code, "message": message, "detail": null}]}).to_string();
    let mut response = Response::new(body::full(text.clone()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    set(&mut response, header::CONTENT_TYPE, "application/json");
    set(
        &mut response,
        header::CONTENT_LENGTH,
        &text.len().to_string(),
    );
    response
}

pub(crate) fn refused(r: &Refusal) -> Response<Body> {
    error(r.status, r.code, &r.message)
}

fn set(response: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

fn json_answer(value: serde_json::Value, content_type: &str, head: bool) -> Response<Body> {
    let text = value.to_string();
    let len = text.len();
    let mut response = Response::new(if head {
        body::empty()
    } else {
        body::full(text)
    });
    set(&mut response, header::CONTENT_TYPE, content_type);
    set(&mut response, header::CONTENT_LENGTH, &len.to_string());
    response
}

/// `GET /v2/`.
pub(crate) fn base(head: bool) -> Response<Body> {
    json_answer(json!({}), "application/json", head)
}

fn unknown_name(name: &str) -> Response<Body> {
    error(
        404,
        "NAME_UNKNOWN",
        &format!("no repository {name} is served"),
    )
}

/// A manifest by tag or digest.
pub(crate) fn manifest(
    cat: &Catalogue,
    name: &str,
    reference: &ManifestRef,
    headers: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let Some(repo) = cat.repositories.get(name) else {
        return unknown_name(name);
    };
    let (digest, by_tag) = match reference {
        ManifestRef::Tag(tag) => match repo.tags.get(tag) {
            Some(d) => (d, true),
            None => return error(404, "MANIFEST_UNKNOWN", &format!("no tag {tag} in {name}")),
        },
        ManifestRef::Digest(d) if repo.manifests.contains(d) => (d, false),
        ManifestRef::Digest(d) => {
            return error(
                404,
                "MANIFEST_UNKNOWN",
                &format!("no manifest {d} in {name}"),
            )
        }
    };
    let Some(stored) = cat.manifests.get(digest) else {
        return error(404, "MANIFEST_UNKNOWN", &format!("no manifest {digest}"));
    };
    // By digest the bytes are fixed, so they are served whatever the client says it takes; by
    // tag, a client that lists what it accepts and not this type is told so.
    if by_tag && !accepts(headers, &stored.media_type) {
        return error(
            404,
            "MANIFEST_UNKNOWN",
            &format!(
                "{name}:{} is stored as {}, which the request's Accept does not list",
                match reference {
                    ManifestRef::Tag(t) => t.as_str(),
                    ManifestRef::Digest(_) => "",
                },
                stored.media_type
            ),
        );
    }
    let len = stored.bytes.len();
    let mut response = Response::new(if head {
        body::empty()
    } else {
        body::full(stored.bytes.clone())
    });
    set(&mut response, header::CONTENT_TYPE, &stored.media_type);
    set(&mut response, header::CONTENT_LENGTH, &len.to_string());
    set(&mut response, header::ETAG, &format!("\"{digest}\""));
    set(
        &mut response,
        header::HeaderName::from_static("docker-content-digest"),
        &digest.to_string(),
    );
    response
}

/// True when `Accept` is absent, takes anything, or lists `media_type`.
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let mut listed = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for item in value.split(',') {
            let item = item.split(';').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            listed = true;
            if item == "*/*" || item.eq_ignore_ascii_case(media_type) {
                return true;
            }
        }
    }
    !listed
}

/// A blob, whole or a range of it.
pub(crate) fn blob(
    cat: &Catalogue,
    name: &str,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
    log: &Arc<dyn ServeLog>,
) -> Response<Body> {
    let Some(repo) = cat.repositories.get(name) else {
        return unknown_name(name);
    };
    if !repo.blobs.contains(digest) {
        return error(404, "BLOB_UNKNOWN", &format!("no blob {digest} in {name}"));
    }
    let Some(place) = cat.blobs.get(digest) else {
        return error(
            404,
            "BLOB_UNKNOWN",
            &format!("{digest} is named by an image of {name} but no source holds it (a delta bundle served without its base?)"),
        );
    };
    let source = &cat.sources[place.source];
    let size = place.desc.size;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let wanted = if head {
        Wanted::Whole
    } else {
        range::wanted(range_header, size)
    };
    let what = format!("{} in {}", digest.short(), source.path().display());
    let (status, start, len) = match wanted {
        Wanted::Whole => (StatusCode::OK, 0, size),
        Wanted::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Wanted::Unsatisfiable => {
            let mut response = error(416, "BLOB_UNKNOWN", "range not satisfiable");
            set(
                &mut response,
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            return response;
        }
    };
    let body = if head {
        body::empty()
    } else {
        // The blob was checked against its digest before its first request was answered
        // (`check`): it streams as it is.
        match source.open_blob_range(&place.desc, start, len) {
            Ok(reader) => body::stream(reader, len, what, log.clone()),
            Err(e) => {
                log.line(&format!("error: {e}"));
                return error(
                    500,
                    "BLOB_UNKNOWN",
                    "the blob cannot be read from its source",
                );
            }
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    set(
        &mut response,
        header::CONTENT_TYPE,
        "application/octet-stream",
    );
    set(&mut response, header::CONTENT_LENGTH, &len.to_string());
    set(&mut response, header::ACCEPT_RANGES, "bytes");
    set(&mut response, header::ETAG, &format!("\"{digest}\""));
    set(
        &mut response,
        header::HeaderName::from_static("docker-content-digest"),
        &digest.to_string(),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut response,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    response
}

/// One page of `items` (sorted) after `page.last`, and the next page's `Link`, if any.
fn paged<'a>(
    items: impl Iterator<Item = &'a String>,
    page: &Page,
    path: &str,
) -> (Vec<String>, Option<String>) {
    let limit = page.n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let mut after = items
        .filter(|i| {
            page.last
                .as_ref()
                .is_none_or(|last| i.as_str() > last.as_str())
        })
        .peekable();
    let mut out = Vec::new();
    while out.len() < limit {
        match after.next() {
            Some(i) => out.push(i.clone()),
            None => break,
        }
    }
    let link = match (after.peek(), out.last()) {
        (Some(_), Some(last)) => Some(format!("<{path}?n={limit}&last={last}>; rel=\"next\"")),
        _ => None,
    };
    (out, link)
}

fn with_link(mut response: Response<Body>, link: Option<String>) -> Response<Body> {
    if let Some(link) = link {
        set(&mut response, header::LINK, &link);
    }
    response
}

/// `tags/list`.
pub(crate) fn tags(cat: &Catalogue, name: &str, page: &Page, head: bool) -> Response<Body> {
    let Some(repo) = cat.repositories.get(name) else {
        return unknown_name(name);
    };
    let (tags, link) = paged(repo.tags.keys(), page, &format!("/v2/{name}/tags/list"));
    with_link(
        json_answer(
            json!({"name": name, "tags": tags}),
            "application/json",
            head,
        ),
        link,
    )
}

/// `_catalog`.
pub(crate) fn catalog(cat: &Catalogue, page: &Page, head: bool) -> Response<Body> {
    let (names, link) = paged(cat.repositories.keys(), page, "/v2/_catalog");
    with_link(
        json_answer(json!({"repositories": names}), "application/json", head),
        link,
    )
}

/// The referrers of `subject` in `name`, as an OCI index, filtered by `artifact_type`.
pub(crate) fn referrers(
    cat: &Catalogue,
    name: &str,
    subject: &Digest,
    artifact_type: Option<&str>,
    head: bool,
) -> Response<Body> {
    let Some(repo) = cat.repositories.get(name) else {
        return unknown_name(name);
    };
    let mut found: Vec<(&Digest, &super::catalogue::StoredManifest)> = cat
        .manifests
        .iter()
        .filter(|(d, m)| m.subject.as_ref() == Some(subject) && repo.manifests.contains(*d))
        .filter(|(_, m)| artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(b.0));
    let manifests: Vec<serde_json::Value> = found
        .into_iter()
        .map(|(d, m)| {
            let mut entry = json!({
                "mediaType": m.media_type,
                "digest": d.to_string(),
                "size": m.bytes.len(),
            });
            if let Some(t) = &m.artifact_type {
                entry["artifactType"] = json!(t);
            }
            if !m.annotations.is_empty() {
                entry["annotations"] = json!(m.annotations);
            }
            entry
        })
        .collect();
    let mut response = json_answer(
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        OCI_INDEX,
        head,
    );
    if artifact_type.is_some() {
        set(
            &mut response,
            header::HeaderName::from_static("oci-filters-applied"),
            "artifactType",
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_are_matched_without_parameters() {
        let mut h = HeaderMap::new();
        assert!(accepts(&h, "application/x"));
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/a; q=0.5, application/b"),
        );
        assert!(accepts(&h, "application/a"));
        assert!(!accepts(&h, "application/x"));
        h.append(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(accepts(&h, "application/x"));
    }

    #[test]
    fn pages_follow_last_and_link_to_the_next() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let page = Page {
            n: Some(2),
            last: None,
        };
        let (out, link) = paged(items.iter(), &page, "/v2/_catalog");
        assert_eq!(out, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/_catalog?n=2&last=b>; rel=\"next\"")
        );
        let page = Page {
            n: Some(2),
            last: Some("b".into()),
        };
        let (out, link) = paged(items.iter(), &page, "/v2/_catalog");
        assert_eq!(out, ["c", "d"]);
        assert_eq!(link, None);
        let (out, _) = paged(items.iter(), &Page::default(), "/v2/_catalog");
        assert_eq!(out.len(), 4);
    }
}
