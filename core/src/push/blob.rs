//! Uploading one blob: skipped when the registry has it, mounted from another repository of
//! the same registry when it can be, else sent in one PUT (small blobs) or in PATCH chunks.
//!
//! Each chunk's answer must report the `Range` that was sent before the next goes. A chunk
//! that breaks off is not sent again blindly: the registry is asked where the upload stands
//! (`GET` its Location) and the upload goes on from there, within the retry budget; an
//! upload the registry has forgotten starts over. The hash is computed as the bytes go out,
//! so a source serving other bytes than the digest names never gets its upload completed.
//! What the registry claims at the end (a mount, a finished upload) is checked with a HEAD
//! before a manifest depends on it.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::http::retry::Backoff;
use crate::http::{Request, Response};
use crate::manifest::Descriptor;
use crate::progress::{Event, Progress};
use crate::push::body::{self, Shared};
use crate::push::source::BlobSource;
use crate::push::UploadLimits;
use crate::registry::Session;

/// What became of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The repository had it already.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Sent.
    Uploaded,
}

/// One blob to upload.
pub(crate) struct BlobUpload<'a> {
    pub dest: &'a Session,
    pub desc: &'a Descriptor,
    pub source: &'a dyn BlobSource,
    /// A repository of the same registry that has the blob.
    pub mount_from: Option<&'a str>,
    pub limits: UploadLimits,
    /// The blob in messages (`layer 2/4 sha256:0123456789ab`).
    pub what: String,
}

/// Why an attempt ended.
enum Broke {
    /// For good.
    Fatal(Error),
    /// The upload is gone or unusable: start another.
    Again(Error),
}

impl From<Error> for Broke {
    fn from(e: Error) -> Broke {
        Broke::Fatal(e)
    }
}

/// Uploads a blob unless the repository has it, reporting to `progress`.
pub(crate) async fn upload(job: &BlobUpload<'_>, progress: &dyn Progress) -> Result<Outcome> {
    let digest = &job.desc.digest;
    progress.event(Event::BlobStarted {
        digest: digest.clone(),
        size: job.desc.size,
        what: job.what.clone(),
    });
    let outcome = send(job, progress).await?;
    progress.event(Event::BlobDone {
        digest: digest.clone(),
        cached: outcome != Outcome::Uploaded,
    });
    Ok(outcome)
}

async fn send(job: &BlobUpload<'_>, progress: &dyn Progress) -> Result<Outcome> {
    if present(job).await? {
        return Ok(Outcome::Present);
    }
    if let Some(e) = job.source.unavailable() {
        // Registries keep blobs per repository: a base pushed under its own name holds the
        // blob there, and a mount links it here without sending it.
        for from in job.source.mount_candidates() {
            if let Ok(Started::Mounted) = start(job, Some(from)).await {
                if present(job).await? {
                    return Ok(Outcome::Mounted);
                }
            }
        }
        return Err(e);
    }
    let mut backoff = Backoff::new(job.dest.retry_policy());
    let mut mount = job.mount_from;
    loop {
        let location = match start(job, mount.take()).await? {
            Started::Mounted => {
                if !present(job).await? {
                    return Err(upload_error(
                        job,
                        "the registry said it mounted the blob, but does not have it",
                    ));
                }
                return Ok(Outcome::Mounted);
            }
            Started::At(location) => location,
        };
        let attempt = match job.desc.size <= job.limits.monolithic_max {
            true => monolithic(job, location).await,
            false => chunked(job, location, &mut backoff, progress).await,
        };
        match attempt {
            Ok(()) => break,
            Err(Broke::Fatal(e)) => return Err(e),
            Err(Broke::Again(e)) => {
                let Some(wait) = backoff.next_delay(None) else {
                    return Err(e.after(backoff.attempts()));
                };
                progress.event(Event::BlobRetry {
                    digest: job.desc.digest.clone(),
                    reason: format!("starting the upload again: {e}"),
                });
                tokio::time::sleep(wait).await;
            }
        }
    }
    if !present(job).await? {
        return Err(upload_error(
            job,
            "the registry accepted the upload, but does not have the blob",
        ));
    }
    Ok(Outcome::Uploaded)
}

fn upload_error(job: &BlobUpload<'_>, reason: impl Into<String>) -> Error {
    Error::Upload {
        what: format!("{} to {}", job.what, job.dest.display_name()),
        reason: reason.into(),
    }
}

