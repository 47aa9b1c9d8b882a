//! The content-addressed blob store (the cache) that every pull downloads into.
//!
//! Blobs enter it only after verification, by rename from a temporary file, so a file under
//! `blobs/` or `diffs/` is always complete and correct and several `drag` processes can share
//! one store. Output writers read from here; with `--no-cache` the store is a temporary
//! directory removed after the pull.
//!
//! Layout: `blobs/<alg>/<hex>` holds blobs as served, `diffs/<alg>/<hex>` uncompressed layers
//! named by diff ID, `tmp/` downloads in progress.
//!
//! Every file the store writes (blobs, manifests, partial downloads) gets the mode a plain
//! create asks for, 0666 less the umask (0644 usually), whichever path wrote it.
//!
//! A store may sit over a read-only *lower* store that lookups fall through to: when the
//! user's cache cannot be written, a pull still finds what it holds and writes the rest to a
//! temporary store (see [`crate::pull_stores`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::file_mode::new_file_mode;
use crate::user_dirs;

pub struct BlobStore {
    root: PathBuf,
    /// Keeps a `--no-cache` store alive for the pull, and removes it afterwards.
    _temporary: Option<(tempfile::TempDir, Option<crate::leftovers::Claim>)>,
    /// Looked in when this store lacks a file; never written.
    lower: Option<Arc<BlobStore>>,
}

/// Which side of the store a file lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Blobs as the registry served them, named by their digest.
    Blob,
    /// Uncompressed layers, named by their diff ID.
    Diff,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Blob => "blobs",
            Kind::Diff => "diffs",
        }
    }
}

impl BlobStore {
    /// The cache directory: `$DRAG_CACHE_DIR`, else `$XDG_CACHE_HOME/drag`, else
    /// `~/.cache/drag`.
    pub fn default_dir() -> Option<PathBuf> {
        user_dirs::env_path("DRAG_CACHE_DIR")
            .or_else(|| user_dirs::cache_home().map(|p| p.join("drag")))
    }

    /// The store at `root`, created if missing, after checking that a file can be created
    /// in it: a read-only or foreign-owned cache fails here, before any download, rather than
    /// in the middle of one.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore> {
        let root = root.into();
        for d in ["blobs", "diffs", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p)
                .map_err(|e| Error::io_path("creating cache directory", &p, e))?;
        }
        let store = BlobStore {
            root,
            _temporary: None,
            lower: None,
        };
        drop(store.temp_file()?);
        Ok(store)
    }

    /// The store at `root` for lookups only, when it is there: nothing is created or written.
    pub fn open_read_only(root: &Path) -> Option<BlobStore> {
        root.join("blobs").is_dir().then(|| BlobStore {
            root: root.to_path_buf(),
            _temporary: None,
            lower: None,
        })
    }

    /// This store, falling back to `lower` for files it lacks.
    pub fn over(mut self, lower: Option<Arc<BlobStore>>) -> BlobStore {
        self.lower = lower;
        self
    }

    /// A store that lives only as long as this value, in `parent` (so renames out of it stay
    /// on one file system).
    pub fn temporary_in(parent: &Path) -> Result<BlobStore> {
        const PREFIX: &str = ".drag-store-";
        crate::leftovers::sweep(parent, PREFIX, "");
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(parent)
            .map_err(|e| Error::io_path("creating a temporary store in", parent, e))?;
        let claim = crate::leftovers::claim(dir.path());
        let mut store = BlobStore::open(dir.path())?;
        store._temporary = Some((dir, claim));
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the store is removed after the pull (`--no-cache`, or a cache that could not
    /// be written): what it holds then need not survive a crash, so it is not synced.
    pub fn is_temporary(&self) -> bool {
        self._temporary.is_some()
    }

    pub fn path(&self, kind: Kind, digest: &Digest) -> PathBuf {
        self.root
            .join(kind.dir())
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The stored file, if present (and of the expected size, when one is known), here or
    /// in the lower store.
    pub fn lookup(&self, kind: Kind, digest: &Digest, size: Option<u64>) -> Option<PathBuf> {
        let p = self.path(kind, digest);
        match fs::metadata(&p) {
            Ok(meta) if meta.is_file() && size.is_none_or(|s| s == meta.len()) => {
                touch(&p);
                Some(p)
            }
            _ => self.lower.as_ref()?.lookup(kind, digest, size),
        }
    }

    /// Where downloads in progress live.
    pub fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A new temporary file for a download in progress (or a manifest), with the mode every
    /// stored file gets.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.temp_dir();
        new_file_mode(tempfile::Builder::new().prefix("dl-"))
            .tempfile_in(&dir)
            .map_err(|e| Error::io_path("creating a temporary file in", &dir, e))
    }

    /// The file of a download in progress that outlives the process
    /// (`tmp/<alg>-<hex>.partial`), opened for appending and locked, with its current length,
    /// so an interrupted pull resumes where it stopped. None when another process holds it.
    pub fn open_partial(&self, digest: &Digest) -> Result<Option<(tempfile::NamedTempFile, u64)>> {
        let path = self.temp_dir().join(format!(
            "{}-{}.partial",
            digest.algorithm().as_str(),
            digest.hex()
        ));
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io_path("opening", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io_path("locking", &path, e)),
        }
        let len = std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))
            .map_err(|e| Error::io_path("opening", &path, e))?;
        let temp_path = tempfile::TempPath::try_from_path(&path)
            .map_err(|e| Error::io_path("opening", &path, e))?;
        let tmp = tempfile::NamedTempFile::from_parts(file, temp_path);
        Ok(Some((tmp, len)))
    }

    /// Moves a verified temporary file into place. The caller has synced it to disk (the blob
    /// workers do, off the async threads), so a crash never leaves a short file under a
    /// verified name.
    pub fn commit(
        &self,
        kind: Kind,
        digest: &Digest,
        tmp: tempfile::NamedTempFile,
    ) -> Result<PathBuf> {
        let dest = self.path(kind, digest);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io_path("creating", parent, e))?;
        }
        tmp.persist(&dest)
            .map_err(|e| Error::io_path("storing blob at", &dest, e.error))?;
        Ok(dest)
    }

    /// Records an existing verified file under another name too (an uncompressed layer is its
    /// own diff).
    pub fn link(&self, from: &Path, kind: Kind, digest: &Digest) -> Result<PathBuf> {
        let dest = self.path(kind, digest);
        if dest.exists() {
            return Ok(dest);
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io_path("creating", parent, e))?;
        }
        let tmp = self.temp_file()?;
        let tmp_path = tmp.into_temp_path();
        let _ = fs::remove_file(&tmp_path);
        if fs::hard_link(from, &tmp_path).is_err() {
            fs::copy(from, &tmp_path).map_err(|e| Error::io_path("copying", from, e))?;
        }
        fs::rename(&tmp_path, &dest).map_err(|e| Error::io_path("storing", &dest, e))?;
        // The rename consumed the file; keep TempPath from deleting `dest`'s old name.
        let _ = tmp_path.keep();
        Ok(dest)
    }
}

