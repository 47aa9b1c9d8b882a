//! What `drag serve` calls each image: the name a client asks for.
//!
//! A registry mirror is asked for `library/alpine`, not `docker.io/library/alpine`, so an
//! image's repository path is its name, without its registry host; a familiar name
//! (`alpine:3.9`, as `docker save` writes it) is first made full by its adapter, as a pull would.
//! With `--keep-host` the host stays, as the first path component (`docker.io/library/alpine`);
//! a port cannot be written in a path component, so `registry.local:5000` becomes
//! `registry.local_5000`. An image a source names only by a tag (skopeo's `oci:`) or not at all
//! is called after the source's file name (`images/app.tar` → `app`).

use std::path::Path;

use crate::adapter;
use crate::reference::{is_path_component, Reference, MAX_PATH_LEN};

/// A repository name and the tag an image has under it (None: reachable by digest only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServedName {
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
}

/// True for a repository name as distribution's grammar has it: path components joined by `/`.
pub(crate) fn is_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PATH_LEN
        && name.split('/').all(|c| is_path_component(c.as_bytes()))
}

/// The served name of an image a source names `reference` (full or familiar), or None when it
/// cannot be one (the caller then names the image after its source).
pub(crate) fn served_name(reference: &str, keep_host: bool) -> Option<ServedName> {
    let parsed = Reference::parse(reference).ok()?;
    // Normalized as a pull would (`alpine` → docker.io `library/alpine`); without an adapter
    // for it, the name as written.
    let (host, repository, tag) =
        match adapter::for_reference(&parsed).and_then(|a| a.normalize(&parsed)) {
            Ok(target) => (
                Some(target.name.registry),
                target.name.repository,
                target.tag,
            ),
            Err(_) => (
                parsed.domain().map(str::to_string),
                parsed.path().to_string(),
                parsed.tag().map(str::to_string),
            ),
        };
    let repository = match (keep_host, host) {
        (true, Some(host)) => format!("{}/{repository}", host_component(&host)?),
        _ => repository,
    };
    is_repository(&repository).then_some(ServedName { repository, tag })
}

/// A registry host as a path component: lower case, a port after `_`; None when it cannot be
/// one (an IPv6 address).
pub(crate) fn host_component(host: &str) -> Option<String> {
    let component = host.to_ascii_lowercase().replacen(':', "_", 1);
    is_path_component(component.as_bytes()).then_some(component)
}

/// The name of a source's unnamed images: its file name without `.tar`, made a valid path
/// component (`My App.tar` → `my-app`), or `image` when nothing of it is left.
pub(crate) fn source_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = file.strip_suffix(".tar").unwrap_or(&file);
    let mut out = String::new();
    for c in stem.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(MAX_PATH_LEN).collect();
    if is_path_component(out.as_bytes()) {
        out
    } else {
        "image".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_dropped_or_kept_as_a_path_component() {
        let name = served_name("registry.example.com/org/app:1", false).unwrap();
        assert_eq!(name.repository, "org/app");
        assert_eq!(name.tag.as_deref(), Some("1"));
        let name = served_name("registry.example.com:5000/org/app:1", true).unwrap();
        assert_eq!(name.repository, "registry.example.com_5000/org/app");
        let name = served_name(
            "registry.example.com/org/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            false,
        )
        .unwrap();
        assert_eq!(name.tag, None);
    }

    #[test]
    fn repository_names_follow_the_distribution_grammar() {
        for good in ["a", "library/alpine", "a/b__c/d-e.f", "docker.io/library/x"] {
            assert!(is_repository(good), "{good}");
        }
        for bad in [
            "", "A", "a//b", "/a", "a/", "..", "a/../b", "a/.b", "a:b", "a%2fb",
        ] {
            assert!(!is_repository(bad), "{bad}");
        }
        assert!(!is_repository(&"a".repeat(256)));
    }

    #[test]
    fn unnamed_images_are_called_after_their_source() {
        assert_eq!(source_name(Path::new("/x/My App.tar")), "my-app");
        assert_eq!(source_name(Path::new("layout")), "layout");
        assert_eq!(source_name(Path::new("/x/--.tar")), "image");
        assert_eq!(source_name(Path::new("/x/alpine_3.9.tar")), "alpine-3-9");
    }
}
