//! The one error type of drag-core.
//!
//! Every failure a user can meet has its own variant, so the CLI can print one readable line
//! (with the registry's own error code when it sent one) and pick the exit code: usage mistakes
//! are told apart from failed pulls.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::digest::{Digest, DigestError};
use crate::platform::PlatformError;
use crate::redacted::RedactedUrl;
use crate::reference::ReferenceError;

/// How many times a request was sent and for how long, as the retry layer (`http::retry`) counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Attempts {
    /// Sends, the first included.
    pub count: u32,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

impl fmt::Display for Attempts {
    /// ` after 5 attempts in 14.2 s`, or nothing for a single attempt.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count > 1 {
            write!(
                f,
                " after {} attempts in {:.1} s",
                self.count,
                self.elapsed.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

/// drag-core's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, one variant per kind of failure a user can meet.
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
    Registry(Box<RegistryError>),

    /// The request never got an answer (connection, TLS, timeout).
    #[error(
        "{context}: {}{}{attempts}{}",
        url.as_ref().map(|u| format!("{u}: ")).unwrap_or_default(),
        fmt_reqwest(source),
        hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default()
    )]
    Http {
        /// What was asked for.
        context: String,
        /// Where it was sent, when the failure came from the wire.
        url: Option<Box<RedactedUrl>>,
        /// What failed, as reqwest saw it.
        #[source]
        source: reqwest::Error,
        /// What to do about it, when the failure says (an untrusted certificate wants a CA, a
        /// name that does not resolve wants the network checked); see `crate::hints`.
        hint: Option<String>,
        /// The attempts made before giving up.
        attempts: Attempts,
    },

    /// A registry that kept us waiting too long: no response headers, or a body that went
    /// silent or trickled under the minimum speed (see [`crate::patience`]).
    #[error("{what}: {reason}{attempts}")]
    Stalled {
        /// What was asked for.
        what: String,
        /// How it stalled.
        reason: String,
        /// The attempts made before giving up.
        attempts: Attempts,
    },

    /// A redirect drag would not follow: no `Location`, an invalid one, or too many hops.
    /// (A hop to a place policy forbids is [`Error::Refused`].)
    #[error("{what}: {reason}")]
    Redirect {
        /// What was asked for.
        what: String,
        /// Why the redirect was not followed.
        reason: String,
    },

    /// A layer whose bytes do not decompress as its media type says.
    #[error("{what}: cannot decompress layer: {reason}")]
    Decompress {
        /// Which layer.
        what: String,
        /// What the decompressor said.
        reason: String,
    },

    /// A foreign layer (Windows base layers) that neither the registry nor any of its URLs
    /// could serve; each source's failure, in the order tried.
    #[error("{what}: foreign layer unavailable from every source: {}", failures.join("; "))]
    ForeignLayer {
        /// Which layer.
        what: String,
        /// `source: error` for each source tried.
        failures: Vec<String>,
    },

    /// A response body (a manifest, a token, a tag list) larger than drag will hold.
    #[error("{what}: more than the {limit} byte limit")]
    TooLarge {
        /// What was read.
        what: String,
        /// The limit, in bytes.
        limit: u64,
    },

    /// A blob or manifest whose bytes do not hash to the digest that names it.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest that names it.
        expected: Digest,
        /// The digest of the bytes that came.
        actual: Digest,
    },

    /// A blob whose length is not the size its descriptor promised.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was fetched.
        what: String,
        /// The size its descriptor promised.
        expected: u64,
        /// The bytes that came.
        actual: u64,
    },

    /// A digest in a manifest or response that is not a valid digest.
    #[error(transparent)]
    Digest(#[from] DigestError),

    /// An index with no entry for the wanted platform.
    #[error("no image for platform {wanted} in {reference}; available: {}", available.join(", "))]
    NoMatchingPlatform {
        /// The image.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms the index has.
        available: Vec<String>,
    },

    /// A reference that names one image (no index) for another platform than the one the
    /// user asked for: refused, as `docker pull --platform` refuses it.
    #[error(
        "{reference} is an image for {actual} only, not {wanted}: \
         drop --platform to take it as it is"
    )]
    PlatformMismatch {
        /// The image.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The platform its config states (`(no platform)` when it states none).
        actual: String,
    },

    /// A tag that leads to no image for the wanted platform once an adapter's fallbacks
    /// (MCR's arch-specific tags) are tried too: what is missing, and what was tried.
    #[error("{repository}: {reason}")]
    TagUnresolved {
        /// The repository, with its registry and without a tag.
        repository: String,
        /// What was asked for, what was missing and what was tried.
        reason: String,
    },

    /// A manifest drag cannot or will not use (schema1, unknown media type, malformed JSON).
    #[error("{reference}: {reason}")]
    Manifest {
        /// The manifest (or image) concerned.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A registry that answered an upload with something drag cannot trust or use (a
    /// `Range` that is not what was sent, no `Location`, a blob it says it has at another
    /// size).
    #[error("{what}: {reason}")]
    Upload {
        /// The blob or manifest concerned, and where it was going.
        what: String,
        /// What the registry did.
        reason: String,
    },

    /// A request that policy forbids (plain HTTP to a remote host, odd URL schemes).
    #[error("refusing {url}: {reason}")]
    Refused {
        /// Where drag was asked to go, redacted and escaped.
        url: String,
        /// The rule it breaks.
        reason: String,
    },

    /// A certs.d directory (or `--cert-dir`) holding something that is not usable.
    #[error("TLS certificates: {}: {reason}", path.display())]
    Certificates {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The config file (see [`crate::registry_config`]) cannot be read or says something drag
    /// cannot use.
    #[error("config file {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or key when known.
        reason: String,
    },

    /// Authentication could not be completed.
    #[error("authentication failed: {0}")]
    Auth(String),

    /// No adapter claims the registry.
    #[error("no adapter named {0:?} (see `drag adapters`)")]
    UnknownAdapter(String),

    /// Local file system trouble.
    #[error("{context}: {source}")]
    Io {
        /// What drag was doing.
        context: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },

    /// `drag logout` for a registry with no login where it looked.
    #[error("not logged in to {host} (looked in {looked})")]
    NotLoggedIn {
        /// The registry.
        host: String,
        /// The file (and credential helper) looked in.
        looked: String,
    },

    /// The pull was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Error {
        Error::Registry(Box::new(e))
    }
}

