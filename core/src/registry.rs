//! The registry v2 protocol for one repository: manifests, tags, blobs, with authentication,
//! retries and redirects handled once, here.
//!
//! A [`Session`] sends every request through [`Session::send`], which attaches the cached
//! credential, answers a 401 through the adapter's authenticator (once per request, so an
//! expired token mid-pull is renewed), and retries transient failures with backoff. Blob
//! redirects are followed by hand: the registry's credentials go only to the registry's origin,
//! never to a CDN.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::adapter::{Adapter, ImageName};
use crate::auth::challenge::parse_all;
use crate::auth::{AuthContext, Credential, Credentials, Scope};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{self, media_type, Descriptor, RawManifest};
use crate::manifest_cache::ManifestCache;
use crate::patience::Patience;
use crate::store::BlobStore;
use crate::tag_list::TagList;
use crate::transport::{self, HttpClients};

/// Tokens shared by every session of one run, keyed by endpoint and scope.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<(String, Scope), Credential>>,
}

impl TokenCache {
    fn get(&self, key: &(String, Scope)) -> Option<Credential> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|c| c.is_fresh()).cloned()
    }

    fn put(&self, key: (String, Scope), c: Credential) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, c);
    }

    fn forget(&self, key: &(String, Scope), stale: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(key).is_some_and(|c| c.header == stale) {
            map.remove(key);
        }
    }
}

/// How often and how patiently to retry transient failures.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter, or what the server asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<u64>) -> Duration {
        if let Some(secs) = retry_after {
            return Duration::from_secs(secs).min(Duration::from_secs(120));
        }
        let exp = self.base_delay.saturating_mul(1 << attempt.min(16));
        let capped = exp.min(self.max_delay);
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        capped.mul_f64(jitter)
    }
}

pub fn is_retryable_status(s: StatusCode) -> bool {
    crate::error::is_retryable_status(s.as_u16())
}

