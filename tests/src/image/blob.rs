//! `Blob`: bytes plus the digest and media type a registry serves them under.

use bytes::Bytes;

use crate::digest::sha256_digest;

/// Content as a registry stores it: manifests, configs and layers alike.
///
/// Fields are public so hostile tests can forge a blob whose `digest` does
/// not match its `bytes` (registries key content by `digest`, so serving a
/// forged blob is just a struct literal away).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Bytes,
    /// `sha256:<hex>`.
    pub digest: String,
    pub media_type: String,
}

impl Blob {
    /// A blob whose digest is computed from `bytes`.
    pub fn new(bytes: impl Into<Bytes>, media_type: impl Into<String>) -> Blob {
        let bytes = bytes.into();
        Blob {
            digest: sha256_digest(&bytes),
            bytes,
            media_type: media_type.into(),
        }
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The OCI descriptor (`mediaType`, `digest`, `size`) pointing at this blob.
    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size(),
        })
    }

    /// The bytes as UTF-8 text (manifests and configs), for assertions.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).expect("blob is not UTF-8")
    }

    /// The bytes parsed as JSON, for assertions.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).expect("blob is not JSON")
    }
}
