//! Sonatype Nexus Repository, self-hosted, chosen with `--registry nexus` (or the config
//! file): it has no host of its own to claim.
//!
//! Facts about this registry:
//! - A Docker repository in Nexus is reached either on its own connector port
//!   (`nexus.example:8443/app:1`) or through the repository path
//!   (`nexus.example/repository/docker-hosted/app:1`). Either way the path is kept verbatim:
//!   `repository/docker-hosted/app` is the repository asked for, never shortened and never
//!   given a `library/` prefix.
//! - Tag lists may hold `null` entries; the core skips them.
//! - Anonymous pulls work only when the repository allows them (the "Anonymous Docker pull"
//!   setting); otherwise Nexus challenges for Basic or for a token from its own `/v2/token`.
//! - Login: a Nexus user name and password (or a user token's name and pass code):
//!   `echo $PASSWORD | drag login nexus.example:8443 -u USER --password-stdin`.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "nexus";

pub struct Nexus;

impl Adapter for Nexus {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Sonatype Nexus, self-hosted (connector port or repository/NAME path, verbatim)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        &[]
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference
            .domain()
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{reference} names no Nexus host; write it as HOST:PORT/{} or \
                     HOST/repository/REPO/{}",
                    reference.path(),
                    reference.path()
                ))
            })?
            .to_ascii_lowercase();
        // The connector path, exactly as written.
        Ok(as_written(&registry, reference))
    }
}

// Null tags are skipped by the core for any registry.
impl Authenticator for Nexus {}
impl Resolver for Nexus {}
impl ManifestQuirks for Nexus {}

inventory::submit! { Registration(&Nexus) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Nexus.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_no_host() {
        assert!(Nexus.hosts().is_empty());
        assert!(!Nexus.claims("nexus.example"));
        assert!(!Nexus.is_catch_all());
    }

    #[test]
    fn the_connector_path_is_kept_verbatim() {
        let t = norm("nexus.example:8443/repository/docker-hosted/app:1").unwrap();
        assert_eq!(t.name.registry, "nexus.example:8443");
        assert_eq!(t.name.repository, "repository/docker-hosted/app");
        assert_eq!(
            t.full_name(),
            "nexus.example:8443/repository/docker-hosted/app:1"
        );
        let t = norm("nexus.example:8082/app").unwrap();
        assert_eq!(t.name.repository, "app");
        assert!(norm("app").unwrap_err().is_usage());
    }
}
