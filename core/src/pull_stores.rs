//! Where one pull keeps blobs: the user's cache while it can be written, else a temporary store
//! beside the output, as `--no-cache` uses.
//!
//! A cache is a convenience: one that cannot be created or written (a path under a file, a
//! read-only mount, another user's directory), or that fills up in the middle of a pull (no
//! space, a quota), must not fail a pull that has somewhere else to put its blobs. So the pull
//! warns once, through the progress sink, and goes on: what the cache already holds is still
//! read from it, and new blobs go to a temporary store removed after the pull. A blob whose
//! write into the cache failed is fetched again into the temporary store; when the output's
//! disk is full too, that fails in turn, and that error is the one reported.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::blob::{self, BlobJob, Fetched, Stores};
use crate::error::{Error, Result};
use crate::output::Place;
use crate::progress::{Event, Progress};
use crate::pull::Cache;
use crate::registry::Session;
use crate::store::BlobStore;

/// The stores of one pull; they live until its output is written.
pub(crate) struct PullStores {
    /// The user's cache, when the pull uses one and it could be written at the start.
    cache: Option<(PathBuf, Arc<BlobStore>)>,
    /// Where blobs go now: the cache, or the temporary store that replaced it.
    blobs: Mutex<Arc<BlobStore>>,
    /// Where uncompressed layers go, when the pull needs them as files (see `blob::Stores`).
    diffs: Option<BlobStore>,
    /// The cache manifests are read from and kept in (only read, when it cannot be written).
    manifests: Option<Arc<BlobStore>>,
    /// Where the output goes: temporary stores are made beside it.
    place: Place,
}

impl PullStores {
    /// Opens the stores for a pull writing to `place`, with a scratch store for uncompressed
    /// layers when `diffs` is set. An unusable cache is reported to `progress` and replaced.
    pub fn open(
        cache: &Cache,
        place: &Place,
        diffs: bool,
        progress: &dyn Progress,
    ) -> Result<PullStores> {
        let (cache, blobs, manifests) = match cache {
            Cache::Dir(dir) => match BlobStore::open(dir) {
                Ok(store) => {
                    let store = Arc::new(store);
                    (
                        Some((dir.clone(), store.clone())),
                        store.clone(),
                        Some(store),
                    )
                }
                Err(e) => {
                    warn(progress, dir, &e);
                    let read_only = BlobStore::open_read_only(dir).map(Arc::new);
                    let temporary = temporary_beside(place)?.over(read_only.clone());
                    (None, Arc::new(temporary), read_only)
                }
            },
            Cache::Disabled => (None, Arc::new(temporary_beside(place)?), None),
        };
        Ok(PullStores {
            cache,
            blobs: Mutex::new(blobs),
            diffs: diffs.then(|| temporary_beside(place)).transpose()?,
            manifests,
            place: place.clone(),
        })
    }

    /// The store a registry session keeps manifests in, if any.
    pub fn manifest_cache(&self) -> Option<Arc<BlobStore>> {
        self.manifests.clone()
    }

    /// Brings a blob into the current store (see [`blob::fetch`]). A failure to write it into
    /// the cache for want of room or permission moves the pull off the cache, and the blob is
    /// fetched again into a temporary store.
    pub async fn fetch(
        &self,
        session: &Session,
        job: &BlobJob,
        progress: &dyn Progress,
    ) -> Result<Fetched> {
        let store = self.current();
        match blob::fetch(session, self.stores(&store), job, progress).await {
            Err(e) if self.is_cache(&store) && is_cache_write_failure(&e) => {
                let store = self.leave_cache(&store, &e, progress)?;
                blob::fetch(session, self.stores(&store), job, progress).await
            }
            other => other,
        }
    }

    /// Where the blobs of a store removed after the pull are, when the pull writes to one: an
    /// output may take them over (link them) instead of copying them.
    pub fn temporary_root(&self) -> Option<PathBuf> {
        let store = self.current();
        store.is_temporary().then(|| store.root().to_path_buf())
    }

