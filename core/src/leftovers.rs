//! What a killed drag leaves beside its outputs, removed by the next run.
//!
//! Outputs are built under hidden temporary names (`.NAME.XXXXXX.drag-tmp` files,
//! `.drag-layout-XXXXXX` and `.drag-store-XXXXXX` directories) and removed on every failure
//! drag sees. `SIGKILL`, the OOM killer or a power cut leave no such chance. So each is locked
//! (`flock`) while its writer lives; the kernel drops the lock with the process, and an entry
//! that can be locked later has no writer left. A short grace period covers the moment between
//! an entry's creation and its lock.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Younger entries are left alone: their writer may not have locked them yet.
const GRACE: Duration = Duration::from_secs(2);

/// A lock marking a temporary file or directory as in use; released when dropped (or when
/// the process dies).
#[derive(Debug)]
pub struct Claim {
    _held: File,
}

/// Claims `path` (a file or a directory) for this process. Best effort: where the file system
/// cannot lock, the entry is simply never swept.
#[cfg(unix)]
pub fn claim(path: &Path) -> Option<Claim> {
    let f = File::open(path).ok()?;
    f.try_lock().ok()?;
    Some(Claim { _held: f })
}

/// Windows locks are mandatory (they would stop our own writes) and cannot hold directories.
#[cfg(not(unix))]
pub fn claim(_path: &Path) -> Option<Claim> {
    None
}

/// Removes the entries of `dir` named `{prefix}RANDOM{suffix}` (RANDOM alphanumeric, as
/// `tempfile` makes them) that no living process claims. Errors are ignored: a leftover
/// that cannot be removed is no reason to fail a pull.
pub fn sweep(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let random = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix));
        if !random.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric())) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let recent = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < GRACE);
        if recent || meta.file_type().is_symlink() {
            continue;
        }
        // Holding the lock while removing keeps a second sweeper from racing this one.
        let Some(_claim) = claim(&path) else { continue };
        let _ = if meta.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn age(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(60);
        File::open(path).unwrap().set_modified(old).unwrap();
    }

    #[test]
    fn unclaimed_old_entries_go_and_claimed_or_young_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        fs::write(p(".out.tar.aB3xYz.drag-tmp"), "dead writer").unwrap();
        fs::write(p(".out.tar.Q1w2E3.drag-tmp"), "live writer").unwrap();
        fs::write(p(".out.tar.N3wOne.drag-tmp"), "just created").unwrap();
        fs::write(p(".out.tar.x.tar.R4nd0m.drag-tmp"), "another output's").unwrap();
        fs::write(p("out.tar"), "the output itself").unwrap();
        fs::create_dir(p(".drag-store-Zz9Zz9")).unwrap();
        fs::write(p(".drag-store-Zz9Zz9/blob"), "partial").unwrap();
        for n in [
            ".out.tar.aB3xYz.drag-tmp",
            ".out.tar.Q1w2E3.drag-tmp",
            ".out.tar.x.tar.R4nd0m.drag-tmp",
            "out.tar",
            ".drag-store-Zz9Zz9",
        ] {
            age(&p(n));
        }
        let live = claim(&p(".out.tar.Q1w2E3.drag-tmp")).expect("lock");

        sweep(dir.path(), ".out.tar.", ".drag-tmp");
        assert!(!p(".out.tar.aB3xYz.drag-tmp").exists());
        assert!(p(".out.tar.Q1w2E3.drag-tmp").exists(), "its writer lives");
        assert!(p(".out.tar.N3wOne.drag-tmp").exists(), "too young to judge");
        assert!(
            p(".out.tar.x.tar.R4nd0m.drag-tmp").exists(),
            "not this output's"
        );
        assert!(p("out.tar").exists());

        sweep(dir.path(), ".drag-store-", "");
        assert!(!p(".drag-store-Zz9Zz9").exists());

        drop(live);
        sweep(dir.path(), ".out.tar.", ".drag-tmp");
        assert!(
            !p(".out.tar.Q1w2E3.drag-tmp").exists(),
            "its writer is gone"
        );
    }
}
