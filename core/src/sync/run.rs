//! Running a sync: for each planned item, the source's digest is read (its manifest fetched
//! and hashed, so the digest is the one drag computed, not one a header claims), the
//! destination's manifest is asked for with a HEAD, and the item is skipped when it already
//! holds that digest, else copied (or, with `dry_run`, only planned). A failing item is
//! recorded and the run goes on. With a bundle, every item that resolved goes into one pull.

use serde::Serialize;

use super::list::Entry;
use super::plan::{plan, Item};
use crate::copy::CopyOptions;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inspect::InspectOptions;
use crate::progress::Progress;
use crate::pull::{Cache, PullOptions};
use crate::reach::RegistryOptions;

/// Where a sync puts the images.
#[derive(Clone, Debug)]
pub enum SyncTarget {
    /// A registry, `HOST[/PREFIX]`: each image copied to its re-rooted name.
    Registry(String),
    /// One archive or layout: these pull options (format, output, jobs...) with the list's
    /// images. The list's platform applies when every entry names the same single one; else
    /// every platform goes into an OCI layout, and a docker archive gets the platform a pull
    /// picks (it holds one per image).
    Bundle(Box<PullOptions>),
}

/// What to sync and how.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The checked list ([`super::parse`]).
    pub entries: Vec<Entry>,
    /// Where the images go.
    pub target: SyncTarget,
    /// How to reach the source registries.
    pub registry: RegistryOptions,
    /// How to reach the destination registry.
    pub dest_registry: RegistryOptions,
    /// Resolve tags and digests and report, transferring nothing.
    pub dry_run: bool,
    /// Parallel blob uploads per image.
    pub jobs: usize,
    /// Upload foreign layers too (as `drag copy --include-foreign`).
    pub include_foreign: bool,
}

/// What happened to one image and tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Transferred.
    Copied,
    /// The destination already held that digest.
    Skipped,
    /// Would be transferred (`dry_run`).
    Planned,
    /// Not transferred; see the error.
    Failed,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct SyncEntry {
    /// The source reference (the list entry's, when its tags could not be listed).
    pub source: String,
    /// Where it went (None for a bundle).
    pub destination: Option<String>,
    /// The manifest digest transferred (the index's when all platforms travel).
    pub digest: Option<String>,
    /// What happened.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    /// One entry per image and tag, in list order.
    pub entries: Vec<SyncEntry>,
}

impl SyncReport {
    /// How many entries have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.entries.iter().filter(|e| e.status == status).count()
    }
}

fn failed(source: String, destination: Option<String>, e: &Error) -> SyncEntry {
    SyncEntry {
        source,
        destination,
        digest: None,
        status: Status::Failed,
        error: Some(e.to_string()),
    }
}

/// Runs a sync. Failures are in the report, one per image and tag (a bundle that could not
/// be written fails every image meant for it); the run itself does not fail.
pub async fn sync(opts: &SyncOptions, progress: &dyn Progress) -> SyncReport {
    let to = match &opts.target {
        SyncTarget::Registry(to) => Some(to.as_str()),
        SyncTarget::Bundle(_) => None,
    };
    let planned = plan(&opts.entries, to, &opts.registry).await;
    let mut entries = Vec::with_capacity(planned.len());
    let mut bundle = Vec::new();
    for p in planned {
        let item = match p {
            Ok(item) => item,
            Err((source, e)) => {
                entries.push(failed(source, None, &e));
                continue;
            }
        };
        let digest = match source_digest(&item, &opts.registry, progress).await {
            Ok(d) => d,
            Err(e) => {
                entries.push(failed(item.source, item.destination, &e));
                continue;
            }
        };
        match &item.destination {
            None => {
                entries.push(SyncEntry {
                    source: item.source.clone(),
                    destination: None,
                    digest: Some(digest.to_string()),
                    status: Status::Planned,
                    error: None,
                });
                bundle.push(item);
            }
            Some(dest) => {
                let entry = to_registry(opts, &item, dest, digest, progress).await;
                entries.push(entry);
            }
        }
    }
    if let SyncTarget::Bundle(pull) = &opts.target {
        if !opts.dry_run && !bundle.is_empty() {
            write_bundle(pull, &bundle, &mut entries, progress).await;
        }
    }
    SyncReport { entries }
}

