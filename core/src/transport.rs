//! The clients under every request: one per registry host with its certificates, one for the
//! hosts it sends us to, and which scheme a registry named without one speaks. (Where requests
//! may go is [`crate::http::policy`].)
//!
//! Plain HTTP is allowed only to loopback hosts or with `--insecure`; TLS is verified against
//! Mozilla's roots, the system's (`SSL_CERT_FILE` / `SSL_CERT_DIR` included) and the registry's
//! certs.d directory, unless `--insecure` says not to. [`crate::tls`] builds that
//! configuration, and reads the system's roots only when a server first shows a certificate.
//! Redirects are not followed by the client: [`crate::http::redirect`] follows them itself so
//! it can decide, per hop, whether the registry's credentials may go along.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use url::Url;

use crate::error::{Error, Result};
use crate::http::policy::is_loopback_host;
use crate::http::tls_trouble::{tls_trouble, TlsTrouble};
use crate::http::{Request, Stack};
use crate::patience::Patience;
use crate::tls::RegistryCerts;

pub const USER_AGENT: &str = concat!("drag/", env!("CARGO_PKG_VERSION"));

/// How long one connection attempt (TCP and TLS) may take. A registry that answers at all
/// connects in well under a second; a host that drops our packets never does, and each
/// retry of it costs this much again (see [`crate::http::retry`]'s connect window).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP client: no automatic redirects, no transparent decompression (it would change the
/// bytes we hash), TLS verified unless `insecure`, plus a registry's own CAs and client
/// certificate.
///
/// Waits are bounded per request by [`crate::http::send`] (headers) and
/// [`crate::patience::BodyWatch`] (bodies); the
/// client's own read timeout is only a backstop behind them, so it must not be shorter.
pub fn client(certs: RegistryCerts, insecure: bool, patience: Patience) -> Result<reqwest::Client> {
    let backstop = patience
        .header_timeout
        .max(patience.read_timeout)
        .saturating_add(Duration::from_secs(5));
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(patience.header_timeout))
        .read_timeout(backstop)
        .pool_max_idle_per_host(16)
        .use_preconfigured_tls(crate::tls::client_config(certs, insecure)?)
        .build()
        .map_err(|e| Error::http("building the HTTP client", e))
}

/// How connections to one host are made: the certificates and whether TLS is verified. The
/// command line's `--cert-dir` / `--insecure` or the host's config entry decide (see
/// [`crate::RegistryOptions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Connection {
    /// A certs.d-style directory replacing the default certs.d lookup.
    pub cert_dir: Option<PathBuf>,
    /// Plain HTTP to hosts that are not loopback, and TLS unverified.
    pub insecure: bool,
}

/// One client per registry host and connection settings, built on first use with that
/// registry's certificates and then shared, so parallel requests to a registry reuse its
/// connections. Requests to other hosts the registry sends us to (a CDN, a token service
/// elsewhere, foreign-layer URLs) use a second client that trusts the same CAs but presents no
/// client certificate: that certificate says who we are, and is for the registry it was issued
/// for.
#[derive(Debug, Default)]
pub struct HttpClients {
    patience: Patience,
    built: Mutex<HashMap<(String, Connection), reqwest::Client>>,
    /// What [`HttpClients::settle_scheme`] found, per registry base, so one run asks once.
    settled: Mutex<HashMap<Url, Url>>,
}

impl HttpClients {
    pub fn new(patience: Patience) -> HttpClients {
        HttpClients {
            patience,
            built: Mutex::default(),
            settled: Mutex::default(),
        }
    }

    /// The client for the registry at `base`.
    pub fn for_registry(&self, base: &Url, how: &Connection) -> Result<reqwest::Client> {
        self.built(base, how, true)
    }

    /// The client for hosts the registry at `base` sends us to: its CAs, no client certificate.
    pub fn for_other_hosts(&self, base: &Url, how: &Connection) -> Result<reqwest::Client> {
        self.built(base, how, false)
    }

    /// The client for `base`'s certificates, with or without its client identity, built once.
    fn built(&self, base: &Url, how: &Connection, with_identity: bool) -> Result<reqwest::Client> {
        let key = format!(
            "{}://{}{}",
            base.scheme(),
            crate::tls::host_dir_name(base).unwrap_or_default(),
            if with_identity { "" } else { " (other hosts)" }
        );
        let key = (key, how.clone());
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = built.get(&key) {
            return Ok(c.clone());
        }
        let mut certs = crate::tls::for_registry(base, how.cert_dir.as_deref())?;
        if !with_identity {
            certs.identity = None;
        }
        let c = client(certs, how.insecure, self.patience)?;
        built.insert(key, c.clone());
        Ok(c)
    }

    /// The scheme a registry named without one speaks. Loopback registries, and any with
    /// `--insecure`, may speak plain HTTP: Docker treats `localhost` as an insecure registry,
    /// and test or mirror registries often run without TLS. Like Docker and
    /// go-containerregistry, try HTTPS first: one `GET /v2/` over TLS, where any answer (even
    /// 401) settles it. Plain HTTP only when the server answered the handshake in plain text,
    /// or refused the connection; a failed handshake (most often certificates) or a timeout
    /// keeps HTTPS, and the real request will say what is wrong.
    ///
    /// The probe goes through `probe`, a stack without retries (one answer settles it) whose
    /// wire waits at most [`PROBE_WAIT`] for it.
    pub async fn settle_scheme(&self, probe: &Stack, base: Url, insecure: bool) -> Url {
        let may_be_plain =
            base.scheme() == "https" && (insecure || base.host_str().is_some_and(is_loopback_host));
        if !may_be_plain {
            return base;
        }
        if let Some(known) = self.lock_settled().get(&base) {
            return known.clone();
        }
        let Ok(ping) = base.join("v2/") else {
            return base;
        };
        let answer = probe
            .send(Request::new(Method::GET, ping, "the HTTPS probe"))
            .await;
        let plain = match answer {
            Ok(_) => false,
            Err(Error::Http { source, .. }) => match tls_trouble(&source) {
                Some(TlsTrouble::NotTls) => true,
                Some(_) => false,
                None => source.is_connect() && !source.is_timeout(),
            },
            // A timeout (the wire's own) keeps HTTPS.
            Err(_) => false,
        };
        let mut settled = base.clone();
        if plain {
            // https -> http is always allowed (both are special schemes); a refusal keeps https.
            let _ = settled.set_scheme("http");
        }
        self.lock_settled().insert(base, settled.clone());
        settled
    }

    fn lock_settled(&self) -> std::sync::MutexGuard<'_, HashMap<Url, Url>> {
        self.settled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long the HTTPS probe of [`HttpClients::settle_scheme`] waits for an answer.
pub const PROBE_WAIT: Duration = Duration::from_secs(10);
