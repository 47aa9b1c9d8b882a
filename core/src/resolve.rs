//! From a tag or digest to one image manifest: fetch, walk indexes, choose the platform.
//!
//! This is the default [`Resolver`](crate::adapter::Resolver); adapters with fallbacks (MCR's
//! arch-specific tags) call into it and try again with another reference.

use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::error::{Error, Result};
use crate::manifest::{
    is_non_image_entry, Descriptor, ImageManifest, Manifest, RawManifest, MAX_INDEX_DEPTH,
};
use crate::name::Target;
use crate::platform::{choose_best, Platform, Wanted};
use crate::registry::Session;

/// The outcome of resolution.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The target as finally resolved (an adapter may have changed its tag).
    pub target: Target,
    /// What the reference pointed at: an index, or the image manifest itself.
    pub top: RawManifest,
    /// The chosen image manifest, as served.
    pub image: RawManifest,
    /// `image`, parsed.
    pub manifest: ImageManifest,
    /// The platform of the chosen entry, when it came from an index.
    pub platform: Option<Platform>,
    /// Every image platform the (first) index listed, for `inspect` and error messages:
    /// artifacts and attestations left out, platforms of entries without one read from their
    /// configs.
    pub index_platforms: Vec<Platform>,
    /// What the user should be told about how the image was found (a fallback tag...).
    pub notes: Vec<String>,
}

/// Fetches what `target` names and descends to the image for `wanted`.
///
/// A reference that names one image directly is taken as it is, unless the user asked for a
/// platform: then the image's config must state one that runs it, as `docker pull --platform`
/// checks ([`Error::PlatformMismatch`] otherwise).
pub async fn resolve(session: &Session, target: &Target, wanted: &Wanted) -> Result<Resolved> {
    let top = session.get_manifest(&target.manifest_reference()).await?;
    descend(session, target, top, wanted).await
}

/// How many index entries that claim a platform but turn out to be artifacts are skipped
/// before the index is given up on.
const MAX_DISCARDED_ARTIFACTS: usize = 16;

/// Descends from an already fetched manifest (what `target` names) to the image for `wanted`:
/// for resolvers that fetch the top manifest themselves, to tell a missing tag from a tag
/// without the wanted platform.
pub async fn descend(
    session: &Session,
    target: &Target,
    top: RawManifest,
    wanted: &Wanted,
) -> Result<Resolved> {
    let what = target.full_name();
    let mut current = top.clone();
    let mut platform = None;
    let mut index_platforms: Option<Vec<Platform>> = None;
    for _ in 0..=MAX_INDEX_DEPTH {
        match current.parse(&what)? {
            Manifest::Image(manifest) => {
                if !manifest.is_image() {
                    return Err(not_an_image(&what, &manifest));
                }
                // Only an image named directly: an index entry was chosen for its platform.
                if platform.is_none() && wanted.asked {
                    check_single_platform(session, &manifest, wanted, &what).await?;
                }
                return Ok(Resolved {
                    target: target.clone(),
                    top,
                    image: current,
                    manifest,
                    platform,
                    index_platforms: index_platforms.unwrap_or_default(),
                    notes: Vec::new(),
                });
            }
            Manifest::Index(index) => {
                let mut candidates = image_candidates(session, index.manifests, &what).await?;
                let mut discarded = 0;
                let (chosen, child) = loop {
                    let Some(i) = choose(&wanted.platform, &candidates) else {
                        return Err(Error::NoMatchingPlatform {
                            reference: what,
                            wanted: wanted.to_string(),
                            available: describe_available(&candidates),
                        });
                    };
                    let child = match candidates[i].fetched.take() {
                        Some(child) => child,
                        None => fetch_child(session, &candidates[i].desc, &what).await?,
                    };
                    // An entry that carried a platform but turns out to be an artifact (its
                    // config says so) was never a candidate: choose again without it.
                    if let Ok(Manifest::Image(m)) = child.parse(&what) {
                        if !m.is_image() {
                            // Each costs a request: a hostile index could list thousands.
                            discarded += 1;
                            if discarded > MAX_DISCARDED_ARTIFACTS {
                                return Err(Error::manifest(
                                    what,
                                    format!(
                                        "more than {MAX_DISCARDED_ARTIFACTS} artifacts listed \
                                         as images for {wanted}"
                                    ),
                                ));
                            }
                            candidates.remove(i);
                            continue;
                        }
                    }
                    break (candidates[i].platform.clone(), child);
                };
                index_platforms
                    .get_or_insert_with(|| candidates.iter().map(|c| c.platform.clone()).collect());
                platform = Some(chosen);
                current = child;
            }
        }
    }
    Err(Error::manifest(
        what,
        format!("indexes nested deeper than {MAX_INDEX_DEPTH} levels"),
    ))
}

