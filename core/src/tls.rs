//! The certificates a registry connection trusts and presents, beyond the public roots.
//!
//! Registries inside closed networks are signed by a company CA, and some ask clients for a
//! certificate. Docker, podman and skopeo share one convention for both, which drag follows so
//! an existing setup works unchanged: a directory per registry (`certs.d/HOST[:PORT]/`) where
//! every `*.crt` file is a CA to trust and a `NAME.cert` with its `NAME.key` is a client
//! certificate. The system's roots (and `SSL_CERT_FILE` / `SSL_CERT_DIR`) are trusted by the
//! HTTP client itself; see [`crate::transport`].

use std::io::Read;
use std::path::{Path, PathBuf};

use url::Url;

use crate::error::{Error, Result};

/// More than any real certificate bundle; a larger file is a mistake, not a CA.
const MAX_PEM_BYTES: u64 = 4 << 20;

/// What a certs.d directory holds for one registry.
#[derive(Default)]
pub struct RegistryCerts {
    /// Extra CAs to trust, from `*.crt` files.
    pub roots: Vec<reqwest::Certificate>,
    /// The client certificate to present, from the first `NAME.cert` + `NAME.key` pair.
    pub identity: Option<reqwest::Identity>,
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
                let found = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| bad(path, format!("not a PEM certificate bundle: {e}")))?;
                if found.is_empty() {
                    return Err(bad(path, "holds no PEM certificate".into()));
                }
                certs.roots.extend(found);
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
                    let mut pem = read_pem(path)?;
                    pem.push(b'\n');
                    pem.extend(read_pem(&key)?);
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        bad(path, format!("unusable client certificate and key: {e}"))
                    })?;
                    certs.identity = Some(identity);
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

fn read_pem(path: &Path) -> Result<Vec<u8>> {
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
        let e = load_dir(dir.path()).err().expect("garbage CA refused");
        assert!(e.to_string().contains("ca.crt"), "{e}");

        std::fs::remove_file(dir.path().join("ca.crt")).unwrap();
        std::fs::write(dir.path().join("client.cert"), "x").unwrap();
        let e = load_dir(dir.path())
            .err()
            .expect("lone certificate refused");
        assert!(e.to_string().contains("without its key"), "{e}");

        std::fs::remove_file(dir.path().join("client.cert")).unwrap();
        std::fs::write(dir.path().join("client.key"), "x").unwrap();
        let e = load_dir(dir.path()).err().expect("lone key refused");
        assert!(e.to_string().contains("without its certificate"), "{e}");

        std::fs::remove_file(dir.path().join("client.key")).unwrap();
        assert!(load_dir(dir.path()).unwrap().roots.is_empty());
        assert!(load_dir(&dir.path().join("missing")).is_err());
    }
}
