//! Every blob a source's images name, each once, with what names it.

use crate::image_source::{ImageSource, SourceImage};
use crate::manifest::Descriptor;

/// A blob some manifest of the source names.
pub(super) struct NamedBlob {
    pub desc: Descriptor,
    /// `config of NAME`, `layer 2/3 of NAME`.
    pub what: String,
    /// Whether the source holds it (at its size).
    pub held: bool,
}

/// How an image is called in messages: its first name, its tag, or its digest.
pub(super) fn image_name(image: &SourceImage) -> String {
    image
        .references
        .first()
        .cloned()
        .or_else(|| image.tag.clone())
        .unwrap_or_else(|| image.manifest.digest.to_string())
}

/// The configs and layers of every image (children of indexes included), each digest once.
pub(super) fn blobs(source: &ImageSource) -> Vec<NamedBlob> {
    let mut out: Vec<NamedBlob> = Vec::new();
    for image in source.images() {
        add(source, image, &image_name(image), &mut out);
    }
    out
}

fn add(source: &ImageSource, image: &SourceImage, name: &str, out: &mut Vec<NamedBlob>) {
    let n = image.layers.len();
    let labelled = image
        .config
        .iter()
        .map(|c| (c, format!("config of {name}")))
        .chain(
            image
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| (l, format!("layer {}/{n} of {name}", i + 1))),
        );
    for (desc, what) in labelled {
        if out.iter().any(|b| b.desc.digest == desc.digest) {
            continue;
        }
        out.push(NamedBlob {
            held: source.holds(desc),
            desc: desc.clone(),
            what,
        });
    }
    for child in &image.children {
        add(source, child, name, out);
    }
}

/// Every manifest of the source (indexes and the images under them), each once.
pub(super) fn manifests(source: &ImageSource) -> Vec<&SourceImage> {
    fn walk<'a>(image: &'a SourceImage, out: &mut Vec<&'a SourceImage>) {
        if !out
            .iter()
            .any(|m| m.manifest.digest == image.manifest.digest)
        {
            out.push(image);
        }
        for child in &image.children {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    for image in source.images() {
        walk(image, &mut out);
    }
    out
}
