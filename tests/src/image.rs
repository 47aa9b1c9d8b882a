//! Test images built in memory, byte for byte reproducible.
//!
//! Integration tests need images whose every byte they control: configs with
//! Go-style `\u003c` escapes or Windows' `"rootfS"` key, foreign layers,
//! attestation manifests, nested indexes. Building them here (instead of
//! shipping binary fixtures) keeps each test's image next to its assertions.
//!
//! The pieces: [`LayerBuilder`] makes layer tars ([`RawTar`] hostile ones,
//! field by field), [`ImageBuilder`] makes a config plus manifest over layers,
//! [`IndexBuilder`] makes a manifest list / OCI index over manifests.

mod blob;
mod index;
mod layer;
pub mod media_types;
mod raw_tar;

use std::collections::BTreeMap;

use crate::digest::sha512_digest;

pub use blob::Blob;
pub use index::IndexBuilder;
pub use layer::{Compression, Layer, LayerBuilder, DEFAULT_MTIME};
pub use raw_tar::{pax_record, RawHeader, RawTar};

/// The fixed `created` time of configs and history entries unless set.
pub const DEFAULT_CREATED: &str = "2023-11-14T22:13:20Z";

/// Which manifest vocabulary an image or index uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    /// Docker schema 2 (`application/vnd.docker.distribution.manifest.v2+json`).
    Docker,
    /// OCI image spec (`application/vnd.oci.image.manifest.v1+json`).
    Oci,
}

impl ManifestFormat {
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Docker => media_types::DOCKER_MANIFEST,
            ManifestFormat::Oci => media_types::OCI_MANIFEST,
        }
    }

    pub fn index_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Docker => media_types::DOCKER_MANIFEST_LIST,
            ManifestFormat::Oci => media_types::OCI_INDEX,
        }
    }

    pub fn config_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Docker => media_types::DOCKER_CONFIG,
            ManifestFormat::Oci => media_types::OCI_CONFIG,
        }
    }

    /// The descriptor media type of an ordinary layer.
    pub fn layer_media_type(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (ManifestFormat::Docker, Compression::None) => media_types::DOCKER_LAYER,
            (ManifestFormat::Docker, Compression::Gzip) => media_types::DOCKER_LAYER_GZIP,
            // Docker has no zstd media type of its own; Docker itself uses OCI's.
            (ManifestFormat::Docker, Compression::Zstd) => media_types::OCI_LAYER_ZSTD,
            (ManifestFormat::Oci, compression) => compression.oci_media_type(),
        }
    }

    /// The descriptor media type of a foreign (non-distributable) layer.
    pub fn foreign_layer_media_type(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (ManifestFormat::Docker, _) => media_types::DOCKER_FOREIGN_LAYER_GZIP,
            (ManifestFormat::Oci, Compression::None) => media_types::OCI_NONDISTRIBUTABLE_LAYER,
            (ManifestFormat::Oci, Compression::Gzip) => {
                media_types::OCI_NONDISTRIBUTABLE_LAYER_GZIP
            }
            (ManifestFormat::Oci, Compression::Zstd) => {
                media_types::OCI_NONDISTRIBUTABLE_LAYER_ZSTD
            }
        }
    }
}

/// A foreign layer of an [`Image`]: registries don't hold its blob, clients
/// fetch it from `urls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignLayer {
    /// Position in [`Image::layers`].
    pub index: usize,
    pub urls: Vec<String>,
}

/// A built single-platform image: everything a registry would hold for it.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    /// All layers in manifest order, foreign ones included; each blob's
    /// media type is the one its manifest descriptor carries.
    pub layers: Vec<Layer>,
    /// Which of `layers` are foreign, and their URLs.
    pub foreign: Vec<ForeignLayer>,
    /// `{"architecture","os"[,"variant"][,"os.version"]}` as an index entry needs it.
    pub platform: serde_json::Value,
}

impl Image {
    /// The manifest digest: what `name@sha256:...` pulls.
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    pub fn is_foreign(&self, layer_index: usize) -> bool {
        self.foreign.iter().any(|f| f.index == layer_index)
    }

    /// Layers a registry stores (all but the foreign ones).
    pub fn distributable_layers(&self) -> impl Iterator<Item = &Layer> {
        self.layers
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_foreign(*i))
            .map(|(_, layer)| layer)
    }

    /// The `rootfs.diff_ids` the generated config lists.
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }
}

