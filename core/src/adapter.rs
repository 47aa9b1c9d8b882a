//! The traits a registry adapter implements, and the registry of adapters.
//!
//! Everything that differs between registries lives behind these traits: which hosts an adapter
//! claims and how it names images ([`Adapter`]), how it answers an authentication challenge
//! ([`Authenticator`]), how a tag becomes a manifest ([`Resolver`]), what to do with each
//! layer ([`ManifestQuirks`]), and what its answers say beyond their status
//! ([`ResponseQuirks`], through [`Adapter::response_quirks`]). Each trait has a default that speaks plain OCI distribution, so an
//! adapter states only its differences. Adapters register with `inventory::submit!`:
//!
//! ```ignore
//! inventory::submit! { drag_core::adapter::Registration(&MyRegistry) }
//! ```

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::host_pattern;
use crate::manifest::{self, Descriptor};
use crate::platform::{Platform, Wanted};
use crate::reference::Reference;
use crate::registry::Session;
use crate::resolve::{self, Resolved};

pub use crate::auth::Authenticator;
pub use crate::http::quirks::{Answer, ResponseQuirks, Verdict};
pub use crate::name::{ImageName, Target};

/// One registry family: its hosts, naming rules and quirks.
pub trait Adapter: Authenticator + Resolver + ManifestQuirks + Send + Sync + 'static {
    /// The name used with `--registry` (`dockerhub`, `mcr`, `oci`).
    fn name(&self) -> &'static str;

    /// One line for `drag adapters`.
    fn summary(&self) -> &'static str;

    /// The hosts this adapter claims, as hosts (`gcr.io`) or host patterns (`*.gcr.io`,
    /// `*-docker.pkg.dev`): a `*` stands for one or more characters within one DNS label, case
    /// is ignored, and a port is part of the host (`localhost:5000` is not `localhost`). Empty
    /// for the catch-all adapter. `drag adapters` shows them as written.
    fn hosts(&self) -> &'static [&'static str];

    /// True for the adapter that serves every host no other adapter claims.
    fn is_catch_all(&self) -> bool {
        false
    }

    /// True for the adapter that serves references without a registry host (`alpine`).
    fn claims_unqualified(&self) -> bool {
        false
    }

    /// True if this adapter serves `host` (`name[:port]` as the reference writes it); the
    /// default matches it against the hosts and patterns of [`hosts`](Adapter::hosts).
    fn claims(&self, host: &str) -> bool {
        self.hosts()
            .iter()
            .any(|pattern| host_pattern::matches(pattern, host))
    }

    /// Turns a parsed reference into a canonical target (adds default registry, path prefix
    /// and tag as this registry's users expect).
    fn normalize(&self, reference: &Reference) -> Result<Target>;

    /// The base URL requests go to, unless the user gives `--endpoint`.
    fn endpoint(&self, name: &ImageName) -> String {
        format!("https://{}", name.registry)
    }

    /// The keys under which auth files and credential helpers know this registry, canonical
    /// first (the one a `credsStore` helper is asked for).
    fn credential_keys(&self, name: &ImageName) -> Vec<String> {
        vec![name.registry.clone()]
    }

    /// The platform to pick when the user gives none (None means the core default,
    /// linux/amd64).
    fn default_platform(&self, _name: &ImageName) -> Option<Platform> {
        None
    }

    /// How to read this registry's answers beyond their status (limits in headers, errors
    /// not worth retrying); None reads them as plain distribution answers.
    fn response_quirks(&self) -> Option<&'static dyn ResponseQuirks> {
        None
    }

    /// The most tags to ask for per page of a tag list, for a registry that caps the page
    /// size (ECR refuses `n` over 1000): the first page asks `?n=` this, and a `Link` to the
    /// next page asking for more is cut down to it. None (the default) asks for no size and
    /// follows the registry's pages as they come.
    fn tag_page_size(&self) -> Option<usize> {
        None
    }
}

