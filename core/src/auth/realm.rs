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
use crate::http::policy::is_loopback_host;

/// Refuses to send the credentials for `registry` to the token service at `realm` when the
/// rule above forbids it. `insecure` (certificates not verified) makes an https realm on
/// another host no safer than plain HTTP: whoever answers for that host would get them.
pub fn check_realm(registry: &Url, realm: &Url, insecure: bool) -> Result<()> {
    let realm_host = realm.host_str().unwrap_or_default();
    if is_loopback_host(realm_host) {
        return Ok(());
    }
    let same_host = registry
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(realm_host));
    if realm.scheme() == "https" {
        if insecure && !same_host {
            return Err(Error::Refused {
                url: crate::redacted::RedactedUrl::new(realm).to_string(),
                reason: format!(
                    "not sending the credentials for {} to a token service on another host \
                     while --insecure turns certificate checks off",
                    registry.host_str().unwrap_or_default()
                ),
            });
        }
        return Ok(());
    }
    // Same host, and the registry itself is already spoken to in the clear (`--insecure`):
    // the realm learns nothing the registry's Basic challenge would not.
    if same_host && registry.scheme() == realm.scheme() {
        return Ok(());
    }
    Err(Error::Refused {
        url: crate::redacted::RedactedUrl::new(realm).to_string(),
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
        assert!(check_realm(&hub, &url("https://auth.docker.io/token"), false).is_ok());
        let plain = url("http://registry.internal:5000/");
        assert!(check_realm(&plain, &url("https://auth.internal/token"), false).is_ok());
    }

    #[test]
    fn plain_http_realm_on_another_host_is_refused() {
        let registry = url("http://registry.internal:5000/");
        let e = check_realm(&registry, &url("http://evil.example/token"), false).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("evil.example"), "{msg}");
        assert!(msg.contains("registry.internal"), "{msg}");
        assert!(msg.contains("https"), "{msg}");
        let tls = url("https://registry.example/");
        assert!(check_realm(&tls, &url("http://auth.example/token"), false).is_err());
    }

    #[test]
    fn plain_http_realm_downgrading_the_registry_is_refused() {
        let tls = url("https://registry.example/");
        let e = check_realm(&tls, &url("http://registry.example:8080/token"), false).unwrap_err();
        assert!(e.to_string().contains("downgrades"), "{e}");
    }

    #[test]
    fn plain_http_realm_is_allowed_on_loopback_or_the_same_plain_host() {
        let remote = url("http://registry.internal:5000/");
        assert!(check_realm(&remote, &url("http://127.0.0.1:9000/token"), false).is_ok());
        assert!(check_realm(&remote, &url("http://localhost/token"), false).is_ok());
        assert!(check_realm(&remote, &url("http://[::1]:9000/token"), false).is_ok());
        assert!(check_realm(&remote, &url("http://REGISTRY.internal:5001/token"), false).is_ok());
    }

    #[test]
    fn https_realm_on_another_host_is_refused_when_certificates_are_not_checked() {
        let registry = url("https://registry.example/");
        let e = check_realm(&registry, &url("https://auth.example/token"), true).unwrap_err();
        assert!(e.to_string().contains("--insecure"), "{e}");
        assert!(check_realm(&registry, &url("https://registry.example/token"), true).is_ok());
        assert!(check_realm(&registry, &url("https://127.0.0.1/token"), true).is_ok());
    }
}
