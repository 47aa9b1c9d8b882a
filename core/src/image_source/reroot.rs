//! Where each image of a bundle goes under `drag push BUNDLE --to HOST[/PREFIX]`: its
//! repository path, with the registry it came from replaced by the destination, so
//! `docker.io/library/alpine:3.9` becomes `HOST/PREFIX/library/alpine:3.9`. A familiar name
//! (`alpine:3.9`, as `docker save` writes it) is first made full by the adapter that serves
//! it, as a pull would, so both spellings land in the same place.

use crate::adapter::{self, Target};
use crate::error::{Error, Result};
use crate::reference::Reference;

/// The destination of image `name` (full or familiar, as a source names it) under `to`
/// (`HOST` or `HOST/PREFIX`): the name is normalized by its adapter, then re-rooted.
pub fn destination(name: &str, to: &str) -> Result<String> {
    let reference = Reference::parse(name)?;
    let target = adapter::for_reference(&reference)?.normalize(&reference)?;
    reroot(&target, to)
}

/// `target`'s repository path under `to` (`HOST` or `HOST/PREFIX`), with its tag and digest.
pub fn reroot(target: &Target, to: &str) -> Result<String> {
    let root = to.trim_end_matches('/');
    let usage = |why: &str| Error::Usage(format!("--to {to:?}: {why}"));
    if root.is_empty() {
        return Err(usage("needs a registry host"));
    }
    if root.contains("://") {
        return Err(usage("write the host without a scheme"));
    }
    let mut out = format!("{root}/{}", target.name.repository);
    if let Some(tag) = &target.tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = &target.digest {
        out.push('@');
        out.push_str(&digest.to_string());
    }
    // What comes out must be a reference the destination's adapter can read: a prefix with a
    // tag, upper case or a bad host is caught here, naming the option.
    let parsed = Reference::parse(&out).map_err(|e| usage(&e.to_string()))?;
    if parsed.domain().is_none() {
        return Err(usage(
            "the first part must be a registry host (with a dot or a port, or localhost)",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::name::ImageName;

    fn target(registry: &str, repository: &str, tag: Option<&str>) -> Target {
        Target {
            name: ImageName {
                registry: registry.into(),
                repository: repository.into(),
                familiar: repository.into(),
            },
            tag: tag.map(Into::into),
            digest: None,
        }
    }

    #[test]
    fn the_repository_path_moves_under_the_host_and_prefix() {
        let t = target("docker.io", "library/alpine", Some("3.9"));
        assert_eq!(
            reroot(&t, "localhost:5000/mirror").unwrap(),
            "localhost:5000/mirror/library/alpine:3.9"
        );
        assert_eq!(
            reroot(&t, "registry.example.com/").unwrap(),
            "registry.example.com/library/alpine:3.9"
        );
        let t = target("ghcr.io", "org/app", Some("1"));
        assert_eq!(
            reroot(&t, "h.local:443/a/b").unwrap(),
            "h.local:443/a/b/org/app:1"
        );
    }

    #[test]
    fn a_digest_is_kept() {
        let mut t = target("quay.io", "org/app", None);
        let d = Digest::sha256_of(b"x");
        t.digest = Some(d.clone());
        assert_eq!(
            reroot(&t, "localhost:5000").unwrap(),
            format!("localhost:5000/org/app@{d}")
        );
    }

    #[test]
    fn a_destination_that_is_not_a_registry_is_refused() {
        let t = target("docker.io", "library/alpine", Some("3.9"));
        for bad in [
            "",
            "/",
            "https://h.example.com",
            "mirror",
            "h.example.com/UPPER",
            "h.example.com:x:1",
        ] {
            let err = reroot(&t, bad);
            assert!(err.is_err(), "{bad} accepted: {err:?}");
        }
    }
}
