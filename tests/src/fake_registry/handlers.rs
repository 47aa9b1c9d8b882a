//! Request handling for the fake registry's two listeners.
//!
//! Repository names contain slashes, which route patterns can't capture
//! ahead of a fixed suffix, so each listener has a single fallback handler
//! that parses `/v2/<name>/{manifests,blobs,tags}/...` itself.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::{auth, errors, fault, pull_limit, Shared};
use crate::recorded::{Listener, RecordedRequest};

enum Route<'a> {
    Base,
    Token,
    Manifest { repo: &'a str, reference: &'a str },
    Blob { repo: &'a str, digest: &'a str },
    Tags { repo: &'a str },
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    if path == "/token" {
        return Route::Token;
    }
    if path == "/v2" || path == "/v2/" {
        return Route::Base;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Route::Tags { repo };
    }
    if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        return Route::Manifest { repo, reference };
    }
    if let Some((repo, digest)) = rest.rsplit_once("/blobs/") {
        return Route::Blob { repo, digest };
    }
    Route::Unknown
}

/// Every request to the registry listener.
pub(super) async fn registry(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let form = if parts.method == Method::POST && parts.uri.path() == "/token" {
        axum::body::to_bytes(body, 64 << 10).await.ok()
    } else {
        None
    };
    shared.record(RecordedRequest::new(
        Listener::Registry,
        &shared.registry_addr.to_string(),
        &parts.method,
        &parts.uri,
        &parts.headers,
    ));
    let mut response = registry_response(&shared, &parts, form.as_deref());
    if shared.config.challenge_only_at_base
        && response.status() == StatusCode::UNAUTHORIZED
        && !matches!(route(parts.uri.path()), Route::Base)
    {
        response.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    let encode = match shared.config.gzip {
        None => false,
        Some(super::Gzip::Always) => true,
        Some(super::Gzip::UnlessIdentity) => !asks_identity(&parts.headers),
    };
    if encode && parts.method == Method::GET && response.status().is_success() {
        response = gzipped(response).await;
    }
    if shared.config.chunked && parts.method == Method::GET && response.status().is_success() {
        response = chunked(response);
    }
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

fn asks_identity(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| coding.split(';').next().unwrap_or("").trim() == "identity")
}

/// `response` with its body gzipped, as a registry that encodes what it sends.
async fn gzipped(response: Response) -> Response {
    use std::io::Write;
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("fake registry body");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&bytes).expect("gzip in memory");
    let encoded = encoder.finish().expect("gzip in memory");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    Response::from_parts(parts, Body::from(encoded))
}

/// `response` with its body sent in chunks of unannounced length: a streamed body makes hyper
/// use `Transfer-Encoding: chunked` once `Content-Length` is gone.
fn chunked(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from_stream(body.into_data_stream()))
}

fn registry_response(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    form: Option<&[u8]>,
) -> Response {
    let path = parts.uri.path();
    let route = route(path);
    if let Route::Token = route {
        let fault =
            fault::take_token_fault(&mut shared.state.lock().expect("fake registry state").faults);
        if let Some(response) = fault {
            return response;
        }
        return auth::token_endpoint(
            shared,
            parts.uri.query().unwrap_or(""),
            &parts.headers,
            form,
        );
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return errors::response(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the fake registry is read-only over HTTP",
            None,
        );
    }
    let repo = match &route {
        Route::Manifest { repo, .. } | Route::Blob { repo, .. } | Route::Tags { repo } => {
            Some(*repo)
        }
        _ => None,
    };
    if let Some(refusal) = auth::refusal(shared, &parts.headers, repo) {
        return refusal;
    }
    match route {
        Route::Base => json_response("{}"),
        Route::Manifest { repo, reference } => pull_limit::counted(shared, &parts.method, || {
            let fault = (parts.method == Method::GET)
                .then(|| {
                    fault::take_manifest_fault(
                        &mut shared.state.lock().expect("fake registry state").faults,
                    )
                })
                .flatten();
            fault.unwrap_or_else(|| manifest(shared, repo, reference, &parts.method))
        }),
        Route::Blob { .. }
            if shared.config.blob_head_unauthorized && parts.method == Method::HEAD =>
        {
            // ECR Public: a blob HEAD is refused whatever token it carries.
            auth::refusal(shared, &axum::http::HeaderMap::new(), repo).unwrap_or_else(|| {
                errors::response(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "HEAD refused",
                    None,
                )
            })
        }
        Route::Blob { repo, digest } => blob(shared, parts, repo, digest),
        Route::Tags { repo } => tags(shared, repo, parts.uri.query().unwrap_or("")),
        Route::Token | Route::Unknown => {
            errors::response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint", None)
        }
    }
}

fn manifest(shared: &Shared, repo: &str, reference: &str, method: &Method) -> Response {
    let found = shared
        .state
        .lock()
        .expect("fake registry state")
        .manifests
        .get(&(repo.to_string(), reference.to_string()))
        .cloned();
    let Some(manifest) = found else {
        return errors::response(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            Some(serde_json::json!({"Tag": reference})),
        );
    };
    let mut response = Response::new(if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(manifest.bytes.clone())
    });
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&manifest.media_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(manifest.size()));
    if shared.config.docker_content_digest {
        headers.insert("docker-content-digest", header_value(&manifest.digest));
    }
    response
}

