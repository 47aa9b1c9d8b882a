//! What to do about a failure, in words: every hint an error ends with is written here, so
//! messages that send the user somewhere send them the same way, and the README can quote one
//! place.
//!
//! The facts a hint needs are gathered where they are known: the wire knows why a request got
//! no answer ([`crate::http::no_answer`]), the auth layer knows whether credentials were sent
//! and where they came from ([`Access`]), the error document knows the registry's code.

use crate::http::no_answer::NoAnswer;
use crate::http::tls_trouble::TlsTrouble;

/// What the auth layer knows about a request the registry refused: for whom to log in, and
/// what was sent.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    /// The host a login is for (`docker.io`, or the `--endpoint` host), as `podman login`
    /// and the auth files name it.
    pub login_host: String,
    /// The configured login, if any: its user name and where it was found.
    pub login: Option<Login>,
    /// What the refused request carried.
    pub sent: Sent,
    /// How to log in to this registry when its adapter knows a better way than `podman
    /// login` (ECR's `aws ecr get-login-password | drag login ...`); see
    /// [`crate::auth::Authenticator::how_to_log_in`].
    pub how: Option<String>,
    /// Whether the session was uploading (its scopes ask for `push`): a refusal then means
    /// the login may not write, not that the repository is missing.
    pub pushing: bool,
}

/// A configured login, as messages name it.
#[derive(Clone, Debug)]
pub(crate) struct Login {
    /// The user name.
    pub user: String,
    /// Where it came from (`--user`, an auth file, a credential helper).
    pub from: String,
}

/// What a request carried in `Authorization`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Nothing: the registry's challenge could not be answered.
    Nothing,
    /// A token from the token service.
    Token,
    /// The login itself (Basic).
    Basic,
}

/// How to log in to the registry `access` names, for the end of a hint: the adapter's way if
/// it has one, else the usual commands.
fn how_to_log_in(access: &Access) -> String {
    let host = &access.login_host;
    match &access.how {
        Some(how) => how.clone(),
        None => format!("`drag login {host}` (or podman's or docker's), or --user USER:PASSWORD"),
    }
}

/// A registry wants a login and none is configured.
pub(crate) fn needs_login(access: &Access) -> String {
    format!(
        "{} wants a login: {}",
        access.login_host,
        how_to_log_in(access)
    )
}

/// A repository the registry says it does not have, or will not show without a login (Docker
/// Hub answers 401 for both).
pub(crate) fn no_such_repository(access: &Access) -> String {
    format!(
        "no such repository, or it is private: log in if it is yours ({})",
        how_to_log_in(access)
    )
}

/// A login the token service or the registry refused outright.
pub(crate) fn credentials_refused(access: &Access, login: &Login) -> String {
    let host = &access.login_host;
    let again = match &access.how {
        Some(how) => format!("log in again: {how}"),
        None => format!("log in again with `drag login {host}`"),
    };
    format!(
        "the registry refused the credentials for {host} from {} (user {}): check the password, \
         or {again}",
        login.from, login.user
    )
}

/// A login the token service accepted, with which the registry still refused the repository.
fn login_not_enough(host: &str, login: &Login) -> String {
    format!(
        "the registry refused the credentials for {host} from {} (user {}) for this repository: \
         there is no such repository, or {} may not pull it, or the password is wrong",
        login.from, login.user, login.user
    )
}

/// An upload refused without a login: pushing needs one, whoever may pull.
fn push_needs_login(access: &Access) -> String {
    format!(
        "pushing to {} needs a login: {}",
        access.login_host,
        how_to_log_in(access)
    )
}

/// An upload refused with a login the token service accepted: it may read, not write.
fn push_not_allowed(host: &str, login: &Login) -> String {
    format!(
        "the registry did not let {} (from {}) push to this repository on {host}: the login          may pull but not push here (ask for write access), or the password is wrong",
        login.user, login.from
    )
}

/// A registry that will not create the repository an upload names.
fn push_repository_unknown() -> String {
    "the registry does not have this repository and did not create it: create it (or its      project or namespace) on the registry first, or check the name"
        .to_string()
}

/// A registry refused a manifest that names layers by URL (Windows base layers).
pub(crate) fn foreign_urls_refused() -> String {
    "the manifest names foreign layers by URL, which this registry may not accept: its \
     administrator can allow those URLs (distribution: validation.manifests.urls.allow), or \
     choose a registry that takes them"
        .to_string()
}

/// The hint for the token service's refusal (401 or 403) of a token.
pub(crate) fn token_refused(access: &Access) -> String {
    match &access.login {
        Some(login) => credentials_refused(access, login),
        None => needs_login(access),
    }
}

