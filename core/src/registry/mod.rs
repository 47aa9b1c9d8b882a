//! The registry v2 protocol for one repository: manifests, tags and blobs.
//!
//! A [`Session`] composes the [HTTP layers](crate::http) once for its registry and sends every
//! request through them: redirects judged hop by hop, the registry's credentials and its 401
//! challenges, retries, the trace. This module only says what to ask for and checks what comes
//! back (digests, sizes, statuses); it neither stores what it fetches nor knows which adapter
//! it serves.

mod stacks;
pub mod tag_list;

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RANGE};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::auth::layer::TokenCache;
use crate::auth::{Authenticator, Credentials};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::http::notice::Notices;
use crate::http::policy;
use crate::http::quirks::ResponseQuirks;
use crate::http::retry::RetryPolicy;
use crate::http::send::read_limited;
use crate::http::trace::Trace;
use crate::http::{header_str, Request, Response, Stack};
use crate::manifest::{self, media_type, Descriptor, RawManifest};
use crate::manifest_cache::ManifestCache;
use crate::name::ImageName;
use crate::patience::Patience;
use crate::store::BlobStore;

use crate::transport::HttpClients;
use stacks::Stacks;

/// The base URL an endpoint (`--endpoint`, or an adapter's) names: a URL, or a bare host
/// meaning https, always ending in `/`.
pub(crate) fn endpoint_url(raw: &str) -> Result<Url> {
    let mut base = Url::parse(raw)
        .or_else(|_| Url::parse(&format!("https://{raw}")))
        .map_err(|e| Error::Usage(format!("endpoint {raw:?} is not a URL: {e}")))?;
    if base.host_str().is_none() {
        return Err(Error::Usage(format!("endpoint {raw:?} has no host")));
    }
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    Ok(base)
}

/// Everything a session needs to talk to one repository.
pub(crate) struct SessionConfig {
    /// Answers the registry's 401 challenges (the adapter's).
    pub authenticator: &'static dyn Authenticator,
    /// The repository.
    pub name: ImageName,
    /// The registry's base URL, or a bare host meaning https.
    pub endpoint: String,
    /// Whether a loopback (or `--insecure`) endpoint named without a scheme may turn out to
    /// speak plain HTTP; false when the user gave `--endpoint`, which says what it means.
    pub probe_scheme: bool,
    /// `--insecure`, or the host's config entry.
    pub insecure: bool,
    /// `--cert-dir`, or the host's config entry.
    pub cert_dir: Option<std::path::PathBuf>,
    /// The user's credentials for this registry.
    pub credentials: Option<Credentials>,
    /// Where the session gets its HTTP client (per registry host, for its certificates).
    pub clients: Arc<HttpClients>,
    /// Tokens shared by the run's sessions.
    pub tokens: Arc<TokenCache>,
    /// How to retry.
    pub retry: RetryPolicy,
    /// How long to wait for headers and bodies.
    pub patience: Patience,
    /// The cache whose copies of manifests spare GET requests (Docker Hub counts those
    /// against its pull limit; HEAD requests are free); see [`crate::manifest_cache`].
    pub manifest_cache: Option<Arc<BlobStore>>,
    /// Where the `-v` trace goes, if anywhere.
    pub trace: Option<Arc<dyn Trace>>,
    /// How the adapter reads its registry's answers, if it does.
    pub quirks: Option<&'static dyn ResponseQuirks>,
    /// The most tags to ask for per page (see [`crate::adapter::Adapter::tag_page_size`]).
    pub tag_page_size: Option<usize>,
    /// Where notices go (retries, an adapter's news about its registry), if anywhere.
    pub notices: Option<Arc<dyn Notices>>,
    /// The scopes its tokens are asked for; empty means `pull` on the repository (an upload
    /// session asks `pull,push`, and `pull` on a repository it mounts from).
    pub scopes: Vec<crate::auth::Scope>,
    /// The host a login for this registry is for (`docker.io`, or the `--endpoint` host), as
    /// hints name it (see `login::contacted_host`).
    pub login_host: String,
}

impl SessionConfig {
    /// How the session's connections are made.
    pub(crate) fn connection(&self) -> crate::transport::Connection {
        crate::transport::Connection {
            cert_dir: self.cert_dir.clone(),
            insecure: self.insecure,
        }
    }
}

