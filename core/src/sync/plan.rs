//! Planning a sync: each list entry becomes one item per tag (tags listed, filtered from the
//! repository's listing, or the one its reference names), with where it goes and how many
//! platforms travel. An entry whose tags cannot be listed becomes one failed item, so the
//! run goes on with the others.

use super::list::{Entry, Tags};
use crate::error::{Error, Result};
use crate::platform::Platform;
use crate::reach::RegistryOptions;
use crate::reference::Reference;
use crate::registry::tag_list::TagList;

/// One image to transfer.
#[derive(Clone, Debug)]
pub struct Item {
    /// The source reference, with its tag or digest.
    pub source: String,
    /// Its destination reference under `--to`; None for a bundle.
    pub destination: Option<String>,
    /// The one platform to copy; None copies every platform (the index whole, digest kept).
    /// Several platforms listed copy the whole index too: filtering an index would change
    /// its digest, and a mirror keeps digests.
    pub platform: Option<Platform>,
}

/// An item, or why its entry could not be planned (named by the entry's source).
pub type Planned = std::result::Result<Item, (String, Error)>;

/// Every item of `entries`, in list order. Tag listings are the only requests made here.
pub async fn plan(entries: &[Entry], to: Option<&str>, registry: &RegistryOptions) -> Vec<Planned> {
    let mut out = Vec::new();
    for entry in entries {
        match sources(entry, registry).await {
            Err(e) => out.push(Err((entry.source.clone(), e))),
            Ok(sources) => {
                for source in sources {
                    out.push(item(entry, source, to));
                }
            }
        }
    }
    out
}

async fn sources(entry: &Entry, registry: &RegistryOptions) -> Result<Vec<String>> {
    let tags = match &entry.tags {
        Tags::Reference => return Ok(vec![entry.source.clone()]),
        Tags::Listed(tags) => tags.clone(),
        Tags::Filter(filter) => {
            let listing = crate::inspect::tags(&entry.source, registry).await?;
            // Digests spelled as tags (`sha256__<hex>`) name no release, as `drag tags` hides them.
            let tags: Vec<String> = listing
                .tags
                .into_iter()
                .filter(|t| !TagList::is_digest_like(t))
                .collect();
            let kept = filter.apply(&tags);
            if kept.is_empty() {
                return Err(Error::Usage(format!(
                    "no tag of {} passes the filter ({} listed)",
                    entry.source,
                    tags.len()
                )));
            }
            kept
        }
    };
    Ok(tags
        .into_iter()
        .map(|t| format!("{}:{t}", entry.source))
        .collect())
}

fn item(entry: &Entry, source: String, to: Option<&str>) -> Planned {
    let destination = to
        .map(|to| destination(&source, entry.dest.as_deref(), to))
        .transpose();
    match destination {
        Err(e) => Err((source, e)),
        Ok(destination) => Ok(Item {
            source,
            destination,
            platform: match entry.platforms.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
        }),
    }
}

/// An item's destination under `to` (`HOST[/PREFIX]`): the source's repository
/// path re-rooted (`docker.io/library/alpine:3.9` → `HOST/PREFIX/library/alpine:3.9`), or
/// `HOST/<dest>` with the entry's `dest:`.
pub fn destination(source: &str, dest: Option<&str>, to: &str) -> Result<String> {
    let Some(dest) = dest else {
        return crate::image_source::destination(source, to);
    };
    let host = to
        .trim_end_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if host.is_empty() || to.contains("://") {
        return Err(Error::Usage(format!("--to {to:?}: needs a registry host")));
    }
    let r = Reference::parse(source)?;
    let suffix = match (r.tag(), r.digest()) {
        (_, Some(d)) => format!("@{d}"),
        (Some(t), None) => format!(":{t}"),
        (None, None) => ":latest".to_string(),
    };
    Ok(format!("{host}/{}{suffix}", dest.trim_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_replaces_prefix_and_source_path() {
        assert_eq!(
            destination("ghcr.io/org/app:1.2", Some("tools/app"), "mirror:5000/pre").unwrap(),
            "mirror:5000/tools/app:1.2"
        );
    }
}