/// True when the repository has the blob, at its size.
async fn present(job: &BlobUpload<'_>) -> Result<bool> {
    let url = job.dest.url(&format!("blobs/{}", job.desc.digest))?;
    let resp = job
        .dest
        .send(Request::new(Method::HEAD, url, &job.what))
        .await?;
    match resp.status() {
        // The header, not the body's length: a HEAD answer has no body.
        StatusCode::OK => match resp
            .header("content-length")
            .and_then(|l| l.trim().parse::<u64>().ok())
        {
            Some(size) if size == job.desc.size => Ok(true),
            Some(size) => Err(upload_error(
                job,
                format!(
                    "the registry has this digest at {size} bytes, not {}",
                    job.desc.size
                ),
            )),
            // Without a size, the blob is sent again rather than trusted.
            None => Ok(false),
        },
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(resp.into_error(&job.what).await),
    }
}

enum Started {
    Mounted,
    At(Url),
}

/// Starts an upload (`POST .../blobs/uploads/`), asking to mount from `mount_from` first.
async fn start(job: &BlobUpload<'_>, mount_from: Option<&str>) -> Result<Started> {
    let mut url = job.dest.url("blobs/uploads/")?;
    if let Some(from) = mount_from {
        url.query_pairs_mut()
            .append_pair("mount", &job.desc.digest.to_string())
            .append_pair("from", from);
    }
    let mut req = Request::new(Method::POST, url, &job.what);
    req.headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
    let resp = job.dest.send(req).await?;
    match resp.status() {
        StatusCode::CREATED if mount_from.is_some() => {
            check_digest_header(job, &resp)?;
            Ok(Started::Mounted)
        }
        StatusCode::ACCEPTED => Ok(Started::At(location(job, &resp)?)),
        _ => Err(resp.into_error(&job.what).await),
    }
}

/// The upload's Location, relative or absolute.
fn location(job: &BlobUpload<'_>, resp: &Response) -> Result<Url> {
    match resp.location() {
        Some(Ok(url)) => Ok(url),
        Some(Err(e)) => Err(upload_error(
            job,
            format!("the upload Location is not a URL: {e}"),
        )),
        None => Err(upload_error(job, "the registry gave no upload Location")),
    }
}

/// The location for the request after `resp`: its Location when it gives one.
fn next_location(job: &BlobUpload<'_>, resp: &Response, current: Url) -> Result<Url> {
    match resp.location() {
        None => Ok(current),
        Some(_) => location(job, resp),
    }
}

/// The `Docker-Content-Digest` of an answer, when it names one, must be the blob's.
fn check_digest_header(job: &BlobUpload<'_>, resp: &Response) -> Result<()> {
    let Some(answered) = resp.header("docker-content-digest") else {
        return Ok(());
    };
    match Digest::parse(answered.trim()) {
        Ok(d) if d == job.desc.digest => Ok(()),
        _ => Err(upload_error(
            job,
            format!(
                "the registry answered Docker-Content-Digest {}, not {}",
                crate::terminal_text::shown(answered.trim()),
                job.desc.digest
            ),
        )),
    }
}

fn octet_headers(len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h
}

/// `location` with `?digest=` added: the request that completes an upload.
fn completing(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    url
}

/// Errors the registry may be over (a dropped connection, a 5xx): worth asking where the
/// upload stands. Policy refusals and the like are not.
fn transient(e: &Error) -> bool {
    !matches!(
        e,
        Error::Refused { .. }
            | Error::Certificates { .. }
            | Error::Usage(_)
            | Error::Upload { .. }
            | Error::DigestMismatch { .. }
    )
}

/// The whole blob in one `PUT ?digest=`, its last piece held back unless it verifies.
async fn monolithic(job: &BlobUpload<'_>, location: Url) -> std::result::Result<(), Broke> {
    let size = job.desc.size;
    let tally = body::tally(job.desc.digest.algorithm().hasher());
    let src = job.source.open(0).await?;
    let body = body::body(src, size, tally.clone(), Some(job.desc.digest.clone()));
    let req = Request::new(
        Method::PUT,
        completing(&location, &job.desc.digest),
        &job.what,
    )
    .headers(octet_headers(size));
    let req = Request {
        body: body::once(body),
        ..req
    };
    let resp = send_body(job, req, &tally).await?;
    if resp.status() == StatusCode::CREATED {
        check_digest_header(job, &resp)?;
        return Ok(());
    }
    let retry = resp.status().is_server_error();
    let e = resp.into_error(&job.what).await;
    Err(if retry {
        Broke::Again(e)
    } else {
        Broke::Fatal(e)
    })
}

