//! The certificates a registry connection trusts and presents, beyond the public roots, and
//! the TLS configuration built from them.
//!
//! Registries inside closed networks are signed by a company CA, and some ask clients for a
//! certificate. Docker, podman and skopeo share one convention for both, which drag follows so
//! an existing setup works unchanged: a directory per registry (`certs.d/HOST[:PORT]/`) where
//! every `*.crt` file is a CA to trust and a `NAME.cert` with its `NAME.key` is a client
//! certificate. Mozilla's and the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` included)
//! are trusted too, read only when a handshake needs them ([`lazy_trust`]).

mod lazy_trust;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;
use url::Url;

use crate::error::{Error, Result};

/// More than any real certificate bundle; a larger file is a mistake, not a CA.
const MAX_PEM_BYTES: u64 = 4 << 20;

/// What a certs.d directory holds for one registry.
#[derive(Debug)]
pub struct RegistryCerts {
    /// Extra CAs to trust, from `*.crt` files.
    pub roots: RootCertStore,
    /// The client certificate to present, from the first `NAME.cert` + `NAME.key` pair.
    pub identity: Option<ClientIdentity>,
}

impl Default for RegistryCerts {
    fn default() -> Self {
        RegistryCerts {
            roots: RootCertStore::empty(),
            identity: None,
        }
    }
}

/// A client certificate chain and its private key.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The certificate, then any intermediates, as the `NAME.cert` file lists them.
    pub chain: Vec<CertificateDer<'static>>,
    /// `NAME.key`, already checked to be the certificate's.
    pub key: PrivateKeyDer<'static>,
}

