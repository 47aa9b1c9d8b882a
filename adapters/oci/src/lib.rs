//! Every registry no other adapter claims or is chosen for: a private `registry:5000`,
//! `localhost:5000`, a self-hosted registry... (ghcr.io, quay.io and the other public
//! registries have adapters of their own: see `drag adapters`).
//!
//! Facts about these registries:
//! - Names are used as written: the host is required, no `library/` prefix is added, and the
//!   tag defaults to `latest`.
//! - Requests go to `https://HOST` (plain HTTP for loopback hosts, or with `--insecure`).
//! - Authentication is whatever the registry challenges with: Bearer token services or Basic,
//!   both handled by the shared auth path.

use drag_core::adapter::{
    familiar_name, Adapter, Authenticator, ImageName, ManifestQuirks, Registration, Resolver,
    Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "oci";

pub struct Oci;

impl Adapter for Oci {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "any OCI distribution registry (registry.example:5000, localhost:5000, ...)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        &[]
    }

    fn is_catch_all(&self) -> bool {
        true
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().ok_or_else(|| {
            Error::Usage(format!(
                "{reference} names no registry host; write it as HOST/{}",
                reference.path()
            ))
        })?;
        let repository = reference.path().to_string();
        let name = ImageName {
            familiar: familiar_name(registry, &repository, None),
            registry: registry.to_string(),
            repository,
        };
        Ok(Target::new(name, reference))
    }
}

impl Authenticator for Oci {}
impl Resolver for Oci {}
impl ManifestQuirks for Oci {}

inventory::submit! { Registration(&Oci) }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_as_written() {
        let t = Oci
            .normalize(&Reference::parse("ghcr.io/o/app:1").unwrap())
            .unwrap();
        assert_eq!(t.full_name(), "ghcr.io/o/app:1");
        assert_eq!(t.repo_tag().as_deref(), Some("ghcr.io/o/app:1"));
        let t = Oci
            .normalize(&Reference::parse("localhost:5000/app").unwrap())
            .unwrap();
        assert_eq!(t.full_name(), "localhost:5000/app:latest");
    }

    #[test]
    fn a_bare_name_is_a_usage_error() {
        let e = Oci
            .normalize(&Reference::parse("app").unwrap())
            .unwrap_err();
        assert!(e.is_usage());
    }
}
