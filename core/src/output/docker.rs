//! The `docker` format: one tar that is both a `docker load` archive and an OCI image layout,
//! as `docker save` writes it since Docker 25.
//!
//! Contents: `oci-layout`, `index.json` (naming each image with the annotations containerd
//! and Docker read), `blobs/sha256/...` (config byte-for-byte as served, layers, manifests),
//! `manifest.json` (`Config`, `RepoTags`, `Layers`, `LayerSources` for foreign layers) and
//! `repositories`. Layers stay as served; with `decompress` they are stored uncompressed and
//! named by diff ID, and a matching OCI manifest is written for the layout view. Blobs shared
//! by several images are stored once.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::media_type;
use crate::output::{OutputSink, PulledImage, StoredLayer};

/// Writes the archive for `images` to `out`.
pub fn write(images: &[PulledImage], decompress: bool, out: &mut dyn OutputSink) -> Result<()> {
    let mut w = ArchiveWriter::new(out);
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    let mut manifest_json = Vec::new();
    let mut index_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        w.file_from_path(&image.config.desc.digest, &image.config.path)?;
        let mut layer_paths = Vec::new();
        let mut layer_sources = serde_json::Map::new();
        for layer in &image.layers {
            let (digest, path) = archived_layer(layer, decompress)?;
            w.file_from_path(digest, path)?;
            layer_paths.push(blob_name(digest));
            if layer.foreign {
                layer_sources.insert(
                    layer.diff_id.to_string(),
                    serde_json::to_value(&layer.desc)
                        .map_err(|e| Error::manifest("layer source", e.to_string()))?,
                );
            }
        }
        let (manifest_bytes, manifest_digest, manifest_type) = if decompress {
            let bytes = uncompressed_manifest(image)?;
            let d = Digest::sha256_of(&bytes);
            (bytes, d, media_type::OCI_MANIFEST.to_string())
        } else {
            (
                image.manifest.bytes.clone(),
                image.manifest.digest.clone(),
                image.manifest.media_type.clone(),
            )
        };
        w.file_from_bytes(&blob_name(&manifest_digest), &manifest_bytes)?;

        let mut entry = serde_json::Map::new();
        entry.insert("Config".into(), json!(blob_name(&image.config.desc.digest)));
        let repo_tags: Vec<String> = image.target.repo_tag().into_iter().collect();
        entry.insert("RepoTags".into(), json!(repo_tags));
        entry.insert("Layers".into(), json!(layer_paths));
        if !layer_sources.is_empty() {
            entry.insert("LayerSources".into(), Value::Object(layer_sources));
        }
        manifest_json.push(Value::Object(entry));

        let mut annotations = serde_json::Map::new();
        if let (Some(full), Some(tag)) = (image.target.full_tagged_name(), &image.target.tag) {
            annotations.insert("io.containerd.image.name".into(), json!(full));
            annotations.insert("org.opencontainers.image.ref.name".into(), json!(tag));
            if let (Some(last), Some(_)) = (layer_paths.last(), image.target.repo_tag()) {
                repositories
                    .entry(image.target.name.familiar.clone())
                    .or_default()
                    .insert(
                        tag.clone(),
                        last.trim_start_matches("blobs/sha256/").to_string(),
                    );
            }
        }
        let mut desc = json!({
            "mediaType": manifest_type,
            "digest": manifest_digest.to_string(),
            "size": manifest_bytes.len(),
        });
        if !annotations.is_empty() {
            desc["annotations"] = Value::Object(annotations);
        }
        if let Some(p) = &image.platform {
            desc["platform"] = serde_json::to_value(p).unwrap_or(Value::Null);
        }
        index_entries.push(desc);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": index_entries,
    });
    w.file_from_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    w.file_from_bytes("index.json", &to_json(&index)?)?;
    w.file_from_bytes("manifest.json", &to_json(&Value::Array(manifest_json))?)?;
    if !repositories.is_empty() {
        w.file_from_bytes("repositories", &to_json(&json!(repositories))?)?;
    }
    w.finish()
}

