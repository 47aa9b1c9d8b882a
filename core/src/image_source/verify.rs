//! A blob reader that checks what it passes on: never more than the descriptor's size, and the
//! digest is checked before the last bytes are handed over, so a consumer that reads to the end
//! without an error has read exactly the blob the manifest names.

use std::io::{self, Read};

use crate::digest::{Digest, Hasher};
use crate::error::Error;

/// A streaming reader of one blob of an image source, verified against its descriptor.
///
/// An error from `read` wraps a [`crate::Error`] (`DigestMismatch`, `SizeMismatch`) that
/// `io::Error::get_ref` gives back.
pub struct BlobReader {
    inner: Box<dyn Read + Send>,
    hasher: Option<Hasher>,
    expected: Digest,
    size: u64,
    done: u64,
    what: String,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BlobReader({} at {}/{})",
            self.what, self.done, self.size
        )
    }
}

impl BlobReader {
    pub(crate) fn new(
        inner: Box<dyn Read + Send>,
        expected: &Digest,
        size: u64,
        what: String,
    ) -> BlobReader {
        BlobReader {
            inner,
            hasher: Some(expected.algorithm().hasher()),
            expected: expected.clone(),
            size,
            done: 0,
            what,
        }
    }

    /// The size the blob has (and the reader gives).
    pub fn size(&self) -> u64 {
        self.size
    }

    fn fail(&self, e: Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size - self.done;
        if buf.is_empty() || (left == 0 && self.hasher.is_none()) {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = if want == 0 {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        if n == 0 && left > 0 {
            return Err(self.fail(Error::SizeMismatch {
                what: self.what.clone(),
                expected: self.size,
                actual: self.done,
            }));
        }
        let hasher = self.hasher.as_mut().expect("hasher present until the end");
        hasher.update(&buf[..n]);
        self.done += n as u64;
        if self.done == self.size {
            let actual = self.hasher.take().expect("hasher present").finish();
            if actual != self.expected {
                return Err(self.fail(Error::DigestMismatch {
                    what: self.what.clone(),
                    expected: self.expected.clone(),
                    actual,
                }));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &'static [u8], digest_of: &[u8], size: u64) -> io::Result<Vec<u8>> {
        let mut r = BlobReader::new(
            Box::new(data),
            &Digest::sha256_of(digest_of),
            size,
            "blob".into(),
        );
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_matching_blob_reads_whole() {
        assert_eq!(read_all(b"hello", b"hello", 5).unwrap(), b"hello");
        assert_eq!(read_all(b"", b"", 0).unwrap(), b"");
    }

    #[test]
    fn wrong_bytes_short_bytes_and_extra_bytes_are_errors() {
        let err = read_all(b"hellO", b"hello", 5).unwrap_err().to_string();
        assert!(err.contains("digest mismatch"), "{err}");
        let err = read_all(b"hell", b"hello", 5).unwrap_err().to_string();
        assert!(err.contains("size mismatch"), "{err}");
        // A size that lies short cuts the read there, and the digest then fails.
        let err = read_all(b"hello", b"hello", 4).unwrap_err().to_string();
        assert!(err.contains("digest mismatch"), "{err}");
    }
}
