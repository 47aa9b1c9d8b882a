//! The `oci` format: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
//!
//! Blobs and manifests are stored byte-identical to what the registry served, so every digest
//! is unchanged. A new layout is built under a temporary name and renamed into place; an
//! existing layout gains the images (a blob it already holds is reused once it hashes right)
//! and its `index.json` is updated under a lock and replaced atomically (see
//! [`super::oci_index`]). Concurrent pulls into one layout all keep their entries, including
//! two that race to create it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{DELTA_BASES_ANNOTATION, DELTA_LEFT_OUT_ANNOTATION};
use crate::output::meter::WriteMeter;
use crate::output::oci_index::{LayoutIndex, LayoutLock};
use crate::output::{oci_types, AtomicFile, OutputSink, Pulled};

const LAYOUT_MARKER: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// A new layout is built under this name beside its destination.
const TEMP_LAYOUT_PREFIX: &str = ".drag-layout-";

/// How to write a layout.
#[derive(Clone, Debug, Default)]
pub struct LayoutOptions {
    /// Leave foreign layers out of `blobs/`; manifests keep their descriptors.
    pub skip_foreign: bool,
    /// Rewrite Docker-typed manifests with OCI media types (see [`super::oci_types`]).
    pub oci_media_types: bool,
    /// A store removed after the pull (`--no-cache`): its blobs, which it already verified,
    /// are hard-linked into the layout rather than copied, so each is written once.
    pub link_from: Option<PathBuf>,
}

/// Writes `images` into the layout at `dir`, creating it if needed, counting the blobs it
/// copies into `meter`.
pub(crate) fn write(
    images: &[Pulled],
    dir: &Path,
    opts: LayoutOptions,
    meter: &WriteMeter,
) -> Result<()> {
    if is_layout(dir) {
        return add_to_layout(images, dir, &opts, Sharing::Shared, meter);
    }
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
    let tmp = crate::file_mode::new_dir_mode(tempfile::Builder::new().prefix(TEMP_LAYOUT_PREFIX))
        .tempdir_in(&parent)
        .map_err(|e| Error::io_path("creating a temporary layout in", &parent, e))?;
    let _claim = crate::leftovers::claim(tmp.path());
    fs::write(tmp.path().join("oci-layout"), LAYOUT_MARKER)
        .map_err(|e| Error::io_path("writing", tmp.path(), e))?;
    add_to_layout(images, tmp.path(), &opts, Sharing::Private, meter)?;
    match move_into_place(tmp.path(), dir) {
        Ok(()) => {
            let _ = tmp.keep();
            Ok(())
        }
        // Another pull created the layout meanwhile: join it (our copy is dropped).
        Err(_) if is_layout(dir) => add_to_layout(images, dir, &opts, Sharing::Shared, meter),
        Err(e) => Err(e),
    }
}

/// Whether other processes may be writing the layout too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sharing {
    /// A layout under construction, ours alone (and already flocked as a [`leftovers`] claim,
    /// so taking the layout lock on it would wait for ourselves).
    ///
    /// [`leftovers`]: crate::leftovers
    Private,
    Shared,
}

fn is_layout(dir: &Path) -> bool {
    dir.join("oci-layout").is_file()
}

/// Renames a finished layout to `dir`, which is missing or an empty directory. rename(2)
/// replaces an empty directory in one step (and fails on a non-empty one), so two pulls racing
/// to create the layout never see it half gone.
fn move_into_place(built: &Path, dir: &Path) -> Result<()> {
    fs::rename(built, dir).map_err(|e| Error::io_path("renaming layout to", dir, e))
}

/// Adds the images to the layout at `dir`. Blobs go in first, without the lock (each is
/// content-addressed and written atomically, so concurrent pulls may write the same one); the
/// index is then read, extended and written back under the layout's lock. It is also read once
/// before any blob is written, so an index drag would refuse leaves the layout untouched.
fn add_to_layout(
    images: &[Pulled],
    dir: &Path,
    opts: &LayoutOptions,
    sharing: Sharing,
    meter: &WriteMeter,
) -> Result<()> {
    LayoutIndex::read(dir)?;
    let files: Vec<_> = images
        .iter()
        .flat_map(|p| p.blob_files(opts.skip_foreign))
        .collect();
    copy_blobs(dir, &files, opts.link_from.as_deref(), meter)?;
    let mut entries = Vec::new();
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
        }
        entries.push(entry);
    }
    let _lock = match sharing {
        Sharing::Shared => Some(LayoutLock::acquire(dir)?),
        Sharing::Private => None,
    };
    let mut index = LayoutIndex::read(dir)?;
    for entry in entries {
        index.add(entry);
    }
    let mut left_out: Vec<Digest> = Vec::new();
    for d in images.iter().flat_map(Pulled::left_out) {
        if !left_out.contains(&d.digest) {
            left_out.push(d.digest.clone());
        }
    }
    if !left_out.is_empty() {
        index.annotate(
            DELTA_LEFT_OUT_ANNOTATION,
            super::docker::join_digests(&left_out),
        );
        let held = images.iter().flat_map(Pulled::left_out);
        index.annotate(
            DELTA_BASES_ANNOTATION,
            crate::delta::base_names(held).join(","),
        );
    }
    index.write(dir)
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().as_str()).join(d.hex())
}

