//! Store entries kept without a sync, and what becomes of them after a reboot.
//!
//! Syncing every blob before storing it costs a cold pull about as much as downloading it (this
//! kind of disk writes 500 MiB durably in 1.0–1.4 s). So a verified file the store did not sync
//! is stored, by the same rename into place, under `unsynced/<boot>/<blobs|diffs>/<alg>/<hex>`,
//! where `<boot>` names the boot that wrote it ([`super::boot`]). Within that boot it is trusted
//! as it is: the kernel serves every reader what was written. After a reboot it may be short,
//! or zeroed in places, under its verified name; so an entry of another boot is rehashed once
//! before any use: when it still matches, it is synced and renamed to its durable name
//! (`blobs/…`, `diffs/…`, trusted from then on without rehashing), else it is removed. An old
//! boot's directory goes once it is empty.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// The directory, under the store's root, of entries not yet synced.
pub(crate) const DIR: &str = "unsynced";

/// The entry `rel` (`blobs/<alg>/<hex>`) of a boot other than `current`, made trustworthy:
/// the first one found that still hashes to `digest` (reading at most `size` bytes when the
/// size is known) is promoted to `durable` and that path returned. Entries that do not match
/// are removed. None when no boot holds a good copy.
pub(super) fn recover(
    root: &Path,
    current: Option<&str>,
    rel: &Path,
    digest: &Digest,
    size: Option<u64>,
    durable: &Path,
) -> Option<PathBuf> {
    let boots = fs::read_dir(root.join(DIR)).ok()?;
    for boot in boots.flatten() {
        if current.is_some_and(|c| boot.file_name() == c) {
            continue;
        }
        let boot_dir = boot.path();
        let candidate = boot_dir.join(rel);
        if !fs::symlink_metadata(&candidate).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let found = if digest.matches_file(&candidate, size) {
            match promote(&candidate, durable) {
                Ok(()) => Some(durable.to_path_buf()),
                // Another process promoted it first.
                Err(_) if durable.is_file() => Some(durable.to_path_buf()),
                // A cache we may only read: the copy was checked just now, use it as it is.
                Err(_) => Some(candidate.clone()),
            }
        } else {
            let _ = fs::remove_file(&candidate);
            None
        };
        remove_empty_parents(&candidate, &boot_dir);
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Removes the empty directories of boots other than `current` (after a prune has emptied
/// them). The current boot's are left: a pull may be about to store into them.
pub(crate) fn remove_empty_boots(root: &Path, current: Option<&str>) {
    let Ok(boots) = fs::read_dir(root.join(DIR)) else {
        return;
    };
    for boot in boots.flatten() {
        if current.is_some_and(|c| boot.file_name() == c) {
            continue;
        }
        remove_empty_tree(&boot.path());
    }
}

/// Removes `dir` and its subdirectories when they hold no file; true when it is gone.
fn remove_empty_tree(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let mut empty = true;
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !(is_dir && remove_empty_tree(&entry.path())) {
            empty = false;
        }
    }
    empty && fs::remove_dir(dir).is_ok()
}

/// Removes the directories from `file`'s parent up to `boot_dir` that are now empty.
fn remove_empty_parents(file: &Path, boot_dir: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| d.starts_with(boot_dir)) {
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Makes the checked file at `from` durable, then gives it its durable name `to` (whose
/// directory is synced, so the name survives too).
fn promote(from: &Path, to: &Path) -> io::Result<()> {
    File::open(from)?.sync_all()?;
    let parent = to.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    fs::rename(from, to)?;
    File::open(parent)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::{BlobStore, Kind};
    use super::*;

    const BOOT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
    const BOOT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

    fn commit(store: &BlobStore, bytes: &[u8]) -> (Digest, PathBuf) {
        let d = Digest::sha256_of(bytes);
        let mut t = store.temp_file().unwrap();
        t.write_all(bytes).unwrap();
        let p = store.commit(Kind::Blob, &d, t).unwrap();
        (d, p)
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        crate::cache::files_under(dir, &mut found).unwrap();
        found.into_iter().map(|f| f.path).collect()
    }

    #[test]
    fn an_entry_stored_in_this_boot_is_trusted_without_rehashing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        assert!(!store.syncs_on_commit());
        let (d, p) = commit(&store, b"hello world");
        assert!(p.starts_with(dir.path().join(DIR).join(BOOT_A).join("blobs")));
        assert!(
            !store.path(Kind::Blob, &d).exists(),
            "not under its durable name"
        );
        // Same size, other bytes: only a rehash would notice.
        fs::write(&p, b"HELLO WORLD").unwrap();
        assert_eq!(store.lookup(Kind::Blob, &d, Some(11)), Some(p.clone()));
        assert_eq!(fs::read(&p).unwrap(), b"HELLO WORLD");
        // Another process of the same boot trusts it too.
        let other = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        assert_eq!(other.lookup(Kind::Blob, &d, Some(11)), Some(p));
    }

    #[test]
    fn after_a_reboot_damaged_or_short_entries_are_removed_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let before = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        let (zeroed, zeroed_path) = commit(&before, b"hello world");
        let (short, short_path) = commit(&before, b"a longer blob");
        fs::write(&zeroed_path, [0u8; 11]).unwrap();
        fs::write(&short_path, b"a longer").unwrap();
        let after = BlobStore::open_in_boot(dir.path(), Some(BOOT_B)).unwrap();
        assert_eq!(after.lookup(Kind::Blob, &zeroed, Some(11)), None);
        assert_eq!(after.lookup(Kind::Blob, &short, Some(13)), None);
        assert!(!zeroed_path.exists() && !short_path.exists());
        assert!(!after.path(Kind::Blob, &zeroed).exists());
        assert!(
            !dir.path().join(DIR).join(BOOT_A).exists(),
            "the old boot's emptied directory goes"
        );
    }

    #[test]
    fn after_a_reboot_an_intact_entry_is_promoted_to_its_durable_name() {
        let dir = tempfile::tempdir().unwrap();
        let before = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        let (d, p) = commit(&before, b"hello world");
        let (kept, kept_path) = commit(&before, b"not looked up yet");
        let after = BlobStore::open_in_boot(dir.path(), Some(BOOT_B)).unwrap();
        let durable = after.path(Kind::Blob, &d);
        assert_eq!(
            after.lookup(Kind::Blob, &d, Some(11)),
            Some(durable.clone())
        );
        assert_eq!(fs::read(&durable).unwrap(), b"hello world");
        assert!(!p.exists(), "moved, not copied");
        assert!(kept_path.exists(), "an entry not looked up stays for later");
        // Found under its durable name from then on, in any boot, without another rehash.
        fs::write(&durable, b"HELLO WORLD").unwrap();
        let later = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        assert_eq!(later.lookup(Kind::Blob, &d, Some(11)), Some(durable));
        assert_eq!(
            later.lookup(Kind::Blob, &kept, None),
            Some(kept_path),
            "boot A's own entry is still trusted in boot A"
        );
    }

    #[test]
    fn a_blob_committed_twice_by_racing_processes_ends_as_one_good_entry() {
        let dir = tempfile::tempdir().unwrap();
        let one = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        let two = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        let d = Digest::sha256_of(b"raced");
        let mut first = one.temp_file().unwrap();
        let mut second = two.temp_file().unwrap();
        first.write_all(b"raced").unwrap();
        second.write_all(b"raced").unwrap();
        let p1 = one.commit(Kind::Blob, &d, first).unwrap();
        let p2 = two.commit(Kind::Blob, &d, second).unwrap();
        assert_eq!(p1, p2);
        assert_eq!(files(&dir.path().join(DIR)), vec![p1.clone()]);
        assert!(files(&dir.path().join("tmp")).is_empty());
        assert!(files(&dir.path().join("blobs")).is_empty());
        assert_eq!(fs::read(&p1).unwrap(), b"raced");
        // After a reboot, two processes finding it: one promotes, the other finds it promoted.
        let b1 = BlobStore::open_in_boot(dir.path(), Some(BOOT_B)).unwrap();
        let b2 = BlobStore::open_in_boot(dir.path(), Some(BOOT_B)).unwrap();
        let durable = b1.path(Kind::Blob, &d);
        assert_eq!(b1.lookup(Kind::Blob, &d, Some(5)), Some(durable.clone()));
        assert_eq!(b2.lookup(Kind::Blob, &d, Some(5)), Some(durable.clone()));
        assert_eq!(files(dir.path()), vec![durable]);
    }

    #[test]
    fn a_layer_that_is_its_own_diff_is_stored_where_its_blob_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_in_boot(dir.path(), Some(BOOT_A)).unwrap();
        let (d, p) = commit(&store, b"plain layer");
        let diff = store.link(&p, Kind::Diff, &d).unwrap();
        assert!(diff.starts_with(dir.path().join(DIR).join(BOOT_A).join("diffs")));
        assert_eq!(store.lookup(Kind::Diff, &d, None), Some(diff));
        // Promoted after a reboot, its diff link goes under the durable name.
        let after = BlobStore::open_in_boot(dir.path(), Some(BOOT_B)).unwrap();
        let durable = after.lookup(Kind::Blob, &d, Some(11)).unwrap();
        assert_eq!(durable, after.path(Kind::Blob, &d));
        let other = Digest::sha256_of(b"other name");
        assert_eq!(
            after.link(&durable, Kind::Diff, &other).unwrap(),
            after.path(Kind::Diff, &other)
        );
    }

    #[test]
    fn without_a_boot_name_entries_are_synced_under_their_durable_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_in_boot(dir.path(), None).unwrap();
        assert!(store.syncs_on_commit());
        let (d, p) = commit(&store, b"synced");
        assert_eq!(p, store.path(Kind::Blob, &d));
        assert!(!dir.path().join(DIR).exists());
        let scratch = BlobStore::temporary_in(dir.path()).unwrap();
        assert!(!scratch.syncs_on_commit(), "a temporary store never syncs");
        let (d, p) = commit(&scratch, b"scratch");
        assert_eq!(p, scratch.path(Kind::Blob, &d), "nor tags its entries");
    }
}
