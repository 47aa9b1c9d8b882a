//! Delta planning: which blobs a bundle may leave out because the far side already has them.
//!
//! `drag pull --since OLD...` and `drag sync --since OLD...` open each OLD (an archive or a
//! layout, as [`ImageSource`] reads them) and ask it, per layer, whether it holds the blob.
//! A layer a base holds is not fetched and not written; manifests and configs always are, so
//! the delta still names every image whole. The output's `index.json` lists what it leaves out
//! ([`DELTA_LEFT_OUT_ANNOTATION`](crate::manifest::DELTA_LEFT_OUT_ANNOTATION)).
//!
//! What is trusted: a base's index and the size of its blob files, not their bytes. Hashing
//! every base on every monthly delta would read gigabytes to save a few; `drag bundle verify
//! DELTA OLD...` hashes everything, and is what to run before carrying the pair across.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::Result;
use std::collections::BTreeMap;

use crate::image_source::{ImageSource, SourceImage};
use crate::manifest::{media_type, Descriptor, DELTA_BASES_ANNOTATION};

/// The bases of a delta: the bundles whose blobs it leaves out.
#[derive(Debug, Default)]
pub(crate) struct Bases {
    sources: Vec<ImageSource>,
}

impl Bases {
    /// Opens every base (an error names the one that could not be read).
    pub(crate) fn open(paths: &[PathBuf]) -> Result<Bases> {
        let sources = paths
            .iter()
            .map(|p| ImageSource::open(p))
            .collect::<Result<_>>()?;
        Ok(Bases { sources })
    }

    /// The blob a base holds for a layer served as `desc`: that blob itself, at its size;
    /// else, when `uncompressed_too` (a docker archive, which may store a layer uncompressed,
    /// as its base may have), the layer uncompressed, under its diff ID.
    pub(crate) fn held(
        &self,
        desc: &Descriptor,
        diff_id: Option<&Digest>,
        uncompressed_too: bool,
    ) -> Option<Descriptor> {
        if let Some(base) = self.sources.iter().find(|s| s.holds(desc)) {
            let mut held = desc.clone();
            held.annotations = names_holding(base, &desc.digest);
            return Some(held);
        }
        let diff_id = diff_id.filter(|_| uncompressed_too)?;
        let (base, size) = self
            .sources
            .iter()
            .find_map(|s| s.blob_size(diff_id).map(|size| (s, size)))?;
        Some(Descriptor {
            media_type: media_type::OCI_LAYER.into(),
            digest: diff_id.clone(),
            size,
            urls: Vec::new(),
            annotations: names_holding(base, diff_id),
            platform: None,
            artifact_type: None,
        })
    }
}

/// The names of the base's images that name `digest`, as the annotation a held descriptor
/// carries to the writer (see [`DELTA_BASES_ANNOTATION`]).
fn names_holding(base: &ImageSource, digest: &Digest) -> BTreeMap<String, String> {
    fn names(image: &SourceImage, digest: &Digest) -> bool {
        image.blobs().any(|b| &b.digest == digest)
            || image.children.iter().any(|c| names(c, digest))
    }
    let holders: Vec<&str> = base
        .images()
        .iter()
        .filter(|i| names(i, digest))
        .flat_map(|i| i.references.iter().map(String::as_str))
        .collect();
    let mut out = BTreeMap::new();
    if !holders.is_empty() {
        out.insert(DELTA_BASES_ANNOTATION.to_string(), holders.join(","));
    }
    out
}

/// The base images named by the descriptors left out, each once, for the output's index.
pub(crate) fn base_names<'a>(held: impl Iterator<Item = &'a Descriptor>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in held {
        if let Some(names) = d.annotations.get(DELTA_BASES_ANNOTATION) {
            for n in names.split(',') {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
        }
    }
    out
}

impl Bases {}
