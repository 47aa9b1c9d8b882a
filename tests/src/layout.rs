//! Reading what drag wrote as an OCI image layout (`--format oci`), for assertions.
//!
//! A layout is a directory of content-addressed blobs plus `index.json`; several test modules
//! check one, so reading blobs, checking an image is all there and checking every blob hashes
//! to its name are written once, here.

use std::path::Path;

use crate::archive::blob_path;
use crate::bytes::assert_same_bytes;
use crate::digest::digest_like;
use crate::Image;

/// A JSON file, parsed (panics naming the file otherwise).
#[track_caller]
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The bytes of blob `digest` in `layout`.
#[track_caller]
pub fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let path = layout.join(blob_path(digest));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Asserts that every blob of `image` (manifest, config, layers) is in `layout`, byte for byte.
#[track_caller]
pub fn assert_layout_holds_image(layout: &Path, image: &Image) {
    let blobs = std::iter::once((image.digest(), &image.manifest.bytes))
        .chain(std::iter::once((
            image.config.digest.as_str(),
            &image.config.bytes,
        )))
        .chain(
            image
                .layers
                .iter()
                .map(|l| (l.blob.digest.as_str(), &l.blob.bytes)),
        );
    for (digest, want) in blobs {
        assert_same_bytes(
            &format!("{} in the layout", blob_path(digest)),
            &read_blob(layout, digest),
            want,
        );
    }
}

/// Asserts that every file under `layout/blobs/` hashes to its name.
#[track_caller]
pub fn assert_blobs_intact(layout: &Path) {
    let algorithms = std::fs::read_dir(layout.join("blobs"))
        .unwrap_or_else(|e| panic!("{}/blobs: {e}", layout.display()));
    for alg in algorithms {
        let alg = alg.expect("blobs/ entry");
        let alg_name = alg.file_name().to_string_lossy().into_owned();
        for blob in std::fs::read_dir(alg.path()).expect("read blobs/<algorithm>") {
            let blob = blob.expect("blob entry");
            let name = format!("{alg_name}:{}", blob.file_name().to_string_lossy());
            let bytes = std::fs::read(blob.path()).expect("read blob");
            assert_eq!(digest_like(&name, &bytes), name, "corrupt blob in layout");
        }
    }
}
