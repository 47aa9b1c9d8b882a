//! Pass two: walks the merged tree (parents before children, siblings in byte order) and
//! writes each entry with a fresh header, streaming file data straight from its layer.

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use super::files::{changed, LayerFiles};
use super::names::shown;
use super::pax::xattr_attribute;
use super::tree::{Kind, Meta, Node, Tree};
use super::{RootfsOptions, RootfsStats};
use crate::error::{Error, Result};
use crate::output::tar_header::{self as header, Fresh};
use crate::output::OutputSink;

/// Files at least this big go from their layer to the output by the sink's own copy (the
/// kernel's, into a file); smaller ones through the buffer, where a flush and a system call
/// each would cost more than the copy.
pub(super) const SINK_COPY_MIN: u64 = 256 << 10;

pub(super) struct Emitter<'a, W: OutputSink> {
    pub out: BufWriter<Counted<W>>,
    pub files: LayerFiles<'a>,
    pub tree: &'a Tree,
    pub options: RootfsOptions,
    /// Where the first name of each shared file went, for the others to link to.
    pub primaries: HashMap<usize, Vec<u8>>,
    pub stats: RootfsStats,
}

impl<'a, W: OutputSink> Emitter<'a, W> {
    pub fn run(mut self) -> Result<RootfsStats> {
        let tree = self.tree;
        let mut path: Vec<u8> = Vec::new();
        // Depth-first without recursion: (the rest of a directory's children, the length of
        // the directory's path including its trailing slash).
        let mut stack = vec![(tree.root.iter(), 0)];
        while let Some((children, base)) = stack.last_mut() {
            let Some((name, node)) = children.next() else {
                stack.pop();
                continue;
            };
            path.truncate(*base);
            path.extend_from_slice(name);
            match node {
                Node::Dir { meta, children } => {
                    // Directory names end in `/`, as GNU tar and Go write them.
                    path.push(b'/');
                    self.dir(&path, *meta)?;
                    stack.push((children.iter(), path.len()));
                }
                Node::Leaf { src, own } => self.leaf(&path, *src, *own)?,
            }
        }
        let stats = self.stats;
        // The end of the archive: two zero blocks.
        self.out.write_all(&[0; 1024]).map_err(write_error)?;
        let mut out = self
            .out
            .into_inner()
            .map_err(|e| write_error(e.into_error()))?;
        out.flush().map_err(write_error)?;
        Ok(stats)
    }

    fn dir(&mut self, path: &[u8], meta: Option<usize>) -> Result<()> {
        let header = match meta {
            Some(m) => self.fresh(m, Kind::Dir, path, b""),
            // Made up for entries whose layers have no directory entry: 0755 root:root.
            None => Fresh::plain(Kind::Dir.typeflag(), path, 0, 0o755),
        };
        header::write(&mut self.out, &header).map_err(write_error)?;
        self.stats.entries += 1;
        Ok(())
    }

    fn leaf(&mut self, path: &[u8], src: usize, own: usize) -> Result<()> {
        let tree = self.tree;
        if self.options.strip_privileges && tree.entries[src].kind.is_device() {
            return Ok(());
        }
        if tree.shared.contains(&src) {
            if let Some(first) = self.primaries.get(&src) {
                let header = self.fresh(own, Kind::HardLink, path, first);
                header::write(&mut self.out, &header).map_err(write_error)?;
                self.stats.entries += 1;
                return Ok(());
            }
            self.primaries.insert(src, path.to_vec());
        }
        self.whole(path, src)
    }

