//! How a command reaches a registry: the options every registry command shares
//! ([`RegistryOptions`]), which adapter serves a reference (`--registry`, the config file, the
//! host), and the session it opens there, with the credentials and connection settings of the
//! host actually contacted. `pull`, `inspect`, `tags` and the mirrors all start here.

use std::path::PathBuf;
use std::sync::Arc;

use crate::adapter::{self, Adapter, Target};
use crate::auth::layer::TokenCache;
use crate::auth::Credentials;
use crate::error::Result;
use crate::http::notice::Notices;
use crate::http::retry::RetryPolicy;
use crate::http::trace::Trace;
use crate::login;
use crate::patience::Patience;
use crate::platform::{Platform, Wanted};
use crate::reference::Reference;
use crate::registry::{Session, SessionConfig};
use crate::registry_config::RegistryConfig;
use crate::store::BlobStore;
use crate::transport::{Connection, HttpClients};

/// How to reach registries: shared by `pull`, `inspect` and `tags`.
///
/// The settings here are the command line's and win for the call: `adapter` over the config's
/// `adapter`, `endpoint` over its `mirrors` (none are tried then), a true `insecure` and a
/// `cert_dir` over the host's `insecure` and `certs`.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Use this adapter (by name) instead of picking one by host.
    pub adapter: Option<String>,
    /// Send requests to this base URL instead of the adapter's (`--endpoint`).
    pub endpoint: Option<String>,
    /// Allow plain HTTP to non-loopback hosts and skip TLS verification, for every host.
    pub insecure: bool,
    /// A certs.d-style directory for every registry (`--cert-dir`), instead of looking in
    /// the containers and Docker certs.d directories.
    pub cert_dir: Option<PathBuf>,
    /// Settings per registry host: adapter, mirrors, `insecure`, certificates (the config
    /// file; see [`crate::registry_config`]).
    pub config: RegistryConfig,
    /// Credentials (`--user`): sent to the host the first image is fetched from, and for
    /// every other image fetched from that same host. The other images, and all of them when
    /// None, use what podman's and Docker's auth files (and their credential helpers) hold for
    /// the host contacted.
    pub credentials: Option<Credentials>,
    /// The one auth file to read instead (`--authfile`).
    pub auth_file: Option<PathBuf>,
    /// How often and how patiently failed requests and interrupted downloads are retried.
    pub retry: RetryPolicy,
    /// How long to wait for headers and bodies (`--header-timeout`, `--read-timeout`,
    /// `--low-speed-limit`/`--low-speed-time`).
    pub patience: Patience,
    /// Where the `-v` trace of every request goes, if anywhere.
    pub trace: Option<Arc<dyn Trace>>,
    /// Where notices go, if anywhere: retries as they happen (`retrying in 1.2 s (2/5):
    /// connection refused`) and an adapter's news about its registry (few Docker Hub pulls
    /// left).
    pub notices: Option<Arc<dyn Notices>>,
}

impl RegistryOptions {
    /// The HTTP clients these options call for.
    pub(crate) fn http_clients(&self) -> HttpClients {
        HttpClients::new(self.patience)
    }

    /// How connections to `host` (`host[:port]`, as auth files and the config key it) are
    /// made: the command line's `--insecure` and `--cert-dir`, else the host's config entry.
    pub(crate) fn connection(&self, host: &str) -> Connection {
        let entry = self.config.for_host(host);
        Connection {
            cert_dir: self
                .cert_dir
                .clone()
                .or_else(|| entry.and_then(|e| e.certs.clone())),
            insecure: self.insecure || entry.and_then(|e| e.insecure).unwrap_or(false),
        }
    }
}

/// A reference resolved to its adapter and canonical target.
pub(crate) struct Located {
    pub adapter: &'static dyn Adapter,
    pub target: Target,
}

/// Step 1: parse a reference and normalize it with its adapter: the one `--registry` names,
/// else the one the config names for the reference's host, else the one claiming the host.
pub(crate) fn locate(input: &str, opts: &RegistryOptions) -> Result<Located> {
    let reference = Reference::parse(input)?;
    let adapter = match &opts.adapter {
        Some(name) => adapter::by_name(name)?,
        None => match configured_adapter(&reference, &opts.config)? {
            Some(a) => a,
            None => adapter::for_reference(&reference)?,
        },
    };
    let target = adapter.normalize(&reference)?;
    Ok(Located { adapter, target })
}

/// The adapter the config names for the reference's host (for a reference without one, the
/// host its default adapter gives it: `docker.io`).
fn configured_adapter(
    reference: &Reference,
    config: &RegistryConfig,
) -> Result<Option<&'static dyn Adapter>> {
    if config.is_empty() {
        return Ok(None);
    }
    let host = match reference.domain() {
        Some(host) => host.to_string(),
        None => {
            let default = adapter::for_reference(reference)?;
            default.normalize(reference)?.name.registry
        }
    };
    match config.for_host(&host).and_then(|e| e.adapter.as_deref()) {
        Some(name) => adapter::by_name(name).map(Some),
        None => Ok(None),
    }
}

