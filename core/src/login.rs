//! Logins: checking and keeping them (`drag login`, `drag logout`), and which login a registry
//! session gets, for which host.
//!
//! `drag login HOST` settles HOST with its adapter ([`LoginHost`]), asks the registry whether
//! it takes the login ([`check()`]), and only then keeps it where `docker login` would
//! ([`docker_config`]); [`login()`] does all three. [`logout()`] removes it.
//!
//! A login belongs to the host it was made for. drag contacts either the registry an image
//! names (at its adapter's endpoint) or, with `--endpoint`, another host (a mirror, an
//! air-gapped copy). Credentials are looked up for the host actually contacted: a Docker Hub
//! login in `config.json` never goes to a mirror, and the mirror's own entry in the auth files
//! is used, as podman does for mirrors.
//!
//! `--user` is one login for one registry, as skopeo's `--creds` is for its one source: it
//! goes to the host the command's first image is fetched from, and to every other image
//! fetched from that same host. An image fetched from another host never gets it; it gets its
//! own entry from the auth files, if there is one, and the user is told.

pub mod check;
pub mod docker_config;
mod host;

pub use check::{check, Checked};
pub use docker_config::Place;
pub use host::LoginHost;

use crate::adapter::{Adapter, ImageName};
use crate::auth::{auth_files, Credentials};
use crate::error::{Error, Result};
use crate::registry;

/// Where the requests for `name` go, the way auth files key hosts: the `host[:port]` of
/// `--endpoint` when given, else the registry the image names (whose adapter knows its keys).
pub(crate) fn contacted_host(name: &ImageName, endpoint: Option<&str>) -> Result<String> {
    match endpoint {
        Some(raw) => Ok(authority(&registry::endpoint_url(raw)?)),
        None => Ok(name.registry.clone()),
    }
}

/// `host` or `host:port` (a port only when the URL spells one out), as `docker login` and
/// `podman login` key their entries.
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The credentials a session for `name` sends: `user` when the caller says `--user` applies
/// here, else what the auth files hold for the host contacted (`only` is `--authfile`).
pub(crate) async fn credentials(
    adapter: &'static dyn Adapter,
    name: &ImageName,
    endpoint: Option<&str>,
    user: Option<&Credentials>,
    only: Option<&std::path::Path>,
) -> Result<Option<Credentials>> {
    if let Some(user) = user {
        return Ok(Some(user.clone()));
    }
    let (host, keys) = match endpoint {
        // The mirror's own entry: its host is the only key (the adapter's spellings are the
        // registry's, and that login is not the mirror's to see).
        Some(_) => {
            let host = contacted_host(name, endpoint)?;
            (host.clone(), vec![host])
        }
        None => (name.registry.clone(), adapter.credential_keys(name)),
    };
    let repository = name.repository.clone();
    let only = only.map(std::path::Path::to_path_buf);
    // Reading files and running a credential helper: not on the async threads.
    tokio::task::spawn_blocking(move || {
        auth_files::lookup(&host, &repository, &keys, only.as_deref())
    })
    .await
    .map_err(|e| Error::Auth(format!("looking up credentials: {e}")))?
}

/// Which of a command's images `--user` goes to: those fetched from the same host as the
/// first. For each image left out, a note for the user says why it goes without.
pub(crate) fn user_applies(
    names: &[&ImageName],
    endpoint: Option<&str>,
) -> Result<(Vec<bool>, Vec<String>)> {
    let Some(first) = names.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let first_host = contacted_host(first, endpoint)?;
    let mut applies = Vec::with_capacity(names.len());
    let mut notes = Vec::new();
    for name in names {
        let host = contacted_host(name, endpoint)?;
        let same = host.eq_ignore_ascii_case(&first_host);
        if !same {
            notes.push(format!(
                "--user is the login for {first_host} (the first image's registry); not \
                 sending it to {host} for {}/{} (its auth-file login is used, if any)",
                name.registry, name.repository
            ));
        }
        applies.push(same);
    }
    Ok((applies, notes))
}

/// What [`login()`] did.
#[derive(Clone, Debug)]
pub struct LoginReport {
    /// The registry, settled by its adapter.
    pub host: LoginHost,
    /// What the registry said of the login.
    pub checked: Checked,
    /// Where the login is kept.
    pub stored: Place,
}

