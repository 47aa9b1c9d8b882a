//! The HTTP layers (redirect, auth, retry, trace) seen from outside: the real `drag` binary
//! against the fake registry, its token service and its CDN.
//!
//! Each layer has unit tests in drag-core against a scripted server; these check that the
//! layers are composed the way a user meets them: every attempt traced once and redacted,
//! an expired CDN signature answered with a fresh one (once), errors that tell the attempts
//! and every diagnostic, token requests retried, and credentials kept off other hosts.

use drag_tests::archive::{assert_entries_hold_image, read_tar};
use drag_tests::drag_cli::{drag, fresh_dir, pull, pull_command};
use drag_tests::{
    free_port, run, AuthMode, Compression, FakeRegistry, Fault, Image, ImageBuilder, LayerBuilder,
    Listener,
};

const TRACE: &str = "drag: http: ";

/// A two-layer image: three blobs to fetch (config and layers).
fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("bin/tool", "#!tool\n", 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("etc/motd", vec![b'm'; 40_000], 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// Every digest the pull fetches as a blob.
fn blob_digests(image: &Image) -> Vec<String> {
    let mut digests = vec![image.config.digest.clone()];
    digests.extend(image.layers.iter().map(|l| l.blob.digest.clone()));
    digests
}

/// The trace's request lines (not the line naming the adapter a session uses).
fn trace_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with(TRACE) && !l.contains(": adapter "))
        .collect()
}

/// The one line of stderr that carries the error (`drag: error...` or the like).
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rfind(|l| !l.starts_with(TRACE) && !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn verbose_traces_each_attempt_once_without_secrets() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .cdn(true)
        .start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let dir = fresh_dir("trace-");
    let out = pull(
        &dir,
        &[
            "-v",
            "--endpoint",
            &registry.url(),
            "team/app:1",
            "-o",
            "out.tar",
        ],
    );
    out.assert_success();
    assert!(out.stdout.is_empty(), "stdout stays data-only");
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);

    let lines = trace_lines(&out.stderr);
    let requests = registry.requests();
    assert_eq!(
        lines.len(),
        requests.len(),
        "one trace line per request the registry, token service and CDN saw:\n{}\n{requests:#?}",
        out.stderr
    );

    let base = registry.url();
    let adapter = format!("{TRACE}docker.io/team/app:1: adapter dockerhub, endpoint {base}");
    assert_eq!(
        out.stderr.lines().filter(|l| *l == adapter).count(),
        1,
        "the adapter and endpoint a session uses:\n{}",
        out.stderr
    );
    let cdn = registry.cdn_url();
    let manifest = format!("{TRACE}GET {base}/v2/team/app/manifests/1 (Bearer credential) -> 200");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with(&manifest)).count(),
        1,
        "the manifest GET, with its credential's scheme:\n{}",
        out.stderr
    );
    for digest in blob_digests(&image) {
        let redirect = format!(
            "{TRACE}GET {base}/v2/team/app/blobs/{digest} (Bearer credential) -> 307 \
             Temporary Redirect, "
        );
        let to = format!(", to {cdn}/cdn/team/app/{digest} (");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(&redirect) && l.contains(&to))
                .count(),
            1,
            "the redirect of {digest}, naming the CDN URL without its query:\n{}",
            out.stderr
        );
        let fetch = format!("{TRACE}GET {cdn}/cdn/team/app/{digest} -> 200 OK");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(&fetch)).count(),
            1,
            "the CDN GET of {digest}, with no credential:\n{}",
            out.stderr
        );
    }

    let tokens: Vec<String> = registry
        .token_requests()
        .into_iter()
        .map(|t| t.token)
        .collect();
    assert!(!tokens.is_empty(), "a token was fetched");
    for line in &lines {
        for token in &tokens {
            assert!(!line.contains(token.as_str()), "token in trace: {line}");
        }
        assert!(!line.contains("X-Amz-Signature"), "signature in: {line}");
        assert!(!line.contains('?'), "query string in: {line}");
    }
    // The token request's own query (scope, service) is left out, not the request.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{TRACE}GET {base}/token -> 200"))),
        "{}",
        out.stderr
    );
}