/// The digest and file under which a layer goes into the archive.
fn archived_layer(layer: &StoredLayer, decompress: bool) -> Result<(&Digest, &Path)> {
    if !decompress {
        // docker load needs every layer file, foreign ones included.
        let path = layer.path.as_deref().ok_or_else(|| {
            Error::manifest(layer.desc.digest.short(), "layer missing from the store")
        })?;
        return Ok((&layer.desc.digest, path));
    }
    let path = layer.diff_path.as_deref().ok_or_else(|| {
        Error::manifest(
            layer.desc.digest.short(),
            "uncompressed layer missing from the store",
        )
    })?;
    Ok((&layer.diff_id, path))
}

/// The OCI manifest for the uncompressed layers, written when layers are decompressed so the
/// OCI view of the archive stays consistent with the blobs it holds.
fn uncompressed_manifest(image: &PulledImage) -> Result<Vec<u8>> {
    let mut layers = Vec::new();
    for l in &image.layers {
        let path = l.diff_path.as_ref().ok_or_else(|| {
            Error::manifest(
                l.desc.digest.short(),
                "uncompressed layer missing from the store",
            )
        })?;
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io_path("reading", path, e))?
            .len();
        let mut d = json!({
            "mediaType": if l.foreign {
                "application/vnd.oci.image.layer.nondistributable.v1.tar"
            } else {
                media_type::OCI_LAYER
            },
            "digest": l.diff_id.to_string(),
            "size": size,
        });
        if l.foreign && !l.desc.urls.is_empty() {
            d["urls"] = json!(l.desc.urls);
        }
        layers.push(d);
    }
    to_json(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": media_type::OCI_CONFIG,
            "digest": image.config.desc.digest.to_string(),
            "size": image.config.desc.size,
        },
        "layers": layers,
    }))
}

fn to_json(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::io("serializing JSON", io::Error::other(e)))
}

pub fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// A tar writer with deterministic headers that stores each name once.
pub(crate) struct ArchiveWriter<W: OutputSink> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

impl<W: OutputSink> ArchiveWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        ArchiveWriter {
            tar,
            written: HashSet::new(),
        }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    pub(crate) fn dir(&mut self, name: &str) -> Result<()> {
        if !self.written.insert(name.to_string()) {
            return Ok(());
        }
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.tar
            .append_data(&mut h, name, io::empty())
            .map_err(|e| Error::io("writing archive", e))
    }

    pub(crate) fn file_from_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        if !self.written.insert(name.to_string()) {
            return Ok(());
        }
        let mut h = Self::header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
        self.tar
            .append_data(&mut h, name, bytes)
            .map_err(|e| Error::io("writing archive", e))
    }

    /// Adds a stored blob under `blobs/<alg>/<hex>`, copied file to file where possible.
    pub(crate) fn file_from_path(&mut self, digest: &Digest, path: &Path) -> Result<()> {
        let name = blob_name(digest);
        if self.written.contains(&name) {
            return Ok(());
        }
        let mut f = File::open(path).map_err(|e| Error::io_path("reading", path, e))?;
        let len = f
            .metadata()
            .map_err(|e| Error::io_path("reading", path, e))?
            .len();
        let mut h = Self::header(tar::EntryType::Regular, len, 0o644);
        h.set_path(&name)
            .map_err(|e| Error::io("writing archive", e))?;
        h.set_cksum();
        let out = self.tar.get_mut();
        let padding = (512 - len % 512) % 512;
        out.write_all(h.as_bytes())
            .and_then(|_| out.append_file(&mut f, len))
            .and_then(|_| out.write_all(&[0u8; 512][..padding as usize]))
            .map_err(|e| Error::io("writing archive", e))?;
        self.written.insert(name);
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<()> {
        let mut out = self
            .tar
            .into_inner()
            .map_err(|e| Error::io("writing archive", e))?;
        out.flush().map_err(|e| Error::io("writing archive", e))
    }
}
