//! Reading an image through the mirrors the config names for its host, as Docker's
//! `registry-mirrors` does for Docker Hub, but for any host.
//!
//! Each mirror is asked in order, then the registry itself. A mirror is passed over, with a
//! notice saying which and why, when it cannot be reached or answers the manifest with 404,
//! 401 or a 5xx: it lacks the image, wants a login we do not have, or is down. Anything else
//! a mirror does (a digest that does not match, a manifest drag cannot use) ends the read as
//! it would from the registry: a mirror is not trusted more than the registry, and every digest
//! is verified as always. Once a mirror served the manifest, the blobs come from it too (its
//! session is the one returned), so one image never mixes sources.
//!
//! A mirror's first read gets at most [`MIRROR_RETRIES`] retries: one blip is forgiven, but a
//! mirror that is down should cost a moment, not the full retry budget, when the registry is
//! right behind it. The session that then serves the blobs retries as the user asked.
//! `--endpoint` names one place to read from: no mirror is tried then. Tag lists and
//! `ratelimit` ask the registry itself.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::auth::layer::TokenCache;
use crate::error::{Error, Result};
use crate::http::retry::RetryPolicy;
use crate::progress::{Event, Progress};
use crate::reach::{open_session_at, Located, RegistryOptions, Source};
use crate::redacted::RedactedUrl;
use crate::registry::Session;
use crate::store::BlobStore;
use crate::terminal_text::shown;
use crate::transport::HttpClients;

/// Retries of a mirror's first read, before the next source is asked.
pub(crate) const MIRROR_RETRIES: u32 = 1;

/// The places to read one located reference from, in order.
pub(crate) fn sources(located: &Located, opts: &RegistryOptions) -> Vec<Source> {
    let mut sources = Vec::new();
    if opts.endpoint.is_none() {
        if let Some(entry) = opts.config.for_host(&located.target.name.registry) {
            sources.extend(entry.mirrors.iter().map(|m| Source {
                endpoint: Some(m.clone()),
                mirror: true,
            }));
        }
    }
    sources.push(Source::registry(opts));
    sources
}

/// True when a mirror's failure says "ask the next one": no answer, or a manifest answer of
/// 404, 401 or 5xx (a tag an adapter's fallbacks did not find is a 404 too).
fn passes_over(e: &Error) -> bool {
    match e {
        Error::Http { .. }
        | Error::Stalled { .. }
        | Error::Refused { .. }
        | Error::Auth(_)
        | Error::TagUnresolved { .. } => true,
        Error::Registry(r) => matches!(r.status, 401 | 404 | 500..=599),
        _ => false,
    }
}

/// What a source served, and the session that served it (for the blobs).
pub(crate) struct Served<T> {
    /// The session with the source that served.
    pub session: Arc<Session>,
    /// What it served.
    pub value: T,
    /// The mirror that served, as shown to users; None for the registry itself.
    pub mirror: Option<String>,
    /// The reference, for the note.
    full_name: String,
}

impl<T> Served<T> {
    /// Tells the user when a mirror served the image.
    pub(crate) fn tell(&self, progress: &dyn Progress) {
        if let Some(mirror) = &self.mirror {
            progress.event(Event::Note(format!(
                "{}: served by mirror {mirror}",
                shown(&self.full_name)
            )));
        }
    }
}

/// One reference to read, with what its sessions share.
pub(crate) struct Reading<'a> {
    located: &'a Located,
    opts: &'a RegistryOptions,
    clients: &'a Arc<HttpClients>,
    tokens: &'a Arc<TokenCache>,
    manifest_cache: Option<Arc<BlobStore>>,
}

impl<'a> Reading<'a> {
    pub(crate) fn new(
        located: &'a Located,
        opts: &'a RegistryOptions,
        clients: &'a Arc<HttpClients>,
        tokens: &'a Arc<TokenCache>,
        manifest_cache: Option<Arc<BlobStore>>,
    ) -> Reading<'a> {
        Reading {
            located,
            opts,
            clients,
            tokens,
            manifest_cache,
        }
    }

    async fn open(&self, source: &Source, retry: RetryPolicy) -> Result<Arc<Session>> {
        let s = open_session_at(
            self.located,
            self.opts,
            source,
            retry,
            self.clients,
            self.tokens,
            self.manifest_cache.clone(),
        )
        .await?;
        Ok(Arc::new(s))
    }

    /// `read` from the first source that serves it: each mirror in turn, then the registry,
    /// whose failure is the error.
    pub(crate) async fn first_serving<T>(
        &self,
        read: impl Fn(Arc<Session>) -> BoxFuture<'a, Result<T>>,
    ) -> Result<Served<T>> {
        let full_name = self.located.target.full_name();
        let mut sources = sources(self.located, self.opts);
        let registry = sources.pop().unwrap_or_else(|| Source::registry(self.opts));
        for source in sources {
            let shown_url = source
                .endpoint
                .as_deref()
                .and_then(|e| url::Url::parse(e).ok())
                .map(|u| RedactedUrl::new(&u).to_string())
                .unwrap_or_default();
            let quick = RetryPolicy {
                retries: self.opts.retry.retries.min(MIRROR_RETRIES),
                ..self.opts.retry
            };
            let attempt = match self.open(&source, quick).await {
                Ok(session) => read(session).await,
                Err(e) => Err(e),
            };
            match attempt {
                Ok(value) => {
                    let session = self.open(&source, self.opts.retry).await?;
                    return Ok(Served {
                        session,
                        value,
                        mirror: Some(shown_url),
                        full_name,
                    });
                }
                Err(e) if passes_over(&e) => {
                    if let Some(notices) = &self.opts.notices {
                        notices.notice(&format!(
                            "mirror {shown_url} skipped for {}: {e}",
                            shown(&full_name)
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let session = self.open(&registry, self.opts.retry).await?;
        let value = read(session.clone()).await?;
        Ok(Served {
            session,
            value,
            mirror: None,
            full_name,
        })
    }
}
