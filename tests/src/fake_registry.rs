//! An in-process registry speaking the pull side of the distribution v2 API,
//! with the behaviours of real registries that clients get wrong.
//!
//! It exists so integration tests can pull from a registry whose every
//! quirk and failure is under their control: Docker Hub's token flow (with
//! scopes, expiry, revocation), blob redirects to a CDN that rejects
//! forwarded credentials, paginated tag lists, missing
//! `Docker-Content-Digest`, and injected [`Fault`]s mid-download. Content is
//! pushed through Rust calls (no upload API), and every request is recorded
//! for assertions.
//!
//! It runs on its own thread (see `server.rs`), so tests may block on the
//! `drag` binary while it serves.

mod auth;
mod cloud;
mod errors;
mod fault;
mod handlers;
mod pull_limit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;

pub use auth::{AuthMode, TokenField, TokenRequest, SERVICE};
pub use cloud::{basic_login, TokenLogins, ECR_EXPIRED_MESSAGE};
pub use fault::Fault;
pub use pull_limit::{PullLimit, SPENT_MESSAGE};

use crate::image::{Blob, Image};
use crate::recorded::{Listener, RecordedRequest};
use crate::server::{bind_loopback, local_addr, BackgroundServer};

/// When a registry built with [`FakeRegistryBuilder::gzip`] encodes its bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gzip {
    /// Unless the request's `Accept-Encoding` names `identity` (Red Hat).
    UnlessIdentity,
    /// Whatever the request says: a server drag must refuse.
    Always,
}

/// Options for a [`FakeRegistry`]; from [`FakeRegistry::builder`].
#[derive(Clone, Debug)]
pub struct FakeRegistryBuilder {
    config: Config,
}

#[derive(Clone, Debug)]
struct Config {
    auth: AuthMode,
    cdn: bool,
    tags_page_size: Option<usize>,
    docker_content_digest: bool,
    ranges: bool,
    pull_limit: Option<PullLimit>,
    gzip: Option<Gzip>,
    null_tags: bool,
    challenge_only_at_base: bool,
    basic_challenge: Option<String>,
    expired_password: Option<String>,
    tags_n_cap: Option<usize>,
    blob_head_unauthorized: bool,
    token_logins: Option<TokenLogins>,
    stale_token_challenge: Option<String>,
    token_login: Option<(String, String)>,
    chunked: bool,
    challenge_service: bool,
    unquoted_scope: bool,
    token_content_type: Option<&'static str>,
    opaque_tokens: bool,
}

