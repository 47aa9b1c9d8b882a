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
//! Nothing touches the disk and file contents are never held in memory. Pass one reads only
//! the headers of every layer, seeking over the data, and builds the final tree, each path
//! pointing at the layer entry that provides it. Pass two walks the tree (parents before
//! children, siblings in byte order), copying each entry's header and streaming its data
//! straight from the layer file. `out` is written strictly in order, so it may be standard
//! output. Every refusal (a path escaping the root, a bad hard link) happens in pass one,
//! before the first byte is written.
//!
//! Two consequences of building a tree rather than replaying tar streams:
//! - An entry whose parent is a symlink in a lower layer (`lib/x` when `lib -> usr/lib`)
//!   lands where the symlink leads, resolved inside the root as containerd does. So no path
//!   in the output goes through a symlink, and extracting the output cannot write outside
//!   the directory it is extracted into.
//! - Hard links are tracked as shared files, not as names: a link keeps the content its target
//!   had when the link was made, even if the target is replaced or whited out later, as on a
//!   real filesystem. Of each set of names sharing a file, the first in output order carries
//!   the data and the others link to it, so a link never precedes or outlives its target.
//!
//! [OCI layer changesets]: https://github.com/opencontainers/image-spec/blob/main/layer.md

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::mem;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::{Error, Result};

/// What [`write`] put into the archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootfsStats {
    /// Archive members: files, directories, links and special files. The extension headers
    /// that carry long names and PAX records are not counted.
    pub entries: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Writes the merged filesystem of `layers` (uncompressed layer tars, bottom layer first) to