/// The digest of what would travel: the manifest the reference names, or the chosen
/// platform's, fetched and hashed here.
async fn source_digest(
    item: &Item,
    registry: &RegistryOptions,
    progress: &dyn Progress,
) -> Result<Digest> {
    let bytes = crate::inspect::raw_manifest(
        &InspectOptions {
            image: item.source.clone(),
            registry: registry.clone(),
            platform: item.platform.clone(),
            cache: Cache::Disabled,
        },
        progress,
    )
    .await?;
    Ok(Digest::sha256_of(&bytes))
}

/// The digest the destination answers for `dest`, if it has it.
async fn destination_digest(dest: &str, registry: &RegistryOptions) -> Option<Digest> {
    let headers = crate::inspect::manifest_headers(dest, registry)
        .await
        .ok()?;
    headers
        .get("docker-content-digest")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn to_registry(
    opts: &SyncOptions,
    item: &Item,
    dest: &str,
    digest: Digest,
    progress: &dyn Progress,
) -> SyncEntry {
    let mut entry = SyncEntry {
        source: item.source.clone(),
        destination: Some(dest.to_string()),
        digest: Some(digest.to_string()),
        status: Status::Planned,
        error: None,
    };
    if destination_digest(dest, &opts.dest_registry).await.as_ref() == Some(&digest) {
        entry.status = Status::Skipped;
        return entry;
    }
    if opts.dry_run {
        return entry;
    }
    let mut copy = CopyOptions::new(item.source.clone(), dest.to_string());
    copy.registry = opts.registry.clone();
    copy.dest_registry = opts.dest_registry.clone();
    copy.platform = item.platform.clone();
    copy.all_platforms = item.platform.is_none();
    copy.include_foreign = opts.include_foreign;
    copy.jobs = opts.jobs;
    match crate::copy::copy(&copy, progress).await {
        Ok(report) => {
            entry.digest = Some(report.digest.to_string());
            entry.status = Status::Copied;
        }
        Err(e) => {
            entry.status = Status::Failed;
            entry.error = Some(e.to_string());
        }
    }
    entry
}

/// One pull of every resolved item into the bundle; its outcome is every item's.
async fn write_bundle(
    pull: &PullOptions,
    items: &[Item],
    entries: &mut [SyncEntry],
    progress: &dyn Progress,
) {
    let mut opts = pull.clone();
    opts.images = items.iter().map(|i| i.source.clone()).collect();
    // One pull has one platform choice: the list's when every entry names the same single
    // platform; else every platform, which only an OCI layout holds (a docker archive gets
    // the platform a pull picks).
    let first = items[0].platform.clone();
    opts.platform = None;
    opts.all_platforms = false;
    if first.is_some() && items.iter().all(|i| i.platform == first) {
        opts.platform = first;
    } else if opts.format == crate::output::Format::Oci {
        opts.all_platforms = true;
    }
    let outcome = crate::pull::pull(&opts, progress).await;
    let pulled = match &outcome {
        Ok(report) if report.images.len() == items.len() => report
            .images
            .iter()
            .map(|i| Some(i.digest.to_string()))
            .collect(),
        _ => vec![None; items.len()],
    };
    let planned = entries.iter_mut().filter(|e| e.status == Status::Planned);
    for (e, digest) in planned.zip(pulled) {
        match &outcome {
            Ok(_) => {
                e.status = Status::Copied;
                // What the bundle holds: the platform's image when a docker archive could
                // take only one.
                e.digest = digest.or(e.digest.take());
            }
            Err(err) => {
                e.status = Status::Failed;
                e.error = Some(err.to_string());
            }
        }
    }
}
