//! The files of an image source, whether it is a tar or a directory: named lookups, capped
//! reads of small JSON files, and streaming readers of large ones.
//!
//! A tar is indexed once (name, offset, size) and never loaded: each reader reads its own
//! range with positioned reads, so several can run at once. Names are checked before they are
//! used: a `..`, an absolute path or a link leaving the archive is an error, never a read
//! outside it, and a tar naming one file twice is refused rather than read either way. In a
//! directory, every path is resolved and must stay under the directory, so a symlink in
//! `blobs/` pointing elsewhere is refused.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// How many symlinks one lookup in a tar may follow before it is called a loop.
const MAX_LINK_HOPS: usize = 8;

/// The most entries a tar may have: an index is kept in memory, so it is bounded too.
const MAX_ENTRIES: usize = 1 << 20;

/// Where an image source's files live.
pub(crate) enum Files {
    Tar(TarFiles),
    Dir { root: PathBuf },
}

pub(crate) struct TarFiles {
    file: Arc<File>,
    entries: HashMap<String, TarEntry>,
}

#[derive(Clone, Debug)]
enum TarEntry {
    File {
        offset: u64,
        size: u64,
    },
    /// A symlink or hard link, its target already made relative to the archive's root.
    Link(String),
}

/// An error about the source `path`.
pub(crate) fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::manifest(path.display(), reason)
}

/// A name inside the source made canonical (`./a//b` is `a/b`), or None when it leaves the
/// root (`..` past it, or absolute).
pub(crate) fn clean_name(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    if name.starts_with('/') {
        return None;
    }
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Files {
    /// Opens `path`: a directory as it is, anything else as a tar, indexed here.
    pub(crate) fn open(path: &Path) -> Result<Files> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io_path("opening", path, e))?;
        if meta.is_dir() {
            let root = path
                .canonicalize()
                .map_err(|e| Error::io_path("opening", path, e))?;
            return Ok(Files::Dir { root });
        }
        let file = File::open(path).map_err(|e| Error::io_path("opening", path, e))?;
        Ok(Files::Tar(TarFiles::index(file, path)?))
    }

    /// True when `name` is a file of the source.
    pub(crate) fn exists(&self, name: &str) -> bool {
        match self {
            Files::Tar(t) => t.resolve(name).is_ok(),
            Files::Dir { root } => clean_name(name)
                .map(|n| root.join(n))
                .is_some_and(|p| p.is_file()),
        }
    }

    /// A reader of `name` and its size, checked to stay inside the source.
    pub(crate) fn open_file(&self, src: &Path, name: &str) -> Result<(Box<dyn Read + Send>, u64)> {
        match self {
            Files::Tar(t) => {
                let (offset, size) = t.resolve(name).map_err(|r| bad(src, r))?;
                let reader = RangeReader {
                    file: t.file.clone(),
                    pos: offset,
                    end: offset + size,
                };
                Ok((Box::new(reader), size))
            }
            Files::Dir { root } => {
                let path = inside(root, name).map_err(|r| bad(src, r))?;
                let file = File::open(&path).map_err(|e| Error::io_path("opening", &path, e))?;
                let meta = file
                    .metadata()
                    .map_err(|e| Error::io_path("reading", &path, e))?;
                if !meta.is_file() {
                    return Err(bad(src, format!("{name} is not a regular file")));
                }
                Ok((Box::new(file), meta.len()))
            }
        }
    }

    /// A reader of `name` from byte `start` on, and the file's whole size.
    pub(crate) fn open_file_at(
        &self,
        src: &Path,
        name: &str,
        start: u64,
    ) -> Result<(Box<dyn Read + Send>, u64)> {
        match self {
            Files::Tar(t) => {
                let (offset, size) = t.resolve(name).map_err(|r| bad(src, r))?;
                let reader = RangeReader {
                    file: t.file.clone(),
                    pos: offset + start.min(size),
                    end: offset + size,
                };
                Ok((Box::new(reader), size))
            }
            Files::Dir { root } => {
                let path = inside(root, name).map_err(|r| bad(src, r))?;
                let mut file =
                    File::open(&path).map_err(|e| Error::io_path("opening", &path, e))?;
                let meta = file
                    .metadata()
                    .map_err(|e| Error::io_path("reading", &path, e))?;
                if !meta.is_file() {
                    return Err(bad(src, format!("{name} is not a regular file")));
                }
                io::Seek::seek(&mut file, io::SeekFrom::Start(start.min(meta.len())))
                    .map_err(|e| Error::io_path("reading", &path, e))?;
                Ok((Box::new(file), meta.len()))
            }
        }
    }

    /// The whole of `name`, refused when larger than `cap` before any of it is read.
    pub(crate) fn read_capped(&self, src: &Path, name: &str, cap: u64) -> Result<Vec<u8>> {
        let (reader, size) = self.open_file(src, name)?;
        if size > cap {
            return Err(Error::TooLarge {
                what: format!("{}: {name}", src.display()),
                limit: cap,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("reading {name} in {}", src.display()), e))?;
        if bytes.len() as u64 != size {
            return Err(bad(src, format!("{name} changed while it was read")));
        }
        Ok(bytes)
    }
}

/// `root/name`, resolved through symlinks and checked to still be under `root`.
fn inside(root: &Path, name: &str) -> std::result::Result<PathBuf, String> {
    let clean = clean_name(name).ok_or_else(|| format!("path {name:?} leaves the source"))?;
    let path = root.join(&clean);
    let real = path.canonicalize().map_err(|e| format!("{clean}: {e}"))?;
    if !real.starts_with(root) {
        return Err(format!(
            "{clean} resolves outside the source, to {}",
            real.display()
        ));
    }
    Ok(real)
}

