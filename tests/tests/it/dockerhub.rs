//! Pulls against a fake registry with Docker Hub's behaviour: a Bearer token service,
//! blobs redirected to a CDN that rejects Authorization, manifest lists.

use drag_tests::archive::{
    assert_entries_hold_image, assert_entries_hold_image_stored, assert_entries_keep_manifest,
    assert_left_nothing, blob_path, dir_names, json_entry, read_tar, read_tar_bytes, Stored,
};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::{
    attestation_for, AuthMode, Compression, FakeRegistry, Fault, Image, ImageBuilder, IndexBuilder,
    LayerBuilder, Listener, ManifestFormat, TokenField,
};

/// A three-layer image whose config has bytes a re-serializer would change.
fn three_layer_image(arch: &str) -> Image {
    ImageBuilder::new()
        .arch(arch)
        .layer(
            LayerBuilder::new()
                .dir("bin", 0o755)
                .file("bin/sh", "#!shell", 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("etc/motd", vec![b'x'; 300_000], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("app", arch, 0o644)
                .build(Compression::Gzip),
        )
        .env("GREETING=\\u003chello\\u003e")
        .config_field("x_unusual_spacing", "[1,  2]")
        .build()
}

fn hub() -> FakeRegistry {
    FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .cdn(true)
        .start()
}

#[test]
fn pull_writes_a_docker_load_archive_with_config_bytes_untouched() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    let dir = fresh_dir("pull-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "alpine:3.9"]);
    out.assert_success();
    assert!(out.stdout.is_empty(), "stdout must stay clean");
    assert!(
        out.stderr.contains(image.digest()),
        "final line names the digest: {}",
        out.stderr
    );

    let tar = read_tar(&dir.join("library_alpine_3.9.tar"));
    assert_entries_hold_image(&tar, &image);
    assert_entries_keep_manifest(&tar, &image);
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["docker.io/library/alpine:3.9"])
    );

    let index = json_entry(&tar, "index.json");
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.digest());
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/library/alpine:3.9"
    );
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "3.9"
    );
    assert_eq!(
        json_entry(&tar, "oci-layout")["imageLayoutVersion"],
        "1.0.0"
    );
    assert!(json_entry(&tar, "repositories")["docker.io/library/alpine"]["3.9"].is_string());
    assert_eq!(
        dir_names(&dir),
        vec!["library_alpine_3.9.tar"],
        "no temporary files left"
    );
}

#[test]
fn pull_follows_cdn_redirect_without_credentials() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("myorg/app", "1", &image);
    let dir = fresh_dir("cdn-");
    pull(&dir, &["--endpoint", &registry.url(), "myorg/app:1"]).assert_success();

    let tokens = registry.token_requests();
    assert!(!tokens.is_empty(), "a token was fetched");
    assert!(
        tokens
            .iter()
            .all(|t| t.scopes == vec!["repository:myorg/app:pull".to_string()]),
        "{tokens:?}"
    );
    let requests = registry.requests();
    let cdn: Vec<_> = requests
        .iter()
        .filter(|r| r.listener == Listener::Cdn)
        .collect();
    assert_eq!(
        cdn.len(),
        4,
        "config and three layers from the CDN: {requests:#?}"
    );
    assert!(
        cdn.iter().all(|r| r.authorization.is_none()),
        "credentials leaked to the CDN"
    );
    let manifests: Vec<_> = requests
        .iter()
        .filter(|r| r.path().contains("/manifests/") && r.method == "GET")
        .collect();
    assert!(manifests.iter().all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer "))));
    assert!(dir.join("myorg_app_1.tar").is_file());
}

#[test]
fn token_services_answering_access_token_are_understood() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::AccessToken,
            expires_in: Some(300),
        })
        .start();
    registry.push_image("library/busybox", "latest", &three_layer_image("amd64"));
    let dir = fresh_dir("access-");
    pull(&dir, &["-q", "--endpoint", &registry.url(), "busybox"]).assert_success();
    assert!(dir.join("library_busybox_latest.tar").is_file());
}

