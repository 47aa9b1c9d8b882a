//! `drag copy`: an image from one registry to another with no local file, step by step:
//! resolve the source -> choose what to copy (one platform, or the whole index) -> upload the
//! blobs (streamed from the source, verified as they go) -> put the manifests, each after
//! what it names.
//!
//! Manifests go byte for byte, so every digest is kept. Within one registry, blobs are
//! mounted from the source repository rather than sent. Each side has its own login: the
//! source's and the destination's credentials are found separately for their hosts.

use std::sync::Arc;

use crate::auth::layer::TokenCache;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Manifest, RawManifest};
use crate::platform::Platform;
use crate::progress::{Event, Progress};
use crate::push::send::{self, BlobJob};
use crate::push::source::{BlobSource, ForeignBlob, RegistryBlob};
use crate::push::UploadLimits;
use crate::reach::{locate, open_push_session, open_session, wanted_platform, Located};
use crate::registry::Session;
use crate::RegistryOptions;

/// What to copy and how.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// The image to copy, as the user typed it.
    pub source: String,
    /// Where it goes: a repository with a tag (or the digest it will have).
    pub dest: String,
    /// How to reach the source registry (`--user` is the source's login).
    pub registry: RegistryOptions,
    /// How to reach the destination registry; its `credentials` are the destination's login
    /// (`--dest-user`), else what the auth files hold for its host.
    pub dest_registry: RegistryOptions,
    /// The platform to choose from an index; None means the adapter's default.
    pub platform: Option<Platform>,
    /// Copy the whole index and every manifest under it (attestations included).
    pub all_platforms: bool,
    /// Upload foreign layers too (by default the manifest keeps their URLs and they stay
    /// where they are).
    pub include_foreign: bool,
    /// Parallel blob uploads: at least 1.
    pub jobs: usize,
    /// How blobs are cut for upload.
    pub limits: UploadLimits,
}

impl CopyOptions {
    /// Defaults for copying `source` to `dest`: one platform, four parallel uploads.
    pub fn new(source: impl Into<String>, dest: impl Into<String>) -> CopyOptions {
        CopyOptions {
            source: source.into(),
            dest: dest.into(),
            registry: RegistryOptions::default(),
            dest_registry: RegistryOptions::default(),
            platform: None,
            all_platforms: false,
            include_foreign: false,
            jobs: 4,
            limits: UploadLimits::default(),
        }
    }
}

/// What a copy did.
#[derive(Clone, Debug)]
pub struct CopyReport {
    /// The source's full name.
    pub source: String,
    /// The destination's full name.
    pub dest: String,
    /// The digest of the manifest put under the destination's tag (the index's with
    /// `all_platforms`): the source's, byte for byte.
    pub digest: Digest,
    /// The platform chosen, when one was.
    pub platform: Option<Platform>,
    /// Manifests put.
    pub manifests: usize,
    /// Blobs sent.
    pub uploaded: usize,
    /// Blobs the destination had already.
    pub present: usize,
    /// Blobs mounted from the source repository.
    pub mounted: usize,
    /// Foreign layers left where their URLs point.
    pub foreign_skipped: usize,
    /// Bytes of the blobs sent.
    pub bytes_uploaded: u64,
}

/// What one copy sends: blobs first, then manifests in order (children before the index).
struct Plan {
    /// Each blob, how messages name it, and whether it is a foreign layer.
    blobs: Vec<(Descriptor, String, bool)>,
    manifests: Vec<RawManifest>,
    foreign_skipped: usize,
}

