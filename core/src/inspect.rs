//! `inspect`: what an image is, without pulling its layers.
//!
//! Resolves like a pull (same adapters, same platform choice), then reads only the config.
//! With the cache, manifests already seen cost a HEAD request and nothing else. A cache that
//! cannot be written is a warning to the progress sink, as for a pull, and manifests are then
//! only read from it.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::auth::layer::TokenCache;
use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::error::Result;
use crate::http::HeaderMap;
use crate::manifest::Manifest;
use crate::platform::Platform;
use crate::progress::{Event, Progress, Silent};
use crate::pull::{locate, open_session, wanted_platform, Cache, RegistryOptions};
use crate::pull_stores;
use crate::registry::tag_list::TagList;
use crate::registry::Session;
use crate::resolve::{describe_platforms, Resolved};

/// What to inspect and how to reach it.
#[derive(Clone, Debug)]
pub struct InspectOptions {
    /// The image reference as the user typed it.
    pub image: String,
    /// How to reach the registry.
    pub registry: RegistryOptions,
    /// The platform to pick from an index; None means the adapter's default, else
    /// linux/amd64.
    pub platform: Option<Platform>,
    /// Where manifests seen before are kept ([`Cache::Disabled`]: nowhere).
    pub cache: Cache,
}

/// The manifest bytes exactly as served: the index or image the reference names, or with a
/// platform, the image chosen from the index. Warnings and notes go to `progress`.
pub async fn raw_manifest(opts: &InspectOptions, progress: &dyn Progress) -> Result<Vec<u8>> {
    if opts.platform.is_none() {
        let (located, session) =
            connect(&opts.image, &opts.registry, &opts.cache, progress).await?;
        return Ok(session
            .get_manifest(&located.target.manifest_reference())
            .await?
            .bytes);
    }
    let (_, _, r) = resolve_image(opts, progress).await?;
    Ok(r.image.bytes)
}

/// A JSON description of the image, naming the adapter that resolved it (`"adapter"`).
/// Warnings and notes go to `progress`.
pub async fn inspect(opts: &InspectOptions, progress: &dyn Progress) -> Result<Value> {
    let (located, session, r) = resolve_image(opts, progress).await?;
    let config_bytes = session
        .get_blob_bytes(&r.manifest.config, MAX_CONFIG_BYTES)
        .await?;
    let config = ImageConfig::parse(&config_bytes)?;
    let is_index = matches!(r.top.parse(&r.target.full_name())?, Manifest::Index(_));
    let layers: Vec<Value> = r
        .manifest
        .layers
        .iter()
        .map(|l| {
            let mut v = json!({"digest": l.digest, "size": l.size, "mediaType": l.media_type});
            if !l.urls.is_empty() {
                v["urls"] = json!(l.urls);
            }
            v
        })
        .collect();
    // Sizes are the registry's claims: add them without overflowing.
    let size = r
        .manifest
        .layers
        .iter()
        .fold(r.manifest.config.size, |n, l| n.saturating_add(l.size));
    let field = |k: &str| config.field(k).cloned().unwrap_or(Value::Null);
    let runtime = |k: &str| config.runtime(k).cloned().unwrap_or(Value::Null);
    let mut out = json!({
        "reference": r.target.full_name(),
        "adapter": located.adapter.name(),
        "registry": r.target.name.registry,
        "repository": r.target.name.repository,
        "tag": r.target.tag,
        "digest": r.top.digest,
        "mediaType": r.top.media_type,
        "image": {
            "digest": r.image.digest,
            "mediaType": r.image.media_type,
            "platform": r.platform.as_ref().map(|p| p.to_string()),
            "size": size,
            "config": {
                "digest": r.manifest.config.digest,
                "os": config.os(),
                "architecture": config.architecture(),
                "variant": field("variant"),
                "os.version": field("os.version"),
                "created": field("created"),
                "env": runtime("Env"),
                "cmd": runtime("Cmd"),
                "entrypoint": runtime("Entrypoint"),
                "workingDir": runtime("WorkingDir"),
                "user": runtime("User"),
                "labels": runtime("Labels"),
            },
            "layers": layers,
        },
    });
    if is_index {
        out["platforms"] = json!(describe_platforms(&r.index_platforms));
    }
    Ok(out)
}

/// A session for one reference, with the manifest cache when there is one.
async fn connect(
    image: &str,
    registry: &RegistryOptions,
    cache: &Cache,
    progress: &dyn Progress,
) -> Result<(crate::pull::Located, Session)> {
    let located = locate(image, registry)?;
    let clients = Arc::new(registry.http_clients());
    let cache = pull_stores::manifest_cache(cache, progress);
    let session = open_session(
        &located,
        registry,
        &clients,
        &Arc::new(TokenCache::default()),
        cache,
    )
    .await?;
    Ok((located, session))
}

/// The image for the wanted platform, resolved as a pull would, with what resolved it.
async fn resolve_image(
    opts: &InspectOptions,
    progress: &dyn Progress,
) -> Result<(crate::pull::Located, Session, Resolved)> {
    let (located, session) = connect(&opts.image, &opts.registry, &opts.cache, progress).await?;
    let wanted = wanted_platform(&located, opts.platform.as_ref());
    let r = located
        .adapter
        .resolve(&session, &located.target, &wanted)
        .await?;
    for note in &r.notes {
        progress.event(Event::Note(note.clone()));
    }
    Ok((located, session, r))
}

/// Every valid tag of the repository a reference names (see [`crate::registry::tag_list`]).
pub async fn tags(image: &str, registry: &RegistryOptions) -> Result<TagList> {
    let (_, session) = connect(image, registry, &Cache::Disabled, &Silent).await?;
    session.list_tags().await
}

/// The headers a registry answers a HEAD of an image's manifest with, without the manifest:
/// what a registry says about an image, or about its limits (Docker Hub's pull counters; it
/// does not count a HEAD as a pull). The adapter reads them.
pub async fn manifest_headers(image: &str, registry: &RegistryOptions) -> Result<HeaderMap> {
    let (located, session) = connect(image, registry, &Cache::Disabled, &Silent).await?;
    session
        .manifest_headers(&located.target.manifest_reference())
        .await
}