    /// Writes entry `m` at `path` with its content.
    fn whole(&mut self, path: &[u8], m: usize) -> Result<()> {
        let tree = self.tree;
        let meta = &tree.entries[m];
        let target = meta.target.as_deref().unwrap_or_default();
        let header = self.fresh(m, meta.kind, path, target);
        if meta.kind == Kind::File && meta.size >= SINK_COPY_MIN {
            // The kernel copies it: placed as in its layer within a folio, it copies faster.
            let at = self.out.get_ref().written + self.out.buffer().len() as u64;
            let phase = meta.data_pos % header::COPY_ALIGN;
            header::write_aligned(&mut self.out, &header, at, header::COPY_ALIGN, phase)
        } else {
            header::write(&mut self.out, &header)
        }
        .map_err(write_error)?;
        if meta.kind == Kind::File && meta.size > 0 {
            self.data(path, meta)?;
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn data(&mut self, path: &[u8], meta: &Meta) -> Result<()> {
        let file = self.files.get(meta.layer)?;
        let copied = file.seek(SeekFrom::Start(meta.data_pos)).and_then(|_| {
            if meta.size < SINK_COPY_MIN {
                return io::copy(&mut Read::by_ref(file).take(meta.size), &mut self.out);
            }
            self.out.flush()?;
            self.out.get_mut().append_file(file, meta.size)?;
            Ok(meta.size)
        });
        match copied {
            Ok(n) if n == meta.size => {}
            Ok(_) => return Err(self.copy_error(path, meta.layer, changed())),
            Err(e) => return Err(self.copy_error(path, meta.layer, e)),
        }
        self.out
            .write_all(&[0; 512][..header::padding(meta.size)])
            .map_err(write_error)?;
        self.stats.bytes += meta.size;
        Ok(())
    }

    /// The header of entry `m` going out as `kind` at `path`.
    fn fresh<'t>(&self, m: usize, kind: Kind, path: &'t [u8], link: &'t [u8]) -> Fresh<'t>
    where
        'a: 't,
    {
        let tree: &'a Tree = self.tree;
        let meta = &tree.entries[m];
        let strip = self.options.strip_privileges;
        let mut mode = meta.mode;
        if strip && kind != Kind::Dir {
            mode &= !0o6000;
        }
        let extra = meta
            .extra
            .iter()
            .flatten()
            .filter(|(key, _)| {
                !(strip && xattr_attribute(key).is_some_and(|n| is_privileged_xattr(&n)))
            })
            .map(|(key, value)| (&**key, &**value))
            .collect();
        Fresh {
            typeflag: kind.typeflag(),
            path,
            link,
            size: if kind == Kind::File { meta.size } else { 0 },
            mode,
            uid: meta.uid,
            gid: meta.gid,
            mtime: meta.mtime,
            uname: &tree.owner_names[meta.uname as usize],
            gname: &tree.owner_names[meta.gname as usize],
            dev: kind.is_device().then_some(meta.dev),
            extra,
        }
    }

    /// Copying data fails on either side; name both.
    fn copy_error(&self, path: &[u8], layer: usize, e: io::Error) -> Error {
        Error::io(
            format!(
                "copying {} from {} into the rootfs archive",
                shown(path),
                self.files.path(layer).display()
            ),
            e,
        )
    }
}

/// The sink, counting what reaches it: where the next entry starts, for placing file data.
pub(super) struct Counted<W> {
    inner: W,
    written: u64,
}

impl<W> Counted<W> {
    pub fn new(inner: W) -> Counted<W> {
        Counted { inner, written: 0 }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: OutputSink> OutputSink for Counted<W> {
    fn append_file(&mut self, src: &mut std::fs::File, len: u64) -> io::Result<()> {
        self.inner.append_file(src, len)?;
        self.written += len;
        Ok(())
    }
}

/// Attributes that grant or label privilege: file capabilities, SELinux and IMA labels
/// (`security.*`), and `trusted.*`, which only root may set. `name` is decoded, as the
/// reader that extracts the output will decode it: `LIBARCHIVE.xattr.%73ecurity.capability`
/// sets `security.capability`.
fn is_privileged_xattr(name: &[u8]) -> bool {
    name.starts_with(b"security.") || name.starts_with(b"trusted.")
}

fn write_error(e: io::Error) -> Error {
    Error::io("writing the rootfs archive", e)
}