/// Where a session sends its requests: the registry itself (at `--endpoint` when given), or
/// one of the mirrors the config names for it.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The base URL; None for the adapter's endpoint.
    pub endpoint: Option<String>,
    /// True for a mirror from the config: it gets no `--user` (a login belongs to its host).
    pub mirror: bool,
}

impl Source {
    /// The registry itself, or `--endpoint`.
    pub(crate) fn registry(opts: &RegistryOptions) -> Source {
        Source {
            endpoint: opts.endpoint.clone(),
            mirror: false,
        }
    }
}

/// Step 2: a session with the repository's registry (or `--endpoint`).
pub(crate) async fn open_session(
    located: &Located,
    opts: &RegistryOptions,
    clients: &Arc<HttpClients>,
    tokens: &Arc<TokenCache>,
    manifest_cache: Option<Arc<BlobStore>>,
) -> Result<Session> {
    let source = Source::registry(opts);
    open_session_at(
        located,
        opts,
        &source,
        opts.retry,
        clients,
        tokens,
        manifest_cache,
    )
    .await
}

/// A session with the repository at `source`, retrying as `retry` says. Its credentials and
/// connection settings are those of the host contacted.
pub(crate) async fn open_session_at(
    located: &Located,
    opts: &RegistryOptions,
    source: &Source,
    retry: RetryPolicy,
    clients: &Arc<HttpClients>,
    tokens: &Arc<TokenCache>,
    manifest_cache: Option<Arc<BlobStore>>,
) -> Result<Session> {
    open_with_scopes(
        located,
        opts,
        source,
        retry,
        clients,
        tokens,
        manifest_cache,
        Vec::new(),
    )
    .await
}

/// A session that may push to the repository (`pull,push`), and pull from `mount_from`, the
/// repositories of the same registry it may mount blobs from. Credentials are the
/// destination host's, found as a pull finds them (`opts.credentials` first).
pub(crate) async fn open_push_session(
    located: &Located,
    opts: &RegistryOptions,
    clients: &Arc<HttpClients>,
    tokens: &Arc<TokenCache>,
    mount_from: &[String],
) -> Result<Session> {
    let mut scopes = vec![crate::auth::Scope::push(&located.target.name.repository)];
    scopes.extend(mount_from.iter().map(|r| crate::auth::Scope::pull(r)));
    let source = Source::registry(opts);
    open_with_scopes(
        located, opts, &source, opts.retry, clients, tokens, None, scopes,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn open_with_scopes(
    located: &Located,
    opts: &RegistryOptions,
    source: &Source,
    retry: RetryPolicy,
    clients: &Arc<HttpClients>,
    tokens: &Arc<TokenCache>,
    manifest_cache: Option<Arc<BlobStore>>,
    scopes: Vec<crate::auth::Scope>,
) -> Result<Session> {
    let name = &located.target.name;
    let at = source.endpoint.as_deref();
    let user = match source.mirror {
        true => None,
        false => opts.credentials.as_ref(),
    };
    let credentials =
        login::credentials(located.adapter, name, at, user, opts.auth_file.as_deref()).await?;
    let endpoint = source
        .endpoint
        .clone()
        .unwrap_or_else(|| located.adapter.endpoint(name));
    let contacted = login::contacted_host(name, at)?;
    let connection = opts.connection(&contacted);
    if let Some(trace) = &opts.trace {
        trace.line(&format!(
            "{}: adapter {}, {} {}",
            crate::terminal_text::shown(&located.target.full_name()),
            located.adapter.name(),
            if source.mirror { "mirror" } else { "endpoint" },
            crate::terminal_text::shown(&endpoint),
        ));
    }
    Session::new(SessionConfig {
        authenticator: located.adapter,
        name: name.clone(),
        endpoint,
        probe_scheme: source.endpoint.is_none(),
        insecure: connection.insecure,
        cert_dir: connection.cert_dir,
        credentials,
        clients: clients.clone(),
        tokens: tokens.clone(),
        retry,
        patience: opts.patience,
        manifest_cache,
        trace: opts.trace.clone(),
        quirks: located.adapter.response_quirks(),
        tag_page_size: located.adapter.tag_page_size(),
        notices: opts.notices.clone(),
        scopes,
        login_host: contacted,
    })
    .await
}

/// The platform to choose for a target: the one asked for, else the adapter's default, else
/// linux/amd64.
pub(crate) fn wanted_platform(located: &Located, asked: Option<&Platform>) -> Wanted {
    match asked {
        Some(p) => Wanted::asked(p.clone()),
        None => Wanted::default_for(
            located
                .adapter
                .default_platform(&located.target.name)
                .unwrap_or_else(Platform::linux_amd64),
        ),
    }
}
