//! Looking after the blob cache: where it is, how big it is, pruning it, emptying it.
//!
//! Every function takes the cache's root directory, so a library user can look after a cache
//! of its own as well as the user's ([`default_dir`], the one `drag` and
//! [`Cache::default`](crate::Cache::default) use).
//!
//! Pruning goes by last use (each lookup touches a blob's mtime). A partial download that
//! another process holds locked is never removed. Blobs and uncompressed layers stored without
//! a sync (under `unsynced/<boot>/`, see `store::unsynced`) count and go like the others.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::store::{boot, unsynced, BlobStore};

/// What the cache holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheInfo {
    /// Blobs (configs and layers) as the registries served them.
    pub blobs: Usage,
    /// Manifests, kept per registry and repository, so a repeated pull or inspect by tag
    /// costs a HEAD request.
    pub manifests: Usage,
    /// Uncompressed layers, named by their diff ID.
    pub diffs: Usage,
    /// Interrupted downloads, resumed by the next pull of the same blob.
    pub partial: Usage,
}

/// How much one part of the cache holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

impl CacheInfo {
    /// Bytes held by every part together.
    pub fn total_bytes(&self) -> u64 {
        self.blobs.bytes + self.manifests.bytes + self.diffs.bytes + self.partial.bytes
    }
}

/// A file the cache holds, as [`files_under`] finds it.
pub(crate) struct CacheFile {
    pub(crate) path: PathBuf,
    len: u64,
    modified: SystemTime,
}

/// Every file under `dir`, at any depth (a missing `dir` holds none).
pub(crate) fn files_under(dir: &Path, out: &mut Vec<CacheFile>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io_path("reading", dir, e)),
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            files_under(&entry.path(), out)?;
        } else if meta.is_file() {
            out.push(CacheFile {
                path: entry.path(),
                len: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
    Ok(())
}

fn usage(dir: &Path) -> Result<Usage> {
    let mut files = Vec::new();
    files_under(dir, &mut files)?;
    Ok(Usage {
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.len).sum(),
    })
}

/// What one side of the store (`blobs`, `diffs`) holds: synced, and unsynced in every boot.
fn side_usage(root: &Path, side: &str) -> Result<Usage> {
    let mut total = usage(&root.join(side))?;
    let boots = match fs::read_dir(root.join(unsynced::DIR)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(total),
        Err(e) => return Err(Error::io_path("reading", &root.join(unsynced::DIR), e)),
    };
    for boot in boots.flatten() {
        let u = usage(&boot.path().join(side))?;
        total.files += u.files;
        total.bytes += u.bytes;
    }
    Ok(total)
}

/// The user's cache directory: `$DRAG_CACHE_DIR`, else `$XDG_CACHE_HOME/drag`, else
/// `~/.cache/drag`; None when there is no home to put it in.
pub fn default_dir() -> Option<PathBuf> {
    BlobStore::default_dir()
}

/// What the cache at `root` holds; a missing cache holds nothing.
pub fn info(root: &Path) -> Result<CacheInfo> {
    Ok(CacheInfo {
        blobs: side_usage(root, "blobs")?,
        manifests: usage(&root.join(crate::manifest_cache::DIR))?,
        diffs: side_usage(root, "diffs")?,
        partial: usage(&root.join("tmp"))?,
    })
}

/// Removes cache files: those unused for longer than `older_than`, then the least recently
/// used until at most `keep` bytes remain. Returns what was removed.
pub fn prune(root: &Path, keep: Option<u64>, older_than: Option<Duration>) -> Result<Usage> {
    let mut files = Vec::new();
    for d in [
        "blobs",
        crate::manifest_cache::DIR,
        "diffs",
        unsynced::DIR,
        "tmp",
    ] {
        files_under(&root.join(d), &mut files)?;
    }
    files.sort_by_key(|f| f.modified);
    let now = SystemTime::now();
    let mut total: u64 = files.iter().map(|f| f.len).sum();
    let mut removed = Usage::default();
    for f in files {
        let too_old =
            older_than.is_some_and(|age| now.duration_since(f.modified).unwrap_or_default() > age);
        let too_big = keep.is_some_and(|k| total > k);
        if !(too_old || too_big) || in_use(&f.path) {
            continue;
        }
        if fs::remove_file(&f.path).is_ok() {
            total -= f.len;
            removed.files += 1;
            removed.bytes += f.len;
        }
    }
    unsynced::remove_empty_boots(root, boot::current());
    Ok(removed)
}

/// Empties the cache (except partial downloads another process is writing).
pub fn clean(root: &Path) -> Result<Usage> {
    prune(root, Some(0), None)
}

/// True for a partial download locked by a running pull.
fn in_use(path: &Path) -> bool {
    if path.extension().is_none_or(|e| e != "partial") {
        return false;
    }
    match fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Parses `500M`, `10GiB`, `1.5G`, `123` (bytes); units are powers of 1024.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::Usage(format!("invalid size {s:?} (e.g. 500M, 10G)")))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(Error::Usage(format!(
                "invalid size unit in {s:?} (use K, M, G or T)"
            )))
        }
    };
    Ok((n * mult as f64) as u64)
}

