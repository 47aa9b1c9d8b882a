//! GitHub Container Registry: `ghcr.io`.
//!
//! Facts about this registry:
//! - Names are `ghcr.io/OWNER/IMAGE[:TAG]` (the owner a user or an organization, the image
//!   possibly nested: `ghcr.io/OWNER/REPO/IMAGE`). There is no `library/` namespace: a one-part
//!   name is a usage error. Without a host (`--registry ghcr OWNER/IMAGE`), `ghcr.io` is meant.
//! - Every request, even for a public image, needs a Bearer token: the challenge points to
//!   `https://ghcr.io/token`, which gives anonymous tokens for public images (the shared token
//!   path answers it, with no credentials when there are none).
//! - Its tokens are opaque strings (base64 of `v1:…`, not JWTs): drag never parses a token, it
//!   only sends it back, and renews it by `expires_in` or when the registry refuses it.
//! - Token answers carry only `token`, often without `expires_in` (the spec's 60 s is assumed).
//! - Blobs are redirected to `pkg-containers.githubusercontent.com`; the core follows without
//!   credentials.
//! - Login: a GitHub user name and a personal access token (classic, with `read:packages`):
//!   `echo $PAT | drag login ghcr.io -u USER --password-stdin` (or `docker login ghcr.io`).
//!   The login goes to the token service as Basic credentials.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "ghcr";
const CANONICAL: &str = "ghcr.io";
const HOSTS: &[&str] = &["ghcr.io"];

pub struct Ghcr;

impl Adapter for Ghcr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "GitHub Container Registry (OWNER/IMAGE; opaque tokens, anonymous for public images)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        let repository = reference.path().to_string();
        if !repository.contains('/') {
            return Err(Error::Usage(format!(
                "{reference}: ghcr.io names images by their owner; write it as \
                 {registry}/OWNER/{repository}"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

// The shared token path sends the token back as it came, never reading it.
impl Authenticator for Ghcr {}
impl Resolver for Ghcr {}
impl ManifestQuirks for Ghcr {}

inventory::submit! { Registration(&Ghcr) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Ghcr.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_ghcr_only() {
        assert!(Ghcr.claims("ghcr.io"));
        assert!(Ghcr.claims("GHCR.io"));
        assert!(!Ghcr.claims("ghcr.io:5000"));
        assert!(!Ghcr.claims("docker.pkg.github.com"));
    }

    #[test]
    fn names_are_owner_and_image_as_written() {
        let t = norm("ghcr.io/acme/tools/app:1").unwrap();
        assert_eq!(t.full_name(), "ghcr.io/acme/tools/app:1");
        assert_eq!(t.name.repository, "acme/tools/app");
        let t = norm("acme/app").unwrap();
        assert_eq!(t.full_name(), "ghcr.io/acme/app:latest");
    }

    #[test]
    fn a_name_without_owner_is_a_usage_error() {
        let e = norm("ghcr.io/app:1").unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains("ghcr.io/OWNER/app"), "{e}");
    }
}
