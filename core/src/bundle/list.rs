//! `drag bundle ls`: what a bundle holds, read from its index and manifests (no blob is
//! hashed here; `drag bundle verify` does that).

use std::path::Path;

use serde::Serialize;

use super::walk;
use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::digest::Digest;
use crate::error::Result;
use crate::image_source::{ImageSource, SourceImage};

/// What a bundle holds.
#[derive(Clone, Debug, Serialize)]
pub struct BundleListing {
    /// The images, in the order the bundle lists them.
    pub images: Vec<ListedImage>,
    /// Distinct blobs held (manifests, configs, layers).
    pub blobs: usize,
    /// Their total size in bytes.
    pub size: u64,
    /// True when the bundle says it is a delta (it names the blobs it leaves out).
    pub delta: bool,
    /// Blobs its manifests name that it does not hold: a delta's left-out layers, or
    /// foreign layers left out on purpose.
    pub missing: Vec<ListedBlob>,
}

/// One image (or index) of a bundle.
#[derive(Clone, Debug, Serialize)]
pub struct ListedImage {
    /// Its names, as the bundle writes them (a bare tag when that is all it has).
    pub names: Vec<String>,
    /// The digest of its manifest (of its index, for a multi-platform image).
    pub digest: Digest,
    /// `os/arch[/variant]` of each image under it (one for a single image), from the configs.
    pub platforms: Vec<String>,
}

/// A blob named by a manifest.
#[derive(Clone, Debug, Serialize)]
pub struct ListedBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size, as the manifest names it.
    pub size: u64,
    /// What it is (`layer 1/2 of NAME`).
    pub what: String,
}

/// Lists the bundle at `path`.
pub fn list(path: &Path) -> Result<BundleListing> {
    let source = ImageSource::open(path)?;
    let images = source
        .images()
        .iter()
        .map(|image| {
            let mut names = image.references.clone();
            if names.is_empty() {
                names.extend(image.tag.clone());
            }
            Ok(ListedImage {
                names,
                digest: image.manifest.digest.clone(),
                platforms: platforms(&source, image)?,
            })
        })
        .collect::<Result<_>>()?;
    let manifests = walk::manifests(&source);
    let named = walk::blobs(&source);
    let held: Vec<_> = named.iter().filter(|b| b.held).collect();
    let manifest_bytes = manifests
        .iter()
        .fold(0u64, |n, m| n.saturating_add(m.manifest.bytes.len() as u64));
    let missing = named
        .iter()
        .filter(|b| !b.held)
        .map(|b| ListedBlob {
            digest: b.desc.digest.clone(),
            size: b.desc.size,
            what: b.what.clone(),
        })
        .collect();
    Ok(BundleListing {
        images,
        blobs: manifests.len() + held.len(),
        size: held
            .iter()
            .fold(manifest_bytes, |n, b| n.saturating_add(b.desc.size)),
        delta: !source.left_out()?.is_empty(),
        missing,
    })
}

/// The platforms of an image (from its config) or of the images under an index.
fn platforms(source: &ImageSource, image: &SourceImage) -> Result<Vec<String>> {
    let Some(config) = &image.config else {
        let mut all = Vec::new();
        for child in &image.children {
            for p in platforms(source, child)? {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
        }
        return Ok(all);
    };
    if !source.holds(config) {
        return Ok(Vec::new());
    }
    let bytes = source.read_blob(config, MAX_CONFIG_BYTES)?;
    // An artifact's config (an attestation's, say) is no image config: no platform.
    let Ok(parsed) = ImageConfig::parse(&bytes) else {
        return Ok(Vec::new());
    };
    let (Some(os), Some(arch)) = (parsed.os(), parsed.architecture()) else {
        return Ok(Vec::new());
    };
    let mut p = format!("{os}/{arch}");
    if let Some(v) = parsed.field("variant").and_then(|v| v.as_str()) {
        p.push('/');
        p.push_str(v);
    }
    Ok(vec![p])
}
