//! Keeping a login where `docker login` keeps it, so docker, podman, skopeo and drag all see
//! it: Docker's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`), or another file of that
//! format (`--authfile`).
//!
//! As the Docker CLI does: a `credHelpers` entry for the registry, else a `credsStore`, hands
//! the secret to that credential helper; otherwise it goes inline, as
//! `auths[KEY] = {"auth": base64(user:password)}`. The file is the user's: every other field
//! and entry is kept as it was (it is read as plain JSON, not as drag's idea of it), and it is
//! replaced whole by a private (0600) file renamed over it, so a crash never leaves half a
//! file. A file drag cannot read (too large, not JSON) is left alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::auth::auth_files::same_key;
use crate::auth::credentials::Secret;
use crate::auth::{cred_helper, Credentials};
use crate::error::{Error, Result};
use crate::user_dirs::{self, env_path};

use super::LoginHost;

/// Where a login was stored, or removed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Inline in this file's `auths`.
    File(PathBuf),
    /// With `docker-credential-NAME`, which this file names.
    Helper {
        /// The helper's NAME.
        name: String,
        /// The file naming it.
        file: PathBuf,
    },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::File(path) => write!(f, "{}", path.display()),
            Place::Helper { name, file } => write!(
                f,
                "credential helper docker-credential-{name} (named in {})",
                file.display()
            ),
        }
    }
}

/// Docker's `config.json`: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_path() -> Result<PathBuf> {
    match env_path("DOCKER_CONFIG") {
        Some(dir) => Ok(dir.join("config.json")),
        None => user_dirs::home()
            .map(|h| h.join(".docker/config.json"))
            .ok_or_else(|| {
                Error::Usage(
                    "neither DOCKER_CONFIG nor HOME is set: no config.json to keep the login in \
                     (give --authfile)"
                        .into(),
                )
            }),
    }
}

/// Stores `credentials` for `host` in the file at `path` (or its credential helper).
pub fn save(host: &LoginHost, credentials: &Credentials, path: &Path) -> Result<Place> {
    let Secret::Password(password) = &credentials.secret else {
        return Err(Error::Auth(
            "only a user name and password can be stored".into(),
        ));
    };
    let mut doc = read(path)?.unwrap_or_default();
    if let Some((name, server)) = helper_for(&doc, &host.keys) {
        cred_helper::store(&name, &server, credentials)?;
        return Ok(Place::Helper {
            name,
            file: path.to_path_buf(),
        });
    }
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{password}", credentials.username));
    let auths = doc
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        return Err(bad(path, "\"auths\" is not an object"));
    };
    // The whole entry is replaced: an old identity token in it would win over the new
    // password when the entry is read.
    auths.insert(host.keys[0].clone(), serde_json::json!({ "auth": auth }));
    write(path, &doc)?;
    Ok(Place::File(path.to_path_buf()))
}

/// Removes the login for `host` from the file at `path`: its credential helper's, and every
/// inline entry a lookup for `host` would find there. Not logged in is an error naming where
/// drag looked.
pub fn remove(host: &LoginHost, path: &Path) -> Result<Place> {
    let not_logged_in = |place: String| Error::NotLoggedIn {
        host: host.host.clone(),
        looked: place,
    };
    let Some(mut doc) = read(path)? else {
        return Err(not_logged_in(format!("{} (no such file)", path.display())));
    };
    let mut removed = None;
    if let Some((name, server)) = helper_for(&doc, &host.keys) {
        if cred_helper::erase(&name, &server)? {
            removed = Some(Place::Helper {
                name: name.clone(),
                file: path.to_path_buf(),
            });
        }
    }
    let stale: Vec<String> = match doc.get("auths") {
        Some(Value::Object(auths)) => auths
            .keys()
            .filter(|k| host.keys.iter().any(|key| same_key(k, key)))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    if !stale.is_empty() {
        if let Some(Value::Object(auths)) = doc.get_mut("auths") {
            for key in &stale {
                auths.remove(key);
            }
        }
        write(path, &doc)?;
        removed.get_or_insert(Place::File(path.to_path_buf()));
    }
    removed.ok_or_else(|| {
        let helper = helper_for(&doc, &host.keys)
            .map(|(name, _)| format!(" and credential helper docker-credential-{name}"))
            .unwrap_or_default();
        not_logged_in(format!("{}{helper}", path.display()))
    })
}

/// The helper the file names for one of `keys` (and the key it knows the registry by), else
/// its `credsStore` (asked for the canonical key), as the Docker CLI and the lookup choose.
fn helper_for(doc: &Map<String, Value>, keys: &[String]) -> Option<(String, String)> {
    if let Some(Value::Object(helpers)) = doc.get("credHelpers") {
        for key in keys {
            if let Some(Value::String(name)) = helpers.get(key) {
                return Some((name.clone(), key.clone()));
            }
        }
    }
    match doc.get("credsStore") {
        Some(Value::String(name)) if !name.is_empty() => Some((name.clone(), keys[0].clone())),
        _ => None,
    }
}

/// The file as a JSON object; None when it does not exist. Empty counts as `{}` (Docker
/// leaves such files).
fn read(path: &Path) -> Result<Option<Map<String, Value>>> {
    let Some(bytes) = crate::auth::auth_files::read_capped(path)? else {
        return Ok(None);
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(doc)) => Ok(Some(doc)),
        Ok(_) => Err(bad(path, "not a JSON object; left as it is")),
        Err(e) => Err(bad(path, &format!("not JSON ({e}); left as it is"))),
    }
}

