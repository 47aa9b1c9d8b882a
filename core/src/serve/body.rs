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

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `len` bytes of `reader`, streamed; `what` names the blob when the read fails.
pub(crate) fn stream(
    reader: Box<dyn Read + Send>,
    len: u64,
    what: String,
    log: Arc<dyn ServeLog>,
) -> Body {
    let state = (reader, len);
    let chunks = futures_util::stream::try_unfold(state, move |(mut reader, left)| {
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
                    Ok(Some((Frame::data(Bytes::from(buf)), (reader, left - n))))
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