#[test]
fn expired_token_is_renewed_mid_pull() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Token,
            expires_in: Some(1),
        })
        .start();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    // The first layer stalls past the token's life, so later requests meet a 401.
    registry.fault(Fault::Stall {
        digest: image.layers[0].blob.digest.clone(),
        after_bytes: 10,
        for_ms: 1500,
    });
    let dir = fresh_dir("renew-");
    pull(
        &dir,
        &["-j", "1", "--endpoint", &registry.url(), "alpine:3.9"],
    )
    .assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("library_alpine_3.9.tar")), &image);
    let tokens = registry.token_requests();
    assert!(tokens.len() >= 2, "token renewed: {tokens:?}");
    // Renewed, not re-fetched per request: each token serves the requests sent while it
    // is valid, so there are fewer token fetches than authorised registry requests, and the
    // first token covers more than one request (the manifest and config, at least, come well
    // within its one-second life).
    let requests = registry.requests();
    let sent_with = |token: &str| {
        let bearer = format!("Bearer {token}");
        requests
            .iter()
            .filter(|r| r.listener == Listener::Registry && r.path() != "/token")
            .filter(|r| r.authorization.as_deref() == Some(bearer.as_str()))
            .count()
    };
    assert!(
        sent_with(&tokens[0].token) >= 2,
        "first token used {} times",
        sent_with(&tokens[0].token)
    );
    let authorised: usize = tokens.iter().map(|t| sent_with(&t.token)).sum();
    assert!(
        tokens.len() < authorised,
        "{} token fetches for {authorised} requests",
        tokens.len()
    );
}

