//! The one error type of drag-core.
//!
//! Every failure a user can meet has its own variant, so the CLI can print one readable line
//! (with the registry's own error code when it sent one) and pick the exit code: usage mistakes
//! are told apart from failed pulls.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestError};
use crate::platform::PlatformError;
use crate::reference::ReferenceError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image reference the user typed is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    /// The platform the user typed is malformed.
    #[error(transparent)]
    Platform(#[from] PlatformError),

    /// A bad combination of options, or a request drag cannot serve as asked.
    #[error("{0}")]
    Usage(String),

    /// The registry answered with an error status.
    #[error(transparent)]
    Registry(#[from] RegistryError),

    /// The request never got an answer (connection, TLS, timeout).
    #[error("{context}: {}", fmt_reqwest(source))]
    Http {
        context: String,
        #[source]
        source: reqwest::Error,
    },

    /// A registry that kept us waiting too long: no response headers, or a body that went
    /// silent or trickled under the minimum speed (see [`crate::patience`]).
    #[error("{what}: {reason}")]
    Stalled { what: String, reason: String },

    /// A blob or manifest whose bytes do not hash to the digest that names it.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    /// A blob whose length is not the size its descriptor promised.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    /// A digest in a manifest or response that is not a valid digest.
    #[error(transparent)]
    Digest(#[from] DigestError),

    /// An index with no entry for the wanted platform.
    #[error("no image for platform {wanted} in {reference}; available: {}", available.join(", "))]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },

    /// A manifest drag cannot or will not use (schema1, unknown media type, malformed JSON).
    #[error("{reference}: {reason}")]
    Manifest { reference: String, reason: String },

    /// A request that policy forbids (plain HTTP to a remote host, odd URL schemes).
    #[error("refusing {url}: {reason}")]
    Refused { url: String, reason: String },

    /// A certs.d directory (or `--cert-dir`) holding something that is not usable.
    #[error("TLS certificates: {}: {reason}", path.display())]
    Certificates { path: PathBuf, reason: String },

    /// Authentication could not be completed.
    #[error("authentication failed: {0}")]
    Auth(String),

    /// No adapter claims the registry.
    #[error("no adapter named {0:?} (see `drag adapters`)")]
    UnknownAdapter(String),

    /// Local file system trouble.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    /// The pull was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// True for mistakes in what the user asked, as opposed to a pull that failed.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Reference(_) | Error::Platform(_) | Error::Usage(_) | Error::UnknownAdapter(_)
        )
    }

    pub fn io(context: impl fmt::Display, source: io::Error) -> Error {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    pub fn io_path(action: &str, path: &Path, source: io::Error) -> Error {
        Error::io(format!("{action} {}", path.display()), source)
    }

    pub fn http(context: impl fmt::Display, source: reqwest::Error) -> Error {
        Error::Http {
            context: context.to_string(),
            source,
        }
    }

    pub fn stalled(what: impl fmt::Display, reason: impl fmt::Display) -> Error {
        Error::Stalled {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn manifest(reference: impl fmt::Display, reason: impl Into<String>) -> Error {
        Error::Manifest {
            reference: reference.to_string(),
            reason: reason.into(),
        }
    }

    /// The registry's error code, when the failure came from one (`MANIFEST_UNKNOWN`...).
    pub fn registry_code(&self) -> Option<&str> {
        match self {
            Error::Registry(e) => e.code.as_deref(),
            _ => None,
        }
    }

    /// True when retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            // A handshake that failed once fails again.
            Error::Http { source, .. } if tls_trouble(source).is_some() => false,
            Error::Http { source, .. } => {
                source.is_timeout()
                    || source.is_connect()
                    || source.is_request()
                    || source.is_body()
            }
            Error::Registry(e) => is_retryable_status(e.status),
            Error::Stalled { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }
}

/// reqwest's Display hides the cause ("error sending request"); the innermost causes are what
/// users need, and reqwest's chain repeats itself, so keep each distinct message once.
fn fmt_reqwest(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = vec![e.without_url_ref()];
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !parts
            .iter()
            .any(|p| p.contains(&c) || c.contains(p.as_str()))
        {
            parts.push(c);
        }
        source = cause.source();
    }
    match tls_trouble(e) {
        Some(TlsTrouble::UntrustedServer) => parts.push(
            "the registry's certificate is not trusted: give its CA with --cert-dir DIR or in \
             certs.d/HOST:PORT/ca.crt (see the README), or use --insecure"
                .into(),
        ),
        Some(TlsTrouble::ClientCertificate) => parts.push(
            "the registry refused our client certificate or wants one: put NAME.cert and \
             NAME.key in --cert-dir DIR or certs.d/HOST:PORT (see the README)"
                .into(),
        ),
        _ => {}
    }
    parts.join(": ")
}

/// What a failed TLS handshake says about the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsTrouble {
    /// Its certificate did not verify.
    UntrustedServer,
    /// It refused our client certificate, or wanted one.
    ClientCertificate,
    /// It does not speak TLS: a plain HTTP server answered the handshake.
    NotTls,
    /// Some other handshake failure.
    Other,
}

/// The TLS failure inside a request error, if that is what failed.
pub(crate) fn tls_trouble(e: &reqwest::Error) -> Option<TlsTrouble> {
    use rustls::AlertDescription as A;
    let client_alert = |a: &A| {
        matches!(
            a,
            A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::CertificateUnknown
        )
    };
    for cause in causes(e) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(match tls {
                rustls::Error::InvalidCertificate(_) => TlsTrouble::UntrustedServer,
                rustls::Error::AlertReceived(a) if client_alert(a) => TlsTrouble::ClientCertificate,
                rustls::Error::InvalidMessage(_) => TlsTrouble::NotTls,
                _ => TlsTrouble::Other,
            });
        }
        // An alert that arrives after the client's side of the handshake reaches us as text.
        if let Some(alert) = cause.to_string().strip_prefix("received fatal alert: ") {
            let client = [
                "CertificateRequired",
                "BadCertificate",
                "UnknownCA",
                "CertificateUnknown",
            ];
            return Some(if client.contains(&alert) {
                TlsTrouble::ClientCertificate
            } else {
                TlsTrouble::Other
            });
        }
    }
    None
}

