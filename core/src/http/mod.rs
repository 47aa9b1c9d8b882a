//! The HTTP path every registry request takes, as a stack of single-purpose layers.
//!
//! A request passes, in order, through:
//! 1. `redirect`: follows redirects by hand, deciding per hop whether the registry's
//!    credentials and client certificate may go along (never to another host or scheme);
//! 2. `auth` (in [`crate::auth`], whose answers it uses): attaches the cached credential, answers a 401 challenge once (one token
//!    request for all the parallel requests that met it), re-scopes when the registry asks;
//! 3. [`retry`]: sends again after transient failures and retryable statuses, with backoff,
//!    jitter and `Retry-After`, counting attempts and time for the error that may follow, and
//!    telling each retry to the [`notice`] sink;
//! 4. [`quirks`] (registry requests only): the adapter reads each answer, may send a notice
//!    and may call an answer final, which stops the retries with its hint;
//! 5. [`trace`]: the `-v` trace, one redacted line per attempt;
//! 6. `send`: the wire, with the header timeout.
//!
//! [`Stack`] composes them once per registry (see [`crate::registry::Session`]); requests to
//! other hosts (CDNs, token services elsewhere, foreign layers) take a stack without the auth
//! layer and without the registry's client certificate. There is no other way to send a
//! request: uploads will take the same path.

pub(crate) mod no_answer;
pub mod notice;
pub(crate) mod policy;
pub mod quirks;
pub(crate) mod redirect;
pub mod retry;
pub(crate) mod send;
pub(crate) mod tls_trouble;
pub mod trace;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use url::Url;

pub use crate::error::Attempts;
use crate::error::{Error, Result};
pub use crate::redacted::RedactedUrl;
pub use reqwest::header::HeaderMap;
pub use reqwest::StatusCode;
pub use send::read_limited;

/// One request as the layers see it. Cloneable, so a layer can send it again.
#[derive(Clone)]
pub struct Request {
    /// The HTTP method.
    pub method: Method,
    /// Where it goes.
    pub url: Url,
    /// Its headers; the auth layer adds `Authorization`, nothing else may.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Body,
    /// What is asked for, for messages (`manifest docker.io/library/alpine:3.9`).
    pub what: String,
}

impl Request {
    /// A request without a body.
    pub fn new(method: Method, url: Url, what: impl Into<String>) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            what: what.into(),
        }
    }

    /// The same request with these headers.
    pub fn headers(mut self, headers: HeaderMap) -> Request {
        self.headers = headers;
        self
    }
}

/// A request body that can be sent more than once.
#[derive(Clone, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A small body held in memory (a form, a manifest).
    Bytes(Bytes),
    /// A body made afresh for each attempt, so a large upload can stream from its file and
    /// still be retried.
    Reopen(Arc<dyn Fn() -> Result<reqwest::Body> + Send + Sync>),
}

/// An answer, whatever its status, with where it came from and what it took.
pub struct Response {
    inner: reqwest::Response,
    /// The URL that answered, for resolving a relative `Location`; never shown.
    answered: Url,
    /// The URL that answered (after redirects), safe to show.
    pub url: RedactedUrl,
    /// The attempts it took.
    pub attempts: Attempts,
    /// What the auth layer knows of this request (for whom to log in, what was sent), for
    /// the hint of the error a refusal becomes.
    pub(crate) access: Option<Arc<crate::hints::Access>>,
}

impl Response {
    pub(crate) fn new(inner: reqwest::Response, url: &Url) -> Response {
        Response {
            answered: url.clone(),
            url: RedactedUrl::new(url),
            attempts: Attempts {
                count: 1,
                elapsed: Duration::ZERO,
            },
            access: None,
            inner,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// A header's value as text, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<String> {
        header_str(self.inner.headers(), name)
    }

    /// Where a redirect points: None without a `Location`, an error for one that is not a URL.
    pub fn location(&self) -> Option<std::result::Result<Url, url::ParseError>> {
        let to = self.header(reqwest::header::LOCATION.as_str())?;
        Some(self.answered.join(&to))
    }

    /// The body length the server announced.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.content_length()
    }

    /// The body, as a stream of chunks.
    pub fn bytes_stream(
        self,
    ) -> impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Send + Unpin {
        Box::pin(self.inner.bytes_stream())
    }

    /// This answer as an error: its status, every diagnostic the registry sent, where it came
    /// from and after how many attempts (see `send::error_from_response`).
    pub async fn into_error(self, what: impl Into<String>) -> Error {
        send::error_from_response(what.into(), self).await
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Response({} from {}{})",
            self.status(),
            self.url,
            self.attempts
        )
    }
}

/// A header's value as text.
pub(crate) fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// One layer of the stack: sees the request on its way out and the answer on its way back.
#[async_trait]
pub(crate) trait Layer: Send + Sync {
    /// Sends `req` on through `next`, as many times and with whatever changes the layer is for.
    async fn send(&self, req: Request, next: Next<'_>) -> Result<Response>;
}

/// The layers below one layer, and the wire at the bottom.
#[derive(Clone, Copy)]
pub(crate) struct Next<'a> {
    layers: &'a [Arc<dyn Layer>],
    wire: &'a send::Wire,
}

impl Next<'_> {
    /// Sends the request through the rest of the stack.
    pub(crate) async fn run(self, req: Request) -> Result<Response> {
        match self.layers.split_first() {
            Some((layer, rest)) => {
                let next = Next {
                    layers: rest,
                    wire: self.wire,
                };
                layer.send(req, next).await
            }
            None => self.wire.send(req).await,
        }
    }
}

/// Layers over a wire, composed once and shared by every request to one place. Authenticators
/// get one for the registry and one for other hosts in their [`crate::auth::AuthContext`].
pub struct Stack {
    layers: Vec<Arc<dyn Layer>>,
    wire: send::Wire,
}

impl Stack {
    /// `layers`, outermost first, over `wire`.
    pub(crate) fn new(layers: Vec<Arc<dyn Layer>>, wire: send::Wire) -> Stack {
        Stack { layers, wire }
    }

    /// Sends a request through every layer.
    pub async fn send(&self, req: Request) -> Result<Response> {
        Next {
            layers: &self.layers,
            wire: &self.wire,
        }
        .run(req)
        .await
    }
}

#[cfg(test)]
pub(crate) mod scripted;
