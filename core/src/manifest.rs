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

mod kind;

pub(crate) use kind::json_type;
pub(crate) use kind::{effective_media_type, Kind};

/// The annotation on a delta bundle's `index.json` naming the blobs it leaves out (digests,
/// comma-separated): its manifests name them, its bases hold them. Readers that do not know
/// it ignore it, as they ignore every annotation.
pub const DELTA_LEFT_OUT_ANNOTATION: &str = "dev.drag.delta.left-out";

/// The annotation on a delta bundle's `index.json` naming the base images that hold what it
/// leaves out (full references, comma-separated): where `drag push` mounts those blobs from
/// at a registry that holds the bases under their own names.
pub const DELTA_BASES_ANNOTATION: &str = "dev.drag.delta.bases";

/// The media types drag reads and writes, Docker's and OCI's.
pub mod media_type {
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list: Docker's index of per-platform manifests.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker schema 1 manifest: recognised only to be refused with a clear message.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// Signed Docker schema 1 manifest: refused like [`DOCKER_SCHEMA1`].
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip-compressed layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker foreign layer (Windows base layers), served from the descriptor's `urls`.
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI uncompressed layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip-compressed layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd-compressed layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// The Accept header for manifest requests: every shape drag can use.
    pub(crate) const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
}

/// The most manifest bytes drag will read. containerd uses the same bound; a registry sending
/// more is broken or hostile.
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// How deep indexes may nest before we call it a loop.
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

/// A content descriptor: what a manifest says about a blob or a child manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is (see [`media_type`]); empty when the manifest left it out.
    #[serde(default)]
    pub media_type: String,
    /// The content's digest, which drag verifies every byte against.
    pub digest: Digest,
    /// The content's size in bytes; drag never reads more.
    pub size: u64,
    /// Where a foreign layer can be fetched from when the registry does not serve it.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    /// Free-form metadata (`org.opencontainers.image.ref.name`, ...).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// In an index: the platform of the image this entry points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// OCI 1.1: what kind of artifact this entry is (SBOM, signature); absent for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// A single-platform image manifest (Docker schema2 or OCI).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// The `mediaType` the document declares, if any.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<Descriptor>,
    /// OCI 1.1: set on artifacts (SBOMs, signatures), absent on images.
    #[serde(default)]
    pub artifact_type: Option<String>,
}

impl ImageManifest {
    /// True when this manifest describes a runnable image rather than an artifact stored in
    /// the image format (its config type says which, as containers/image reads it).
    pub fn is_image(&self) -> bool {
        let config_is_image = is_image_config(&self.config.media_type)
            || (self.media_type.as_deref() == Some(media_type::DOCKER_MANIFEST)
                && self.config.media_type == LEGACY_DOCKER_CONFIG);
        config_is_image && self.artifact_type.as_deref().is_none_or(is_image_config)
    }
}

/// A manifest list or OCI index.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// The `mediaType` the document declares, if any.
    #[serde(default)]
    pub media_type: Option<String>,
    /// One entry per child manifest (usually one image per platform).
    #[serde(default, deserialize_with = "null_as_default")]
    pub manifests: Vec<Descriptor>,
}

/// What a manifest document turned out to be.
// Short-lived and matched at once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Manifest {
    /// One image.
    Image(ImageManifest),
    /// A list of manifests.
    Index(Index),
}

/// A manifest exactly as served, with its verified digest and media type.
#[derive(Clone, Debug)]
pub struct RawManifest {
    /// The document, byte for byte as served.
    pub bytes: Vec<u8>,
    /// The digest of `bytes`, checked against the one asked for when there was one.
    pub digest: Digest,
    /// The media type recorded for it: its own `mediaType`, else what its shape says.
    pub media_type: String,
}

impl RawManifest {
    /// Parses the bytes, refusing schema1, documents that could be read both as an image and as
    /// an index, and anything that is neither. `what` names the manifest in errors.
    pub fn parse(&self, what: &str) -> Result<Manifest> {
        parse_manifest(&self.bytes, &self.media_type, what)
    }

    /// A descriptor pointing at this manifest, as an index entry would.
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

fn parse_manifest(bytes: &[u8], media_type: &str, what: &str) -> Result<Manifest> {
    let kind = kind::decide(bytes, media_type).map_err(|reason| Error::manifest(what, reason))?;
    let bad = |e: serde_json::Error| Error::manifest(what, format!("malformed manifest: {e}"));
    Ok(match kind {
        Kind::Index => Manifest::Index(serde_json::from_slice(bytes).map_err(bad)?),
        Kind::Image => Manifest::Image(serde_json::from_slice(bytes).map_err(bad)?),
    })
}

/// Go's encoders write a nil slice or map as `null`; read it as empty, as Go does.
fn null_as_default<'de, D, T>(de: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// The config type early Docker schema2 pushes wrote. Docker Hub still serves such manifests
/// (the image-spec's backwards-compatibility test quotes one of `library/docker`), and Docker,
/// containerd and containers/image run them, so in a Docker schema2 manifest it is an image.
const LEGACY_DOCKER_CONFIG: &str = "application/octet-stream";

/// True for the config media types of runnable images; anything else (Helm charts, SBOMs,
/// signatures, OCI's empty descriptor) is an artifact that merely shares the manifest format.
pub(crate) fn is_image_config(mt: &str) -> bool {
    matches!(mt, media_type::DOCKER_CONFIG | media_type::OCI_CONFIG)
}

/// True for index entries that are not runnable images: OCI 1.1 artifacts (an `artifactType`
/// other than an image config: SBOMs, signatures), BuildKit attestations and the
/// `unknown/unknown` platform they carry. Such entries may still carry a real platform, so this
/// is checked before any platform is.
pub(crate) fn is_non_image_entry(d: &Descriptor) -> bool {
    d.artifact_type
        .as_deref()
        .is_some_and(|t| !is_image_config(t))
        || d.annotations.contains_key("vnd.docker.reference.type")
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" || p.architecture == "unknown")
}

/// How a layer's bytes are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
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
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The name used in messages (`gzip`, `zstd`, `uncompressed`).
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

