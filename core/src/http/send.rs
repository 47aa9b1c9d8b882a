//! The bottom of the stack: one request on the wire, and reading what comes back.
//!
//! A server that accepts and never answers must not hold us, so the wait for response headers
//! (connecting included) is bounded by `--header-timeout`; bodies are read with
//! [`BodyWatch`] and a size cap, so a hostile server can neither stall nor flood us.
//!
//! Every request says `Accept-Encoding: identity`: digests and sizes are of the bytes as
//! stored, and some registries (Red Hat's) gzip bodies unless told not to. A body that still
//! comes encoded is refused rather than decoded: its length and digest would not be the
//! stored blob's, and decoding a server's choice of encoding is one more thing to trust.

use std::time::{Duration, Instant};

use reqwest::header;

use crate::error::{Error, RegistryError, Result};
use crate::hints;
use crate::http::no_answer::no_answer;
use crate::http::policy::is_loopback_host;
use crate::http::{Body, RedactedUrl, Request, Response};
use crate::patience::{BodyWatch, LowSpeed, Patience};
use crate::terminal_text;

/// A client and how long it waits: the wire under one stack.
pub struct Wire {
    client: reqwest::Client,
    patience: Patience,
}

impl Wire {
    /// Requests through `client`, waiting as `patience` says.
    pub fn new(client: reqwest::Client, patience: Patience) -> Wire {
        Wire { client, patience }
    }

    /// Sends one request, once.
    pub async fn send(&self, req: Request) -> Result<Response> {
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone())
            .header(header::ACCEPT_ENCODING, "identity");
        builder = match &req.body {
            Body::Empty => builder,
            Body::Bytes(b) => builder.body(b.clone()),
            Body::Reopen(open) => builder.body(open()?),
        };
        let started = Instant::now();
        match tokio::time::timeout(self.patience.header_timeout, builder.send()).await {
            Ok(Ok(resp)) => {
                if let Some(encoding) = unasked_encoding(&req, &resp) {
                    return Err(Error::Refused {
                        url: RedactedUrl::new(&req.url).to_string(),
                        reason: format!(
                            "the server sent the body with Content-Encoding: {} though drag \
                             asked for identity; drag verifies bodies as stored and does not \
                             decode them",
                            terminal_text::shown(&encoding)
                        ),
                    });
                }
                let mut r = Response::new(resp, &req.url);
                r.attempts.elapsed = started.elapsed();
                Ok(r)
            }
            Ok(Err(e)) => Err(failed(&req, e)),
            Err(_) => Err(Error::stalled(
                &req.what,
                format!(
                    "no response within {} s (--header-timeout)",
                    self.patience.header_timeout.as_secs()
                ),
            )),
        }
    }
}

/// The `Content-Encoding` of a successful answer with a body, when it is not `identity`.
fn unasked_encoding(req: &Request, resp: &reqwest::Response) -> Option<String> {
    if req.method == reqwest::Method::HEAD || !resp.status().is_success() {
        return None;
    }
    let encoding = resp.headers().get(header::CONTENT_ENCODING)?;
    let encoding = String::from_utf8_lossy(encoding.as_bytes())
        .trim()
        .to_string();
    (!encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity")).then_some(encoding)
}

/// A request that got no answer, with what to do about it when the failure says (see
/// [`crate::hints::no_answer`]).
fn failed(req: &Request, source: reqwest::Error) -> Error {
    let host = req.url.host_str().unwrap_or_default();
    let authority = match req.url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let hint = hints::no_answer(
        no_answer(&source),
        req.url.scheme(),
        &terminal_text::shown(&authority),
        is_loopback_host(host),
    );
    Error::Http {
        context: req.what.clone(),
        url: Some(Box::new(RedactedUrl::new(&req.url))),
        source,
        hint,
        attempts: Default::default(),
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes, so a hostile server cannot
/// make us allocate without bound, and giving up on a body that stalls or trickles (see
/// [`crate::patience`]).
pub async fn read_limited(
    resp: Response,
    limit: usize,
    what: &str,
    patience: &Patience,
) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        what: what.to_string(),
        limit: limit as u64,
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    let mut watch = BodyWatch::new(*patience);
    while let Some(chunk) = watch
        .next(&mut stream)
        .await
        .map_err(|stall| Error::stalled(format!("reading {what}"), stall))?
    {
        let chunk = chunk.map_err(|e| Error::http(format!("reading {what}"), e))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The most of an error body read, and for how long: it only adds words to a status.
const ERROR_BODY_LIMIT: usize = 64 << 10;
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

/// An error answer's body: a bounded part of it, for a bounded time (a body that does not come
/// in time is left out: it only adds words to a status).
pub(crate) async fn error_body(resp: Response) -> Vec<u8> {
    let patience = Patience {
        header_timeout: ERROR_BODY_WAIT,
        read_timeout: ERROR_BODY_WAIT,
        low_speed: LowSpeed {
            bytes_per_sec: 0,
            time: ERROR_BODY_WAIT,
        },
    };
    let read = read_limited(resp, ERROR_BODY_LIMIT, "error body", &patience);
    tokio::time::timeout(ERROR_BODY_WAIT, read)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default()
}

/// Turns an error answer into an error, with what [`error_body`] reads of its body.
pub async fn error_from_response(what: String, mut resp: Response) -> Error {
    let status = resp.status().as_u16();
    let retry_after = super::retry::retry_after(resp.headers());
    let url = resp.url.clone();
    let attempts = resp.attempts;
    let access = resp.access.take();
    let body = error_body(resp).await;
    let mut e = RegistryError::from_body(what, status, &body);
    e.retry_after = retry_after;
    e.url = Some(url);
    e.attempts = attempts;
    e.hint = hints::for_refusal(access.as_deref(), status, e.code());
    Error::from(e)
}