impl FakeRegistryBuilder {
    /// Default: [`AuthMode::Anonymous`].
    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.config.auth = auth;
        self
    }

    /// Blob GETs answer `307` to the CDN listener (another origin), which
    /// serves the bytes but answers 403 to requests carrying `Authorization`.
    pub fn cdn(mut self, cdn: bool) -> Self {
        self.config.cdn = cdn;
        self
    }

    /// Tag lists return at most `n` tags per page, with a `Link: <...>; rel="next"`.
    pub fn tags_page_size(mut self, n: usize) -> Self {
        self.config.tags_page_size = Some(n);
        self
    }

    /// Whether manifest and blob responses carry `Docker-Content-Digest` (default true).
    pub fn docker_content_digest(mut self, send: bool) -> Self {
        self.config.docker_content_digest = send;
        self
    }

    /// Whether blob GETs honour `Range` (default true); when false they answer 200 with the
    /// whole blob, as some registries and CDNs do.
    pub fn ranges(mut self, honour: bool) -> Self {
        self.config.ranges = honour;
        self
    }

    /// Counts manifest GETs against a pull limit as Docker Hub does: every manifest answer
    /// carries `ratelimit-limit`, `ratelimit-remaining` and `docker-ratelimit-source`, and a
    /// GET once none are left gets Docker Hub's 429 `TOOMANYREQUESTS`. HEADs are not counted.
    pub fn pull_limit(mut self, limit: PullLimit) -> Self {
        self.config.pull_limit = Some(limit);
        self
    }

    /// Gzips successful GET bodies and says `Content-Encoding: gzip` (without
    /// `Content-Length`), as Red Hat's registry does (see [`Gzip`]).
    pub fn gzip(mut self, when: Gzip) -> Self {
        self.config.gzip = Some(when);
        self
    }

    /// Tag lists carry `null` entries among the tags, as Nexus sends.
    pub fn null_tags(mut self, on: bool) -> Self {
        self.config.null_tags = on;
        self
    }

    /// Refusals (401) outside `/v2/` carry no `WWW-Authenticate`; only `/v2/` says the
    /// challenge, as GCR and Artifact Registry do.
    pub fn challenge_only_at_base(mut self, on: bool) -> Self {
        self.config.challenge_only_at_base = on;
        self
    }

    /// In [`AuthMode::Basic`], refusals challenge with this `WWW-Authenticate` value (ECR:
    /// `Basic realm="https://HOST/",service="ecr.amazonaws.com"`).
    pub fn basic_challenge(mut self, challenge: &str) -> Self {
        self.config.basic_challenge = Some(challenge.to_string());
        self
    }

    /// In [`AuthMode::Basic`], the user's login with this password has expired: requests
    /// carrying it get ECR's 403 `DENIED` "Your authorization token has expired".
    pub fn expired_password(mut self, password: &str) -> Self {
        self.config.expired_password = Some(password.to_string());
        self
    }

    /// Tag lists honour `n` as the page size, and answer 400 to an `n` over `cap` (ECR:
    /// 1000); without `n`, pages are [`FakeRegistryBuilder::tags_page_size`] long.
    pub fn tags_n_cap(mut self, cap: usize) -> Self {
        self.config.tags_n_cap = Some(cap);
        self
    }

    /// HEAD on a blob answers 401 with a Bearer challenge even with a valid token, as ECR
    /// Public does.
    pub fn blob_head_unauthorized(mut self, on: bool) -> Self {
        self.config.blob_head_unauthorized = on;
        self
    }

    /// The token service issues tokens only to these logins (see [`TokenLogins`]).
    pub fn token_logins(mut self, logins: TokenLogins) -> Self {
        self.config.token_logins = Some(logins);
        self
    }

    /// In [`AuthMode::Bearer`], a request carrying an expired, revoked or under-scoped token
    /// is challenged with this value instead of a Bearer challenge (Harbor: `Basic
    /// realm="harbor"`); requests without a token still get the Bearer one.
    pub fn stale_token_challenge(mut self, challenge: &str) -> Self {
        self.config.stale_token_challenge = Some(challenge.to_string());
        self
    }

    /// With [`AuthMode::Bearer`]: `/token` issues tokens only to requests carrying Basic
    /// credentials for `user`/`pass`, as a private registry's token service does; others get
    /// Docker Hub's 401 `{"details": "incorrect username or password"}`.
    pub fn token_login(mut self, user: &str, pass: &str) -> Self {
        self.config.token_login = Some((user.to_string(), pass.to_string()));
        self
    }

    /// Successful GET bodies (manifests, blobs, tag lists) are sent with
    /// `Transfer-Encoding: chunked` and no `Content-Length`.
    pub fn chunked(mut self, on: bool) -> Self {
        self.config.chunked = on;
        self
    }

    /// Whether Bearer challenges name a `service` (default true); nvcr.io's do not.
    pub fn challenge_service(mut self, on: bool) -> Self {
        self.config.challenge_service = on;
        self
    }

    /// Bearer challenges carry the `scope` value unquoted (`scope=repository:a/b:pull`), as
    /// nvcr.io and Artifactory (on HEAD) send it.
    pub fn unquoted_scope(mut self, on: bool) -> Self {
        self.config.unquoted_scope = on;
        self
    }

    /// The `Content-Type` of token answers (default `application/json`); nvcr.io says
    /// `text/plain` for its JSON.
    pub fn token_content_type(mut self, content_type: &'static str) -> Self {
        self.config.token_content_type = Some(content_type);
        self
    }

    /// Issued tokens are opaque strings shaped like ghcr.io's (dots, base64 padding), not
    /// `fake-token-N`: a client that tried to read one as a JWT would fail.
    pub fn opaque_tokens(mut self, on: bool) -> Self {
        self.config.opaque_tokens = on;
        self
    }

    /// Binds both listeners on 127.0.0.1 and starts serving; ready on return.
    pub fn start(self) -> FakeRegistry {
        let registry_listener = bind_loopback();
        let cdn_listener = bind_loopback();
        let shared = Arc::new(Shared {
            config: self.config,
            registry_addr: local_addr(&registry_listener),
            cdn_addr: local_addr(&cdn_listener),
            state: Mutex::new(State::default()),
        });
        let registry_router = Router::new()
            .fallback(handlers::registry)
            .with_state(shared.clone());
        let cdn_router = Router::new()
            .fallback(handlers::cdn)
            .with_state(shared.clone());
        let server = BackgroundServer::start(
            "fake-registry",
            vec![
                (registry_listener, registry_router),
                (cdn_listener, cdn_router),
            ],
        );
        FakeRegistry {
            shared,
            _server: server,
        }
    }
}

/// State shared by the handlers of both listeners.
struct Shared {
    config: Config,
    registry_addr: SocketAddr,
    cdn_addr: SocketAddr,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Keyed by (repository, digest).
    blobs: HashMap<(String, String), Blob>,
    /// Keyed by (repository, tag or digest).
    manifests: HashMap<(String, String), Blob>,
    requests: Vec<RecordedRequest>,
    faults: Vec<Fault>,
    tokens: HashMap<String, auth::IssuedToken>,
    token_requests: Vec<TokenRequest>,
    next_token: u64,
    /// Pulls left under the pull limit, once the first manifest request has set it.
    pulls_left: Option<u64>,
}

impl Shared {
    fn url(&self) -> String {
        format!("http://{}", self.registry_addr)
    }

    fn cdn_url(&self) -> String {
        format!("http://{}", self.cdn_addr)
    }

