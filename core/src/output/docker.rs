//! The `docker` format: one tar that is both a `docker load` archive and an OCI image layout,
//! as `docker save` writes it since Docker 25.
//!
//! Contents: `oci-layout`, `index.json` (naming each image with the annotations containerd
//! and Docker read), `blobs/<alg>/...` (config byte-for-byte as served, layers, manifests),
//! `manifest.json` (`Config`, `RepoTags`, `Layers`, `LayerSources` for foreign layers) and
//! `repositories`. Blobs shared by several images are stored once.
//!
//! How layers are stored is a [`LayerForm`]. By default they stay as served, except zstd
//! layers: Docker 20.10 (Debian 12's and Ubuntu 22.04's `docker.io`) cannot load those, so
//! they are stored uncompressed and named by diff ID, as `--decompress` stores every layer.
//! Uncompressing rather than recompressing to gzip: inflating a zstd layer took a seventh of
//! the time gzip level 1 took to recompress it (level 6: a thirtieth), it keeps the blob's
//! digest equal to the diff ID the config already names, and its size is known in advance, so
//! it is inflated straight into place; a gzip copy would be a blob no registry has, its digest
//! and size known only after compressing it to a scratch file. The price is a larger archive
//! (about three times the zstd layers), which `docker load` uncompresses anyway. When
//! a layer is stored uncompressed, the archive's OCI view gets a manifest naming the blobs it
//! holds, and the config stays byte-identical, so the image ID does not change.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};
use crate::manifest::{media_type, Compression, DELTA_BASES_ANNOTATION, DELTA_LEFT_OUT_ANNOTATION};
use crate::output::meter::WriteMeter;
use crate::output::tarplan::{self, PlanError, Source, TarPlan};
use crate::output::{AtomicFile, OutputSink, PulledImage, StoredLayer};

/// Where the archive goes.
pub enum ArchiveOut<'a> {
    /// A file: planned, filled in parallel, layers inflated straight into place.
    File {
        file: &'a mut AtomicFile,
        jobs: usize,
    },
    /// A stream (stdout): written in order; every layer stored uncompressed must already have
    /// its uncompressed file (a predicted size cannot be corrected once streamed).
    Stream(&'a mut dyn OutputSink),
}

/// How an archive stores layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerForm {
    /// Every layer uncompressed, named by diff ID (`--decompress`), as `docker save` does.
    Uncompressed,
    /// As served, except zstd layers, stored uncompressed: what Docker 20.10 loads (default).
    ZstdUncompressed,
    /// Every layer as served (`--keep-zstd`), for engines that read zstd layers.
    AsServed,
}

impl LayerForm {
    /// Whether a layer whose bytes are `compression` is stored uncompressed.
    pub fn uncompresses(self, compression: Compression) -> bool {
        match self {
            LayerForm::Uncompressed => true,
            LayerForm::ZstdUncompressed => compression == Compression::Zstd,
            LayerForm::AsServed => false,
        }
    }
}

/// Writes the archive for `images`. `meter` learns the archive's size; a file's bytes are
/// counted into it here, a stream's by whoever wraps the stream.
pub(crate) fn write(
    images: &[PulledImage],
    form: LayerForm,
    out: ArchiveOut<'_>,
    meter: &WriteMeter,
) -> Result<()> {
    match out {
        ArchiveOut::Stream(sink) => {
            let plan = plan(images, form, &mut Uncompressed::default(), None)?;
            meter.set_total(plan.archive_size()?);
            plan.write_stream(sink).map_err(plan_error)
        }
        ArchiveOut::File { file, jobs } => {
            // Layers whose size cannot be predicted are inflated to a scratch file first.
            let scratch_dir = file
                .temp_path()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let mut uncompressed = Uncompressed::default();
            loop {
                let plan = plan(images, form, &mut uncompressed, Some(&scratch_dir))?;
                match plan.write_file(file, jobs, meter) {
                    Ok(()) => return Ok(()),
                    Err(PlanError::SizeMiss(diff_id)) => {
                        let layer = images
                            .iter()
                            .flat_map(|i| &i.layers)
                            .find(|l| l.diff_id == diff_id)
                            .ok_or_else(|| Error::manifest(diff_id.short(), "unknown layer"))?;
                        uncompressed.inflate_first(layer, &scratch_dir)?;
                    }
                    Err(PlanError::Failed(e)) => return Err(e),
                }
            }
        }
    }
}

fn plan_error(e: PlanError) -> Error {
    match e {
        PlanError::Failed(e) => e,
        PlanError::SizeMiss(d) => {
            Error::manifest(d.short(), "uncompressed layer of unexpected size")
        }
    }
}

