//! Google Container Registry and Artifact Registry: `gcr.io`, `*.gcr.io` (`us.gcr.io`,
//! `eu.gcr.io`, `asia.gcr.io`...), and `*-docker.pkg.dev` (`europe-west1-docker.pkg.dev`).
//!
//! Facts about these registries:
//! - Names: on `gcr.io` an image lives in a Google Cloud project, `gcr.io/PROJECT/IMAGE`
//!   (possibly nested); on Artifact Registry in a repository of a project,
//!   `LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE`. Shorter names are usage errors, and
//!   there is no `library/` namespace. Without a host (`--registry gcr PROJECT/IMAGE`),
//!   `gcr.io` is meant.
//! - A refused request answers 401 with no `WWW-Authenticate` at all; only `GET /v2/` says the
//!   challenge (a Bearer token service at `https://HOST/v2/token`). The core asks `/v2/` once
//!   per session when a 401 carries no challenge, so nothing is needed here.
//! - Public images get anonymous tokens.
//! - Login, either of:
//!   - user `oauth2accesstoken` and a short-lived access token:
//!     `gcloud auth print-access-token | drag login gcr.io -u oauth2accesstoken --password-stdin`
//!     (for Artifact Registry, the `LOCATION-docker.pkg.dev` host instead of `gcr.io`);
//!   - the gcloud credential helper: `gcloud auth configure-docker gcr.io,LOCATION-docker.pkg.dev`
//!     writes `"credHelpers": {"gcr.io": "gcloud"}` into Docker's `config.json`, and drag runs
//!     `docker-credential-gcloud` for those hosts as Docker does;
//!   - a service account key: user `_json_key`, the key file's JSON as password.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "gcr";
const CANONICAL: &str = "gcr.io";
const HOSTS: &[&str] = &["gcr.io", "*.gcr.io", "*-docker.pkg.dev"];

pub struct Gcr;

impl Adapter for Gcr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Google Container Registry and Artifact Registry (challenge only at /v2/)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        let repository = reference.path().to_string();
        let parts = repository.split('/').count();
        let (needed, form) = if is_artifact_registry(&registry) {
            (3, "PROJECT/REPOSITORY/IMAGE")
        } else {
            (2, "PROJECT/IMAGE")
        };
        if parts < needed {
            return Err(Error::Usage(format!(
                "{reference}: images on {registry} are named {registry}/{form}"
            )));
        }
        Ok(as_written(&registry, reference))
    }
}

/// Artifact Registry's hosts (`LOCATION-docker.pkg.dev`) name a repository inside the project.
fn is_artifact_registry(host: &str) -> bool {
    host.split(':')
        .next()
        .unwrap_or(host)
        .ends_with("-docker.pkg.dev")
}

// The challenge-less 401 is a quirk other registries share: the core's auth layer pings /v2/.
impl Authenticator for Gcr {}
impl Resolver for Gcr {}
impl ManifestQuirks for Gcr {}

inventory::submit! { Registration(&Gcr) }

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<Target> {
        Gcr.normalize(&Reference::parse(s).unwrap())
    }

    #[test]
    fn claims_gcr_and_artifact_registry_hosts() {
        for host in [
            "gcr.io",
            "us.gcr.io",
            "eu.gcr.io",
            "europe-west1-docker.pkg.dev",
            "us-docker.pkg.dev",
        ] {
            assert!(Gcr.claims(host), "{host}");
        }
        for host in ["pkg.dev", "docker.pkg.dev", "gcr.io.example", "a.b.gcr.io"] {
            assert!(!Gcr.claims(host), "{host}");
        }
    }

    #[test]
    fn names_need_a_project_and_on_artifact_registry_a_repository() {
        let t = norm("gcr.io/my-project/app:1").unwrap();
        assert_eq!(t.full_name(), "gcr.io/my-project/app:1");
        let t = norm("my-project/app").unwrap();
        assert_eq!(t.full_name(), "gcr.io/my-project/app:latest");
        let t = norm("us-docker.pkg.dev/my-project/repo/app:1").unwrap();
        assert_eq!(t.name.repository, "my-project/repo/app");

        let e = norm("gcr.io/app").unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("PROJECT/IMAGE"),
            "{e}"
        );
        let e = norm("us-docker.pkg.dev/my-project/app").unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("PROJECT/REPOSITORY/IMAGE"),
            "{e}"
        );
    }
}
