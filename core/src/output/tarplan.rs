//! Tar archives planned in advance, written in parallel.
//!
//! When every entry's size is known before writing, every entry's place in the archive is too.
//! A file destination is then filled by several threads at once, each at its own offset: stored
//! blobs are copied file to file by the kernel, and compressed layers are inflated straight
//! into their place, so an uncompressed layer is never written anywhere else first. A stream
//! destination (stdout) gets the same archive in order.
//!
//! An inflated layer's size comes from its compressed stream (the gzip trailer, the zstd frame
//! header). The prediction is checked as the layer is written; when it is wrong (several gzip
//! members, more than 4 GiB) the writer reports a [`PlanError::SizeMiss`] and the caller plans
//! again with that layer inflated to a file first.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::Compression;
use crate::output::meter::WriteMeter;
use crate::output::tar_header::{self, Fresh};
use crate::output::{AtomicFile, OutputSink};

/// Where an entry's bytes come from.
pub(crate) enum Source {
    Directory,
    Bytes(Vec<u8>),
    File(PathBuf),
    /// A compressed layer, inflated on the way in and checked against its diff ID.
    Inflate {
        path: PathBuf,
        compression: Compression,
        diff_id: Digest,
    },
}

struct Entry {
    name: String,
    size: u64,
    source: Source,
}

/// Why writing a plan failed.
#[derive(Debug)]
pub(crate) enum PlanError {
    /// An inflated layer was not the predicted size: plan again without predicting it.
    SizeMiss(Digest),
    Failed(Error),
}

impl From<Error> for PlanError {
    fn from(e: Error) -> Self {
        PlanError::Failed(e)
    }
}

#[derive(Default)]
pub(crate) struct TarPlan {
    entries: Vec<Entry>,
    names: std::collections::HashSet<String>,
}

const BLOCK: u64 = 512;
/// Where the data of a big stored or inflated entry starts: at a multiple of this many bytes
/// into the archive, as in the blob it is copied from (see [`tar_header::write_aligned`]),
/// which costs at most this much padding per entry.
const DATA_ALIGN: u64 = tar_header::COPY_ALIGN;
/// Entries at least this big are aligned: the padding is then at most 1/64 of the entry.
const ALIGN_FROM: u64 = 4 << 20;

