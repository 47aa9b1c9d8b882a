//! The Kubernetes project's registry: `registry.k8s.io`.
//!
//! Facts about this registry:
//! - Names are as written, one part or more (`registry.k8s.io/pause:3.9`,
//!   `registry.k8s.io/ingress-nginx/controller:v1.10.0`); there is no `library/` prefix.
//!   Without a host, `registry.k8s.io` is meant. (The frozen `k8s.gcr.io` is a GCR host.)
//! - It is a redirector: manifest and blob requests answer `307` to another host and path
//!   (an Artifact Registry mirror near the caller, `…-docker.pkg.dev/k8s-artifacts-prod/images/…`,
//!   or an S3 bucket for blobs). The core follows each hop and verifies what comes back.
//! - Anonymous only: it has no accounts, so no login is ever sent, neither to it nor to the
//!   hosts it redirects to (which may challenge for an anonymous token). `drag login` is
//!   neither needed nor used for it.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ImageName, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::auth::challenge::Challenge;
use drag_core::auth::{answer_challenges, AuthContext, Credential, Scope};
use drag_core::reference::Reference;
use drag_core::Result;

pub const NAME: &str = "k8s";
const CANONICAL: &str = "registry.k8s.io";
const HOSTS: &[&str] = &["registry.k8s.io"];

pub struct K8s;

impl Adapter for K8s {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Kubernetes images (redirects to mirrors on other hosts; anonymous only)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        Ok(as_written(&registry, reference))
    }

    // No auth file entry is looked up: there is no login for this registry.
    fn credential_keys(&self, _name: &ImageName) -> Vec<String> {
        Vec::new()
    }
}

/// Answers challenges as the standard path does, but always as nobody: a login given anyway
/// (`--user`, an auth file entry) is never sent.
#[drag_core::async_trait]
impl Authenticator for K8s {
    async fn authenticate(
        &self,
        ctx: &AuthContext,
        challenges: &[Challenge],
        scopes: &[Scope],
    ) -> Result<Option<Credential>> {
        let anonymous = AuthContext {
            registry_stack: ctx.registry_stack.clone(),
            other_stack: ctx.other_stack.clone(),
            registry: ctx.registry.clone(),
            credentials: None,
            insecure: ctx.insecure,
            patience: ctx.patience,
        };
        answer_challenges(&anonymous, challenges, scopes).await
    }
}

impl Resolver for K8s {}
impl ManifestQuirks for K8s {}

inventory::submit! { Registration(&K8s) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Target {
        K8s.normalize(&Reference::parse(s).unwrap()).unwrap()
    }

    #[test]
    fn claims_registry_k8s_io_only() {
        assert!(K8s.claims("registry.k8s.io"));
        assert!(!K8s.claims("k8s.gcr.io"));
        assert!(!K8s.claims("k8s.io"));
    }

    #[test]
    fn one_part_names_are_kept_without_library() {
        let t = norm("registry.k8s.io/pause:3.9");
        assert_eq!(t.name.repository, "pause");
        assert_eq!(t.full_name(), "registry.k8s.io/pause:3.9");
        let t = norm("ingress-nginx/controller:v1.10.0");
        assert_eq!(
            t.full_name(),
            "registry.k8s.io/ingress-nginx/controller:v1.10.0"
        );
    }

    #[test]
    fn no_login_is_looked_up() {
        let t = norm("registry.k8s.io/pause:3.9");
        assert!(K8s.credential_keys(&t.name).is_empty());
    }
}
