//! Red Hat's registries: `registry.redhat.io` (needs a login) and
//! `registry.access.redhat.com` (anonymous, the same public images).
//!
//! Facts about these registries:
//! - Names are `HOST/NAMESPACE/NAME[:TAG]` (`registry.redhat.io/ubi9/ubi:9.4`,
//!   `registry.access.redhat.com/ubi8/ubi-minimal`), kept as written; a one-part name is a
//!   usage error. Without a host, `registry.redhat.io` is meant.
//! - Bodies come gzip-encoded (`Content-Encoding: gzip`) unless the request asks for
//!   `Accept-Encoding: identity`; the core asks for it on every request and refuses a body
//!   encoded anyway, so sizes and digests are checked on the bytes as stored.
//! - Manifest answers carry no `Docker-Content-Digest`. The core hashes the body it read: a
//!   digest-pinned pull is checked against the digest asked for, and a tag's digest is the
//!   hash of what came.
//! - `registry.redhat.io` wants a login even for the free images: a Red Hat account, or a
//!   registry service account, whose user name has the form `12345678|name` (the `|` is
//!   part of the name): `echo $TOKEN | drag login registry.redhat.io -u '12345678|name'
//!   --password-stdin` (the quotes keep the shell from reading `|` as a pipe).
//!   `registry.access.redhat.com` needs none.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "redhat";
const CANONICAL: &str = "registry.redhat.io";
const HOSTS: &[&str] = &["registry.redhat.io", "registry.access.redhat.com"];

pub struct RedHat;

impl Adapter for RedHat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Red Hat (UBI and product images; gzip unless identity, no Docker-Content-Digest)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        let repository = reference.path().to_string();
        if !repository.contains('/') {
            return Err(Error::Usage(format!(
                "{reference}: Red Hat images are named {registry}/NAMESPACE/{repository} \
                 (ubi9/ubi, rhel9/postgresql-16)"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

// Identity encoding and hashing bodies without Docker-Content-Digest are the core's, for any
// registry.
impl Authenticator for RedHat {}
impl Resolver for RedHat {}
impl ManifestQuirks for RedHat {}

inventory::submit! { Registration(&RedHat) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        RedHat.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_both_red_hat_hosts() {
        assert!(RedHat.claims("registry.redhat.io"));
        assert!(RedHat.claims("registry.access.redhat.com"));
        assert!(!RedHat.claims("redhat.io"));
        assert!(!RedHat.claims("quay.io"));
    }

    #[test]
    fn names_are_namespace_and_name_as_written() {
        let t = norm("registry.access.redhat.com/ubi8/ubi-minimal").unwrap();
        assert_eq!(
            t.full_name(),
            "registry.access.redhat.com/ubi8/ubi-minimal:latest"
        );
        let t = norm("ubi9/ubi:9.4").unwrap();
        assert_eq!(t.full_name(), "registry.redhat.io/ubi9/ubi:9.4");
        let e = norm("registry.redhat.io/ubi").unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("NAMESPACE/ubi"),
            "{e}"
        );
    }
}
