//! The `rootfs` format: one tar of an image's final filesystem, as a container started from
//! the image would see it, for tools that want files rather than layers (`podman import`,
//! chroots, scanners, VM image builders).
//!
//! Layers are applied the way containerd and Docker apply them (see [OCI layer changesets]):
//! a later entry replaces an earlier one at the same path, and a file replacing a directory
//! takes the directory's subtree with it, while a directory over a directory only takes the
//! upper metadata. `dir/.wh.NAME` deletes `dir/NAME` and `dir/.wh..wh..opq` hides everything
//! in `dir`, both only in lower layers: a layer's whiteouts never hide its own entries,
//! wherever they sit in its tar. Whiteouts and aufs bookkeeping (`.wh..wh.*`) never reach the
//! output.
//!
//! Nothing touches the disk and file contents are never held in memory. Pass one
//! (`reader`, `tree`) reads only the headers of every layer, one layer file open at a
//! time, seeking over the data, and builds the final tree, each path pointing at the layer
//! entry that provides it. Pass two (`emit`) walks the tree, writing for each entry a
//! header built afresh (`header`) and streaming its data straight from the layer file.
//! A file of 256 KiB or more goes by the sink's kernel copy, placed (by a PAX `comment` record
//! of padding) at the offset within 64 KiB it has in its layer, where the kernel copies it
//! fastest. `out` is written strictly in order, so it may be standard output. Every refusal (a path
//! escaping the root, a bad hard link, an oversized or ambiguous header) happens in pass
//! one, before the first byte is written.
//!
//! Consequences of building a tree rather than replaying tar streams:
//! - An entry whose parent is a symlink in a lower layer (`lib/x` when `lib -> usr/lib`)
//!   lands where the symlink leads, resolved inside the root as containerd does. So no path
//!   in the output goes through a symlink, each path appears once, and extracting the output
//!   cannot write outside the directory it is extracted into.
//! - Hard links are tracked as shared files, not as names: a link keeps the content its target
//!   had when the link was made, even if the target is replaced or whited out later, as on a
//!   real filesystem. Of each set of names sharing a file, the first in output order carries
//!   the data and the others link to it, so a link never precedes or outlives its target. A
//!   hard link to a symlink goes out as a copy of the symlink.
//!
//! What the output keeps: owners, modes (setuid/setgid included), times, device nodes, FIFOs
//! and extended attributes (file capabilities included), as a container would have them.
//! [`RootfsOptions::strip_privileges`] drops what only privilege can create or what grants
//! it.
//!
//! [OCI layer changesets]: https://github.com/opencontainers/image-spec/blob/main/layer.md

mod emit;
mod files;
mod names;
mod pax;
mod reader;
mod tree;

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use self::reader::{LayerReader, ReadError};
use self::tree::{Scanned, Tree};

#[cfg(test)]
use self::reader::MAX_METADATA_RECORD;

/// What [`write_with`] put into the archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootfsStats {
    /// Archive members: files, directories, links and special files. The extension headers
    /// that carry long names and PAX records are not counted.
    pub entries: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// How the merged filesystem is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootfsOptions {
    /// Leave out what needs privilege to create or grants it, for extracting as an ordinary
    /// user or where the tree must not grant anything: device nodes (character and block),
    /// setuid and setgid bits of everything but directories, and `security.*` and
    /// `trusted.*` extended attributes (file capabilities, SELinux and IMA labels), however
    /// the layer spelled them (`LIBARCHIVE.xattr.` names are URL-decoded first). FIFOs,
    /// owners, sticky bits and `user.*` attributes stay.
    pub strip_privileges: bool,
}

/// Writes the merged filesystem of `layers` (uncompressed layer tars, bottom layer first) to
/// `out`.
pub fn write_with(
    layers: &[PathBuf],
    options: RootfsOptions,
    out: impl crate::output::OutputSink,
) -> Result<RootfsStats> {
    let mut tree = Tree::default();
    let mut identities = Vec::with_capacity(layers.len());
    for (index, path) in layers.iter().enumerate() {
        let layer = LayerRef {
            index,
            count: layers.len(),
            path,
        };
        let (file, identity) = files::open(path)?;
        let mut reader = LayerReader::new(file, identity.len());
        let mut scanned = Scanned::default();
        while let Some(entry) = reader.next_entry().map_err(|e| layer.read_error(e))? {
            let name = entry.path.clone();
            tree.scan(index, entry, &mut scanned)
                .map_err(|r| layer.refuse(&name, r))?;
        }
        tree.apply(scanned)
            .map_err(|(name, r)| layer.refuse(&name, r))?;
        // The reader and its file are dropped here: one layer open at a time.
        identities.push(identity);
    }
    emit::Emitter {
        out: BufWriter::with_capacity(1 << 16, emit::Counted::new(out)),
        files: files::LayerFiles::new(layers, identities),
        tree: &tree,
        options,
        primaries: HashMap::new(),
        stats: RootfsStats::default(),
    }
    .run()
}

/// A layer, for error messages.
struct LayerRef<'a> {
    index: usize,
    count: usize,
    path: &'a Path,
}

impl LayerRef<'_> {
    fn name(&self) -> String {
        format!("layer {} of {}", self.index + 1, self.count)
    }

    fn refuse(&self, entry: &[u8], reason: impl std::fmt::Display) -> Error {
        Error::manifest(
            self.name(),
            format!("entry {}: {reason}", names::shown(entry)),
        )
    }

    fn read_error(&self, e: ReadError) -> Error {
        match e {
            ReadError::Refused(name, reason) => self.refuse(&name, reason),
            ReadError::Io(e) => Error::io(
                format!("reading {} ({})", self.name(), self.path.display()),
                e,
            ),
        }
    }
}

#[cfg(test)]
mod tests;
