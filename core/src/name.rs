//! What an image is called once its adapter has settled the name: the registry, the repository,
//! Docker's familiar form, and the tag or digest to pull.
//!
//! Kept apart from [`crate::adapter`] so the protocol layer ([`crate::registry`]) can name a
//! repository without knowing about adapters.

use crate::digest::Digest;
use crate::reference::Reference;

/// A canonical image name: which registry, which repository, and how Docker would show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageName {
    /// The registry host as users name it (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// The repository path on that registry (`library/alpine`).
    pub repository: String,
    /// Docker's short form (`alpine`, `myorg/app`, `ghcr.io/o/app`), as `docker images` shows
    /// it. Archives carry the full name instead (see [`Target::full_tagged_name`]).
    pub familiar: String,
}

/// What to pull: a name and a tag and/or digest. The digest wins when both are given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The canonical name.
    pub name: ImageName,
    /// The tag; `latest` when the user gave neither tag nor digest.
    pub tag: Option<String>,
    /// The digest, when the user pinned one.
    pub digest: Option<Digest>,
}

impl Target {
    /// The target a reference names once its adapter has settled the name: the reference's
    /// tag and digest, with `latest` when it has neither (as Docker does).
    pub fn new(name: ImageName, reference: &Reference) -> Target {
        let digest = reference.digest().cloned();
        let tag = reference
            .tag()
            .map(str::to_string)
            .or_else(|| digest.is_none().then(|| "latest".to_string()));
        Target { name, tag, digest }
    }

    /// What to ask the registry for: the digest if known, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The full name (`docker.io/library/alpine:3.9`, `...@sha256:...`).
    pub fn full_name(&self) -> String {
        let mut s = format!("{}/{}", self.name.registry, self.name.repository);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The familiar tagged name (`alpine:3.9`), as Docker shows it, if there is a tag.
    pub fn repo_tag(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{}", self.name.familiar, t))
    }

    /// The full tagged name (`docker.io/library/alpine:3.9`), if there is a tag: what archives
    /// and layouts name an image, so that podman, Docker and containerd all load it under the
    /// same name (a familiar `alpine:3.9` becomes `localhost/alpine:3.9` in podman).
    pub fn full_tagged_name(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.full_repository()))
    }

    /// The repository with its registry (`docker.io/library/alpine`).
    pub fn full_repository(&self) -> String {
        format!("{}/{}", self.name.registry, self.name.repository)
    }
}
