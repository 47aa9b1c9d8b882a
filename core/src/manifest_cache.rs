//! Manifests kept between runs, to spare GET requests (Docker Hub counts those against its pull
//! limit; a HEAD that names a cached digest is free).
//!
//! Blobs are content-addressed and shared by every registry: whoever serves the bytes, they
//! hash to their name. Manifests are not shared that way. A registry's HEAD answer names a
//! digest, and if any registry's manifest of that digest were served from the cache, a
//! registry could learn what the user has cached (a fast pull with no GET) by answering with
//! another registry's digests. So the cache is keyed by the registry endpoint and repository a
//! manifest came from, and a digest cached for one is never used for another.
//!
//! A manifest without a `mediaType` field is read by its registry's Content-Type, so that type
//! is stored with it: the cached copy is then read with the same
//! [`manifest::effective_media_type`] as the response it came from, and one digest cannot be
//! an image on one run and an index on the next.
//!
//! Layout: `manifests/<key>/<alg>/<hex>`, where `<key>` is the SHA-256 of the endpoint and
//! repository; each file is the Content-Type on one line, then the bytes as served.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::manifest::{self, RawManifest};
use crate::store::BlobStore;

/// The directory under the cache root.
pub const DIR: &str = "manifests";

/// A Content-Type longer than this is not stored (no real one comes near).
const MAX_CONTENT_TYPE: usize = 255;

/// Where manifests of one repository at one registry endpoint are cached.
#[derive(Clone, Debug)]
pub struct ManifestCache {
    dir: PathBuf,
}

impl ManifestCache {
    /// The cache for `repository` as served at `endpoint` (the URL actually contacted, so a
    /// mirror given with `--endpoint` has a cache of its own).
    pub fn new(store: &BlobStore, endpoint: &str, repository: &str) -> ManifestCache {
        let key = Digest::sha256_of(format!("{endpoint}\n{repository}").as_bytes());
        ManifestCache {
            dir: store.root().join(DIR).join(key.hex()),
        }
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The manifest of `digest`, if this repository's cache holds it intact (it is re-hashed:
    /// the cache is only a cache).
    pub fn get(&self, digest: &Digest) -> Option<RawManifest> {
        let path = self.path(digest);
        let meta = fs::symlink_metadata(&path).ok()?;
        let cap = manifest::MAX_MANIFEST_BYTES + MAX_CONTENT_TYPE + 1;
        if !meta.is_file() || meta.len() > cap as u64 {
            return None;
        }
        let mut data = Vec::new();
        fs::File::open(&path)
            .ok()?
            .take(cap as u64)
            .read_to_end(&mut data)
            .ok()?;
        let newline = data.iter().position(|&b| b == b'\n')?;
        let content_type = std::str::from_utf8(&data[..newline]).ok()?.to_string();
        let bytes = data.split_off(newline + 1);
        if &digest.compute_like(&bytes) != digest {
            return None;
        }
        touch(&path);
        let content_type = (!content_type.is_empty()).then_some(content_type.as_str());
        Some(RawManifest {
            media_type: manifest::effective_media_type(&bytes, content_type),
            digest: digest.clone(),
            bytes,
        })
    }

    /// Keeps `m` with the Content-Type it was served with. Best effort: a manifest that fails
    /// to be cached is fetched again next time.
    pub fn put(&self, store: &BlobStore, m: &RawManifest, content_type: Option<&str>) {
        let content_type = content_type
            .filter(|c| c.len() <= MAX_CONTENT_TYPE && !c.contains(['\n', '\r']))
            .unwrap_or("");
        let dest = self.path(&m.digest);
        let Some(parent) = dest.parent() else { return };
        if fs::create_dir_all(parent).is_err() {
            return;
        }
        let Ok(mut tmp) = store.temp_file() else {
            return;
        };
        let written = tmp
            .write_all(content_type.as_bytes())
            .and_then(|_| tmp.write_all(b"\n"))
            .and_then(|_| tmp.write_all(&m.bytes))
            .and_then(|_| tmp.as_file().sync_data());
        if written.is_ok() {
            let _ = tmp.persist(&dest);
        }
    }
}

/// Marks a manifest as recently used, for `cache prune`.
fn touch(p: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(p) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::media_type;

    fn raw(bytes: &[u8], media_type: &str) -> RawManifest {
        RawManifest {
            bytes: bytes.to_vec(),
            digest: Digest::sha256_of(bytes),
            media_type: media_type.into(),
        }
    }

    #[test]
    fn a_manifest_is_found_only_for_the_endpoint_and_repository_that_served_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let m = raw(
            br#"{"schemaVersion":2,"manifests":[]}"#,
            media_type::OCI_INDEX,
        );
        let a = ManifestCache::new(&store, "https://a.example/", "library/app");
        a.put(&store, &m, Some(media_type::OCI_INDEX));
        assert_eq!(a.get(&m.digest).unwrap().bytes, m.bytes);
        for (endpoint, repo) in [
            ("https://b.example/", "library/app"),
            ("https://a.example/", "library/other"),
        ] {
            let other = ManifestCache::new(&store, endpoint, repo);
            assert!(other.get(&m.digest).is_none(), "{endpoint} {repo}");
        }
    }

    #[test]
    fn the_served_content_type_decides_the_type_of_a_cached_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let cache = ManifestCache::new(&store, "https://a.example/", "app");
        // No mediaType field: only the Content-Type tells what it is.
        let bytes = br#"{"schemaVersion":2,"manifests":[]}"#;
        let served = media_type::DOCKER_MANIFEST_LIST;
        let m = raw(bytes, &manifest::effective_media_type(bytes, Some(served)));
        cache.put(&store, &m, Some(served));
        assert_eq!(cache.get(&m.digest).unwrap().media_type, m.media_type);
        assert_eq!(m.media_type, served);
    }

    #[test]
    fn a_corrupted_entry_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let cache = ManifestCache::new(&store, "https://a.example/", "app");
        let m = raw(br#"{"schemaVersion":2}"#, media_type::OCI_MANIFEST);
        cache.put(&store, &m, None);
        let path = cache.path(&m.digest);
        let mut data = fs::read(&path).unwrap();
        *data.last_mut().unwrap() = b' ';
        fs::write(&path, data).unwrap();
        assert!(cache.get(&m.digest).is_none());
    }
}
