//! Reading what drag wrote: tar archives as maps of entries, for assertions.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::Image;

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

/// Asserts that a pulled archive's entries hold `image` byte for byte: its config and every
/// layer blob, and that `manifest.json` lists those layers in manifest order. Checking the
/// config alone would pass for a pull that dropped or corrupted a layer.
#[track_caller]
pub fn assert_entries_hold_image(entries: &BTreeMap<String, Entry>, image: &Image) {
    let get = |name: &str| {
        entries.get(name).unwrap_or_else(|| {
            panic!(
                "{name} missing; archive has {:?}",
                entries.keys().collect::<Vec<_>>()
            )
        })
    };
    assert!(
        get(&blob_path(&image.config.digest)).data == image.config.bytes.as_ref(),
        "config {} differs",
        image.config.digest
    );
    for l in &image.layers {
        assert!(
            get(&blob_path(&l.blob.digest)).data == l.blob.bytes.as_ref(),
            "layer {} differs",
            l.blob.digest
        );
    }
    let manifest = json_entry(entries, "manifest.json");
    assert_eq!(
        manifest[0]["Config"],
        blob_path(&image.config.digest),
        "manifest.json Config"
    );
    let listed = &manifest[0]["Layers"];
    let expected: Vec<String> = image
        .layers
        .iter()
        .map(|l| blob_path(&l.blob.digest))
        .collect();
    assert_eq!(*listed, serde_json::json!(expected), "manifest.json Layers");
}

/// [`assert_entries_hold_image`] for the archive at `path`.
#[track_caller]
pub fn assert_archive_holds_image(path: &Path, image: &Image) {
    assert_entries_hold_image(&read_tar(path), image);
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
