//! Docker Hub: `docker.io`, its aliases, and every reference without a registry host.
//!
//! Facts about this registry:
//! - Names are normalized as Docker does: `alpine` is `docker.io/library/alpine:latest`,
//!   `myorg/app` is `docker.io/myorg/app:latest`.
//! - The API lives at `registry-1.docker.io`, not at `docker.io`.
//! - Every request, even anonymous, needs a Bearer token from the challenge's realm
//!   (`auth.docker.io`); the shared token path answers it.
//! - Blobs are redirected to a CDN that rejects the registry's Authorization header; the
//!   core never sends it across origins.
//! - `docker login` stores credentials under `https://index.docker.io/v1/`.
//! - Pulls are limited per window; manifest answers say how many are left, a spent limit is
//!   a 429 not worth retrying, and HEAD requests are not counted (see [`pull_limit`]).

pub mod pull_limit;

use drag_core::adapter::{
    familiar_name, Adapter, Authenticator, ImageName, ManifestQuirks, Registration, Resolver,
    ResponseQuirks, Target,
};
use drag_core::reference::Reference;
use drag_core::Result;

pub use pull_limit::PullLimit;

pub const NAME: &str = "dockerhub";
const CANONICAL: &str = "docker.io";
const HOSTS: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];
const API: &str = "https://registry-1.docker.io";

pub struct DockerHub;

impl Adapter for DockerHub {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Docker Hub; also serves names without a registry (alpine, myorg/app)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn claims_unqualified(&self) -> bool {
        true
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let path = reference.path();
        let repository = if path.contains('/') {
            path.to_string()
        } else {
            format!("library/{path}")
        };
        let name = ImageName {
            familiar: familiar_name(CANONICAL, &repository, Some(CANONICAL)),
            registry: CANONICAL.to_string(),
            repository,
        };
        Ok(Target::new(name, reference))
    }

    fn endpoint(&self, _name: &ImageName) -> String {
        API.to_string()
    }

    fn credential_keys(&self, _name: &ImageName) -> Vec<String> {
        [
            "https://index.docker.io/v1/",
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
        ]
        .map(String::from)
        .to_vec()
    }

    fn response_quirks(&self) -> Option<&'static dyn ResponseQuirks> {
        Some(&pull_limit::PullLimits)
    }
}

// Docker Hub speaks standard token auth, resolution and manifests.
impl Authenticator for DockerHub {}
impl Resolver for DockerHub {}
impl ManifestQuirks for DockerHub {}

inventory::submit! { Registration(&DockerHub) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Target {
        DockerHub.normalize(&Reference::parse(s).unwrap()).unwrap()
    }

    #[test]
    fn normalizes_like_docker() {
        let t = norm("alpine");
        assert_eq!(t.full_name(), "docker.io/library/alpine:latest");
        assert_eq!(t.repo_tag().as_deref(), Some("alpine:latest"));
        let t = norm("alpine:3.9");
        assert_eq!(t.repo_tag().as_deref(), Some("alpine:3.9"));
        let t = norm("myorg/app:1");
        assert_eq!(t.full_name(), "docker.io/myorg/app:1");
        assert_eq!(t.repo_tag().as_deref(), Some("myorg/app:1"));
        let t = norm("docker.io/library/alpine:3.9");
        assert_eq!(t.name.familiar, "alpine");
        let t = norm("index.docker.io/library/busybox");
        assert_eq!(t.name.registry, "docker.io");
    }

    #[test]
    fn digest_only_has_no_tag() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let t = norm(&format!("alpine@{d}"));
        assert_eq!(t.tag, None);
        assert_eq!(t.manifest_reference(), d);
        assert_eq!(t.repo_tag(), None);
    }
}
