//! Files that appear whole or not at all.
//!
//! The output is written to a hidden temporary file beside its final path and renamed into
//! place only when complete; dropping an unfinished [`AtomicFile`] deletes it, and one left by
//! a killed run is removed by the next (see [`crate::leftovers`]).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::file_mode::new_file_mode;
use crate::leftovers::{self, Claim};

const TEMP_SUFFIX: &str = ".drag-tmp";

pub struct AtomicFile {
    tmp: BufWriter<tempfile::NamedTempFile>,
    dest: PathBuf,
    /// Marks the temporary file as ours, so a later run removes it only if we were killed.
    _claim: Option<Claim>,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<AtomicFile> {
        let dir = crate::store::ensure_parent(dest)?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let prefix = format!(".{name}.");
        leftovers::sweep(&dir, &prefix, TEMP_SUFFIX);
        let tmp = new_file_mode(tempfile::Builder::new().prefix(&prefix).suffix(TEMP_SUFFIX))
            .tempfile_in(&dir)
            .map_err(|e| Error::io_path("creating a temporary file in", &dir, e))?;
        Ok(AtomicFile {
            _claim: leftovers::claim(tmp.path()),
            tmp: BufWriter::with_capacity(1 << 20, tmp),
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file being written.
    pub fn temp_path(&self) -> &Path {
        self.tmp.get_ref().path()
    }

    /// A handle of its own on the temporary file, for writing at chosen offsets.
    pub fn positioned(&mut self) -> io::Result<BufWriter<File>> {
        self.tmp.flush()?;
        let f = File::options().write(true).open(self.temp_path())?;
        Ok(BufWriter::with_capacity(1 << 20, f))
    }

    /// Flushes and renames the file into place.
    pub fn commit(self) -> Result<PathBuf> {
        crate::cancel::check()?;
        let dest = self.dest;
        let tmp = self
            .tmp
            .into_inner()
            .map_err(|e| Error::io_path("writing", &dest, e.into_error()))?;
        tmp.persist(&dest)
            .map_err(|e| Error::io_path("renaming output to", &dest, e.error))?;
        Ok(dest)
    }
}

impl super::OutputSink for AtomicFile {
    /// File to file: the kernel copies (copy_file_range), no bytes pass through user space.
    fn append_file(&mut self, src: &mut File, len: u64) -> io::Result<()> {
        crate::cancel::check_io()?;
        self.tmp.flush()?;
        let copied = io::copy(&mut src.take(len), self.tmp.get_mut().as_file_mut())?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source file shrank",
            ));
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::cancel::check_io()?;
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}
