//! The form an image is pushed in. A registry serves compressed layers, so layers stored
//! uncompressed (classic `docker save`, `drag pull --decompress`, skopeo's `docker-archive:`)
//! are gzip-compressed to scratch files, streaming and several at once, with their digest and
//! size computed as they are written, and the image gets a new Docker schema 2 manifest whose
//! config is unchanged (so the image ID stays). An image whose layers are all compressed keeps
//! its stored manifest byte for byte, so its digest is the one it was pulled with.
//!
//! gzip level 1: recompressing is the slow part of pushing such an archive, and level 1 gives
//! most of the size gain of the default level for a fraction of the time.

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use tempfile::NamedTempFile;

use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::manifest::{is_foreign_layer, media_type, Compression, Descriptor, RawManifest};

use super::verify::BlobReader;
use super::{read_error, ImageSource, SourceImage};

/// OCI's gzip-compressed non-distributable layer.
const OCI_FOREIGN_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

/// An image (or index) as it is to be pushed.
#[derive(Debug)]
pub struct PushForm {
    /// The manifest to push: the stored one, or a new one when layers were compressed here.
    pub manifest: RawManifest,
    /// The blobs the manifest names (config first, then layers; none for an index), once each.
    pub blobs: Vec<PushBlob>,
    /// For an index, the push forms of its children, which go before it.
    pub children: Vec<PushForm>,
}

impl PushForm {
    /// True when the manifest is not the one stored (layers were compressed here).
    pub fn rewritten(&self, stored: &SourceImage) -> bool {
        self.manifest.digest != stored.manifest.digest
    }
}

/// One blob to push.
#[derive(Clone, Debug)]
pub struct PushBlob {
    /// Its descriptor as the manifest names it.
    pub desc: Descriptor,
    /// The compressed scratch file, for a layer compressed here; None when it is read from
    /// the source.
    compressed: Option<Arc<NamedTempFile>>,
}

impl PushBlob {
    /// True when the blob is read from the source as stored (not a layer compressed here).
    pub fn is_stored(&self) -> bool {
        self.compressed.is_none()
    }
}

