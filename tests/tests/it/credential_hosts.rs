//! Credentials go only to the host they belong to: a mirror named with `--endpoint` gets its
//! own auth-file entry and never Docker Hub's, `--user` never reaches a second registry of a
//! multi-image pull, and a token service on another host gets credentials over plain HTTP
//! only on loopback. The same holds for a registry's TLS client certificate: it is shown to
//! the registry, not to the other hosts the registry sends drag to.

use std::path::Path;

use base64::Engine as _;
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::{
    run, AuthMode, Compression, FakeRegistry, Image, ImageBuilder, LayerBuilder, RealRegistry,
    TestPki,
};

fn image(name: &str) -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file(name, "contents\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// A Docker config directory whose config.json has `auths` for each `(key, user, pass)`.
fn docker_config(dir: &Path, entries: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(key, user, pass)| {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            (key.to_string(), serde_json::json!({ "auth": auth }))
        })
        .collect();
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({ "auths": auths }).to_string(),
    )
    .unwrap();
    config
}

/// Every Authorization header the registry (its API, CDN and token service) was sent.
fn authorizations_seen(registry: &FakeRegistry) -> Vec<String> {
    let api = registry
        .requests()
        .into_iter()
        .filter_map(|r| r.authorization);
    let tokens = registry
        .token_requests()
        .into_iter()
        .filter_map(|r| r.authorization);
    api.chain(tokens).collect()
}

#[test]
fn docker_hub_login_is_not_sent_to_an_endpoint_mirror() {
    let mirror = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    mirror.push_image("library/alpine", "3.9", &image("hub"));
    let dir = fresh_dir("hub-login-mirror-");
    let config = docker_config(
        &dir,
        &[("https://index.docker.io/v1/", "hubuser", "hub-secret")],
    );
    run(pull_command(&dir).env("DOCKER_CONFIG", &config).args([
        "-q",
        "--endpoint",
        &mirror.url(),
        "alpine:3.9",
    ]))
    .assert_success();
    assert!(
        !mirror.token_requests().is_empty(),
        "the mirror was asked for a token"
    );
    let seen = authorizations_seen(&mirror);
    assert!(
        !seen.iter().any(|a| a.starts_with("Basic")),
        "Docker Hub's login reached the mirror: {seen:?}"
    );
}

#[test]
fn endpoint_mirror_gets_its_own_auth_file_entry() {
    let mirror = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "mirroruser".into(),
            pass: "mirror-secret".into(),
        })
        .start();
    mirror.push_image("library/alpine", "3.9", &image("mirror"));
    let dir = fresh_dir("mirror-login-");
    let config = docker_config(
        &dir,
        &[
            ("https://index.docker.io/v1/", "hubuser", "hub-secret"),
            (&mirror.host(), "mirroruser", "mirror-secret"),
        ],
    );
    run(pull_command(&dir).env("DOCKER_CONFIG", &config).args([
        "-q",
        "--endpoint",
        &mirror.url(),
        "alpine:3.9",
    ]))
    .assert_success();
    let seen = authorizations_seen(&mirror);
    assert!(
        seen.contains(&basic("mirroruser", "mirror-secret")),
        "the mirror's own login was used: {seen:?}"
    );
    assert!(
        !seen.contains(&basic("hubuser", "hub-secret")),
        "Docker Hub's login reached the mirror: {seen:?}"
    );
}

#[test]
fn user_goes_only_to_the_first_images_registry_in_a_multi_image_pull() {
    let first = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "alice".into(),
            pass: "s3cret".into(),
        })
        .start();
    first.push_image("team/app", "1", &image("first"));
    let second = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    second.push_image("team/other", "1", &image("second"));
    let dir = fresh_dir("user-two-registries-");
    let out = pull(
        &dir,
        &[
            "--user",
            "alice:s3cret",
            "-o",
            "both.tar",
            &format!("{}/team/app:1", first.host()),
            &format!("{}/team/other:1", second.host()),
        ],
    );
    out.assert_success();
    assert!(
        authorizations_seen(&first).contains(&basic("alice", "s3cret")),
        "the first registry got --user"
    );
    assert!(
        !second.token_requests().is_empty(),
        "the second registry was asked for a token"
    );
    let leaked = authorizations_seen(&second);
    assert!(
        !leaked.iter().any(|a| a.starts_with("Basic")),
        "--user reached the second registry: {leaked:?}"
    );
    assert!(
        out.stderr.contains("--user") && out.stderr.contains(&second.host()),
        "the user is told where --user did not go: {}",
        out.stderr
    );
}

#[test]
fn user_is_sent_to_a_plain_http_token_service_on_another_loopback_host() {
    // Named as `localhost:PORT`, the registry's realm is `http://127.0.0.1:PORT/token`: another
    // host, plain HTTP, loopback. Loopback never leaves the machine, so the login goes there
    // (a non-loopback host over plain HTTP is refused; see core's `auth::realm`).
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image("loopback"));
    let port = registry.host().rsplit_once(':').unwrap().1.to_string();
    let dir = fresh_dir("loopback-realm-");
    pull(
        &dir,
        &[
            "-q",
            "--user",
            "alice:s3cret",
            "-o",
            "app.tar",
            &format!("localhost:{port}/team/app:1"),
        ],
    )
    .assert_success();
    let requests = registry.token_requests();
    assert!(!requests.is_empty(), "a token was asked for");
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(basic("alice", "s3cret").as_str())
        );
    }
}

/// A foreign layer lives on a second TLS registry. drag's `--cert-dir` holds the CA and a
/// client certificate, which the image's registry gets. When the foreign host does not ask for
/// a client certificate the pull works; when it requires one (and would accept this one), drag
/// must not show it there, so the host refuses the connection.
#[tokio::test(flavor = "multi_thread")]
async fn the_registrys_client_certificate_is_not_shown_to_a_foreign_layer_host() {
    let pki = TestPki::new();
    let allow_urls = "validation:\n  manifests:\n    urls:\n      allow:\n        - '^https://127\\.0\\.0\\.1'\n";
    let Some(registry) = RealRegistry::start_tls_with(&pki, false, allow_urls).await else {
        return;
    };
    for requires_certificate in [false, true] {
        let Some(host) = RealRegistry::start_tls(&pki, requires_certificate).await else {
            return;
        };
        let base = LayerBuilder::new()
            .file("base.bin", vec![7u8; 20_000], 0o644)
            .build(Compression::Gzip);
        host.push_blob("mirror/base", &base.blob).await;
        let url = format!("{}/v2/mirror/base/blobs/{}", host.url(), base.blob.digest);
        let image = ImageBuilder::new()
            .foreign_layer(base, vec![url])
            .layer(
                LayerBuilder::new()
                    .file("app", format!("{requires_certificate}\n"), 0o644)
                    .build(Compression::Gzip),
            )
            .build();
        registry.push_image("team/app", "1", &image).await;
        let dir = fresh_dir("client-cert-hosts-");
        let certs = dir.join("certs");
        pki.write_certs_d(&certs, true);
        let reference = format!("{}/team/app:1", registry.host());
        let out = run(pull_command(&dir)
            .arg("--cert-dir")
            .arg(&certs)
            .args(["-o", "app.tar", &reference]));
        if requires_certificate {
            out.assert_failure();
            assert!(
                out.stderr.contains("certificate"),
                "refused for another reason: {}",
                out.stderr
            );
            assert!(!dir.join("app.tar").exists());
        } else {
            out.assert_success();
        }
    }
}
