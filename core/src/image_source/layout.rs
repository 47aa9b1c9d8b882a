//! Reading an OCI image layout (`oci-layout`, `index.json`, `blobs/`): each entry of
//! `index.json` is an image or an index, named by its annotations, its manifests read from
//! `blobs/` and verified.
//!
//! drag's Docker archives, and `docker save` since Docker 25, are layouts too, so they are read
//! here; their `manifest.json` only adds names.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{
    effective_media_type, Descriptor, Index, Manifest, RawManifest, MAX_INDEX_DEPTH,
    MAX_MANIFEST_BYTES,
};

use super::files::bad;
use super::{ImageSource, SourceImage, MAX_INDEX_FILE_BYTES};

/// containerd's (and Docker's) full name of an index entry.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// OCI's name of an index entry: a tag, or a full reference.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a layout keeps a blob.
pub(crate) fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// The images `index.json` lists.
pub(crate) fn read(source: &ImageSource) -> Result<Vec<SourceImage>> {
    let path = &source.path;
    let bytes = source
        .files
        .read_capped(path, "index.json", MAX_INDEX_FILE_BYTES)?;
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| bad(path, format!("index.json: {e}")))?;
    let mut images = Vec::new();
    for entry in &index.manifests {
        let mut image = read_manifest(source, entry, 0)?;
        name_from_annotations(entry, &mut image);
        images.push(image);
    }
    if images.is_empty() {
        return Err(bad(path, "index.json lists no image"));
    }
    Ok(images)
}

fn name_from_annotations(entry: &Descriptor, image: &mut SourceImage) {
    if let Some(full) = entry.annotations.get(CONTAINERD_NAME) {
        image.references.push(full.clone());
    }
    if let Some(name) = entry.annotations.get(REF_NAME) {
        if crate::reference::is_valid_tag(name) {
            image.tag = Some(name.clone());
        } else if !image.references.contains(name) {
            image.references.push(name.clone());
        }
    }
}

/// The manifest `desc` points at, verified, with its children when it is an index.
pub(crate) fn read_manifest(
    source: &ImageSource,
    desc: &Descriptor,
    depth: usize,
) -> Result<SourceImage> {
    if depth > MAX_INDEX_DEPTH {
        return Err(bad(
            &source.path,
            format!("indexes nested deeper than {MAX_INDEX_DEPTH}"),
        ));
    }
    let bytes = source.read_blob(desc, MAX_MANIFEST_BYTES as u64)?;
    let declared = (!desc.media_type.is_empty()).then_some(desc.media_type.as_str());
    let manifest = RawManifest {
        media_type: effective_media_type(&bytes, declared),
        digest: desc.digest.clone(),
        bytes,
    };
    let what = format!("{} in {}", desc.digest.short(), source.path.display());
    let mut image = SourceImage {
        references: Vec::new(),
        tag: None,
        config: None,
        layers: Vec::new(),
        children: Vec::new(),
        manifest,
    };
    match image.manifest.parse(&what)? {
        Manifest::Image(m) => {
            image.config = Some(m.config);
            image.layers = m.layers;
        }
        Manifest::Index(index) => {
            for child in &index.manifests {
                if !source.has_blob(&child.digest) {
                    return Err(Error::manifest(
                        &what,
                        format!(
                            "the index lists {} but the source does not hold it (pulled without --all-platforms?)",
                            child.digest.short()
                        ),
                    ));
                }
                image
                    .children
                    .push(read_manifest(source, child, depth + 1)?);
            }
        }
    }
    Ok(image)
}
