//! Quirks any registry may show, each against a fake registry that reproduces it: bodies
//! gzipped unless `Accept-Encoding: identity` is sent (Red Hat), `null` among the tags
//! (Nexus), digests spelled as tags (Artifactory), and 401s that carry no challenge, which
//! only `/v2/` says (GCR, Artifact Registry).

use drag_tests::archive::{assert_entries_hold_image, read_tar};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::{
    drag, run, AuthMode, Compression, FakeRegistry, Gzip, Image, ImageBuilder, LayerBuilder,
    Listener,
};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", vec![b'm'; 40_000], 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn pull_to_tar(
    registry: &FakeRegistry,
    prefix: &str,
) -> (std::path::PathBuf, drag_tests::DragOutput) {
    let dir = fresh_dir(prefix);
    let out = pull(
        &dir,
        &["--endpoint", &registry.url(), "team/app:1", "-o", "out.tar"],
    );
    (dir, out)
}

#[test]
fn pull_asks_for_identity_bodies_from_a_registry_that_gzips_unless_told() {
    let registry = FakeRegistry::builder().gzip(Gzip::UnlessIdentity).start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let (dir, out) = pull_to_tar(&registry, "gzip-unless-");
    out.assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    let requests = registry.requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(
            r.accept_encoding.as_deref(),
            Some("identity"),
            "{} {}",
            r.method,
            r.path_and_query
        );
    }
}

#[test]
fn pull_refuses_a_body_encoded_though_identity_was_asked() {
    let registry = FakeRegistry::builder().gzip(Gzip::Always).start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let (dir, out) = pull_to_tar(&registry, "gzip-always-");
    out.assert_failure();
    assert!(
        out.stderr.contains("Content-Encoding: gzip") && out.stderr.contains("asked for identity"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("out.tar").exists());
}

#[test]
fn tags_skip_null_entries() {
    let registry = FakeRegistry::builder()
        .null_tags(true)
        .tags_page_size(2)
        .start();
    let image = image();
    for tag in ["1", "2", "3"] {
        registry.push_image("team/app", tag, &image);
    }
    let out = run(drag().args(["tags", "--endpoint", &registry.url(), "team/app"]));
    out.assert_success();
    assert_eq!(out.stdout_text(), "1\n2\n3\n");
    assert!(!out.stderr.contains("left out"), "{}", out.stderr);
}

#[test]
fn tags_hide_digest_like_entries_unless_all() {
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let spelled = image.digest().replace("sha256:", "sha256__");
    registry.push_manifest("team/app", &spelled, &image.manifest);
    let base = ["tags", "--endpoint", &registry.url(), "team/app"];

    let out = run(drag().args(base));
    out.assert_success();
    assert_eq!(out.stdout_text(), "1\n");
    assert!(
        out.stderr.contains("hid 1 digest-like") && out.stderr.contains("--all"),
        "{}",
        out.stderr
    );

    let out = run(drag().args(base).arg("--all"));
    out.assert_success();
    assert_eq!(out.stdout_text(), format!("1\n{spelled}\n"));
    assert!(!out.stderr.contains("hid"), "{}", out.stderr);
}

#[test]
fn pull_asks_v2_for_the_challenge_a_401_does_not_carry() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .challenge_only_at_base(true)
        .start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let (dir, out) = pull_to_tar(&registry, "ping-");
    out.assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    let pings = registry
        .requests()
        .iter()
        .filter(|r| r.listener == Listener::Registry && r.path() == "/v2/")
        .count();
    assert_eq!(pings, 1, "one ping per session");
    assert!(!registry.token_requests().is_empty());
}

/// registry.k8s.io answers manifest (and blob) requests with a 307 to another host. A front
/// server here does the same, sending every `/v2/…` request to the fake registry, another
/// origin: the pull follows each redirect and verifies what comes back as usual.
#[test]
fn manifests_redirected_to_another_host_are_followed() {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let target = registry.url();
    let front = drag_tests::HostileServer::start(move |_| {
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let target = target.clone();
            async move {
                let path = req.uri().path().to_string();
                if path == "/v2/" {
                    return StatusCode::OK.into_response();
                }
                let to = format!("{target}{path}");
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
            }
        })
    });
    let dir = fresh_dir("k8s-redirect-");
    let out = pull(
        &dir,
        &["--endpoint", &front.url(), "team/app:1", "-o", "out.tar"],
    );
    out.assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    let redirected: Vec<String> = front
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .filter(|p| p.contains("/manifests/"))
        .collect();
    assert!(
        !redirected.is_empty(),
        "the manifest request went to the front first"
    );
    let served: Vec<String> = registry
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert!(
        served.iter().any(|p| p == "/v2/team/app/manifests/1"),
        "the registry served the manifest after the redirect: {served:?}"
    );
}
