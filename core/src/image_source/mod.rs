//! Images read back from files: what `drag push` uploads.
//!
//! An [`ImageSource`] opens a Docker archive (what `drag pull`, `docker save`, `podman save`
//! and skopeo's `docker-archive:` write) or an OCI image layout (a directory, or a tar of one:
//! `drag pull --format oci`, skopeo's `oci:`, umoci) and lists its images, each with its names,
//! its manifest exactly as stored and its blobs, which [`ImageSource::open_blob`] streams,
//! verified against their descriptors. Nothing is trusted: names in the source cannot leave it,
//! every size read is capped first, and every blob is checked against its digest as it is read.
//!
//! A source holding layers uncompressed (classic `docker save`, `drag pull --decompress`,
//! skopeo's `docker-archive:`) is not what a registry serves; [`ImageSource::push_form`] gives
//! the form to push, gzip-compressed with a new manifest, and keeps a stored manifest byte for
//! byte when its layers are as served, so its digest survives the round trip.
//! [`destination`] names where each image of a bundle goes under `drag push --to`.
//!
//! ```no_run
//! # fn demo() -> Result<(), drag_core::Error> {
//! use drag_core::image_source::ImageSource;
//! let source = ImageSource::open(std::path::Path::new("alpine.tar"))?;
//! for image in source.images() {
//!     let push = source.push_form(image, std::path::Path::new("/tmp"), 2)?;
//!     println!("{:?} {}", image.references, push.manifest.digest);
//! }
//! # Ok(()) }
//! ```

mod docker_archive;
mod files;
mod holdings;
mod layout;
mod push_form;
mod reroot;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, RawManifest};

use files::{bad, Files};

pub use push_form::{PushBlob, PushForm};
pub use reroot::{destination, reroot};
pub use verify::BlobReader;

/// The most bytes of `index.json` or `manifest.json` drag reads.
pub const MAX_INDEX_FILE_BYTES: u64 = 16 << 20;

/// An archive or layout opened for reading, with the images it holds.
pub struct ImageSource {
    path: PathBuf,
    files: Files,
    images: Vec<SourceImage>,
    /// Where blobs not stored under `blobs/<alg>/<hex>` are (classic archives' `<id>/layer.tar`).
    locations: HashMap<Digest, String>,
}

impl std::fmt::Debug for ImageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSource")
            .field("path", &self.path)
            .field("images", &self.images)
            .finish()
    }
}

/// One image of a source (or an index and the images under it).
#[derive(Clone, Debug)]
pub struct SourceImage {
    /// The names the source gives it, as written: containerd's `io.containerd.image.name`, the
    /// `RepoTags` of `manifest.json`, or an `org.opencontainers.image.ref.name` that is a full
    /// reference. Full (`docker.io/library/alpine:3.9`) or familiar (`alpine:3.9`); may be empty.
    pub references: Vec<String>,
    /// An `org.opencontainers.image.ref.name` that is only a tag (`3.9`), as skopeo's `oci:`
    /// and drag's layouts write it.
    pub tag: Option<String>,
    /// The manifest or index, exactly as stored (for a classic archive, which stores none, one
    /// written for its layers as stored).
    pub manifest: RawManifest,
    /// The config, for an image; None for an index.
    pub config: Option<Descriptor>,
    /// The layers, bottom first, for an image; empty for an index.
    pub layers: Vec<Descriptor>,
    /// For an index: the manifests it lists, in its order.
    pub children: Vec<SourceImage>,
}

impl SourceImage {
    /// The config and layers, in that order.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(&self.layers)
    }
}