/// Sends a request whose body streams the source through `tally`. That the source's bytes did
/// not verify is the error when it is so, whatever the registry answered; a failure the
/// registry may be over is worth another attempt.
async fn send_body(
    job: &BlobUpload<'_>,
    req: Request,
    tally: &Shared,
) -> std::result::Result<Response, Broke> {
    let sent = job.dest.send_anywhere(req).await;
    mismatch(job, tally)?;
    match sent {
        Ok(resp) => Ok(resp),
        Err(e) if transient(&e) => Err(Broke::Again(e)),
        Err(e) => Err(Broke::Fatal(e)),
    }
}

/// The error for a source whose bytes did not verify (or that refused its own bytes), if that
/// is what ended a body.
fn mismatch(job: &BlobUpload<'_>, tally: &Shared) -> Result<()> {
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = &t.source_broken {
        return Err(upload_error(job, format!("the source is broken: {why}")));
    }
    match &t.mismatch {
        Some(actual) => Err(Error::DigestMismatch {
            what: format!("{} (upload not completed)", job.what),
            expected: job.desc.digest.clone(),
            actual: actual.clone(),
        }),
        None => Ok(()),
    }
}

/// The blob in PATCH chunks, each confirmed by the `Range` answered, then `PUT ?digest=`.
async fn chunked(
    job: &BlobUpload<'_>,
    mut location: Url,
    backoff: &mut Backoff,
    progress: &dyn Progress,
) -> std::result::Result<(), Broke> {
    let size = job.desc.size;
    let chunk = job.limits.chunk.max(1);
    // `hasher` holds the hash of bytes [0, offset): what the registry has confirmed.
    let mut hasher = job.desc.digest.algorithm().hasher();
    let mut offset = 0u64;
    // The source is opened once and read straight through, chunk after chunk; only a break
    // (below) opens it again, at the offset the registry reports.
    let carry = body::carry();
    while offset < size {
        let end = (offset + chunk).min(size);
        let tally = body::tally(hasher.clone());
        let taken = match body::take(&carry) {
            Some(taken) => taken,
            None => (job.source.open(offset).await?, None),
        };
        let sent = patch(job, &location, offset, end, taken, &carry, tally.clone()).await;
        match sent {
            Ok(next) => {
                location = next;
                hasher = tally
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .hasher
                    .clone();
                offset = end;
                progress.event(Event::BlobProgress {
                    digest: job.desc.digest.clone(),
                    done: offset,
                });
            }
            Err(Broke::Again(e)) => {
                // Where the source stands no longer matters: the registry's word does.
                drop(body::take(&carry));
                let Some(wait) = backoff.next_delay(None) else {
                    return Err(Broke::Fatal(e.after(backoff.attempts())));
                };
                tokio::time::sleep(wait).await;
                let (at, reported) = match status(job, &location, offset).await {
                    Ok(found) => found,
                    // The registry forgot the upload (or cancelled it): start over.
                    Err(_) => return Err(Broke::Again(e)),
                };
                if reported > end {
                    return Err(Broke::Fatal(upload_error(
                        job,
                        format!("the registry reports {reported} bytes, more than the {end} sent"),
                    )));
                }
                progress.event(Event::BlobRetry {
                    digest: job.desc.digest.clone(),
                    reason: format!("resuming the upload at byte {reported}: {e}"),
                });
                if reported < offset {
                    hasher = job.desc.digest.algorithm().hasher();
                    catch_up(job, &mut hasher, 0, reported).await?;
                } else {
                    catch_up(job, &mut hasher, offset, reported).await?;
                }
                offset = reported;
                location = at;
            }
            Err(fatal) => return Err(fatal),
        }
    }
    let actual = hasher.finish();
    if actual != job.desc.digest {
        // Leave nothing half-made behind; the registry's answer does not change the error.
        let req = Request::new(Method::DELETE, location, &job.what);
        let _ = job.dest.send_anywhere(req).await;
        return Err(Broke::Fatal(Error::DigestMismatch {
            what: format!("{} (upload not completed)", job.what),
            expected: job.desc.digest.clone(),
            actual,
        }));
    }
    let req = Request::new(
        Method::PUT,
        completing(&location, &job.desc.digest),
        &job.what,
    )
    .headers(octet_headers(0));
    let resp = job.dest.send_anywhere(req).await?;
    if resp.status() != StatusCode::CREATED {
        return Err(Broke::Fatal(resp.into_error(&job.what).await));
    }
    check_digest_header(job, &resp)?;
    Ok(())
}