#[test]
fn without_verbose_nothing_is_traced() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .cdn(true)
        .start();
    registry.push_image("team/app", "1", &image());
    let dir = fresh_dir("no-trace-");
    let out = pull(
        &dir,
        &["--endpoint", &registry.url(), "team/app:1", "-o", "out.tar"],
    );
    out.assert_success();
    assert!(!registry.requests().is_empty());
    assert!(!out.stderr.contains("drag: http:"), "{}", out.stderr);
}

#[test]
fn verbose_traces_inspect_and_tags_too() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image());
    let reference = format!("{}/team/app:1", registry.host());
    for args in [
        vec!["inspect", "-v", reference.as_str()],
        vec!["tags", "-v", &reference[..reference.len() - 2]],
    ] {
        registry.clear_requests();
        let out = run(drag().args(&args));
        out.assert_success();
        // A registry named without a scheme is first tried over HTTPS: a traced attempt that
        // never became an HTTP request the fake registry could record.
        let probe = format!("{TRACE}GET https://{}/v2/ -> failed: ", registry.host());
        let (probes, lines): (Vec<&str>, Vec<&str>) = trace_lines(&out.stderr)
            .into_iter()
            .partition(|l| l.starts_with(&probe));
        assert_eq!(probes.len(), 1, "drag {args:?}: the probe:\n{}", out.stderr);
        let requests = registry.requests();
        assert!(!requests.is_empty());
        assert_eq!(
            lines.len(),
            requests.len(),
            "drag {args:?}: one line per request:\n{}\n{requests:#?}",
            out.stderr
        );
        assert!(!out.stdout.is_empty(), "drag {args:?} printed its data");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("drag: http:"),
            "trace on stdout"
        );
    }
}

#[test]
fn an_expired_cdn_url_is_replaced_by_a_fresh_redirect() {
    let registry = FakeRegistry::builder().cdn(true).start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    registry.fault(Fault::CdnExpired { times: 1 });
    let dir = fresh_dir("cdn-expired-once-");
    pull(
        &dir,
        &["--endpoint", &registry.url(), "team/app:1", "-o", "out.tar"],
    )
    .assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    assert!(registry.pending_faults().is_empty(), "the CDN refused once");

    // Exactly one blob met the refusal; it was asked for again at the registry (a fresh
    // URL), not again at the CDN with the expired one.
    let counts: Vec<(usize, usize)> = blob_digests(&image)
        .iter()
        .map(|d| (registry.blob_get_count(d), registry.cdn_get_count(d)))
        .collect();
    let mut sorted = counts.clone();
    sorted.sort();
    let mut expected = vec![(1, 1); counts.len() - 1];
    expected.push((2, 2));
    assert_eq!(
        sorted, expected,
        "(registry, CDN) GETs per blob: {counts:?}"
    );
}

