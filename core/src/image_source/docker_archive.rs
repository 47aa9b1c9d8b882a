//! Reading a Docker archive's `manifest.json`: the only index of a classic `docker save`,
//! `podman save` or skopeo `docker-archive:` tar, whose layers are files like
//! `<id>/layer.tar` (usually uncompressed) and whose config is `<id>.json`. Such an archive
//! stores no registry manifest, so one is written for the layers as stored: Docker schema 2,
//! naming uncompressed layers by their diff IDs, which reading them then verifies.
//!
//! In a layout that also has `manifest.json` (drag's archives, Docker 25+), only its
//! `RepoTags` are read, to name the layout's images.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};
use crate::manifest::{media_type, Compression, Descriptor, RawManifest};

use super::files::{bad, clean_name, Files};
use super::{SourceImage, MAX_INDEX_FILE_BYTES};

/// Docker's media type for an uncompressed layer, which registries accept as pushed.
pub(crate) const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One entry of `manifest.json`.
#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
    /// Foreign layers, by diff ID: their descriptors, for those the archive leaves out.
    #[serde(rename = "LayerSources", default)]
    layer_sources: Option<HashMap<String, Descriptor>>,
}

fn entries(path: &Path, files: &Files) -> Result<Vec<Entry>> {
    let bytes = files.read_capped(path, "manifest.json", MAX_INDEX_FILE_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| bad(path, format!("manifest.json: {e}")))
}

/// The images of a classic archive, and where each blob is.
pub(crate) fn read(
    path: &Path,
    files: &Files,
) -> Result<(Vec<SourceImage>, HashMap<Digest, String>)> {
    let mut images = Vec::new();
    let mut locations = HashMap::new();
    for entry in entries(path, files)? {
        let config_name = clean_name(&entry.config).ok_or_else(|| {
            bad(
                path,
                format!("config path {:?} leaves the archive", entry.config),
            )
        })?;
        let config_bytes = files.read_capped(path, &config_name, MAX_CONFIG_BYTES)?;
        let config_digest = Digest::sha256_of(&config_bytes);
        let diff_ids = ImageConfig::parse(&config_bytes)
            .and_then(|c| c.diff_ids())
            .map_err(|e| bad(path, format!("{config_name}: {e}")))?;
        if diff_ids.len() != entry.layers.len() {
            return Err(bad(
                path,
                format!(
                    "{config_name} names {} layers but manifest.json lists {}",
                    diff_ids.len(),
                    entry.layers.len()
                ),
            ));
        }
        locations.insert(config_digest.clone(), config_name);
        let sources = entry.layer_sources.unwrap_or_default();
        let mut layers = Vec::new();
        for (name, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let clean = clean_name(name)
                .ok_or_else(|| bad(path, format!("layer path {name:?} leaves the archive")))?;
            if !files.exists(&clean) {
                // A foreign layer left out: its descriptor says where it lives.
                match sources.get(&diff_id.to_string()) {
                    Some(desc) => {
                        layers.push(desc.clone());
                        continue;
                    }
                    None => return Err(bad(path, format!("no {clean} in the archive"))),
                }
            }
            let desc = layer_descriptor(path, files, &clean, diff_id)?;
            locations.insert(desc.digest.clone(), clean);
            layers.push(desc);
        }
        let config = Descriptor {
            media_type: media_type::DOCKER_CONFIG.into(),
            digest: config_digest,
            size: config_bytes.len() as u64,
            urls: Vec::new(),
            annotations: Default::default(),
            platform: None,
            artifact_type: None,
        };
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST,
            "config": config,
            "layers": layers,
        }))
        .map_err(|e| Error::manifest("manifest", e.to_string()))?;
        images.push(SourceImage {
            references: entry.repo_tags.unwrap_or_default(),
            tag: None,
            manifest: RawManifest {
                digest: Digest::sha256_of(&bytes),
                media_type: media_type::DOCKER_MANIFEST.into(),
                bytes,
            },
            config: Some(config),
            layers,
            children: Vec::new(),
        });
    }
    if images.is_empty() {
        return Err(bad(path, "manifest.json lists no image"));
    }
    Ok((images, locations))
}

/// The descriptor of a stored layer file: an uncompressed one is named by its diff ID (checked
/// when it is read); a compressed one is hashed here, once.
fn layer_descriptor(
    path: &Path,
    files: &Files,
    name: &str,
    diff_id: &Digest,
) -> Result<Descriptor> {
    let (mut reader, size) = files.open_file(path, name)?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        let n = reader
            .read(&mut head[got..])
            .map_err(|e| Error::io(format!("reading {name} in {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let compression = Compression::sniff(&head[..got]);
    let (digest, media) = match compression {
        Compression::None => (diff_id.clone(), DOCKER_LAYER_TAR),
        Compression::Gzip | Compression::Zstd => {
            let mut h = Algorithm::Sha256.hasher();
            h.update(&head[..got]);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| Error::io(format!("reading {name} in {}", path.display()), e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            let media = if compression == Compression::Gzip {
                media_type::DOCKER_LAYER_GZIP
            } else {
                media_type::OCI_LAYER_ZSTD
            };
            (h.finish(), media)
        }
    };
    Ok(Descriptor {
        media_type: media.into(),
        digest,
        size,
        urls: Vec::new(),
        annotations: Default::default(),
        platform: None,
        artifact_type: None,
    })
}

/// Adds the `RepoTags` of a layout's `manifest.json` to the images whose config it names.
pub(crate) fn add_repo_tags(path: &Path, files: &Files, images: &mut [SourceImage]) -> Result<()> {
    for entry in entries(path, files)? {
        let Some(tags) = entry.repo_tags else {
            continue;
        };
        let hex = entry
            .config
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".json");
        for image in images.iter_mut() {
            if image.config.as_ref().is_some_and(|c| c.digest.hex() == hex) {
                for tag in &tags {
                    if !image.references.contains(tag) {
                        image.references.push(tag.clone());
                    }
                }
            }
        }
    }
    Ok(())
}