    #[test]
    fn null_lists_read_as_empty() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{EMPTY}","size":0,"urls":null,"annotations":null,"platform":null,"artifactType":null}},"layers":null}}"#,
            media_type::OCI_MANIFEST,
            media_type::OCI_CONFIG
        );
        let raw = RawManifest {
            bytes: body.as_bytes().to_vec(),
            digest: Digest::sha256_of(body.as_bytes()),
            media_type: media_type::OCI_MANIFEST.into(),
        };
        let Manifest::Image(m) = raw.parse("x").unwrap() else {
            panic!("not an image")
        };
        assert!(m.layers.is_empty());
        assert!(m.config.urls.is_empty() && m.config.annotations.is_empty());
        assert!(m.is_image());

        let body = r#"{"schemaVersion":2,"manifests":null}"#;
        let raw = RawManifest {
            bytes: body.as_bytes().to_vec(),
            digest: Digest::sha256_of(body.as_bytes()),
            media_type: media_type::OCI_INDEX.into(),
        };
        let Manifest::Index(i) = raw.parse("x").unwrap() else {
            panic!("not an index")
        };
        assert!(i.manifests.is_empty());
    }

    #[test]
    fn artifacts_are_not_images_whether_the_entry_or_the_config_says_so() {
        let entry = |extra: &str| -> Descriptor {
            serde_json::from_str(&format!(
                r#"{{"mediaType":"{}","digest":"{EMPTY}","size":1,
                "platform":{{"os":"linux","architecture":"amd64"}}{extra}}}"#,
                media_type::OCI_MANIFEST
            ))
            .unwrap()
        };
        assert!(!is_non_image_entry(&entry("")));
        assert!(is_non_image_entry(&entry(
            r#","artifactType":"application/spdx+json""#
        )));
        assert!(is_non_image_entry(&entry(
            r#","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json""#
        )));
        // An artifactType naming an image config is an image.
        assert!(!is_non_image_entry(&entry(&format!(
            r#","artifactType":"{}""#,
            media_type::OCI_CONFIG
        ))));

        let manifest = |config_type: &str, artifact_type: Option<&str>| ImageManifest {
            media_type: None,
            config: Descriptor {
                media_type: config_type.into(),
                ..RawManifest {
                    bytes: vec![],
                    digest: Digest::sha256_of(b""),
                    media_type: String::new(),
                }
                .descriptor()
            },
            layers: vec![],
            artifact_type: artifact_type.map(Into::into),
        };
        assert!(manifest(media_type::OCI_CONFIG, None).is_image());
        assert!(manifest(media_type::DOCKER_CONFIG, None).is_image());
        assert!(!manifest("application/vnd.oci.empty.v1+json", None).is_image());
        assert!(!manifest("application/vnd.cncf.helm.config.v1+json", None).is_image());
        assert!(!manifest(media_type::OCI_CONFIG, Some("application/spdx+json")).is_image());
    }

    /// Mirrors the Docker Hub manifest quoted by image-spec's
    /// `schema/backwards_compatibility_test.go`: Docker schema2 with an octet-stream config.
    #[test]
    fn a_docker_schema2_manifest_with_an_octet_stream_config_is_an_image() {
        let body = |manifest_type: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{manifest_type}",
                "config":{{"mediaType":"application/octet-stream","size":7,"digest":"{EMPTY}"}},
                "layers":[{{"mediaType":"{}","size":9,"digest":"{EMPTY}"}}]}}"#,
                media_type::DOCKER_LAYER_GZIP
            )
        };
        let parse = |manifest_type: &str| {
            let bytes = body(manifest_type).into_bytes();
            let raw = RawManifest {
                digest: Digest::sha256_of(&bytes),
                media_type: effective_media_type(&bytes, None),
                bytes,
            };
            match raw.parse("x").unwrap() {
                Manifest::Image(m) => m,
                Manifest::Index(_) => panic!("not an image"),
            }
        };
        assert!(parse(media_type::DOCKER_MANIFEST).is_image());
        // OCI has no such history: there an octet-stream config is an artifact's.
        assert!(!parse(media_type::OCI_MANIFEST).is_image());
    }
}