/// Builds an [`Image`]. Defaults: linux/amd64, Docker format, no layers,
/// `created` = [`DEFAULT_CREATED`].
///
/// The config is written as JSON text in a fixed key order (not through a
/// map), so its digest is stable; [`ImageBuilder::config_raw`] replaces it
/// with exact bytes when a test needs them.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    format: ManifestFormat,
    os: String,
    architecture: String,
    variant: Option<String>,
    os_version: Option<String>,
    layers: Vec<(Layer, Option<Vec<String>>)>,
    env: Vec<String>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    labels: BTreeMap<String, String>,
    created: String,
    rootfs_key: String,
    extra_config_fields: Vec<(String, String)>,
    config_raw: Option<String>,
    config_media_type: Option<String>,
    annotations: BTreeMap<String, String>,
    sha512: bool,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder::new()
    }
}

impl ImageBuilder {
    pub fn new() -> ImageBuilder {
        ImageBuilder {
            format: ManifestFormat::Docker,
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            os_version: None,
            layers: Vec::new(),
            env: Vec::new(),
            cmd: None,
            entrypoint: None,
            working_dir: None,
            user: None,
            labels: BTreeMap::new(),
            created: DEFAULT_CREATED.into(),
            rootfs_key: "rootfs".into(),
            extra_config_fields: Vec::new(),
            config_raw: None,
            config_media_type: None,
            annotations: BTreeMap::new(),
            sha512: false,
        }
    }

    pub fn format(mut self, format: ManifestFormat) -> Self {
        self.format = format;
        self
    }

    pub fn os(mut self, os: &str) -> Self {
        self.os = os.into();
        self
    }

    pub fn arch(mut self, architecture: &str) -> Self {
        self.architecture = architecture.into();
        self
    }

    pub fn variant(mut self, variant: &str) -> Self {
        self.variant = Some(variant.into());
        self
    }

