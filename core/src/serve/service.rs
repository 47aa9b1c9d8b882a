//! One request, start to end: the method (anything but GET and HEAD is a write, refused
//! `405 UNSUPPORTED`), the login when `--htpasswd` asks for one, the route, the answer, the
//! headers every answer carries, and the log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response};

use super::answers;
use super::auth::Htpasswd;
use super::body::Body;
use super::catalogue::Catalogue;
use super::check::BlobChecks;
use super::log::{request_line, ServeLog};
use super::routes::{self, Route, UNSUPPORTED_WRITE};

/// What every request needs, shared by all connections.
pub(crate) struct Shared {
    pub(crate) catalogue: Catalogue,
    /// Which blobs were checked against their digests, and how that went.
    pub(crate) checks: BlobChecks,
    pub(crate) htpasswd: Option<Arc<Htpasswd>>,
    pub(crate) keep_host: bool,
    pub(crate) log: Arc<dyn ServeLog>,
}

/// Answers one request and logs it.
pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    remote: SocketAddr,
    request: Request<B>,
) -> Response<Body> {
    let started = Instant::now();
    let (user, mut response) = answer(&shared, &request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    );
    headers.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    shared.log.line(&request_line(
        remote,
        user.as_deref(),
        request.method().as_str(),
        target,
        response.status().as_u16(),
        bytes,
        started.elapsed(),
    ));
    response
}

async fn answer<B>(shared: &Arc<Shared>, request: &Request<B>) -> (Option<String>, Response<Body>) {
    let mut user = None;
    if let Some(htpasswd) = &shared.htpasswd {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match htpasswd.check(header).await {
            Some(u) => user = Some(u),
            None => {
                let mut response = answers::error(
                    401,
                    "UNAUTHORIZED",
                    "authentication required (a login from the --htpasswd file)",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"drag serve\""),
                );
                return (None, response);
            }
        }
    }
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut response = answers::error(405, "UNSUPPORTED", UNSUPPORTED_WRITE);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return (user, response);
        }
    };
    let uri = request.uri();
    let route = match routes::route(uri.path(), uri.query(), shared.keep_host) {
        Ok(route) => route,
        Err(refusal) => return (user, answers::refused(&refusal)),
    };
    let cat = &shared.catalogue;
    let headers = request.headers();
    let response = match &route {
        Route::Base => answers::base(head),
        Route::Catalog(page) => answers::catalog(cat, page, head),
        Route::Tags(name, page) => answers::tags(cat, name, page, head),
        Route::Manifest(name, reference) => answers::manifest(cat, name, reference, headers, head),
        Route::Blob(name, digest) => {
            // Only a blob this repository serves is checked: a digest anyone can make up must
            // not grow the verdicts.
            let served = cat.blobs.contains_key(digest)
                && cat
                    .repositories
                    .get(name.as_str())
                    .is_some_and(|r| r.blobs.contains(digest));
            if !head && served {
                let checked = shared.checks.check(shared.clone(), digest, &shared.log);
                if checked.await.is_err() {
                    let refusal =
                        "the blob does not match its digest in the file it is served from";
                    return (user, answers::error(500, "BLOB_UNKNOWN", refusal));
                }
            }
            answers::blob(cat, name, digest, headers, head, &shared.log)
        }
        Route::Referrers(name, digest, artifact_type) => {
            answers::referrers(cat, name, digest, artifact_type.as_deref(), head)
        }
    };
    (user, response)
}

impl AsRef<Catalogue> for Shared {
    fn as_ref(&self) -> &Catalogue {
        &self.catalogue
    }
}