/// An error and its causes. reqwest buries the TLS error in an `io::Error`, whose `source()`
/// skips the error it wraps, hence `get_ref`.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |cause| {
        match cause
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        }
    })
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    /// The context already names what was fetched; the URL may carry signed query strings.
    fn without_url_ref(&self) -> String {
        let s = self.to_string();
        match (s.find(" for url ("), s.rfind(')')) {
            (Some(i), Some(j)) if j > i => format!("{}{}", &s[..i], &s[j + 1..]),
            _ => s,
        }
    }
}

/// An error answer from a registry, with its distribution error code when it sent one.
/// `code` and `message` are the registry's words: [`crate::transport::registry_error`] cuts
/// them short, and `Display` shows them escaped (see [`crate::terminal_text`]).
#[derive(Debug, Clone, thiserror::Error)]
pub struct RegistryError {
    /// What was asked for (`manifest docker.io/library/alpine:3.9`).
    pub context: String,
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
    /// Seconds the registry asked us to wait (Retry-After), if any.
    pub retry_after: Option<u64>,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::terminal_text::escape;
        write!(f, "{}: ", self.context)?;
        let code = self.code.as_deref().map(escape);
        let message = self.message.as_deref().map(escape);
        match (&code, &message) {
            (Some(code), Some(msg)) => write!(f, "{code}: {msg}")?,
            (Some(code), None) => write!(f, "{code}")?,
            (None, Some(msg)) => write!(f, "{msg}")?,
            (None, None) => write!(f, "{}", status_phrase(self.status))?,
        }
        write!(f, " (HTTP {})", self.status)
    }
}

fn status_phrase(status: u16) -> &'static str {
    match status {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        429 => "too many requests",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => "unexpected answer",
    }
}

/// The HTTP statuses worth asking again for: timeouts, rate limits and server trouble. One
/// list for every request and for errors already made.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}
