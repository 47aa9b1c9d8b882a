//! Fault injection for blob downloads (and the few other answers a test needs to spoil: the
//! CDN's, the token service's, a manifest's), and the streaming body that makes the faults
//! real network events.
//!
//! A drop or stall must happen mid-body on a live connection (not as a
//! short body the client can see coming), so blob bodies are streams that
//! send a prefix, then abort the connection or pause. Faults queue up and
//! are consumed by the requests they match, in the order they were added.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::errors;
use crate::image::Blob;

/// Something to go wrong with upcoming requests (blob GETs, unless a variant says otherwise).
/// Each fault is used up by the first request it matches (those with `times` by their first
/// `times`), in the order faults were added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Send `bytes` bytes of the body of blob `digest`, then abort the connection.
    DropAfter { digest: String, bytes: u64 },
    /// Answer the next `times` blob GETs (any digest) with `status` and a
    /// distribution-style error, plus `Retry-After` if given. Checked at the
    /// registry's blob endpoint, before any CDN redirect.
    Status {
        status: u16,
        times: u32,
        retry_after: Option<u32>,
    },
    /// Serve blob `digest` with the byte at `offset` (from the blob's start)
    /// inverted, so it fails verification. A ranged GET that doesn't cover
    /// `offset` still uses the fault up, unchanged.
    FlipByte { digest: String, offset: u64 },
    /// Send `after_bytes` bytes of blob `digest`, pause `for_ms`, send the rest.
    Stall {
        digest: String,
        after_bytes: u64,
        for_ms: u64,
    },
    /// Serve the next blob GET (any digest) without `Content-Length`
    /// (chunked transfer encoding).
    Chunked,
    /// Send blob `digest` one byte every `every_ms`: a slow drip that never
    /// stays silent long enough for a read timeout.
    Drip { digest: String, every_ms: u64 },
    /// Answer the next `times` GETs at the CDN listener (any digest) with 403 and S3's
    /// "Request has expired" XML, as a CDN does once a presigned URL's time is up.
    CdnExpired { times: u32 },
    /// Answer the next `times` requests to `/token` with `status` and a distribution-style
    /// error, issuing no token.
    TokenStatus { status: u16, times: u32 },
    /// Answer the next `times` manifest GETs with `status` and an error document holding
    /// every `(code, message)` of `errors`, in order.
    ManifestErrors {
        status: u16,
        errors: Vec<(String, String)>,
        times: u32,
    },
    /// Answer the next `times` manifest GETs with `status`, a distribution-style error, and
    /// `Retry-After` if given: Docker Hub's overall per-second limit is a 429 like this.
    ManifestStatus {
        status: u16,
        retry_after: Option<u32>,
        times: u32,
    },
}

/// Counts down the `times` of the fault at `position`, removing it when used up.
fn use_once(faults: &mut Vec<Fault>, position: usize) {
    let times = match &mut faults[position] {
        Fault::Status { times, .. }
        | Fault::CdnExpired { times }
        | Fault::TokenStatus { times, .. }
        | Fault::ManifestErrors { times, .. }
        | Fault::ManifestStatus { times, .. } => times,
        _ => unreachable!("only faults with `times` are used once at a time"),
    };
    *times = times.saturating_sub(1);
    if *times == 0 {
        faults.remove(position);
    }
}

