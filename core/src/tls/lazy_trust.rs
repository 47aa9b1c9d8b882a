//! Server certificates checked against the public and system roots, read only when a server
//! first shows a certificate.
//!
//! Reading and parsing the system's roots (the bundle and every file of `SSL_CERT_DIR`, some
//! 140 + 290 certificates on Debian) takes about 6 ms of CPU, twice over when every client
//! parsed its own copy: more than a warm pull from a plain-HTTP mirror spends on everything
//! but its copy. So the roots are read once per process, on the first TLS handshake that
//! reaches certificate checks, and never by a run that speaks only plain HTTP. Handshake
//! signatures need no roots and are checked at once.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Mozilla's roots (compiled in) and the system's (`SSL_CERT_FILE` / `SSL_CERT_DIR` when
/// set), read on first use and shared by every client of the process. Certificates the
/// system store holds but rustls cannot use (ancient roots without extensions) are skipped,
/// as reqwest does.
fn public_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Arc::new(roots)
        })
        .clone()
}

/// Verifies server certificates against [`public_roots`] plus a registry's own CAs, building
/// the WebPKI verifier the first time a certificate is to be checked. With `insecure`, any
/// certificate and signature is accepted and no roots are ever read (`--insecure`).
#[derive(Debug)]
pub(crate) struct LazyTrust {
    /// The registry's own CAs (certs.d `*.crt`), already parsed: their errors name their file.
    extra: RootCertStore,
    provider: Arc<CryptoProvider>,
    insecure: bool,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl LazyTrust {
    pub(crate) fn new(extra: RootCertStore, provider: Arc<CryptoProvider>, insecure: bool) -> Self {
        LazyTrust {
            extra,
            provider,
            insecure,
            verifier: OnceLock::new(),
        }
    }

    /// A handshake signature, checked with the provider's algorithms (no roots needed), or
    /// taken as it is with `insecure`.
    fn check_signature(
        &self,
        verify: impl FnOnce(
            &WebPkiSupportedAlgorithms,
        ) -> Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.insecure {
            return Ok(HandshakeSignatureValid::assertion());
        }
        verify(&self.provider.signature_verification_algorithms)
    }

    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                let mut roots = public_roots();
                if !self.extra.is_empty() {
                    Arc::make_mut(&mut roots)
                        .roots
                        .extend(self.extra.roots.iter().cloned());
                }
                WebPkiServerVerifier::builder_with_provider(roots, self.provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(format!("no usable trust roots: {e}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyTrust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(|algs| verify_tls12_signature(message, cert, dss, algs))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(|algs| verify_tls13_signature(message, cert, dss, algs))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