    fn record(&self, request: RecordedRequest) {
        self.state
            .lock()
            .expect("fake registry state")
            .requests
            .push(request);
    }
}

/// A running fake registry; stops when dropped.
pub struct FakeRegistry {
    shared: Arc<Shared>,
    _server: BackgroundServer,
}

impl FakeRegistry {
    pub fn builder() -> FakeRegistryBuilder {
        FakeRegistryBuilder {
            config: Config {
                auth: AuthMode::Anonymous,
                cdn: false,
                tags_page_size: None,
                docker_content_digest: true,
                ranges: true,
                pull_limit: None,
                gzip: None,
                null_tags: false,
                challenge_only_at_base: false,
                basic_challenge: None,
                expired_password: None,
                tags_n_cap: None,
                blob_head_unauthorized: false,
                token_logins: None,
                stale_token_challenge: None,
                token_login: None,
                chunked: false,
                challenge_service: true,
                unquoted_scope: false,
                token_content_type: None,
                opaque_tokens: false,
            },
        }
    }

    /// An anonymous registry with default behaviour.
    pub fn start() -> FakeRegistry {
        FakeRegistry::builder().start()
    }

    /// `http://127.0.0.1:PORT` of the registry API.
    pub fn url(&self) -> String {
        self.shared.url()
    }

    /// `127.0.0.1:PORT` of the registry API: the registry part of an image reference.
    pub fn host(&self) -> String {
        self.shared.registry_addr.to_string()
    }

    /// `http://127.0.0.1:PORT` of the CDN listener (always running; only
    /// used for blob GETs when built with `cdn(true)`).
    pub fn cdn_url(&self) -> String {
        self.shared.cdn_url()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("fake registry state")
    }

    /// Stores `blob` in `repo` under `blob.digest` (which may be forged).
    pub fn push_blob(&self, repo: &str, blob: &Blob) {
        self.state()
            .blobs
            .insert((repo.to_string(), blob.digest.clone()), blob.clone());
    }

    /// Stores `manifest` in `repo` under `manifest.digest` and under
    /// `reference` (a tag, or a digest, which may differ from the content's
    /// for hostile tests). Served with `Content-Type: manifest.media_type`.
    pub fn push_manifest(&self, repo: &str, reference: &str, manifest: &Blob) {
        let mut state = self.state();
        state.manifests.insert(
            (repo.to_string(), manifest.digest.clone()),
            manifest.clone(),
        );
        state
            .manifests
            .insert((repo.to_string(), reference.to_string()), manifest.clone());
    }

    /// Pushes the config and distributable layers of `image`, then its manifest as `tag`.
    pub fn push_image(&self, repo: &str, tag: &str, image: &Image) {
        self.push_image_blobs(repo, image);
        self.push_manifest(repo, tag, &image.manifest);
    }

    fn push_image_blobs(&self, repo: &str, image: &Image) {
        self.push_blob(repo, &image.config);
        for layer in image.distributable_layers() {
            self.push_blob(repo, &layer.blob);
        }
    }

    /// Pushes each image by digest, then `index` as `tag`. Nested indexes are
    /// the caller's to push (with [`FakeRegistry::push_manifest`]).
    pub fn push_index(&self, repo: &str, tag: &str, index: &Blob, images: &[&Image]) {
        for image in images {
            self.push_image_blobs(repo, image);
            self.push_manifest(repo, image.digest(), &image.manifest);
        }
        self.push_manifest(repo, tag, index);
    }

    /// Forgets a manifest reference (tag or digest).
    pub fn delete_manifest(&self, repo: &str, reference: &str) {
        self.state()
            .manifests
            .remove(&(repo.to_string(), reference.to_string()));
    }

    pub fn delete_blob(&self, repo: &str, digest: &str) {
        self.state()
            .blobs
            .remove(&(repo.to_string(), digest.to_string()));
    }

    /// Every request to the registry and CDN listeners so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// GETs of blob `digest` at the registry's `/v2/<name>/blobs/` endpoint
    /// (with a CDN, each one was then redirected; see [`FakeRegistry::cdn_get_count`]).
    pub fn blob_get_count(&self, digest: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| {
                r.listener == Listener::Registry
                    && r.method == "GET"
                    && r.path().contains("/blobs/")
                    && r.path().ends_with(&format!("/{digest}"))
            })
            .count()
    }

    /// GETs of blob `digest` at the CDN listener.
    pub fn cdn_get_count(&self, digest: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| {
                r.listener == Listener::Cdn
                    && r.method == "GET"
                    && r.path().ends_with(&format!("/{digest}"))
            })
            .count()
    }

    /// Queues a fault for upcoming requests (see [`Fault`]).
    pub fn fault(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Faults queued and not yet used up.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.state().faults.clone()
    }

    /// Invalidates every issued token: the next request bearing one gets a
    /// 401 with `error="invalid_token"`.
    pub fn revoke_tokens(&self) {
        auth::revoke_all(&self.shared);
    }

    /// Every `/token` request so far, with the scopes asked for.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state().token_requests.clone()
    }
}
