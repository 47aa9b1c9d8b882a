//! Errors that say what to do: each hint drag ends an error with, met the way a user meets it
//! (a name that does not resolve, a refused port, TLS to a plain-HTTP registry, a missing
//! login, a refused password, a repository that is not there), asserting the hint's words.

use std::time::{Duration, Instant};

use base64::Engine as _;
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::{
    drag, free_port, run, AuthMode, Compression, DragOutput, FakeRegistry, Fault, Image,
    ImageBuilder, LayerBuilder,
};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", "hello\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// The last line of stderr: the error.
fn error_line(out: &DragOutput) -> &str {
    out.stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
}

fn retry_lines(out: &DragOutput) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.starts_with("drag: retrying in "))
        .collect()
}

/// `drag pull --endpoint URL team/app:1` with `extra` arguments first, in a fresh directory.
fn pull_from(endpoint: &str, extra: &[&str]) -> DragOutput {
    let dir = fresh_dir("hints-");
    let mut args = extra.to_vec();
    args.extend(["--endpoint", endpoint, "-o", "out.tar", "team/app:1"]);
    let out = pull(&dir, &args);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(!dir.join("out.tar").exists());
    out
}

fn how_to_log_in(host: &str) -> String {
    format!("`drag login {host}` (or podman's or docker's), or --user USER:PASSWORD")
}

/// The hint for a remote host when no proxy variable is set (the test environment has none).
fn network_hint(host: &str) -> String {
    format!(
        "{host} does not resolve: check the network; behind a proxy, set HTTPS_PROXY; or use \
         --endpoint URL for a mirror"
    )
}

#[test]
fn a_name_that_does_not_resolve_fails_at_once_saying_to_check_the_network() {
    let dir = fresh_dir("unresolved-");
    // The first test to run builds drag: not to be timed.
    drag_tests::drag_bin();
    let started = Instant::now();
    let out = pull(&dir, &["-o", "out.tar", "nonexistent.invalid/team/app:1"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    // Five retries with backoff, for the manifest's HEAD and then its GET, took 16 s before.
    // Now the name is asked twice, half a second apart; the bound leaves room for a resolver
    // that loses a query (5 s each), the count below is the real check.
    assert!(
        took < Duration::from_secs(12),
        "took {took:?}: {}",
        out.stderr
    );
    let retries = retry_lines(&out);
    assert_eq!(retries.len(), 1, "one quick retry: {}", out.stderr);
    assert!(
        retries[0].starts_with("drag: retrying in 0.")
            && retries[0].ends_with(" (1/1): name does not resolve (nonexistent.invalid)"),
        "{}",
        retries[0]
    );
    let line = error_line(&out);
    assert!(line.starts_with("drag: error: "), "{line}");
    assert!(line.contains(" after 2 attempts in "), "{line}");
    assert!(
        line.ends_with(&format!(": {}", network_hint("nonexistent.invalid"))),
        "{line}"
    );
}

#[test]
fn a_refused_connection_is_retried_visibly_then_asks_whether_the_registry_runs() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = pull_from(&endpoint, &["--retries", "2"]);
    let retries = retry_lines(&out);
    // One line per retry of the manifest request, and no second round for a GET after the
    // HEAD that met the same refusal.
    assert_eq!(retries.len(), 2, "{}", out.stderr);
    for (i, line) in retries.iter().enumerate() {
        assert!(
            line.ends_with(&format!(
                " s ({}/2): connection refused (127.0.0.1:{port})",
                i + 1
            )),
            "{line}"
        );
    }
    let line = error_line(&out);
    assert!(line.contains(" after 3 attempts in "), "{line}");
    assert!(
        line.ends_with(&format!(
            ": nothing answers at 127.0.0.1:{port}: is the registry running?"
        )),
        "{line}"
    );

    // -q silences the retries, not the error.
    let quiet = pull_from(&endpoint, &["-q", "--retries", "1"]);
    assert!(retry_lines(&quiet).is_empty(), "{}", quiet.stderr);
    assert!(
        error_line(&quiet).ends_with("is the registry running?"),
        "{}",
        quiet.stderr
    );
}

#[test]
fn tls_to_a_plain_http_registry_says_to_use_http() {
    let registry = FakeRegistry::start();
    registry.push_image("team/app", "1", &image());
    let host = registry.host();
    let out = pull_from(&format!("https://{host}"), &[]);
    // A handshake that failed once fails again: no retries.
    assert!(retry_lines(&out).is_empty(), "{}", out.stderr);
    let line = error_line(&out);
    assert!(
        line.ends_with(&format!(
            ": {host} speaks plain HTTP: use http://{host} (loopback, or with --insecure)"
        )),
        "{line}"
    );
}

#[test]
fn endpoint_help_says_a_url_without_a_scheme_means_https() {
    let out = run(drag().args(["pull", "--help"]));
    out.assert_success();
    let help = out
        .stdout_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("A URL without a scheme (`mirror.example:5000`) means https"),
        "{help}"
    );
}

#[test]
fn a_registry_wanting_a_login_says_how_to_log_in() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "me".into(),
            pass: "right".into(),
        })
        .start();
    registry.push_image("team/app", "1", &image());
    let host = registry.host();
    let out = pull_from(&registry.url(), &[]);
    let line = error_line(&out);
    assert!(line.contains("HTTP 401"), "{line}");
    assert!(
        line.ends_with(&format!(": {host} wants a login: {}", how_to_log_in(&host))),
        "{line}"
    );
}

