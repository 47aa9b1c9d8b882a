//! HTTP plumbing shared by every request: the client, the plain-HTTP policy, bounded waits
//! and body reads, and the registry's error documents.
//!
//! Plain HTTP is allowed only to loopback hosts or with `--insecure`; TLS is verified against
//! Mozilla's roots, the system's (`SSL_CERT_FILE` / `SSL_CERT_DIR` included) and the registry's
//! certs.d directory (see [`crate::tls`]), unless `--insecure` says not to.
//! Redirects are not followed by the client: [`crate::registry`] follows them itself so it can
//! decide, per hop, whether the registry's credentials may go along.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::{tls_trouble, Error, RegistryError, Result, TlsTrouble};
use crate::patience::{BodyWatch, LowSpeed, Patience};
use crate::terminal_text;
use crate::tls::RegistryCerts;

pub const USER_AGENT: &str = concat!("drag/", env!("CARGO_PKG_VERSION"));

/// An HTTP client: no automatic redirects, no transparent decompression (it would change the
/// bytes we hash), TLS verified unless `insecure`, plus a registry's own CAs and client
/// certificate.
///
/// Waits are bounded per request by [`send`] (headers) and [`BodyWatch`] (bodies); the
/// client's own read timeout is only a backstop behind them, so it must not be shorter.
pub fn client(certs: RegistryCerts, insecure: bool, patience: Patience) -> Result<reqwest::Client> {
    let backstop = patience
        .header_timeout
        .max(patience.read_timeout)
        .saturating_add(Duration::from_secs(5));
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(30).min(patience.header_timeout))
        .read_timeout(backstop)
        .pool_max_idle_per_host(16)
        .tls_built_in_root_certs(true)
        .tls_built_in_native_certs(true)
        .danger_accept_invalid_certs(insecure);
    for root in certs.roots {
        builder = builder.add_root_certificate(root);
    }
    if let Some(identity) = certs.identity {
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| Error::http("building the HTTP client", e))
}

/// One client per registry host, built on first use with that registry's certificates and
/// then shared, so parallel requests to a registry reuse its connections. Requests to other
/// hosts the registry sends us to (a CDN, a token service elsewhere, foreign-layer URLs) use
/// a second client that trusts the same CAs but presents no client certificate: that
/// certificate says who we are, and is for the registry it was issued for.
#[derive(Debug, Default)]
pub struct HttpClients {
    /// `--cert-dir`: replaces the certs.d lookup for every registry.
    cert_dir: Option<PathBuf>,
    insecure: bool,
    patience: Patience,
    built: Mutex<HashMap<String, reqwest::Client>>,
    /// What [`HttpClients::settle_scheme`] found, per registry base, so one run asks once.
    settled: Mutex<HashMap<Url, Url>>,
}

impl HttpClients {
    pub fn new(cert_dir: Option<PathBuf>, insecure: bool, patience: Patience) -> HttpClients {
        HttpClients {
            cert_dir,
            insecure,
            patience,
            built: Mutex::default(),
            settled: Mutex::default(),
        }
    }

    /// The client for the registry at `base`.
    pub fn for_registry(&self, base: &Url) -> Result<reqwest::Client> {
        let key = format!(
            "{}://{}",
            base.scheme(),
            crate::tls::host_dir_name(base).unwrap_or_default()
        );
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = built.get(&key) {
            return Ok(c.clone());
        }
        let certs = crate::tls::for_registry(base, self.cert_dir.as_deref())?;
        let c = client(certs, self.insecure, self.patience)?;
        built.insert(key, c.clone());
        Ok(c)
    }

