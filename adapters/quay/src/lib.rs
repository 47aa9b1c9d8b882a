//! Red Hat Quay: `quay.io` (self-hosted Quay is an ordinary OCI registry for the `oci` adapter).
//!
//! Facts about this registry:
//! - Names are `quay.io/NAMESPACE/NAME[:TAG]` (a user or an organization, then the
//!   repository). Quay has no `library/` namespace for official images: `quay.io/alpine` is a
//!   usage error that names the expected form, not a request that would fail as "unauthorized"
//!   (Quay answers a missing repository that way). Without a host, `quay.io` is meant.
//! - Public repositories get anonymous tokens from `https://quay.io/v2/auth`.
//! - Quay may answer a request it will not serve with a `302` to an HTML page (its sign-in
//!   page, or an error page on another host). The core never takes an HTML page, or any body
//!   that is not a JSON object, for a manifest, so nothing of it is stored; a blob is only
//!   stored once its digest matches.
//! - Login: a Quay user name and password, or a robot account (`NAMESPACE+ROBOT`) and its
//!   token: `echo $TOKEN | drag login quay.io -u 'NAMESPACE+ROBOT' --password-stdin`.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "quay";
const CANONICAL: &str = "quay.io";
const HOSTS: &[&str] = &["quay.io"];

pub struct Quay;

impl Adapter for Quay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Quay.io (NAMESPACE/NAME; no library/ namespace)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        let repository = reference.path().to_string();
        if !repository.contains('/') {
            return Err(Error::Usage(format!(
                "{reference}: quay.io has no library/ namespace; write it as \
                 {registry}/NAMESPACE/{repository} (the user or organization that owns it)"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

impl Authenticator for Quay {}
impl Resolver for Quay {}
impl ManifestQuirks for Quay {}

inventory::submit! { Registration(&Quay) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Quay.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_quay_io_only() {
        assert!(Quay.claims("quay.io"));
        assert!(!Quay.claims("cdn.quay.io"));
        assert!(!Quay.claims("quay.example"));
    }

    #[test]
    fn names_are_namespace_and_name() {
        let t = norm("quay.io/prometheus/node-exporter:v1.8.0").unwrap();
        assert_eq!(t.name.repository, "prometheus/node-exporter");
        assert_eq!(t.full_name(), "quay.io/prometheus/node-exporter:v1.8.0");
        let t = norm("coreos/etcd").unwrap();
        assert_eq!(t.full_name(), "quay.io/coreos/etcd:latest");
    }

    #[test]
    fn a_one_part_name_is_a_usage_error_naming_the_form() {
        let e = norm("quay.io/alpine").unwrap_err();
        assert!(e.is_usage());
        let text = e.to_string();
        assert!(text.contains("quay.io/NAMESPACE/alpine"), "{text}");
        assert!(text.contains("no library/"), "{text}");
    }
}
