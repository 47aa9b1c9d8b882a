//! Counting what an output writer has written, so the pull can report writing progress.
//!
//! Writers run on blocking threads (several, for a planned archive) while the pull's task
//! reports progress; a shared pair of atomic counters is all they need to agree on. A writer
//! that knows its output's size sets the total; whoever moves the bytes adds them.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use super::OutputSink;

/// Bytes written so far, of how many.
#[derive(Debug, Default)]
pub(crate) struct WriteMeter {
    done: AtomicU64,
    total: AtomicU64,
}

impl WriteMeter {
    /// Counts `n` more bytes written.
    pub(crate) fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Starts over (a writer that plans again writes everything again) expecting `total`.
    pub(crate) fn restart(&self, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Sets the bytes the output is expected to take.
    pub(crate) fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A sink that counts every byte passing through it.
pub(crate) struct Counted<'m, W> {
    pub(crate) inner: W,
    pub(crate) meter: &'m WriteMeter,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.meter.add(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: OutputSink> OutputSink for Counted<'_, W> {
    fn append_file(&mut self, src: &mut std::fs::File, len: u64) -> io::Result<()> {
        // In pieces, so a big layer moves the count while the kernel copies it.
        let mut left = len;
        while left > 0 {
            let piece = left.min(super::COPY_PIECE);
            self.inner.append_file(src, piece)?;
            self.meter.add(piece);
            left -= piece;
        }
        Ok(())
    }
}

/// The bytes an output takes on disk, as `ls -l` counts them: a file's length, or the sum of
/// the lengths of the files in a directory (links are not followed).
pub(crate) fn size_of(path: &std::path::Path) -> io::Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0u64;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_sink_counts_written_and_appended_bytes() {
        let meter = WriteMeter::default();
        let mut sink = Counted {
            inner: io::BufWriter::new(Vec::new()),
            meter: &meter,
        };
        sink.write_all(b"12345").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 3000]).unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        sink.append_file(&mut f, 3000).unwrap();
        assert_eq!(meter.done(), 3005);
        assert_eq!(sink.inner.into_inner().unwrap().len(), 3005);
    }

    #[test]
    fn size_of_a_directory_adds_up_its_files_at_every_depth() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("x"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("a/b/y"), [0u8; 32]).unwrap();
        assert_eq!(size_of(dir.path()).unwrap(), 42);
        assert_eq!(size_of(&dir.path().join("x")).unwrap(), 10);
    }
}
