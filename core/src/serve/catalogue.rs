//! The union of the sources `drag serve` serves: which repositories there are, their tags, the
//! manifests (kept in memory, as stored) and where each blob is (which source holds it).
//!
//! Sources are read in the order given. A blob is served from the first source that holds it
//! with the size its manifest names, so a delta bundle given after its base finds the layers it
//! left out in the base; an image some of whose blobs are in no source is still listed, and
//! only those blobs are missing. A tag two sources give different images keeps the later one
//! (a delta is newer than its base), and both stay reachable by digest.
//!
//! Each repository answers for the manifests and blobs of its own images only, as a registry
//! does; a manifest with a `subject` (a signature, an SBOM) is added to every repository that
//! holds its subject, where the referrers API lists it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::Result;
use crate::image_source::{ImageSource, SourceImage};
use crate::manifest::Descriptor;

use super::names::{self, ServedName};

/// One manifest as stored, with what the referrers API says about it.
pub(crate) struct StoredManifest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) media_type: String,
    /// The manifest it refers to (OCI 1.1 `subject`).
    pub(crate) subject: Option<Digest>,
    /// Its `artifactType`, else its config's media type.
    pub(crate) artifact_type: Option<String>,
    pub(crate) annotations: BTreeMap<String, String>,
}

/// Where a blob is: the source holding it, and its descriptor there.
pub(crate) struct BlobPlace {
    pub(crate) source: usize,
    pub(crate) desc: Descriptor,
}

/// One repository: its tags and everything it answers for by digest.
#[derive(Default)]
pub(crate) struct Repository {
    pub(crate) tags: BTreeMap<String, Digest>,
    pub(crate) manifests: HashSet<Digest>,
    pub(crate) blobs: HashSet<Digest>,
}

/// A name served, the manifest it points at, and the source that gave it (for the startup list).
#[derive(Clone, Debug)]
pub struct ServedImage {
    /// `repository:tag`, or `repository@digest` for an image reachable by digest only.
    pub name: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// How many of its blobs (config and layers, every platform) no source holds.
    pub missing_blobs: usize,
}

/// The union of the sources.
pub(crate) struct Catalogue {
    pub(crate) sources: Vec<ImageSource>,
    pub(crate) repositories: BTreeMap<String, Repository>,
    pub(crate) manifests: HashMap<Digest, StoredManifest>,
    pub(crate) blobs: HashMap<Digest, BlobPlace>,
    /// What the operator is told at startup: names, and tags another source took over.
    pub(crate) served: Vec<ServedImage>,
    pub(crate) notes: Vec<String>,
}

/// The fields of a manifest the referrers API needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Referring {
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

impl Catalogue {
    /// Opens every source (verifying their manifests) and builds the union.
    pub(crate) fn open(paths: &[PathBuf], keep_host: bool) -> Result<Catalogue> {
        let mut catalogue = Catalogue {
            sources: Vec::new(),
            repositories: BTreeMap::new(),
            manifests: HashMap::new(),
            blobs: HashMap::new(),
            served: Vec::new(),
            notes: Vec::new(),
        };
        for path in paths {
            catalogue.sources.push(ImageSource::open(path)?);
        }
        for i in 0..catalogue.sources.len() {
            let images = catalogue.sources[i].images().to_vec();
            let fallback = names::source_name(catalogue.sources[i].path());
            for image in &images {
                catalogue.add_manifests(image);
                // A signature or SBOM with no name of its own is found through its subject.
                let referrer = catalogue.manifests[&image.manifest.digest]
                    .subject
                    .is_some();
                if referrer && image.references.is_empty() && image.tag.is_none() {
                    continue;
                }
                for name in names_of(image, keep_host, &fallback) {
                    catalogue.name_image(name, image);
                }
            }
        }
        catalogue.place_blobs();
        catalogue.add_referrers();
        catalogue.count_missing();
        Ok(catalogue)
    }

    /// Keeps `image`'s manifest and its children's, as stored.
    fn add_manifests(&mut self, image: &SourceImage) {
        for child in &image.children {
            self.add_manifests(child);
        }
        let digest = image.manifest.digest.clone();
        if self.manifests.contains_key(&digest) {
            return;
        }
        let referring: Option<Referring> = serde_json::from_slice(&image.manifest.bytes).ok();
        let (subject, artifact_type, annotations) = match referring {
            Some(r) => (
                r.subject.map(|s| s.digest),
                r.artifact_type.or(r.config.map(|c| c.media_type)),
                r.annotations.unwrap_or_default(),
            ),
            None => (None, None, BTreeMap::new()),
        };
        self.manifests.insert(
            digest,
            StoredManifest {
                bytes: image.manifest.bytes.clone(),
                media_type: image.manifest.media_type.clone(),
                subject,
                artifact_type,
                annotations,
            },
        );
    }