/// The hint for a registry's error answer, from its status, its first error code and what the
/// auth layer knows about the request.
pub(crate) fn for_refusal(
    access: Option<&Access>,
    status: u16,
    code: Option<&str>,
) -> Option<String> {
    let access = access?;
    let host = access.login_host.as_str();
    if code == Some("NAME_UNKNOWN") {
        return Some(match access.pushing {
            true => push_repository_unknown(),
            false => no_such_repository(access),
        });
    }
    if status != 401 {
        return None;
    }
    if access.pushing {
        return Some(match (&access.login, access.sent) {
            (None, _) => push_needs_login(access),
            (Some(login), Sent::Token) => push_not_allowed(host, login),
            (Some(login), _) => credentials_refused(access, login),
        });
    }
    Some(match (&access.login, access.sent) {
        (None, Sent::Token) => no_such_repository(access),
        (None, _) => needs_login(access),
        (Some(login), Sent::Token) => login_not_enough(host, login),
        (Some(login), _) => credentials_refused(access, login),
    })
}

/// The hint for a request that got no answer, with the host named: where the failure says
/// what to do (a name that does not resolve, a refused or silent connection, TLS trouble).
pub(crate) fn no_answer(why: NoAnswer, scheme: &str, host: &str, loopback: bool) -> Option<String> {
    Some(match why {
        NoAnswer::Tls(TlsTrouble::UntrustedServer) => "the registry's certificate is not \
             trusted: give its CA with --cert-dir DIR or in certs.d/HOST:PORT/ca.crt (see the \
             README), or use --insecure"
            .to_string(),
        NoAnswer::Tls(TlsTrouble::ClientCertificate) => "the registry refused our client \
             certificate or wants one: put NAME.cert and NAME.key in --cert-dir DIR or \
             certs.d/HOST:PORT (see the README)"
            .to_string(),
        NoAnswer::Tls(TlsTrouble::NotTls) => plain_http(host),
        NoAnswer::Unresolved => format!("{host} does not resolve: {}", network(scheme)),
        NoAnswer::Refused if loopback => {
            format!("nothing answers at {host}: is the registry running?")
        }
        NoAnswer::Proxy => format!(
            "the proxy in {} would not connect to {host}: check the proxy, or exempt {host} \
             with NO_PROXY",
            proxy_var(scheme)
        ),
        NoAnswer::Refused | NoAnswer::Reset | NoAnswer::TimedOut => {
            format!("{host} cannot be reached: {}", network(scheme))
        }
        // Under TLS 1.3 a server refuses a missing client certificate only after the client
        // has finished its side of the handshake; when its alert beats our request, all that
        // reaches us is a connection that closed before answering.
        NoAnswer::Closed if scheme == "https" => "the registry closed the connection before \
             answering: if it wants a client certificate, put NAME.cert and NAME.key in \
             --cert-dir DIR or certs.d/HOST:PORT (see the README)"
            .to_string(),
        _ => return None,
    })
}

/// A TLS handshake answered in plain text.
pub(crate) fn plain_http(host: &str) -> String {
    format!("{host} speaks plain HTTP: use http://{host} (loopback, or with --insecure)")
}

/// The proxy variable for `scheme`.
fn proxy_var(scheme: &str) -> &'static str {
    if scheme == "http" {
        "HTTP_PROXY"
    } else {
        "HTTPS_PROXY"
    }
}