impl ImageSource {
    /// The push form of `image`: layers stored uncompressed are gzip-compressed into scratch
    /// files under `scratch` (removed when the form is dropped), `jobs` at a time.
    pub fn push_form(&self, image: &SourceImage, scratch: &Path, jobs: usize) -> Result<PushForm> {
        if image.config.is_none() {
            return self.index_push_form(image, scratch, jobs);
        }
        let to_compress: Vec<&Descriptor> = {
            let mut seen = std::collections::HashSet::new();
            image
                .layers
                .iter()
                .filter(|l| Compression::from_media_type(&l.media_type) == Some(Compression::None))
                .filter(|l| seen.insert(l.digest.clone()))
                .collect()
        };
        if to_compress.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let blobs = image
                .blobs()
                .filter(|d| seen.insert(d.digest.clone()))
                .map(|d| PushBlob {
                    desc: d.clone(),
                    compressed: None,
                })
                .collect();
            return Ok(PushForm {
                manifest: image.manifest.clone(),
                blobs,
                children: Vec::new(),
            });
        }
        self.check_diff_ids(image, &to_compress)?;
        let done: Mutex<Vec<(Digest, Descriptor, Arc<NamedTempFile>)>> = Mutex::new(Vec::new());
        crate::output::run_parallel(&to_compress, jobs, |layer| {
            let (desc, file) = self.compress(layer, scratch)?;
            done.lock().unwrap_or_else(|p| p.into_inner()).push((
                layer.digest.clone(),
                desc,
                Arc::new(file),
            ));
            Ok::<(), Error>(())
        })?;
        let done = done.into_inner().unwrap_or_else(|p| p.into_inner());
        self.rewritten_form(image, &done)
    }

    /// Refuses to compress a layer that is not the one its config names: pushed, the image
    /// would not match its own config (its diff IDs, and so its image ID).
    fn check_diff_ids(&self, image: &SourceImage, uncompressed: &[&Descriptor]) -> Result<()> {
        let config = image.config.as_ref().expect("an image has a config");
        let bytes = self.read_blob(config, MAX_CONFIG_BYTES)?;
        let diff_ids = ImageConfig::parse(&bytes)?.diff_ids()?;
        if diff_ids.len() != image.layers.len() {
            return Err(Error::manifest(
                image.manifest.digest.short(),
                format!(
                    "the config names {} layers but the manifest {}",
                    diff_ids.len(),
                    image.layers.len()
                ),
            ));
        }
        for (i, (layer, diff_id)) in image.layers.iter().zip(&diff_ids).enumerate() {
            if uncompressed.contains(&layer) && layer.digest != *diff_id {
                return Err(Error::manifest(
                    image.manifest.digest.short(),
                    format!(
                        "uncompressed layer {i} is {} but the config's diff ID is {}",
                        layer.digest.short(),
                        diff_id.short()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Gzips one uncompressed layer into a scratch file: its descriptor and the file.
    fn compress(&self, layer: &Descriptor, scratch: &Path) -> Result<(Descriptor, NamedTempFile)> {
        let mut reader = self.open_blob(layer)?;
        let tmp = tempfile::Builder::new()
            .prefix(".drag-push-")
            .tempfile_in(scratch)
            .map_err(|e| Error::io_path("creating a scratch file in", scratch, e))?;
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(|e| Error::io_path("opening", tmp.path(), e))?;
        let mut out = Counted {
            inner: io::BufWriter::with_capacity(1 << 20, file),
            hasher: crate::digest::Algorithm::Sha256.hasher(),
            size: 0,
        };
        {
            let mut gz = GzEncoder::new(&mut out, flate2::Compression::fast());
            copy(&mut reader, &mut gz, self.path())?;
            gz.finish()
                .map_err(|e| Error::io("writing a compressed layer", e))?;
        }
        out.inner
            .flush()
            .map_err(|e| Error::io("writing a compressed layer", e))?;
        let Counted {
            inner,
            hasher,
            size,
        } = out;
        drop(inner);
        let digest = hasher.finish();
        let foreign = is_foreign_layer(layer);
        let desc = Descriptor {
            media_type: if foreign {
                media_type::DOCKER_FOREIGN_LAYER_GZIP
            } else {
                media_type::DOCKER_LAYER_GZIP
            }
            .into(),
            digest,
            size,
            // URLs name the blob as served, not this one.
            urls: Vec::new(),
            annotations: layer.annotations.clone(),
            platform: None,
            artifact_type: None,
        };
        Ok((desc, tmp))
    }

    /// The new manifest once `done` layers are compressed: Docker schema 2 media types (OCI
    /// ones when a zstd layer stays, which schema 2 cannot name), config bytes unchanged.
    fn rewritten_form(
        &self,
        image: &SourceImage,
        done: &[(Digest, Descriptor, Arc<NamedTempFile>)],
    ) -> Result<PushForm> {
        let config = image.config.as_ref().expect("an image has a config");
        let oci = image
            .layers
            .iter()
            .any(|l| Compression::from_media_type(&l.media_type) == Some(Compression::Zstd));
        let mut blobs = vec![PushBlob {
            desc: Descriptor {
                media_type: if oci {
                    media_type::OCI_CONFIG
                } else {
                    media_type::DOCKER_CONFIG
                }
                .into(),
                ..config.clone()
            },
            compressed: None,
        }];
        let mut layers = Vec::new();
        for layer in &image.layers {
            let blob = match done.iter().find(|(d, _, _)| *d == layer.digest) {
                Some((_, desc, file)) => PushBlob {
                    desc: desc.clone(),
                    compressed: Some(file.clone()),
                },
                None => PushBlob {
                    desc: layer.clone(),
                    compressed: None,
                },
            };
            let mut desc = blob.desc.clone();
            desc.media_type = layer_type(&desc, oci);
            layers.push(desc.clone());
            if !blobs.iter().any(|b| b.desc.digest == desc.digest) {
                blobs.push(PushBlob { desc, ..blob });
            }
        }
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": if oci { media_type::OCI_MANIFEST } else { media_type::DOCKER_MANIFEST },
            "config": blobs[0].desc,
            "layers": layers,
        }))
        .map_err(|e| Error::manifest("manifest", e.to_string()))?;
        Ok(PushForm {
            manifest: RawManifest {
                digest: Digest::sha256_of(&bytes),
                media_type: if oci {
                    media_type::OCI_MANIFEST
                } else {
                    media_type::DOCKER_MANIFEST
                }
                .into(),
                bytes,
            },
            blobs,
            children: Vec::new(),
        })
    }

    /// An index's push form: its children's, and the stored index unless a child's manifest
    /// changed, when the index is rewritten to name the new ones.
    fn index_push_form(
        &self,
        index: &SourceImage,
        scratch: &Path,
        jobs: usize,
    ) -> Result<PushForm> {
        let children = index
            .children
            .iter()
            .map(|c| self.push_form(c, scratch, jobs))
            .collect::<Result<Vec<_>>>()?;
        let changed = children
            .iter()
            .zip(&index.children)
            .any(|(form, stored)| form.rewritten(stored));
        if !changed {
            return Ok(PushForm {
                manifest: index.manifest.clone(),
                blobs: Vec::new(),
                children,
            });
        }
        let what = index.manifest.digest.short();
        let mut doc: Value = serde_json::from_slice(&index.manifest.bytes)
            .map_err(|e| Error::manifest(&what, e.to_string()))?;
        let entries = doc
            .get_mut("manifests")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| Error::manifest(&what, "index without manifests"))?;
        for (entry, (form, stored)) in entries.iter_mut().zip(children.iter().zip(&index.children))
        {
            if form.rewritten(stored) {
                entry["digest"] = json!(form.manifest.digest.to_string());
                entry["size"] = json!(form.manifest.bytes.len());
                entry["mediaType"] = json!(form.manifest.media_type);
            }
        }
        let bytes = serde_json::to_vec(&doc).map_err(|e| Error::manifest(&what, e.to_string()))?;
        Ok(PushForm {
            manifest: RawManifest {
                digest: Digest::sha256_of(&bytes),
                media_type: index.manifest.media_type.clone(),
                bytes,
            },
            blobs: Vec::new(),
            children,
        })
    }

    /// A verified streaming reader of a blob of a push form.
    pub fn open_push_blob(&self, blob: &PushBlob) -> Result<BlobReader> {
        match &blob.compressed {
            None => self.open_blob(&blob.desc),
            Some(file) => {
                let f = file
                    .reopen()
                    .map_err(|e| Error::io_path("opening", file.path(), e))?;
                Ok(BlobReader::new(
                    Box::new(f),
                    &blob.desc.digest,
                    blob.desc.size,
                    format!("compressed layer {}", blob.desc.digest.short()),
                ))
            }
        }
    }
}

/// A layer's media type in the new manifest's family.
fn layer_type(desc: &Descriptor, oci: bool) -> String {
    let foreign = is_foreign_layer(desc);
    match (Compression::from_media_type(&desc.media_type), oci, foreign) {
        (Some(Compression::Gzip), false, false) => media_type::DOCKER_LAYER_GZIP,
        (Some(Compression::Gzip), false, true) => media_type::DOCKER_FOREIGN_LAYER_GZIP,
        (Some(Compression::Gzip), true, false) => media_type::OCI_LAYER_GZIP,
        (Some(Compression::Gzip), true, true) => OCI_FOREIGN_GZIP,
        (Some(Compression::Zstd), _, _) => media_type::OCI_LAYER_ZSTD,
        _ => return desc.media_type.clone(),
    }
    .into()
}

fn copy(reader: &mut BlobReader, out: &mut impl Write, path: &Path) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = io::Read::read(reader, &mut buf).map_err(|e| read_error(path, e))?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("writing a compressed layer", e))?;
    }
}

/// A writer that hashes and counts what passes through.
struct Counted<W: Write> {
    inner: W,
    hasher: Hasher,
    size: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
