//! Microsoft Container Registry: `mcr.microsoft.com` (and `mcr.azure.cn`), home of the
//! Windows base images.
//!
//! Facts about this registry:
//! - Anonymous: it answers without a challenge, so no token is ever fetched for it (and the
//!   token cache is per endpoint, so a Docker Hub token can never reach it). If it does
//!   challenge one day, the shared auth path answers.
//! - Blobs are redirected to CDN hosts (`*.data.mcr.microsoft.com`); the core follows without
//!   credentials. Under egress load it answers 429, which the shared retry path handles.
//! - Tag quirk: some tags only resolve in their arch-specific form (`1803` fails where
//!   `1803-amd64` or the dated `1803-amd64-20200211` works), and some multi-arch tags lack a
//!   platform. The resolver here falls back to those forms, found in the tag list (which the
//!   core reads within its limits, valid tags only); a candidate is tried only if it is a
//!   valid tag that extends the asked one. What it tells the user keeps the two cases apart
//!   ("tag 1803 does not exist" against "tag 1803 has no windows/arm64 image") and names the
//!   repository once per line.
//! - A repository it does not have answers `NAME_UNKNOWN` on the manifest: no fallback can
//!   cure that, so that answer is the error (and the tag list, which would fail too, is not
//!   read). When the tag list cannot be read for another reason, the manifest's answer is
//!   still what the user is told.
//! - Repositories under `windows/` hold Windows images: without `--platform`, drag picks
//!   windows/amd64 there.

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ImageName, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::platform::{Platform, Wanted};
use drag_core::reference::{is_valid_tag, Reference};
use drag_core::registry::Session;
use drag_core::resolve::{self, Resolved};
use drag_core::{Error, Result};

pub const NAME: &str = "mcr";
const CANONICAL: &str = "mcr.microsoft.com";
const HOSTS: &[&str] = &["mcr.microsoft.com", "mcr.azure.cn"];

pub struct Mcr;

impl Adapter for Mcr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Microsoft Container Registry (Windows base images; arch-specific tag fallback)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().unwrap_or(CANONICAL).to_ascii_lowercase();
        Ok(as_written(&registry, reference))
    }

    fn default_platform(&self, name: &ImageName) -> Option<Platform> {
        name.repository.starts_with("windows/").then(|| Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            ..Platform::default()
        })
    }
}

impl Authenticator for Mcr {}
impl ManifestQuirks for Mcr {}