fn padded(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

impl TarPlan {
    /// Adds an entry unless one of that name is already planned (shared blobs go in once).
    pub(crate) fn add(&mut self, name: String, size: u64, source: Source) {
        if self.names.insert(name.clone()) {
            self.entries.push(Entry { name, size, source });
        }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The header blocks of an entry starting `at` bytes into the archive, written by
    /// [`tar_header`]: one ustar header, preceded by a PAX header when the name does not fit
    /// (a `blobs/sha512/<128 hex>` name is 141 characters, and its last component alone is
    /// longer than the 100-byte name field) or when a big blob's data is aligned.
    fn header(e: &Entry, at: u64) -> Result<Vec<u8>> {
        let (typeflag, mode, size) = match e.source {
            Source::Directory => (b'5', 0o755, 0),
            _ => (b'0', 0o644, e.size),
        };
        let mut blocks = Vec::with_capacity(BLOCK as usize);
        let fresh = Fresh::plain(typeflag, e.name.as_bytes(), size, mode);
        let aligned =
            e.size >= ALIGN_FROM && matches!(e.source, Source::File(_) | Source::Inflate { .. });
        if aligned {
            tar_header::write_aligned(&mut blocks, &fresh, at, DATA_ALIGN, 0)
        } else {
            tar_header::write(&mut blocks, &fresh)
        }
        .map_err(|err| Error::io(format!("archive entry {}", e.name), err))?;
        Ok(blocks)
    }

    /// The archive's size in bytes: headers, padded data and the end-of-archive blocks.
    pub(crate) fn archive_size(&self) -> Result<u64> {
        let mut size = 0;
        for e in &self.entries {
            size += Self::header(e, size)?.len() as u64 + padded(e.size);
        }
        Ok(size + 2 * BLOCK)
    }

    /// Writes the archive in order to a stream.
    pub(crate) fn write_stream(&self, out: &mut dyn OutputSink) -> Result<(), PlanError> {
        let io_err = |e| Error::io("writing archive", e);
        let mut offset = 0;
        for e in &self.entries {
            let header = Self::header(e, offset)?;
            out.write_all(&header).map_err(io_err)?;
            offset += header.len() as u64 + padded(e.size);
            match &e.source {
                Source::Directory => {}
                Source::Bytes(b) => out.write_all(b).map_err(io_err)?,
                Source::File(p) => {
                    let mut f = File::open(p).map_err(|err| Error::io_path("reading", p, err))?;
                    out.append_file(&mut f, e.size).map_err(io_err)?;
                }
                Source::Inflate {
                    path,
                    compression,
                    diff_id,
                } => {
                    let n = inflate(path, *compression, diff_id, out)?;
                    if n != e.size {
                        return Err(PlanError::SizeMiss(diff_id.clone()));
                    }
                }
            }
            let pad = (padded(e.size) - e.size) as usize;
            out.write_all(&[0u8; BLOCK as usize][..pad])
                .map_err(io_err)?;
        }
        out.write_all(&[0u8; 2 * BLOCK as usize]).map_err(io_err)?;
        out.flush().map_err(io_err)?;
        Ok(())
    }

    /// Writes the archive into `file`, with up to `jobs` threads filling entries at their
    /// offsets, counting into `meter` as they go.
    pub(crate) fn write_file(
        &self,
        file: &mut AtomicFile,
        jobs: usize,
        meter: &WriteMeter,
    ) -> Result<(), PlanError> {
        let path = file.temp_path().to_path_buf();
        let io_err = |e| Error::io_path("writing", &path, e);
        // Headers and small entries first, in one pass; big ones are queued.
        let mut offset = 0u64;
        let mut queue = Vec::new();
        {
            let mut out = file.positioned().map_err(io_err)?;
            for e in &self.entries {
                out.seek(SeekFrom::Start(offset)).map_err(io_err)?;
                let header = Self::header(e, offset)?;
                out.write_all(&header).map_err(io_err)?;
                offset += header.len() as u64;
                match &e.source {
                    Source::Bytes(b) => out.write_all(b).map_err(io_err)?,
                    Source::Directory => {}
                    _ => queue.push((offset, e)),
                }
                offset += padded(e.size);
            }
            // The end-of-archive blocks are the zeros of the file's last 1 KiB.
            out.get_ref().set_len(offset + 2 * BLOCK).map_err(io_err)?;
            out.flush().map_err(io_err)?;
        }
        let queued: u64 = queue.iter().map(|(_, e)| e.size).sum();
        meter.restart(offset + 2 * BLOCK);
        meter.add(offset + 2 * BLOCK - queued);
        // The biggest first, so the last to finish is small.
        queue.sort_by_key(|(_, e)| std::cmp::Reverse(e.size));
        // Kernel copies into one file take turns at its lock, so copying blobs on several
        // threads adds only contention (a warm 500 MiB archive: 0.47 s of system time on two
        // threads, 0.27 s on one, the wall time no better); inflating gains from threads.
        let inflates = queue
            .iter()
            .any(|(_, e)| matches!(e.source, Source::Inflate { .. }));
        let threads = if inflates { jobs } else { 1 };
        super::run_parallel(&queue, threads, |(at, e)| fill(&path, *at, e, meter))
    }
}

/// Writes one entry's data at `at`, through a handle of its own (its own file offset).
fn fill(path: &Path, at: u64, e: &Entry, meter: &WriteMeter) -> Result<(), PlanError> {
    let io_err = |err| Error::io_path("writing", path, err);
    crate::cancel::check()?;
    let mut dest = File::options().write(true).open(path).map_err(io_err)?;
    dest.seek(SeekFrom::Start(at)).map_err(io_err)?;
    match &e.source {
        Source::File(p) => {
            let mut src = File::open(p).map_err(|err| Error::io_path("reading", p, err))?;
            // File to file at the handle's offset: copy_file_range on Linux, in pieces so
            // progress moves during a big copy.
            let mut left = e.size;
            while left > 0 {
                let piece = left.min(super::COPY_PIECE);
                let n = io::copy(&mut (&mut src).take(piece), &mut dest).map_err(io_err)?;
                if n != piece {
                    return Err(
                        Error::io_path("reading", p, io::ErrorKind::UnexpectedEof.into()).into(),
                    );
                }
                meter.add(n);
                left -= n;
            }
        }
        Source::Inflate {
            path: src,
            compression,
            diff_id,
        } => {
            let mut out = Bounded {
                inner: BufWriter::with_capacity(INFLATE_PIECE, dest),
                left: e.size,
                over: false,
                meter,
            };
            let n = inflate(src, *compression, diff_id, &mut out);
            if out.over || n.as_ref().is_ok_and(|n| *n != e.size) {
                return Err(PlanError::SizeMiss(diff_id.clone()));
            }
            n?;
            out.inner.flush().map_err(io_err)?;
        }
        Source::Directory | Source::Bytes(_) => {}
    }
    Ok(())
}

/// A writer that refuses to go past its entry (a wrong size prediction must not overwrite the
/// next entry).
struct Bounded<'m, W: Write> {
    inner: W,
    left: u64,
    over: bool,
    meter: &'m WriteMeter,
}

impl<W: Write> Write for Bounded<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            self.over = true;
            return Err(io::Error::other("layer larger than predicted"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        self.meter.add(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How much compressed input an inflating writer reads at a time, and how much it inflates
/// into before hashing and writing. Four layers are inflated at once: at 1 MiB each these
/// buffers were the largest part of a pull's memory (12 MiB of its 20 MiB of heap), and
/// smaller ones inflate as fast.
const INFLATE_INPUT: usize = 128 << 10;
const INFLATE_PIECE: usize = 256 << 10;

/// Inflates a stored layer into `out`, hashing the result against its diff ID. Returns the
/// uncompressed size.
pub(crate) fn inflate(
    path: &Path,
    compression: Compression,
    diff_id: &Digest,
    out: &mut dyn Write,
) -> Result<u64> {
    let what = format!("layer {}", diff_id.short());
    let f = File::open(path).map_err(|e| Error::io_path("reading", path, e))?;
    let input = BufReader::with_capacity(INFLATE_INPUT, f);
    let mut reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input).map_err(|e| Error::io(&what, e))?,
        ),
        Compression::None => Box::new(input),
    };
    let mut hasher = diff_id.algorithm().hasher();
    let mut buf = vec![0u8; INFLATE_PIECE];
    let mut total = 0u64;
    loop {
        crate::cancel::check()?;
        let n = reader.read(&mut buf).map_err(|e| Error::Decompress {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("writing {what}"), e))?;
        total += n as u64;
    }
    let actual = hasher.finish();
    if &actual != diff_id {
        return Err(Error::DigestMismatch {
            what: format!("{what} (uncompressed, against the config's diff ID)"),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(total)
}

/// The uncompressed size a compressed layer announces, when it does: the gzip trailer's ISIZE
/// (the size modulo 4 GiB of the last member), or the zstd frame header's content size.
pub(crate) fn predicted_size(path: &Path, compression: Compression) -> Option<u64> {
    let mut f = File::open(path).ok()?;
    match compression {
        Compression::None => f.metadata().ok().map(|m| m.len()),
        Compression::Gzip => {
            f.seek(SeekFrom::End(-4)).ok()?;
            let mut b = [0u8; 4];
            f.read_exact(&mut b).ok()?;
            Some(u64::from(u32::from_le_bytes(b)))
        }
        Compression::Zstd => {
            let mut head = [0u8; 18];
            let n = f.read(&mut head).ok()?;
            zstd::zstd_safe::get_frame_content_size(&head[..n])
                .ok()
                .flatten()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry name of an archive, as the `tar` crate reads it (it applies PAX paths).
    fn names(archive: &[u8]) -> Vec<String> {
        tar::Archive::new(archive)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn names_of_any_length_are_read_back_whole_from_streams_and_files_and_every_byte_is_counted() {
        // Around the 100-byte name field, the 155-byte prefix, and the PAX record's length
        // gaining a digit (a record of 99 vs 100 bytes).
        let mut plan = TarPlan::default();
        let mut want = Vec::new();
        for len in (90..=110).chain(140..=145).chain([200, 255, 300]) {
            let dir = "blobs/sha512/";
            let name = format!("{dir}{}", "a".repeat(len - dir.len()));
            plan.add(name.clone(), 3, Source::Bytes(b"abc".to_vec()));
            want.push(name);
        }
        // And one copied from a file, as stored blobs are.
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        std::fs::write(&blob, vec![9u8; 1000]).unwrap();
        plan.add("blobs/sha256/f".into(), 1000, Source::File(blob));
        want.push("blobs/sha256/f".into());
        let mut streamed = std::io::BufWriter::new(Vec::new());
        plan.write_stream(&mut streamed).unwrap();
        let streamed = streamed.into_inner().unwrap();
        assert_eq!(names(&streamed), want);

        let dest = dir.path().join("out.tar");
        let mut file = AtomicFile::create(&dest).unwrap();
        let meter = WriteMeter::default();
        plan.write_file(&mut file, 2, &meter).unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), streamed);
        assert_eq!(plan.archive_size().unwrap(), streamed.len() as u64);
        assert_eq!(meter.done(), streamed.len() as u64);
        assert_eq!(meter.total(), streamed.len() as u64);
    }

    #[test]
    fn big_blobs_start_on_an_alignment_boundary_in_streams_and_files_and_small_ones_are_not_padded()
    {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = TarPlan::default();
        plan.add("manifest.json".into(), 3, Source::Bytes(b"abc".to_vec()));
        let sizes = [ALIGN_FROM, ALIGN_FROM - 1, ALIGN_FROM + 700];
        for (i, size) in sizes.into_iter().enumerate() {
            let blob = dir.path().join(format!("blob{i}"));
            std::fs::write(&blob, vec![i as u8 + 1; size as usize]).unwrap();
            plan.add(format!("blobs/sha256/{i}"), size, Source::File(blob));
        }
        let mut streamed = std::io::BufWriter::new(Vec::new());
        plan.write_stream(&mut streamed).unwrap();
        let streamed = streamed.into_inner().unwrap();
        let dest = dir.path().join("out.tar");
        let mut file = AtomicFile::create(&dest).unwrap();
        plan.write_file(&mut file, 2, &WriteMeter::default())
            .unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), streamed);
        assert_eq!(plan.archive_size().unwrap(), streamed.len() as u64);

        let mut archive = tar::Archive::new(&streamed[..]);
        let mut previous_end = 0;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let (at, size) = (entry.raw_file_position(), entry.size());
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if size >= ALIGN_FROM {
                assert_eq!(at % DATA_ALIGN, 0, "{name} at {at}");
            } else {
                assert_eq!(at, previous_end + BLOCK, "{name}: one plain header");
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            assert_eq!(data.len() as u64, size, "{name}");
            assert!(name == "manifest.json" || data.iter().all(|&b| b == data[0]));
            previous_end = at + padded(size);
        }
    }
}