/// Takes one use of the first queued `CdnExpired` fault, if any, and returns its 403.
pub(super) fn take_cdn_fault(faults: &mut Vec<Fault>) -> Option<Response> {
    let position = faults
        .iter()
        .position(|f| matches!(f, Fault::CdnExpired { .. }))?;
    use_once(faults, position);
    let mut response = Response::new(Body::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
         <Message>Request has expired</Message><X-Amz-Expires>600</X-Amz-Expires></Error>",
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    Some(response)
}

/// Takes one use of the first queued `TokenStatus` fault, if any, and returns its answer.
pub(super) fn take_token_fault(faults: &mut Vec<Fault>) -> Option<Response> {
    let position = faults
        .iter()
        .position(|f| matches!(f, Fault::TokenStatus { .. }))?;
    let Fault::TokenStatus { status, .. } = faults[position] else {
        unreachable!("position found a TokenStatus fault");
    };
    use_once(faults, position);
    let status = StatusCode::from_u16(status).expect("valid HTTP status in Fault::TokenStatus");
    Some(errors::response(
        status,
        errors::code_for(status),
        "injected token service fault",
        None,
    ))
}

/// Takes one use of the first queued `ManifestErrors` or `ManifestStatus` fault, if any, and
/// returns its answer.
pub(super) fn take_manifest_fault(faults: &mut Vec<Fault>) -> Option<Response> {
    let position = faults.iter().position(|f| {
        matches!(
            f,
            Fault::ManifestErrors { .. } | Fault::ManifestStatus { .. }
        )
    })?;
    let fault = faults[position].clone();
    use_once(faults, position);
    match fault {
        Fault::ManifestErrors { status, errors, .. } => {
            let status =
                StatusCode::from_u16(status).expect("valid HTTP status in Fault::ManifestErrors");
            Some(errors::response_many(status, &errors))
        }
        Fault::ManifestStatus {
            status,
            retry_after,
            ..
        } => {
            let status =
                StatusCode::from_u16(status).expect("valid HTTP status in Fault::ManifestStatus");
            let mut response =
                errors::response(status, errors::code_for(status), "injected fault", None);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Some(response)
        }
        _ => unreachable!("position found a manifest fault"),
    }
}

/// Takes the first queued `Status` fault, if any, and returns the response it asks for.
pub(super) fn take_status_fault(faults: &mut Vec<Fault>) -> Option<Response> {
    let position = faults
        .iter()
        .position(|f| matches!(f, Fault::Status { .. }))?;
    let Fault::Status {
        status,
        retry_after,
        ..
    } = faults[position]
    else {
        unreachable!("position found a Status fault");
    };
    let status = StatusCode::from_u16(status).expect("valid HTTP status in Fault::Status");
    use_once(faults, position);
    let mut response = errors::response(status, errors::code_for(status), "injected fault", None);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Some(response)
}

/// Takes the first queued body fault that applies to a GET of `digest`.
pub(super) fn take_body_fault(faults: &mut Vec<Fault>, digest: &str) -> Option<Fault> {
    let position = faults.iter().position(|f| match f {
        Fault::DropAfter { digest: d, .. }
        | Fault::FlipByte { digest: d, .. }
        | Fault::Stall { digest: d, .. }
        | Fault::Drip { digest: d, .. } => d == digest,
        Fault::Chunked => true,
        Fault::Status { .. }
        | Fault::CdnExpired { .. }
        | Fault::TokenStatus { .. }
        | Fault::ManifestErrors { .. }
        | Fault::ManifestStatus { .. } => false,
    })?;
    Some(faults.remove(position))
}

/// The answer to a blob GET/HEAD: whole or ranged (`Range: bytes=N-` or
/// `bytes=N-M`, answered 206 with `Content-Range`), shaped by `fault`.
pub(super) fn blob_response(
    blob: &Blob,
    method: &Method,
    range: Option<&str>,
    fault: Option<Fault>,
    docker_content_digest: bool,
) -> Response {
    let total = blob.bytes.len() as u64;
    let (status, start, end) = match range.map(|r| parse_range(r, total)) {
        None | Some(RangeAsk::Ignore) => (StatusCode::OK, 0, total),
        Some(RangeAsk::Unsatisfiable) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{total}")),
            );
            return response;
        }
        Some(RangeAsk::Bytes { start, end }) => (StatusCode::PARTIAL_CONTENT, start, end),
    };

    let mut data = blob.bytes.slice(start as usize..end as usize);
    let mut steps = Vec::new();
    let mut content_length = true;
    let mut drip = None;
    match fault {
        Some(Fault::FlipByte { offset, .. }) if (start..end).contains(&offset) => {
            let mut flipped = data.to_vec();
            flipped[(offset - start) as usize] ^= 0xff;
            data = Bytes::from(flipped);
            steps.push(Step::Send(data.clone()));
        }
        Some(Fault::DropAfter { bytes, .. }) => {
            let cut = bytes.min(data.len() as u64) as usize;
            steps.push(Step::Send(data.slice(..cut)));
            steps.push(Step::Abort);
        }
        Some(Fault::Stall {
            after_bytes,
            for_ms,
            ..
        }) => {
            let cut = after_bytes.min(data.len() as u64) as usize;
            steps.push(Step::Send(data.slice(..cut)));
            steps.push(Step::Sleep(Duration::from_millis(for_ms)));
            steps.push(Step::Send(data.slice(cut..)));
        }
        Some(Fault::Chunked) => {
            content_length = false;
            steps.push(Step::Send(data.clone()));
        }
        Some(Fault::Drip { every_ms, .. }) => drip = Some(Duration::from_millis(every_ms)),
        _ => steps.push(Step::Send(data.clone())),
    }

    let body = if method == Method::HEAD {
        Body::empty()
    } else if let Some(every) = drip {
        drip_body(data, every)
    } else {
        streaming_body(steps)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    }
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {start}-{}/{total}", end.saturating_sub(1))),
        );
    }
    if docker_content_digest {
        headers.insert("docker-content-digest", header_value(&blob.digest));
    }
    response
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("valid header value")
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// Not a form we answer: serve the whole blob, as a registry may.
    Ignore,
    Unsatisfiable,
    /// Half-open `[start, end)`.
    Bytes {
        start: u64,
        end: u64,
    },
}

