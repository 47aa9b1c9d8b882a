//! Finding a registry's credentials where `podman login` and `docker login` left them, so a
//! login done once serves drag too.
//!
//! Files, in the order containers/image reads them: `$REGISTRY_AUTH_FILE` (else podman's
//! `$XDG_RUNTIME_DIR/containers/auth.json`), `$XDG_CONFIG_HOME/containers/auth.json` (else
//! `~/.config/...`), then Docker's `$DOCKER_CONFIG/config.json` (else `~/.docker/...`). In
//! each, as the Docker CLI does: a `credHelpers` entry for the registry, else the `credsStore`
//! helper, else the inline `auths` entry. `auths` keys may also name a repository or namespace
//! (`quay.io/org/app`, podman's extension); the most specific wins.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::cred_helper;
use super::credentials::{Credentials, Secret};
use crate::error::{Error, Result};
use crate::user_dirs::{self, env_path};

/// Larger than any real auth file; a bigger one is not read.
pub(crate) const MAX_FILE: u64 = 4 << 20;

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: serde_json::Map<String, serde_json::Value>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The credentials for `repository` on `registry`. `keys` are the adapter's spellings of the
/// registry (Docker Hub's canonical key is `https://index.docker.io/v1/`), canonical first.
/// `only` (`--authfile`) replaces the search with that one file, which must exist.
pub fn lookup(
    registry: &str,
    repository: &str,
    keys: &[String],
    only: Option<&Path>,
) -> Result<Option<Credentials>> {
    if let Some(path) = only {
        if !path.is_file() {
            return Err(bad(path, "", "no such auth file".into()));
        }
        return lookup_in(path, registry, repository, keys);
    }
    for path in auth_file_paths() {
        if let Some(found) = lookup_in(&path, registry, repository, keys)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn auth_file_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    match env_path("REGISTRY_AUTH_FILE") {
        Some(p) => paths.push(p),
        None => paths.extend(env_path("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json"))),
    }
    paths.extend(user_dirs::config_home().map(|d| d.join("containers/auth.json")));
    match env_path("DOCKER_CONFIG") {
        Some(d) => paths.push(d.join("config.json")),
        None => paths.extend(user_dirs::home().map(|h| h.join(".docker/config.json"))),
    }
    paths
}

/// One file's answer; a missing file has none, a broken one is an error naming it.
fn lookup_in(
    path: &Path,
    registry: &str,
    repository: &str,
    keys: &[String],
) -> Result<Option<Credentials>> {
    let Some(file) = read_auth_file(path)? else {
        return Ok(None);
    };
    let helper = keys
        .iter()
        .find_map(|k| file.cred_helpers.get(k).map(|h| (h, k)))
        .or_else(|| {
            let canonical = keys.first()?;
            file.creds_store.as_ref().map(|h| (h, canonical))
        });
    if let Some((helper, server)) = helper {
        if let Some(found) = cred_helper::get(helper, server)? {
            let source = format!(
                "credential helper docker-credential-{helper} (named in {})",
                path.display()
            );
            return Ok(Some(found.from_source(source)));
        }
    }
    for key in scoped_keys(registry, repository).iter().chain(keys) {
        let Some(value) = find_entry(&file.auths, key) else {
            continue;
        };
        let entry: AuthEntry = serde_json::from_value(value.clone()).unwrap_or_default();
        if let Some(found) = entry_credentials(entry).map_err(|reason| bad(path, key, reason))? {
            return Ok(Some(found.from_source(path.display().to_string())));
        }
    }
    Ok(None)
}

/// The bytes of the auth file at `path`, None when there is none. A file larger than any real
/// auth file is refused unread past the limit (`drag login` must not rewrite it either).
pub(crate) fn read_capped(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_path("opening", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io_path("reading", path, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(bad(
            path,
            "",
            format!("larger than {MAX_FILE} bytes; left as it is"),
        ));
    }
    Ok(Some(bytes))
}

fn read_auth_file(path: &Path) -> Result<Option<AuthFile>> {
    let Some(bytes) = read_capped(path)? else {
        return Ok(None);
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| bad(path, "", format!("not an auth file: {e}")))
}

/// `registry/a/b/c`, `registry/a/b`, `registry/a`: podman's repository-scoped keys.
fn scoped_keys(registry: &str, repository: &str) -> Vec<String> {
    let parts: Vec<&str> = repository.split('/').collect();
    (1..=parts.len())
        .rev()
        .map(|n| format!("{registry}/{}", parts[..n].join("/")))
        .collect()
}

/// The entry for `key`, also under the spellings `docker login` has used over the years
/// (`https://host/v1/`, `http://host`, any case).
fn find_entry<'a>(
    auths: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'a serde_json::Value> {
    auths
        .get(key)
        .or_else(|| auths.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v))
}

