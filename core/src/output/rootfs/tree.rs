//! Pass one: the merged filesystem, built from every layer's parsed headers.
//!
//! Each path points at the layer entry that provides it; an entry keeps what its fresh
//! output header needs and where its data is, never the data itself. Everything a layer is
//! refused for is found here, before the first byte of output.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::mem;

use super::names::{join, normalize, normalize_link, Name, PATH_MAX};
use super::reader::Parsed;
use crate::output::tar_header::MAX_DEV;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Where aufs kept hard-linked files, linking every name to them.
const AUFS_LINK_DIR: &[u8] = b".wh..wh.plnk";
/// Linux's own limit: a path needing more hops would not resolve in a container either.
const MAX_SYMLINK_HOPS: usize = 40;
/// Entries, whiteouts and directories made for entries, over all layers: far beyond real
/// images (the largest hold about a million files), and a bound on the memory the tree and
/// a layer's pending whiteouts take.
pub(super) const MAX_NODES: usize = 8_000_000;
/// Bytes of symlink targets, owner names and kept PAX records over all layers.
pub(super) const MAX_KEPT_BYTES: usize = 256 << 20;
/// Bytes one layer's paths, hard link targets and whiteouts take while the layer is read,
/// bookkeeping included: a layer with a million files of 100-byte paths takes about 160 MiB.
/// Without it, entries of 4,000-byte paths (a few bytes each once compressed) could take
/// gigabytes before the entry limit is reached.
pub(super) const MAX_PENDING_BYTES: usize = 1 << 30;

type Children = BTreeMap<Name, Node>;
/// Kept PAX records (key, value), in the order the layer had them.
pub(super) type PaxRecords = Box<[(Box<str>, Name)]>;

pub(super) enum Node {
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
pub(super) enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    Char,
    Block,
    Fifo,
}

impl Kind {
    fn of(typeflag: u8, path: &[u8]) -> Result<Kind, String> {
        Ok(match typeflag {
            // Pre-POSIX archives mark directories only with a trailing slash.
            b'\0' if path.ends_with(b"/") => Kind::Dir,
            b'0' | b'\0' | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'2' => Kind::Symlink,
            b'1' => Kind::HardLink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'6' => Kind::Fifo,
            other => {
                return Err(format!(
                    "unsupported tar entry type {:?}",
                    char::from(other)
                ))
            }
        })
    }

    pub fn typeflag(self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::Dir => b'5',
            Kind::Symlink => b'2',
            Kind::HardLink => b'1',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Fifo => b'6',
        }
    }

    pub fn is_device(self) -> bool {
        matches!(self, Kind::Char | Kind::Block)
    }
}

/// A layer entry: what its output header is built from and where its data is.
pub(super) struct Meta {
    pub layer: usize,
    pub data_pos: u64,
    pub size: u64,
    pub kind: Kind,
    /// A symlink's target, as stored.
    pub target: Option<Name>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    /// Owner names, as indexes into [`Tree::owner_names`].
    pub uname: u32,
    pub gname: u32,
    pub dev: (u32, u32),
    /// Kept PAX records: precise times and extended attributes.
    pub extra: Option<PaxRecords>,
}

/// A layer's entries, as read in pass one and applied once the whole layer is read. Paths
/// are held joined (normalized components and `/`), one allocation each, and split again
/// when applied: a deep path held as components would cost some 50 bytes per component.
#[derive(Default)]
pub(super) struct Scanned {
    whiteouts: Vec<Whiteout>,
    puts: Vec<Put>,
    /// Files in aufs's hard-link directory, by name.
    aufs_links: HashMap<Name, usize>,
    /// What all of the above take, as counted by [`Tree::hold`].
    held: usize,
}

enum Whiteout {
    Name { dir: Name, name: Name },
    Opaque { dir: Name },
}

struct Put {
    path: Name,
    meta: usize,
    /// A hard link's normalized target.
    link: Option<Name>,
}

/// A normalized path held as one string.
fn joined(path: &[Name]) -> Name {
    path.join(&b'/').into_boxed_slice()
}

/// The components of a [`joined`] path.
fn components(path: &[u8]) -> Vec<Name> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split(|&b| b == b'/').map(Name::from).collect()
}

/// The filesystem as merged so far, and every layer entry it may point at.
#[derive(Default)]
pub(super) struct Tree {
    pub entries: Vec<Meta>,
    pub root: Children,
    /// Entries that some hard link shares, so pass two must remember where they went.
    pub shared: HashSet<usize>,
    /// Owner names, each kept once: images repeat a handful of them over every entry.
    pub owner_names: Vec<Name>,
    owner_index: HashMap<Name, u32>,
    nodes: usize,
    limits: Limits,
    kept_bytes: usize,
}

