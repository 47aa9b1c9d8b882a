//! User credentials: from `--user`, or from the `auths` of Docker's `config.json`, so a
//! `docker login` (or `podman login --authfile`) done once serves drag too.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::error::{Error, Result};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} / <redacted>)", self.username)
    }
}

impl Credentials {
    /// Parses `USER:PASSWORD`.
    pub fn parse(s: &str) -> Result<Credentials> {
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| Error::Usage("--user expects USER:PASSWORD".into()))?;
        if u.is_empty() {
            return Err(Error::Usage("--user has an empty user name".into()));
        }
        Ok(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })
    }

    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Looks the registry up in Docker's config file, trying each key in `keys` (adapters know
    /// how their registry is spelled there; Docker Hub is `https://index.docker.io/v1/`).
    pub fn from_docker_config(keys: &[String]) -> Option<Credentials> {
        let path = docker_config_path()?;
        from_config_file(&path, keys)
    }
}

fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

fn from_config_file(path: &Path, keys: &[String]) -> Option<Credentials> {
    let text = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let auths = v.get("auths")?.as_object()?;
    let normalize = |k: &str| {
        k.trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    for key in keys {
        let want = normalize(key);
        let entry = auths.get(key.as_str()).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| normalize(k) == want)
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else { continue };
        if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()?;
            let s = String::from_utf8(decoded).ok()?;
            return Credentials::parse(&s).ok();
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(|x| x.as_str()),
            entry.get("password").and_then(|x| x.as_str()),
        ) {
            return Some(Credentials {
                username: u.into(),
                password: p.into(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        // "alice:s3cret"
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"},
                 "ghcr.io":{"username":"bob","password":"pw"}}}"#,
        )
        .unwrap();
        let hub = from_config_file(&p, &["https://index.docker.io/v1/".into()]).unwrap();
        assert_eq!(hub.username, "alice");
        assert_eq!(hub.password, "s3cret");
        let gh = from_config_file(&p, &["https://ghcr.io".into()]).unwrap();
        assert_eq!(gh.username, "bob");
        assert!(from_config_file(&p, &["quay.io".into()]).is_none());
    }

    #[test]
    fn basic_header_and_redaction() {
        let c = Credentials::parse("u:p:with:colons").unwrap();
        assert_eq!(c.password, "p:with:colons");
        assert!(c.basic_header().starts_with("Basic "));
        assert!(!format!("{c:?}").contains("p:with"));
        assert!(Credentials::parse("nocolon").is_err());
    }
}
