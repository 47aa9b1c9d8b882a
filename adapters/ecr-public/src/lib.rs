//! Amazon ECR Public Gallery: `public.ecr.aws`.
//!
//! Facts about this registry:
//! - One host, `public.ecr.aws`. Names are `ALIAS/REPOSITORY` as written
//!   (`public.ecr.aws/docker/library/alpine`, `public.ecr.aws/nginx/nginx`); no `library/` is
//!   added, and a one-part name is a usage error: the registry alias is part of every name.
//! - Anonymous pulls are the rule: a standard Bearer challenge sends clients to
//!   `https://public.ecr.aws/token`, which gives anonymous tokens; the shared token path
//!   answers it. A login (user `AWS`, password from `aws ecr-public get-login-password
//!   --region us-east-1`, always region us-east-1) only raises the anonymous rate limits.
//! - Quirk: `HEAD` on a blob answers 401 even with a valid token. drag never sends a HEAD for
//!   a blob (blobs are fetched with GET, resumed with a ranged GET, and the cache is checked
//!   on disk), so nothing here works around it; the tests prove a pull never meets it.
//! - Blobs are redirected to CloudFront; the core never sends credentials there.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "ecr-public";
const HOST: &str = "public.ecr.aws";

pub struct EcrPublic;

impl Adapter for EcrPublic {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Amazon ECR Public Gallery (anonymous pulls; names are ALIAS/REPOSITORY)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        &[HOST]
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(HOST).to_ascii_lowercase();
        let repository = reference.path().to_string();
        if !repository.contains('/') {
            return Err(Error::Usage(format!(
                "{reference}: names on {HOST} are ALIAS/REPOSITORY (as \
                 {HOST}/docker/library/alpine); {repository:?} has no registry alias"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

impl Authenticator for EcrPublic {
    fn how_to_log_in(&self, host: &str) -> Option<String> {
        Some(format!(
            "`aws ecr-public get-login-password --region us-east-1 | drag login --username \
             AWS --password-stdin {host}`"
        ))
    }
}
impl Resolver for EcrPublic {}
impl ManifestQuirks for EcrPublic {}

inventory::submit! { Registration(&EcrPublic) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        EcrPublic.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn names_are_alias_and_repository_as_written() {
        let t = norm("public.ecr.aws/docker/library/alpine:3.19").unwrap();
        assert_eq!(t.name.registry, "public.ecr.aws");
        assert_eq!(t.name.repository, "docker/library/alpine");
        assert_eq!(t.full_name(), "public.ecr.aws/docker/library/alpine:3.19");
        assert!(norm("public.ecr.aws/alpine").unwrap_err().is_usage());
    }

    #[test]
    fn claims_its_one_host() {
        assert!(EcrPublic.claims("public.ecr.aws"));
        assert!(!EcrPublic.claims("1.dkr.ecr.us-east-1.amazonaws.com"));
    }
}
