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

/// A source read once by a chunked upload: each chunk's body takes it, reads its length, and
/// hands it back with the bytes it read past its end. Empty when a body broke off mid-way (or
/// after a failure the uploader emptied it): the next chunk then opens the source again at
/// the offset the registry reports.
pub(crate) type Carry = Arc<Mutex<Option<(ByteStream, Option<Bytes>)>>>;

/// An empty [`Carry`].
pub(crate) fn carry() -> Carry {
    Arc::new(Mutex::new(None))
}

/// The stream a [`Carry`] holds, if any, leaving it empty.
pub(crate) fn take(carry: &Carry) -> Option<(ByteStream, Option<Bytes>)> {
    carry.lock().unwrap_or_else(|e| e.into_inner()).take()
}

struct State {
    src: ByteStream,
    /// Bytes read from `src` that come first: what the previous chunk read past its end.
    pending: Option<Bytes>,
    left: u64,
    tally: Shared,
    verify: Option<Digest>,
    held: Option<Bytes>,
    /// Where the stream goes back once `left` bytes are sent.
    carry: Option<Carry>,
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
        pending: None,
        left: len,
        tally,
        verify,
        held: None,
        carry: None,
    };
    reqwest::Body::wrap_stream(pieces(state))
}

/// The next `len` bytes of `taken` (from [`take`]) as one chunk's body, hashed into `tally`;
/// the stream goes back into `carry` once they are sent.
pub(crate) fn chunk(
    taken: (ByteStream, Option<Bytes>),
    len: u64,
    tally: Shared,
    carry: &Carry,
) -> reqwest::Body {
    let (src, pending) = taken;
    let state = State {
        src,
        pending,
        left: len,
        tally,
        verify: None,
        held: None,
        carry: Some(carry.clone()),
    };
    reqwest::Body::wrap_stream(pieces(state))
}

/// The pieces a body sends.
fn pieces(state: State) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold(state, step)
}

/// Hands the stream of a body that has sent all it had to send back to its carry.
fn give_back(st: &mut State) {
    if let Some(carry) = st.carry.take() {
        let src = std::mem::replace(&mut st.src, Box::pin(futures_util::stream::empty()));
        *carry.lock().unwrap_or_else(|e| e.into_inner()) = Some((src, st.pending.take()));
    }
}

async fn step(mut st: State) -> io::Result<Option<(Bytes, State)>> {
    loop {
        if st.left == 0 {
            give_back(&mut st);
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
        let next = match st.pending.take() {
            Some(piece) => Some(Ok(piece)),
            None => st.src.next().await,
        };
        let piece = match next {
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
            true => {
                st.pending = Some(piece.slice(st.left as usize..));
                piece.slice(..st.left as usize)
            }
            false => piece,
        };
        if piece.is_empty() {
            continue;
        }
        st.left -= piece.len() as u64;
        if st.left == 0 {
            // Now, not at the next poll: a client that has sent the length it announced
            // polls the body no more.
            give_back(&mut st);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pieces: &[&'static [u8]]) -> ByteStream {
        let items: Vec<io::Result<Bytes>> =
            pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn send(taken: (ByteStream, Option<Bytes>), len: u64, carry: &Carry) -> Vec<u8> {
        let tally = tally(crate::digest::Algorithm::Sha256.hasher());
        let state = State {
            src: taken.0,
            pending: taken.1,
            left: len,
            tally,
            verify: None,
            held: None,
            carry: Some(carry.clone()),
        };
        // As hyper does: once the announced length is sent, the body is polled no more.
        let mut body = Box::pin(pieces(state));
        let mut sent = Vec::new();
        while (sent.len() as u64) < len {
            sent.extend_from_slice(&body.next().await.unwrap().unwrap());
        }
        sent
    }

    #[tokio::test]
    async fn chunks_read_one_stream_straight_through_across_piece_boundaries() {
        let carry = carry();
        let mut taken = (source(&[b"abcdefghij", b"klmnopqrstuvwxyz", b"0123"]), None);
        let mut sent = Vec::new();
        for len in [7, 7, 7, 7, 2] {
            sent.push(send(taken, len, &carry).await);
            taken = take(&carry).expect("each chunk hands the stream on");
        }
        assert_eq!(sent.concat(), b"abcdefghijklmnopqrstuvwxyz0123");
        assert_eq!(
            sent[1], b"hijklmn",
            "the second chunk starts where the first ended"
        );
        assert_eq!(sent[4], b"23");
        assert!(take(&carry).is_none(), "taking empties the carry");
    }

    #[tokio::test]
    async fn a_chunk_cut_short_hands_nothing_on() {
        let carry = carry();
        let state = State {
            src: source(&[b"abc"]),
            pending: None,
            left: 10,
            tally: tally(crate::digest::Algorithm::Sha256.hasher()),
            verify: None,
            held: None,
            carry: Some(carry.clone()),
        };
        let sent: io::Result<Vec<Bytes>> =
            futures_util::TryStreamExt::try_collect(pieces(state)).await;
        assert!(sent.is_err());
        assert!(
            take(&carry).is_none(),
            "the next chunk opens the source again"
        );
    }
}