/// What to check when the network fails us. reqwest reads the proxy variables (as curl
/// does): name the one that applies, and whether it is already set.
fn network(scheme: &str) -> String {
    let var = proxy_var(scheme);
    let set = [var, &var.to_ascii_lowercase(), "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if set {
        format!(
            "check the network and the proxy in {var} (or ALL_PROXY), or use --endpoint URL \
             for a mirror"
        )
    } else {
        format!("check the network; behind a proxy, set {var}; or use --endpoint URL for a mirror")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(login: Option<&str>, sent: Sent) -> Access {
        Access {
            login_host: "registry.example".into(),
            login: login.map(|from| Login {
                user: "me".into(),
                from: from.into(),
            }),
            sent,
            how: None,
            pushing: false,
        }
    }

    #[test]
    fn a_missing_login_a_refused_login_and_a_missing_repository_read_differently() {
        let anonymous = for_refusal(Some(&access(None, Sent::Nothing)), 401, None).unwrap();
        assert!(
            anonymous.starts_with("registry.example wants a login: `drag login registry.example`"),
            "{anonymous}"
        );
        let hub = for_refusal(Some(&access(None, Sent::Token)), 401, Some("UNAUTHORIZED")).unwrap();
        assert!(
            hub.starts_with("no such repository, or it is private"),
            "{hub}"
        );
        let wrong = for_refusal(Some(&access(Some("--user"), Sent::Basic)), 401, None).unwrap();
        assert!(
            wrong.starts_with(
                "the registry refused the credentials for registry.example from --user (user me)"
            ),
            "{wrong}"
        );
        let unknown = for_refusal(
            Some(&access(Some("--user"), Sent::Token)),
            404,
            Some("NAME_UNKNOWN"),
        )
        .unwrap();
        assert!(unknown.starts_with("no such repository"), "{unknown}");
        let token = token_refused(&access(Some("/home/me/.docker/config.json"), Sent::Nothing));
        assert!(
            token.contains("from /home/me/.docker/config.json (user me)"),
            "{token}"
        );
        assert_eq!(token_refused(&access(None, Sent::Nothing)), anonymous);
        // Other refusals, and answers the auth layer did not see, get no hint.
        assert_eq!(
            for_refusal(
                Some(&access(None, Sent::Token)),
                404,
                Some("MANIFEST_UNKNOWN")
            ),
            None
        );
        assert_eq!(
            for_refusal(Some(&access(None, Sent::Token)), 403, Some("DENIED")),
            None
        );
        assert_eq!(for_refusal(None, 401, None), None);
    }

    #[test]
    fn a_refused_upload_asks_for_a_login_or_write_access_not_for_a_missing_repository() {
        let pushing = |login, sent| Access {
            pushing: true,
            ..access(login, sent)
        };
        let anonymous = for_refusal(Some(&pushing(None, Sent::Token)), 401, None).unwrap();
        assert!(
            anonymous.starts_with("pushing to registry.example needs a login: `drag login"),
            "{anonymous}"
        );
        let reader = for_refusal(Some(&pushing(Some("--user"), Sent::Token)), 401, None).unwrap();
        assert!(
            reader.starts_with("the registry did not let me (from --user) push to this repository"),
            "{reader}"
        );
        assert!(reader.contains("may pull but not push"), "{reader}");
        let wrong = for_refusal(Some(&pushing(Some("--user"), Sent::Basic)), 401, None).unwrap();
        assert!(wrong.contains("check the password"), "{wrong}");
        let unknown = for_refusal(
            Some(&pushing(Some("--user"), Sent::Token)),
            404,
            Some("NAME_UNKNOWN"),
        )
        .unwrap();
        assert!(unknown.contains("create it"), "{unknown}");
    }

    #[test]
    fn an_adapters_way_to_log_in_replaces_the_usual_commands() {
        let mut ecr = access(None, Sent::Nothing);
        ecr.how = Some("`aws ecr get-login-password | drag login ...`".into());
        let hint = for_refusal(Some(&ecr), 401, None).unwrap();
        assert_eq!(
            hint,
            "registry.example wants a login: `aws ecr get-login-password | drag login ...`"
        );
        ecr.login = Some(Login {
            user: "AWS".into(),
            from: "--user".into(),
        });
        ecr.sent = Sent::Basic;
        let hint = for_refusal(Some(&ecr), 401, None).unwrap();
        assert!(
            hint.ends_with("log in again: `aws ecr get-login-password | drag login ...`"),
            "{hint}"
        );
        assert!(!hint.contains("podman"), "{hint}");
    }

    #[test]
    fn a_remote_host_that_cannot_be_reached_gets_the_network_hint_and_loopback_the_registry_one() {
        for why in [NoAnswer::Refused, NoAnswer::Reset, NoAnswer::TimedOut] {
            let remote = no_answer(why, "https", "registry.example", false).unwrap();
            assert!(
                remote.starts_with("registry.example cannot be reached: check the network"),
                "{remote}"
            );
            assert!(remote.contains("HTTPS_PROXY"), "{remote}");
            assert!(remote.contains("--endpoint URL for a mirror"), "{remote}");
        }
        let plain = no_answer(NoAnswer::Refused, "http", "registry.example", false).unwrap();
        assert!(plain.contains("HTTP_PROXY"), "{plain}");
        let local = no_answer(NoAnswer::Refused, "http", "127.0.0.1:5000", true).unwrap();
        assert_eq!(
            local,
            "nothing answers at 127.0.0.1:5000: is the registry running?"
        );
        let tls = no_answer(
            NoAnswer::Tls(TlsTrouble::NotTls),
            "https",
            "127.0.0.1:5000",
            true,
        )
        .unwrap();
        assert_eq!(
            tls,
            "127.0.0.1:5000 speaks plain HTTP: use http://127.0.0.1:5000 (loopback, or with \
             --insecure)"
        );
        assert_eq!(
            no_answer(NoAnswer::Other, "https", "registry.example", false),
            None
        );
        assert_eq!(
            no_answer(NoAnswer::Closed, "http", "registry.example", false),
            None
        );
    }
}