impl TarFiles {
    fn index(file: File, path: &Path) -> Result<TarFiles> {
        let mut archive = tar::Archive::new(&file);
        let mut entries = HashMap::new();
        let read_err = |e: io::Error| Error::io(format!("reading the tar {}", path.display()), e);
        for entry in archive.entries_with_seek().map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            if entries.len() >= MAX_ENTRIES {
                return Err(bad(path, format!("more than {MAX_ENTRIES} tar entries")));
            }
            let raw = entry.path_bytes();
            let raw = String::from_utf8_lossy(&raw).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() || kind.is_pax_global_extensions() {
                continue;
            }
            let name = clean_name(&raw)
                .ok_or_else(|| bad(path, format!("tar entry {raw:?} leaves the archive")))?;
            let value = if kind.is_file() || kind == tar::EntryType::Continuous {
                TarEntry::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                // A symlink is relative to its directory, a hard link to the archive root.
                let joined = match (kind.is_symlink(), name.rsplit_once('/')) {
                    (true, Some((dir, _))) => format!("{dir}/{target}"),
                    _ => target.clone(),
                };
                match clean_name(&joined) {
                    Some(t) if !target.starts_with('/') => TarEntry::Link(t),
                    // Such a link is refused only if something needs it.
                    _ => TarEntry::Link(String::new()),
                }
            } else {
                continue;
            };
            if entries.insert(name.clone(), value).is_some() {
                return Err(bad(path, format!("the tar holds {name} twice")));
            }
        }
        Ok(TarFiles {
            file: Arc::new(file),
            entries,
        })
    }

    /// The offset and size of `name`, following links inside the archive.
    fn resolve(&self, name: &str) -> std::result::Result<(u64, u64), String> {
        let mut current =
            clean_name(name).ok_or_else(|| format!("path {name:?} leaves the archive"))?;
        for _ in 0..MAX_LINK_HOPS {
            match self.entries.get(&current) {
                None => return Err(format!("no {current} in the archive")),
                Some(TarEntry::File { offset, size }) => return Ok((*offset, *size)),
                Some(TarEntry::Link(t)) if t.is_empty() => {
                    return Err(format!("{current} links outside the archive"))
                }
                Some(TarEntry::Link(t)) => current = t.clone(),
            }
        }
        Err(format!("{name}: too many links"))
    }
}

/// Reads `pos..end` of a shared file with positioned reads.
struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_escapes_refused() {
        assert_eq!(clean_name("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(clean_name("a/../b").as_deref(), Some("b"));
        assert_eq!(clean_name("../etc/passwd"), None);
        assert_eq!(clean_name("a/../../b"), None);
        assert_eq!(clean_name("/etc/passwd"), None);
        assert_eq!(clean_name("."), None);
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> tempfile::NamedTempFile {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(tmp.reopen().unwrap());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            // set_path refuses `..`; write the raw name as a hostile archive would.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.finish().unwrap();
        tmp
    }

    #[test]
    fn tar_entries_are_read_at_their_offsets_and_links_followed_inside() {
        use tar::EntryType as T;
        let tmp = tar_of(&[
            ("a/layer.tar", T::Regular, b"first", ""),
            ("b/layer.tar", T::Symlink, b"", "../a/layer.tar"),
            ("c.json", T::Regular, b"{}", ""),
        ]);
        let files = Files::open(tmp.path()).unwrap();
        let read = |n: &str| {
            let (mut r, size) = files.open_file(tmp.path(), n).unwrap();
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            assert_eq!(size as usize, s.len());
            s
        };
        assert_eq!(read("b/layer.tar"), "first");
        assert_eq!(read("./c.json"), "{}");
        assert!(files.read_capped(tmp.path(), "a/layer.tar", 3).is_err());
    }

    #[test]
    fn hostile_tars_are_refused() {
        use tar::EntryType as T;
        let escape = tar_of(&[("../x", T::Regular, b"x", "")]);
        assert!(Files::open(escape.path())
            .err()
            .unwrap()
            .to_string()
            .contains("leaves the archive"));
        let twice = tar_of(&[("x", T::Regular, b"1", ""), ("x", T::Regular, b"2", "")]);
        assert!(Files::open(twice.path())
            .err()
            .unwrap()
            .to_string()
            .contains("twice"));
        let out = tar_of(&[
            ("l", T::Symlink, b"", "../../etc/passwd"),
            ("abs", T::Symlink, b"", "/etc/passwd"),
        ]);
        let files = Files::open(out.path()).unwrap();
        for name in ["l", "abs"] {
            let err = files.open_file(out.path(), name).err().unwrap().to_string();
            assert!(err.contains("outside"), "{err}");
        }
        let looped = tar_of(&[("a", T::Symlink, b"", "b"), ("b", T::Symlink, b"", "a")]);
        let files = Files::open(looped.path()).unwrap();
        assert!(files.open_file(looped.path(), "a").is_err());
    }

    #[test]
    fn a_directory_symlink_leaving_the_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("blobs/x")).unwrap();
        let files = Files::open(dir.path()).unwrap();
        let err = files
            .open_file(dir.path(), "blobs/x")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("outside the source"), "{err}");
        assert!(files.open_file(dir.path(), "../x").is_err());
    }
}
