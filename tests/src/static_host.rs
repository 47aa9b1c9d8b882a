//! A plain HTTP host serving fixed bytes at fixed paths.
//!
//! Foreign layers are fetched from URLs outside any registry; this stands in
//! for such a host, and records requests so tests can check that registry
//! credentials were not sent to it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;

use crate::recorded::{Listener, RecordedRequest};
use crate::server::{bind_loopback, local_addr, BackgroundServer};

struct Shared {
    addr: SocketAddr,
    files: Mutex<HashMap<String, Bytes>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// A running static host on 127.0.0.1; stops when dropped.
pub struct StaticHost {
    shared: Arc<Shared>,
    _server: BackgroundServer,
}

impl StaticHost {
    /// Serves each `(path, bytes)`; `path` starts with `/`. GET/HEAD only, 404 otherwise.
    pub fn start<P: Into<String>, B: Into<Bytes>>(
        files: impl IntoIterator<Item = (P, B)>,
    ) -> StaticHost {
        let listener = bind_loopback();
        let shared = Arc::new(Shared {
            addr: local_addr(&listener),
            files: Mutex::new(
                files
                    .into_iter()
                    .map(|(p, b)| (p.into(), b.into()))
                    .collect(),
            ),
            requests: Mutex::new(Vec::new()),
        });
        let router = Router::new().fallback(serve).with_state(shared.clone());
        let server = BackgroundServer::start("static-host", vec![(listener, router)]);
        StaticHost {
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// Serves `bytes` at `path` from now on.
    pub fn add(&self, path: &str, bytes: impl Into<Bytes>) {
        self.shared
            .files
            .lock()
            .expect("static host files")
            .insert(path.to_string(), bytes.into());
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .expect("static host requests")
            .clone()
    }
}

async fn serve(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    shared
        .requests
        .lock()
        .expect("static host requests")
        .push(RecordedRequest::new(
            Listener::Static,
            &shared.addr.to_string(),
            &parts.method,
            &parts.uri,
            &parts.headers,
        ));
    let found = shared
        .files
        .lock()
        .expect("static host files")
        .get(parts.uri.path())
        .cloned();
    let (status, bytes) = match found {
        Some(bytes) if parts.method == Method::GET || parts.method == Method::HEAD => {
            (StatusCode::OK, bytes)
        }
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"not found")),
    };
    let length = bytes.len();
    let mut response = Response::new(if parts.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    });
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}