impl Error {
    /// True for mistakes in what the user asked, as opposed to a pull that failed.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Reference(_)
                | Error::Platform(_)
                | Error::Usage(_)
                | Error::UnknownAdapter(_)
                | Error::Config { .. }
        )
    }

    /// A file system error while doing `context`.
    pub fn io(context: impl fmt::Display, source: io::Error) -> Error {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// A file system error while doing `action` to `path`.
    pub fn io_path(action: &str, path: &Path, source: io::Error) -> Error {
        Error::io(format!("{action} {}", path.display()), source)
    }

    /// A request that got no answer, on its first attempt.
    pub fn http(context: impl fmt::Display, source: reqwest::Error) -> Error {
        Error::Http {
            context: context.to_string(),
            url: None,
            source,
            hint: None,
            attempts: Attempts::default(),
        }
    }

    /// A registry that kept us waiting, on the first attempt.
    pub fn stalled(what: impl fmt::Display, reason: impl fmt::Display) -> Error {
        Error::Stalled {
            what: what.to_string(),
            reason: reason.to_string(),
            attempts: Attempts::default(),
        }
    }

    /// The same error, saying it ended a request after `spent` (see
    /// [`crate::http::retry`]).
    pub fn after(mut self, spent: Attempts) -> Error {
        match &mut self {
            Error::Http { attempts, .. } | Error::Stalled { attempts, .. } => *attempts = spent,
            Error::Registry(e) => e.attempts = spent,
            _ => {}
        }
        self
    }

    /// A manifest drag cannot use, and why.
    pub fn manifest(reference: impl fmt::Display, reason: impl Into<String>) -> Error {
        Error::Manifest {
            reference: reference.to_string(),
            reason: reason.into(),
        }
    }

    /// What to do about it, when the failure says (see `crate::hints`): the end of the
    /// error's message, after its last `": "`.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Http { hint, .. } => hint.as_deref(),
            Error::Registry(e) => e.hint.as_deref(),
            _ => None,
        }
    }

    /// The registry's error code, when the failure came from one (`MANIFEST_UNKNOWN`...).
    pub fn registry_code(&self) -> Option<&str> {
        match self {
            Error::Registry(e) => e.code(),
            _ => None,
        }
    }
}

