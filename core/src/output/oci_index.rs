//! A layout's `index.json`, shared with other pulls and other tools.
//!
//! Several pulls may write into one layout at once, and each one reads the index, adds its
//! entries and writes it back: without a lock, the last writer drops the others' entries (three
//! concurrent pulls lost entries in half of the rounds tried). [`LayoutLock`] serializes that
//! read-modify-write between drag processes. On Unix it is an advisory `flock` on the layout
//! directory itself, so the layout holds no file that other tools would have to know about;
//! elsewhere it is a `.drag-lock` file in the layout. Tools other than drag do not take it.
//!
//! The index is someone else's document as much as ours: its unknown top-level fields, its
//! annotations and every entry drag did not add are written back as they were read. An index
//! whose `manifests` is not an array is refused before anything is written.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::manifest::media_type;
use crate::output::AtomicFile;

const MAX_INDEX_BYTES: u64 = 16 << 20;

/// Held while an index is read, changed and written back; released when dropped.
#[derive(Debug)]
pub struct LayoutLock {
    _file: fs::File,
}

impl LayoutLock {
    /// Waits for the layout at `dir` to be free, then holds it.
    pub fn acquire(dir: &Path) -> Result<LayoutLock> {
        let path = lock_path(dir);
        let file = open_lock_file(&path).map_err(|e| Error::io_path("opening", &path, e))?;
        file.lock()
            .map_err(|e| Error::io_path("locking the layout at", dir, e))?;
        Ok(LayoutLock { _file: file })
    }
}

#[cfg(unix)]
fn lock_path(dir: &Path) -> PathBuf {
    dir.to_path_buf()
}

#[cfg(unix)]
fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    fs::File::open(path)
}

#[cfg(not(unix))]
fn lock_path(dir: &Path) -> PathBuf {
    dir.join(".drag-lock")
}

#[cfg(not(unix))]
fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// `index.json` as read: the whole document, with `manifests` known to be an array.
#[derive(Debug)]
pub struct LayoutIndex {
    doc: Map<String, Value>,
}

impl LayoutIndex {
    /// Reads `dir/index.json`; a missing one is an empty index.
    pub fn read(dir: &Path) -> Result<LayoutIndex> {
        let p = dir.join("index.json");
        let bytes = match read_capped(&p)? {
            Some(b) => b,
            None => return Ok(LayoutIndex::empty()),
        };
        let bad = |reason: String| Error::manifest(p.display(), reason);
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("malformed index.json: {e}")))?;
        let Value::Object(mut doc) = v else {
            return Err(bad("index.json is not a JSON object".into()));
        };
        match doc.get("manifests") {
            Some(Value::Array(_)) => {}
            // Go tools write an empty slice as null.
            None | Some(Value::Null) => {
                doc.insert("manifests".into(), Value::Array(Vec::new()));
            }
            Some(other) => {
                return Err(bad(format!(
                    "index.json: \"manifests\" is {}, not an array; \
                     refusing to rewrite it (fix or move the layout)",
                    crate::manifest::json_type(other)
                )))
            }
        }
        Ok(LayoutIndex { doc })
    }

    fn empty() -> LayoutIndex {
        let mut doc = Map::new();
        doc.insert("schemaVersion".into(), Value::from(2));
        doc.insert("mediaType".into(), Value::from(media_type::OCI_INDEX));
        doc.insert("manifests".into(), Value::Array(Vec::new()));
        LayoutIndex { doc }
    }

    fn entries(&mut self) -> &mut Vec<Value> {
        match self.doc.get_mut("manifests") {
            Some(Value::Array(a)) => a,
            // `read` and `empty` made it an array.
            _ => unreachable!("manifests is an array"),
        }
    }

    /// Adds `entry`. An entry that names an image (`io.containerd.image.name`) replaces the
    /// entries of that name: a tag names one image in a layout.
    pub fn add(&mut self, entry: Value) {
        let name = entry
            .pointer("/annotations/io.containerd.image.name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let entries = self.entries();
        if let Some(name) = &name {
            entries.retain(|e| {
                e.pointer("/annotations/io.containerd.image.name")
                    .and_then(Value::as_str)
                    != Some(name)
            });
        }
        entries.push(entry);
    }

    /// Sets a top-level annotation (a delta's list of the blobs it leaves out).
    pub fn annotate(&mut self, key: &str, value: String) {
        let annotations = self
            .doc
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Some(map) = annotations.as_object_mut() {
            map.insert(key.to_string(), Value::from(value));
        }
    }

    /// Replaces `dir/index.json` atomically.
    pub fn write(mut self, dir: &Path) -> Result<()> {
        self.doc
            .entry("schemaVersion")
            .or_insert_with(|| Value::from(2));
        self.doc
            .entry("mediaType")
            .or_insert_with(|| Value::from(media_type::OCI_INDEX));
        let p = dir.join("index.json");
        let bytes = serde_json::to_vec(&Value::Object(self.doc))
            .map_err(|e| Error::io("serializing index.json", std::io::Error::other(e)))?;
        let mut f = AtomicFile::create(&p)?;
        f.write_all(&bytes)
            .map_err(|e| Error::io_path("writing", &p, e))?;
        f.commit().map(|_| ())
    }
}

