//! The pull pipeline, step by step: resolve -> fetch manifest -> choose platform -> fetch blobs
//! (verified) -> write output.
//!
//! [`pull`] is the library's entry point: it takes [`PullOptions`], reports [`Event`]s to a
//! [`Progress`] sink and returns what it wrote. The steps are public too, for tools that
//! want only part of the way (`inspect` stops after resolving).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::adapter::{self, Adapter, Target};
use crate::auth::Credentials;
use crate::blob::{self, BlobJob, TransferOptions};
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::output::{self, AtomicFile, Destination, Format, PulledImage, StoredBlob, StoredLayer};
use crate::platform::Platform;
use crate::progress::{Event, Progress};
use crate::reference::Reference;
use crate::registry::{RetryPolicy, Session, SessionConfig, TokenCache};
use crate::resolve::Resolved;
use crate::store::BlobStore;

/// Where blobs are kept between pulls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cache {
    /// A persistent store at this directory.
    Dir(PathBuf),
    /// A temporary store beside the output, removed after the pull (`--no-cache`).
    Disabled,
}

/// How to reach registries: shared by `pull`, `inspect` and `tags`.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Use this adapter (by name) instead of picking one by host.
    pub adapter: Option<String>,
    /// Send requests to this base URL instead of the adapter's (`--endpoint`).
    pub endpoint: Option<String>,
    /// Allow plain HTTP to non-loopback hosts.
    pub insecure: bool,
    /// Credentials; when None, Docker's config.json is consulted.
    pub credentials: Option<Credentials>,
    pub retry: RetryPolicy,
}

/// What to pull and where to write it.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Image references as the user typed them.
    pub images: Vec<String>,
    pub registry: RegistryOptions,
    /// The platform to pick from indexes; None means the adapter's default, else linux/amd64.
    pub platform: Option<Platform>,
    pub format: Format,
    /// Store layers uncompressed, named by diff ID.
    pub decompress: bool,
    /// None picks a name from the image (`library_alpine_3.9.tar`).
    pub output: Option<Destination>,
    /// Parallel blob downloads.
    pub jobs: usize,
    pub cache: Cache,
    pub transfer: TransferOptions,
}

impl PullOptions {
    pub fn new(images: Vec<String>) -> PullOptions {
        PullOptions {
            images,
            registry: RegistryOptions::default(),
            platform: None,
            format: Format::Docker,
            decompress: false,
            output: None,
            jobs: 4,
            cache: BlobStore::default_dir().map_or(Cache::Disabled, Cache::Dir),
            transfer: TransferOptions::default(),
        }
    }
}

/// What a pull produced.
#[derive(Clone, Debug)]
pub struct PullReport {
    pub output: Destination,
    pub images: Vec<PulledSummary>,
}

#[derive(Clone, Debug)]
pub struct PulledSummary {
    pub reference: String,
    /// The digest of the image manifest pulled.
    pub digest: Digest,
    /// Config plus layers, in bytes as served.
    pub size: u64,
    pub platform: Option<Platform>,
}

/// A reference resolved to its adapter and canonical target.
pub struct Located {
    pub adapter: &'static dyn Adapter,
    pub target: Target,
}

/// Step 1: parse a reference and normalize it with its adapter.
pub fn locate(input: &str, opts: &RegistryOptions) -> Result<Located> {
    let reference = Reference::parse(input)?;
    let adapter = match &opts.adapter {
        Some(name) => adapter::by_name(name)?,
        None => adapter::for_reference(&reference)?,
    };
    let target = adapter.normalize(&reference)?;
    Ok(Located { adapter, target })
}

/// Step 2: a session with the repository's registry.
pub fn open_session(
    located: &Located,
    opts: &RegistryOptions,
    http: &reqwest::Client,
    tokens: &Arc<TokenCache>,
) -> Result<Session> {
    let credentials = opts.credentials.clone().or_else(|| {
        Credentials::from_docker_config(&located.adapter.credential_keys(&located.target.name))
    });
    Session::new(SessionConfig {
        adapter: located.adapter,
        name: located.target.name.clone(),
        endpoint: opts.endpoint.clone(),
        insecure: opts.insecure,
        credentials,
        http: http.clone(),
        tokens: tokens.clone(),
        retry: opts.retry,
    })
}

/// The platform to choose for a target.
pub fn wanted_platform(located: &Located, asked: Option<&Platform>) -> Platform {
    asked
        .cloned()
        .or_else(|| located.adapter.default_platform(&located.target.name))
        .unwrap_or_else(Platform::linux_amd64)
}

