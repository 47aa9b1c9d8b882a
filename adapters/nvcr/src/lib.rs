//! NVIDIA GPU Cloud's registry: `nvcr.io`.
//!
//! Facts about this registry:
//! - Names are `nvcr.io/ORG/IMAGE` or `nvcr.io/ORG/TEAM/IMAGE` (`nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04`);
//!   a one-part name is a usage error. Without a host (`--registry nvcr nvidia/cuda`),
//!   `nvcr.io` is meant.
//! - Its challenge departs from the usual form: no `service` parameter, and the `scope` value
//!   unquoted (`Bearer realm="https://nvcr.io/proxy_auth",scope=repository:nvidia/cuda:pull`).
//!   The core's challenge parser takes unquoted values, and its token request leaves `service`
//!   out when the challenge has none (an empty `service=` is refused by some token services).
//! - The token service answers with `Content-Type: text/plain` though the body is JSON; the
//!   core reads the body as JSON whatever its type says.
//! - Public images get anonymous tokens; NGC-only images need a login.
//! - Login: the literal user name `$oauthtoken` (with its dollar sign) and an NGC API key:
//!   `echo "$NGC_API_KEY" | drag login nvcr.io -u '$oauthtoken' --password-stdin`; the single
//!   quotes keep the shell from expanding `$oauthtoken`.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "nvcr";
const CANONICAL: &str = "nvcr.io";
const HOSTS: &[&str] = &["nvcr.io"];

/// The user name every API-key login uses.
pub const API_KEY_USER: &str = "$oauthtoken";

pub struct Nvcr;

impl Adapter for Nvcr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "NVIDIA NGC (ORG/[TEAM/]IMAGE; login $oauthtoken + API key)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        let repository = reference.path().to_string();
        if !repository.contains('/') {
            return Err(Error::Usage(format!(
                "{reference}: images on nvcr.io belong to an organization; write it as \
                 {registry}/ORG/{repository} or {registry}/ORG/TEAM/{repository}"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

// The text/plain token answer and the service-less, unquoted challenge are read by the core.
impl Authenticator for Nvcr {}
impl Resolver for Nvcr {}
impl ManifestQuirks for Nvcr {}

inventory::submit! { Registration(&Nvcr) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Nvcr.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_nvcr_only() {
        assert!(Nvcr.claims("nvcr.io"));
        assert!(!Nvcr.claims("ngc.nvidia.com"));
        assert!(!Nvcr.claims("x.nvcr.io"));
    }

    #[test]
    fn names_have_an_org_and_maybe_a_team() {
        let t = norm("nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04").unwrap();
        assert_eq!(t.name.repository, "nvidia/cuda");
        let t = norm("nvcr.io/nvidia/k8s/dcgm-exporter:3").unwrap();
        assert_eq!(t.name.repository, "nvidia/k8s/dcgm-exporter");
        let t = norm("nvidia/cuda").unwrap();
        assert_eq!(t.full_name(), "nvcr.io/nvidia/cuda:latest");
        let e = norm("nvcr.io/cuda").unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("nvcr.io/ORG/cuda"),
            "{e}"
        );
    }
}