/// [`MAX_NODES`] and [`MAX_PENDING_BYTES`], lowered only by tests.
struct Limits {
    nodes: usize,
    pending_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            nodes: MAX_NODES,
            pending_bytes: MAX_PENDING_BYTES,
        }
    }
}

impl Tree {
    /// Takes one parsed entry of layer `layer` into `scanned`. Errors are the reason the
    /// entry is refused.
    pub fn scan(
        &mut self,
        layer: usize,
        entry: Parsed,
        scanned: &mut Scanned,
    ) -> Result<(), String> {
        let raw = &entry.path;
        let path = normalize(raw)?;
        let kind = Kind::of(entry.typeflag, raw)?;
        let Some((base, parent)) = path.split_last() else {
            // The root itself (`./`): containerd skips it too.
            return Ok(());
        };

        let aufs_link = match parent {
            [dir] => **dir == *AUFS_LINK_DIR && kind == Kind::File,
            _ => false,
        };
        if !aufs_link && parent.iter().any(|c| c.starts_with(WHITEOUT_PREFIX)) {
            // Inside aufs bookkeeping, or below a whiteout name: nothing to extract.
            return Ok(());
        }
        if !aufs_link && base.starts_with(WHITEOUT_PREFIX) {
            if **base == *OPAQUE_MARKER {
                // Whiteouts are held until the layer is applied: they count like entries.
                self.count_node()?;
                let dir = joined(parent);
                self.hold(scanned, size_of::<Whiteout>() + dir.len())?;
                scanned.whiteouts.push(Whiteout::Opaque { dir });
            } else if !base.starts_with(AUFS_META_PREFIX) {
                let name = &base[WHITEOUT_PREFIX.len()..];
                if matches!(name, b"" | b"." | b"..") {
                    return Err("invalid whiteout name".into());
                }
                self.count_node()?;
                let dir = joined(parent);
                self.hold(scanned, size_of::<Whiteout>() + dir.len() + name.len())?;
                scanned.whiteouts.push(Whiteout::Name {
                    dir,
                    name: name.into(),
                });
            }
            return Ok(());
        }

        let target = match kind {
            Kind::Symlink | Kind::HardLink => {
                let t = &entry.link;
                if t.is_empty() || t.contains(&0) || t.len() >= PATH_MAX {
                    return Err("invalid link target".into());
                }
                Some(t.clone())
            }
            _ => None,
        };
        let link = match &target {
            Some(t) if kind == Kind::HardLink => Some(
                normalize_link(t)
                    .map_err(|r| format!("hard link to {}: {r}", super::names::shown(t)))?,
            ),
            _ => None,
        };
        let dev = if kind.is_device() {
            if entry.dev_major > MAX_DEV || entry.dev_minor > MAX_DEV {
                return Err("device number out of range".into());
            }
            (entry.dev_major as u32, entry.dev_minor as u32)
        } else {
            (0, 0)
        };
        self.count_node()?;
        let kept = target.as_ref().map_or(0, Vec::len)
            + entry
                .extra
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        self.keep(kept)?;
        let uname = self.owner_name(entry.uname)?;
        let gname = self.owner_name(entry.gname)?;
        let meta = self.entries.len();
        self.entries.push(Meta {
            layer,
            data_pos: entry.data_pos,
            size: if kind == Kind::File { entry.size } else { 0 },
            kind,
            target: target
                .filter(|_| kind == Kind::Symlink)
                .map(Vec::into_boxed_slice),
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            mtime: entry.mtime,
            uname,
            gname,
            dev,
            extra: (!entry.extra.is_empty()).then(|| {
                entry
                    .extra
                    .into_iter()
                    .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_slice()))
                    .collect()
            }),
        });
        if aufs_link {
            self.hold(scanned, size_of::<(Name, usize)>() + base.len())?;
            scanned.aufs_links.insert(base.clone(), meta);
        } else {
            let path = joined(&path);
            let link = link.as_deref().map(joined);
            self.hold(
                scanned,
                size_of::<Put>() + path.len() + link.as_ref().map_or(0, |l| l.len()),
            )?;
            scanned.puts.push(Put { path, meta, link });
        }
        Ok(())
    }

    /// A tree that refuses more than `nodes` entries, or layers whose paths take more than
    /// `pending_bytes` while read, for tests of the limits.
    #[cfg(test)]
    pub fn with_limits(nodes: usize, pending_bytes: usize) -> Tree {
        Tree {
            limits: Limits {
                nodes,
                pending_bytes,
            },
            ..Tree::default()
        }
    }

    /// Counts `bytes` more held for the layer being read.
    fn hold(&self, scanned: &mut Scanned, bytes: usize) -> Result<(), String> {
        scanned.held += bytes;
        let limit = self.limits.pending_bytes;
        if scanned.held > limit {
            return Err(format!(
                "the layer's paths and whiteouts take more than {limit} bytes"
            ));
        }
        Ok(())
    }

    fn count_node(&mut self) -> Result<(), String> {
        self.nodes += 1;
        let limit = self.limits.nodes;
        if self.nodes > limit {
            return Err(format!(
                "the image has more than {limit} entries, whiteouts and directories"
            ));
        }
        Ok(())
    }

    fn keep(&mut self, bytes: usize) -> Result<(), String> {
        self.kept_bytes += bytes;
        if self.kept_bytes > MAX_KEPT_BYTES {
            return Err(format!(
                "the image's link targets, owner names and PAX records exceed {} MiB",
                MAX_KEPT_BYTES >> 20
            ));
        }
        Ok(())
    }

    fn owner_name(&mut self, name: Vec<u8>) -> Result<u32, String> {
        if let Some(&i) = self.owner_index.get(name.as_slice()) {
            return Ok(i);
        }
        self.keep(name.len())?;
        let i = u32::try_from(self.owner_names.len()).map_err(|_| "too many owner names")?;
        let name: Name = name.into_boxed_slice();
        self.owner_names.push(name.clone());
        self.owner_index.insert(name, i);
        Ok(i)
    }

    /// Applies a scanned layer; errors name the refused path and the reason.
    pub fn apply(&mut self, scanned: Scanned) -> Result<(), (Vec<u8>, String)> {
        // Whiteouts hide what lower layers hold, never what this layer adds: all of them go
        // before the layer's own entries.
        for whiteout in &scanned.whiteouts {
            // A whiteout below something that is not a directory has nothing to hide.
            let (dir, name) = match whiteout {
                Whiteout::Name { dir, name } => (dir, Some(name)),
                Whiteout::Opaque { dir } => (dir, None),
            };
            let Ok(dir) = self.resolve(&components(dir)) else {
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
                .map_err(|r| (put.path.to_vec(), r))?;
        }
        Ok(())
    }

    fn put(&mut self, put: &Put, aufs_links: &HashMap<Name, usize>) -> Result<(), String> {
        let path = components(&put.path);
        let (name, parent) = path.split_last().expect("root entries are skipped");
        let parent = self.resolve(parent)?;
        // The path the output will carry: short as the layer's name may be, a symlinked
        // parent can make it longer than any path a runtime could create.
        let len = parent.iter().map(|c| c.len() + 1).sum::<usize>() + name.len();
        if len >= PATH_MAX {
            return Err(format!(
                "path of {len} bytes through symlinks is too long (the limit is {})",
                PATH_MAX - 1
            ));
        }
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
                let src = self.link_source(&components(target), aufs_links)?;
                // A hard link to a symlink goes out as a second symlink: some extractors
                // (Python's) would link to what the symlink points at, outside the root.
                if self.entries[src].kind != Kind::Symlink {
                    self.shared.insert(src);
                }
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
        if out.iter().map(|c| c.len() + 1).sum::<usize>() >= PATH_MAX {
            return Err("path through symlinks is too long".into());
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
        let missing = self.missing_dirs(path)?;
        for _ in 0..missing {
            self.count_node()?;
        }
        let mut children = &mut self.root;
        for c in path {
            let node = children.entry(c.clone()).or_insert_with(|| Node::Dir {
                meta: None,
                children: Children::new(),
            });
            match node {
                Node::Dir { children: next, .. } => children = next,
                Node::Leaf { .. } => unreachable!("missing_dirs checked the path"),
            }
        }
        Ok(children)
    }

    /// How many directories of `path` do not exist yet; an error if one is not a directory.
    fn missing_dirs(&self, path: &[Name]) -> Result<usize, String> {
        let mut children = Some(&self.root);
        let mut missing = 0;
        for (i, c) in path.iter().enumerate() {
            match children.and_then(|ch| ch.get(c)) {
                None => {
                    children = None;
                    missing += 1;
                }
                Some(Node::Dir { children: next, .. }) => children = Some(next),
                Some(Node::Leaf { .. }) => {
                    return Err(format!("{} is not a directory", join(&path[..=i])))
                }
            }
        }
        Ok(missing)
    }
}
