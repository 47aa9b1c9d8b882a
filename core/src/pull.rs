//! The pull pipeline, step by step: resolve -> fetch manifest -> choose platform -> fetch blobs
//! (verified) -> write output.
//!
//! [`pull`] is the library's entry point: it takes [`PullOptions`], reports [`Event`]s to a
//! [`Progress`] sink and returns what it wrote. The steps stay inside the crate (`inspect`
//! shares the first three and stops after resolving); an adapter changes what a step does
//! through its traits, not by calling steps itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::adapter::{ManifestQuirks, Target};
use crate::auth::layer::TokenCache;
use crate::blob::{self, BlobJob};
use crate::config::ImageConfig;
use crate::delta::Bases;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::login;
use crate::manifest::{Compression, Manifest, RawManifest};
use crate::mirrors::Reading;
use crate::output::docker::{ArchiveOut, LayerForm};
use crate::output::meter::{Counted, WriteMeter};
use crate::output::{
    self, AtomicFile, Destination, Format, Place, Pulled, PulledImage, PulledTree, StoredBlob,
    StoredLayer,
};
use crate::platform::Platform;
use crate::progress::{Event, Progress};
use crate::pull_stores::PullStores;
use crate::registry::Session;
use crate::resolve::Resolved;
use crate::store::BlobStore;

pub use crate::reach::RegistryOptions;
use crate::reach::{locate, wanted_platform, Located};

/// Where blobs are kept between pulls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cache {
    /// A persistent store at this directory.
    Dir(PathBuf),
    /// A temporary store beside the output, removed after the pull (`--no-cache`).
    Disabled,
}

impl Default for Cache {
    /// The user's cache directory (see [`crate::cache::default_dir`]); disabled when there is
    /// no home to put it in.
    fn default() -> Cache {
        BlobStore::default_dir().map_or(Cache::Disabled, Cache::Dir)
    }
}

/// What to pull and where to write it.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Image references as the user typed them.
    pub images: Vec<String>,
    /// How to reach the registries.
    pub registry: RegistryOptions,
    /// The platform to pick from indexes; None means the adapter's default, else linux/amd64.
    pub platform: Option<Platform>,
    /// What to write.
    pub format: Format,
    /// Store layers uncompressed, named by diff ID.
    pub decompress: bool,
    /// `--format docker`: keep zstd layers as served. By default they are stored uncompressed,
    /// because Docker 20.10 cannot load them (Docker 23 and later, podman and containerd can).
    pub keep_zstd: bool,
    /// `--format oci`: keep the whole index and every platform's image.
    pub all_platforms: bool,
    /// `--format oci`: leave foreign layers out of the layout.
    pub skip_foreign: bool,
    /// `--format oci`: rewrite Docker-typed manifests with OCI media types.
    pub oci_media_types: bool,
    /// `--format rootfs`: leave out device nodes, setuid/setgid bits and `security.*` and
    /// `trusted.*` xattrs: what only privilege can create, or what grants it.
    pub strip_privileges: bool,
    /// None picks a name from the image (`library_alpine_3.9.tar`); several images need one.
    pub output: Option<Destination>,
    /// Parallel blob downloads: at least 1 (0 is a usage error).
    pub jobs: usize,
    /// Where blobs are kept between pulls.
    pub cache: Cache,
    /// Write a delta bundle: leave out every layer these archives or layouts hold (manifests
    /// and configs stay). Empty for a whole bundle.
    pub since: Vec<PathBuf>,
}

impl PullOptions {
    /// Defaults for pulling `images`: a Docker archive in the current directory named after
    /// the image (several images need an `output`), the adapter's default platform, four
    /// parallel downloads, the user's cache.
    pub fn new(images: Vec<String>) -> PullOptions {
        PullOptions {
            images,
            registry: RegistryOptions::default(),
            platform: None,
            format: Format::Docker,
            decompress: false,
            keep_zstd: false,
            all_platforms: false,
            skip_foreign: false,
            oci_media_types: false,
            strip_privileges: false,
            output: None,
            jobs: 4,
            cache: Cache::default(),
            since: Vec::new(),
        }
    }
}

