//! `IndexBuilder`: Docker manifest lists and OCI image indexes.

use super::{Blob, Image, ManifestFormat};

/// Builds a multi-platform index over manifests (or anything else: entries
/// are plain JSON descriptors, so hostile tests can list whatever they like).
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    format: ManifestFormat,
    manifests: Vec<serde_json::Value>,
    annotations: serde_json::Map<String, serde_json::Value>,
}

impl IndexBuilder {
    /// `Docker` makes a manifest list, `Oci` an image index.
    pub fn new(format: ManifestFormat) -> IndexBuilder {
        IndexBuilder {
            format,
            manifests: Vec::new(),
            annotations: serde_json::Map::new(),
        }
    }

    /// An entry for `image`, with its own platform.
    pub fn image(self, image: &Image) -> Self {
        self.manifest(&image.manifest, image.platform.clone())
    }

    /// An entry for any manifest blob with the given platform object.
    pub fn manifest(mut self, manifest: &Blob, platform: serde_json::Value) -> Self {
        let mut descriptor = manifest.descriptor();
        descriptor["platform"] = platform;
        self.manifests.push(descriptor);
        self
    }

    /// An attestation entry as BuildKit writes it: platform unknown/unknown
    /// and annotations pointing at the manifest it attests.
    pub fn attestation(mut self, attestation: &Image, subject: &Image) -> Self {
        let mut descriptor = attestation.manifest.descriptor();
        descriptor["platform"] = serde_json::json!({"architecture": "unknown", "os": "unknown"});
        descriptor["annotations"] = serde_json::json!({
            "vnd.docker.reference.digest": subject.digest(),
            "vnd.docker.reference.type": "attestation-manifest",
        });
        self.manifests.push(descriptor);
        self
    }

    /// A nested index entry (no platform).
    pub fn index(mut self, index: &Blob) -> Self {
        self.manifests.push(index.descriptor());
        self
    }

    /// A raw descriptor, verbatim.
    pub fn descriptor(mut self, descriptor: serde_json::Value) -> Self {
        self.manifests.push(descriptor);
        self
    }

    /// An annotation on the index itself.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    pub fn build(self) -> Blob {
        let media_type = self.format.index_media_type();
        let mut index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": self.manifests,
        });
        if !self.annotations.is_empty() {
            index["annotations"] = self.annotations.into();
        }
        Blob::new(
            serde_json::to_vec(&index).expect("json serializes"),
            media_type,
        )
    }
}