/// Uncompressed layers inflated to scratch files because their size was not predictable.
#[derive(Default)]
struct Uncompressed {
    files: std::collections::HashMap<Digest, tempfile::NamedTempFile>,
}

impl Uncompressed {
    fn inflate_first(&mut self, layer: &StoredLayer, dir: &Path) -> Result<()> {
        let src = layer_path(layer)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".drag-layer-")
            .tempfile_in(dir)
            .map_err(|e| Error::io_path("creating a temporary file in", dir, e))?;
        let compression = layer_compression(src);
        let mut out = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        tarplan::inflate(src, compression, &layer.diff_id, &mut out)?;
        io::Write::flush(&mut out).map_err(|e| Error::io("writing a scratch layer", e))?;
        drop(out);
        self.files.insert(layer.diff_id.clone(), tmp);
        Ok(())
    }
}

/// What the bytes of a stored layer are, by their magic (the media type was checked when it
/// was fetched).
fn layer_compression(path: &Path) -> Compression {
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    Compression::sniff(&head[..n])
}

fn layer_path(layer: &StoredLayer) -> Result<&Path> {
    // docker load needs every layer file, foreign ones included.
    layer
        .path
        .as_deref()
        .ok_or_else(|| Error::manifest(layer.desc.digest.short(), "layer missing from the store"))
}