/// What a pull produced.
#[derive(Clone, Debug)]
pub struct PullReport {
    /// Where the output went (the name chosen, when none was given).
    pub output: Destination,
    /// One summary per image, in the order given.
    pub images: Vec<PulledSummary>,
    /// Bytes written: the output file's size, the sum of the file sizes in the layout
    /// directory (all of them, when images were added to an existing layout), or the bytes
    /// streamed to standard output, a device or a FIFO.
    pub written: u64,
}

/// What was pulled for one reference.
#[derive(Clone, Debug)]
pub struct PulledSummary {
    /// The full name pulled (`docker.io/library/alpine:3.9`).
    pub reference: String,
    /// The digest of the image manifest pulled (of the index, with `all_platforms`).
    pub digest: Digest,
    /// Config plus layers (every blob, with `all_platforms`), in bytes as served.
    pub size: u64,
    /// The platform chosen from an index; None when the reference named an image manifest,
    /// and with `all_platforms`.
    pub platform: Option<Platform>,
}

/// Checks option combinations before any request is made.
fn validate(opts: &PullOptions) -> Result<()> {
    let usage = |m: &str| Err(Error::Usage(m.to_string()));
    if opts.images.is_empty() {
        return usage("no image given");
    }
    if opts.jobs == 0 {
        return usage("--jobs must be at least 1");
    }
    if opts.skip_foreign && opts.format != Format::Oci {
        return usage("--skip-foreign needs --format oci (a docker archive must hold every layer)");
    }
    if opts.oci_media_types && opts.format != Format::Oci {
        return usage("--oci-media-types applies to --format oci only");
    }
    if opts.all_platforms && opts.format != Format::Oci {
        return usage("--all-platforms needs --format oci (the other formats hold one platform)");
    }
    if opts.format == Format::Oci && opts.output == Some(Destination::Stdout) {
        return usage("--format oci writes a directory; it cannot go to standard output");
    }
    if opts.format == Format::Rootfs && opts.images.len() > 1 {
        return usage("--format rootfs takes one image");
    }
    if !opts.since.is_empty() && opts.format == Format::Rootfs {
        return usage(
            "--since writes a delta bundle (docker or oci); a rootfs needs every layer, so it cannot be one",
        );
    }
    if opts.strip_privileges && opts.format != Format::Rootfs {
        return usage("--strip-privileges applies to --format rootfs only");
    }
    if opts.decompress && opts.format != Format::Docker {
        return usage("--decompress applies to --format docker only");
    }
    if opts.keep_zstd && opts.format != Format::Docker {
        return usage("--keep-zstd applies to --format docker only");
    }
    if opts.keep_zstd && opts.decompress {
        return usage(
            "--keep-zstd contradicts --decompress, which stores every layer uncompressed",
        );
    }
    Ok(())
}

