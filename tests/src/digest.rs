//! Content digests in the `sha256:<hex>` form registries use (and `sha512:<hex>`, which OCI
//! allows and which makes 141-character blob names).
//!
//! Every fixture the support code produces is addressed by content, so this
//! one helper is shared by the image builders, the fake registry and tests.

use sha2::{Digest, Sha256, Sha512};

/// `sha256:<64 lowercase hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// `sha512:<128 lowercase hex>` of `data`.
pub fn sha512_digest(data: &[u8]) -> String {
    format!("sha512:{}", hex(&Sha512::digest(data)))
}

/// `<algorithm>:<hex>` of `data` with the algorithm `like` names (`sha256:...` or `sha512:...`),
/// to check that a blob hashes to its name.
pub fn digest_like(like: &str, data: &[u8]) -> String {
    if like.starts_with("sha512:") {
        sha512_digest(data)
    } else {
        sha256_digest(data)
    }
}

/// The bare lowercase hex SHA-256 of `data` (no `sha256:` prefix).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(hash: &[u8]) -> String {
    let mut out = String::with_capacity(hash.len() * 2);
    for byte in hash.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_the_well_known_digest() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