/// Parses `30s`, `15m`, `12h`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| Error::Usage(format!("invalid duration {s:?} (e.g. 7d, 12h)")))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(Error::Usage(format!(
                "invalid duration unit in {s:?} (use s, m, h, d or w)"
            )))
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("12parsecs").is_err());
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("7 years").is_err());
    }

    #[test]
    fn prune_removes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        for (name, age) in [("old", 3000), ("mid", 2000), ("new", 0)] {
            let p = blobs.join(name);
            fs::write(&p, vec![0u8; 100]).unwrap();
            let f = fs::File::options().append(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(age))
                .unwrap();
        }
        assert_eq!(
            info(dir.path()).unwrap().blobs,
            Usage {
                files: 3,
                bytes: 300
            }
        );
        let removed = prune(dir.path(), Some(200), None).unwrap();
        assert_eq!(removed.files, 1);
        assert!(!blobs.join("old").exists() && blobs.join("mid").exists());
        prune(dir.path(), None, Some(Duration::from_secs(1000))).unwrap();
        assert!(!blobs.join("mid").exists() && blobs.join("new").exists());
        clean(dir.path()).unwrap();
        assert_eq!(info(dir.path()).unwrap().total_bytes(), 0);
    }

    #[test]
    fn info_prune_and_clean_count_and_remove_unsynced_entries() {
        use crate::digest::Digest;
        use crate::store::Kind;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        // A boot that is not this one: its emptied directory may go.
        let boot = "0123abcd-0000-4000-8000-000000000000";
        let unsynced_store = BlobStore::open_in_boot(dir.path(), Some(boot)).unwrap();
        let synced_store = BlobStore::open_in_boot(dir.path(), None).unwrap();
        let mut stored = Vec::new();
        for (store, bytes) in [
            (&unsynced_store, &b"unsynced"[..]),
            (&synced_store, b"synced"),
        ] {
            let d = Digest::sha256_of(bytes);
            let mut t = store.temp_file().unwrap();
            t.write_all(bytes).unwrap();
            stored.push((d.clone(), store.commit(Kind::Blob, &d, t).unwrap()));
        }
        let (d, unsynced_blob) = &stored[0];
        assert!(unsynced_blob.starts_with(dir.path().join("unsynced")));
        let diff = unsynced_store.link(unsynced_blob, Kind::Diff, d).unwrap();
        let got = info(dir.path()).unwrap();
        assert_eq!(
            got.blobs,
            Usage {
                files: 2,
                bytes: 14
            }
        );
        assert_eq!(got.diffs, Usage { files: 1, bytes: 8 });
        let old = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .append(true)
            .open(unsynced_blob)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // The diff is a hard link to the blob: one last use, and both go.
        let removed = prune(dir.path(), None, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(
            removed,
            Usage {
                files: 2,
                bytes: 16
            }
        );
        assert!(!unsynced_blob.exists() && !diff.exists() && stored[1].1.exists());
        assert_eq!(clean(dir.path()).unwrap().files, 1);
        assert_eq!(info(dir.path()).unwrap(), CacheInfo::default());
        assert!(!dir.path().join("unsynced").join(boot).exists());
    }
}