#[drag_core::async_trait]
impl Resolver for Mcr {
    async fn resolve(
        &self,
        session: &Session,
        target: &Target,
        wanted: &Wanted,
    ) -> Result<Resolved> {
        let (None, Some(tag)) = (&target.digest, &target.tag) else {
            return resolve::resolve(session, target, wanted).await;
        };
        let miss = match try_tag(session, target, wanted).await? {
            Ok(resolved) => return Ok(resolved),
            Err(miss) => miss,
        };
        let repository = format!("{}/{}", target.name.registry, target.name.repository);
        let unresolved = |reason: String| Error::TagUnresolved {
            repository: repository.clone(),
            reason,
        };
        // The tag list is only where other spellings are looked for: when the registry refuses
        // it, what the manifest request found is what the user needs to hear. When it is
        // unreadable otherwise (too long, malformed), that is said too, once.
        let tags = match session.list_tags().await {
            Ok(list) => list.tags,
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(Error::Registry(_)) => return Err(unresolved(miss.describe(tag))),
            Err(e) => {
                let why = match &e {
                    Error::Manifest { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                return Err(unresolved(format!(
                    "{}; its tag list, where other spellings are looked for, is unreadable: {why}",
                    miss.describe(tag)
                )));
            }
        };
        let arch = wanted.platform.normalized().architecture;
        let candidates = arch_specific_tags(tag, &arch, &tags);
        if candidates.is_empty() {
            return Err(unresolved(format!(
                "{}, and there is no {tag}-{arch} tag either; closest tags: {}",
                miss.describe(tag),
                closest_tags(tag, &tags).join(", ")
            )));
        }
        // Each candidate costs a resolve (with retries); the exact `<tag>-<arch>` comes first
        // and the newest dated builds after it, so a few are all worth trying.
        let closest = closest_tags(tag, &tags).join(", ");
        let mut tried = vec![miss.describe(tag)];
        for candidate in candidates.into_iter().take(MAX_CANDIDATES) {
            let mut attempt = target.clone();
            attempt.tag = Some(candidate.clone());
            match try_tag(session, &attempt, wanted).await? {
                Ok(mut r) => {
                    r.notes.push(format!(
                        "{repository}: {}; using tag {candidate}",
                        miss.describe(tag)
                    ));
                    // The image keeps the name the user asked for.
                    r.target = target.clone();
                    return Ok(r);
                }
                Err(m) => tried.push(m.describe(&candidate)),
            }
        }
        Err(unresolved(format!(
            "{}; closest tags: {closest}",
            tried.join("; ")
        )))
    }
}

/// Why a tag gave no image, when an arch-specific tag might: the tag is not there, or it has
/// no image for the wanted platform.
enum Miss {
    /// The registry does not know the tag (its error code, or the status when it sent none).
    NoTag(String),
    /// The tag exists, with images for other platforms (these, described).
    NoPlatform { wanted: String, has: Vec<String> },
}

impl Miss {
    /// `tag 1803 does not exist (MANIFEST_UNKNOWN)`, `tag 1803 has no windows/arm64 image
    /// (available: windows/amd64)`: no registry or repository, so a line that names them once
    /// can hold several of these.
    fn describe(&self, tag: &str) -> String {
        match self {
            Miss::NoTag(code) => format!("tag {tag} does not exist ({code})"),
            Miss::NoPlatform { wanted, has } => {
                format!(
                    "tag {tag} has no {wanted} image (available: {})",
                    has.join(", ")
                )
            }
        }
    }
}

/// Resolves one tag, telling what a fallback can cure (`Ok(Err(miss))`) from what it cannot
/// (`Err`): a misspelled repository (`NAME_UNKNOWN`), a refused login, a network failure, a
/// malformed manifest.
async fn try_tag(
    session: &Session,
    target: &Target,
    wanted: &Wanted,
) -> Result<std::result::Result<Resolved, Miss>> {
    let top = match session.get_manifest(&target.manifest_reference()).await {
        Ok(top) => top,
        Err(Error::Registry(r))
            if r.code() == Some("MANIFEST_UNKNOWN") || (r.status == 404 && r.code().is_none()) =>
        {
            let code = r.code().map_or_else(|| "HTTP 404".into(), str::to_string);
            return Ok(Err(Miss::NoTag(code)));
        }
        Err(e) => return Err(e),
    };
    match resolve::descend(session, target, top, wanted).await {
        Ok(r) => Ok(Ok(r)),
        Err(Error::NoMatchingPlatform {
            wanted, available, ..
        }) => Ok(Err(Miss::NoPlatform {
            wanted,
            has: available,
        })),
        Err(Error::PlatformMismatch { wanted, actual, .. }) => Ok(Err(Miss::NoPlatform {
            wanted,
            has: vec![actual],
        })),
        Err(e) => Err(e),
    }
}

/// How many arch-specific tags are tried before giving up.
const MAX_CANDIDATES: usize = 4;

/// `<tag>-<arch>` if it exists, then the tags starting with `<tag>-<arch>-`, newest first.
/// Only valid tags: a candidate goes into a request URL and into a note on the terminal.
fn arch_specific_tags(tag: &str, arch: &str, tags: &[String]) -> Vec<String> {
    let exact = format!("{tag}-{arch}");
    let prefix = format!("{exact}-");
    let mut dated: Vec<&String> = tags
        .iter()
        .filter(|t| t.starts_with(&prefix) && is_valid_tag(t))
        .collect();
    dated.sort_by(|a, b| natural_cmp(b, a));
    let mut out: Vec<String> = tags
        .iter()
        .filter(|t| **t == exact && is_valid_tag(t))
        .cloned()
        .collect();
    out.extend(dated.into_iter().cloned());
    out
}

/// Up to ten tags sharing the longest prefix with `tag`, for the error message.
fn closest_tags(tag: &str, tags: &[String]) -> Vec<String> {
    let common = |t: &String| {
        t.chars()
            .zip(tag.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let mut scored: Vec<(usize, &String)> = tags.iter().map(|t| (common(t), t)).collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| natural_cmp(b.1, a.1)));
    let shown: Vec<String> = scored
        .into_iter()
        .take(10)
        .map(|(_, t)| t.clone())
        .collect();
    if shown.is_empty() {
        vec!["(the repository has no tags)".into()]
    } else {
        shown
    }
}

/// Compares strings with digit runs as numbers, so `...-20200211` > `...-20191008` and
/// `10.0.2` < `10.0.10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let da = trim_zeros(&a[..na]);
                let db = trim_zeros(&b[..nb]);
                let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

inventory::submit! { Registration(&Mcr) }

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_arch_tag_first_then_newest_dated() {
        let t = tags(&[
            "1803",
            "1803-amd64-20191008",
            "1803-amd64-20200211",
            "1803-arm64",
            "1803-amd64",
            "1809-amd64",
        ]);
        assert_eq!(
            arch_specific_tags("1803", "amd64", &t),
            tags(&["1803-amd64", "1803-amd64-20200211", "1803-amd64-20191008"])
        );
        assert_eq!(arch_specific_tags("1803", "arm", &t), Vec::<String>::new());
    }

    #[test]
    fn candidates_must_be_valid_tags() {
        let t = tags(&[
            "1803-amd64-\x1b[2J\rdone",
            "1803-amd64-../../x",
            &format!("1803-amd64-{}", "9".repeat(200)),
            "1803-amd64-1",
        ]);
        assert_eq!(
            arch_specific_tags("1803", "amd64", &t),
            tags(&["1803-amd64-1"])
        );
    }

    #[test]
    fn closest_tags_share_a_prefix() {
        let t = tags(&["ltsc2019", "1809", "1803-amd64", "1803-arm64", "latest"]);
        let c = closest_tags("1803", &t);
        assert_eq!(&c[..2], &tags(&["1803-arm64", "1803-amd64"])[..]);
    }

    #[test]
    fn names_and_windows_default() {
        let r = Reference::parse("windows/nanoserver:1803").unwrap();
        let t = Mcr.normalize(&r).unwrap();
        assert_eq!(t.full_name(), "mcr.microsoft.com/windows/nanoserver:1803");
        assert_eq!(
            t.repo_tag().as_deref(),
            Some("mcr.microsoft.com/windows/nanoserver:1803")
        );
        let p = Mcr.default_platform(&t.name).unwrap();
        assert_eq!(p.to_string(), "windows/amd64");
        let dotnet = Mcr
            .normalize(&Reference::parse("mcr.microsoft.com/dotnet/runtime:8.0").unwrap())
            .unwrap();
        assert!(Mcr.default_platform(&dotnet.name).is_none());
    }

    #[test]
    fn natural_order() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("a-20200211", "a-20191008"), Greater);
        assert_eq!(natural_cmp("10.0.2", "10.0.10"), Less);
        assert_eq!(natural_cmp("x", "x"), Equal);
    }
}