    /// Windows images carry e.g. `10.0.17763.5329`.
    pub fn os_version(mut self, os_version: &str) -> Self {
        self.os_version = Some(os_version.into());
        self
    }

    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push((layer, None));
        self
    }

    /// A foreign layer: listed with `urls` and the foreign/non-distributable
    /// media type; [`crate::FakeRegistry::push_image`] and
    /// [`crate::RealRegistry::push_image`] don't upload its blob.
    pub fn foreign_layer(mut self, layer: Layer, urls: Vec<String>) -> Self {
        self.layers.push((layer, Some(urls)));
        self
    }

    /// Adds `KEY=value` to `config.Env`.
    pub fn env(mut self, key_value: &str) -> Self {
        self.env.push(key_value.into());
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn entrypoint(mut self, entrypoint: &[&str]) -> Self {
        self.entrypoint = Some(entrypoint.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn working_dir(mut self, dir: &str) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The config's `created` (RFC 3339).
    pub fn created(mut self, created: &str) -> Self {
        self.created = created.into();
        self
    }

    /// The key the config uses for its root filesystem; Windows images in
    /// the wild have `"rootfS"`.
    pub fn rootfs_key(mut self, key: &str) -> Self {
        self.rootfs_key = key.into();
        self
    }

    /// Adds a top-level config field with `raw_json` as its value, verbatim.
    pub fn config_field(mut self, key: &str, raw_json: &str) -> Self {
        self.extra_config_fields.push((key.into(), raw_json.into()));
        self
    }

    /// Uses exactly `text` as the config blob; every other config option
    /// is then ignored (the layers' diff_ids are the test's business).
    pub fn config_raw(mut self, text: impl Into<String>) -> Self {
        self.config_raw = Some(text.into());
        self
    }

    /// Overrides the config descriptor's media type (default: per format).
    pub fn config_media_type(mut self, media_type: &str) -> Self {
        self.config_media_type = Some(media_type.into());
        self
    }

    /// An annotation on the manifest (written for both formats; OCI defines them).
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Addresses the layers, diff IDs, config and manifest by SHA-512 instead of SHA-256
    /// (OCI allows it; blob names are then 141 characters long).
    pub fn sha512(mut self) -> Self {
        self.sha512 = true;
        self
    }

    pub fn build(self) -> Image {
        let mut layers = Vec::new();
        let mut foreign = Vec::new();
        for (index, (mut layer, urls)) in self.layers.iter().cloned().enumerate() {
            if let Some(compression) = layer.compression {
                layer.blob.media_type = match urls {
                    Some(_) => self.format.foreign_layer_media_type(compression),
                    None => self.format.layer_media_type(compression),
                }
                .to_string();
            }
            if let Some(urls) = urls {
                foreign.push(ForeignLayer { index, urls });
            }
            if self.sha512 {
                layer.blob.digest = sha512_digest(&layer.blob.bytes);
                layer.diff_id = sha512_digest(&layer.uncompressed);
            }
            layers.push(layer);
        }

        let config_text = match &self.config_raw {
            Some(text) => text.clone(),
            None => self.config_text(&layers),
        };
        let config_media_type = self
            .config_media_type
            .clone()
            .unwrap_or_else(|| self.format.config_media_type().to_string());
        let mut config = Blob::new(config_text, config_media_type);
        if self.sha512 {
            config.digest = sha512_digest(&config.bytes);
        }

        let layer_descriptors: Vec<String> = layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let mut fields = descriptor_fields(&layer.blob);
                if let Some(f) = foreign.iter().find(|f| f.index == i) {
                    fields.push(("urls", string_array(&f.urls)));
                }
                object(&fields)
            })
            .collect();
        let mut manifest_fields = vec![
            ("schemaVersion", "2".to_string()),
            ("mediaType", string(self.format.manifest_media_type())),
            ("config", object(&descriptor_fields(&config))),
            ("layers", format!("[{}]", layer_descriptors.join(","))),
        ];
        if !self.annotations.is_empty() {
            manifest_fields.push(("annotations", string_map(&self.annotations)));
        }
        let mut manifest = Blob::new(object(&manifest_fields), self.format.manifest_media_type());
        if self.sha512 {
            manifest.digest = sha512_digest(&manifest.bytes);
        }

        Image {
            manifest,
            config,
            layers,
            foreign,
            platform: self.platform(),
        }
    }

    fn platform(&self) -> serde_json::Value {
        let mut platform = serde_json::json!({
            "architecture": self.architecture,
            "os": self.os,
        });
        if let Some(variant) = &self.variant {
            platform["variant"] = variant.as_str().into();
        }
        if let Some(os_version) = &self.os_version {
            platform["os.version"] = os_version.as_str().into();
        }
        platform
    }

    fn config_text(&self, layers: &[Layer]) -> String {
        let mut container = Vec::new();
        if !self.env.is_empty() {
            container.push(("Env", string_array(&self.env)));
        }
        if let Some(cmd) = &self.cmd {
            container.push(("Cmd", string_array(cmd)));
        }
        if let Some(entrypoint) = &self.entrypoint {
            container.push(("Entrypoint", string_array(entrypoint)));
        }
        if let Some(dir) = &self.working_dir {
            container.push(("WorkingDir", string(dir)));
        }
        if let Some(user) = &self.user {
            container.push(("User", string(user)));
        }
        if !self.labels.is_empty() {
            container.push(("Labels", string_map(&self.labels)));
        }

        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let history: Vec<String> = (0..layers.len())
            .map(|i| {
                object(&[
                    ("created", string(&self.created)),
                    ("created_by", string(&format!("drag-tests layer {i}"))),
                ])
            })
            .collect();

        let mut fields = vec![("architecture", string(&self.architecture))];
        fields.push(("config", object(&container)));
        fields.push(("created", string(&self.created)));
        fields.push(("history", format!("[{}]", history.join(","))));
        fields.push(("os", string(&self.os)));
        if let Some(os_version) = &self.os_version {
            fields.push(("os.version", string(os_version)));
        }
        if let Some(variant) = &self.variant {
            fields.push(("variant", string(variant)));
        }
        let rootfs = object(&[
            ("type", string("layers")),
            ("diff_ids", string_array(&diff_ids)),
        ]);
        fields.push((self.rootfs_key.as_str(), rootfs));
        for (key, raw) in &self.extra_config_fields {
            fields.push((key.as_str(), raw.clone()));
        }
        object(&fields)
    }
}

/// A BuildKit-style attestation manifest for `subject`: OCI format, platform
/// unknown/unknown, one in-toto layer. Add it to an index with
/// [`IndexBuilder::attestation`].
pub fn attestation_for(subject: &Image) -> Image {
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{{"name":"drag-tests","digest":{{"sha256":{}}}}}],"predicate":{{}}}}"#,
        string(subject.digest().trim_start_matches("sha256:"))
    );
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .os("unknown")
        .arch("unknown")
        .layer(Layer::raw(statement, media_types::IN_TOTO))
        .build()
}

fn descriptor_fields(blob: &Blob) -> Vec<(&'static str, String)> {
    vec![
        ("mediaType", string(&blob.media_type)),
        ("size", blob.size().to_string()),
        ("digest", string(&blob.digest)),
    ]
}

/// A JSON object from already-serialized values, in the order given.
fn object(fields: &[(&str, String)]) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{}", string(key), value))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn string(value: &str) -> String {
    serde_json::to_string(value).expect("strings serialize")
}

fn string_array(values: &[String]) -> String {
    serde_json::to_string(values).expect("strings serialize")
}

fn string_map(map: &BTreeMap<String, String>) -> String {
    let fields: Vec<(&str, String)> = map.iter().map(|(k, v)| (k.as_str(), string(v))).collect();
    object(&fields)
}