#[test]
fn a_token_service_refusing_anonymous_access_says_how_to_log_in() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image());
    registry.fault(Fault::TokenStatus {
        status: 401,
        times: 100,
    });
    let host = registry.host();
    let out = pull_from(&registry.url(), &[]);
    let line = error_line(&out);
    assert!(
        line.contains("token for repository:team/app:pull"),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(": {host} wants a login: {}", how_to_log_in(&host))),
        "{line}"
    );
}

#[test]
fn a_wrong_password_reads_as_refused_credentials_from_user() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "me".into(),
            pass: "right".into(),
        })
        .start();
    registry.push_image("team/app", "1", &image());
    let host = registry.host();
    let out = pull_from(&registry.url(), &["--user", "me:wrong"]);
    let line = error_line(&out);
    assert!(
        line.ends_with(&format!(
            ": the registry refused the credentials for {host} from --user (user me): check \
             the password, or log in again with `drag login {host}`"
        )),
        "{line}"
    );
}

#[test]
fn a_token_service_refusing_a_login_names_the_auth_file_it_came_from() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image());
    registry.fault(Fault::TokenStatus {
        status: 401,
        times: 100,
    });
    let host = registry.host();
    let dir = fresh_dir("hints-authfile-");
    let auth_file = dir.join("auth.json");
    let auth = base64::engine::general_purpose::STANDARD.encode("me:wrong");
    std::fs::write(
        &auth_file,
        serde_json::json!({"auths": {host.clone(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let out = run(pull_command(&dir)
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .args(["--endpoint", &registry.url(), "-o", "out.tar", "team/app:1"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = error_line(&out);
    assert!(
        line.contains(&format!(
            ": the registry refused the credentials for {host} from {} (user me): check the \
             password",
            auth_file.display()
        )),
        "{line}"
    );
}

#[test]
fn docker_hubs_401_for_a_missing_repository_says_it_may_not_exist_or_be_private() {
    // Docker Hub grants an anonymous token for any repository, then answers 401 "authentication
    // required" for one that does not exist or is private.
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image());
    registry.fault(Fault::ManifestErrors {
        status: 401,
        errors: vec![("UNAUTHORIZED".into(), "authentication required".into())],
        times: 100,
    });
    let host = registry.host();
    let out = pull_from(&registry.url(), &[]);
    let line = error_line(&out);
    assert!(
        line.contains("UNAUTHORIZED: authentication required"),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            ": no such repository, or it is private: log in if it is yours ({})",
            how_to_log_in(&host)
        )),
        "{line}"
    );
}

#[test]
fn a_repository_the_registry_does_not_know_reads_as_no_such_repository() {
    let registry = FakeRegistry::start();
    registry.push_image("team/app", "1", &image());
    let host = registry.host();
    let out = run(drag().args(["tags", "--endpoint", &registry.url(), "team/nope"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = error_line(&out);
    assert!(line.contains("NAME_UNKNOWN"), "{line}");
    assert!(
        line.ends_with(&format!(
            ": no such repository, or it is private: log in if it is yours ({})",
            how_to_log_in(&host)
        )),
        "{line}"
    );
}

#[test]
fn a_login_the_registry_still_refuses_for_a_repository_says_which_and_why() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image());
    registry.fault(Fault::ManifestErrors {
        status: 401,
        errors: vec![("UNAUTHORIZED".into(), "authentication required".into())],
        times: 100,
    });
    let host = registry.host();
    let out = pull_from(&registry.url(), &["--user", "me:pw"]);
    let line = error_line(&out);
    assert!(
        line.ends_with(&format!(
            ": the registry refused the credentials for {host} from --user (user me) for this \
             repository: there is no such repository, or me may not pull it, or the password \
             is wrong"
        )),
        "{line}"
    );
}

/// The network hint says to set HTTPS_PROXY: drag must honour it for an https registry (the
/// HTTP_PROXY side is in `proxy.rs`). A listener playing the proxy sees drag's CONNECT for the
/// registry's host, and refuses it.
#[test]
fn https_proxy_named_by_the_hint_is_honoured_for_https_registries() {
    use std::io::{BufRead, BufReader, Write};
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (conn, _) = proxy.accept().unwrap();
        let mut first = String::new();
        BufReader::new(&conn).read_line(&mut first).unwrap();
        let _ = (&conn).write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        first
    });
    let dir = fresh_dir("hints-proxy-");
    let out = run(pull_command(&dir)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .args([
            "--retries",
            "0",
            "-o",
            "out.tar",
            "registry.invalid/team/app:1",
        ]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let first = seen.join().unwrap();
    assert!(
        first.starts_with("CONNECT registry.invalid:443 HTTP/1.1"),
        "{first:?}"
    );
    // The proxy refused the tunnel: the hint says so, naming the variable.
    assert!(
        error_line(&out).ends_with(
            ": the proxy in HTTPS_PROXY would not connect to registry.invalid: check the \
             proxy, or exempt registry.invalid with NO_PROXY"
        ),
        "{}",
        out.stderr
    );
}
