//! The content-addressed blob store (the cache) that every pull downloads into.
//!
//! Blobs enter it only after verification, by rename from a temporary file, so a file under
//! `blobs/` or `diffs/` is always complete and correct and several `drag` processes can share
//! one store. Output writers read from here; with `--no-cache` the store is a temporary
//! directory removed after the pull.
//!
//! Layout: `blobs/<alg>/<hex>` holds blobs as served, `diffs/<alg>/<hex>` uncompressed layers
//! named by diff ID, `tmp/` downloads in progress.

use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::user_dirs;

pub struct BlobStore {
    root: PathBuf,
    /// Keeps a `--no-cache` store alive for the pull, and removes it afterwards.
    _temporary: Option<(tempfile::TempDir, Option<crate::leftovers::Claim>)>,
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

    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore> {
        let root = root.into();
        for d in ["blobs", "diffs", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p)
                .map_err(|e| Error::io_path("creating cache directory", &p, e))?;
        }
        Ok(BlobStore {
            root,
            _temporary: None,
        })
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

    pub fn path(&self, kind: Kind, digest: &Digest) -> PathBuf {
        self.root
            .join(kind.dir())
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The stored file, if present (and of the expected size, when one is known).
    pub fn lookup(&self, kind: Kind, digest: &Digest, size: Option<u64>) -> Option<PathBuf> {
        let p = self.path(kind, digest);
        let meta = fs::metadata(&p).ok()?;
        if !meta.is_file() || size.is_some_and(|s| s != meta.len()) {
            return None;
        }
        touch(&p);
        Some(p)
    }

    /// Where downloads in progress live.
    pub fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A new temporary file for a download in progress.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.temp_dir();
        tempfile::Builder::new()
            .prefix("dl-")
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
    fn temporary_store_disappears() {
        let dir = tempfile::tempdir().unwrap();
        let root = {
            let s = BlobStore::temporary_in(dir.path()).unwrap();
            s.root().to_path_buf()
        };
        assert!(!root.exists());
    }
}
