//! What `drag login HOST` means by HOST: the adapter that claims it, the key its login is
//! stored under, and where to check it.
//!
//! Users type a registry as they would for `docker login`: `docker.io`, `ghcr.io`,
//! `localhost:5000`, or a URL (`https://registry.example:5000`, Docker Hub's
//! `https://index.docker.io/v1/`). The adapter decides the rest: Docker Hub's login is stored
//! under `https://index.docker.io/v1/` and checked at `registry-1.docker.io`.

use std::fmt;

use crate::adapter::{self, Adapter, ImageName};
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::registry::endpoint_url;

/// A registry to log in to, settled by its adapter.
#[derive(Clone)]
pub struct LoginHost {
    /// The adapter claiming the host.
    pub(crate) adapter: &'static dyn Adapter,
    /// `host[:port]` as typed (lowercased), for messages and the `--endpoint` rule.
    pub host: String,
    /// The keys auth files and credential helpers know this registry by, canonical first:
    /// a login is stored under the first, and a logout removes them all.
    pub keys: Vec<String>,
    /// The base URL the check goes to.
    pub endpoint: String,
    /// True when HOST named no scheme: a loopback (or `--insecure`) registry may then turn out
    /// to speak plain HTTP, as for a pull.
    pub probe_scheme: bool,
}

impl fmt::Debug for LoginHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginHost")
            .field("adapter", &self.adapter.name())
            .field("host", &self.host)
            .field("keys", &self.keys)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl LoginHost {
    /// Settles `input` with the adapter claiming it (or the one named `adapter`, as
    /// `--registry` does); `endpoint` (as `--endpoint`) replaces where the check goes.
    pub fn resolve(
        input: &str,
        adapter: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<LoginHost> {
        let (host, scheme) = split(input)?;
        let adapter = match adapter {
            Some(name) => adapter::by_name(name)?,
            None => adapter::for_registry_host(&host)?,
        };
        let name = image_name(adapter, &host)?;
        let keys = adapter.credential_keys(&name);
        if keys.is_empty() {
            return Err(Error::Usage(format!(
                "adapter {} names no key to store a login for {host} under",
                adapter.name()
            )));
        }
        let (endpoint, probe_scheme) = match (endpoint, scheme) {
            (Some(e), _) => (e.to_string(), false),
            // Plain HTTP asked for by name: go there (URL policy still applies).
            (None, Some("http")) => (format!("http://{host}"), false),
            (None, Some(_)) => (adapter.endpoint(&name), false),
            (None, None) => (adapter.endpoint(&name), true),
        };
        Ok(LoginHost {
            adapter,
            host,
            keys,
            endpoint,
            probe_scheme,
        })
    }

    /// The adapter's name (`dockerhub`, `oci`).
    pub fn adapter_name(&self) -> &'static str {
        self.adapter.name()
    }
}

/// `host[:port]` (lowercased) and the scheme, if the input named one.
pub(crate) fn split(input: &str) -> Result<(String, Option<&'static str>)> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::Usage("no registry host given".into()));
    }
    let (authority, scheme) = if input.contains("://") {
        let url = endpoint_url(input)?;
        let scheme = match url.scheme() {
            "https" => "https",
            "http" => "http",
            other => {
                return Err(Error::Usage(format!(
                    "{input:?}: a registry is reached over http or https, not {other}"
                )))
            }
        };
        let host = url.host_str().unwrap_or_default().to_string();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        (authority, Some(scheme))
    } else {
        let authority = input.split('/').next().unwrap_or_default().to_string();
        // Checked as a URL would be: no user info, no odd characters.
        let url = endpoint_url(&format!("https://{authority}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Usage(format!(
                "{input:?}: give the user name with --username, not in the host"
            )));
        }
        (authority, None)
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::Usage(format!("{input:?} names no registry host")));
    }
    Ok((authority.to_ascii_lowercase(), scheme))
}

/// The name the adapter gives the registry, through the same normalizing as an image on it
/// would get (Docker Hub's aliases become `docker.io`). A host a reference would not read as
/// one (`myregistry`, without a dot or port) is taken as it is, as `docker login` takes it.
fn image_name(adapter: &'static dyn Adapter, host: &str) -> Result<ImageName> {
    if let Ok(reference) = Reference::parse(&format!("{host}/drag-login")) {
        if reference
            .domain()
            .is_some_and(|d| d.eq_ignore_ascii_case(host))
        {
            return Ok(adapter.normalize(&reference)?.name);
        }
    }
    Ok(ImageName {
        registry: host.to_string(),
        repository: String::new(),
        familiar: host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_urls_split_into_authority_and_scheme() {
        assert_eq!(split("ghcr.io").unwrap(), ("ghcr.io".into(), None));
        assert_eq!(
            split("LocalHost:5000").unwrap(),
            ("localhost:5000".into(), None)
        );
        assert_eq!(
            split("https://index.docker.io/v1/").unwrap(),
            ("index.docker.io".into(), Some("https"))
        );
        assert_eq!(
            split("http://127.0.0.1:5000").unwrap(),
            ("127.0.0.1:5000".into(), Some("http"))
        );
        assert_eq!(split("quay.io/team/app").unwrap(), ("quay.io".into(), None));
        assert!(split("").is_err());
        assert!(split("ftp://host").is_err());
        assert!(split("user:pw@host").is_err());
    }
}