/// Copies an image from one registry to another, reporting to `progress`.
pub async fn copy(opts: &CopyOptions, progress: &dyn Progress) -> Result<CopyReport> {
    if opts.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let from = locate(&opts.source, &opts.registry)?;
    let to = locate(&opts.dest, &opts.dest_registry)?;
    let clients = Arc::new(opts.registry.http_clients());
    let tokens = Arc::new(TokenCache::default());
    let source = open_session(&from, &opts.registry, &clients, &tokens, None).await?;

    let (top, platform) = if opts.all_platforms {
        let top = source
            .get_manifest(&from.target.manifest_reference())
            .await?;
        (top, None)
    } else {
        let wanted = wanted_platform(&from, opts.platform.as_ref());
        let r = from.adapter.resolve(&source, &from.target, &wanted).await?;
        for note in &r.notes {
            progress.event(Event::Note(note.clone()));
        }
        (r.image, r.platform)
    };
    progress.event(Event::Resolved {
        reference: from.target.full_name(),
        digest: top.digest.clone(),
        platform: platform.as_ref().map(|p| p.to_string()),
    });
    if let Some(pinned) = &to.target.digest {
        if pinned != &top.digest {
            return Err(Error::Usage(format!(
                "the destination names digest {pinned}, but the image copied is {}",
                top.digest
            )));
        }
    }
    let plan = plan(&source, &from, top.clone(), opts).await?;

    let mount_from = mount_source(&from, &to, opts);
    let dest = open_push_session(
        &to,
        &opts.dest_registry,
        &clients,
        &tokens,
        mount_from.as_slice(),
    )
    .await?;
    // A mount only makes sense where the source really is: the same base URL.
    let mount_from = mount_from.filter(|_| dest.base() == source.base());

    let jobs: Vec<BlobJob<'_>> = plan
        .blobs
        .iter()
        .map(|(desc, what, foreign)| {
            let registry = RegistryBlob {
                session: &source,
                digest: desc.digest.clone(),
            };
            let source: Box<dyn BlobSource + '_> = match foreign {
                true => Box::new(ForeignBlob {
                    registry,
                    urls: desc.urls.clone(),
                    what: what.clone(),
                }),
                false => Box::new(registry),
            };
            BlobJob {
                desc: desc.clone(),
                what: what.clone(),
                source,
            }
        })
        .collect();
    let sent = send::blobs(
        &dest,
        &jobs,
        opts.jobs,
        mount_from.as_deref(),
        opts.limits,
        progress,
    )
    .await?;
    let reference = to.target.manifest_reference();
    send::manifests(&dest, &plan.manifests, &top, &reference).await?;

    Ok(CopyReport {
        source: from.target.full_name(),
        dest: to.target.full_name(),
        digest: top.digest,
        platform,
        manifests: plan.manifests.len() + 1,
        uploaded: sent.uploaded,
        present: sent.present,
        mounted: sent.mounted,
        foreign_skipped: plan.foreign_skipped,
        bytes_uploaded: sent.bytes_uploaded,
    })
}

/// The source repository to mount from: the same registry reached the same way, another
/// repository.
fn mount_source(from: &Located, to: &Located, opts: &CopyOptions) -> Option<String> {
    let same_registry = from.target.name.registry == to.target.name.registry
        && opts.registry.endpoint == opts.dest_registry.endpoint;
    let other_repository = from.target.name.repository != to.target.name.repository;
    (same_registry && other_repository).then(|| from.target.name.repository.clone())
}

/// Walks `top` (and, for an index, every manifest under it) for the blobs and manifests to
/// send. Manifests under `top` come out deepest first, so each goes after those it names.
async fn plan(
    source: &Session,
    from: &Located,
    top: RawManifest,
    opts: &CopyOptions,
) -> Result<Plan> {
    let what = from.target.full_name();
    let mut found = crate::resolve::fetch_tree(source, &top, &what).await?;
    let mut blobs: Vec<(Descriptor, String, bool)> = Vec::new();
    let mut foreign_skipped = 0;
    for m in std::iter::once(&top).chain(found.iter().map(|(m, _)| m)) {
        if let Manifest::Image(image) = m.parse(&what)? {
            let mut add = |d: &Descriptor, label: String, foreign: bool| {
                if !blobs.iter().any(|(b, _, _)| b.digest == d.digest) {
                    blobs.push((d.clone(), label, foreign));
                }
            };
            add(
                &image.config,
                format!("config {}", image.config.digest.short()),
                false,
            );
            let n = image.layers.len();
            for (i, l) in image.layers.iter().enumerate() {
                let foreign = from.adapter.is_foreign(l);
                if foreign && !opts.include_foreign {
                    foreign_skipped += 1;
                    continue;
                }
                let label = format!("layer {}/{n} {}", i + 1, l.digest.short());
                add(l, label, foreign);
            }
        }
    }
    found.sort_by_key(|(_, depth)| std::cmp::Reverse(*depth));
    let mut manifests: Vec<RawManifest> = Vec::new();
    for (m, _) in found {
        if !manifests.iter().any(|have| have.digest == m.digest) {
            manifests.push(m);
        }
    }
    Ok(Plan {
        blobs,
        manifests,
        foreign_skipped,
    })
}