fn parse_range(range: &str, total: u64) -> RangeAsk {
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return RangeAsk::Ignore;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAsk::Ignore;
    };
    let Ok(start) = first.trim().parse::<u64>() else {
        return RangeAsk::Ignore;
    };
    let end = match last.trim() {
        "" => total,
        last => match last.parse::<u64>() {
            Ok(last) if last >= start => (last + 1).min(total),
            _ => return RangeAsk::Ignore,
        },
    };
    if start >= total {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Bytes { start, end }
}

enum Step {
    Send(Bytes),
    Sleep(Duration),
    Abort,
}

/// Bodies go out in pieces of this size so a stall or drop lands between
/// pieces the client has already been handed.
const PIECE: usize = 16 * 1024;

/// Before aborting, give hyper time to flush what was sent to the socket:
/// an abort discards hyper's unflushed write buffer, and the client should
/// receive exactly the prefix the fault promised.
const FLUSH_GRACE: Duration = Duration::from_millis(100);

fn streaming_body(steps: Vec<Step>) -> Body {
    let mut queue = VecDeque::new();
    for step in steps {
        match step {
            Step::Send(data) => {
                let mut offset = 0;
                while offset < data.len() {
                    let piece = data.slice(offset..(offset + PIECE).min(data.len()));
                    offset += piece.len();
                    queue.push_back(Step::Send(piece));
                }
            }
            other => queue.push_back(other),
        }
    }
    let stream = futures_util::stream::unfold(queue, |mut queue| async move {
        loop {
            match queue.pop_front()? {
                Step::Send(piece) => return Some((Ok(piece), queue)),
                Step::Sleep(duration) => tokio::time::sleep(duration).await,
                Step::Abort => {
                    tokio::time::sleep(FLUSH_GRACE).await;
                    let error = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "fake registry: injected connection drop",
                    );
                    return Some((Err(error), VecDeque::new()));
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// `data` one byte at a time, `every` apart (made as it goes: a blob of megabytes would
/// otherwise be millions of queued steps).
fn drip_body(data: Bytes, every: Duration) -> Body {
    let stream = futures_util::stream::unfold(0usize, move |sent| {
        let data = data.clone();
        async move {
            if sent >= data.len() {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((
                Ok::<_, std::convert::Infallible>(data.slice(sent..sent + 1)),
                sent + 1,
            ))
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_a_registry() {
        assert_eq!(
            parse_range("bytes=5-", 10),
            RangeAsk::Bytes { start: 5, end: 10 }
        );
        assert_eq!(
            parse_range("bytes=2-3", 10),
            RangeAsk::Bytes { start: 2, end: 4 }
        );
        assert_eq!(
            parse_range("bytes=2-99", 10),
            RangeAsk::Bytes { start: 2, end: 10 }
        );
        assert_eq!(parse_range("bytes=10-", 10), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 10), RangeAsk::Ignore);
        assert_eq!(parse_range("items=1-2", 10), RangeAsk::Ignore);
    }

    #[test]
    fn status_faults_count_down_then_disappear() {
        let mut faults = vec![Fault::Status {
            status: 503,
            times: 2,
            retry_after: Some(1),
        }];
        assert!(take_status_fault(&mut faults).is_some());
        assert!(take_status_fault(&mut faults).is_some());
        assert!(take_status_fault(&mut faults).is_none());
    }

    #[test]
    fn each_kind_of_counted_fault_is_taken_only_by_its_own_requests() {
        let mut faults = vec![
            Fault::CdnExpired { times: 1 },
            Fault::TokenStatus {
                status: 503,
                times: 1,
            },
            Fault::ManifestErrors {
                status: 403,
                errors: vec![("DENIED".into(), "a".into())],
                times: 2,
            },
        ];
        assert!(take_status_fault(&mut faults).is_none());
        assert!(take_body_fault(&mut faults, "sha256:x").is_none());
        let cdn = take_cdn_fault(&mut faults).expect("a CDN fault");
        assert_eq!(cdn.status(), StatusCode::FORBIDDEN);
        assert!(take_cdn_fault(&mut faults).is_none());
        let token = take_token_fault(&mut faults).expect("a token fault");
        assert_eq!(token.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(take_token_fault(&mut faults).is_none());
        assert!(take_manifest_fault(&mut faults).is_some());
        assert!(take_manifest_fault(&mut faults).is_some());
        assert!(take_manifest_fault(&mut faults).is_none());
        assert!(faults.is_empty());
    }
}
