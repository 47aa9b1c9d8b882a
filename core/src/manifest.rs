//! Manifests and indexes, Docker and OCI, kept as the exact bytes the registry served.
//!
//! The bytes are what the digest covers, so they are never re-serialized: parsing gives a view
//! for choosing a platform and listing blobs, while [`RawManifest`] carries the original bytes to
//! the output. Parsing is strict about what it relies on (digests, sizes) and lenient about the
//! rest, so a registry's extra fields pass through untouched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::platform::Platform;

pub mod media_type {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// The Accept header for manifest requests: every shape drag can use.
    pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
}

/// The most manifest bytes drag will read. containerd uses the same bound; a registry sending
/// more is broken or hostile.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// How deep indexes may nest before we call it a loop.
pub const MAX_INDEX_DEPTH: usize = 4;

/// A content descriptor: what a manifest says about a blob or a child manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// A single-platform image manifest (Docker schema2 or OCI).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// A manifest list or OCI index.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// What a manifest document turned out to be.
// Short-lived and matched at once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// A manifest exactly as served, with its verified digest and media type.
#[derive(Clone, Debug)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub media_type: String,
}

impl RawManifest {
    /// Parses the bytes, refusing schema1 and anything that is neither an image nor an index.
    /// `what` names the manifest in errors.
    pub fn parse(&self, what: &str) -> Result<Manifest> {
        parse_manifest(&self.bytes, &self.media_type, what)
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// The media type a document declares about itself, which beats a registry's Content-Type
/// (some registries answer `application/json` or `text/plain`).
fn declared_media_type(bytes: &[u8]) -> Option<(Option<String>, Option<u64>)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        schema_version: Option<u64>,
    }
    let head: Head = serde_json::from_slice(bytes).ok()?;
    Some((head.media_type, head.schema_version))
}

/// The media type to record for a manifest: its own field first, else the Content-Type.
pub fn effective_media_type(bytes: &[u8], content_type: Option<&str>) -> String {
    let declared = declared_media_type(bytes).and_then(|(m, _)| m);
    declared
        .or_else(|| {
            content_type
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
                .filter(|c| c.starts_with("application/vnd."))
        })
        .unwrap_or_else(|| guess_media_type(bytes).to_string())
}

/// OCI allows manifests without a mediaType field; tell them apart by shape.
fn guess_media_type(bytes: &[u8]) -> &'static str {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) if v.get("manifests").is_some() => media_type::OCI_INDEX,
        _ => media_type::OCI_MANIFEST,
    }
}

fn parse_manifest(bytes: &[u8], media_type: &str, what: &str) -> Result<Manifest> {
    let (_, schema_version) = declared_media_type(bytes).ok_or_else(|| {
        Error::manifest(
            what,
            format!("manifest is not a JSON object ({media_type})"),
        )
    })?;
    if matches!(
        media_type,
        media_type::DOCKER_SCHEMA1 | media_type::DOCKER_SCHEMA1_SIGNED
    ) || schema_version == Some(1)
    {
        return Err(Error::manifest(
            what,
            format!(
                "Docker schema1 manifests ({media_type}) are deprecated and not supported; \
                 push the image again with a current client to get a schema2 or OCI manifest"
            ),
        ));
    }
    let bad = |e: serde_json::Error| Error::manifest(what, format!("malformed manifest: {e}"));
    match media_type {
        media_type::DOCKER_MANIFEST_LIST | media_type::OCI_INDEX => {
            Ok(Manifest::Index(serde_json::from_slice(bytes).map_err(bad)?))
        }
        media_type::DOCKER_MANIFEST | media_type::OCI_MANIFEST => {
            Ok(Manifest::Image(serde_json::from_slice(bytes).map_err(bad)?))
        }
        other => Err(Error::manifest(
            what,
            format!("unsupported manifest media type {other}"),
        )),
    }
}

/// True for index entries that are not runnable images: BuildKit attestations and the
/// `unknown/unknown` platform they carry.
pub fn is_non_image_entry(d: &Descriptor) -> bool {
    d.annotations.contains_key("vnd.docker.reference.type")
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" || p.architecture == "unknown")
}

/// How a layer's bytes are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Reads compression from a layer media type; `None` for media types drag doesn't know.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        let mt = mt.trim();
        if mt.ends_with("+zstd") || mt.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with("+gzip") || mt.ends_with(".gzip") {
            Some(Compression::Gzip)
        } else if mt.ends_with(".tar") || mt.ends_with("diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// Reads compression from a blob's first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// True for layers that registries may not serve: Windows base layers and OCI's
/// non-distributable layers, which live at the descriptor's `urls`.
pub fn is_foreign_layer(d: &Descriptor) -> bool {
    d.media_type.contains(".foreign.") || d.media_type.contains("nondistributable")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn schema1_is_refused_with_its_media_type() {
        let raw = RawManifest {
            bytes: br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.to_vec(),
            digest: Digest::sha256_of(b"x"),
            media_type: media_type::DOCKER_SCHEMA1_SIGNED.into(),
        };
        let err = raw.parse("x:y").unwrap_err().to_string();
        assert!(err.contains("schema1"), "{err}");
        assert!(err.contains(media_type::DOCKER_SCHEMA1_SIGNED), "{err}");
    }

    #[test]
    fn declared_media_type_beats_content_type() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
            media_type::OCI_INDEX
        );
        assert_eq!(
            effective_media_type(body.as_bytes(), Some("application/json")),
            media_type::OCI_INDEX
        );
        let bare = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{EMPTY}","size":0}},"layers":[]}}"#
        );
        assert_eq!(
            effective_media_type(bare.as_bytes(), Some("text/plain")),
            media_type::OCI_MANIFEST
        );
    }

    #[test]
    fn hostile_digest_in_a_manifest_is_an_error() {
        let body = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"x","digest":"sha256:../../../etc/passwd","size":1},"layers":[]}"#;
        let raw = RawManifest {
            bytes: body.as_bytes().to_vec(),
            digest: Digest::sha256_of(body.as_bytes()),
            media_type: media_type::OCI_MANIFEST.into(),
        };
        assert!(raw.parse("x").is_err());
    }

    #[test]
    fn compression_from_media_types() {
        use Compression::*;
        assert_eq!(
            Compression::from_media_type(media_type::DOCKER_LAYER_GZIP),
            Some(Gzip)
        );
        assert_eq!(
            Compression::from_media_type(media_type::DOCKER_FOREIGN_LAYER_GZIP),
            Some(Gzip)
        );
        assert_eq!(
            Compression::from_media_type(media_type::OCI_LAYER),
            Some(None)
        );
        assert_eq!(
            Compression::from_media_type(media_type::OCI_LAYER_ZSTD),
            Some(Zstd)
        );
        assert_eq!(
            Compression::from_media_type(
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            ),
            Some(Gzip)
        );
        assert_eq!(
            Compression::from_media_type("application/x-foo"),
            Option::None
        );
    }

    #[test]
    fn attestations_are_not_images() {
        let d: Descriptor = serde_json::from_str(&format!(
            r#"{{"mediaType":"{}","digest":"{EMPTY}","size":1,
            "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},
            "platform":{{"os":"unknown","architecture":"unknown"}}}}"#,
            media_type::OCI_MANIFEST
        ))
        .unwrap();
        assert!(is_non_image_entry(&d));
    }
}
