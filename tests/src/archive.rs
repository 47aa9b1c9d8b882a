//! Reading what drag wrote: tar archives as maps of entries, for assertions.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::bytes::assert_same_bytes;
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
#[track_caller]
pub fn json_entry(entries: &BTreeMap<String, Entry>, name: &str) -> serde_json::Value {
    serde_json::from_slice(&entry(entries, name).data)
        .unwrap_or_else(|err| panic!("{name} is not JSON: {err}"))
}

/// How an archive stores an image's layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// drag's default: as served, except zstd layers, stored decompressed and named by diff ID
    /// (Docker 20.10 cannot load zstd layers).
    Default,
    /// As the registry served them, named by their digest (`--keep-zstd`).
    AsServed,
    /// Decompressed (`--decompress`), named by their diff ID.
    Decompressed,
}

/// Asserts that a pulled archive's entries hold `image` byte for byte as drag stores it by
/// default ([`Stored::Default`]): its config and every layer, and that `manifest.json` lists
/// those layers in manifest order. Checking the config alone would pass for a pull that
/// dropped or corrupted a layer.
#[track_caller]
pub fn assert_entries_hold_image(entries: &BTreeMap<String, Entry>, image: &Image) {
    assert_entries_hold_image_stored(entries, image, Stored::Default);
}

/// Whether `stored` keeps `layer` decompressed, named by its diff ID.
pub fn stored_decompressed(stored: Stored, layer: &crate::Layer) -> bool {
    match stored {
        Stored::Default => is_zstd(layer),
        Stored::AsServed => false,
        Stored::Decompressed => true,
    }
}

/// Whether a layer is served zstd-compressed (by its media type, as drag checks it).
pub fn is_zstd(layer: &crate::Layer) -> bool {
    layer.blob.media_type.ends_with("zstd")
}

/// [`assert_entries_hold_image`] for an archive that stores layers as `stored` says.
#[track_caller]
pub fn assert_entries_hold_image_stored(
    entries: &BTreeMap<String, Entry>,
    image: &Image,
    stored: Stored,
) {
    let config = blob_path(&image.config.digest);
    assert_same_bytes(
        &format!("config {}", image.config.digest),
        &entry(entries, &config).data,
        &image.config.bytes,
    );
    let mut expected = Vec::new();
    for l in &image.layers {
        let (name, want) = if stored_decompressed(stored, l) {
            (blob_path(&l.diff_id), l.uncompressed.as_slice())
        } else {
            (blob_path(&l.blob.digest), l.blob.bytes.as_ref())
        };
        assert_same_bytes(&format!("layer {name}"), &entry(entries, &name).data, want);
        expected.push(name);
    }
    let manifest = json_entry(entries, "manifest.json");
    assert_eq!(manifest[0]["Config"], config, "manifest.json Config");
    assert_eq!(
        manifest[0]["Layers"],
        serde_json::json!(expected),
        "manifest.json Layers"
    );
}

/// Asserts that the archive keeps `image`'s manifest as served, and that its `index.json`
/// (the OCI view Docker 25 writes) names it with its media type.
#[track_caller]
pub fn assert_entries_keep_manifest(entries: &BTreeMap<String, Entry>, image: &Image) {
    assert_same_bytes(
        &format!("manifest {}", image.digest()),
        &entry(entries, &blob_path(image.digest())).data,
        &image.manifest.bytes,
    );
    let index = json_entry(entries, "index.json");
    assert_eq!(
        index["manifests"][0]["digest"],
        image.digest(),
        "index.json"
    );
    assert_eq!(
        index["manifests"][0]["mediaType"],
        image.manifest.media_type.as_str(),
        "index.json"
    );
}

/// [`assert_entries_hold_image`] for the archive at `path`.
#[track_caller]
pub fn assert_archive_holds_image(path: &Path, image: &Image) {
    assert_entries_hold_image(&read_tar(path), image);
}

/// The entry `name`, or a panic listing what the archive has.
#[track_caller]
pub fn entry<'a>(entries: &'a BTreeMap<String, Entry>, name: &str) -> &'a Entry {
    entries.get(name).unwrap_or_else(|| {
        panic!(
            "{name} missing; archive has {:?}",
            entries.keys().collect::<Vec<_>>()
        )
    })
}

/// `blobs/sha256/<hex>` for `sha256:<hex>`.
pub fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

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

/// Files in `dir` (not recursive), sorted, for "nothing left behind" checks.
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

/// Every file under `dir`, at any depth. Panics if a directory cannot be read: the callers
/// look at a directory that must exist (a cache after a pull).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
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
