//! A blob's bytes as an upload body: hashed as they go out, cut to the length asked, and,
//! when the body ends the blob in the same request (a monolithic PUT), its last piece held
//! back until the digest verifies. A source that serves other bytes than the digest names
//! thus never gives the registry a complete body: the upload is not completed.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;

use crate::digest::{Digest, Hasher};
use crate::push::source::ByteStream;

/// The hash of what a body has sent, shared with the uploader that reads it afterwards.
pub(crate) struct Tally {
    pub hasher: Hasher,
    /// Set when a body that had to verify did not: what the bytes hashed to.
    pub mismatch: Option<Digest>,
    /// Why the source refused its own bytes (a file whose blob does not verify): sending it
    /// again cannot help, unlike a source that broke off.
    pub source_broken: Option<String>,
}

/// A shared [`Tally`].
pub(crate) type Shared = Arc<Mutex<Tally>>;

/// A tally continuing from `hasher`.
pub(crate) fn tally(hasher: Hasher) -> Shared {
    Arc::new(Mutex::new(Tally {
        hasher,
        mismatch: None,
        source_broken: None,
    }))
}

struct State {
    src: ByteStream,
    left: u64,
    tally: Shared,
    verify: Option<Digest>,
    held: Option<Bytes>,
}

/// The next `len` bytes of `src` as a body, hashed into `tally`. With `verify`, the body ends
/// in an error instead of its last piece unless everything hashed to that digest.
pub(crate) fn body(
    src: ByteStream,
    len: u64,
    tally: Shared,
    verify: Option<Digest>,
) -> reqwest::Body {
    let state = State {
        src,
        left: len,
        tally,
        verify,
        held: None,
    };
    reqwest::Body::wrap_stream(futures_util::stream::try_unfold(state, step))
}

async fn step(mut st: State) -> io::Result<Option<(Bytes, State)>> {
    loop {
        if st.left == 0 {
            let Some(last) = st.held.take() else {
                return Ok(None);
            };
            if let Some(expected) = &st.verify {
                let mut t = st.tally.lock().unwrap_or_else(|e| e.into_inner());
                let actual = t.hasher.clone().finish();
                if &actual != expected {
                    t.mismatch = Some(actual.clone());
                    return Err(io::Error::other(format!(
                        "the source's bytes hash to {actual}, not {expected}"
                    )));
                }
            }
            return Ok(Some((last, st)));
        }
        let piece = match st.src.next().await {
            Some(Ok(piece)) => piece,
            Some(Err(e)) => {
                if let Some(inner) = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<crate::error::Error>())
                {
                    st.tally
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .source_broken = Some(inner.to_string());
                }
                return Err(e);
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the source ended {} bytes short", st.left),
                ))
            }
        };
        let piece = match piece.len() as u64 > st.left {
            true => piece.slice(..st.left as usize),
            false => piece,
        };
        if piece.is_empty() {
            continue;
        }
        st.left -= piece.len() as u64;
        st.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .hasher
            .update(&piece);
        if st.verify.is_none() {
            return Ok(Some((piece, st)));
        }
        if let Some(previous) = st.held.replace(piece) {
            return Ok(Some((previous, st)));
        }
    }
}

/// Hashes the next `len` bytes of `src` into `hasher` without sending them: to bring the hash
/// up to an offset a registry reports past the last chunk it confirmed.
pub(crate) async fn hash_only(
    mut src: ByteStream,
    mut len: u64,
    hasher: &mut Hasher,
) -> io::Result<()> {
    while len > 0 {
        let piece = match src.next().await {
            Some(piece) => piece?,
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        };
        let take = piece.len().min(len as usize);
        hasher.update(&piece[..take]);
        len -= take as u64;
    }
    Ok(())
}

/// A request body sent at most once: the retry layer's second attempt gets an error and the
/// uploader asks the registry where the upload stands instead (a resent chunk could land
/// twice).
pub(crate) fn once(body: reqwest::Body) -> crate::http::Body {
    let slot = Mutex::new(Some(body));
    crate::http::Body::Reopen(Arc::new(move || {
        slot.lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| {
                crate::error::Error::io(
                    "upload",
                    io::Error::other("the body broke off; asking the registry where it stands"),
                )
            })
    }))
}
