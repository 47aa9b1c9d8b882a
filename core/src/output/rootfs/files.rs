//! The layer files pass two reads data from, a few open at a time.
//!
//! An image may have thousands of layers, more than the open-file limit (often 1024), so
//! pass one opens each layer only while reading it, and pass two keeps at most
//! [`MAX_OPEN`] open, reopening others as the tree walk needs them. A reopened file must be
//! the very file pass one read (same device, inode, size and mtime).

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

const MAX_OPEN: usize = 16;

/// What identifies a layer file between the passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Identity {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Identity {
    pub fn of(meta: &Metadata) -> Identity {
        Identity {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino())
            },
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }
}

/// Opens a layer for pass one; returns it with its identity.
pub(super) fn open(path: &Path) -> Result<(File, Identity)> {
    let file = File::open(path).map_err(|e| Error::io_path("opening", path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io_path("reading", path, e))?;
    Ok((file, Identity::of(&meta)))
}

pub(super) struct LayerFiles<'a> {
    paths: &'a [PathBuf],
    identities: Vec<Identity>,
    /// Open files, most recently used last.
    open: Vec<(usize, File)>,
}

impl<'a> LayerFiles<'a> {
    pub fn new(paths: &'a [PathBuf], identities: Vec<Identity>) -> LayerFiles<'a> {
        LayerFiles {
            paths,
            identities,
            open: Vec::with_capacity(MAX_OPEN),
        }
    }

    pub fn path(&self, layer: usize) -> &Path {
        &self.paths[layer]
    }

    /// Layer `layer`'s file, opened again if it was closed.
    pub fn get(&mut self, layer: usize) -> Result<&mut File> {
        if let Some(at) = self.open.iter().position(|(l, _)| *l == layer) {
            let entry = self.open.remove(at);
            self.open.push(entry);
        } else {
            if self.open.len() >= MAX_OPEN {
                self.open.remove(0);
            }
            let path = &self.paths[layer];
            let (file, identity) = open(path)?;
            if identity != self.identities[layer] {
                return Err(Error::io_path("reading", path, changed()));
            }
            self.open.push((layer, file));
        }
        Ok(&mut self.open.last_mut().expect("just pushed").1)
    }
}

pub(super) fn changed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "layer changed while it was being read",
    )
}
