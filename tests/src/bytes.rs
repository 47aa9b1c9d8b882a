//! Test bytes: seeded random content, and comparing blobs without printing them.
//!
//! Layers that must not shrink under gzip need incompressible content, and a test must get
//! the same content on every run, so there is one seeded generator here rather than one
//! hand-rolled in each test. `assert_eq!` on megabyte blobs prints megabytes; the checker here
//! says where they first differ instead.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// `len` random bytes, the same for the same `seed`: incompressible, so a gzip layer made of
/// them is as big as they are.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Where two byte strings first differ (`None` when equal): the offset of the first unequal
/// byte, or the shorter length when one is a prefix of the other.
pub fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    if got == want {
        return None;
    }
    Some(
        got.iter()
            .zip(want)
            .position(|(g, w)| g != w)
            .unwrap_or(got.len().min(want.len())),
    )
}

/// Panics unless `got` is `want` byte for byte, naming `what`, the lengths and the first
/// offset where they differ (not the bytes themselves).
#[track_caller]
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if let Some(at) = first_difference(got, want) {
        panic!(
            "{what}: {} bytes where {} were expected, first different at offset {at}",
            got.len(),
            want.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_depends_on_its_seed_only() {
        assert_eq!(noise(4096, 7), noise(4096, 7));
        assert_ne!(noise(4096, 7), noise(4096, 8));
        assert_eq!(noise(100, 7)[..], noise(4096, 7)[..100]);
    }

    #[test]
    fn noise_does_not_compress() {
        use std::io::Write;
        let data = noise(1 << 16, 1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data).unwrap();
        let compressed = gz.finish().unwrap();
        assert!(compressed.len() >= data.len(), "{}", compressed.len());
    }

    #[test]
    fn first_difference_finds_the_offset_or_the_shorter_length() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
        assert_eq!(first_difference(b"", b"a"), Some(0));
    }

    #[test]
    #[should_panic(expected = "layer: 3 bytes where 3 were expected, first different at offset 1")]
    fn assert_same_bytes_names_what_differs() {
        assert_same_bytes("layer", b"axc", b"abc");
    }
}