impl ImageSource {
    /// Opens a Docker archive or OCI layout (a tar or a directory) and lists its images.
    pub fn open(path: &Path) -> Result<ImageSource> {
        let files = Files::open(path)?;
        let mut source = ImageSource {
            path: path.to_path_buf(),
            files,
            images: Vec::new(),
            locations: HashMap::new(),
        };
        if source.files.exists("index.json") {
            source.images = layout::read(&source)?;
            if source.files.exists("manifest.json") {
                docker_archive::add_repo_tags(&source.path, &source.files, &mut source.images)?;
            }
        } else if source.files.exists("manifest.json") {
            let (images, locations) = docker_archive::read(&source.path, &source.files)?;
            source.images = images;
            source.locations = locations;
        } else {
            return Err(bad(
                path,
                "neither an OCI image layout (index.json) nor a Docker archive (manifest.json)",
            ));
        }
        check_names_unique(path, &source.images)?;
        Ok(source)
    }

    /// The file or directory opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The images, in the order the source lists them.
    pub fn images(&self) -> &[SourceImage] {
        &self.images
    }

    /// A verified streaming reader of a blob of this source.
    pub fn open_blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        let name = self.blob_name(&desc.digest);
        if !self.files.exists(&name) {
            return Err(self.absent_blob(&desc.digest));
        }
        let (reader, size) = self.files.open_file(&self.path, &name)?;
        if size != desc.size {
            return Err(Error::SizeMismatch {
                what: format!("{} in {}", desc.digest.short(), self.path.display()),
                expected: desc.size,
                actual: size,
            });
        }
        Ok(BlobReader::new(
            reader,
            &desc.digest,
            size,
            format!("{} in {}", desc.digest.short(), self.path.display()),
        ))
    }

    /// An unverified reader of `len` bytes of a blob from byte `start`, for a range request
    /// (`drag serve`): a range cannot be checked against the digest, the client checks what it
    /// puts together. The stored size must still be the descriptor's.
    pub fn open_blob_range(
        &self,
        desc: &Descriptor,
        start: u64,
        len: u64,
    ) -> Result<Box<dyn std::io::Read + Send>> {
        let name = self.blob_name(&desc.digest);
        let (reader, size) = self.files.open_file_at(&self.path, &name, start)?;
        if size != desc.size {
            return Err(Error::SizeMismatch {
                what: format!("{} in {}", desc.digest.short(), self.path.display()),
                expected: desc.size,
                actual: size,
            });
        }
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::Usage(format!(
                "range {start}+{len} outside {} ({size} bytes)",
                desc.digest.short()
            )));
        }
        Ok(Box::new(std::io::Read::take(reader, len)))
    }

    /// True when the source holds the blob (a foreign layer may be absent on purpose).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.files.exists(&self.blob_name(digest))
    }

    fn blob_name(&self, digest: &Digest) -> String {
        self.locations
            .get(digest)
            .cloned()
            .unwrap_or_else(|| layout::blob_name(digest))
    }

    /// Reads a small blob whole (a manifest or config), capped at `cap` and verified.
    pub(crate) fn read_blob(&self, desc: &Descriptor, cap: u64) -> Result<Vec<u8>> {
        if desc.size > cap {
            return Err(Error::TooLarge {
                what: format!("{} in {}", desc.digest.short(), self.path.display()),
                limit: cap,
            });
        }
        let mut bytes = Vec::with_capacity(desc.size as usize);
        std::io::Read::read_to_end(&mut self.open_blob(desc)?, &mut bytes)
            .map_err(|e| read_error(&self.path, e))?;
        Ok(bytes)
    }
}

/// An error reading a blob: the drag error inside when there is one (digest, size).
pub(crate) fn read_error(path: &Path, e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(Ok(inner)) = e.into_inner().map(|i| i.downcast::<Error>()) {
            return *inner;
        }
        return Error::manifest(path.display(), "unreadable blob");
    }
    Error::io(format!("reading {}", path.display()), e)
}

/// Refuses a source naming two different images the same: which one to push would be a guess.
fn check_names_unique(path: &Path, images: &[SourceImage]) -> Result<()> {
    let mut seen: HashMap<&str, &Digest> = HashMap::new();
    for image in images {
        for name in &image.references {
            if let Some(other) = seen.insert(name, &image.manifest.digest) {
                if *other != image.manifest.digest {
                    return Err(bad(
                        path,
                        format!(
                            "{name} names two images ({} and {})",
                            other.short(),
                            image.manifest.digest.short()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