/// `out`.
pub fn write(layers: &[PathBuf], out: impl Write) -> Result<RootfsStats> {
    let mut tree = Tree::default();
    let mut files = Vec::with_capacity(layers.len());
    for (index, path) in layers.iter().enumerate() {
        let layer = LayerRef {
            index,
            count: layers.len(),
            path,
        };
        let file = File::open(path).map_err(|e| Error::io_path("opening", path, e))?;
        let scanned = tree.scan(&layer, &file)?;
        tree.apply(&layer, scanned)?;
        // Kept open for pass two: the data is read from the very files whose headers we saw.
        files.push(file);
    }
    Emitter {
        tar: tar::Builder::new(BufWriter::with_capacity(1 << 16, out)),
        layers,
        files: &files,
        tree: &tree,
        primaries: HashMap::new(),
        stats: RootfsStats::default(),
    }
    .run()
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Where aufs kept hard-linked files, linking every name to them.
const AUFS_LINK_DIR: &[u8] = b".wh..wh.plnk";
/// Linux refuses longer paths, so no runtime could create them either. The bound also keeps
/// the tree shallow enough to walk without deep recursion.
const PATH_MAX: usize = 4096;
/// Linux's own limit: a path needing more hops would not resolve in a container either.
const MAX_SYMLINK_HOPS: usize = 40;

/// One path component. Tar names are bytes, not necessarily UTF-8.
type Name = Box<[u8]>;
type Children = BTreeMap<Name, Node>;
/// PAX records (key, value) in the order the layer had them.
type PaxRecords = Box<[(String, Name)]>;

enum Node {
    /// `meta` is `None` for a directory no layer has an entry for (its children's parent).
    Dir {
        meta: Option<usize>,
        children: Children,
    },
    /// `src` is the entry that provides the content (the file a hard link points at); `own`
    /// is the entry that put this name here (the link itself, or `src`).
    Leaf { src: usize, own: usize },
}

impl Drop for Node {
    /// Takes subtrees apart iteratively: a malicious layer can nest directories thousands
    /// deep, and the default recursive drop could overflow a worker thread's stack.
    fn drop(&mut self) {
        let Node::Dir { children, .. } = self else {
            return;
        };
        let mut pending = vec![mem::take(children)];
        while let Some(mut dir) = pending.pop() {
            while let Some((_, mut node)) = dir.pop_first() {
                if let Node::Dir { children, .. } = &mut node {
                    pending.push(mem::take(children));
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    /// Old GNU sparse file: its data is stored in chunks the tar crate reassembles.
    Sparse,
    Dir,
    Symlink,
    HardLink,
    Char,
    Block,
    Fifo,
}

impl Kind {
    fn of(header: &Header, raw_path: &[u8]) -> Result<Kind, String> {
        Ok(match header.entry_type() {
            EntryType::Regular | EntryType::Continuous => {
                // Pre-POSIX archives mark directories only with a trailing slash.
                if header.as_old().linkflag[0] == 0 && raw_path.ends_with(b"/") {
                    Kind::Dir
                } else {
                    Kind::File
                }
            }
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::HardLink,
            EntryType::Char => Kind::Char,
            EntryType::Block => Kind::Block,
            EntryType::Fifo => Kind::Fifo,
            EntryType::GNUSparse => Kind::Sparse,
            other => {
                return Err(format!(
                    "unsupported tar entry type {:?}",
                    char::from(other.as_byte())
                ))
            }
        })
    }

    fn entry_type(self) -> EntryType {
        match self {
            Kind::File | Kind::Sparse => EntryType::Regular,
            Kind::Dir => EntryType::Directory,
            Kind::Symlink => EntryType::Symlink,
            Kind::HardLink => EntryType::Link,
            Kind::Char => EntryType::Char,
            Kind::Block => EntryType::Block,
            Kind::Fifo => EntryType::Fifo,
        }
    }
}

/// Where a layer entry is and what pass two needs to copy it. The header itself is read
/// again in pass two rather than kept: 512 bytes per entry adds up in large images.
struct Meta {
    layer: usize,
    header_pos: u64,
    data_pos: u64,
    size: u64,
    /// The header's checksum, to notice a layer file that changed between the passes.
    cksum: u32,
    kind: Kind,
    /// A symlink's target, as stored.
    target: Option<Name>,
    /// PAX records (xattrs, precise times, long owner names...), without the ones the
    /// output writes afresh (`path`, `linkpath`, `size`).
    pax: Option<PaxRecords>,
}

/// A layer's entries, as read in pass one and applied once the whole layer is read.
#[derive(Default)]
struct Scanned {
    whiteouts: Vec<Whiteout>,
    puts: Vec<Put>,
    /// Files in aufs's hard-link directory, by name.
    aufs_links: HashMap<Name, usize>,
}

enum Whiteout {
    Name { dir: Vec<Name>, name: Name },
    Opaque { dir: Vec<Name> },
}

struct Put {
    path: Vec<Name>,
    meta: usize,
    /// A hard link's normalized target.
    link: Option<Vec<Name>>,
}

/// The filesystem as merged so far, and every layer entry it may point at.
#[derive(Default)]
struct Tree {
    entries: Vec<Meta>,
    root: Children,
    /// Entries that some hard link shares, so pass two must remember where they went.
    shared: HashSet<usize>,
}

impl Tree {
    /// Pass one for one layer: headers only.
    fn scan(&mut self, layer: &LayerRef, file: &File) -> Result<Scanned> {
        let mut scanned = Scanned::default();
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries_with_seek().map_err(|e| layer.io(e))? {
            let mut entry = entry.map_err(|e| layer.io(e))?;
            if entry.header().entry_type().is_pax_global_extensions() {
                // As containerd: global records carry nothing a filesystem needs.
                continue;
            }
            let pax = pax_records(&mut entry).map_err(|e| layer.io(e))?;
            let raw = sparse_name(pax.as_deref())
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| entry.path_bytes().into_owned());
            let path = normalize(&raw).map_err(|r| layer.refuse(&raw, r))?;
            let kind = Kind::of(entry.header(), &raw).map_err(|r| layer.refuse(&raw, r))?;
            let Some((base, parent)) = path.split_last() else {
                // The root itself (`./`): containerd skips it too.
                continue;
            };

            let aufs_link = match parent {
                [dir] => **dir == *AUFS_LINK_DIR && kind == Kind::File,
                _ => false,
            };
            if !aufs_link && parent.iter().any(|c| c.starts_with(WHITEOUT_PREFIX)) {
                // Inside aufs bookkeeping, or below a whiteout name: nothing to extract.
                continue;
            }
            if !aufs_link && base.starts_with(WHITEOUT_PREFIX) {
                if **base == *OPAQUE_MARKER {
                    scanned.whiteouts.push(Whiteout::Opaque {
                        dir: parent.to_vec(),
                    });
                } else if !base.starts_with(AUFS_META_PREFIX) {
                    let name = &base[WHITEOUT_PREFIX.len()..];
                    if matches!(name, b"" | b"." | b"..") {
                        return Err(layer.refuse(&raw, "invalid whiteout name"));
                    }
                    scanned.whiteouts.push(Whiteout::Name {
                        dir: parent.to_vec(),
                        name: name.into(),
                    });
                }
                continue;
            }

            let target = match kind {
                Kind::Symlink | Kind::HardLink => {
                    let t = entry.link_name_bytes().unwrap_or_default().into_owned();
                    if t.is_empty() || t.contains(&0) || t.len() >= PATH_MAX {
                        return Err(layer.refuse(&raw, "invalid link target"));
                    }
                    Some(t)
                }
                _ => None,
            };
            let link = match &target {
                Some(t) if kind == Kind::HardLink => {
                    let refuse = |r| layer.refuse(&raw, format!("hard link to {}: {r}", lossy(t)));
                    Some(normalize_link(t).map_err(refuse)?)
                }
                _ => None,
            };
            let meta = self.entries.len();
            self.entries.push(Meta {
                layer: layer.index,
                header_pos: entry.raw_header_position(),
                data_pos: entry.raw_file_position(),
                size: entry.size(),
                cksum: entry.header().cksum().map_err(|e| layer.io(e))?,
                kind,
                target: target
                    .filter(|_| kind == Kind::Symlink)
                    .map(Vec::into_boxed_slice),
                pax,
            });
            if aufs_link {
                scanned.aufs_links.insert(base.clone(), meta);
            } else {
                scanned.puts.push(Put { path, meta, link });
            }
        }
        Ok(scanned)
    }

    fn apply(&mut self, layer: &LayerRef, scanned: Scanned) -> Result<()> {
        // Whiteouts hide what lower layers hold, never what this layer adds: all of them go
        // before the layer's own entries.
        for whiteout in &scanned.whiteouts {
            // A whiteout below something that is not a directory has nothing to hide.
            let (dir, name) = match whiteout {
                Whiteout::Name { dir, name } => (dir, Some(name)),
                Whiteout::Opaque { dir } => (dir, None),
            };
            let Ok(dir) = self.resolve(dir) else {
                continue;
            };
            if let Some(children) = self.existing_dir_mut(&dir) {
                match name {
                    Some(name) => drop(children.remove(name)),
                    None => children.clear(),
                }
            }
        }
        for put in scanned.puts {
            self.put(&put, &scanned.aufs_links)
                .map_err(|r| layer.refuse(&put.path.join(&b'/'), r))?;
        }
        Ok(())
    }

    fn put(&mut self, put: &Put, aufs_links: &HashMap<Name, usize>) -> Result<(), String> {
        let (name, parent) = put.path.split_last().expect("root entries are skipped");
        let parent = self.resolve(parent)?;
        if self.entries[put.meta].kind == Kind::Dir {
            let children = self.dir_mut(&parent)?;
            match children.get_mut(name) {
                Some(Node::Dir { meta, .. }) => *meta = Some(put.meta),
                _ => {
                    let dir = Node::Dir {
                        meta: Some(put.meta),
                        children: Children::new(),
                    };
                    children.insert(name.clone(), dir);
                }
            }
            return Ok(());
        }
        // Whatever was there goes, a directory with its whole subtree. Done before a hard
        // link's target is looked up, as when extracting: a link cannot point at what it
        // replaces.
        self.dir_mut(&parent)?.remove(name);
        let src = match &put.link {
            None => put.meta,
            Some(target) => {
                let src = self.link_source(target, aufs_links)?;
                self.shared.insert(src);
                src
            }
        };
        let leaf = Node::Leaf { src, own: put.meta };
        self.dir_mut(&parent)?.insert(name.clone(), leaf);
        Ok(())
    }

    /// The entry whose content a hard link to `target` shares.
    fn link_source(
        &self,
        target: &[Name],
        aufs_links: &HashMap<Name, usize>,
    ) -> Result<usize, String> {
        if let [dir, name] = target {
            if **dir == *AUFS_LINK_DIR {
                return aufs_links
                    .get(name)
                    .copied()
                    .ok_or_else(|| format!("hard link to missing aufs file {}", join(target)));
            }
        }
        let (name, parent) = target
            .split_last()
            .expect("normalize_link refuses the root");
        let mut resolved = self.resolve(parent)?;
        resolved.push(name.clone());
        match self.get(&resolved) {
            Some(Node::Leaf { src, .. }) => Ok(*src),
            Some(Node::Dir { .. }) => Err(format!("hard link to directory {}", join(target))),
            None => Err(format!(
                "hard link to {}, which does not exist",
                join(target)
            )),
        }
    }

    /// Resolves symlinks in a directory path as containerd does when extracting: inside the
    /// root, an absolute target starting over at the root and `..` stopping there.
    fn resolve(&self, path: &[Name]) -> Result<Vec<Name>, String> {
        let mut out: Vec<Name> = Vec::with_capacity(path.len());
        let mut pending: Vec<Name> = path.iter().rev().cloned().collect();
        let mut hops = 0;
        // The children of `out` while it is an existing directory.
        let mut here = Some(&self.root);
        while let Some(c) = pending.pop() {
            match &*c {
                b"" | b"." => continue,
                b".." => {
                    out.pop();
                    here = self.dir_children(&out);
                    continue;
                }
                _ => {}
            }
            match here.and_then(|h| h.get(&c)) {
                None => {
                    here = None;
                    out.push(c);
                }
                Some(Node::Dir { children, .. }) => {
                    here = Some(children);
                    out.push(c);
                }
                Some(Node::Leaf { src, .. }) => {
                    let meta = &self.entries[*src];
                    out.push(c);
                    let Some(target) = meta.target.as_deref() else {
                        return Err(format!("{} is not a directory", join(&out)));
                    };
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(format!("too many symlinks resolving {}", join(&out)));
                    }
                    out.pop();
                    if target.starts_with(b"/") {
                        out.clear();
                        here = Some(&self.root);
                    }
                    pending.extend(target.split(|&b| b == b'/').rev().map(Name::from));
                }
            }
        }
        Ok(out)
    }

    fn get(&self, path: &[Name]) -> Option<&Node> {
        let (last, parents) = path.split_last()?;
        let mut children = &self.root;
        for c in parents {
            match children.get(c)? {
                Node::Dir { children: next, .. } => children = next,
                Node::Leaf { .. } => return None,
            }
        }
        children.get(last)
    }

    fn dir_children(&self, path: &[Name]) -> Option<&Children> {
        if path.is_empty() {
            return Some(&self.root);
        }
        match self.get(path)? {
            Node::Dir { children, .. } => Some(children),
            Node::Leaf { .. } => None,
        }
    }

    fn existing_dir_mut(&mut self, path: &[Name]) -> Option<&mut Children> {
        let mut children = &mut self.root;
        for c in path {
            match children.get_mut(c)? {
                Node::Dir { children: next, .. } => children = next,
                Node::Leaf { .. } => return None,
            }
        }
        Some(children)
    }

    /// The directory at `path` (already resolved), creating missing ones without metadata.
    fn dir_mut(&mut self, path: &[Name]) -> Result<&mut Children, String> {
        let mut children = &mut self.root;
        for (i, c) in path.iter().enumerate() {
            let node = children.entry(c.clone()).or_insert_with(|| Node::Dir {
                meta: None,
                children: Children::new(),
            });
            match node {
                Node::Dir { children: next, .. } => children = next,
                Node::Leaf { .. } => {
                    return Err(format!("{} is not a directory", join(&path[..=i])))
                }
            }
        }
        Ok(children)
    }
}

/// Pass two: writes the tree out.
struct Emitter<'a, W: Write> {
    tar: tar::Builder<BufWriter<W>>,
    layers: &'a [PathBuf],
    files: &'a [File],
    tree: &'a Tree,
    /// Where the first name of each shared file went, for the others to link to.
    primaries: HashMap<usize, Vec<u8>>,
    stats: RootfsStats,
}

impl<W: Write> Emitter<'_, W> {
    fn run(mut self) -> Result<RootfsStats> {
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
        let mut out = self.tar.into_inner().map_err(write_error)?;
        out.flush().map_err(write_error)?;
        Ok(stats)
    }

    fn dir(&mut self, path: &[u8], meta: Option<usize>) -> Result<()> {
        let mut header = match meta {
            Some(m) => {
                let header = self.header(m, EntryType::Directory, 0)?;
                self.pax(m, false)?;
                header
            }
            None => {
                let mut h = Header::new_gnu();
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(0);
                h.set_size(0);
                h
            }
        };
        self.tar
            .append_data(&mut header, as_path(path), io::empty())
            .map_err(write_error)?;
        self.stats.entries += 1;
        Ok(())
    }

    fn leaf(&mut self, path: &[u8], src: usize, own: usize) -> Result<()> {
        if self.tree.shared.contains(&src) {
            if let Some(first) = self.primaries.get(&src).cloned() {
                let mut header = self.header(own, EntryType::Link, 0)?;
                self.pax(own, true)?;
                self.tar
                    .append_link(&mut header, as_path(path), as_path(&first))
                    .map_err(write_error)?;
                self.stats.entries += 1;
                return Ok(());
            }
            self.primaries.insert(src, path.to_vec());
        }
        self.whole(path, src)
    }

    /// Writes entry `m` at `path` with its content.
    fn whole(&mut self, path: &[u8], m: usize) -> Result<()> {
        let meta = &self.tree.entries[m];
        match meta.kind {
            Kind::File => {
                let mut header = self.header(m, EntryType::Regular, meta.size)?;
                self.pax(m, false)?;
                let mut file = &self.files[meta.layer];
                file.seek(SeekFrom::Start(meta.data_pos))
                    .map_err(|e| self.read_error(meta.layer, e))?;
                let data = Exact {
                    inner: file,
                    remaining: meta.size,
                };
                self.tar
                    .append_data(&mut header, as_path(path), data)
                    .map_err(|e| self.copy_error(path, meta.layer, e))?;
                self.stats.bytes += meta.size;
            }
            Kind::Sparse => self.sparse(path, m)?,
            Kind::Symlink => {
                let mut header = self.header(m, EntryType::Symlink, 0)?;
                self.pax(m, false)?;
                let target = meta.target.as_deref().unwrap_or_default();
                self.tar
                    .append_link(&mut header, as_path(path), as_path(target))
                    .map_err(write_error)?;
            }
            kind => {
                let mut header = self.header(m, kind.entry_type(), 0)?;
                self.pax(m, false)?;
                self.tar
                    .append_data(&mut header, as_path(path), io::empty())
                    .map_err(write_error)?;
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// An old GNU sparse file goes out as a plain file: its chunks are spread over the layer
    /// and only the tar crate's parser knows how to put them together, so the entry is
    /// parsed again from its header.
    fn sparse(&mut self, path: &[u8], m: usize) -> Result<()> {
        let meta = &self.tree.entries[m];
        let mut file = &self.files[meta.layer];
        file.seek(SeekFrom::Start(meta.header_pos))
            .map_err(|e| self.read_error(meta.layer, e))?;
        let mut archive = tar::Archive::new(file);
        let entry = archive
            .entries_with_seek()
            .and_then(|mut entries| entries.next().unwrap_or_else(|| Err(changed())))
            .map_err(|e| self.read_error(meta.layer, e))?;
        if entry.header().cksum().ok() != Some(meta.cksum) {
            return Err(self.read_error(meta.layer, changed()));
        }
        let size = entry.size();
        let mut header = clean(entry.header().clone(), EntryType::Regular, size);
        self.pax(m, false)?;
        let data = Exact {
            inner: entry,
            remaining: size,
        };
        self.tar
            .append_data(&mut header, as_path(path), data)
            .map_err(|e| self.copy_error(path, meta.layer, e))?;
        self.stats.bytes += size;
        Ok(())
    }

    /// Entry `m`'s header as it goes out: read again from the layer, checked against what
    /// pass one saw, and cleaned.
    fn header(&self, m: usize, ty: EntryType, size: u64) -> Result<Header> {
        let meta = &self.tree.entries[m];
        let mut file = &self.files[meta.layer];
        let mut header = Header::new_old();
        file.seek(SeekFrom::Start(meta.header_pos))
            .and_then(|_| file.read_exact(header.as_mut_bytes()))
            .map_err(|e| self.read_error(meta.layer, e))?;
        let mut recomputed = header.clone();
        recomputed.set_cksum();
        if header.cksum().ok() != Some(meta.cksum) || recomputed.cksum().ok() != Some(meta.cksum) {
            return Err(self.read_error(meta.layer, changed()));
        }
        Ok(clean(header, ty, size))
    }

    /// Writes entry `m`'s PAX records, if it has any, ahead of its header. Links leave out
    /// the sparse map of the file they point at: they carry no data.
    fn pax(&mut self, m: usize, link: bool) -> Result<()> {
        let tree = self.tree;
        let Some(records) = &tree.entries[m].pax else {
            return Ok(());
        };
        let records = records
            .iter()
            .filter(|(key, _)| !(link && key.starts_with("GNU.sparse.")))
            .map(|(key, value)| (key.as_str(), &**value));
        self.tar.append_pax_extensions(records).map_err(write_error)
    }

    fn read_error(&self, layer: usize, e: io::Error) -> Error {
        Error::io_path("reading", &self.layers[layer], e)
    }

    /// Copying data fails on either side; name both.
    fn copy_error(&self, path: &[u8], layer: usize, e: io::Error) -> Error {
        Error::io(
            format!(
                "copying {} from {} into the rootfs archive",
                lossy(path),
                self.layers[layer].display()
            ),
            e,
        )
    }
}

/// The header as it goes out: owner, mode, times, device numbers and owner names as in the
/// layer; type and size as given; path and link name cleared for the builder to write afresh
/// (a leftover ustar prefix would otherwise be glued to the new name); GNU multi-volume and
/// sparse bookkeeping cleared, since the data goes out whole.
fn clean(mut header: Header, ty: EntryType, size: u64) -> Header {
    header.set_entry_type(ty);
    header.set_size(size);
    header.as_old_mut().name = [0; 100];
    header.as_old_mut().linkname = [0; 100];
    if let Some(ustar) = header.as_ustar_mut() {
        ustar.prefix = [0; 155];
    }
    if let Some(gnu) = header.as_gnu_mut() {
        gnu.offset = [0; 12];
        gnu.longnames = [0; 4];
        for chunk in &mut gnu.sparse {
            chunk.offset = [0; 12];
            chunk.numbytes = [0; 12];
        }
        gnu.isextended = [0];
        gnu.realsize = [0; 12];
    }
    header
}

/// Reads exactly `remaining` bytes, failing if `inner` ends early: the tar builder pads
/// whatever it gets, so a layer that shrank between the passes would otherwise produce an
/// archive whose headers lie about their sizes.
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "layer ended inside an entry",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn changed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "layer changed while it was being read",
    )
}

fn write_error(e: io::Error) -> Error {
    Error::io("writing the rootfs archive", e)
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

    fn refuse(&self, entry: &[u8], reason: impl fmt::Display) -> Error {
        Error::manifest(self.name(), format!("entry {}: {reason}", lossy(entry)))
    }

    fn io(&self, e: io::Error) -> Error {
        Error::io(
            format!("reading {} ({})", self.name(), self.path.display()),
            e,
        )
    }
}

/// Splits a tar path into components relative to the root, without empty, `.` or `..` parts.
/// Leading `/` and `./` go; a `..` climbing above the root is refused.
fn normalize(raw: &[u8]) -> Result<Vec<Name>, String> {
    if raw.len() >= PATH_MAX {
        return Err("path too long".into());
    }
    if raw.contains(&0) {
        return Err("NUL byte in path".into());
    }
    let mut out: Vec<Name> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the image root".into());
                }
            }
            _ => out.push(c.into()),
        }
    }
    Ok(out)
}

