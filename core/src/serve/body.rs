//! Response bodies: small ones whole, blobs streamed from their source in chunks read on the
//! blocking pool, so a blob is never held in memory (one chunk per transfer at a time) and a
//! slow client slows only its own reads. A body that fails part-way (a blob whose bytes do not
//! match its digest) ends the connection, so the client sees a short body, never a wrong one
//! that looks complete, and the failure is logged.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;

use super::log::ServeLog;

/// A response body.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The bytes read per step of a transfer: each step is a hop to the blocking pool, so not
/// too few; one is held per transfer, so not too many.
const CHUNK: usize = 256 << 10;

/// Run once a body has sent all its bytes without an error.
pub(crate) type OnDone = Box<dyn FnOnce() + Send>;

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `len` bytes of `reader`, streamed; `what` names the blob when the read fails, and `on_done`
/// runs once all of them went out.
pub(crate) fn stream(
    reader: Box<dyn Read + Send>,
    len: u64,
    what: String,
    log: Arc<dyn ServeLog>,
    on_done: Option<OnDone>,
) -> Body {
    let state = (reader, len, on_done);
    let chunks = futures_util::stream::try_unfold(state, move |(mut reader, left, on_done)| {
        let what = what.clone();
        let log = log.clone();
        async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; want];
                let mut got = 0;
                while got < want {
                    match reader.read(&mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                buf.truncate(got);
                Ok((reader, buf))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            match read {
                Ok((_, buf)) if buf.is_empty() => {
                    let e = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{what}: the source ends early"),
                    );
                    log.line(&format!("error: {e}"));
                    Err(e)
                }
                Ok((reader, buf)) => {
                    let n = buf.len() as u64;
                    let mut on_done = on_done;
                    if n == left {
                        // The reader handed over its last bytes: a verifying one checked them.
                        if let Some(done) = on_done.take() {
                            done();
                        }
                    }
                    Ok(Some((
                        Frame::data(Bytes::from(buf)),
                        (reader, left - n, on_done),
                    )))
                }
                Err(e) => {
                    log.line(&format!("error: {what}: {e}; the transfer was cut off"));
                    Err(e)
                }
            }
        }
    });
    StreamBody::new(chunks).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Quiet;
    impl ServeLog for Quiet {
        fn line(&self, _: &str) {}
    }

    /// Streams `bytes` announced as `len` long; whether `on_done` ran, and whether the body
    /// ended well.
    async fn send(bytes: Vec<u8>, len: u64) -> (bool, bool) {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let on_done: OnDone = Box::new(move || flag.store(true, Ordering::SeqCst));
        let reader = Box::new(std::io::Cursor::new(bytes));
        let body = stream(reader, len, "blob".into(), Arc::new(Quiet), Some(on_done));
        let ended_well = body.collect().await.is_ok();
        (ran.load(Ordering::SeqCst), ended_well)
    }

    #[tokio::test]
    async fn on_done_runs_once_every_byte_went_out_and_never_for_a_short_source() {
        let whole = vec![7u8; 3 * CHUNK + 5];
        let len = whole.len() as u64;
        assert_eq!(send(whole, len).await, (true, true));
        assert_eq!(send(vec![7u8; 100], 200).await, (false, false));
    }
}