/// Replaces the file at `path` with `doc`: a private temporary file in the same directory,
/// renamed over it. A symbolic link is followed, so the file it points to is the one
/// replaced, as the Docker CLI does.
fn write(path: &Path, doc: &Map<String, Value>) -> Result<()> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let mut text = serde_json::to_string_pretty(doc)
        .map_err(|e| Error::Auth(format!("encoding {}: {e}", path.display())))?;
    text.push('\n');
    // tempfile creates it 0600: the file holds passwords.
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(&dir)
        .map_err(|e| Error::io_path("creating a temporary file in", &dir, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io_path("writing", tmp.path(), e))?;
    tmp.persist(&path)
        .map_err(|e| Error::io_path("replacing", &path, e.error))?;
    Ok(())
}

/// Creates `dir` and its missing parents, private (0700) as `docker login` makes `~/.docker`.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io_path("creating", dir, e))
}

fn bad(path: &Path, reason: &str) -> Error {
    Error::Auth(format!("{}: {reason}", path.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn host(keys: &[&str]) -> LoginHost {
        LoginHost {
            adapter: &NoAdapter,
            host: "registry.example".into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            endpoint: "https://registry.example".into(),
            probe_scheme: false,
        }
    }

    struct NoAdapter;
    impl crate::adapter::Adapter for NoAdapter {
        fn name(&self) -> &'static str {
            "none"
        }
        fn summary(&self) -> &'static str {
            "test"
        }
        fn hosts(&self) -> &'static [&'static str] {
            &[]
        }
        fn normalize(&self, r: &crate::reference::Reference) -> Result<crate::adapter::Target> {
            Err(Error::Usage(format!("not for {r}")))
        }
    }
    impl crate::adapter::Authenticator for NoAdapter {}
    impl crate::adapter::Resolver for NoAdapter {}
    impl crate::adapter::ManifestQuirks for NoAdapter {}

    #[test]
    fn save_keeps_every_other_field_and_writes_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/config.json");
        let h = host(&["https://index.docker.io/v1/", "docker.io"]);
        save(&h, &Credentials::password("alice", "pw"), &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);

        std::fs::write(
            &path,
            r#"{"auths":{"other.example":{"auth":"eDp5"},
                "https://index.docker.io/v1/":{"identitytoken":"old"}},
               "psFormat":"table","proxies":{"default":{"httpProxy":"p"}}}"#,
        )
        .unwrap();
        save(&h, &Credentials::password("bob", "pw2"), &path).unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table");
        assert_eq!(doc["proxies"]["default"]["httpProxy"], "p");
        assert_eq!(doc["auths"]["other.example"]["auth"], "eDp5");
        assert_eq!(
            doc["auths"]["https://index.docker.io/v1/"],
            serde_json::json!({"auth": "Ym9iOnB3Mg=="})
        );
    }

    #[test]
    fn unreadable_files_are_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let h = host(&["registry.example"]);
        for content in [
            "{not json".to_string(),
            "[1]".to_string(),
            " ".repeat(crate::auth::auth_files::MAX_FILE as usize + 1),
        ] {
            std::fs::write(&path, &content).unwrap();
            let e = save(&h, &Credentials::password("a", "b"), &path).unwrap_err();
            assert!(e.to_string().contains("config.json"), "{e}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        }
    }

    #[test]
    fn remove_takes_every_spelling_and_then_says_not_logged_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"eDp5"},
                "registry-1.docker.io":{"auth":"eDp5"},"ghcr.io":{"auth":"eDp5"}}}"#,
        )
        .unwrap();
        let h = host(&[
            "https://index.docker.io/v1/",
            "docker.io",
            "registry-1.docker.io",
        ]);
        assert_eq!(remove(&h, &path).unwrap(), Place::File(path.clone()));
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"].as_object().unwrap().len(), 1, "{doc}");
        let e = remove(&h, &path).unwrap_err();
        assert!(matches!(e, Error::NotLoggedIn { .. }), "{e}");
        assert!(e.to_string().contains("config.json"), "{e}");
    }
}
