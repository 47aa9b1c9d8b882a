//! What a failed TLS handshake says about the server, read out of reqwest's error chain.
//!
//! Two places need to know: the scheme probe (a plain-HTTP answer means the registry speaks
//! HTTP) and [`super::no_answer`], for the retry layer (a failed handshake fails again) and the
//! error's hint (an untrusted certificate wants `--cert-dir`; plain HTTP wants `http://`).

use std::io;

/// What a failed TLS handshake says about the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsTrouble {
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
pub fn tls_trouble(e: &reqwest::Error) -> Option<TlsTrouble> {
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
pub(crate) fn causes<'a>(
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
