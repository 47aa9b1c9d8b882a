//! The content-addressed blob store (the cache) that every pull downloads into.
//!
//! Blobs enter it only after verification, by rename from a temporary file, so several `drag`
//! processes can share one store and a stored file is complete and correct. Output writers read
//! from here; with `--no-cache` the store is a temporary directory removed after the pull.
//!
//! Layout: `blobs/<alg>/<hex>` holds blobs as served, `diffs/<alg>/<hex>` uncompressed layers
//! named by diff ID, both synced to disk; `unsynced/<boot>/<blobs|diffs>/<alg>/<hex>` the same,
//! stored without a sync and trusted only within the boot that wrote them (see [`unsynced`]);
//! `tmp/` downloads in progress. Where the system names no boot, every entry is synced and
//! stored under its durable name.
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

pub(crate) mod boot;
pub(crate) mod unsynced;

pub struct BlobStore {
    root: PathBuf,
    /// Keeps a `--no-cache` store alive for the pull, and removes it afterwards.
    _temporary: Option<(tempfile::TempDir, Option<crate::leftovers::Claim>)>,
    /// Looked in when this store lacks a file; never written.
    lower: Option<Arc<BlobStore>>,
    /// The boot this process runs in, for a persistent store on a system that names boots:
    /// entries are then stored unsynced under `unsynced/<boot>/`. None: a temporary store
    /// (nothing synced, nothing tagged), or a system without boot names (everything synced).
    boot: Option<String>,
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
        Self::open_in_boot(root, boot::current())
    }

    /// [`BlobStore::open`] as the process of boot `boot` would (None: a system without boot
    /// names); tests play reboots with it.
    pub(crate) fn open_in_boot(root: impl Into<PathBuf>, boot: Option<&str>) -> Result<BlobStore> {
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
            boot: boot.filter(|b| boot::valid(b)).map(str::to_string),
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
            boot: boot::current().map(str::to_string),
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
        let mut store = BlobStore::open_in_boot(dir.path(), None)?;
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

    /// Whether a file must be synced before it is committed: a persistent store where no boot
    /// name can tag it as unsynced. The blob workers sync, off the async threads.
    pub fn syncs_on_commit(&self) -> bool {
        !self.is_temporary() && self.boot.is_none()
    }

    /// The durable name of an entry (`blobs/<alg>/<hex>`, `diffs/<alg>/<hex>`).
    pub fn path(&self, kind: Kind, digest: &Digest) -> PathBuf {
        self.root.join(relative(kind, digest))
    }

    /// Where this process commits an entry: under its boot when it does not sync, else the
    /// durable name.
    fn commit_path(&self, kind: Kind, digest: &Digest) -> PathBuf {
        match &self.boot {
            Some(boot) => self
                .root
                .join(unsynced::DIR)
                .join(boot)
                .join(relative(kind, digest)),
            None => self.path(kind, digest),
        }
    }

    /// The stored file, if present (and of the expected size, when one is known), here or
    /// in the lower store. Looked for under its durable name, then as this boot stored it
    /// unsynced, then as an earlier boot did (rehashed, and promoted to the durable name when
    /// it still matches: see [`unsynced`]).
    pub fn lookup(&self, kind: Kind, digest: &Digest, size: Option<u64>) -> Option<PathBuf> {
        let fits = |p: &Path| {
            fs::metadata(p).is_ok_and(|m| m.is_file() && size.is_none_or(|s| s == m.len()))
        };
        let durable = self.path(kind, digest);
        let found = if fits(&durable) {
            Some(durable)
        } else if let Some(p) = Some(self.commit_path(kind, digest)).filter(|p| fits(p)) {
            Some(p)
        } else if self.is_temporary() {
            None
        } else {
            unsynced::recover(
                &self.root,
                self.boot.as_deref(),
                &relative(kind, digest),
                digest,
                size,
                &durable,
            )
        };
        match found {
            Some(p) => {
                touch(&p);
                Some(p)
            }
            None => self.lower.as_ref()?.lookup(kind, digest, size),
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

    /// Moves a verified temporary file into place: under this boot's `unsynced/` when the
    /// store tags entries by boot, else under its durable name, the caller having synced it
    /// when [`BlobStore::syncs_on_commit`] says so. Either way a crash never leaves a short
    /// file trusted under a verified name. Two processes committing one digest end with one
    /// entry (the later rename replaces the earlier file with the same bytes).
    pub fn commit(
        &self,
        kind: Kind,
        digest: &Digest,
        tmp: tempfile::NamedTempFile,
    ) -> Result<PathBuf> {
        let dest = self.commit_path(kind, digest);
        let mut tmp = tmp;
        // Twice: a `drag cache prune` may remove an emptied directory between the two steps.
        for _ in 0..2 {
            create_parent(&dest)?;
            match tmp.persist(&dest) {
                Ok(_) => return Ok(dest),
                Err(e) if e.error.kind() == std::io::ErrorKind::NotFound => tmp = e.file,
                Err(e) => return Err(Error::io_path("storing blob at", &dest, e.error)),
            }
        }
        Err(Error::io_path(
            "storing blob at",
            &dest,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ))
    }

    /// Records an existing verified file under another name too (an uncompressed layer is its
    /// own diff). A hard link to a durable file is durable; a link to an unsynced entry, or a
    /// copy, is stored as [`BlobStore::commit`] stores.
    pub fn link(&self, from: &Path, kind: Kind, digest: &Digest) -> Result<PathBuf> {
        let durable = self.path(kind, digest);
        if durable.is_file() {
            return Ok(durable);
        }
        let unsynced_dest = self.commit_path(kind, digest);
        if unsynced_dest.is_file() {
            return Ok(unsynced_dest);
        }
        let tmp = self.temp_file()?;
        let tmp_path = tmp.into_temp_path();
        let _ = fs::remove_file(&tmp_path);
        let linked = fs::hard_link(from, &tmp_path).is_ok();
        if !linked {
            fs::copy(from, &tmp_path).map_err(|e| Error::io_path("copying", from, e))?;
            if self.syncs_on_commit() {
                fs::File::open(&tmp_path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Error::io_path("syncing", &tmp_path, e))?;
            }
        }
        let from_unsynced = from.starts_with(self.root.join(unsynced::DIR));
        let dest = if linked && !from_unsynced {
            durable
        } else {
            unsynced_dest
        };
        create_parent(&dest)?;
        fs::rename(&tmp_path, &dest).map_err(|e| Error::io_path("storing", &dest, e))?;
        // The rename consumed the file; keep TempPath from deleting `dest`'s old name.
        let _ = tmp_path.keep();
        Ok(dest)
    }
}

/// An entry's path under a store (or under one boot's `unsynced/` directory).
fn relative(kind: Kind, digest: &Digest) -> PathBuf {
    Path::new(kind.dir())
        .join(digest.algorithm().as_str())
        .join(digest.hex())
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => {
            fs::create_dir_all(parent).map_err(|e| Error::io_path("creating", parent, e))
        }
        None => Ok(()),
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
