//! Output writers: what a pulled image becomes on disk.
//!
//! Every writer reads verified blobs from the store and writes to a [`Destination`]. A file
//! destination is written under a temporary name in the same directory and renamed at the end,
//! so a failed pull never leaves a partial file at the output path.

pub mod atomic;
pub mod docker;

use std::path::PathBuf;

use crate::adapter::Target;
use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::platform::Platform;

pub use atomic::AtomicFile;

/// The output formats drag writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One tar that `docker load` and `podman load` accept and that is also an OCI layout.
    Docker,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Docker => "docker",
        }
    }
}

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Path(PathBuf),
    /// Standard output (`-o -`), for streaming formats.
    Stdout,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Path(p) => write!(f, "{}", p.display()),
            Destination::Stdout => write!(f, "-"),
        }
    }
}

/// A blob in the store.
#[derive(Clone, Debug)]
pub struct StoredBlob {
    pub desc: Descriptor,
    pub path: PathBuf,
}

/// A layer in the store, as served and (when asked for) uncompressed.
#[derive(Clone, Debug)]
pub struct StoredLayer {
    pub desc: Descriptor,
    pub path: PathBuf,
    pub diff_id: Digest,
    pub diff_path: Option<PathBuf>,
    pub foreign: bool,
}

/// Everything a writer needs about one pulled image.
#[derive(Clone, Debug)]
pub struct PulledImage {
    pub target: Target,
    /// What the reference pointed at (an index or the image manifest).
    pub top: RawManifest,
    /// The image manifest, as served.
    pub manifest: RawManifest,
    pub platform: Option<Platform>,
    pub config: StoredBlob,
    pub layers: Vec<StoredLayer>,
}
