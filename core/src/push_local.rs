//! `drag push`: images from an archive or layout (what [`crate::image_source`] reads) into a
//! registry. Each image goes in its push form (layers stored uncompressed are gzipped to
//! scratch files first, with a new manifest), in the order `drag copy` uses: blobs, streamed
//! from the file and verified as they are read, then manifests, children before the index.
//!
//! One image goes to `dest`; a bundle goes with `to` (`HOST[/PREFIX]`), each image under its
//! own name re-rooted there. The first failure stops the push: no manifest is put whose blobs
//! did not all arrive.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::layer::TokenCache;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image_source::{destination, ImageSource, PushForm, SourceImage};
use crate::manifest::RawManifest;
use crate::progress::Progress;
use crate::push::send::{self, BlobJob};
use crate::push::source::{BlobSource, ForeignBlob, LeftOutBlob, LocalBlob, RegistryBlob};
use crate::push::UploadLimits;
use crate::reach::{locate, open_push_session};
use crate::RegistryOptions;

/// What to push and how.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// The archive (a tar) or OCI layout (a directory or a tar of one).
    pub source: PathBuf,
    /// Where a single image goes: a repository with a tag (or the digest it will have).
    pub dest: Option<String>,
    /// `HOST[/PREFIX]`: every image of the source goes under its own name re-rooted here.
    pub to: Option<String>,
    /// With `dest`, the image of a several-image source to push: one of its names
    /// (`alpine:3.9`, as the source writes it) or its tag.
    pub image: Option<String>,
    /// How to reach the destination registry (`credentials` are its login).
    pub registry: RegistryOptions,
    /// Upload foreign layers too, from the source when it holds them, else from their URLs
    /// (by default the manifest keeps their URLs and they are not sent).
    pub include_foreign: bool,
    /// Parallel blob uploads (and layer compressions): at least 1.
    pub jobs: usize,
    /// How blobs are cut for upload.
    pub limits: UploadLimits,
    /// Where the scratch directory for compressed layers goes (default: the system's temp
    /// directory). It is removed at the end, whatever happens.
    pub scratch: Option<PathBuf>,
}

impl PushOptions {
    /// Defaults for pushing `source`: four parallel uploads, no destination yet.
    pub fn new(source: impl Into<PathBuf>) -> PushOptions {
        PushOptions {
            source: source.into(),
            dest: None,
            to: None,
            image: None,
            registry: RegistryOptions::default(),
            include_foreign: false,
            jobs: 4,
            limits: UploadLimits::default(),
            scratch: None,
        }
    }
}

/// What pushing one image did.
#[derive(Clone, Debug)]
pub struct PushedImage {
    /// The destination's full name.
    pub dest: String,
    /// The digest of the manifest (or index) put under the destination's tag.
    pub digest: Digest,
    /// True when layers were compressed here, so the manifest is a new one.
    pub rewritten: bool,
    /// Manifests put.
    pub manifests: usize,
    /// Blobs sent.
    pub uploaded: usize,
    /// Blobs the destination had already.
    pub present: usize,
    /// Foreign layers not sent (the manifest keeps their URLs).
    pub foreign_skipped: usize,
    /// Bytes of the blobs sent.
    pub bytes_uploaded: u64,
}

/// What a push did, one entry per image, in the source's order.
#[derive(Clone, Debug)]
pub struct PushReport {
    /// The images pushed.
    pub images: Vec<PushedImage>,
}

/// Pushes the images of `opts.source`, reporting to `progress`.
pub async fn push(opts: &PushOptions, progress: &dyn Progress) -> Result<PushReport> {
    if opts.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let path = opts.source.clone();
    let source = Arc::new(
        tokio::task::spawn_blocking(move || ImageSource::open(&path))
            .await
            .map_err(|e| Error::io("opening the source", std::io::Error::other(e)))??,
    );
    let targets = targets(&source, opts)?;
    let scratch_root = opts.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("drag-push-")
        .tempdir_in(&scratch_root)
        .map_err(|e| Error::io_path("creating a scratch directory in", &scratch_root, e))?;
    let clients = Arc::new(opts.registry.http_clients());
    let tokens = Arc::new(TokenCache::default());
    let mut images = Vec::new();
    for (image, dest) in targets {
        let form = {
            let source = source.clone();
            let image = image.clone();
            let dir = scratch.path().to_path_buf();
            let jobs = opts.jobs;
            tokio::task::spawn_blocking(move || source.push_form(&image, &dir, jobs))
                .await
                .map_err(|e| Error::io("compressing layers", std::io::Error::other(e)))??
        };
        let pushed = push_one(
            &source, &image, &form, &dest, opts, &clients, &tokens, progress,
        )
        .await?;
        images.push(pushed);
    }
    drop(scratch);
    Ok(PushReport { images })
}

