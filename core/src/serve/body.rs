//! Response bodies: small ones whole, blobs streamed from their source in chunks read on the
//! blocking pool, so a blob is never held in memory (two chunks per transfer at most) and a
//! slow client slows only its own reads. A body that fails part-way (a blob whose bytes do not
//! match its digest, a source that ends early) ends the connection, so the client sees a short
//! body, never a wrong one that looks complete, and the failure is logged.
//!
//! A chunk's memory is lent to hyper and comes back to its transfer once written ([`Lent`]),
//! so a transfer allocates and zero-fills its buffers once, not once per chunk: with sixteen
//! parallel pulls, filling a fresh buffer per chunk (memset, page faults, heap trims) was a
//! fifth of the server's CPU, as much as reading the bytes themselves.

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;

use super::log::ServeLog;

/// A response body.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The bytes read per step of a transfer: each step is a hop to the blocking pool, so not
/// too few; two are held per transfer (one being written, one being read), so not too many:
/// at the 128 connections serve allows, 128 MiB. With sixteen clients, 512 KiB took 0.85–0.99
/// of docker-registry's CPU where 256 KiB took 1.01–1.06, and 128 KiB clearly more.
const CHUNK: usize = 512 << 10;

/// The buffers a transfer keeps for reuse: hyper asks for the next chunk only once the last
/// is nearly written, so two are enough to never allocate again.
const SPARES: usize = 2;

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
    let transfer = Transfer {
        reader,
        left: len,
        spares: Arc::default(),
    };
    let chunks = futures_util::stream::try_unfold(transfer, move |mut transfer| {
        let what = what.clone();
        let log = log.clone();
        async move {
            if transfer.left == 0 {
                return Ok(None);
            }
            let read = tokio::task::spawn_blocking(move || {
                let chunk = transfer.read_chunk();
                chunk.map(|c| (transfer, c))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            match read {
                Ok((_, None)) => {
                    let e = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{what}: the source ends early"),
                    );
                    log.line(&format!("error: {e}"));
                    Err(e)
                }
                Ok((transfer, Some(chunk))) => Ok(Some((Frame::data(chunk), transfer))),
                Err(e) => {
                    log.line(&format!("error: {what}: {e}; the transfer was cut off"));
                    Err(e)
                }
            }
        }
    });
    StreamBody::new(chunks).boxed_unsync()
}

/// The bytes of one blob still to be sent, and the buffers its sent chunks gave back.
struct Transfer {
    reader: Box<dyn Read + Send>,
    left: u64,
    spares: Spares,
}

type Spares = Arc<Mutex<Vec<Vec<u8>>>>;

impl Transfer {
    /// The next chunk (at most [`CHUNK`] bytes, never past the end of the transfer), read into
    /// a buffer given back by an earlier chunk when there is one; None when the source ends
    /// before the transfer does. Blocks.
    fn read_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(CHUNK);
        let spare = self.spares.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = spare.unwrap_or_default();
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let mut got = 0;
        while got < want {
            match self.reader.read(&mut buf[got..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if got == 0 {
            return Ok(None);
        }
        self.left -= got as u64;
        Ok(Some(Bytes::from_owner(Lent {
            buf,
            len: got,
            home: self.spares.clone(),
        })))
    }
}

/// A chunk's buffer while hyper holds it (its first `len` bytes are the chunk); dropped once
/// written, it goes back to its transfer's spares.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    home: Spares,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut spares = self.home.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < SPARES {
            spares.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Remembers the lines logged.
    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl ServeLog for Lines {
        fn line(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    /// `n` bytes that differ from chunk to chunk, so a stale buffer shows.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i % 251) as u8 ^ (i / CHUNK) as u8)
            .collect()
    }

    /// Reads `data` then fails.
    struct FailsAfter(Cursor<Vec<u8>>);

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }

    /// Each frame of `body` as it comes (frames are dropped before the next is asked for,
    /// as hyper does once it has written them), then the error that ended it, if any.
    async fn drain(mut body: Body) -> (Vec<u8>, usize, Option<std::io::Error>) {
        let mut bytes = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    let data = frame.into_data().expect("only data frames");
                    bytes.extend_from_slice(&data);
                    frames += 1;
                }
                Err(e) => return (bytes, frames, Some(e)),
            }
        }
        (bytes, frames, None)
    }

    #[tokio::test]
    async fn a_range_body_is_exactly_its_bytes_through_reused_buffers() {
        // More in the source than asked for, and a last chunk shorter than the buffers it
        // reuses: neither the rest of the source nor a stale tail may be sent.
        let data = pattern(3 * CHUNK + 100);
        let len = 2 * CHUNK + 7;
        let log = Arc::new(Lines::default());
        let body = stream(
            Box::new(Cursor::new(data.clone())),
            len as u64,
            "blob".into(),
            log.clone(),
        );
        let (bytes, frames, error) = drain(body).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(frames, 3);
        assert!(bytes == data[..len], "the body differs from the range");
        assert!(log.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_source_shorter_than_the_blob_ends_the_body_short_with_an_error() {
        let data = pattern(CHUNK + 10);
        let log = Arc::new(Lines::default());
        let body = stream(
            Box::new(Cursor::new(data.clone())),
            (2 * CHUNK) as u64,
            "blob".into(),
            log.clone(),
        );
        let (bytes, _, error) = drain(body).await;
        assert_eq!(
            error.map(|e| e.kind()),
            Some(std::io::ErrorKind::UnexpectedEof)
        );
        assert!(bytes == data, "what the source had is sent, nothing more");
        let lines = log.0.lock().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("blob: the source ends early")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_read_failing_mid_blob_ends_the_body_short_with_its_error() {
        let data = pattern(CHUNK + CHUNK / 2);
        let log = Arc::new(Lines::default());
        let body = stream(
            Box::new(FailsAfter(Cursor::new(data.clone()))),
            (3 * CHUNK) as u64,
            "blob".into(),
            log.clone(),
        );
        let (bytes, _, error) = drain(body).await;
        let error = error.expect("the body ends with the read's error");
        assert!(error.to_string().contains("disk on fire"), "{error}");
        // The first whole chunk went out; the failed one is not sent in part.
        assert!(bytes == data[..CHUNK], "{} bytes sent", bytes.len());
        let lines = log.0.lock().unwrap();
        assert!(
            lines.iter().any(|l| l.contains("the transfer was cut off")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_written_chunk_gives_its_buffer_to_the_next() {
        let mut transfer = Transfer {
            reader: Box::new(Cursor::new(pattern(3 * CHUNK))),
            left: (3 * CHUNK) as u64,
            spares: Arc::default(),
        };
        let spares = |t: &Transfer| t.spares.lock().unwrap().len();
        let first = transfer.read_chunk().unwrap().unwrap();
        let at = first.as_ptr();
        assert_eq!(spares(&transfer), 0);
        drop(first);
        assert_eq!(spares(&transfer), 1, "the written chunk's buffer came back");
        let second = transfer.read_chunk().unwrap().unwrap();
        assert_eq!(spares(&transfer), 0, "and was taken again");
        assert_eq!(second.as_ptr(), at);
        // Held by hyper, a chunk's buffer is not lent twice.
        let third = transfer.read_chunk().unwrap().unwrap();
        assert_ne!(third.as_ptr(), second.as_ptr());
        drop((second, third));
        assert_eq!(spares(&transfer), SPARES);
    }
}