/// Refuses an image named directly whose config states another platform than the one asked.
async fn check_single_platform(
    session: &Session,
    manifest: &ImageManifest,
    wanted: &Wanted,
    what: &str,
) -> Result<()> {
    let actual = config_platform(session, manifest).await?;
    if wanted.accepts_single(&actual) {
        return Ok(());
    }
    Err(Error::PlatformMismatch {
        reference: what.to_string(),
        wanted: wanted.to_string(),
        // The config's words: cut short like any other field from the wire.
        actual: describe_platforms(&[actual])
            .concat()
            .chars()
            .take(200)
            .collect(),
    })
}

fn not_an_image(what: &str, manifest: &ImageManifest) -> Error {
    let kind = manifest
        .artifact_type
        .as_deref()
        .unwrap_or(&manifest.config.media_type);
    let kind: String = kind.chars().take(200).collect();
    Error::manifest(
        what,
        format!(
            "not a container image but an artifact of type {}",
            kind.escape_debug()
        ),
    )
}

/// An index entry that may be chosen, with the platform it runs on.
#[derive(Clone, Debug)]
struct Candidate {
    desc: Descriptor,
    platform: Platform,
    /// False when the index gave no platform and it was read from the image's config.
    declared: bool,
    /// The manifest, when reading the platform already fetched it.
    fetched: Option<RawManifest>,
}

/// The best candidate for `wanted`. Entries whose platform the index declares come first, even
/// when they are only a fallback (an older variant), as in containerd, which sorts entries
/// without a platform last; only when none runs are the platforms read from configs considered.
fn choose(wanted: &Platform, candidates: &[Candidate]) -> Option<usize> {
    [true, false].into_iter().find_map(|declared| {
        let (positions, platforms): (Vec<usize>, Vec<Platform>) = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.declared == declared)
            .map(|(i, c)| (i, c.platform.clone()))
            .unzip();
        choose_best(wanted, &platforms).map(|i| positions[i])
    })
}

fn describe_available(candidates: &[Candidate]) -> Vec<String> {
    let platforms: Vec<Platform> = candidates.iter().map(|c| c.platform.clone()).collect();
    let described = describe_platforms(&platforms);
    if described.is_empty() {
        vec!["no images".to_string()]
    } else {
        described
    }
}

/// The entries of an index that may be chosen: images, never artifacts or attestations.
///
/// OCI makes an entry's platform optional. An entry without one is opened, as containerd does:
/// an index is walked into, an image gets the platform its config states, and an image
/// manifest whose config is not an image config (an artifact) is left out.
async fn image_candidates(
    session: &Session,
    entries: Vec<Descriptor>,
    what: &str,
) -> Result<Vec<Candidate>> {
    // A hostile index could name thousands of platform-less entries: open a bounded number.
    const MAX_OPENED: usize = 64;
    let mut opened = 0;
    let mut out = Vec::new();
    let mut pending: Vec<(Descriptor, usize)> = entries.into_iter().rev().map(|d| (d, 0)).collect();
    while let Some((d, depth)) = pending.pop() {
        if is_non_image_entry(&d) {
            continue;
        }
        if let Some(platform) = d.platform.clone() {
            out.push(Candidate {
                desc: d,
                platform,
                declared: true,
                fetched: None,
            });
            continue;
        }
        if depth >= MAX_INDEX_DEPTH {
            return Err(Error::manifest(
                what,
                format!("indexes nested deeper than {MAX_INDEX_DEPTH} levels"),
            ));
        }
        opened += 1;
        if opened > MAX_OPENED {
            return Err(Error::manifest(
                what,
                format!("more than {MAX_OPENED} nested indexes or entries without a platform"),
            ));
        }
        let child = fetch_child(session, &d, what).await?;
        match child.parse(what)? {
            Manifest::Index(inner) => {
                pending.extend(inner.manifests.into_iter().rev().map(|c| (c, depth + 1)));
            }
            Manifest::Image(image) if image.is_image() => {
                let platform = config_platform(session, &image).await?;
                out.push(Candidate {
                    desc: d,
                    platform,
                    declared: false,
                    fetched: Some(child),
                });
            }
            Manifest::Image(_) => {}
        }
    }
    Ok(out)
}