/// reqwest's Display hides the cause ("error sending request"); the innermost causes are what
/// users need, and reqwest's chain repeats itself, so keep each distinct message once.
fn fmt_reqwest(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = vec![without_url(e)];
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
    parts.join(": ")
}

/// reqwest's message without its URL: the context already names what was fetched, and the
/// URL may carry signed query strings.
fn without_url(e: &reqwest::Error) -> String {
    let s = e.to_string();
    match (s.find(" for url ("), s.rfind(')')) {
        (Some(i), Some(j)) if j > i => format!("{}{}", &s[..i], &s[j + 1..]),
        _ => s,
    }
}

/// An error answer from a registry, with every diagnostic it sent.
/// Diagnostics are the registry's words: [`RegistryError::from_body`] cuts them short, and
/// `Display` shows them escaped (see [`crate::terminal_text`]).
#[derive(Debug, Clone, thiserror::Error)]
pub struct RegistryError {
    /// What was asked for (`manifest docker.io/library/alpine:3.9`).
    pub context: String,
    /// The HTTP status.
    pub status: u16,
    /// The distribution error document's entries, in the order sent.
    pub diagnostics: Vec<Diagnostic>,
    /// Seconds the registry asked us to wait (Retry-After), if any.
    pub retry_after: Option<u64>,
    /// The URL that answered, if known.
    pub url: Option<RedactedUrl>,
    /// The attempts it took to get this answer.
    pub attempts: Attempts,
    /// What to do about it: what the refusal says (a login, a repository that may not exist;
    /// see `crate::hints`), or what the adapter knows (Docker Hub's spent pull limit).
    pub hint: Option<String>,
    /// True when the adapter called the answer final: sending the request again cannot help,
    /// whatever its status says (see [`crate::http::quirks`]).
    pub final_answer: bool,
}

/// One entry of a registry's error document: `{"code": ..., "message": ...}`, or a token
/// service's `{"details": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The distribution error code (`MANIFEST_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`).
    pub code: Option<String>,
    /// The message that came with it.
    pub message: Option<String>,
}

/// The most diagnostics kept from one error document: each is shown, and a hostile registry
/// could send thousands.
const MAX_DIAGNOSTICS: usize = 8;

