//! From a tag or digest to one image manifest: fetch, walk indexes, choose the platform.
//!
//! This is the default [`Resolver`](crate::adapter::Resolver); adapters with fallbacks (MCR's
//! arch-specific tags) call into it and try again with another reference.

use crate::adapter::Target;
use crate::error::{Error, Result};
use crate::manifest::{
    is_non_image_entry, media_type, Descriptor, ImageManifest, Manifest, RawManifest,
    MAX_INDEX_DEPTH,
};
use crate::platform::{choose_best, Platform};
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
    pub manifest: ImageManifest,
    /// The platform of the chosen entry, when it came from an index.
    pub platform: Option<Platform>,
    /// Every image platform the (first) index listed, for `inspect` and error messages.
    pub index_platforms: Vec<Platform>,
    /// What the user should be told about how the image was found (a fallback tag...).
    pub notes: Vec<String>,
}

/// Fetches what `target` names and descends to the image for `wanted`.
pub async fn resolve(session: &Session, target: &Target, wanted: &Platform) -> Result<Resolved> {
    let top = session.get_manifest(&target.manifest_reference()).await?;
    descend(session, target, top, wanted).await
}

/// Descends from an already fetched manifest to the image for `wanted`.
pub async fn descend(
    session: &Session,
    target: &Target,
    top: RawManifest,
    wanted: &Platform,
) -> Result<Resolved> {
    let what = target.full_name();
    let mut current = top.clone();
    let mut platform = None;
    let mut index_platforms: Option<Vec<Platform>> = None;
    for _ in 0..=MAX_INDEX_DEPTH {
        match current.parse(&what)? {
            Manifest::Image(manifest) => {
                return Ok(Resolved {
                    target: target.clone(),
                    top,
                    image: current,
                    manifest,
                    platform,
                    index_platforms: index_platforms.unwrap_or_default(),
                    notes: Vec::new(),
                })
            }
            Manifest::Index(index) => {
                let entries = image_candidates(session, index.manifests, &what).await?;
                let platforms: Vec<Platform> = entries
                    .iter()
                    .map(|d| d.platform.clone().unwrap_or_default())
                    .collect();
                index_platforms.get_or_insert_with(|| platforms.clone());
                let Some(i) = choose_best(wanted, &platforms) else {
                    return Err(Error::NoMatchingPlatform {
                        reference: what,
                        wanted: wanted.to_string(),
                        available: describe_platforms(&platforms),
                    });
                };
                let entry = &entries[i];
                let child = fetch_child(session, entry, &what).await?;
                platform = Some(platforms[i].clone());
                current = child;
            }
        }
    }
    Err(Error::manifest(
        what,
        format!("indexes nested deeper than {MAX_INDEX_DEPTH} levels"),
    ))
}

/// The entries of an index that may be chosen: images (attestations left out), with indexes
/// that carry no platform of their own opened up, as containerd does, since OCI makes the
/// platform of an index entry optional.
async fn image_candidates(
    session: &Session,
    entries: Vec<Descriptor>,
    what: &str,
) -> Result<Vec<Descriptor>> {
    // A hostile index could name thousands of nested indexes: open a bounded number.
    const MAX_OPENED: usize = 64;
    let mut opened = 0;
    let mut out = Vec::new();
    let mut pending: Vec<(Descriptor, usize)> = entries.into_iter().rev().map(|d| (d, 0)).collect();
    while let Some((d, depth)) = pending.pop() {
        if is_non_image_entry(&d) {
            continue;
        }
        let is_index = matches!(
            d.media_type.as_str(),
            media_type::OCI_INDEX | media_type::DOCKER_MANIFEST_LIST
        );
        if !(is_index && d.platform.is_none()) {
            out.push(d);
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
                format!("more than {MAX_OPENED} nested indexes"),
            ));
        }
        let child = fetch_child(session, &d, what).await?;
        if let Manifest::Index(inner) = child.parse(what)? {
            pending.extend(inner.manifests.into_iter().rev().map(|c| (c, depth + 1)));
        }
    }
    Ok(out)
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
pub fn describe_platforms(platforms: &[Platform]) -> Vec<String> {
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