/// True when two `auths` keys name the same registry in the spellings [`find_entry`] accepts.
pub(crate) fn same_key(a: &str, b: &str) -> bool {
    let normalize = |k: &str| {
        let k = k
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let k = k.trim_end_matches('/');
        k.strip_suffix("/v1")
            .or_else(|| k.strip_suffix("/v2"))
            .unwrap_or(k)
            .to_ascii_lowercase()
    };
    normalize(a) == normalize(b)
}

fn entry_credentials(entry: AuthEntry) -> std::result::Result<Option<Credentials>, String> {
    if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: entry.username.unwrap_or_default(),
            secret: Secret::IdentityToken(token),
            source: None,
        }));
    }
    if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "\"auth\" is not base64".to_string())?;
        let text = String::from_utf8(decoded).map_err(|_| "\"auth\" is not UTF-8".to_string())?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| "\"auth\" is not USER:PASSWORD".to_string())?;
        return Ok(Some(Credentials::password(user, password)));
    }
    match (entry.username, entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::password(&u, &p))),
        _ => Ok(None),
    }
}

fn bad(path: &Path, key: &str, reason: String) -> Error {
    let at = if key.is_empty() {
        String::new()
    } else {
        format!(" (entry {key:?})")
    };
    Error::Auth(format!("{}{at}: {reason}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, json: &str) -> PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, json).unwrap();
        p
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_inline_auths_in_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        // "alice:s3cret"
        let p = write(
            dir.path(),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"},
                 "http://GHCR.io/v2/":{"username":"bob","password":"pw"},
                 "quay.io":{"identitytoken":"refresh"}}}"#,
        );
        let hub = keys(&["https://index.docker.io/v1/", "docker.io"]);
        let found = lookup_in(&p, "docker.io", "library/alpine", &hub)
            .unwrap()
            .unwrap();
        assert_eq!(found, Credentials::password("alice", "s3cret"));
        let gh = lookup_in(&p, "ghcr.io", "o/app", &keys(&["ghcr.io"]))
            .unwrap()
            .unwrap();
        assert_eq!(found.username, "alice");
        assert_eq!(gh, Credentials::password("bob", "pw"));
        let quay = lookup_in(&p, "quay.io", "o/app", &keys(&["quay.io"]))
            .unwrap()
            .unwrap();
        assert_eq!(quay.identity_token(), Some("refresh"));
        assert!(lookup_in(&p, "example.com", "x", &keys(&["example.com"]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn repository_scoped_keys_win_over_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"auths":{"quay.io":{"username":"any","password":"1"},
                 "quay.io/team":{"username":"team","password":"2"},
                 "quay.io/team/app":{"username":"app","password":"3"}}}"#,
        );
        let who = |repo: &str| {
            lookup_in(&p, "quay.io", repo, &keys(&["quay.io"]))
                .unwrap()
                .unwrap()
                .username
        };
        assert_eq!(who("team/app"), "app");
        assert_eq!(who("team/other"), "team");
        assert_eq!(who("elsewhere/app"), "any");
    }

    #[test]
    fn broken_files_and_entries_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "{not json");
        let e = lookup_in(&p, "quay.io", "a", &keys(&["quay.io"])).unwrap_err();
        assert!(e.to_string().contains("config.json"), "{e}");
        let p = write(dir.path(), r#"{"auths":{"quay.io":{"auth":"!!!"}}}"#);
        let e = lookup_in(&p, "quay.io", "a", &keys(&["quay.io"])).unwrap_err();
        assert!(e.to_string().contains("\"quay.io\""), "{e}");
        // Empty files and entries, as `docker logout` leaves them, are no credentials.
        let p = write(dir.path(), "");
        assert!(lookup_in(&p, "q", "a", &keys(&["q"])).unwrap().is_none());
        let p = write(dir.path(), r#"{"auths":{"quay.io":{}}}"#);
        assert!(lookup_in(&p, "quay.io", "a", &keys(&["quay.io"]))
            .unwrap()
            .is_none());
        assert!(
            lookup_in(&dir.path().join("missing.json"), "q", "a", &keys(&["q"]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn scoped_keys_go_from_most_to_least_specific() {
        assert_eq!(
            scoped_keys("quay.io", "a/b/c"),
            ["quay.io/a/b/c", "quay.io/a/b", "quay.io/a"]
        );
    }
}