/// Pulls every image in `opts` and writes the output.
pub async fn pull(opts: &PullOptions, progress: &dyn Progress) -> Result<PullReport> {
    validate(opts)?;
    let located: Vec<Located> = opts
        .images
        .iter()
        .map(|i| locate(i, &opts.registry))
        .collect::<Result<_>>()?;
    let destination = match &opts.output {
        Some(d) => d.clone(),
        None if located.len() == 1 => {
            Destination::Path(default_output_name(&located[0].target, opts.format))
        }
        None => {
            return Err(Error::Usage(
                "several images go into one output: name it with -o".into(),
            ))
        }
    };
    // What -o names decides how it is written (see `output::place`); the later steps read
    // the output from `opts`, so it names the default too.
    let place = output::place::resolve(&destination)?;
    if opts.format == Format::Oci && place.is_stream() {
        return Err(Error::Usage(format!(
            "{destination} is a device or FIFO; --format oci writes a directory"
        )));
    }
    output::place::check_writable(&place, opts.format)?;
    if let (false, Format::Oci, Place::Replace(dir)) = (opts.since.is_empty(), opts.format, &place)
    {
        if dir.join("oci-layout").exists() {
            return Err(Error::Usage(format!(
                "{} is a layout already; a delta (--since) goes into a new one",
                dir.display()
            )));
        }
    }
    // The bases are read before any request, so a wrong path fails at once.
    let bases = Bases::open(&opts.since)?;
    let named;
    let opts = match &opts.output {
        Some(_) => opts,
        None => {
            named = PullOptions {
                output: Some(destination.clone()),
                ..opts.clone()
            };
            &named
        }
    };
    let clients = Arc::new(opts.registry.http_clients());
    let tokens = Arc::new(TokenCache::default());
    // Uncompressed layers live only as long as this pull (see `blob::Stores`).
    let stores = PullStores::open(
        &opts.cache,
        &place,
        may_need_uncompressed_files(opts),
        progress,
    )?;
    let manifest_cache = stores.manifest_cache();

    // `--user` is one registry's login: images fetched from another host go without it.
    let names: Vec<_> = located.iter().map(|l| &l.target.name).collect();
    let (user_applies, notes) = login::user_applies(&names, opts.registry.endpoint.as_deref())?;
    if opts.registry.credentials.is_some() {
        for note in notes {
            progress.event(Event::Note(note));
        }
    }
    let without_user = RegistryOptions {
        credentials: None,
        ..opts.registry.clone()
    };

    // Resolve everything first, so a typo in the last image fails before any download.
    let mut sessions = Vec::new();
    let mut resolved = Vec::new();
    for (l, user) in located.iter().zip(user_applies) {
        let registry = if user { &opts.registry } else { &without_user };
        let reading = Reading::new(l, registry, &clients, &tokens, manifest_cache.clone());
        let (session, r) = if opts.all_platforms {
            let reference = l.target.manifest_reference();
            let reference = &reference;
            let served = reading
                .first_serving(|s| Box::pin(async move { s.get_manifest(reference).await }))
                .await?;
            served.tell(progress);
            (served.session, Found::Tree(l.target.clone(), served.value))
        } else {
            let wanted = wanted_platform(l, opts.platform.as_ref());
            let wanted = &wanted;
            let served = reading
                .first_serving(|s| {
                    Box::pin(async move { l.adapter.resolve(&s, &l.target, wanted).await })
                })
                .await?;
            served.tell(progress);
            let (session, r) = (served.session, served.value);
            for note in &r.notes {
                progress.event(Event::Note(note.clone()));
            }
            progress.event(Event::Resolved {
                reference: r.target.full_name(),
                digest: r.image.digest.clone(),
                platform: r.platform.as_ref().map(|p| p.to_string()),
            });
            (session, Found::Image(Box::new(r)))
        };
        sessions.push(session);
        resolved.push(r);
    }

    let mut pulled = Vec::new();
    for ((session, r), l) in sessions.iter().zip(resolved).zip(&located) {
        let quirks = l.adapter;
        pulled.push(match r {
            Found::Image(r) => Pulled::Image(
                fetch_image(session, quirks, &stores, *r, opts, &bases, progress).await?,
            ),
            Found::Tree(target, top) => Pulled::Tree(
                fetch_tree(
                    session, quirks, &stores, target, top, opts, &bases, progress,
                )
                .await?,
            ),
        });
    }
    if !opts.since.is_empty() {
        let mut left_out: Vec<&crate::manifest::Descriptor> = Vec::new();
        for d in pulled.iter().flat_map(Pulled::left_out) {
            if !left_out.iter().any(|l| l.digest == d.digest) {
                left_out.push(d);
            }
        }
        progress.event(Event::Note(format!(
            "delta: {} blobs ({} bytes) left out, held by the bases",
            left_out.len(),
            left_out.iter().fold(0u64, |n, d| n.saturating_add(d.size))
        )));
    }

    let summaries = pulled.iter().map(summarize).collect();
    progress.event(Event::Writing {
        path: destination.to_string(),
    });
    let written = write_reporting(pulled, opts, place, stores.temporary_root(), progress).await?;
    Ok(PullReport {
        output: destination,
        images: summaries,
        written,
    })
}