#[test]
fn basic_auth_uses_the_given_credentials() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "alice".into(),
            pass: "s3cret".into(),
        })
        .start();
    registry.push_image("team/app", "2", &three_layer_image("amd64"));
    let dir = fresh_dir("basic-");
    let denied = pull(&dir, &["--endpoint", &registry.url(), "team/app:2"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(denied.stderr.contains("UNAUTHORIZED"), "{}", denied.stderr);
    pull(
        &dir,
        &[
            "--user",
            "alice:s3cret",
            "--endpoint",
            &registry.url(),
            "team/app:2",
        ],
    )
    .assert_success();
}

fn multi_platform_registry() -> (FakeRegistry, Image, Image) {
    let registry = hub();
    let amd = three_layer_image("amd64");
    let arm = ImageBuilder::new()
        .arch("arm64")
        .variant("v8")
        .layer(
            LayerBuilder::new()
                .file("arm", "arm", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    let att = attestation_for(&amd);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .attestation(&att, &amd)
        .image(&arm)
        .image(&amd)
        .build();
    registry.push_index("library/multi", "1", &index, &[&amd, &arm, &att]);
    (registry, amd, arm)
}

#[test]
fn platform_is_chosen_from_a_manifest_list() {
    let (registry, amd, arm) = multi_platform_registry();
    let dir = fresh_dir("platform-");
    pull(
        &dir,
        &["-o", "amd.tar", "--endpoint", &registry.url(), "multi:1"],
    )
    .assert_success();
    let tar = read_tar(&dir.join("amd.tar"));
    assert_eq!(
        json_entry(&tar, "manifest.json")[0]["Config"],
        blob_path(&amd.config.digest)
    );

    for platform in ["linux/arm64", "linux/arm64/v8", "linux/aarch64"] {
        pull(
            &dir,
            &[
                "-o",
                "arm.tar",
                "--platform",
                platform,
                "--endpoint",
                &registry.url(),
                "multi:1",
            ],
        )
        .assert_success();
        let tar = read_tar(&dir.join("arm.tar"));
        assert_eq!(
            json_entry(&tar, "manifest.json")[0]["Config"],
            blob_path(&arm.config.digest),
            "{platform}"
        );
    }
}

#[test]
fn missing_platform_fails_listing_what_the_image_has() {
    let (registry, _, _) = multi_platform_registry();
    let dir = fresh_dir("noplatform-");
    let out = pull(
        &dir,
        &[
            "--platform",
            "linux/s390x",
            "--endpoint",
            &registry.url(),
            "multi:1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("linux/amd64") && out.stderr.contains("linux/arm64/v8"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("unknown/unknown"),
        "attestations are not platforms: {}",
        out.stderr
    );
    assert_left_nothing(&dir);
}

#[test]
fn unknown_tag_reports_the_registry_error_code() {
    let registry = hub();
    let dir = fresh_dir("unknown-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "nothere:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("MANIFEST_UNKNOWN"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn corrupt_blob_is_refused_and_leaves_nothing_at_the_output_path() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    let digest = image.layers[1].blob.digest.clone();
    // Corrupt the blob on the first try and on the retry.
    for _ in 0..2 {
        registry.fault(Fault::FlipByte {
            digest: digest.clone(),
            offset: 100,
        });
    }
    let dir = fresh_dir("corrupt-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "alpine:3.9"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("digest mismatch") && last.contains(&digest),
        "{last}"
    );
    assert_left_nothing(&dir);
}

#[test]
fn manifest_fetched_by_digest_is_verified_against_it() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    // Serve another manifest's bytes under this digest.
    let other = three_layer_image("arm64");
    for b in std::iter::once(&other.config).chain(other.layers.iter().map(|l| &l.blob)) {
        registry.push_blob("library/alpine", b);
    }
    let lie = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    registry.push_manifest("library/alpine", lie, &other.manifest);
    let dir = fresh_dir("lie-");
    let out = pull(
        &dir,
        &["--endpoint", &registry.url(), &format!("alpine@{lie}")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    assert!(dir_names(&dir).is_empty());
}

#[test]
fn pull_by_digest_gets_a_repo_tag_only_when_a_tag_is_given() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    let dir = fresh_dir("bydigest-");
    let by_digest = format!("alpine@{}", image.digest());
    pull(
        &dir,
        &["-o", "d.tar", "--endpoint", &registry.url(), &by_digest],
    )
    .assert_success();
    let manifest = json_entry(&read_tar(&dir.join("d.tar")), "manifest.json");
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([]));

    let both = format!("alpine:3.9@{}", image.digest());
    pull(&dir, &["-o", "b.tar", "--endpoint", &registry.url(), &both]).assert_success();
    let manifest = json_entry(&read_tar(&dir.join("b.tar")), "manifest.json");
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["docker.io/library/alpine:3.9"])
    );
}

#[test]
fn output_dash_streams_the_archive_to_stdout() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    let dir = fresh_dir("stdout-");
    let out = pull(
        &dir,
        &["-o", "-", "--endpoint", &registry.url(), "alpine:3.9"],
    );
    out.assert_success();
    assert_entries_hold_image(&read_tar_bytes(&out.stdout), &image);
    assert!(dir_names(&dir).is_empty());
}

#[test]
fn quiet_pull_prints_nothing() {
    let registry = hub();
    registry.push_image("library/alpine", "3.9", &three_layer_image("amd64"));
    let dir = fresh_dir("quiet-");
    let out = pull(&dir, &["-q", "--endpoint", &registry.url(), "alpine:3.9"]);
    out.assert_success();
    assert!(
        out.stderr.is_empty() && out.stdout.is_empty(),
        "{}",
        out.stderr
    );
}

#[test]
fn decompress_stores_layers_by_diff_id() {
    let registry = hub();
    let image = three_layer_image("amd64");
    registry.push_image("library/alpine", "3.9", &image);
    let dir = fresh_dir("decompress-");
    pull(
        &dir,
        &["--decompress", "--endpoint", &registry.url(), "alpine:3.9"],
    )
    .assert_success();
    let tar = read_tar(&dir.join("library_alpine_3.9.tar"));
    assert_entries_hold_image_stored(&tar, &image, Stored::Decompressed);
    // The layout view points at a manifest that names those uncompressed blobs.
    let index = json_entry(&tar, "index.json");
    let m = json_entry(
        &tar,
        &blob_path(index["manifests"][0]["digest"].as_str().unwrap()),
    );
    assert_eq!(m["layers"][0]["digest"], image.layers[0].diff_id);
    assert_eq!(m["config"]["digest"], image.config.digest);
}
