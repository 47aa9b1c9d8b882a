//! Output writers: what a pulled image becomes on disk.
//!
//! Every writer reads verified blobs from the store and writes to a [`Destination`]. A file
//! destination is written under a temporary name in the same directory and renamed at the end,
//! so a failed pull never leaves a partial file at the output path; a device or FIFO is
//! written in place and a symlink followed (see [`place`]).

pub mod atomic;
pub mod docker;
pub(crate) mod meter;
pub mod oci;
pub mod oci_index;
pub mod oci_types;
pub mod place;
pub mod rootfs;
mod tar_header;
mod tarplan;

use std::path::PathBuf;

use crate::adapter::Target;
use crate::digest::Digest;
use crate::manifest::{Descriptor, RawManifest};
use crate::platform::Platform;

pub use atomic::AtomicFile;
pub use place::Place;

/// How much a counted copy moves at a time: big enough for the kernel to copy efficiently,
/// small enough for progress to move while a large layer is copied.
pub(crate) const COPY_PIECE: u64 = 16 << 20;

/// Where a streaming writer puts its bytes: a file (atomically) or standard output.
pub trait OutputSink: std::io::Write {
    /// Appends `len` bytes read from `src`. Files override this to let the kernel copy.
    fn append_file(&mut self, src: &mut std::fs::File, len: u64) -> std::io::Result<()> {
        use std::io::Read;
        let copied = std::io::copy(&mut src.take(len), self)?;
        if copied != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "source file shrank",
            ));
        }
        Ok(())
    }
}

impl<W: std::io::Write> OutputSink for std::io::BufWriter<W> {}

/// Bytes in memory: what tests write archives into.
impl OutputSink for Vec<u8> {}

/// Runs `f` on every item with up to `threads` threads; stops at the first error and returns
/// it. Output writers use it to fill files with kernel copies and inflation on every core.
pub(crate) fn run_parallel<T: Sync, E: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let failed = failure.lock().map(|f| f.is_some()).unwrap_or(true);
                    if failed {
                        return;
                    }
                    if let Err(e) = f(item) {
                        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

impl<T: OutputSink + ?Sized> OutputSink for &mut T {
    fn append_file(&mut self, src: &mut std::fs::File, len: u64) -> std::io::Result<()> {
        (**self).append_file(src, len)
    }
}

/// The output formats drag writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One tar that `docker load` and `podman load` accept and that is also an OCI layout.
    Docker,
    /// An OCI image layout directory.
    Oci,
    /// One tar of the image's final filesystem.
    Rootfs,
}

impl Format {
    /// The name `--format` takes (`docker`, `oci`, `rootfs`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Docker => "docker",
            Format::Oci => "oci",
            Format::Rootfs => "rootfs",
        }
    }
}

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A file (or, for `oci`, a directory), written under a temporary name and renamed at the
    /// end; a device or FIFO is written in place and a symlink followed.
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
    /// None for a foreign layer left out on purpose (`--skip-foreign`).
    pub path: Option<PathBuf>,
    pub diff_id: Digest,
    pub diff_path: Option<PathBuf>,
    pub foreign: bool,
    /// For a delta bundle (`--since`): the blob a base holds for this layer, left out of the
    /// output. Its descriptor as served, or (a base storing the layer uncompressed) its diff
    /// ID with the uncompressed size.
    pub held_by_base: Option<Descriptor>,
}

/// Everything a writer needs about one pulled image.
#[derive(Clone, Debug)]
pub struct PulledImage {
    pub target: Target,
    /// The image manifest, as served.
    pub manifest: RawManifest,
    pub platform: Option<Platform>,
    pub config: StoredBlob,
    pub layers: Vec<StoredLayer>,
}

/// Every platform under an index, for `--all-platforms`.
#[derive(Clone, Debug)]
pub struct PulledTree {
    pub target: Target,
    pub top: RawManifest,
    /// Every manifest below `top`, indexes and images.
    pub manifests: Vec<RawManifest>,
    /// Every blob those manifests name, except foreign ones left out on purpose and those
    /// a delta's bases hold.
    pub blobs: Vec<StoredBlob>,
    /// The blobs a delta's bases hold, left out.
    pub left_out: Vec<Descriptor>,
}

/// What a pull brought into the store for one reference.
// A handful per pull: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Pulled {
    Image(PulledImage),
    Tree(PulledTree),
}

impl Pulled {
    /// The blob files to store, by digest.
    pub fn blob_files(&self, skip_foreign: bool) -> Vec<(&Digest, &std::path::Path)> {
        match self {
            Pulled::Image(i) => std::iter::once((&i.config.desc.digest, i.config.path.as_path()))
                .chain(
                    i.layers
                        .iter()
                        .filter(|l| !(skip_foreign && l.foreign))
                        .filter_map(|l| l.path.as_deref().map(|p| (&l.desc.digest, p))),
                )
                .collect(),
            Pulled::Tree(t) => t
                .blobs
                .iter()
                .map(|b| (&b.desc.digest, b.path.as_path()))
                .collect(),
        }
    }

    /// The blobs left out because a delta's bases hold them, as the output names them.
    pub fn left_out(&self) -> Vec<&Descriptor> {
        match self {
            Pulled::Image(i) => i
                .layers
                .iter()
                .filter_map(|l| l.held_by_base.as_ref())
                .collect(),
            Pulled::Tree(t) => t.left_out.iter().collect(),
        }
    }

    /// The manifests to store, as served.
    pub fn manifests(&self) -> Vec<&RawManifest> {
        match self {
            Pulled::Image(i) => vec![&i.manifest],
            Pulled::Tree(t) => std::iter::once(&t.top).chain(&t.manifests).collect(),
        }
    }

    /// The descriptor a layout's index gets for this pull, and its name.
    pub fn root(&self) -> (Descriptor, &Target) {
        match self {
            Pulled::Image(i) => {
                let mut d = i.manifest.descriptor();
                d.platform = i.platform.clone();
                (d, &i.target)
            }
            Pulled::Tree(t) => (t.top.descriptor(), &t.target),
        }
    }
}