/// Turns a target into the image manifest to pull.
#[async_trait]
pub trait Resolver {
    /// The default fetches the tag or digest, walks indexes and picks the platform.
    /// Adapters override it to add fallbacks (other tag spellings, mirrors).
    async fn resolve(
        &self,
        session: &Session,
        target: &Target,
        wanted: &Wanted,
    ) -> Result<Resolved> {
        resolve::resolve(session, target, wanted).await
    }
}

/// What to do with each layer of a manifest.
pub trait ManifestQuirks {
    /// How the layer's bytes are compressed, read from its media type. Adapters can override it
    /// for registries that label layers wrongly; the blob's magic bytes are checked anyway.
    fn layer_compression(&self, layer: &Descriptor) -> Result<manifest::Compression> {
        manifest::Compression::from_media_type(&layer.media_type).ok_or_else(|| {
            Error::manifest(
                layer.digest.short(),
                format!("unsupported layer media type {:?}", layer.media_type),
            )
        })
    }

    /// True if the layer must be fetched from its `urls` when the registry lacks it.
    fn is_foreign(&self, layer: &Descriptor) -> bool {
        manifest::is_foreign_layer(layer)
    }
}

/// An adapter's entry in the link-time registry.
pub struct Registration(pub &'static dyn Adapter);

inventory::collect!(Registration);

/// Every registered adapter, sorted by name.
pub fn all() -> Vec<&'static dyn Adapter> {
    let mut v: Vec<&'static dyn Adapter> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .collect();
    v.sort_by_key(|a| a.name());
    v
}

/// The adapter registered under `name` (ignoring case), for `--registry`.
pub(crate) fn by_name(name: &str) -> Result<&'static dyn Adapter> {
    all()
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::UnknownAdapter(name.to_string()))
}