/// rustls's crypto, ring: the same for drag's clients and `drag serve`.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration of a client for one registry: TLS 1.2 and 1.3, HTTP/2 or 1.1 by
/// ALPN, server certificates checked against the public roots and `certs`' CAs (nothing
/// checked with `insecure`), and `certs`' client certificate presented when a server asks.
pub fn client_config(certs: RegistryCerts, insecure: bool) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let trust = lazy_trust::LazyTrust::new(certs.roots, provider.clone(), insecure);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| tls_setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(trust));
    let mut config = match certs.identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(|e| tls_setup(format!("the client certificate is unusable: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn tls_setup(reason: String) -> Error {
    Error::Usage(format!("setting up TLS: {reason}"))
}

/// `HOST[:PORT]` as certs.d names a registry: the port only when it is not the scheme's default.
pub fn host_dir_name(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// The per-registry directories consulted, in order, when `--cert-dir` is not given: the
/// user's containers config, then the system's containers and Docker directories. As in
/// podman and skopeo, the first that exists is used.
pub fn default_dirs(host_dir: &str) -> Vec<PathBuf> {
    // A host is never a path, but a hostile endpoint should not name `..` either.
    if host_dir.is_empty() || host_dir.starts_with('.') || host_dir.contains(['/', '\\']) {
        return Vec::new();
    }
    let mut bases = Vec::new();
    if let Some(config) = crate::user_dirs::config_home() {
        bases.push(config.join("containers").join("certs.d"));
    }
    bases.push(PathBuf::from("/etc/containers/certs.d"));
    bases.push(PathBuf::from("/etc/docker/certs.d"));
    bases.into_iter().map(|b| b.join(host_dir)).collect()
}

/// The certificates for a registry at `url`: from `explicit` (`--cert-dir`) when given, else
/// from the first existing default directory. Plain HTTP needs none.
pub fn for_registry(url: &Url, explicit: Option<&Path>) -> Result<RegistryCerts> {
    if url.scheme() != "https" {
        return Ok(RegistryCerts::default());
    }
    if let Some(dir) = explicit {
        return load_dir(dir);
    }
    let Some(name) = host_dir_name(url) else {
        return Ok(RegistryCerts::default());
    };
    match default_dirs(&name).into_iter().find(|d| d.is_dir()) {
        Some(dir) => load_dir(&dir),
        None => Ok(RegistryCerts::default()),
    }
}

/// Reads one certs.d directory. Files are taken in name order, so the choice among several
/// client certificates is stable; files with other extensions are ignored, as Docker does.
pub fn load_dir(dir: &Path) -> Result<RegistryCerts> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io_path("reading certificate directory", dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut certs = RegistryCerts::default();
    for path in &files {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let pem = read_pem(path)?;
                let found = pem_certificates(path, &pem)?;
                for cert in found {
                    certs
                        .roots
                        .add(cert)
                        .map_err(|e| bad(path, format!("not a usable CA certificate: {e}")))?;
                }
            }
            Some("cert") => {
                let key = path.with_extension("key");
                if !key.is_file() {
                    return Err(bad(
                        path,
                        format!("client certificate without its key {}", key.display()),
                    ));
                }
                if certs.identity.is_none() {
                    certs.identity = Some(client_identity(path, &key)?);
                }
            }
            Some("key") if !path.with_extension("cert").is_file() => {
                return Err(bad(
                    path,
                    format!(
                        "client key without its certificate {}",
                        path.with_extension("cert").display()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(certs)
}

/// The bytes of a PEM file, refused when larger than any certificate or key.
pub(crate) fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io_path("opening", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io_path("reading", path, e))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(bad(
            path,
            format!("larger than {MAX_PEM_BYTES} bytes, not a certificate"),
        ));
    }
    Ok(bytes)
}

/// Every certificate in a PEM file's bytes: at least one, or an error naming the file.
pub(crate) fn pem_certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let found = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(path, format!("not a PEM certificate bundle: {e}")))?;
    if found.is_empty() {
        return Err(bad(path, "holds no PEM certificate".into()));
    }
    Ok(found)
}

/// The private key in a PEM file's bytes, or an error naming the file.
pub(crate) fn pem_private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad(path, format!("no PEM private key: {e}")))
}

/// The client certificate in `cert` with its key in `key`. A key ring cannot use, or one
/// that is not the certificate's, is refused here, naming the key file, rather than at the
/// first handshake.
fn client_identity(cert: &Path, key: &Path) -> Result<ClientIdentity> {
    let chain = pem_certificates(cert, &read_pem(cert)?)?;
    let private = pem_private_key(key, &read_pem(key)?)?;
    rustls::sign::CertifiedKey::from_der(chain.clone(), private.clone_key(), &provider())
        .map_err(|e| bad(key, format!("unusable client certificate and key: {e}")))?;
    Ok(ClientIdentity {
        chain,
        key: private,
    })
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Certificates {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_dir_names_keep_only_explicit_ports() {
        let name = |u: &str| host_dir_name(&Url::parse(u).unwrap()).unwrap();
        assert_eq!(name("https://registry.corp/v2/"), "registry.corp");
        assert_eq!(name("https://registry.corp:443/v2/"), "registry.corp");
        assert_eq!(name("https://registry.corp:5000/"), "registry.corp:5000");
        assert_eq!(name("https://127.0.0.1:8443/"), "127.0.0.1:8443");
        assert_eq!(name("https://[::1]:8443/"), "[::1]:8443");
    }

    #[test]
    fn default_dirs_refuse_names_that_are_paths() {
        assert!(default_dirs("..").is_empty());
        assert!(default_dirs("a/b").is_empty());
        let dirs = default_dirs("registry.corp:5000");
        assert!(dirs.ends_with(&[
            PathBuf::from("/etc/containers/certs.d/registry.corp:5000"),
            PathBuf::from("/etc/docker/certs.d/registry.corp:5000"),
        ]));
    }

    #[test]
    fn plain_http_reads_no_directory() {
        let url = Url::parse("http://127.0.0.1:5000/").unwrap();
        let certs = for_registry(&url, Some(Path::new("/nonexistent/drag"))).unwrap();
        assert!(certs.roots.is_empty() && certs.identity.is_none());
    }

    #[test]
    fn broken_directories_name_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join("ca.crt"), "not pem").unwrap();
        let e = load_dir(dir.path()).expect_err("garbage CA refused");
        assert!(e.to_string().contains("ca.crt"), "{e}");
        // PEM armour around bytes that are no certificate: refused when read, not at the
        // first handshake.
        let armoured = "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("ca.crt"), armoured).unwrap();
        let e = load_dir(dir.path()).expect_err("a non-certificate refused");
        assert!(
            e.to_string().contains("ca.crt") && e.to_string().contains("usable CA"),
            "{e}"
        );

        std::fs::remove_file(dir.path().join("ca.crt")).unwrap();
        std::fs::write(dir.path().join("client.cert"), "x").unwrap();
        let e = load_dir(dir.path()).expect_err("lone certificate refused");
        assert!(e.to_string().contains("without its key"), "{e}");

        std::fs::remove_file(dir.path().join("client.cert")).unwrap();
        std::fs::write(dir.path().join("client.key"), "x").unwrap();
        let e = load_dir(dir.path()).expect_err("lone key refused");
        assert!(e.to_string().contains("without its certificate"), "{e}");

        std::fs::remove_file(dir.path().join("client.key")).unwrap();
        assert!(load_dir(dir.path()).unwrap().roots.is_empty());
        assert!(load_dir(&dir.path().join("missing")).is_err());
    }
}