/// A hard link's target: a path from the root, like the entry's own. An absolute target with
/// `..` in it is refused outright, even where the `..` would stay inside: a tool that wrote
/// one was confused about what the root is.
fn normalize_link(raw: &[u8]) -> Result<Vec<Name>, String> {
    if raw.starts_with(b"/") && raw.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err("absolute target with `..`".into());
    }
    let path = normalize(raw)?;
    if path.is_empty() {
        return Err("target is the root directory".into());
    }
    Ok(path)
}

/// The entry's PAX records, minus the ones the output writes afresh.
fn pax_records<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<PaxRecords>> {
    let Some(extensions) = entry.pax_extensions()? else {
        return Ok(None);
    };
    let mut records = Vec::new();
    for ext in extensions {
        let ext = ext?;
        // Keys are ASCII in practice; one that is not UTF-8 could not be written back.
        let Ok(key) = ext.key() else { continue };
        if matches!(key, "path" | "linkpath" | "size") {
            continue;
        }
        records.push((key.to_owned(), ext.value_bytes().into()));
    }
    Ok((!records.is_empty()).then(|| records.into_boxed_slice()))
}

/// The real name of a PAX-format sparse file, whose header holds a made-up one. The tar
/// crate does not apply it; GNU tar and Go do.
fn sparse_name(pax: Option<&[(String, Name)]>) -> Option<&[u8]> {
    pax?.iter()
        .find(|(key, _)| key == "GNU.sparse.name")
        .map(|(_, value)| &**value)
}