/// The file's bytes, refusing one larger than [`MAX_INDEX_BYTES`] before reading it.
fn read_capped(p: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = match fs::File::open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_path("reading", p, e)),
    };
    let mut bytes = Vec::new();
    f.take(MAX_INDEX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io_path("reading", p, e))?;
    if bytes.len() as u64 > MAX_INDEX_BYTES {
        return Err(Error::manifest(p.display(), "index.json is too large"));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layout_with(index: &Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("index.json"),
            serde_json::to_vec(index).unwrap(),
        )
        .unwrap();
        dir
    }

    fn entry(name: &str, digest_char: char) -> Value {
        json!({
            "mediaType": media_type::OCI_MANIFEST,
            "digest": format!("sha256:{}", digest_char.to_string().repeat(64)),
            "size": 1,
            "annotations": {"io.containerd.image.name": name},
        })
    }

    #[test]
    fn unknown_fields_annotations_and_foreign_entries_survive_a_rewrite() {
        let foreign = json!({"mediaType": "x/y", "digest": "sha256:".to_string() + &"f".repeat(64),
                             "size": 3, "annotations": {"org.example": "kept"}});
        let dir = layout_with(&json!({
            "schemaVersion": 2,
            "x-tool": {"kept": [1, 2]},
            "annotations": {"org.example.layout": "yes"},
            "manifests": [foreign.clone()],
        }));
        let mut index = LayoutIndex::read(dir.path()).unwrap();
        index.add(entry("docker.io/library/a:1", 'a'));
        index.write(dir.path()).unwrap();
        let v: Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(v["x-tool"], json!({"kept": [1, 2]}));
        assert_eq!(v["annotations"]["org.example.layout"], "yes");
        assert_eq!(v["manifests"][0], foreign);
        assert_eq!(
            v["manifests"][1]["annotations"]["io.containerd.image.name"],
            "docker.io/library/a:1"
        );
        assert_eq!(v["mediaType"], media_type::OCI_INDEX);
    }

    #[test]
    fn an_entry_of_the_same_name_is_replaced_not_duplicated() {
        let dir = layout_with(&json!({"schemaVersion": 2, "manifests": [entry("n:1", 'a')]}));
        let mut index = LayoutIndex::read(dir.path()).unwrap();
        index.add(entry("n:1", 'b'));
        assert_eq!(index.entries().len(), 1);
        assert_eq!(index.entries()[0], entry("n:1", 'b'));
    }

    #[test]
    fn manifests_that_is_not_an_array_is_refused() {
        for bad in [json!({}), json!("x"), json!(3)] {
            let dir = layout_with(&json!({"schemaVersion": 2, "manifests": bad}));
            let err = LayoutIndex::read(dir.path()).unwrap_err().to_string();
            assert!(err.contains("not an array"), "{err}");
        }
        let dir = layout_with(&json!({"schemaVersion": 2, "manifests": null}));
        let mut index = LayoutIndex::read(dir.path()).unwrap();
        assert!(index.entries().is_empty());
    }

    #[test]
    fn a_held_lock_excludes_another_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = LayoutLock::acquire(dir.path()).unwrap();
        // A second open file description on the same layout cannot take it meanwhile.
        let other = open_lock_file(&lock_path(dir.path())).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
    }
}