#[test]
fn a_cdn_that_keeps_refusing_fails_the_pull_after_one_fresh_url() {
    let registry = FakeRegistry::builder().cdn(true).start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    registry.fault(Fault::CdnExpired { times: u32::MAX });
    let dir = fresh_dir("cdn-expired-always-");
    let out = pull(
        &dir,
        &[
            "-j",
            "1",
            "--endpoint",
            &registry.url(),
            "team/app:1",
            "-o",
            "out.tar",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = error_line(&out.stderr);
    assert!(line.contains("HTTP 403"), "{line}");
    let cdn = format!("from {}/cdn/team/app/sha256:", registry.cdn_url());
    assert!(line.contains(&cdn), "names the CDN URL: {line}");
    assert!(
        !line.contains('?') && !line.contains("X-Amz-Signature"),
        "no signature shown: {line}"
    );
    assert!(!dir.join("out.tar").exists());

    let asked: Vec<String> = blob_digests(&image)
        .into_iter()
        .filter(|d| registry.cdn_get_count(d) > 0)
        .collect();
    assert!(!asked.is_empty(), "the CDN was asked");
    for digest in &asked {
        assert_eq!(
            registry.cdn_get_count(digest),
            2,
            "CDN GETs of {digest}: the expired URL and one fresh one"
        );
        assert_eq!(
            registry.blob_get_count(digest),
            2,
            "registry GETs of {digest}"
        );
    }
}

#[test]
fn persistent_503_reports_the_attempts_and_the_url_without_query() {
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    registry.fault(Fault::Status {
        status: 503,
        times: 1000,
        retry_after: None,
    });
    let dir = fresh_dir("503-");
    let out = pull(
        &dir,
        &[
            "-j",
            "1",
            "--retries",
            "2",
            "--endpoint",
            &registry.url(),
            "team/app:1",
            "-o",
            "out.tar",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = error_line(&out.stderr);
    assert!(line.contains("HTTP 503"), "{line}");
    assert!(line.contains(" after 3 attempts in "), "{line}");
    let from = format!("from {}/v2/team/app/blobs/", registry.url());
    let at = line.find(&from).unwrap_or_else(|| panic!("{line}"));
    let digest: String = line[at + from.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
        .collect();
    assert!(
        blob_digests(&image).contains(&digest),
        "the error names a blob of the image: {line}"
    );
    assert!(!line.contains('?'), "{line}");
    assert_eq!(
        registry.blob_get_count(&digest),
        3,
        "the first GET and two retries, no more"
    );
}

#[test]
fn every_diagnostic_of_a_registry_error_document_is_shown() {
    let registry = FakeRegistry::start();
    registry.push_image("team/app", "1", &image());
    registry.fault(Fault::ManifestErrors {
        status: 403,
        errors: vec![
            ("DENIED".into(), "a".into()),
            ("UNAUTHORIZED".into(), "b".into()),
        ],
        times: u32::MAX,
    });
    let dir = fresh_dir("two-errors-");
    let out = pull(
        &dir,
        &["--endpoint", &registry.url(), "team/app:1", "-o", "out.tar"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = error_line(&out.stderr);
    assert!(line.contains("DENIED: a; UNAUTHORIZED: b"), "{line}");
    assert!(line.contains("HTTP 403"), "{line}");
}

#[test]
fn a_refused_connection_is_retried_and_the_error_says_how_often() {
    let port = free_port();
    let dir = fresh_dir("refused-");
    let out = pull(
        &dir,
        &[
            "--retries",
            "1",
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "team/app:1",
            "-o",
            "out.tar",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = error_line(&out.stderr);
    assert!(line.contains(" after 2 attempts in "), "{line}");
}

#[test]
fn a_token_service_failing_once_is_retried() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    registry.fault(Fault::TokenStatus {
        status: 503,
        times: 1,
    });
    let dir = fresh_dir("token-503-");
    pull(
        &dir,
        &["--endpoint", &registry.url(), "team/app:1", "-o", "out.tar"],
    )
    .assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    let paths: Vec<String> = registry
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    let token_gets: Vec<usize> = (0..paths.len()).filter(|&i| paths[i] == "/token").collect();
    assert_eq!(
        token_gets.len(),
        2,
        "the refused token request and its retry: {paths:#?}"
    );
    // Retried where it failed, by the retry layer: not by the pull starting over (another
    // manifest request and 401 between the two would mean that).
    assert_eq!(
        token_gets[1],
        token_gets[0] + 1,
        "the retry follows the refusal: {paths:#?}"
    );
    assert_eq!(registry.token_requests().len(), 1, "one token issued");
}

#[test]
fn user_credentials_never_follow_a_redirect_to_the_cdn() {
    for auth in [
        AuthMode::Basic {
            user: "alice".into(),
            pass: "s3cret".into(),
        },
        AuthMode::bearer(),
    ] {
        let registry = FakeRegistry::builder().auth(auth.clone()).cdn(true).start();
        let image = image();
        registry.push_image("team/app", "1", &image);
        let dir = fresh_dir("user-cdn-");
        run(pull_command(&dir).args([
            "--user",
            "alice:s3cret",
            "--endpoint",
            &registry.url(),
            "team/app:1",
            "-o",
            "out.tar",
        ]))
        .assert_success();
        assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
        let requests = registry.requests();
        let blob_gets: Vec<_> = requests
            .iter()
            .filter(|r| r.listener == Listener::Registry && r.path().contains("/blobs/"))
            .collect();
        assert!(
            !blob_gets.is_empty() && blob_gets.iter().all(|r| r.authorization.is_some()),
            "{auth:?}: the registry's blob GETs carried credentials: {blob_gets:#?}"
        );
        let cdn: Vec<_> = requests
            .iter()
            .filter(|r| r.listener == Listener::Cdn)
            .collect();
        assert_eq!(cdn.len(), blob_digests(&image).len(), "{auth:?}: {cdn:#?}");
        assert!(
            cdn.iter().all(|r| r.authorization.is_none()),
            "{auth:?}: credentials reached the CDN: {cdn:#?}"
        );
    }
}
