//! JFrog Artifactory: `*.jfrog.io` (JFrog's cloud), and self-hosted Artifactory chosen with
//! `--registry artifactory` (or the config file).
//!
//! Facts about this registry:
//! - The first part of the path is the Artifactory repository key, kept verbatim:
//!   `acme.jfrog.io/docker-local/team/app:1` is image `team/app` in repository `docker-local`,
//!   and the registry is asked for `/v2/docker-local/team/app/...` (the "repository path"
//!   access method). No `library/` prefix is ever added, even for a one-part image under the
//!   key (`acme.jfrog.io/docker-remote/alpine`); a name without an image after the key is a
//!   usage error. (With the subdomain method, `acme-docker-local.jfrog.io/team/app`, the key
//!   is in the host and the path is the image: both are kept as written.)
//! - Tag lists carry digest-like entries, `sha256__<hex>`, which are how Artifactory stores
//!   manifests pushed by digest. The core hides them from `drag tags` unless `--all`.
//! - Challenges to HEAD requests may carry the `scope` value unquoted; the core's challenge
//!   parser takes unquoted values.
//! - Login: a user name and an identity token or API key (or the password):
//!   `echo $TOKEN | drag login acme.jfrog.io -u USER --password-stdin`.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "artifactory";
const HOSTS: &[&str] = &["*.jfrog.io"];

pub struct Artifactory;

impl Adapter for Artifactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "JFrog Artifactory (*.jfrog.io or self-hosted; REPO-KEY/IMAGE kept verbatim)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference
            .domain()
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{reference} names no Artifactory host; write it as \
                     HOST/REPO-KEY/{}",
                    reference.path()
                ))
            })?
            .to_ascii_lowercase();
        // The repository key and the image, exactly as written: the key is the first part.
        let repository = reference.path().to_string();
        if !repository.contains('/') && !has_key_in_host(&registry) {
            return Err(Error::Usage(format!(
                "{reference}: Artifactory images are named {registry}/REPO-KEY/IMAGE \
                 (docker-local/{repository})"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

/// `acme-docker-local.jfrog.io`: the subdomain access method names the repository key in the
/// host, so the path may be a one-part image.
fn has_key_in_host(host: &str) -> bool {
    let label = host.split('.').next().unwrap_or("");
    host.ends_with(".jfrog.io") && label.contains('-')
}

// Digest-like tags and unquoted scopes are handled by the core for any registry.
impl Authenticator for Artifactory {}
impl Resolver for Artifactory {}
impl ManifestQuirks for Artifactory {}

inventory::submit! { Registration(&Artifactory) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Artifactory.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_jfrog_cloud_hosts() {
        assert!(Artifactory.claims("acme.jfrog.io"));
        assert!(Artifactory.claims("acme-docker-local.jfrog.io"));
        assert!(!Artifactory.claims("jfrog.io"));
        assert!(!Artifactory.claims("a.b.jfrog.io"));
        assert!(!Artifactory.claims("artifactory.example"));
    }

    #[test]
    fn the_repository_key_is_kept_verbatim() {
        let t = norm("acme.jfrog.io/docker-local/team/app:1").unwrap();
        assert_eq!(t.name.repository, "docker-local/team/app");
        assert_eq!(t.full_name(), "acme.jfrog.io/docker-local/team/app:1");
        let t = norm("acme.jfrog.io/docker-remote/alpine").unwrap();
        assert_eq!(t.name.repository, "docker-remote/alpine");
        let t = norm("artifactory.example:8443/docker-virtual/app").unwrap();
        assert_eq!(t.name.repository, "docker-virtual/app");
        let t = norm("acme-docker-local.jfrog.io/app:1").unwrap();
        assert_eq!(t.name.repository, "app");
    }

    #[test]
    fn names_without_key_or_host_are_usage_errors() {
        let e = norm("acme.jfrog.io/app").unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("REPO-KEY/IMAGE"),
            "{e}"
        );
        assert!(norm("docker-local/app").unwrap_err().is_usage());
    }
}