/// The base URL an endpoint (`--endpoint`, or an adapter's) names: a URL, or a bare host
/// meaning https, always ending in `/`.
pub fn endpoint_url(raw: &str) -> Result<Url> {
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
pub struct SessionConfig {
    pub adapter: &'static dyn Adapter,
    pub name: ImageName,
    /// Overrides the adapter's endpoint (`--endpoint`).
    pub endpoint: Option<String>,
    pub insecure: bool,
    pub credentials: Option<Credentials>,
    /// Where the session gets its HTTP client (per registry host, for its certificates).
    pub clients: Arc<HttpClients>,
    pub tokens: Arc<TokenCache>,
    pub retry: RetryPolicy,
    /// How long to wait for headers and bodies.
    pub patience: Patience,
    /// The cache whose copies of manifests spare GET requests (Docker Hub counts those
    /// against its pull limit; HEAD requests are free); see [`crate::manifest_cache`].
    pub manifest_cache: Option<Arc<BlobStore>>,
}

pub struct Session {
    adapter: &'static dyn Adapter,
    name: ImageName,
    base: Url,
    http: reqwest::Client,
    /// For the other hosts the registry sends us to: no client certificate.
    http_other: reqwest::Client,
    auth: AuthContext,
    tokens: Arc<TokenCache>,
    scope: Scope,
    retry: RetryPolicy,
    patience: Patience,
    /// Serializes challenge answers so parallel requests that all meet a 401 ask for one token.
    auth_lock: tokio::sync::Mutex<()>,
    manifest_cache: Option<Arc<BlobStore>>,
}

/// A successful blob response and where it came from (after redirects).
pub struct BlobResponse {
    pub response: Response,
    /// True if the server honoured a Range request (206).
    pub partial: bool,
}

impl Session {
    /// A session with the registry `cfg` names. Talks to it only to find out whether a
    /// loopback (or `--insecure`) registry named without a scheme speaks TLS.
    pub async fn new(cfg: SessionConfig) -> Result<Session> {
        let explicit = cfg.endpoint.is_some();
        let raw = match cfg.endpoint {
            Some(e) => e,
            None => cfg.adapter.endpoint(&cfg.name),
        };
        let mut base = endpoint_url(&raw)?;
        let http = cfg.clients.for_registry(&base)?;
        if !explicit {
            base = cfg.clients.settle_scheme(&http, base).await;
        }
        transport::check_url(&base, cfg.insecure)?;
        let http_other = cfg.clients.for_other_hosts(&base)?;
        let scope = Scope::pull(&cfg.name.repository);
        Ok(Session {
            adapter: cfg.adapter,
            auth: AuthContext {
                http: http.clone(),
                http_other: http_other.clone(),
                registry: base.clone(),
                credentials: cfg.credentials,
                insecure: cfg.insecure,
                patience: cfg.patience,
            },
            name: cfg.name,
            base,
            http,
            http_other,
            tokens: cfg.tokens,
            scope,
            retry: cfg.retry,
            patience: cfg.patience,
            auth_lock: tokio::sync::Mutex::new(()),
            manifest_cache: cfg.manifest_cache,
        })
    }

    pub fn name(&self) -> &ImageName {
        &self.name
    }

    pub fn adapter(&self) -> &'static dyn Adapter {
        self.adapter
    }

    pub fn insecure(&self) -> bool {
        self.auth.insecure
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    pub fn patience(&self) -> Patience {
        self.patience
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
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

    fn token_key(&self) -> (String, Scope) {
        (self.base.to_string(), self.scope.clone())
    }

    /// Sends a request to the registry with credentials, 401 handling and retries.
    /// Returns the response whatever its status, unless every retry failed to connect.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        what: &str,
    ) -> Result<Response> {
        let mut attempt = 0;
        let mut answered_challenge = false;
        loop {
            let cred = self.tokens.get(&self.token_key());
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(c) = &cred {
                req = req.header(AUTHORIZATION, &c.header);
            }
            let resp = match transport::send(req, &self.patience, what).await {
                Ok(r) => r,
                Err(err) => {
                    if err.is_transient() && attempt < self.retry.retries {
                        tokio::time::sleep(self.retry.delay(attempt, None)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !answered_challenge {
                answered_challenge = true;
                if self.answer_challenge(&resp, cred.as_ref()).await? {
                    continue;
                }
                return Ok(resp);
            }
            if is_retryable_status(status) && attempt < self.retry.retries {
                let wait = self
                    .retry
                    .delay(attempt, transport::retry_after(resp.headers()));
                drop(resp);
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Gets a credential for a 401. Returns false if there is nothing to answer with.
    async fn answer_challenge(&self, resp: &Response, stale: Option<&Credential>) -> Result<bool> {
        let values: Vec<&str> = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let challenges = parse_all(values);
        if challenges.is_empty() {
            return Ok(false);
        }
        let _guard = self.auth_lock.lock().await;
        let key = self.token_key();
        if let Some(stale) = stale {
            self.tokens.forget(&key, &stale.header);
        }
        // Another request may have renewed it while we waited for the lock.
        if let Some(fresh) = self.tokens.get(&key) {
            if stale.is_none_or(|s| s.header != fresh.header) {
                return Ok(true);
            }
        }
        match self
            .adapter
            .authenticate(&self.auth, &challenges, &self.scope)
            .await?
        {
            Some(c) => {
                self.tokens.put(key, c);
                Ok(true)
            }
            None => Ok(false),
        }
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
            // A registry that does not answer HEAD usefully just costs us the GET.
            Err(_) => self
                .head_manifest(reference)
                .await
                .ok()
                .flatten()
                .map(|d| d.digest),
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
            .send(Method::GET, url, manifest_headers(), &what)
            .await?;
        if !resp.status().is_success() {
            return Err(transport::error_from_response(what, resp).await);
        }
        let content_type = header_str(resp.headers(), "content-type");
        let header_digest = header_str(resp.headers(), "docker-content-digest");
        let bytes =
            transport::read_limited(resp, manifest::MAX_MANIFEST_BYTES, &what, &self.patience)
                .await?;
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

    /// Asks for a manifest's descriptor without its body. Docker Hub does not count HEAD
    /// requests against its pull limit. None if the registry does not say the digest.
    pub async fn head_manifest(&self, reference: &str) -> Result<Option<Descriptor>> {
        let what = format!("manifest {}:{reference}", self.display_name());
        let url = self.url(&format!("manifests/{reference}"))?;
        let resp = self
            .send(Method::HEAD, url, manifest_headers(), &what)
            .await?;
        if !resp.status().is_success() {
            return Err(transport::error_from_response(what, resp).await);
        }
        let h = resp.headers();
        let Some(digest) =
            header_str(h, "docker-content-digest").and_then(|d| Digest::parse(d.trim()).ok())
        else {
            return Ok(None);
        };
        let Some(size) = header_str(h, "content-length").and_then(|s| s.parse().ok()) else {
            return Ok(None);
        };
        let media_type = header_str(h, "content-type").unwrap_or_default();
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
    /// [`crate::tag_list`].
    pub async fn list_tags(&self) -> Result<TagList> {
        crate::tag_list::list(self).await
    }

    /// Opens a blob from the registry, from byte `offset` on, following redirects.
    pub async fn open_blob(&self, digest: &Digest, offset: u64) -> Result<BlobResponse> {
        let what = format!("blob {} of {}", digest.short(), self.display_name());
        let url = self.url(&format!("blobs/{digest}"))?;
        let resp = self
            .send(Method::GET, url.clone(), range_headers(offset), &what)
            .await?;
        self.follow_redirects(resp, url, offset, &what).await
    }

    /// A small blob (a config) read into memory, verified.
    pub async fn get_blob_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let what = format!("blob {} of {}", desc.digest.short(), self.display_name());
        if desc.size > limit {
            return Err(Error::manifest(
                what,
                format!("{} bytes exceeds the {limit} byte limit", desc.size),
            ));
        }
        let BlobResponse { response, .. } = self.open_blob(&desc.digest, 0).await?;
        let bytes =
            transport::read_limited(response, desc.size as usize, &what, &self.patience).await?;
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

    /// Opens a blob from an external URL (a foreign layer's `urls`): never with credentials.
    pub async fn open_external(&self, url: &str, offset: u64, what: &str) -> Result<BlobResponse> {
        let url = Url::parse(url).map_err(|e| Error::Refused {
            url: url.chars().take(200).collect(),
            reason: format!("not a URL: {e}"),
        })?;
        self.check_other_host(&url)?;
        let resp = self.send_anonymous(url.clone(), offset, what).await?;
        self.follow_redirects(resp, url, offset, what).await
    }

    /// A URL on another host that the registry sends us to: see [`transport::check_other_host`].
    fn check_other_host(&self, url: &Url) -> Result<()> {
        transport::check_other_host(&self.base, url, self.insecure())
    }

    async fn follow_redirects(
        &self,
        mut resp: Response,
        mut url: Url,
        offset: u64,
        what: &str,
    ) -> Result<BlobResponse> {
        for _ in 0..10 {
            let status = resp.status();
            if status.is_redirection() {
                let location = header_str(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
                    Error::manifest(what, format!("redirect ({status}) without a Location"))
                })?;
                let next = url.join(&location).map_err(|e| Error::Refused {
                    url: location.chars().take(200).collect(),
                    reason: format!("redirect to an invalid URL: {e}"),
                })?;
                if transport::same_origin(&next, &self.base) {
                    transport::check_url(&next, self.insecure())?;
                } else {
                    self.check_other_host(&next)?;
                }
                resp = if transport::same_origin(&next, &self.base) {
                    self.send(Method::GET, next.clone(), range_headers(offset), what)
                        .await?
                } else {
                    self.send_anonymous(next.clone(), offset, what).await?
                };
                url = next;
                continue;
            }
            if status == StatusCode::OK || (status == StatusCode::PARTIAL_CONTENT && offset > 0) {
                return Ok(BlobResponse {
                    partial: status == StatusCode::PARTIAL_CONTENT,
                    response: resp,
                });
            }
            return Err(transport::error_from_response(what.to_string(), resp).await);
        }
        Err(Error::manifest(what, "too many redirects"))
    }

    /// A request without the registry's credentials (CDNs, foreign-layer hosts), with retries.
    async fn send_anonymous(&self, url: Url, offset: u64, what: &str) -> Result<Response> {
        let mut attempt = 0;
        loop {
            let req = self
                .http_other
                .get(url.clone())
                .headers(range_headers(offset));
            let from = format!("{what} from {}", transport::redacted(&url));
            match transport::send(req, &self.patience, from).await {
                Ok(r) if is_retryable_status(r.status()) && attempt < self.retry.retries => {
                    let wait = self
                        .retry
                        .delay(attempt, transport::retry_after(r.headers()));
                    drop(r);
                    tokio::time::sleep(wait).await;
                }
                Ok(r) => return Ok(r),
                Err(err) => {
                    if !(err.is_transient() && attempt < self.retry.retries) {
                        return Err(err);
                    }
                    tokio::time::sleep(self.retry.delay(attempt, None)).await;
                }
            }
            attempt += 1;
        }
    }

    /// `registry/repository` for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.name.registry, self.name.repository)
    }
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

pub(crate) fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert!(p.delay(0, None) < p.delay(4, None));
        assert_eq!(p.delay(0, Some(3)), Duration::from_secs(3));
        assert!(p.delay(30, None) <= p.max_delay.mul_f64(1.25));
    }
}