/// Pulls every image in `opts` and writes the output.
pub async fn pull(opts: &PullOptions, progress: &dyn Progress) -> Result<PullReport> {
    if opts.images.is_empty() {
        return Err(Error::Usage("no image given".into()));
    }
    let located: Vec<Located> = opts
        .images
        .iter()
        .map(|i| locate(i, &opts.registry))
        .collect::<Result<_>>()?;
    let destination = match &opts.output {
        Some(d) => d.clone(),
        None if located.len() == 1 => Destination::Path(default_output_name(&located[0].target, opts.format)),
        None => {
            return Err(Error::Usage(
                "several images go into one archive: name it with -o".into(),
            ))
        }
    };
    let http = crate::transport::client()?;
    let tokens = Arc::new(TokenCache::default());
    let store = open_store(&opts.cache, &destination)?;

    let mut sessions = Vec::new();
    let mut resolved = Vec::new();
    for l in &located {
        let session = open_session(l, &opts.registry, &http, &tokens)?;
        let wanted = wanted_platform(l, opts.platform.as_ref());
        let r = l.adapter.resolve(&session, &l.target, &wanted).await?;
        for note in &r.notes {
            progress.event(Event::Note(note.clone()));
        }
        progress.event(Event::Resolved {
            reference: r.target.full_name(),
            digest: r.image.digest.clone(),
            platform: r.platform.as_ref().map(|p| p.to_string()),
        });
        sessions.push(session);
        resolved.push(r);
    }

    let mut images = Vec::new();
    for (session, r) in sessions.iter().zip(resolved) {
        images.push(fetch_image(session, &store, r, opts, progress).await?);
    }

    let summaries = images
        .iter()
        .map(|i| PulledSummary {
            reference: i.target.full_name(),
            digest: i.manifest.digest.clone(),
            size: i.config.desc.size + i.layers.iter().map(|l| l.desc.size).sum::<u64>(),
            platform: i.platform.clone(),
        })
        .collect();
    progress.event(Event::Writing {
        path: destination.to_string(),
    });
    write_output(&images, opts, &destination).await?;
    Ok(PullReport {
        output: destination,
        images: summaries,
    })
}

fn open_store(cache: &Cache, destination: &Destination) -> Result<BlobStore> {
    match cache {
        Cache::Dir(d) => BlobStore::open(d),
        Cache::Disabled => {
            let dir = match destination {
                Destination::Path(p) => p
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(".")),
                Destination::Stdout => std::env::temp_dir(),
            };
            crate::store::ensure_parent(&dir.join("x"))?;
            BlobStore::temporary_in(&dir)
        }
    }
}

/// Steps 4 and 5: the config, then the layers in parallel, each verified into the store.
pub async fn fetch_image(
    session: &Session,
    store: &BlobStore,
    r: Resolved,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<PulledImage> {
    let adapter = session.adapter();
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
            format!("config of {} bytes exceeds the limit", r.manifest.config.size),
        ));
    }
    let config = blob::fetch(session, store, &config_job, opts.transfer, progress).await?;
    let config_bytes = std::fs::read(&config.path).map_err(|e| Error::io_path("reading", &config.path, e))?;
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
    let want_diffs = opts.decompress;
    let total = r.manifest.layers.len();
    let jobs: Vec<BlobJob> = r
        .manifest
        .layers
        .iter()
        .zip(&diff_ids)
        .enumerate()
        .map(|(i, (desc, diff_id))| {
            Ok(BlobJob {
                desc: desc.clone(),
                what: format!("layer {}/{total} {}", i + 1, desc.digest.short()),
                compression: Some(adapter.layer_compression(desc)?),
                diff_id: want_diffs.then(|| diff_id.clone()),
                foreign: adapter.is_foreign(desc),
            })
        })
        .collect::<Result<_>>()?;

    // Fetch each distinct blob once, several at a time.
    let mut unique: HashMap<&Digest, &BlobJob> = HashMap::new();
    for j in &jobs {
        unique.entry(&j.desc.digest).or_insert(j);
    }
    let fetched: HashMap<Digest, blob::Fetched> = stream::iter(unique.into_values())
        .map(|job| async move {
            let f = blob::fetch(session, store, job, opts.transfer, progress).await?;
            Ok::<_, Error>((job.desc.digest.clone(), f))
        })
        .buffer_unordered(opts.jobs.max(1))
        .try_collect()
        .await?;

    let layers = jobs
        .iter()
        .zip(diff_ids)
        .map(|(job, diff_id)| {
            let f = &fetched[&job.desc.digest];
            StoredLayer {
                desc: job.desc.clone(),
                path: f.path.clone(),
                diff_id,
                diff_path: f.diff_path.clone(),
                foreign: job.foreign,
            }
        })
        .collect();
    Ok(PulledImage {
        target: r.target,
        top: r.top,
        manifest: r.image,
        platform: r.platform,
        config: StoredBlob {
            desc: r.manifest.config,
            path: config.path,
        },
        layers,
    })
}

/// Step 6: write what the user asked for, atomically.
async fn write_output(images: &[PulledImage], opts: &PullOptions, dest: &Destination) -> Result<()> {
    let images = images.to_vec();
    let decompress = opts.decompress;
    let format = opts.format;
    let dest = dest.clone();
    tokio::task::spawn_blocking(move || match (format, &dest) {
        (Format::Docker, Destination::Path(p)) => {
            let mut f = AtomicFile::create(p)?;
            output::docker::write(&images, decompress, &mut f)?;
            f.commit().map(|_| ())
        }
        (Format::Docker, Destination::Stdout) => {
            let stdout = std::io::stdout().lock();
            output::docker::write(&images, decompress, std::io::BufWriter::with_capacity(1 << 20, stdout))
        }
    })
    .await
    .map_err(|e| Error::io("output writer", std::io::Error::other(e.to_string())))?
}

/// `library_alpine_3.9.tar`: the repository path with `/` as `_`, then the tag (or the
/// digest's first 12 hex digits).
pub fn default_output_name(target: &Target, format: Format) -> PathBuf {
    let base = target.name.repository.replace('/', "_");
    let suffix = match (&target.tag, &target.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.hex()[..12].to_string(),
        (None, None) => "latest".into(),
    };
    match format {
        Format::Docker => PathBuf::from(format!("{base}_{suffix}.tar")),
    }
}