/// Brings `hasher` from byte `from` to byte `to` of the source without sending anything.
async fn catch_up(job: &BlobUpload<'_>, hasher: &mut Hasher, from: u64, to: u64) -> Result<()> {
    if to <= from {
        return Ok(());
    }
    let src = job.source.open(from).await?;
    body::hash_only(src, to - from, hasher)
        .await
        .map_err(|e| Error::io(&job.what, e))
}

/// Sends bytes [offset, end), read from `taken` (which stands at `offset`), and checks the
/// `Range` answered. Returns the next Location.
async fn patch(
    job: &BlobUpload<'_>,
    location: &Url,
    offset: u64,
    end: u64,
    taken: (crate::push::source::ByteStream, Option<bytes::Bytes>),
    carry: &body::Carry,
    tally: Shared,
) -> std::result::Result<Url, Broke> {
    let body = body::chunk(taken, end - offset, tally.clone(), carry);
    let mut headers = octet_headers(end - offset);
    let range = format!("{offset}-{}", end - 1);
    headers.insert(
        reqwest::header::CONTENT_RANGE,
        HeaderValue::from_str(&range).expect("digits and a dash"),
    );
    let req = Request {
        body: body::once(body),
        ..Request::new(Method::PATCH, location.clone(), &job.what).headers(headers)
    };
    let resp = send_body(job, req, &tally).await?;
    let status = resp.status();
    if status == StatusCode::ACCEPTED {
        let confirmed = reported_end(resp.header("range").as_deref(), offset);
        if confirmed != Some(end) {
            return Err(Broke::Fatal(upload_error(
                job,
                format!(
                    "after bytes {range} the registry reports Range {}, not 0-{}",
                    crate::terminal_text::shown(&resp.header("range").unwrap_or_default()),
                    end - 1
                ),
            )));
        }
        return Ok(next_location(job, &resp, location.clone())?);
    }
    let again = status.is_server_error() || status == StatusCode::RANGE_NOT_SATISFIABLE;
    let e = resp.into_error(&job.what).await;
    Err(if again {
        Broke::Again(e)
    } else {
        Broke::Fatal(e)
    })
}

/// How many bytes a `Range: 0-N` header says the registry holds. Distribution writes `0-0`
/// both for nothing and for one byte: read as nothing unless more was already confirmed.
fn reported_end(range: Option<&str>, confirmed: u64) -> Option<u64> {
    let range = range?.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (start, last) = range.split_once('-')?;
    if start.trim() != "0" {
        return None;
    }
    let last: u64 = last.trim().parse().ok()?;
    Some(if last == 0 && confirmed == 0 {
        0
    } else {
        last.checked_add(1)?
    })
}

/// Where an upload stands: `GET` its Location, 204 with the `Range` received.
async fn status(job: &BlobUpload<'_>, location: &Url, confirmed: u64) -> Result<(Url, u64)> {
    let req = Request::new(Method::GET, location.clone(), &job.what);
    let resp = job.dest.send_anywhere(req).await?;
    if resp.status() != StatusCode::NO_CONTENT {
        return Err(resp.into_error(&job.what).await);
    }
    let reported = match resp.header("range") {
        None => 0,
        Some(r) => reported_end(Some(&r), confirmed).ok_or_else(|| {
            upload_error(
                job,
                format!(
                    "the upload's status gives Range {}",
                    crate::terminal_text::shown(&r)
                ),
            )
        })?,
    };
    Ok((next_location(job, &resp, location.clone())?, reported))
}

#[cfg(test)]
mod tests {
    use super::reported_end;

    #[test]
    fn a_range_is_read_as_the_bytes_held() {
        assert_eq!(reported_end(Some("0-99"), 0), Some(100));
        assert_eq!(reported_end(Some("bytes=0-99"), 0), Some(100));
        assert_eq!(reported_end(Some("0-0"), 0), Some(0));
        assert_eq!(reported_end(Some("0-0"), 1), Some(1));
        assert_eq!(reported_end(Some("5-99"), 0), None);
        assert_eq!(reported_end(Some("0-x"), 0), None);
        assert_eq!(reported_end(Some("0-18446744073709551615"), 0), None);
    }
}
