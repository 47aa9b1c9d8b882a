//! The `oci` format: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
//!
//! Blobs and manifests are stored byte-identical to what the registry served, so every digest
//! is unchanged. A new layout is built under a temporary name and renamed into place; an
//! existing layout gains the images (blobs it already holds are reused) and its `index.json`
//! is replaced atomically, with an entry of the same name replaced rather than duplicated.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::media_type;
use crate::output::{oci_types, AtomicFile, OutputSink, Pulled};

const LAYOUT_MARKER: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const MAX_INDEX_BYTES: u64 = 16 << 20;
/// A new layout is built under this name beside its destination.
const TEMP_LAYOUT_PREFIX: &str = ".drag-layout-";

/// How to write a layout.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayoutOptions {
    /// Leave foreign layers out of `blobs/`; manifests keep their descriptors.
    pub skip_foreign: bool,
    /// Rewrite Docker-typed manifests with OCI media types (see [`super::oci_types`]).
    pub oci_media_types: bool,
}

/// Writes `images` into the layout at `dir`, creating it if needed.
pub fn write(images: &[Pulled], dir: &Path, opts: LayoutOptions) -> Result<()> {
    if dir.join("oci-layout").is_file() {
        add_to_layout(images, dir, opts)
    } else {
        if dir.exists()
            && fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(Error::Usage(format!(
                "{} exists and is not an OCI layout; choose another -o",
                dir.display()
            )));
        }
        let parent = crate::store::ensure_parent(dir)?;
        crate::leftovers::sweep(&parent, TEMP_LAYOUT_PREFIX, "");
        let tmp = super::atomic::new_dir_mode(tempfile::Builder::new().prefix(TEMP_LAYOUT_PREFIX))
            .tempdir_in(&parent)
            .map_err(|e| Error::io_path("creating a temporary layout in", &parent, e))?;
        let _claim = crate::leftovers::claim(tmp.path());
        fs::write(tmp.path().join("oci-layout"), LAYOUT_MARKER)
            .map_err(|e| Error::io_path("writing", tmp.path(), e))?;
        add_to_layout(images, tmp.path(), opts)?;
        if dir.exists() {
            fs::remove_dir(dir).map_err(|e| Error::io_path("replacing empty", dir, e))?;
        }
        let built = tmp.keep();
        fs::rename(&built, dir).map_err(|e| {
            let _ = fs::remove_dir_all(&built);
            Error::io_path("renaming layout to", dir, e)
        })
    }
}

fn add_to_layout(images: &[Pulled], dir: &Path, opts: LayoutOptions) -> Result<()> {
    let mut entries = read_index(dir)?;
    let files: Vec<_> = images
        .iter()
        .flat_map(|p| p.blob_files(opts.skip_foreign))
        .collect();
    copy_blobs(dir, &files)?;
    for pulled in images {
        let (mut desc, target) = pulled.root();
        let served = pulled.manifests();
        let manifests = if opts.oci_media_types {
            let (converted, renamed) = oci_types::convert(&served)?;
            if let Some(root) = renamed.get(&desc.digest) {
                desc.digest = root.digest.clone();
                desc.size = root.bytes.len() as u64;
                desc.media_type = root.media_type.clone();
            }
            converted
        } else {
            served.into_iter().cloned().collect()
        };
        for m in &manifests {
            put_blob_bytes(dir, &m.digest, &m.bytes)?;
        }
        let mut entry = serde_json::to_value(&desc)
            .map_err(|e| Error::io("serializing index.json", std::io::Error::other(e)))?;
        let mut annotations = serde_json::Map::new();
        if let Some(tag) = &target.tag {
            annotations.insert("org.opencontainers.image.ref.name".into(), json!(tag));
        }
        if let Some(full) = target.full_tagged_name() {
            annotations.insert("io.containerd.image.name".into(), json!(full));
        }
        if !annotations.is_empty() {
            entry["annotations"] = Value::Object(annotations);
            // A tag names one image in a layout: the new pull replaces the old entry.
            let name = target.full_tagged_name();
            entries.retain(|e| {
                e.pointer("/annotations/io.containerd.image.name")
                    .and_then(Value::as_str)
                    != name.as_deref()
                    || name.is_none()
            });
        }
        entries.push(entry);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": entries,
    });
    let mut f = AtomicFile::create(&dir.join("index.json"))?;
    let bytes = serde_json::to_vec(&index)
        .map_err(|e| Error::io("serializing index.json", std::io::Error::other(e)))?;
    f.write_all(&bytes)
        .map_err(|e| Error::io_path("writing", &dir.join("index.json"), e))?;
    f.commit().map(|_| ())
}

fn read_index(dir: &Path) -> Result<Vec<Value>> {
    let p = dir.join("index.json");
    let meta = match fs::metadata(&p) {
        Ok(m) => m,
        Err(_) => return Ok(Vec::new()),
    };
    if meta.len() > MAX_INDEX_BYTES {
        return Err(Error::manifest(p.display(), "index.json is too large"));
    }
    let bytes = fs::read(&p).map_err(|e| Error::io_path("reading", &p, e))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::manifest(p.display(), format!("malformed index.json: {e}")))?;
    Ok(v.get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().as_str()).join(d.hex())
}

/// Copies stored blobs into the layout, a few at a time (the copies are the kernel's, and
/// two cores copy faster than one).
fn copy_blobs(dir: &Path, files: &[(&Digest, &Path)]) -> Result<()> {
    super::run_parallel(files, 4, |(digest, source)| {
        put_blob_file(dir, digest, source)
    })
}

/// Copies a stored blob into the layout unless it is already there.
fn put_blob_file(dir: &Path, d: &Digest, source: &Path) -> Result<()> {
    let dest = blob_path(dir, d);
    let len = fs::metadata(source)
        .map_err(|e| Error::io_path("reading", source, e))?
        .len();
    if fs::metadata(&dest).is_ok_and(|m| m.len() == len) {
        return Ok(());
    }
    let mut tmp = AtomicFile::create(&dest)?;
    let mut f = fs::File::open(source).map_err(|e| Error::io_path("reading", source, e))?;
    tmp.append_file(&mut f, len)
        .map_err(|e| Error::io_path("writing", &dest, e))?;
    tmp.commit().map(|_| ())
}

fn put_blob_bytes(dir: &Path, d: &Digest, bytes: &[u8]) -> Result<()> {
    let dest = blob_path(dir, d);
    if fs::metadata(&dest).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(());
    }
    let mut tmp = AtomicFile::create(&dest)?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io_path("writing", &dest, e))?;
    tmp.commit().map(|_| ())
}