    /// The client for hosts the registry at `base` sends us to: its CAs, no client certificate.
    pub fn for_other_hosts(&self, base: &Url) -> Result<reqwest::Client> {
        let key = format!(
            "{}://{} (other hosts)",
            base.scheme(),
            crate::tls::host_dir_name(base).unwrap_or_default()
        );
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = built.get(&key) {
            return Ok(c.clone());
        }
        let mut certs = crate::tls::for_registry(base, self.cert_dir.as_deref())?;
        certs.identity = None;
        let c = client(certs, self.insecure, self.patience)?;
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
    pub async fn settle_scheme(&self, http: &reqwest::Client, base: Url) -> Url {
        let may_be_plain = base.scheme() == "https"
            && (self.insecure || base.host_str().is_some_and(is_loopback_host));
        if !may_be_plain {
            return base;
        }
        if let Some(known) = self.lock_settled().get(&base) {
            return known.clone();
        }
        let Ok(ping) = base.join("v2/") else {
            return base;
        };
        let probe = http.get(ping).timeout(Duration::from_secs(10)).send().await;
        let plain = match probe {
            Ok(_) => false,
            Err(e) if e.is_timeout() => false,
            Err(e) => match tls_trouble(&e) {
                Some(TlsTrouble::NotTls) => true,
                Some(_) => false,
                None => e.is_connect(),
            },
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

/// True for hosts that never leave the machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses URLs we must not talk to: non-http(s) schemes, and plain HTTP to a remote host
/// unless the user said `--insecure`.
pub fn check_url(url: &Url, insecure: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if insecure || url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(Error::Refused {
            url: redacted(url),
            reason: "plain HTTP is only used for loopback hosts or with --insecure".into(),
        }),
        other => Err(Error::Refused {
            url: redacted(url),
            reason: format!("unsupported URL scheme {other:?}"),
        }),
    }
}

/// Refuses a URL on another host that the registry at `base` sends us to (a redirect, a
/// foreign layer's `urls`): besides [`check_url`]'s scheme rules, a registry that is not on this
/// machine may not send drag to this machine's own services, which often trust loopback callers.
pub fn check_other_host(base: &Url, url: &Url, insecure: bool) -> Result<()> {
    check_url(url, insecure)?;
    let on_loopback = |u: &Url| u.host_str().is_some_and(is_loopback_host);
    if on_loopback(url) && !on_loopback(base) {
        return Err(Error::Refused {
            url: redacted(url),
            reason: format!(
                "{} may not send drag to a loopback address",
                base.host_str().unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// A URL fit for messages: no user info, no query (CDN URLs carry signatures there).
pub fn redacted(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

/// True if two URLs share scheme, host and port: only then may credentials follow a redirect.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Sends a request and waits at most `patience.header_timeout` for its response headers
/// (connecting included): a server that accepts and never answers must not hold us.
pub async fn send(
    req: reqwest::RequestBuilder,
    patience: &Patience,
    what: impl fmt::Display,
) -> Result<reqwest::Response> {
    match tokio::time::timeout(patience.header_timeout, req.send()).await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) => Err(Error::http(what, e)),
        Err(_) => Err(Error::stalled(
            what,
            format!(
                "no response within {} s (--header-timeout)",
                patience.header_timeout.as_secs()
            ),
        )),
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes, so a hostile server cannot
/// make us allocate without bound, and giving up on a body that stalls or trickles (see
/// [`crate::patience`]).
pub async fn read_limited(
    resp: reqwest::Response,
    limit: usize,
    what: &str,
    patience: &Patience,
) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Error::manifest(
            what,
            format!(
                "{} bytes is more than the {limit} byte limit",
                resp.content_length().unwrap_or(0)
            ),
        ));
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    let mut watch = BodyWatch::new(*patience);
    while let Some(chunk) = watch
        .next(&mut stream)
        .await
        .map_err(|stall| Error::stalled(format!("reading {what}"), stall))?
    {
        let chunk = chunk.map_err(|e| Error::http(format!("reading {what}"), e))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::manifest(
                what,
                format!("more than the {limit} byte limit"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct ErrorDoc {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
    // Some token services answer {"details": "..."} or {"error": "..."}.
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Builds a [`RegistryError`] from a status and the distribution error document, if any.
pub fn registry_error(context: impl Into<String>, status: u16, body: &[u8]) -> RegistryError {
    let (code, message) = match serde_json::from_slice::<ErrorDoc>(body) {
        Ok(doc) => match doc.errors.into_iter().next() {
            Some(e) => (e.code, e.message),
            None => (None, doc.details.or(doc.error)),
        },
        Err(_) => (None, None),
    };
    // The registry's words, escaped and cut short once here; Display does it again for
    // errors made elsewhere, which changes nothing.
    RegistryError {
        context: context.into(),
        status,
        code: code.map(|c| terminal_text::shown(&c)),
        message: message.map(|m| terminal_text::shown(&m)),
        retry_after: None,
    }
}

/// The most of an error body read, and for how long: it only adds words to a status.
const ERROR_BODY_LIMIT: usize = 64 << 10;
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

/// Turns an error response into an error, reading a bounded part of its body for a bounded
/// time (a body that does not come in time is left out of the message).
pub async fn error_from_response(context: impl Into<String>, resp: reqwest::Response) -> Error {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    let patience = Patience {
        header_timeout: ERROR_BODY_WAIT,
        read_timeout: ERROR_BODY_WAIT,
        low_speed: LowSpeed {
            bytes_per_sec: 0,
            time: ERROR_BODY_WAIT,
        },
    };
    let read = read_limited(resp, ERROR_BODY_LIMIT, "error body", &patience);
    let body = tokio::time::timeout(ERROR_BODY_WAIT, read)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    let mut e = registry_error(context, status, &body);
    e.retry_after = retry_after;
    Error::Registry(e)
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries; treat it as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_insecure() {
        let ok = [
            "http://127.0.0.1:5000/v2/",
            "http://localhost/v2/",
            "http://[::1]:80/",
            "https://example.com/",
        ];
        for u in ok {
            check_url(&Url::parse(u).unwrap(), false).unwrap();
        }
        let remote = Url::parse("http://example.com/v2/").unwrap();
        assert!(check_url(&remote, false).is_err());
        check_url(&remote, true).unwrap();
        assert!(check_url(&Url::parse("file:///etc/passwd").unwrap(), true).is_err());
    }

    #[test]
    fn only_a_registry_on_loopback_may_send_drag_to_loopback() {
        let url = |s: &str| Url::parse(s).unwrap();
        let remote = url("https://registry.example/");
        let local = url("http://127.0.0.1:5000/");
        for target in [
            "http://127.0.0.1:8080/admin",
            "https://localhost/x",
            "http://[::1]/",
        ] {
            assert!(
                check_other_host(&remote, &url(target), true).is_err(),
                "{target}"
            );
            check_other_host(&local, &url(target), false).unwrap();
        }
        check_other_host(&remote, &url("https://cdn.example/blob"), false).unwrap();
        check_other_host(&local, &url("https://cdn.example/blob"), false).unwrap();
        assert!(check_other_host(&remote, &url("http://cdn.example/blob"), false).is_err());
    }

    #[test]
    fn registry_error_reads_distribution_documents() {
        let e = registry_error(
            "manifest x",
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#,
        );
        assert_eq!(e.code.as_deref(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(
            e.to_string(),
            "manifest x: MANIFEST_UNKNOWN: manifest unknown (HTTP 404)"
        );
        let plain = registry_error("blob y", 503, b"<html>oops</html>");
        assert_eq!(plain.to_string(), "blob y: service unavailable (HTTP 503)");
    }

    #[test]
    fn registry_words_are_escaped_and_cut_short() {
        let body = serde_json::json!({"errors": [{
            "code": "DENIED\x1b[2J",
            "message": format!("\r\x1b[32mdrag: pull complete\n{}", "x".repeat(5000)),
        }]});
        let e = registry_error("manifest x", 403, body.to_string().as_bytes());
        let shown = e.to_string();
        assert!(!shown.chars().any(terminal_text::is_unsafe), "{shown}");
        assert!(
            shown.starts_with("manifest x: DENIED\\x1b[2J: \\r\\x1b[32mdrag"),
            "{shown}"
        );
        assert!(shown.len() < 600, "{} characters", shown.len());
        assert!(shown.ends_with("(HTTP 403)"));
    }

    #[test]
    fn redaction_drops_secrets() {
        let u = Url::parse("https://u:p@cdn.example/x?sig=secret").unwrap();
        assert_eq!(redacted(&u), "https://cdn.example/x");
    }
}