    /// Serves `image` (and everything under it) under `name`.
    fn name_image(&mut self, name: ServedName, image: &SourceImage) {
        let repo = self
            .repositories
            .entry(name.repository.clone())
            .or_default();
        add_contents(repo, image);
        let digest = image.manifest.digest.clone();
        match name.tag {
            Some(tag) => {
                if let Some(old) = repo.tags.insert(tag.clone(), digest.clone()) {
                    if old != digest {
                        self.notes.push(format!(
                            "{}:{tag} is {} in a later source (was {}; both stay reachable by digest)",
                            name.repository,
                            digest.short(),
                            old.short()
                        ));
                        self.served
                            .retain(|s| s.name != format!("{}:{tag}", name.repository));
                    } else {
                        return;
                    }
                }
                self.served.push(ServedImage {
                    name: format!("{}:{tag}", name.repository),
                    digest,
                    missing_blobs: 0,
                });
            }
            None => {
                let shown = format!("{}@{digest}", name.repository);
                if !self.served.iter().any(|s| s.name == shown) {
                    self.served.push(ServedImage {
                        name: shown,
                        digest,
                        missing_blobs: 0,
                    });
                }
            }
        }
    }

    /// Finds each blob a manifest names in the first source holding it at the right size.
    fn place_blobs(&mut self) {
        let mut wanted: HashMap<Digest, Descriptor> = HashMap::new();
        for source in &self.sources {
            for image in source.images() {
                collect_blobs(image, &mut wanted);
            }
        }
        for (digest, desc) in wanted {
            let found = self
                .sources
                .iter()
                .position(|s| s.has_blob(&digest) && s.open_blob(&desc).is_ok());
            if let Some(source) = found {
                self.blobs.insert(digest, BlobPlace { source, desc });
            }
        }
    }

    /// Adds each manifest with a subject to the repositories holding that subject.
    fn add_referrers(&mut self) {
        let referrers: Vec<(Digest, Digest)> = self
            .manifests
            .iter()
            .filter_map(|(d, m)| m.subject.clone().map(|s| (d.clone(), s)))
            .collect();
        for (referrer, subject) in referrers {
            for repo in self.repositories.values_mut() {
                if repo.manifests.contains(&subject) {
                    repo.manifests.insert(referrer.clone());
                    if let Some(image) = self
                        .sources
                        .iter()
                        .find_map(|s| find(s.images(), &referrer))
                    {
                        add_contents(repo, &image);
                    }
                }
            }
        }
    }

    fn count_missing(&mut self) {
        for served in &mut self.served {
            let mut wanted = HashMap::new();
            if let Some(image) = self
                .sources
                .iter()
                .find_map(|s| find(s.images(), &served.digest))
            {
                collect_blobs(&image, &mut wanted);
            }
            served.missing_blobs = wanted
                .keys()
                .filter(|d| !self.blobs.contains_key(d))
                .count();
        }
    }

    /// The names served, for the startup list.
    pub(crate) fn served(&self) -> &[ServedImage] {
        &self.served
    }
}

/// The served names of an image: from its references, else after its source (with the tag
/// the source gives it, if any).
fn names_of(image: &SourceImage, keep_host: bool, fallback: &str) -> Vec<ServedName> {
    let mut out: Vec<ServedName> = Vec::new();
    for reference in &image.references {
        if let Some(name) = names::served_name(reference, keep_host) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    if out.is_empty() {
        out.push(ServedName {
            repository: fallback.to_string(),
            tag: image.tag.clone(),
        });
    }
    out
}

/// Everything a repository answers for because it holds `image`.
fn add_contents(repo: &mut Repository, image: &SourceImage) {
    repo.manifests.insert(image.manifest.digest.clone());
    for blob in image.blobs() {
        repo.blobs.insert(blob.digest.clone());
    }
    for child in &image.children {
        add_contents(repo, child);
    }
}

fn collect_blobs(image: &SourceImage, out: &mut HashMap<Digest, Descriptor>) {
    for blob in image.blobs() {
        out.entry(blob.digest.clone())
            .or_insert_with(|| blob.clone());
    }
    for child in &image.children {
        collect_blobs(child, out);
    }
}

/// The image (or child) whose manifest is `digest`.
fn find(images: &[SourceImage], digest: &Digest) -> Option<SourceImage> {
    for image in images {
        if image.manifest.digest == *digest {
            return Some(image.clone());
        }
        if let Some(found) = find(&image.children, digest) {
            return Some(found);
        }
    }
    None
}
