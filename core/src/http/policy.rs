//! Where a request may go: plain HTTP only where it is safe, credentials only to the origin
//! they belong to, and no way for a remote registry to point drag at this machine's own
//! services. The redirect and auth layers, the token fetch and tag-list pagination all ask here.

use std::net::IpAddr;

use url::Url;

use crate::error::{Error, Result};
use crate::redacted::RedactedUrl;

/// True for hosts that never leave the machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses URLs we must not talk to: non-http(s) schemes, and plain HTTP to a remote host
/// unless the user said `--insecure`.
pub fn check_url(url: &Url, insecure: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if insecure || url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(Error::Refused {
            url: RedactedUrl::new(url).to_string(),
            reason: "plain HTTP is only used for loopback hosts or with --insecure".into(),
        }),
        other => Err(Error::Refused {
            url: RedactedUrl::new(url).to_string(),
            reason: format!("unsupported URL scheme {other:?}"),
        }),
    }
}

/// Refuses a URL on another host that the registry at `base` sends us to (a redirect, a
/// foreign layer's `urls`): besides [`check_url`]'s scheme rules, a registry that is not on this
/// machine may not send drag to this machine's own services, which often trust loopback callers.
pub fn check_other_host(base: &Url, url: &Url, insecure: bool) -> Result<()> {
    check_url(url, insecure)?;
    let on_loopback = |u: &Url| u.host_str().is_some_and(is_loopback_host);
    if on_loopback(url) && !on_loopback(base) {
        return Err(Error::Refused {
            url: RedactedUrl::new(url).to_string(),
            reason: format!(
                "{} may not send drag to a loopback address",
                base.host_str().unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// True if two URLs share scheme, host and port: only then may credentials follow a redirect.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_insecure() {
        let ok = [
            "http://127.0.0.1:5000/v2/",
            "http://localhost/v2/",
            "http://[::1]:80/",
            "https://example.com/",
        ];
        for u in ok {
            check_url(&Url::parse(u).unwrap(), false).unwrap();
        }
        let remote = Url::parse("http://example.com/v2/").unwrap();
        assert!(check_url(&remote, false).is_err());
        check_url(&remote, true).unwrap();
        assert!(check_url(&Url::parse("file:///etc/passwd").unwrap(), true).is_err());
    }

    #[test]
    fn only_a_registry_on_loopback_may_send_drag_to_loopback() {
        let url = |s: &str| Url::parse(s).unwrap();
        let remote = url("https://registry.example/");
        let local = url("http://127.0.0.1:5000/");
        for target in [
            "http://127.0.0.1:8080/admin",
            "https://localhost/x",
            "http://[::1]/",
        ] {
            assert!(
                check_other_host(&remote, &url(target), true).is_err(),
                "{target}"
            );
            check_other_host(&local, &url(target), false).unwrap();
        }
        check_other_host(&remote, &url("https://cdn.example/blob"), false).unwrap();
        check_other_host(&local, &url("https://cdn.example/blob"), false).unwrap();
        assert!(check_other_host(&remote, &url("http://cdn.example/blob"), false).is_err());
    }
}