fn join(path: &[Name]) -> String {
    lossy(&path.join(&b'/'))
}

fn lossy(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

#[cfg(unix)]
fn as_path(bytes: &[u8]) -> Cow<'_, Path> {
    use std::os::unix::ffi::OsStrExt;
    Cow::Borrowed(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

/// Elsewhere paths must be Unicode; names that are not get replacement characters.
#[cfg(not(unix))]
fn as_path(bytes: &[u8]) -> Cow<'_, Path> {
    Cow::Owned(PathBuf::from(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer tar built in memory. Short names are written into the header as given, so
    /// tests can write what the tar crate's own setters refuse (`..`, absolute paths).
    struct Layer(tar::Builder<Vec<u8>>);

    impl Layer {
        fn new() -> Layer {
            Layer(tar::Builder::new(Vec::new()))
        }

        fn add(
            mut self,
            ty: EntryType,
            path: &str,
            link: Option<&str>,
            mode: u32,
            (uid, gid): (u64, u64),
            data: &[u8],
        ) -> Layer {
            let mut h = Header::new_ustar();
            h.set_entry_type(ty);
            h.set_mode(mode);
            h.set_uid(uid);
            h.set_gid(gid);
            h.set_mtime(1_700_000_000);
            h.set_size(data.len() as u64);
            if path.len() <= 100 && link.is_none_or(|l| l.len() <= 100) {
                h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                if let Some(l) = link {
                    h.set_link_name_literal(l).unwrap();
                }
                h.set_cksum();
                self.0.append(&h, data).unwrap();
            } else if let Some(l) = link {
                self.0.append_link(&mut h, path, l).unwrap();
            } else {
                self.0.append_data(&mut h, path, data).unwrap();
            }
            self
        }

        fn dir(self, path: &str, mode: u32) -> Layer {
            self.add(EntryType::Directory, path, None, mode, (0, 0), b"")
        }

        fn owned_dir(self, path: &str, mode: u32, uid: u64, gid: u64) -> Layer {
            self.add(EntryType::Directory, path, None, mode, (uid, gid), b"")
        }

        fn file(self, path: &str, mode: u32, data: &[u8]) -> Layer {
            self.add(EntryType::Regular, path, None, mode, (0, 0), data)
        }

        fn owned_file(self, path: &str, mode: u32, uid: u64, gid: u64, data: &[u8]) -> Layer {
            self.add(EntryType::Regular, path, None, mode, (uid, gid), data)
        }

        fn whiteout(self, path: &str) -> Layer {
            self.file(path, 0o600, b"")
        }

        fn symlink(self, path: &str, target: &str) -> Layer {
            self.add(EntryType::Symlink, path, Some(target), 0o777, (0, 0), b"")
        }

        fn hardlink(self, path: &str, target: &str) -> Layer {
            self.add(EntryType::Link, path, Some(target), 0o644, (0, 0), b"")
        }

        fn pax(mut self, records: &[(&str, &[u8])]) -> Layer {
            self.0
                .append_pax_extensions(records.iter().copied())
                .unwrap();
            self
        }

        fn raw(mut self, mut header: Header, path: &str, data: &[u8]) -> Layer {
            self.0.append_data(&mut header, path, data).unwrap();
            self
        }
    }

    /// Writes the layers to files and merges them; returns whatever was written even when
    /// the merge fails.
    fn rootfs(layers: Vec<Layer>) -> (Result<RootfsStats>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| {
                let path = dir.path().join(format!("layer{i}.tar"));
                std::fs::write(&path, layer.0.into_inner().unwrap()).unwrap();
                path
            })
            .collect();
        let mut out = Vec::new();
        let result = write(&paths, &mut out);
        (result, out)
    }

    fn merged(layers: Vec<Layer>) -> (Vec<Item>, RootfsStats) {
        let (result, out) = rootfs(layers);
        let stats = result.unwrap();
        let items = listing(&out);
        assert_well_formed(&items);
        assert_eq!(stats.entries, items.len() as u64);
        let bytes: usize = items.iter().map(|i| i.data.len()).sum();
        assert_eq!(stats.bytes, bytes as u64);
        (items, stats)
    }

    fn refusal(layers: Vec<Layer>) -> String {
        let (result, out) = rootfs(layers);
        let err = result.expect_err("merge should be refused");
        assert!(out.is_empty(), "nothing is written before a refusal");
        err.to_string()
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Item {
        path: String,
        kind: char,
        mode: u32,
        uid: u64,
        gid: u64,
        link: Option<String>,
        data: Vec<u8>,
    }

    impl Item {
        fn owner(mut self, uid: u64, gid: u64) -> Item {
            self.uid = uid;
            self.gid = gid;
            self
        }
    }

    fn item(path: &str, kind: char, mode: u32, link: Option<&str>, data: &[u8]) -> Item {
        Item {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            link: link.map(Into::into),
            data: data.into(),
        }
    }

    fn dir(path: &str, mode: u32) -> Item {
        item(path, 'd', mode, None, b"")
    }

    fn file(path: &str, mode: u32, data: &[u8]) -> Item {
        item(path, 'f', mode, None, data)
    }

    fn symlink(path: &str, target: &str) -> Item {
        item(path, 's', 0o777, Some(target), b"")
    }

    fn hardlink(path: &str, target: &str) -> Item {
        item(path, 'h', 0o644, Some(target), b"")
    }

    fn listing(archive: &[u8]) -> Vec<Item> {
        let mut archive = tar::Archive::new(archive);
        let mut items = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header();
            let kind = match h.entry_type() {
                EntryType::Directory => 'd',
                EntryType::Regular => 'f',
                EntryType::Symlink => 's',
                EntryType::Link => 'h',
                EntryType::Char => 'c',
                EntryType::Block => 'b',
                EntryType::Fifo => 'p',
                other => panic!("unexpected entry type {other:?}"),
            };
            let mut item = Item {
                path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                kind,
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                link: entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap()),
                data: Vec::new(),
            };
            entry.read_to_end(&mut item.data).unwrap();
            items.push(item);
        }
        items
    }

    /// No duplicates, every parent directory before its children, every hard link after its
    /// target.
    fn assert_well_formed(items: &[Item]) {
        let mut seen: HashMap<&str, char> = HashMap::new();
        for it in items {
            let trimmed = it.path.trim_end_matches('/');
            if let Some((parent, _)) = trimmed.rsplit_once('/') {
                assert_eq!(
                    seen.get(format!("{parent}/").as_str()),
                    Some(&'d'),
                    "{} comes before its parent directory",
                    it.path
                );
            }
            if it.kind == 'h' {
                let target = it.link.as_deref().unwrap();
                assert!(
                    matches!(seen.get(target), Some(k) if *k != 'd' && *k != 'h'),
                    "hard link {} comes before its target {target}",
                    it.path
                );
            }
            assert!(
                seen.insert(&it.path, it.kind).is_none(),
                "{} twice",
                it.path
            );
        }
    }

    #[test]
    fn layers_merge_with_whiteouts_opaque_dirs_and_links() {
        let base = Layer::new()
            .dir("./", 0o755)
            .dir("data/", 0o755)
            .owned_file("data/orig", 0o600, 1000, 1000, b"original")
            .dir("etc/", 0o755)
            .file("etc/hosts", 0o644, b"127.0.0.1 localhost\n")
            .file("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n")
            .dir("opt/", 0o755)
            .file("opt/old.txt", 0o644, b"old")
            .dir("opt/sub/", 0o755)
            .file("opt/sub/deep.txt", 0o644, b"deep")
            .dir("usr/", 0o755)
            .dir("usr/bin/", 0o755)
            .file("usr/bin/tool", 0o755, b"#!/bin/sh\n")
            .dir("var/", 0o755)
            .dir("var/cache/", 0o755)
            .file("var/cache/a.bin", 0o644, b"a")
            .dir("var/cache/sub/", 0o755)
            .file("var/cache/sub/b.bin", 0o644, b"b");
        let second = Layer::new()
            // A whiteout hides lower layers only, not this layer's own entry before it.
            .file("etc/motd", 0o644, b"hello")
            .whiteout("etc/.wh.motd")
            .whiteout("etc/.wh.hosts")
            .whiteout("var/.wh.cache")
            // Entries of the opaque directory's own layer stay, on either side of the marker.
            .owned_dir("opt/", 0o700, 2000, 2000)
            .file("opt/new.txt", 0o644, b"new")
            .whiteout("opt/.wh..wh..opq")
            .file("opt/newer.txt", 0o644, b"newer")
            .file("etc/passwd", 0o600, b"root:x:0:0:root:/root:/bin/bash\n")
            .symlink("usr/bin/alias", "/usr/bin/tool")
            .hardlink("usr/bin/tool2", "usr/bin/tool")
            .hardlink("data/link", "/data/orig")
            .dir(".wh..wh.plnk/", 0o700)
            .whiteout(".wh..wh.aufs");
        let third = Layer::new()
            .file("etc/hosts", 0o644, b"10.0.0.1 db\n")
            .whiteout("data/.wh.orig");

        let (items, _) = merged(vec![base, second, third]);
        assert_eq!(
            items,
            [
                dir("data/", 0o755),
                file("data/link", 0o600, b"original").owner(1000, 1000),
                dir("etc/", 0o755),
                file("etc/hosts", 0o644, b"10.0.0.1 db\n"),
                file("etc/motd", 0o644, b"hello"),
                file("etc/passwd", 0o600, b"root:x:0:0:root:/root:/bin/bash\n"),
                dir("opt/", 0o700).owner(2000, 2000),
                file("opt/new.txt", 0o644, b"new"),
                file("opt/newer.txt", 0o644, b"newer"),
                dir("usr/", 0o755),
                dir("usr/bin/", 0o755),
                symlink("usr/bin/alias", "/usr/bin/tool"),
                file("usr/bin/tool", 0o755, b"#!/bin/sh\n"),
                hardlink("usr/bin/tool2", "usr/bin/tool"),
                dir("var/", 0o755),
            ]
        );
    }

    #[test]
    fn entry_escaping_the_root_is_refused_before_anything_is_written() {
        let ok = || Layer::new().file("fine", 0o644, b"fine");
        for evil in ["../evil", "a/../../evil", "./../evil"] {
            let msg = refusal(vec![ok(), Layer::new().file(evil, 0o644, b"x")]);
            assert!(msg.contains("layer 2 of 2"), "{msg}");
            assert!(msg.contains(evil) && msg.contains("escapes"), "{msg}");
        }
    }

    #[test]
    fn absolute_and_dotted_paths_are_made_relative() {
        let layer = Layer::new()
            .file("/abs/file", 0o644, b"1")
            .file("//abs//two", 0o644, b"2")
            .file("./dot/./three", 0o644, b"3")
            .file("a/../b", 0o644, b"4")
            .hardlink("/abs/link", "/abs/file");
        let (items, _) = merged(vec![layer]);
        assert_eq!(
            items,
            [
                // No layer has these directories: they are made up, 0755 root:root.
                dir("abs/", 0o755),
                file("abs/file", 0o644, b"1"),
                hardlink("abs/link", "abs/file"),
                file("abs/two", 0o644, b"2"),
                file("b", 0o644, b"4"),
                dir("dot/", 0o755),
                file("dot/three", 0o644, b"3"),
            ]
        );
    }

    #[test]
    fn hard_link_escaping_the_root_is_refused() {
        for target in ["../../etc/passwd", "/../etc/passwd", "a/../../etc/passwd"] {
            let layer = Layer::new().file("a", 0o644, b"a").hardlink("link", target);
            let msg = refusal(vec![layer]);
            assert!(msg.contains("layer 1 of 1"), "{msg}");
            assert!(
                msg.contains("\"link\"") && msg.contains("hard link"),
                "{msg}"
            );
        }
    }

    #[test]
    fn hard_link_to_missing_target_or_directory_is_refused() {
        let msg = refusal(vec![Layer::new().hardlink("link", "nowhere")]);
        assert!(msg.contains("does not exist"), "{msg}");
        let msg = refusal(vec![Layer::new().dir("d/", 0o755).hardlink("link", "d")]);
        assert!(msg.contains("directory"), "{msg}");
    }

    #[test]
    fn file_replaces_directory_and_directory_replaces_file() {
        let lower = Layer::new()
            .dir("a/", 0o755)
            .file("a/x", 0o644, b"x")
            .dir("a/sub/", 0o755)
            .file("a/sub/y", 0o644, b"y")
            .file("b", 0o644, b"b-file")
            .dir("c/", 0o755)
            .file("c/keep", 0o644, b"keep");
        let upper = Layer::new()
            .file("a", 0o600, b"a-file")
            .dir("b/", 0o750)
            .file("b/z", 0o644, b"z")
            .owned_dir("c/", 0o700, 5, 5);
        let (items, _) = merged(vec![lower, upper]);
        assert_eq!(
            items,
            [
                file("a", 0o600, b"a-file"),
                dir("b/", 0o750),
                file("b/z", 0o644, b"z"),
                dir("c/", 0o700).owner(5, 5),
                file("c/keep", 0o644, b"keep"),
            ]
        );
    }

    #[test]
    fn large_file_streams_through_intact() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let big: Vec<u8> = (0..5 * 1024 * 1024 + 7)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let lower = Layer::new().file("big.bin", 0o644, &big);
        let upper = Layer::new().file("small", 0o644, b"s");
        let (items, stats) = merged(vec![lower, upper]);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].path, "big.bin");
        assert!(items[0].data == big, "content differs");
        assert_eq!(stats.bytes, big.len() as u64 + 1);
    }

    #[test]
    fn entry_below_a_symlink_lands_where_it_points_inside_the_root() {
        let lower = Layer::new()
            .dir("usr/", 0o755)
            .dir("usr/lib/", 0o755)
            .symlink("lib", "usr/lib")
            .symlink("abs", "/usr")
            .symlink("up", "../../..");
        let upper = Layer::new()
            .file("lib/libfoo.so", 0o644, b"foo")
            .file("abs/lib/bar", 0o644, b"bar")
            .file("up/escaped", 0o644, b"no");
        let (items, _) = merged(vec![lower, upper]);
        assert_eq!(
            items,
            [
                symlink("abs", "/usr"),
                file("escaped", 0o644, b"no"),
                symlink("lib", "usr/lib"),
                symlink("up", "../../.."),
                dir("usr/", 0o755),
                dir("usr/lib/", 0o755),
                file("usr/lib/bar", 0o644, b"bar"),
                file("usr/lib/libfoo.so", 0o644, b"foo"),
            ]
        );
    }

    #[test]
    fn entry_below_a_regular_file_is_refused() {
        let lower = Layer::new().file("etc", 0o644, b"not a dir");
        let upper = Layer::new().file("etc/passwd", 0o644, b"x");
        let msg = refusal(vec![lower, upper]);
        assert!(
            msg.contains("layer 2 of 2") && msg.contains("etc/passwd"),
            "{msg}"
        );
        assert!(msg.contains("not a directory"), "{msg}");
    }

    #[test]
    fn symlink_loop_in_a_parent_is_refused() {
        let layer = Layer::new()
            .symlink("a", "b")
            .symlink("b", "a")
            .file("a/x", 0o644, b"x");
        let msg = refusal(vec![layer]);
        assert!(msg.contains("too many symlinks"), "{msg}");
    }

    #[test]
    fn hard_link_keeps_content_when_its_target_is_replaced() {
        let lower = Layer::new().file("f", 0o644, b"old").hardlink("g", "f");
        let upper = Layer::new().file("f", 0o644, b"new");
        let (items, _) = merged(vec![lower, upper]);
        assert_eq!(items, [file("f", 0o644, b"new"), file("g", 0o644, b"old")]);
    }

    #[test]
    fn first_name_of_a_linked_file_carries_the_data() {
        let layer = Layer::new()
            .owned_file("z", 0o640, 7, 8, b"data")
            .hardlink("a", "z")
            .hardlink("m", "a");
        let (items, _) = merged(vec![layer]);
        assert_eq!(
            items,
            [
                file("a", 0o640, b"data").owner(7, 8),
                hardlink("m", "a"),
                item("z", 'h', 0o640, Some("a"), b"").owner(7, 8),
            ]
        );
    }

    #[test]
    fn aufs_hard_link_directory_supplies_content_but_is_not_written() {
        let layer = Layer::new()
            .dir(".wh..wh.plnk/", 0o700)
            .file(".wh..wh.plnk/1234.56", 0o755, b"shared")
            .hardlink("bin/a", ".wh..wh.plnk/1234.56")
            .hardlink("bin/b", "/.wh..wh.plnk/1234.56");
        let (items, _) = merged(vec![layer]);
        assert_eq!(
            items,
            [
                dir("bin/", 0o755),
                file("bin/a", 0o755, b"shared"),
                hardlink("bin/b", "bin/a"),
            ]
        );
    }

    #[test]
    fn metadata_long_names_and_special_files_pass_through() {
        let long_dir = format!("deep/{}", "d".repeat(120));
        let long_file = format!("{long_dir}/file");
        let long_target = format!("/{}", "t".repeat(150));
        let mut owned = Header::new_gnu();
        owned.set_entry_type(EntryType::Regular);
        owned.set_mode(0o4755);
        owned.set_uid(1001);
        owned.set_gid(50);
        owned.set_mtime(1_234_567_890);
        owned.set_username("alice").unwrap();
        owned.set_groupname("staff").unwrap();
        owned.set_size(3);
        let mut null = Header::new_ustar();
        null.set_entry_type(EntryType::Char);
        null.set_mode(0o666);
        null.set_device_major(1).unwrap();
        null.set_device_minor(3).unwrap();
        null.set_size(0);
        null.set_uid(0);
        null.set_gid(0);
        null.set_mtime(0);
        let mut fifo = Header::new_ustar();
        fifo.set_entry_type(EntryType::Fifo);
        fifo.set_mode(0o600);
        fifo.set_size(0);
        fifo.set_uid(0);
        fifo.set_gid(0);
        fifo.set_mtime(0);
        let layer = Layer::new()
            .pax(&[("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")])
            .raw(owned, "bin/ping", b"elf")
            .raw(null, "dev/null", b"")
            .raw(fifo, "run/fifo", b"")
            .file(&long_file, 0o644, b"long")
            .symlink("link-long", &long_target);
        let (result, out) = rootfs(vec![layer]);
        result.unwrap();
        assert_well_formed(&listing(&out));

        let mut archive = tar::Archive::new(&out[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            match path.as_str() {
                "bin/ping" => {
                    let xattrs: Vec<(String, Vec<u8>)> = entry
                        .pax_extensions()
                        .unwrap()
                        .expect("PAX records kept")
                        .map(|e| e.unwrap())
                        .map(|e| (e.key().unwrap().to_owned(), e.value_bytes().to_vec()))
                        .collect();
                    assert_eq!(
                        xattrs,
                        [(
                            "SCHILY.xattr.security.capability".to_owned(),
                            b"\x01\x00\x00\x02".to_vec()
                        )]
                    );
                    let h = entry.header();
                    assert_eq!(h.mode().unwrap(), 0o4755);
                    assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1001, 50));
                    assert_eq!(h.mtime().unwrap(), 1_234_567_890);
                    assert_eq!(h.username().unwrap(), Some("alice"));
                    assert_eq!(h.groupname().unwrap(), Some("staff"));
                }
                "dev/null" => {
                    let h = entry.header();
                    assert_eq!(h.entry_type(), EntryType::Char);
                    assert_eq!(h.device_major().unwrap(), Some(1));
                    assert_eq!(h.device_minor().unwrap(), Some(3));
                }
                "run/fifo" => assert_eq!(entry.header().entry_type(), EntryType::Fifo),
                "link-long" => {
                    let target = entry.link_name_bytes().unwrap().into_owned();
                    assert_eq!(target, long_target.as_bytes());
                }
                p if p == long_file => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    assert_eq!(data, b"long");
                }
                _ => {}
            }
            seen.push(path);
        }
        for expected in ["bin/ping", "dev/null", "run/fifo", "link-long", &long_file] {
            assert!(
                seen.iter().any(|p| p == expected),
                "{expected} missing: {seen:?}"
            );
        }
    }

    #[test]
    fn deeply_nested_paths_do_not_exhaust_the_stack() {
        // Just under PATH_MAX: 2000 directories deep, on a small stack.
        let deep = format!("{}f", "d/".repeat(2000));
        let run = move || {
            let lower = || Layer::new().file(&deep, 0o644, b"x");
            let (items, _) = merged(vec![lower()]);
            assert_eq!(items.len(), 2001);
            assert_eq!(items[2000].path, deep);
            // Whiting out the subtree drops it without recursion too.
            let (items, _) = merged(vec![lower(), Layer::new().whiteout("d/d/d/.wh.d")]);
            assert_eq!(items.len(), 3);
        };
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn gnu_sparse_file_is_written_whole() {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_size(1024);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(0);
        gnu.sparse[0].set_length(512);
        gnu.sparse[1].set_offset(4096);
        gnu.sparse[1].set_length(512);
        gnu.set_real_size(4608);
        let mut data = vec![b'A'; 512];
        data.extend_from_slice(&[b'B'; 512]);
        let layer = Layer::new()
            .raw(h, "sparse.bin", &data)
            .file("after", 0o644, b"after");
        let (items, _) = merged(vec![layer]);
        let mut expected = vec![b'A'; 512];
        expected.resize(4096, 0);
        expected.extend_from_slice(&[b'B'; 512]);
        assert_eq!(
            items,
            [
                file("after", 0o644, b"after"),
                file("sparse.bin", 0o644, &expected),
            ]
        );
    }
}
