//! `--tls-cert F --tls-key F`: the certificate chain and key `drag serve` presents, read once at
//! startup (PEM; a key that does not match its certificate, or files that hold none, are a
//! startup error). rustls with ring, the same as drag's client side; HTTP/1.1 only.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// The largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// A TLS acceptor for the certificate in `cert` and the key in `key`.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let bad = |path: &Path, reason: String| Error::Certificates {
        path: path.to_path_buf(),
        reason,
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(bad(cert, "holds no certificate".into()));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(key, format!("no PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| bad(key, format!("does not go with the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io_path("reading", path, e))?;
    if meta.len() > MAX_PEM_BYTES {
        return Err(Error::Certificates {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_PEM_BYTES} bytes"),
        });
    }
    std::fs::read(path).map_err(|e| Error::io_path("reading", path, e))
}