/// What a login check (`login::check`) talks to the registry `cfg` names through: its base
/// URL settled as a session's is (the HTTPS probe, URL policy), and its stacks without the
/// auth layer. `cfg.credentials` are the ones being checked.
pub(crate) async fn login_context(cfg: &SessionConfig) -> Result<crate::auth::AuthContext> {
    let mut base = endpoint_url(&cfg.endpoint)?;
    let http = cfg.clients.for_registry(&base, &cfg.connection())?;
    if cfg.probe_scheme {
        base = cfg
            .clients
            .settle_scheme(&stacks::probe(cfg, &http), base, cfg.insecure)
            .await;
    }
    policy::check_url(&base, cfg.insecure)?;
    stacks::unauthenticated(cfg, &base, http)
}

/// A conversation with one repository of one registry.
pub struct Session {
    name: ImageName,
    base: Url,
    insecure: bool,
    /// Requests to the registry: redirect, auth, retry, trace.
    registry: Stack,
    /// Requests to a foreign layer's URLs: redirect, retry, trace; no credentials, no client
    /// certificate.
    foreign: Stack,
    retry: RetryPolicy,
    patience: Patience,
    manifest_cache: Option<Arc<BlobStore>>,
    tag_page_size: Option<usize>,
}

/// A successful blob response and where it came from (after redirects).
pub(crate) struct BlobResponse {
    /// The answer, its body unread.
    pub response: Response,
    /// True if the server honoured a Range request (206).
    pub partial: bool,
}

impl Session {
    /// A session with the registry `cfg` names. Talks to it only to find out whether a
    /// loopback (or `--insecure`) registry named without a scheme speaks TLS.
    pub(crate) async fn new(cfg: SessionConfig) -> Result<Session> {
        let mut base = endpoint_url(&cfg.endpoint)?;
        let http = cfg.clients.for_registry(&base, &cfg.connection())?;
        if cfg.probe_scheme {
            base = cfg
                .clients
                .settle_scheme(&stacks::probe(&cfg, &http), base, cfg.insecure)
                .await;
        }
        policy::check_url(&base, cfg.insecure)?;
        let Stacks { registry, foreign } = stacks::compose(&cfg, &base, http)?;
        Ok(Session {
            registry,
            foreign,
            name: cfg.name,
            base,
            insecure: cfg.insecure,
            retry: cfg.retry,
            patience: cfg.patience,
            manifest_cache: cfg.manifest_cache,
            tag_page_size: cfg.tag_page_size,
        })
    }

    /// The repository.
    pub fn name(&self) -> &ImageName {
        &self.name
    }

    /// `--insecure`.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// How requests are retried; a blob's body resumption spends the same kind of budget.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// How long to wait for headers and bodies.
    pub(crate) fn patience(&self) -> Patience {
        self.patience
    }

    /// The most tags to ask for per page of the tag list, if the registry caps it.
    pub(crate) fn tag_page_size(&self) -> Option<usize> {
        self.tag_page_size
    }

    /// The registry's base URL (after `--endpoint` and the HTTPS-or-HTTP probe).
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `<base>v2/<repository>/<rest>`.
    pub(crate) fn url(&self, rest: &str) -> Result<Url> {
        self.base
            .join(&format!("v2/{}/{rest}", self.name.repository))
            .map_err(|e| Error::Usage(format!("bad request URL: {e}")))
    }

    /// Sends a request to the registry through its stack. Returns the answer whatever its
    /// status, unless no answer came.
    pub async fn send(&self, req: Request) -> Result<Response> {
        self.registry.send(req).await
    }

    /// Sends a request to wherever the registry pointed it: through the registry's stack when
    /// it is on the registry's origin, else, as containerd's pusher does with an upload
    /// `Location` on another host, without credentials or client certificate, after the same
    /// checks a redirect passes.
    pub(crate) async fn send_anywhere(&self, req: Request) -> Result<Response> {
        if policy::same_origin(&req.url, &self.base) {
            return self.registry.send(req).await;
        }
        policy::check_other_host(&self.base, &req.url, self.insecure)?;
        self.foreign.send(req).await
    }