/// Each image with where it goes.
fn targets(source: &ImageSource, opts: &PushOptions) -> Result<Vec<(SourceImage, String)>> {
    let images = source.images();
    let named = |i: &SourceImage| {
        i.references
            .first()
            .cloned()
            .or_else(|| i.tag.as_ref().map(|t| format!(":{t}")))
            .unwrap_or_else(|| i.manifest.digest.short().to_string())
    };
    match (&opts.dest, &opts.to) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "give either DEST (one image) or --to HOST[/PREFIX] (every image), not both".into(),
        )),
        (None, None) => Err(Error::Usage(
            "say where to push: DEST, or --to HOST[/PREFIX]".into(),
        )),
        (Some(dest), None) if opts.image.is_some() => {
            let wanted = opts.image.as_deref().unwrap_or_default();
            let found = images.iter().find(|i| {
                i.references.iter().any(|r| r == wanted) || i.tag.as_deref() == Some(wanted)
            });
            match found {
                Some(i) => Ok(vec![(i.clone(), dest.clone())]),
                None => Err(Error::Usage(format!(
                    "{} has no image named {wanted:?}; it holds {}",
                    source.path().display(),
                    images.iter().map(named).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
        (Some(dest), None) => match images {
            [one] => Ok(vec![(one.clone(), dest.clone())]),
            [] => Err(Error::Usage(format!(
                "{} holds no image",
                source.path().display()
            ))),
            many => Err(Error::Usage(format!(
                "{} holds {} images ({}): pick one with --image NAME, or push them all with \
                 --to HOST[/PREFIX]",
                source.path().display(),
                many.len(),
                many.iter().map(named).collect::<Vec<_>>().join(", ")
            ))),
        },
        (None, Some(to)) => images
            .iter()
            .map(|i| match i.references.first() {
                Some(name) => Ok((i.clone(), destination(name, to)?)),
                None => Err(Error::Usage(format!(
                    "image {} of {} has no name to push it under: push it alone with DEST",
                    named(i),
                    source.path().display()
                ))),
            })
            .collect(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn push_one(
    source: &Arc<ImageSource>,
    image: &SourceImage,
    form: &PushForm,
    dest: &str,
    opts: &PushOptions,
    clients: &Arc<crate::transport::HttpClients>,
    tokens: &Arc<TokenCache>,
    progress: &dyn Progress,
) -> Result<PushedImage> {
    let to = locate(dest, &opts.registry)?;
    if let Some(pinned) = &to.target.digest {
        if pinned != &form.manifest.digest {
            return Err(Error::Usage(format!(
                "the destination names digest {pinned}, but the image pushed is {}",
                form.manifest.digest
            )));
        }
    }
    let session = open_push_session(&to, &opts.registry, clients, tokens, &[]).await?;

    // Children (deepest first) and every blob under the form, each once.
    let mut children: Vec<RawManifest> = Vec::new();
    let mut blobs = Vec::new();
    collect(form, &mut children, &mut blobs);
    let mut foreign_skipped = 0;
    let mut jobs: Vec<BlobJob<'_>> = Vec::new();
    for (b, what) in blobs {
        if jobs.iter().any(|j| j.desc.digest == b.desc.digest) {
            continue;
        }
        let foreign = to.adapter.is_foreign(&b.desc);
        let src: Box<dyn BlobSource + '_> =
            if !foreign && b.is_stored() && !source.has_blob(&b.desc.digest) {
                Box::new(LeftOutBlob {
                    what: format!("{what} to {}", to.target.full_name()),
                    digest: b.desc.digest.clone(),
                    bundle: source.path().to_path_buf(),
                    bases: base_repositories(source, opts, &to.target)?,
                })
            } else if !foreign {
                Box::new(LocalBlob {
                    source: source.clone(),
                    blob: b.clone(),
                })
            } else if !opts.include_foreign {
                foreign_skipped += 1;
                continue;
            } else if source.has_blob(&b.desc.digest) {
                Box::new(LocalBlob {
                    source: source.clone(),
                    blob: b.clone(),
                })
            } else {
                Box::new(ForeignBlob {
                    registry: RegistryBlob {
                        session: &session,
                        digest: b.desc.digest.clone(),
                    },
                    urls: b.desc.urls.clone(),
                    what: what.clone(),
                })
            };
        jobs.push(BlobJob {
            desc: b.desc.clone(),
            what,
            source: src,
        });
    }
    let sent = send::blobs(&session, &jobs, opts.jobs, None, opts.limits, progress).await?;
    let reference = to.target.manifest_reference();
    send::manifests(&session, &children, &form.manifest, &reference).await?;
    Ok(PushedImage {
        dest: to.target.full_name(),
        digest: form.manifest.digest.clone(),
        rewritten: form.rewritten(image),
        manifests: children.len() + 1,
        uploaded: sent.uploaded,
        present: sent.present,
        foreign_skipped,
        bytes_uploaded: sent.bytes_uploaded,
    })
}

/// The manifests under `form` (deepest first, each once) and the blobs of every image in it.
fn collect<'a>(
    form: &'a PushForm,
    children: &mut Vec<RawManifest>,
    blobs: &mut Vec<(&'a crate::image_source::PushBlob, String)>,
) {
    // A push form lists its config first, then its layers.
    let layers = form.blobs.len().saturating_sub(1);
    for (i, b) in form.blobs.iter().enumerate() {
        let label = match i {
            0 => format!("config {}", b.desc.digest.short()),
            i => format!("layer {i}/{layers} {}", b.desc.digest.short()),
        };
        blobs.push((b, label));
    }
    for child in &form.children {
        collect(child, children, blobs);
        if !children.iter().any(|m| m.digest == child.manifest.digest) {
            children.push(child.manifest.clone());
        }
    }
}

/// The repositories a delta's bases went to at the destination: under `--to` as this push
/// re-roots names, else on the destination's host. What cannot be re-rooted is skipped.
fn base_repositories(
    source: &ImageSource,
    opts: &PushOptions,
    dest: &crate::adapter::Target,
) -> Result<Vec<String>> {
    let root = opts
        .to
        .clone()
        .unwrap_or_else(|| dest.name.registry.clone());
    let mut repos = Vec::new();
    for name in source.delta_bases()? {
        let Ok(reference) = destination(&name, &root) else {
            continue;
        };
        let Ok(located) = locate(&reference, &opts.registry) else {
            continue;
        };
        let repo = located.target.name.repository;
        if repo != dest.name.repository && !repos.contains(&repo) {
            repos.push(repo);
        }
    }
    Ok(repos)
}