/// How often writing progress is reported.
const WRITE_PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Step 6, reporting how far the writer has come while it runs. Returns the bytes written.
async fn write_reporting(
    pulled: Vec<Pulled>,
    opts: &PullOptions,
    place: Place,
    link_from: Option<PathBuf>,
    progress: &dyn Progress,
) -> Result<u64> {
    let meter = Arc::new(WriteMeter::default());
    let report = |meter: &WriteMeter| {
        progress.event(Event::WriteProgress {
            done: meter.done(),
            total: meter.total(),
        })
    };
    let writing = write_output(pulled, opts, place.clone(), link_from, meter.clone());
    tokio::pin!(writing);
    let mut tick = tokio::time::interval(WRITE_PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            written = &mut writing => {
                written?;
                break;
            }
            _ = tick.tick() => report(&meter),
        }
    }
    report(&meter);
    Ok(match &place {
        // What the writer counted is the size too, unless images joined an existing layout;
        // the output is written either way, so a failed look at it is no failure.
        Place::Replace(p) => output::meter::size_of(p).unwrap_or_else(|_| meter.done()),
        Place::Stdout | Place::Stream(_) => meter.done(),
    })
}

/// What resolution found for one reference.
enum Found {
    /// The image for the wanted platform.
    Image(Box<Resolved>),
    /// `--all-platforms`: whatever the reference names, index and all.
    Tree(Target, RawManifest),
}

/// True when a layer whose bytes are `compression` must exist as an uncompressed file before
/// the output is written: the rootfs writer reads them, and a stream cannot take a layer whose
/// size is only predicted. (A docker archive written to a file inflates layers straight into
/// place.)
fn needs_uncompressed_file(opts: &PullOptions, compression: Compression) -> bool {
    let streams = opts
        .output
        .as_ref()
        .is_some_and(|d| output::place::resolve(d).is_ok_and(|p| p.is_stream()));
    opts.format == Format::Rootfs
        || (opts.format == Format::Docker && streams && layer_form(opts).uncompresses(compression))
}

/// True when some layer may need an uncompressed file (zstd ones are stored uncompressed in
/// every form but `--keep-zstd`, which keeps them all as served).
fn may_need_uncompressed_files(opts: &PullOptions) -> bool {
    needs_uncompressed_file(opts, Compression::Zstd)
}

/// How a docker archive stores layers.
fn layer_form(opts: &PullOptions) -> LayerForm {
    match (opts.decompress, opts.keep_zstd) {
        (true, _) => LayerForm::Uncompressed,
        (false, true) => LayerForm::AsServed,
        (false, false) => LayerForm::ZstdUncompressed,
    }
}

fn summarize(p: &Pulled) -> PulledSummary {
    match p {
        Pulled::Image(i) => PulledSummary {
            reference: i.target.full_name(),
            digest: i.manifest.digest.clone(),
            size: i
                .layers
                .iter()
                .fold(i.config.desc.size, |n, l| n.saturating_add(l.desc.size)),
            platform: i.platform.clone(),
        },
        Pulled::Tree(t) => PulledSummary {
            reference: t.target.full_name(),
            digest: t.top.digest.clone(),
            size: t.blobs.iter().fold(0, |n, b| n.saturating_add(b.desc.size)),
            platform: None,
        },
    }
}