    /// Fetches a manifest by tag or digest, verifying it against the digest it was asked by and
    /// against `Docker-Content-Digest`. With a manifest cache, a digest already known costs no
    /// GET, and a tag costs a HEAD when its digest is cached.
    pub async fn get_manifest(&self, reference: &str) -> Result<RawManifest> {
        let Some(store) = &self.manifest_cache else {
            return self.fetch_manifest(reference).await.map(|(m, _)| m);
        };
        let cache = ManifestCache::new(store, self.base.as_str(), &self.name.repository);
        let digest = match Digest::parse(reference) {
            Ok(d) => Some(d),
            Err(_) => match self.head_manifest(reference).await {
                Ok(d) => d.map(|d| d.digest),
                // No answer at all: the GET would meet the same, after as many retries again.
                Err(e @ (Error::Http { .. } | Error::Stalled { .. })) => return Err(e),
                // A registry that does not answer HEAD usefully just costs us the GET.
                Err(_) => None,
            },
        };
        if let Some(m) = digest.and_then(|d| cache.get(&d)) {
            return Ok(m);
        }
        let (m, content_type) = self.fetch_manifest(reference).await?;
        cache.put(store, &m, content_type.as_deref());
        Ok(m)
    }

    /// A manifest from the registry, with the Content-Type it was served with.
    async fn fetch_manifest(&self, reference: &str) -> Result<(RawManifest, Option<String>)> {
        let what = format!("manifest {}:{reference}", self.display_name());
        let url = self.url(&format!("manifests/{reference}"))?;
        let resp = self
            .send(Request::new(Method::GET, url, &what).headers(manifest_headers()))
            .await?;
        if !resp.status().is_success() {
            return Err(resp.into_error(what).await);
        }
        let content_type = resp.header("content-type");
        let header_digest = resp.header("docker-content-digest");
        let answered = resp.url.to_string();
        if content_type.as_deref().is_some_and(is_html) {
            return Err(not_a_manifest(&what, "an HTML page", &answered));
        }
        let bytes = read_limited(resp, manifest::MAX_MANIFEST_BYTES, &what, &self.patience).await?;
        // Every manifest is a JSON object; anything else is not kept, not even in the cache.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            let kind = if looks_like_html(&bytes) {
                "an HTML page"
            } else {
                "something that is not a JSON manifest"
            };
            return Err(not_a_manifest(&what, kind, &answered));
        }
        let requested = Digest::parse(reference).ok();
        let actual = match &requested {
            Some(d) => d.compute_like(&bytes),
            None => Digest::sha256_of(&bytes),
        };
        if let Some(expected) = requested {
            if expected != actual {
                return Err(Error::DigestMismatch {
                    what,
                    expected,
                    actual,
                });
            }
        }
        if let Some(h) = header_digest
            .as_deref()
            .and_then(|h| Digest::parse(h.trim()).ok())
        {
            let ours = h.compute_like(&bytes);
            if ours != h {
                return Err(Error::DigestMismatch {
                    what: format!("{what} (Docker-Content-Digest)"),
                    expected: h,
                    actual: ours,
                });
            }
        }
        let media_type = manifest::effective_media_type(&bytes, content_type.as_deref());
        let m = RawManifest {
            bytes,
            digest: actual,
            media_type,
        };
        Ok((m, content_type))
    }

    /// The headers a registry answers a HEAD of a manifest with: what it says about the
    /// manifest (and, on Docker Hub, about the pull limit) without serving it.
    pub async fn manifest_headers(&self, reference: &str) -> Result<HeaderMap> {
        let what = format!("manifest {}:{reference}", self.display_name());
        let url = self.url(&format!("manifests/{reference}"))?;
        let resp = self
            .send(Request::new(Method::HEAD, url, &what).headers(manifest_headers()))
            .await?;
        if !resp.status().is_success() {
            return Err(resp.into_error(what).await);
        }
        Ok(resp.headers().clone())
    }

    /// Asks for a manifest's descriptor without its body. Docker Hub does not count HEAD
    /// requests against its pull limit. None if the registry does not say the digest.
    pub async fn head_manifest(&self, reference: &str) -> Result<Option<Descriptor>> {
        let headers = self.manifest_headers(reference).await?;
        let header = |name: &str| header_str(&headers, name);
        let Some(digest) =
            header("docker-content-digest").and_then(|d| Digest::parse(d.trim()).ok())
        else {
            return Ok(None);
        };
        let Some(size) = header("content-length").and_then(|s| s.parse().ok()) else {
            return Ok(None);
        };
        let media_type = header("content-type").unwrap_or_default();
        Ok(Some(Descriptor {
            media_type: media_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
            digest,
            size,
            urls: vec![],
            annotations: Default::default(),
            platform: None,
            artifact_type: None,
        }))
    }

    /// Every valid tag of the repository, following `Link` pagination, within the limits of
    /// [`tag_list`].
    pub async fn list_tags(&self) -> Result<tag_list::TagList> {
        tag_list::list(self).await
    }

    /// Opens a blob from the registry, from byte `offset` on.
    pub(crate) async fn open_blob(&self, digest: &Digest, offset: u64) -> Result<BlobResponse> {
        let what = format!("blob {} of {}", digest.short(), self.display_name());
        let url = self.url(&format!("blobs/{digest}"))?;
        let req = Request::new(Method::GET, url, &what).headers(range_headers(offset));
        blob_answer(self.send(req).await?, offset, what).await
    }

    /// A small blob (a config) read into memory, verified.
    pub async fn get_blob_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let what = format!("blob {} of {}", desc.digest.short(), self.display_name());
        if desc.size > limit {
            return Err(Error::TooLarge { what, limit });
        }
        let BlobResponse { response, .. } = self.open_blob(&desc.digest, 0).await?;
        let bytes = read_limited(response, desc.size as usize, &what, &self.patience).await?;
        if bytes.len() as u64 != desc.size {
            return Err(Error::SizeMismatch {
                what,
                expected: desc.size,
                actual: bytes.len() as u64,
            });
        }
        let actual = desc.digest.compute_like(&bytes);
        if actual != desc.digest {
            return Err(Error::DigestMismatch {
                what,
                expected: desc.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Opens a blob from an external URL (a foreign layer's `urls`): never with credentials
    /// or the registry's client certificate.
    pub(crate) async fn open_external(
        &self,
        url: &str,
        offset: u64,
        what: &str,
    ) -> Result<BlobResponse> {
        let url = Url::parse(url).map_err(|e| Error::Refused {
            url: crate::terminal_text::shown(url),
            reason: format!("not a URL: {e}"),
        })?;
        policy::check_other_host(&self.base, &url, self.insecure)?;
        let req = Request::new(Method::GET, url, what).headers(range_headers(offset));
        blob_answer(self.foreign.send(req).await?, offset, what.to_string()).await
    }

    /// `registry/repository` for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.name.registry, self.name.repository)
    }
}

/// A `Content-Type` saying HTML (`text/html; charset=utf-8`).
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// A body that starts like an HTML document, whatever its `Content-Type` said.
fn looks_like_html(bytes: &[u8]) -> bool {
    let start: Vec<u8> = bytes
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    start.starts_with(b"<!doctype html") || start.starts_with(b"<html")
}

/// The error for a manifest request answered with something else, most often an HTML page a
/// redirect led to (Quay sends its sign-in page that way). `answered` is where it came from.
fn not_a_manifest(what: &str, kind: &str, answered: &str) -> Error {
    Error::manifest(
        what,
        format!(
            "the registry answered with {kind} from {answered} instead of a manifest \
             (a sign-in or error page?), and nothing of it was kept: check the image name and \
             the login"
        ),
    )
}

fn manifest_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        ACCEPT,
        HeaderValue::from_static(media_type::ACCEPT_MANIFESTS),
    );
    h
}

fn range_headers(offset: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    if offset > 0 {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-")) {
            h.insert(RANGE, v);
        }
    }
    h
}

/// A blob's answer: the whole blob (200), or the rest of it when a range was asked (206).
async fn blob_answer(resp: Response, offset: u64, what: String) -> Result<BlobResponse> {
    let status = resp.status();
    if status == StatusCode::OK || (status == StatusCode::PARTIAL_CONTENT && offset > 0) {
        return Ok(BlobResponse {
            partial: status == StatusCode::PARTIAL_CONTENT,
            response: resp,
        });
    }
    Err(resp.into_error(what).await)
}