/// Copies stored blobs into the layout, a few at a time (the copies are the kernel's, and
/// two cores copy faster than one); those under `link_from` are linked instead.
fn copy_blobs(
    dir: &Path,
    files: &[(&Digest, &Path)],
    link_from: Option<&Path>,
    meter: &WriteMeter,
) -> Result<()> {
    let total = files
        .iter()
        .map(|(_, source)| fs::metadata(source).map_or(0, |m| m.len()))
        .sum();
    meter.restart(total);
    super::run_parallel(files, 4, |(digest, source)| {
        let link = link_from.is_some_and(|root| source.starts_with(root));
        put_blob_file(dir, digest, source, link).map(|len| meter.add(len))
    })
}

/// Copies a stored blob into the layout unless it is already there, intact; with `link`,
/// hard-links it when it is not there at all. Returns its size.
///
/// A layout is shared with other tools and other users, so a blob of the right size is hashed
/// before it is trusted (hashing costs less than the download that put it in the store).
fn put_blob_file(dir: &Path, d: &Digest, source: &Path, link: bool) -> Result<u64> {
    let dest = blob_path(dir, d);
    let len = fs::metadata(source)
        .map_err(|e| Error::io_path("reading", source, e))?
        .len();
    if d.matches_file(&dest, Some(len)) {
        return Ok(len);
    }
    // A link makes the whole file appear at once, as a rename does. Where it cannot be made
    // (the name is taken by a bad or racing copy, a file system without links), copy.
    if link
        && fs::symlink_metadata(&dest).is_err()
        && crate::store::ensure_parent(&dest).is_ok()
        && fs::hard_link(source, &dest).is_ok()
    {
        return Ok(len);
    }
    let mut tmp = AtomicFile::create(&dest)?;
    let mut f = fs::File::open(source).map_err(|e| Error::io_path("reading", source, e))?;
    tmp.append_file(&mut f, len)
        .map_err(|e| Error::io_path("writing", &dest, e))?;
    tmp.commit().map(|_| len)
}

fn put_blob_bytes(dir: &Path, d: &Digest, bytes: &[u8]) -> Result<()> {
    let dest = blob_path(dir, d);
    if d.matches_file(&dest, Some(bytes.len() as u64)) {
        return Ok(());
    }
    let mut tmp = AtomicFile::create(&dest)?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io_path("writing", &dest, e))?;
    tmp.commit().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn digest_of(bytes: &[u8]) -> Digest {
        let mut hasher = crate::digest::Algorithm::Sha256.hasher();
        hasher.update(bytes);
        hasher.finish()
    }

    fn inode(path: &Path) -> u64 {
        fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn a_blob_of_a_store_removed_after_the_pull_is_linked_and_any_other_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("stored");
        fs::write(&source, b"layer bytes").unwrap();
        let d = digest_of(b"layer bytes");

        let linked = dir.path().join("linked");
        put_blob_file(&linked, &d, &source, true).unwrap();
        assert_eq!(inode(&blob_path(&linked, &d)), inode(&source));

        let copied = dir.path().join("copied");
        put_blob_file(&copied, &d, &source, false).unwrap();
        assert_ne!(inode(&blob_path(&copied, &d)), inode(&source));
        assert_eq!(fs::read(blob_path(&copied, &d)).unwrap(), b"layer bytes");
    }

    #[test]
    fn a_wrong_file_under_the_blobs_name_is_replaced_by_a_copy_not_linked_over() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("stored");
        fs::write(&source, b"layer bytes").unwrap();
        let d = digest_of(b"layer bytes");
        let layout = dir.path().join("layout");
        let dest = blob_path(&layout, &d);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(&dest, b"other bytes").unwrap();

        put_blob_file(&layout, &d, &source, true).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"layer bytes");
        assert_ne!(inode(&dest), inode(&source));
        assert_eq!(
            fs::read(&source).unwrap(),
            b"layer bytes",
            "the source is untouched"
        );
    }
}
