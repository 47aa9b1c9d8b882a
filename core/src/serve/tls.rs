//! `--tls-cert F --tls-key F`: the certificate chain and key `drag serve` presents, read once at
//! startup (PEM; a key that does not match its certificate, or files that hold none, are a
//! startup error). rustls with ring, the same as drag's client side; HTTP/1.1 only.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::tls::{pem_certificates, pem_private_key, provider, read_pem};

/// A TLS acceptor for the certificate in `cert` and the key in `key`.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let bad = |path: &Path, reason: String| Error::Certificates {
        path: path.to_path_buf(),
        reason,
    };
    let chain = pem_certificates(cert, &read_pem(cert)?)?;
    let private = pem_private_key(key, &read_pem(key)?)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| bad(key, format!("does not go with the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