/// Logs in to `host` as `docker login` does: checks `credentials` with the registry, then
/// keeps them in `opts.auth_file`, else Docker's `config.json` (see [`docker_config`]).
/// `opts.adapter` and `opts.endpoint` choose the adapter and where the check goes, as for a
/// pull; `opts.credentials` is not used. Nothing is stored when the registry refuses.
pub async fn login(
    host: &str,
    credentials: &Credentials,
    opts: &crate::RegistryOptions,
) -> Result<LoginReport> {
    let adapter = opts
        .adapter
        .clone()
        .or_else(|| configured_adapter(host, &opts.config));
    let host = LoginHost::resolve(host, adapter.as_deref(), opts.endpoint.as_deref())?;
    let path = match &opts.auth_file {
        Some(p) => p.clone(),
        None => docker_config::default_path()?,
    };
    let checked = check(&host, credentials, opts).await?;
    let (stored_host, stored_credentials) = (host.clone(), credentials.clone());
    // Reading and writing files and running a credential helper: not on the async threads.
    let stored = tokio::task::spawn_blocking(move || {
        docker_config::save(&stored_host, &stored_credentials, &path)
    })
    .await
    .map_err(|e| Error::Auth(format!("storing the login: {e}")))??;
    Ok(LoginReport {
        host,
        checked,
        stored,
    })
}

/// Removes the login for `host` from `auth_file`, else Docker's `config.json`: its credential
/// helper's, and every entry a lookup for `host` would find in that file. `adapter` chooses
/// the adapter, as `--registry` does. Not logged in is [`Error::NotLoggedIn`].
pub fn logout(
    host: &str,
    adapter: Option<&str>,
    auth_file: Option<&std::path::Path>,
    config: &crate::RegistryConfig,
) -> Result<(LoginHost, Place)> {
    let adapter = adapter
        .map(String::from)
        .or_else(|| configured_adapter(host, config));
    let host = LoginHost::resolve(host, adapter.as_deref(), None)?;
    let path = match auth_file {
        Some(p) => p.to_path_buf(),
        None => docker_config::default_path()?,
    };
    let place = docker_config::remove(&host, &path)?;
    Ok((host, place))
}

/// The adapter the config file names for the host in `input` (`drag login HOST`), as it
/// would for a pull from that host: a self-hosted Harbor keeps its login under its adapter's
/// keys without `--registry` each time.
fn configured_adapter(input: &str, config: &crate::RegistryConfig) -> Option<String> {
    let (host, _) = host::split(input).ok()?;
    config.for_host(&host)?.adapter.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(registry: &str) -> ImageName {
        ImageName {
            registry: registry.into(),
            repository: "team/app".into(),
            familiar: format!("{registry}/team/app"),
        }
    }

    #[test]
    fn endpoint_is_the_contacted_host_with_its_port() {
        let hub = name("docker.io");
        assert_eq!(contacted_host(&hub, None).unwrap(), "docker.io");
        let mirror = Some("http://127.0.0.1:5000/prefix");
        assert_eq!(contacted_host(&hub, mirror).unwrap(), "127.0.0.1:5000");
        let bare = Some("mirror.example");
        assert_eq!(contacted_host(&hub, bare).unwrap(), "mirror.example");
        // The scheme's default port is not spelled in auth-file keys.
        let tls = Some("https://mirror.example:443/");
        assert_eq!(contacted_host(&hub, tls).unwrap(), "mirror.example");
    }

    #[test]
    fn user_goes_only_to_images_on_the_first_images_host() {
        let (a, b, a2) = (name("a.example"), name("b.example"), name("A.example"));
        let (applies, notes) = user_applies(&[&a, &b, &a2], None).unwrap();
        assert_eq!(applies, [true, false, true]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("a.example") && notes[0].contains("b.example/team/app"));
        // Through one endpoint every image goes to one host: --user goes with each.
        let (applies, notes) = user_applies(&[&a, &b], Some("http://127.0.0.1:5000")).unwrap();
        assert_eq!(applies, [true, true]);
        assert!(notes.is_empty());
    }
}
