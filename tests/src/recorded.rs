//! What the in-process servers remember about each request they answered.
//!
//! Tests assert on traffic ("no credentials went to the CDN", "the retry
//! asked for `Range: bytes=N-`"), so every server logs requests in this one
//! shape.

use std::time::Instant;

use axum::http::{header, HeaderMap, Method, Uri};

/// Which in-process listener saw a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The fake registry's API port (also serves `/token`).
    Registry,
    /// The fake registry's second origin that blob GETs redirect to.
    Cdn,
    /// A [`crate::StaticHost`].
    Static,
    /// A [`crate::HostileServer`].
    Hostile,
}

/// One request as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub listener: Listener,
    /// `127.0.0.1:PORT` of the listener that received it.
    pub host_port: String,
    pub method: String,
    /// E.g. `/v2/library/busybox/tags/list?n=2`.
    pub path_and_query: String,
    /// The host the request line named, when it was sent in absolute form (`GET
    /// http://host/...`), as clients do through an HTTP proxy.
    pub absolute_authority: Option<String>,
    pub authorization: Option<String>,
    pub range: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    pub accept_encoding: Option<String>,
    /// When the server received it. Timing checks measure the gap between two requests the
    /// server saw, which excludes process start-up and is not stretched by a slow machine
    /// the way wall time around a spawned `drag` is.
    pub received_at: Instant,
}

impl RecordedRequest {
    pub(crate) fn new(
        listener: Listener,
        host_port: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> RecordedRequest {
        let header = |name: header::HeaderName| {
            // Accept may be sent as several header lines; join them as one.
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(", "))
        };
        RecordedRequest {
            listener,
            host_port: host_port.to_string(),
            method: method.to_string(),
            path_and_query: uri
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| uri.path().to_string()),
            absolute_authority: uri.authority().map(|a| a.to_string()),
            authorization: header(header::AUTHORIZATION),
            range: header(header::RANGE),
            accept: header(header::ACCEPT),
            user_agent: header(header::USER_AGENT),
            accept_encoding: header(header::ACCEPT_ENCODING),
            received_at: Instant::now(),
        }
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }
}