#[derive(serde::Deserialize)]
struct ErrorDoc {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
    // Some token services answer {"details": "..."} or {"error": "..."}.
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl RegistryError {
    /// The error a status and its body (a distribution error document, if it is one) make.
    pub fn from_body(context: impl Into<String>, status: u16, body: &[u8]) -> RegistryError {
        use crate::terminal_text::shown;
        let diagnostics = match serde_json::from_slice::<ErrorDoc>(body) {
            Ok(doc) if !doc.errors.is_empty() => doc
                .errors
                .into_iter()
                .take(MAX_DIAGNOSTICS)
                .map(|e| Diagnostic {
                    code: e.code.map(|c| shown(&c)),
                    message: e.message.map(|m| shown(&m)),
                })
                .filter(|d| d.code.is_some() || d.message.is_some())
                .collect(),
            Ok(doc) => doc
                .details
                .or(doc.error)
                .map(|m| Diagnostic {
                    code: None,
                    message: Some(shown(&m)),
                })
                .into_iter()
                .collect(),
            Err(_) => xml_diagnostic(body).into_iter().collect(),
        };
        RegistryError {
            context: context.into(),
            status,
            diagnostics,
            retry_after: None,
            url: None,
            attempts: Attempts::default(),
            hint: None,
            final_answer: false,
        }
    }

    /// The first error code the registry sent, if any.
    pub fn code(&self) -> Option<&str> {
        self.diagnostics.iter().find_map(|d| d.code.as_deref())
    }
}

/// The `<Code>` and `<Message>` of an XML error body: what S3, GCS and Azure storage behind a
/// registry's CDN say ("AccessDenied: Request has expired"). Not an XML parser: the first
/// element of each name, its text escaped and cut short like any registry words.
fn xml_diagnostic(body: &[u8]) -> Option<Diagnostic> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.trim_start().starts_with('<') {
        return None;
    }
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(crate::terminal_text::shown(text[start..end].trim()))
    };
    let d = Diagnostic {
        code: element("Code"),
        message: element("Message"),
    };
    (d.code.is_some() || d.message.is_some()).then_some(d)
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::terminal_text::escape;
        write!(f, "{}: ", self.context)?;
        if self.diagnostics.is_empty() {
            write!(f, "{}", status_phrase(self.status))?;
        }
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let code = d.code.as_deref().map(escape);
            let message = d.message.as_deref().map(escape);
            match (&code, &message) {
                (Some(code), Some(msg)) => write!(f, "{code}: {msg}")?,
                (Some(code), None) => write!(f, "{code}")?,
                (None, Some(msg)) => write!(f, "{msg}")?,
                (None, None) => {}
            }
        }
        write!(f, " (HTTP {}", self.status)?;
        if let Some(url) = &self.url {
            write!(f, " from {url}")?;
        }
        write!(f, "{})", self.attempts)?;
        if let Some(hint) = &self.hint {
            write!(f, ": {hint}")?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal_text;

    #[test]
    fn a_registry_error_reads_distribution_documents() {
        let e = RegistryError::from_body(
            "manifest x",
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#,
        );
        assert_eq!(e.code(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(
            e.to_string(),
            "manifest x: MANIFEST_UNKNOWN: manifest unknown (HTTP 404)"
        );
        let plain = RegistryError::from_body("blob y", 503, b"<html>oops</html>");
        assert_eq!(plain.to_string(), "blob y: service unavailable (HTTP 503)");
        let token = RegistryError::from_body("token", 401, br#"{"details":"bad password"}"#);
        assert_eq!(token.to_string(), "token: bad password (HTTP 401)");
    }

    #[test]
    fn a_storage_backends_xml_error_is_read_too() {
        let s3 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                   <Message>Request has expired</Message><X-Amz-Expires>600</X-Amz-Expires></Error>";
        let e = RegistryError::from_body("blob x", 403, s3);
        assert_eq!(
            e.to_string(),
            "blob x: AccessDenied: Request has expired (HTTP 403)"
        );
        let html = RegistryError::from_body("blob x", 403, b"<html><body>nope</body></html>");
        assert_eq!(html.to_string(), "blob x: forbidden (HTTP 403)");
        let cut = RegistryError::from_body("blob x", 403, b"<Error><Message>never closed");
        assert!(cut.diagnostics.is_empty());
    }

    #[test]
    fn every_diagnostic_the_registry_sent_is_kept() {
        let e = RegistryError::from_body(
            "manifest x",
            403,
            br#"{"errors":[{"code":"DENIED","message":"no pull"},{"code":"UNAUTHORIZED","message":"log in"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "manifest x: DENIED: no pull; UNAUTHORIZED: log in (HTTP 403)"
        );
        let many: Vec<_> = (0..1000)
            .map(|i| serde_json::json!({"code": format!("C{i}")}))
            .collect();
        let body = serde_json::json!({ "errors": many }).to_string();
        let e = RegistryError::from_body("m", 400, body.as_bytes());
        assert_eq!(e.diagnostics.len(), MAX_DIAGNOSTICS);
    }

    #[test]
    fn registry_words_are_escaped_and_cut_short() {
        let body = serde_json::json!({"errors": [{
            "code": "DENIED\x1b[2J",
            "message": format!("\r\x1b[32mdrag: pull complete\n{}", "x".repeat(5000)),
        }]});
        let e = RegistryError::from_body("manifest x", 403, body.to_string().as_bytes());
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
    fn an_error_after_retries_says_how_many_and_how_long() {
        let e = Error::stalled("blob x", "no response within 1 s").after(Attempts {
            count: 5,
            elapsed: std::time::Duration::from_millis(14_230),
        });
        assert_eq!(
            e.to_string(),
            "blob x: no response within 1 s after 5 attempts in 14.2 s"
        );
    }
}