/// Plans the whole archive.
fn plan(
    images: &[PulledImage],
    form: LayerForm,
    uncompressed: &mut Uncompressed,
    scratch: Option<&Path>,
) -> Result<TarPlan> {
    let mut w = TarPlan::default();
    w.add("blobs/".into(), 0, Source::Directory);
    w.add(blob_dir(Algorithm::Sha256), 0, Source::Directory);
    let mut manifest_json = Vec::new();
    let mut index_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut left_out: Vec<Digest> = Vec::new();
    for image in images {
        add_file(&mut w, &image.config.desc.digest, &image.config.path)?;
        let mut layer_paths = Vec::new();
        let mut layer_sources = serde_json::Map::new();
        // The size of each layer stored uncompressed; None for one stored as served.
        let mut uncompressed_sizes = Vec::new();
        for layer in &image.layers {
            let name = if let Some(held) = &layer.held_by_base {
                let as_served = held.digest == layer.desc.digest;
                uncompressed_sizes.push((!as_served).then_some(held.size));
                if !left_out.contains(&held.digest) {
                    left_out.push(held.digest.clone());
                }
                left_out_name(&held.digest)
            } else if form.uncompresses(layer_compression(layer_path(layer)?)) {
                let size = add_uncompressed(&mut w, layer, uncompressed, scratch)?;
                uncompressed_sizes.push(Some(size));
                blob_name(&layer.diff_id)
            } else {
                add_file(&mut w, &layer.desc.digest, layer_path(layer)?)?;
                uncompressed_sizes.push(None);
                blob_name(&layer.desc.digest)
            };
            layer_paths.push(name);
            if layer.foreign {
                layer_sources.insert(
                    layer.diff_id.to_string(),
                    serde_json::to_value(&layer.desc)
                        .map_err(|e| Error::manifest("layer source", e.to_string()))?,
                );
            }
        }
        let rewritten = uncompressed_sizes.iter().any(Option::is_some);
        let (manifest_bytes, manifest_digest, manifest_type) = if rewritten {
            let bytes = stored_manifest(image, &uncompressed_sizes)?;
            let d = Digest::sha256_of(&bytes);
            (bytes, d, media_type::OCI_MANIFEST.to_string())
        } else {
            (
                image.manifest.bytes.clone(),
                image.manifest.digest.clone(),
                image.manifest.media_type.clone(),
            )
        };
        add_blob(
            &mut w,
            &manifest_digest,
            manifest_bytes.len() as u64,
            Source::Bytes(manifest_bytes.clone()),
        );

        let mut entry = serde_json::Map::new();
        entry.insert("Config".into(), json!(blob_name(&image.config.desc.digest)));
        // Full names, never Docker's familiar ones: podman reads a familiar `alpine:3.9` as
        // `localhost/alpine:3.9` (it loads a multi-image archive through this file), while
        // Docker and containerd read `docker.io/library/alpine:3.9` as `alpine:3.9`.
        let repo_tags: Vec<String> = image.target.full_tagged_name().into_iter().collect();
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
            if let Some(last) = layer_paths.last() {
                repositories
                    .entry(image.target.full_repository())
                    .or_default()
                    .insert(
                        tag.clone(),
                        last.rsplit('/').next().unwrap_or(last).to_string(),
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
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": index_entries,
    });
    if !left_out.is_empty() {
        let held = images
            .iter()
            .flat_map(|i| &i.layers)
            .filter_map(|l| l.held_by_base.as_ref());
        index["annotations"] = json!({
            DELTA_LEFT_OUT_ANNOTATION: join_digests(&left_out),
            DELTA_BASES_ANNOTATION: crate::delta::base_names(held).join(","),
        });
    }
    add_bytes(
        &mut w,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    add_bytes(&mut w, "index.json", to_json(&index)?);
    add_bytes(
        &mut w,
        "manifest.json",
        to_json(&Value::Array(manifest_json))?,
    );
    if !repositories.is_empty() {
        add_bytes(&mut w, "repositories", to_json(&json!(repositories))?);
    }
    Ok(w)
}

fn add_bytes(w: &mut TarPlan, name: &str, bytes: Vec<u8>) {
    w.add(name.to_string(), bytes.len() as u64, Source::Bytes(bytes));
}

/// Plans a stored blob under `blobs/<alg>/<hex>`.
fn add_file(w: &mut TarPlan, digest: &Digest, path: &Path) -> Result<()> {
    let name = blob_name(digest);
    if w.contains(&name) {
        return Ok(());
    }
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io_path("reading", path, e))?
        .len();
    add_blob(w, digest, len, Source::File(path.to_path_buf()));
    Ok(())
}

/// Plans a blob under `blobs/<alg>/<hex>`, after its directory.
fn add_blob(w: &mut TarPlan, digest: &Digest, len: u64, source: Source) {
    w.add(blob_dir(digest.algorithm()), 0, Source::Directory);
    w.add(blob_name(digest), len, source);
}

fn blob_dir(alg: Algorithm) -> String {
    format!("blobs/{}/", alg.as_str())
}

/// Plans a layer stored uncompressed under its diff ID: from its uncompressed file when there
/// is one, else inflated straight into the archive when its size is announced, else inflated
/// to a scratch file first. Returns its size.
fn add_uncompressed(
    w: &mut TarPlan,
    layer: &StoredLayer,
    uncompressed: &mut Uncompressed,
    scratch: Option<&Path>,
) -> Result<u64> {
    let src = layer_path(layer)?;
    let compression = layer_compression(src);
    let predicted = || tarplan::predicted_size(src, compression);
    if layer.diff_path.is_none() && !uncompressed.files.contains_key(&layer.diff_id) {
        match (predicted(), scratch) {
            (Some(size), Some(_)) => {
                add_blob(
                    w,
                    &layer.diff_id,
                    size,
                    Source::Inflate {
                        path: src.to_path_buf(),
                        compression,
                        diff_id: layer.diff_id.clone(),
                    },
                );
                return Ok(size);
            }
            (None, Some(dir)) => uncompressed.inflate_first(layer, dir)?,
            (_, None) => {
                return Err(Error::manifest(
                    layer.desc.digest.short(),
                    "uncompressed layer missing from the store",
                ))
            }
        }
    }
    let path = layer
        .diff_path
        .clone()
        .or_else(|| {
            uncompressed
                .files
                .get(&layer.diff_id)
                .map(|t| t.path().to_path_buf())
        })
        .expect("an uncompressed file exists by now");
    let len = std::fs::metadata(&path)
        .map_err(|e| Error::io_path("reading", &path, e))?
        .len();
    add_file(w, &layer.diff_id, &path)?;
    Ok(len)
}

/// The OCI manifest for the layers as stored, written when any is stored uncompressed so the
/// OCI view of the archive names the blobs it holds. `sizes` has the uncompressed size of each
/// layer stored uncompressed; the others keep their descriptors as served.
fn stored_manifest(image: &PulledImage, sizes: &[Option<u64>]) -> Result<Vec<u8>> {
    let mut layers = Vec::new();
    for (l, size) in image.layers.iter().zip(sizes) {
        let Some(size) = size else {
            layers.push(
                serde_json::to_value(&l.desc)
                    .map_err(|e| Error::manifest("layer descriptor", e.to_string()))?,
            );
            continue;
        };
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

/// The value of a delta's annotation: the digests, comma-separated.
pub(crate) fn join_digests(digests: &[Digest]) -> String {
    digests
        .iter()
        .map(Digest::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Where `manifest.json` says a layer left out of a delta is. No file is there: Docker 20.10
/// skips reading a layer it already has (its base was loaded first), and otherwise fails
/// with "open .../<this path>: no such file or directory", the best message it can give, so
/// the path says what is wrong and names the digest.
pub(crate) fn left_out_name(d: &Digest) -> String {
    format!("{LEFT_OUT_DIR}/{}/{}", d.algorithm().as_str(), d.hex())
}

/// See [`left_out_name`].
const LEFT_OUT_DIR: &str = "left-out-of-this-delta-bundle-load-its-base-first";

pub fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}