/// The adapter for a reference: the one claiming its host, else the catch-all; for a
/// reference without a host, the one claiming unqualified names.
pub(crate) fn for_reference(reference: &Reference) -> Result<&'static dyn Adapter> {
    let adapters = all();
    let found = match reference.domain() {
        Some(host) => for_host(&adapters, host),
        None => adapters.iter().find(|a| a.claims_unqualified()).copied(),
    };
    found.ok_or_else(|| {
        Error::Usage(format!(
            "no registered adapter serves {reference} (registered: {})",
            adapters
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The adapter serving a registry host (`drag login HOST`), as [`for_reference`] picks it.
pub(crate) fn for_registry_host(host: &str) -> Result<&'static dyn Adapter> {
    for_host(&all(), host)
        .ok_or_else(|| Error::Usage(format!("no registered adapter serves {host}")))
}

/// The adapter serving `host`: one that lists it literally first, so a registry with its own
/// adapter is not taken by another's pattern (`eu.gcr.io` over `*.gcr.io`); then the first, by
/// name, that claims it; else the catch-all.
fn for_host(adapters: &[&'static dyn Adapter], host: &str) -> Option<&'static dyn Adapter> {
    let literally = |a: &&&'static dyn Adapter| {
        a.hosts()
            .iter()
            .any(|h| host_pattern::is_literal(h) && h.eq_ignore_ascii_case(host))
    };
    adapters
        .iter()
        .find(literally)
        .or_else(|| adapters.iter().find(|a| a.claims(host)))
        .or_else(|| adapters.iter().find(|a| a.is_catch_all()))
        .copied()
}

/// The target `reference` names on `registry`, its path kept exactly as written: how every
/// registry but Docker Hub names images (no `library/` added; the familiar name is the full
/// name). Adapters check the path's shape first, for their own usage errors.
pub fn as_written(registry: &str, reference: &Reference) -> Target {
    let registry = registry.to_ascii_lowercase();
    let repository = reference.path().to_string();
    let name = ImageName {
        familiar: familiar_name(&registry, &repository, None),
        registry,
        repository,
    };
    Target::new(name, reference)
}

/// Docker's familiar form of a name: the registry is dropped for `default_registry`, and so is
/// `library/` for its official images.
pub fn familiar_name(registry: &str, repository: &str, default_registry: Option<&str>) -> String {
    if Some(registry) == default_registry {
        repository
            .strip_prefix("library/")
            .filter(|rest| !rest.contains('/'))
            .unwrap_or(repository)
            .to_string()
    } else {
        format!("{registry}/{repository}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An adapter that only claims hosts; naming is never reached here.
    struct Claims {
        name: &'static str,
        hosts: &'static [&'static str],
        catch_all: bool,
    }

    impl Adapter for Claims {
        fn name(&self) -> &'static str {
            self.name
        }
        fn summary(&self) -> &'static str {
            "test"
        }
        fn hosts(&self) -> &'static [&'static str] {
            self.hosts
        }
        fn is_catch_all(&self) -> bool {
            self.catch_all
        }
        fn normalize(&self, reference: &Reference) -> Result<Target> {
            Err(Error::Usage(format!("not for {reference}")))
        }
    }
    impl Authenticator for Claims {}
    impl Resolver for Claims {}
    impl ManifestQuirks for Claims {}

    static GCR: Claims = Claims {
        name: "gcr",
        hosts: &["gcr.io", "*.gcr.io", "*-docker.pkg.dev"],
        catch_all: false,
    };
    static ECR: Claims = Claims {
        name: "ecr",
        hosts: &["*.dkr.ecr.*.amazonaws.com"],
        catch_all: false,
    };
    // Sorts before `gcr`, and claims one of its pattern's hosts by name.
    static EU: Claims = Claims {
        name: "eu",
        hosts: &["eu.gcr.io"],
        catch_all: false,
    };
    static OCI: Claims = Claims {
        name: "oci",
        hosts: &[],
        catch_all: true,
    };

    fn chosen(adapters: &[&'static dyn Adapter], host: &str) -> &'static str {
        for_host(adapters, host).map_or("none", |a| a.name())
    }

    #[test]
    fn the_default_claims_matches_host_patterns() {
        assert!(GCR.claims("gcr.io"));
        assert!(GCR.claims("us.gcr.io"));
        assert!(GCR.claims("Europe-West1-Docker.pkg.dev"));
        assert!(!GCR.claims("pkg.dev"));
        assert!(!GCR.claims("us.gcr.io:5000"));
        assert!(ECR.claims("123456789012.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(!ECR.claims("dkr.ecr.us-east-1.amazonaws.com"));
    }

    #[test]
    fn a_host_goes_to_the_adapter_whose_pattern_claims_it_else_the_catch_all() {
        let adapters: [&'static dyn Adapter; 3] = [&ECR, &GCR, &OCI];
        assert_eq!(chosen(&adapters, "asia.gcr.io"), "gcr");
        assert_eq!(chosen(&adapters, "us-docker.pkg.dev"), "gcr");
        assert_eq!(
            chosen(&adapters, "1.dkr.ecr.eu-west-1.amazonaws.com"),
            "ecr"
        );
        assert_eq!(chosen(&adapters, "gcr.io.example"), "oci");
        assert_eq!(chosen(&adapters, "localhost:5000"), "oci");
        assert_eq!(chosen(&[&GCR], "localhost:5000"), "none");
    }

    #[test]
    fn a_literal_host_wins_over_another_adapters_pattern() {
        let adapters: [&'static dyn Adapter; 3] = [&EU, &GCR, &OCI];
        assert_eq!(chosen(&adapters, "eu.gcr.io"), "eu");
        assert_eq!(chosen(&adapters, "EU.gcr.io"), "eu");
        assert_eq!(chosen(&adapters, "us.gcr.io"), "gcr");
        // Even when the pattern's adapter comes first.
        let adapters: [&'static dyn Adapter; 2] = [&GCR, &EU];
        assert_eq!(chosen(&adapters, "eu.gcr.io"), "eu");
    }
}