/// Steps 4 and 5: the config, then the layers in parallel, each verified into the store
/// (except those a delta's bases hold, which are never fetched).
async fn fetch_image(
    session: &Session,
    quirks: &dyn ManifestQuirks,
    stores: &PullStores,
    r: Resolved,
    opts: &PullOptions,
    bases: &Bases,
    progress: &dyn Progress,
) -> Result<PulledImage> {
    let config_job = BlobJob {
        desc: r.manifest.config.clone(),
        what: format!("config {}", r.manifest.config.digest.short()),
        compression: None,
        diff_id: None,
        foreign: false,
    };
    if r.manifest.config.size > crate::config::MAX_CONFIG_BYTES {
        return Err(Error::manifest(
            r.target.full_name(),
            format!(
                "config of {} bytes exceeds the limit",
                r.manifest.config.size
            ),
        ));
    }
    progress.event(Event::Fetching {
        blobs: 1,
        bytes: config_job.desc.size,
    });
    let config = stores.fetch(session, &config_job, progress).await?;
    let config_bytes =
        std::fs::read(&config.path).map_err(|e| Error::io_path("reading", &config.path, e))?;
    let diff_ids = ImageConfig::parse(&config_bytes)?.diff_ids()?;
    if diff_ids.len() != r.manifest.layers.len() {
        return Err(Error::manifest(
            r.target.full_name(),
            format!(
                "manifest has {} layers but the config lists {} diff IDs",
                r.manifest.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let total = r.manifest.layers.len();
    let jobs: Vec<BlobJob> = r
        .manifest
        .layers
        .iter()
        .zip(&diff_ids)
        .enumerate()
        .map(|(i, (desc, diff_id))| {
            let compression = quirks.layer_compression(desc)?;
            Ok(BlobJob {
                desc: desc.clone(),
                what: format!("layer {}/{total} {}", i + 1, desc.digest.short()),
                compression: Some(compression),
                diff_id: needs_uncompressed_file(opts, compression).then(|| diff_id.clone()),
                foreign: quirks.is_foreign(desc),
            })
        })
        .collect::<Result<_>>()?;

    let held: Vec<_> = jobs
        .iter()
        .zip(&diff_ids)
        .map(|(j, diff_id)| bases.held(&j.desc, Some(diff_id), opts.format == Format::Docker))
        .collect();
    let wanted = jobs
        .iter()
        .zip(&held)
        .filter(|(j, held)| held.is_none() && !(opts.skip_foreign && j.foreign))
        .map(|(j, _)| j);
    let fetched = fetch_all(session, stores, wanted, opts, progress).await?;
    let layers = jobs
        .iter()
        .zip(diff_ids)
        .zip(held)
        .map(|((job, diff_id), held_by_base)| {
            let f = fetched.get(&job.desc.digest);
            StoredLayer {
                desc: job.desc.clone(),
                path: f.map(|f| f.path.clone()),
                diff_id,
                diff_path: f.and_then(|f| f.diff_path.clone()),
                foreign: job.foreign,
                held_by_base,
            }
        })
        .collect();
    Ok(PulledImage {
        target: r.target,
        manifest: r.image,
        platform: r.platform,
        config: StoredBlob {
            desc: r.manifest.config,
            path: config.path,
        },
        layers,
    })
}

/// Fetches each distinct blob once, several at a time.
async fn fetch_all<'a>(
    session: &Session,
    stores: &PullStores,
    jobs: impl Iterator<Item = &'a BlobJob>,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<HashMap<Digest, blob::Fetched>> {
    // Each digest once, in manifest order (base layers first, as users expect to see them).
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&BlobJob> = jobs.filter(|j| seen.insert(&j.desc.digest)).collect();
    progress.event(Event::Fetching {
        blobs: unique.len(),
        bytes: unique
            .iter()
            .fold(0u64, |n, j| n.saturating_add(j.desc.size)),
    });
    stream::iter(unique)
        .map(|job| async move {
            let f = stores.fetch(session, job, progress).await?;
            Ok::<_, Error>((job.desc.digest.clone(), f))
        })
        .buffer_unordered(opts.jobs.max(1))
        .try_collect()
        .await
}

/// `--all-platforms`: every manifest under an index and every blob they name, as opaque
/// content (attestations and other artifacts included, so the index stays whole). Layers a
/// delta's bases hold are left out; configs never are.
#[allow(clippy::too_many_arguments)]
async fn fetch_tree(
    session: &Session,
    quirks: &dyn ManifestQuirks,
    stores: &PullStores,
    target: Target,
    top: RawManifest,
    opts: &PullOptions,
    bases: &Bases,
    progress: &dyn Progress,
) -> Result<PulledTree> {
    let what = target.full_name();
    let below = crate::resolve::fetch_tree(session, &top, &what).await?;
    let mut jobs = Vec::new();
    let mut left_out: Vec<crate::manifest::Descriptor> = Vec::new();
    for m in std::iter::once(&top).chain(below.iter().map(|(m, _)| m)) {
        if let Manifest::Image(image) = m.parse(&what)? {
            let n = image.layers.len();
            jobs.push(opaque_job(
                image.config.clone(),
                format!("config {}", image.config.digest.short()),
                false,
            ));
            for (i, l) in image.layers.iter().enumerate() {
                let foreign = quirks.is_foreign(l);
                if let Some(held) = bases.held(l, None, false) {
                    if !left_out.iter().any(|d| d.digest == held.digest) {
                        left_out.push(held);
                    }
                } else if !(foreign && opts.skip_foreign) {
                    jobs.push(opaque_job(
                        l.clone(),
                        format!("blob {}/{n} {}", i + 1, l.digest.short()),
                        foreign,
                    ));
                }
            }
        }
    }
    let manifests: Vec<RawManifest> = below.into_iter().map(|(m, _)| m).collect();
    let fetched = fetch_all(session, stores, jobs.iter(), opts, progress).await?;
    let blobs = fetched
        .into_iter()
        .filter_map(|(d, f)| {
            let desc = jobs.iter().find(|j| j.desc.digest == d)?.desc.clone();
            Some(StoredBlob { desc, path: f.path })
        })
        .collect();
    Ok(PulledTree {
        target,
        top,
        manifests,
        blobs,
        left_out,
    })
}

fn opaque_job(desc: crate::manifest::Descriptor, what: String, foreign: bool) -> BlobJob {
    BlobJob {
        desc,
        what,
        compression: None,
        diff_id: None,
        foreign,
    }
}

/// Step 6: write what the user asked for, atomically, counting into `meter`.
async fn write_output(
    pulled: Vec<Pulled>,
    opts: &PullOptions,
    dest: Place,
    link_from: Option<PathBuf>,
    meter: Arc<WriteMeter>,
) -> Result<()> {
    let form = layer_form(opts);
    let layout = output::oci::LayoutOptions {
        skip_foreign: opts.skip_foreign,
        oci_media_types: opts.oci_media_types,
        link_from,
    };
    let jobs = opts.jobs.clamp(1, 4);
    let strip_privileges = opts.strip_privileges;
    let format = opts.format;
    tokio::task::spawn_blocking(move || match format {
        Format::Oci => match &dest {
            Place::Replace(dir) => output::oci::write(&pulled, dir, layout, &meter),
            Place::Stdout | Place::Stream(_) => Err(Error::Usage(
                "--format oci writes a directory, not a stream".into(),
            )),
        },
        Format::Docker => {
            let images = single_images(pulled)?;
            match &dest {
                Place::Replace(p) => {
                    let mut file = AtomicFile::create(p)?;
                    let out = ArchiveOut::File {
                        file: &mut file,
                        jobs,
                    };
                    output::docker::write(&images, form, out, &meter)?;
                    file.commit().map(|_| ())
                }
                Place::Stdout | Place::Stream(_) => to_destination(&dest, &meter, |w| {
                    output::docker::write(&images, form, ArchiveOut::Stream(w), &meter)
                }),
            }
        }
        Format::Rootfs => {
            let images = single_images(pulled)?;
            let layers = images[0]
                .layers
                .iter()
                .map(|l| {
                    l.diff_path.clone().ok_or_else(|| {
                        Error::manifest(
                            l.desc.digest.short(),
                            "uncompressed layer missing from the store",
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let options = output::rootfs::RootfsOptions { strip_privileges };
            release_free_heap();
            // The merged tree is not known before it is written: the layers' sizes are
            // near what it takes.
            meter.set_total(
                layers
                    .iter()
                    .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
                    .sum(),
            );
            to_destination(&dest, &meter, |w| {
                output::rootfs::write_with(&layers, options, w).map(|_| ())
            })
        }
    })
    .await
    .map_err(|e| Error::io("output writer", std::io::Error::other(e.to_string())))?
}

/// Hands the heap pages the downloads freed back to the kernel (glibc keeps them for reuse
/// otherwise).
#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
fn release_free_heap() {
    // SAFETY: malloc_trim has no preconditions; it only returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn release_free_heap() {}

fn single_images(pulled: Vec<Pulled>) -> Result<Vec<PulledImage>> {
    pulled
        .into_iter()
        .map(|p| match p {
            Pulled::Image(i) => Ok(i),
            Pulled::Tree(_) => Err(Error::Usage(
                "this format holds one platform per image".into(),
            )),
        })
        .collect()
}

/// Runs a streaming writer into a file (atomically), a device or FIFO (in place), or
/// standard output, counting what it writes into `meter`.
fn to_destination(
    dest: &Place,
    meter: &WriteMeter,
    write: impl FnOnce(&mut dyn output::OutputSink) -> Result<()>,
) -> Result<()> {
    match dest {
        Place::Replace(p) => {
            let mut f = AtomicFile::create(p)?;
            write(&mut Counted {
                inner: &mut f,
                meter,
            })?;
            f.commit().map(|_| ())
        }
        Place::Stream(p) => {
            let file = output::place::open_stream(p)?;
            stream_into(file, write, &format!("writing {}", p.display()), meter)
        }
        Place::Stdout => stream_into(
            std::io::stdout(),
            write,
            "writing to standard output",
            meter,
        ),
    }
}

/// Streams into `sink`. When the sink itself fails (a full disk, a closed pipe), that is the
/// error, said as `context`, whichever step of the writer met it: `-o - > /dev/full` reads
/// "writing to standard output: No space left on device", not the archive entry that was
/// being written.
fn stream_into(
    sink: impl std::io::Write,
    write: impl FnOnce(&mut dyn output::OutputSink) -> Result<()>,
    context: &str,
    meter: &WriteMeter,
) -> Result<()> {
    let buffered = std::io::BufWriter::with_capacity(
        1 << 20,
        Cancellable {
            inner: sink,
            failure: None,
        },
    );
    let mut out = Counted {
        inner: buffered,
        meter,
    };
    let written = write(&mut out)
        .and_then(|()| std::io::Write::flush(&mut out).map_err(|e| Error::io(context, e)));
    match (written, out.inner.get_mut().failure.take()) {
        (Err(_), Some(e)) => Err(Error::io(context, e)),
        (result, _) => result,
    }
}

/// `library_alpine_3.9.tar`: the repository path with `/` as `_`, then the tag (or the
/// digest's first 12 hex digits).
fn default_output_name(target: &Target, format: Format) -> PathBuf {
    let base = target.name.repository.replace('/', "_");
    let suffix = match (&target.tag, &target.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.hex()[..12].to_string(),
        (None, None) => "latest".into(),
    };
    match format {
        Format::Docker => PathBuf::from(format!("{base}_{suffix}.tar")),
        Format::Oci => PathBuf::from(format!("{base}_{suffix}")),
        Format::Rootfs => PathBuf::from(format!("{base}_{suffix}_rootfs.tar")),
    }
}

/// A stream (standard output, a device, a FIFO) that stops taking bytes once the pull is
/// cancelled, and remembers how it failed.
struct Cancellable<W> {
    inner: W,
    /// The stream's own first error (a copy: the original goes up the writer's path).
    failure: Option<std::io::Error>,
}

impl<W: std::io::Write> Cancellable<W> {
    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            if self.failure.is_none() {
                self.failure = Some(match e.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(e.kind(), e.to_string()),
                });
            }
        }
        r
    }
}

impl<W: std::io::Write> std::io::Write for Cancellable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::cancel::check_io()?;
        let r = self.inner.write(buf);
        self.note(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}