fn blob(shared: &Shared, parts: &axum::http::request::Parts, repo: &str, digest: &str) -> Response {
    let mut state = shared.state.lock().expect("fake registry state");
    let Some(blob) = state
        .blobs
        .get(&(repo.to_string(), digest.to_string()))
        .cloned()
    else {
        return errors::response(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
            Some(serde_json::json!({"Digest": digest})),
        );
    };
    if parts.method == Method::GET {
        if let Some(response) = fault::take_status_fault(&mut state.faults) {
            return response;
        }
        if shared.config.cdn {
            // S3 and Cloudflare presign the URL; the signature is decoration here.
            let location = format!(
                "{}/cdn/{repo}/{digest}?X-Amz-Signature=fake",
                shared.cdn_url()
            );
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            response
                .headers_mut()
                .insert(header::LOCATION, header_value(&location));
            return response;
        }
    }
    serve_blob(
        shared,
        state,
        &blob,
        digest,
        parts,
        shared.config.docker_content_digest,
    )
}

/// The bytes of a blob, shaped by the next body fault for it; releases the state lock before
/// the (possibly slow) body is sent.
fn serve_blob(
    shared: &Shared,
    mut state: std::sync::MutexGuard<'_, super::State>,
    blob: &crate::Blob,
    digest: &str,
    parts: &axum::http::request::Parts,
    docker_content_digest: bool,
) -> Response {
    let body_fault = if parts.method == Method::GET {
        fault::take_body_fault(&mut state.faults, digest)
    } else {
        None
    };
    drop(state);
    fault::blob_response(
        blob,
        &parts.method,
        range(parts).filter(|_| shared.config.ranges),
        body_fault,
        docker_content_digest,
    )
}

fn range(parts: &axum::http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
}

fn tags(shared: &Shared, repo: &str, query: &str) -> Response {
    let mut n = None;
    let mut last = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "n" => n = value.parse::<usize>().ok(),
            "last" => last = Some(value.into_owned()),
            _ => {}
        }
    }
    let mut all: Vec<String> = shared
        .state
        .lock()
        .expect("fake registry state")
        .manifests
        .keys()
        .filter(|(r, reference)| r == repo && !reference.contains(':'))
        .map(|(_, tag)| tag.clone())
        .collect();
    if all.is_empty() {
        return errors::response(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            Some(serde_json::json!({"name": repo})),
        );
    }
    all.sort();
    let after: Vec<String> = match &last {
        Some(last) => all.into_iter().filter(|t| t > last).collect(),
        None => all,
    };
    if let (Some(n), Some(cap)) = (n, shared.config.tags_n_cap) {
        if n > cap {
            return super::cloud::page_too_large(n, cap);
        }
    }
    let limit = match (n, shared.config.tags_page_size) {
        (Some(n), _) if shared.config.tags_n_cap.is_some() => n,
        (Some(n), Some(page)) => n.min(page),
        (Some(n), None) => n,
        (None, Some(page)) => page,
        (None, None) => usize::MAX,
    };
    let page: Vec<String> = after.iter().take(limit).cloned().collect();
    let mut entries: Vec<serde_json::Value> = page.iter().map(|t| t.as_str().into()).collect();
    if shared.config.null_tags {
        // Nexus's shape: nulls at both ends and between tags.
        let mut with_nulls = vec![serde_json::Value::Null];
        for e in entries {
            with_nulls.push(e);
            with_nulls.push(serde_json::Value::Null);
        }
        entries = with_nulls;
    }
    let body = serde_json::json!({"name": repo, "tags": entries}).to_string();
    let mut response = json_response(&body);
    if after.len() > page.len() {
        if let Some(last) = page.last() {
            let link = format!("</v2/{repo}/tags/list?last={last}&n={limit}>; rel=\"next\"");
            response
                .headers_mut()
                .insert(header::LINK, header_value(&link));
        }
    }
    response
}

/// Every request to the CDN listener: blob bytes, but never to a request
/// carrying credentials (S3 rejects a second auth mechanism with 403, which is
/// how clients that forward `Authorization` across origins break).
pub(super) async fn cdn(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    shared.record(RecordedRequest::new(
        Listener::Cdn,
        &shared.cdn_addr.to_string(),
        &parts.method,
        &parts.uri,
        &parts.headers,
    ));
    if parts.headers.contains_key(header::AUTHORIZATION) {
        let mut response = Response::new(Body::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code>\
             <Message>Only one auth mechanism allowed</Message></Error>",
        ));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        return response;
    }
    let not_found = || {
        let mut response = Response::new(Body::from("not found"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    };
    let Some((repo, digest)) = parts
        .uri
        .path()
        .strip_prefix("/cdn/")
        .and_then(|rest| rest.rsplit_once('/'))
    else {
        return not_found();
    };
    let mut state = shared.state.lock().expect("fake registry state");
    if parts.method == Method::GET {
        if let Some(response) = fault::take_cdn_fault(&mut state.faults) {
            return response;
        }
    }
    let Some(blob) = state
        .blobs
        .get(&(repo.to_string(), digest.to_string()))
        .cloned()
    else {
        return not_found();
    };
    // A CDN doesn't speak the registry protocol: no Docker-Content-Digest.
    serve_blob(&shared, state, &blob, digest, &parts, false)
}

fn json_response(body: &str) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("valid header value")
}
