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
use crate::mirrors::Reading;
use crate::platform::Platform;
use crate::progress::{Event, Progress};
use crate::pull::Cache;
use crate::pull_stores;
use crate::reach::{locate, open_session, wanted_platform, Located, RegistryOptions};
use crate::redacted::RedactedUrl;
use crate::registry::tag_list::TagList;
use crate::registry::Session;
use crate::resolve::{describe_platforms, Resolved};
use crate::transport::HttpClients;

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
        let located = locate(&opts.image, &opts.registry)?;
        let (clients, tokens) = shared(&opts.registry);
        let cache = pull_stores::manifest_cache(&opts.cache, progress);
        let reading = Reading::new(&located, &opts.registry, &clients, &tokens, cache);
        let reference = located.target.manifest_reference();
        let reference = &reference;
        let served = reading
            .first_serving(|s| Box::pin(async move { s.get_manifest(reference).await }))
            .await?;
        return Ok(served.value.bytes);
    }
    let (_, _, r) = resolve_image(opts, progress).await?;
    Ok(r.image.bytes)
}

/// A JSON description of the image, naming the adapter that resolved it (`"adapter"`) and
/// the base URL that served it (`"endpoint"`: the registry's, or a mirror's). Warnings and
/// notes go to `progress`.
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
        "endpoint": RedactedUrl::new(session.base()).to_string(),
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

/// The HTTP clients and token cache one command's sessions share.
fn shared(registry: &RegistryOptions) -> (Arc<HttpClients>, Arc<TokenCache>) {
    (
        Arc::new(registry.http_clients()),
        Arc::new(TokenCache::default()),
    )
}

/// A session with the registry itself (or `--endpoint`) for one reference, without the
/// config's mirrors: for what only the registry can answer (its tags, its limits).
async fn connect(image: &str, registry: &RegistryOptions) -> Result<(Located, Session)> {
    let located = locate(image, registry)?;
    let (clients, tokens) = shared(registry);
    let session = open_session(&located, registry, &clients, &tokens, None).await?;
    Ok((located, session))
}

/// The image for the wanted platform, resolved as a pull would (through the config's mirrors,
/// if any), with what resolved it and the session of the source that served it.
async fn resolve_image(
    opts: &InspectOptions,
    progress: &dyn Progress,
) -> Result<(Located, Arc<Session>, Resolved)> {
    let located = locate(&opts.image, &opts.registry)?;
    let (clients, tokens) = shared(&opts.registry);
    let cache = pull_stores::manifest_cache(&opts.cache, progress);
    let wanted = wanted_platform(&located, opts.platform.as_ref());
    let served = {
        let reading = Reading::new(&located, &opts.registry, &clients, &tokens, cache);
        let (l, wanted) = (&located, &wanted);
        reading
            .first_serving(|s| {
                Box::pin(async move { l.adapter.resolve(&s, &l.target, wanted).await })
            })
            .await?
    };
    served.tell(progress);
    for note in &served.value.notes {
        progress.event(Event::Note(note.clone()));
    }
    Ok((located, served.session, served.value))
}

/// Every valid tag of the repository a reference names (see [`crate::registry::tag_list`]).
pub async fn tags(image: &str, registry: &RegistryOptions) -> Result<TagList> {
    let (_, session) = connect(image, registry).await?;
    session.list_tags().await
}

/// The headers a registry answers a HEAD of an image's manifest with, without the manifest:
/// what a registry says about an image, or about its limits (Docker Hub's pull counters; it
/// does not count a HEAD as a pull). The adapter reads them.
pub async fn manifest_headers(image: &str, registry: &RegistryOptions) -> Result<HeaderMap> {
    let (located, session) = connect(image, registry).await?;
    session
        .manifest_headers(&located.target.manifest_reference())
        .await
}
