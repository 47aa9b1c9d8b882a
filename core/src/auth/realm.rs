//! Whether a token service may receive the user's credentials.
//!
//! A Bearer challenge names its token service (the realm) by URL, and the registry chooses
//! that URL: a hostile or misconfigured registry can point it anywhere. Docker Hub's realm is
//! on another host (`auth.docker.io`) but over https, so the rule cannot be "same host only".
//! The rule is: a realm on the registry's own host gets the credentials over the registry's
//! own scheme or better; a realm on another host gets them only over https, or on loopback
//! (which never leaves the machine). Plain HTTP to another host is only reachable with
//! `--insecure`, and even then the password is not sent there.

use url::Url;

use crate::error::{Error, Result};
use crate::transport::{self, is_loopback_host};

/// Refuses to send the credentials for `registry` to the token service at `realm` when the
/// rule above forbids it.
pub fn check_realm(registry: &Url, realm: &Url) -> Result<()> {
    if realm.scheme() == "https" {
        return Ok(());
    }
    let realm_host = realm.host_str().unwrap_or_default();
    if is_loopback_host(realm_host) {
        return Ok(());
    }
    // Same host, and the registry itself is already spoken to in the clear (`--insecure`):
    // the realm learns nothing the registry's Basic challenge would not.
    let same_host = registry
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(realm_host));
    if same_host && registry.scheme() == realm.scheme() {
        return Ok(());
    }
    Err(Error::Refused {
        url: transport::redacted(realm),
        reason: format!(
            "not sending the credentials for {} to a token service {} over plain HTTP; they go \
             to another host only over https (or to loopback)",
            registry.host_str().unwrap_or_default(),
            if same_host {
                "that downgrades"
            } else {
                "on another host"
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_realms_get_credentials_wherever_they_are() {
        let hub = url("https://registry-1.docker.io/");
        assert!(check_realm(&hub, &url("https://auth.docker.io/token")).is_ok());
        let plain = url("http://registry.internal:5000/");
        assert!(check_realm(&plain, &url("https://auth.internal/token")).is_ok());
    }

    #[test]
    fn plain_http_realm_on_another_host_is_refused() {
        let registry = url("http://registry.internal:5000/");
        let e = check_realm(&registry, &url("http://evil.example/token")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("evil.example"), "{msg}");
        assert!(msg.contains("registry.internal"), "{msg}");
        assert!(msg.contains("https"), "{msg}");
        let tls = url("https://registry.example/");
        assert!(check_realm(&tls, &url("http://auth.example/token")).is_err());
    }

    #[test]
    fn plain_http_realm_downgrading_the_registry_is_refused() {
        let tls = url("https://registry.example/");
        let e = check_realm(&tls, &url("http://registry.example:8080/token")).unwrap_err();
        assert!(e.to_string().contains("downgrades"), "{e}");
    }

    #[test]
    fn plain_http_realm_is_allowed_on_loopback_or_the_same_plain_host() {
        let remote = url("http://registry.internal:5000/");
        assert!(check_realm(&remote, &url("http://127.0.0.1:9000/token")).is_ok());
        assert!(check_realm(&remote, &url("http://localhost/token")).is_ok());
        assert!(check_realm(&remote, &url("http://[::1]:9000/token")).is_ok());
        assert!(check_realm(&remote, &url("http://REGISTRY.internal:5001/token")).is_ok());
    }
}