/// Marks a blob as recently used, for `cache prune --older-than`.
fn touch(p: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(p) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Creates `path`'s parent directories, and returns the directory `path` is in (`.` for a
/// bare file name).
pub fn ensure_parent(path: &Path) -> Result<PathBuf> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            fs::create_dir_all(p).map_err(|e| Error::io_path("creating", p, e))?;
            Ok(p.to_path_buf())
        }
        _ => Ok(PathBuf::from(".")),
    }
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobStore({})", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn commit_then_lookup_by_digest_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"hello");
        assert!(store.lookup(Kind::Blob, &d, Some(5)).is_none());
        let mut t = store.temp_file().unwrap();
        t.write_all(b"hello").unwrap();
        let p = store.commit(Kind::Blob, &d, t).unwrap();
        assert_eq!(store.lookup(Kind::Blob, &d, Some(5)), Some(p.clone()));
        assert!(store.lookup(Kind::Blob, &d, Some(6)).is_none());
        let linked = store.link(&p, Kind::Diff, &d).unwrap();
        assert_eq!(fs::read(linked).unwrap(), b"hello");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_lookup_falls_through_to_the_lower_store_and_writes_stay_above() {
        let lower_dir = tempfile::tempdir().unwrap();
        let lower = BlobStore::open(lower_dir.path()).unwrap();
        let d = Digest::sha256_of(b"cached");
        let mut t = lower.temp_file().unwrap();
        t.write_all(b"cached").unwrap();
        let in_lower = lower.commit(Kind::Blob, &d, t).unwrap();
        let read_only = BlobStore::open_read_only(lower_dir.path()).map(Arc::new);
        assert!(read_only.is_some(), "an existing store opens for reading");
        let upper_dir = tempfile::tempdir().unwrap();
        let upper = BlobStore::temporary_in(upper_dir.path())
            .unwrap()
            .over(read_only);
        assert_eq!(upper.lookup(Kind::Blob, &d, Some(6)), Some(in_lower));
        assert!(
            upper.lookup(Kind::Blob, &d, Some(7)).is_none(),
            "size still checked"
        );
        let other = Digest::sha256_of(b"new");
        let mut t = upper.temp_file().unwrap();
        t.write_all(b"new").unwrap();
        let stored = upper.commit(Kind::Blob, &other, t).unwrap();
        assert!(stored.starts_with(upper.root()), "{}", stored.display());
        assert!(!lower.path(Kind::Blob, &other).exists());
    }

    #[test]
    fn a_store_where_no_file_can_be_created_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, "").unwrap();
        let e = BlobStore::open(file.join("cache")).unwrap_err();
        assert!(e.to_string().contains("creating cache directory"), "{e}");
        assert!(BlobStore::open_read_only(&file.join("cache")).is_none());
    }

    #[test]
    fn temporary_store_disappears() {
        let dir = tempfile::tempdir().unwrap();
        let root = {
            let s = BlobStore::temporary_in(dir.path()).unwrap();
            s.root().to_path_buf()
        };
        assert!(!root.exists());
    }
}