    fn current(&self) -> Arc<BlobStore> {
        self.blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn stores<'a>(&'a self, blobs: &'a BlobStore) -> Stores<'a> {
        Stores {
            blobs,
            diffs: self.diffs.as_ref().unwrap_or(blobs),
        }
    }

    fn is_cache(&self, store: &Arc<BlobStore>) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|(_, cache)| Arc::ptr_eq(cache, store))
    }

    /// Replaces the cache with a temporary store over it, once: of several downloads failing
    /// together, the first warns and the others find the replacement made.
    fn leave_cache(
        &self,
        failed: &Arc<BlobStore>,
        e: &Error,
        progress: &dyn Progress,
    ) -> Result<Arc<BlobStore>> {
        let mut current = self
            .blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if Arc::ptr_eq(&current, failed) {
            let temporary = temporary_beside(&self.place)?.over(Some(failed.clone()));
            if let Some((dir, _)) = &self.cache {
                warn(progress, dir, e);
            }
            *current = Arc::new(temporary);
        }
        Ok(current.clone())
    }
}

/// The manifest cache for a command that stores nothing else (`inspect`): the cache when it
/// can be written; else, after a warning, the cache read as it is (when it exists at all).
pub(crate) fn manifest_cache(cache: &Cache, progress: &dyn Progress) -> Option<Arc<BlobStore>> {
    let Cache::Dir(dir) = cache else {
        return None;
    };
    match BlobStore::open(dir) {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => {
            warn(progress, dir, &e);
            BlobStore::open_read_only(dir).map(Arc::new)
        }
    }
}

/// A store removed after the pull, beside the output so its files can be renamed into it;
/// never beside a device (that would be /dev for `-o /dev/null`).
fn temporary_beside(place: &Place) -> Result<BlobStore> {
    let dir = match place {
        Place::Replace(p) => crate::store::ensure_parent(p)?,
        Place::Stream(_) | Place::Stdout => std::env::temp_dir(),
    };
    BlobStore::temporary_in(&dir)
}

/// True for the errors a cache that is full or cannot be written gives: the blob worker reports
/// them as file system errors, with the system's own error.
fn is_cache_write_failure(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => matches!(
            source.kind(),
            ErrorKind::StorageFull
                | ErrorKind::QuotaExceeded
                | ErrorKind::FileTooLarge
                | ErrorKind::ReadOnlyFilesystem
                | ErrorKind::PermissionDenied
        ),
        _ => false,
    }
}

/// The one line that says the cache is not used, why (the system's words, when the system
/// refused), and what to do about it.
fn warn(progress: &dyn Progress, dir: &Path, e: &Error) {
    let why = match e {
        Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    progress.event(Event::Note(format!(
        "warning: cannot write to the cache at {}: {why}; going on without it (set \
         DRAG_CACHE_DIR to a writable directory, or use --no-cache)",
        dir.display()
    )));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn only_a_full_or_unwritable_file_system_moves_a_pull_off_the_cache() {
        for kind in [
            ErrorKind::StorageFull,
            ErrorKind::QuotaExceeded,
            ErrorKind::ReadOnlyFilesystem,
            ErrorKind::PermissionDenied,
        ] {
            let e = Error::io("layer 1/1", io::Error::from(kind));
            assert!(is_cache_write_failure(&e), "{kind:?}");
        }
        let cut = Error::io("layer 1/1", io::Error::from(ErrorKind::UnexpectedEof));
        assert!(
            !is_cache_write_failure(&cut),
            "an interrupted transfer is not the cache's"
        );
        assert!(!is_cache_write_failure(&Error::Usage("x".into())));
    }

    #[test]
    fn an_unusable_cache_is_one_warning_and_a_temporary_store() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let notes = Mutex::new(Vec::new());
        let progress = crate::progress::FnProgress(|e| {
            if let Event::Note(n) = e {
                notes.lock().unwrap().push(n);
            }
        });
        let out = Place::Replace(dir.path().join("out.tar"));
        let stores = PullStores::open(&Cache::Dir(file.join("cache")), &out, false, &progress)
            .expect("a pull goes on without its cache");
        let notes = notes.into_inner().unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("warning: cannot write to the cache at "));
        assert!(notes[0].contains("DRAG_CACHE_DIR"), "{}", notes[0]);
        assert!(stores.manifest_cache().is_none());
        assert!(
            stores.current().root().starts_with(dir.path()),
            "the temporary store is beside the output"
        );
    }
}