/// The platform an image's config states (`os`, `architecture`, `variant`, `os.version`).
async fn config_platform(session: &Session, image: &ImageManifest) -> Result<Platform> {
    let bytes = session
        .get_blob_bytes(&image.config, MAX_CONFIG_BYTES)
        .await?;
    let config = ImageConfig::parse(&bytes)?;
    let text = |key: &str| {
        config
            .field(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(Platform {
        os: config.os().unwrap_or_default().to_string(),
        architecture: config.architecture().unwrap_or_default().to_string(),
        variant: text("variant"),
        os_version: text("os.version"),
        os_features: Vec::new(),
    })
}

/// The most manifests drag fetches under one index (`--all-platforms` pulls, copies): real
/// indexes have tens of entries (a platform and its attestation each), a hostile one could
/// name millions. A copy walks the same tree a pull does, so both share pull's bound.
pub(crate) const MAX_TREE_MANIFESTS: usize = 1024;

/// Every manifest below `top` (not `top` itself), fetched and verified, each with its depth
/// (1 for `top`'s children), in the order found. An index nested deeper than
/// [`MAX_INDEX_DEPTH`] or naming more than [`MAX_TREE_MANIFESTS`] manifests in all is refused.
pub(crate) async fn fetch_tree(
    session: &Session,
    top: &RawManifest,
    what: &str,
) -> Result<Vec<(RawManifest, usize)>> {
    let mut found: Vec<(RawManifest, usize)> = Vec::new();
    let mut pending = vec![(top.clone(), 0usize)];
    while let Some((m, depth)) = pending.pop() {
        if depth > MAX_INDEX_DEPTH {
            return Err(Error::manifest(what, "indexes nested too deep"));
        }
        if let Manifest::Index(index) = m.parse(what)? {
            for d in &index.manifests {
                if found.len() >= MAX_TREE_MANIFESTS {
                    return Err(Error::manifest(
                        what,
                        format!("more than {MAX_TREE_MANIFESTS} manifests under one index"),
                    ));
                }
                let child = fetch_child(session, d, what).await?;
                found.push((child.clone(), depth + 1));
                pending.push((child, depth + 1));
            }
        }
    }
    Ok(found)
}

/// A manifest an index names, checked against the descriptor's size (its digest is checked
/// by the fetch).
pub(crate) async fn fetch_child(
    session: &Session,
    entry: &Descriptor,
    what: &str,
) -> Result<RawManifest> {
    let child = session.get_manifest(&entry.digest.to_string()).await?;
    if child.bytes.len() as u64 != entry.size {
        return Err(Error::SizeMismatch {
            what: format!("manifest {} in {what}", entry.digest.short()),
            expected: entry.size,
            actual: child.bytes.len() as u64,
        });
    }
    Ok(child)
}

/// `linux/amd64, linux/arm64/v8, windows/amd64:10.0.17763.5830` for messages.
pub(crate) fn describe_platforms(platforms: &[Platform]) -> Vec<String> {
    let mut v: Vec<String> = platforms
        .iter()
        .map(|p| {
            if p.os.is_empty() {
                "(no platform)".to_string()
            } else {
                p.to_string()
            }
        })
        .collect();
    v.dedup();
    v
}
