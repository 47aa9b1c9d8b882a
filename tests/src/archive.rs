//! Reading what drag wrote: tar archives as maps of entries, for assertions.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One tar entry as the tests care about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

/// Every entry of a tar, by path.
pub fn read_tar_bytes(bytes: &[u8]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for e in archive.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let path = e.path().expect("entry path").to_string_lossy().into_owned();
        let h = e.header().clone();
        let link = e
            .link_name()
            .expect("link name")
            .map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("entry data");
        out.insert(
            path,
            Entry {
                kind: h.entry_type(),
                mode: h.mode().unwrap_or(0),
                uid: h.uid().unwrap_or(0),
                gid: h.gid().unwrap_or(0),
                link,
                data,
            },
        );
    }
    out
}

pub fn read_tar(path: &Path) -> BTreeMap<String, Entry> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    read_tar_bytes(&bytes)
}

/// An entry's data as JSON.
pub fn json_entry(entries: &BTreeMap<String, Entry>, name: &str) -> serde_json::Value {
    let e = entries.get(name).unwrap_or_else(|| {
        panic!(
            "{name} missing; archive has {:?}",
            entries.keys().collect::<Vec<_>>()
        )
    });
    serde_json::from_slice(&e.data).unwrap_or_else(|err| panic!("{name} is not JSON: {err}"))
}

/// `blobs/sha256/<hex>` for `sha256:<hex>`.
pub fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// Files in `dir` (not recursive), for "nothing left behind" checks.
/// Asserts that `dir` is empty: a failed or refused pull left nothing behind.
#[track_caller]
pub fn assert_left_nothing(dir: &Path) {
    let names = dir_names(dir);
    assert!(
        names.is_empty(),
        "left behind in {}: {names:?}",
        dir.display()
    );
}

pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every entry name of a tar in archive order, duplicates included (a
/// [`read_tar_bytes`] map would hide a blob stored twice).
pub fn entry_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("tar entries")
        .map(|e| {
            let e = e.expect("tar entry");
            let path = e.path().expect("entry path");
            path.to_string_lossy().into_owned()
        })
        .collect()
}
