//! GitLab's container registry: `registry.gitlab.com`, and self-hosted GitLab instances chosen
//! with `--registry gitlab` (or the config file).
//!
//! Facts about this registry:
//! - Names follow the project: `HOST/GROUP/PROJECT[/IMAGE][:TAG]`, and groups nest
//!   (`registry.gitlab.com/group/sub/sub2/project/image:tag`). The whole path is the
//!   repository, kept as written; a one-part name is a usage error (a project always lives in
//!   a user's or a group's namespace). Without a host, `registry.gitlab.com` is meant.
//! - Tokens come from the GitLab instance (`https://gitlab.com/jwt/auth`, the challenge's
//!   realm), and one is good only for the exact repository path in its scope:
//!   `repository:group/sub/sub2/project/image:pull`. A token for a prefix (the group, or the
//!   project without its image) opens nothing. The core asks for the full path, as normalized
//!   here.
//! - Public projects get anonymous tokens.
//! - Login: a GitLab user name and a personal access token (scope `read_registry`), or a
//!   deploy token's user name and token:
//!   `echo $TOKEN | drag login registry.gitlab.com -u USER --password-stdin`. In CI,
//!   `echo $CI_REGISTRY_PASSWORD | drag login $CI_REGISTRY -u $CI_REGISTRY_USER --password-stdin`.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "gitlab";
const CANONICAL: &str = "registry.gitlab.com";
const HOSTS: &[&str] = &["registry.gitlab.com"];

pub struct Gitlab;

impl Adapter for Gitlab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "GitLab (gitlab.com and self-hosted; nested GROUP/.../PROJECT[/IMAGE])"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        // The full nested path: it is the token's scope, and a shorter one opens nothing.
        let repository = reference.path().to_string();
        if !repository.contains('/') {
            return Err(Error::Usage(format!(
                "{reference}: GitLab images belong to a project; write it as \
                 {registry}/GROUP/PROJECT[/IMAGE] (groups may nest)"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

impl Authenticator for Gitlab {}
impl Resolver for Gitlab {}
impl ManifestQuirks for Gitlab {}

inventory::submit! { Registration(&Gitlab) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Gitlab.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_gitlab_com_only() {
        assert!(Gitlab.claims("registry.gitlab.com"));
        assert!(!Gitlab.claims("gitlab.com"));
        assert!(!Gitlab.claims("registry.gitlab.example"));
    }

    #[test]
    fn nested_groups_are_kept_whole() {
        let t = norm("registry.gitlab.com/group/sub/sub2/project/image:tag").unwrap();
        assert_eq!(t.name.repository, "group/sub/sub2/project/image");
        assert_eq!(
            t.full_name(),
            "registry.gitlab.com/group/sub/sub2/project/image:tag"
        );
        let t = norm("gitlab.example:5050/team/app").unwrap();
        assert_eq!(t.name.registry, "gitlab.example:5050");
        assert_eq!(t.name.repository, "team/app");
        let t = norm("group/project").unwrap();
        assert_eq!(t.full_name(), "registry.gitlab.com/group/project:latest");
    }

    #[test]
    fn a_name_without_namespace_is_a_usage_error() {
        let e = norm("registry.gitlab.com/project").unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("GROUP/PROJECT"),
            "{e}"
        );
    }
}
