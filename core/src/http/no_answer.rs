//! Why a request got no answer, read out of reqwest's error chain.
//!
//! Three places need to know: the retry layer (a name that does not resolve is not worth five
//! retries; a refused connection is), its notices (`connection refused`), and the hint that
//! ends the error (see [`crate::hints`]).

use std::io;

use crate::http::tls_trouble::{causes, tls_trouble, TlsTrouble};

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// The host name does not resolve (or the resolver could not be asked).
    Unresolved,
    /// Nothing listens there.
    Refused,
    /// The connection was reset or aborted.
    Reset,
    /// Connecting, or waiting, took too long.
    TimedOut,
    /// The connection closed with the request unanswered.
    Closed,
    /// The proxy (`HTTPS_PROXY`) would not open a tunnel to the host.
    Proxy,
    /// The TLS handshake failed.
    Tls(TlsTrouble),
    /// Anything else.
    Other,
}

impl NoAnswer {
    /// A few words for a retry notice.
    pub(crate) fn words(self) -> &'static str {
        match self {
            NoAnswer::Unresolved => "name does not resolve",
            NoAnswer::Refused => "connection refused",
            NoAnswer::Reset => "connection reset",
            NoAnswer::TimedOut => "timed out",
            NoAnswer::Closed => "connection closed before answering",
            NoAnswer::Proxy => "the proxy refused the tunnel",
            NoAnswer::Tls(_) => "TLS handshake failed",
            NoAnswer::Other => "no answer",
        }
    }
}

/// Why `e` got no answer.
pub(crate) fn no_answer(e: &reqwest::Error) -> NoAnswer {
    if let Some(tls) = tls_trouble(e) {
        return NoAnswer::Tls(tls);
    }
    for cause in causes(e) {
        // hyper-util's connector names a resolver failure so, whatever the resolver said
        // ("Name or service not known", "Temporary failure in name resolution").
        if cause.to_string() == "dns error" {
            return NoAnswer::Unresolved;
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return NoAnswer::Refused,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => return NoAnswer::Reset,
                io::ErrorKind::TimedOut => return NoAnswer::TimedOut,
                _ => {}
            }
        }
        let text = cause.to_string();
        if text.contains("channel closed") {
            return NoAnswer::Closed;
        }
        // hyper-util's tunnel through an HTTP proxy, when the CONNECT is not answered 200.
        if text.starts_with("tunnel error") {
            return NoAnswer::Proxy;
        }
    }
    if e.is_timeout() {
        return NoAnswer::TimedOut;
    }
    NoAnswer::Other
}
