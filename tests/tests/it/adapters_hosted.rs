//! The adapters for hosted and self-hosted registries (ghcr, gcr, nvcr, gitlab, quay, k8s,
//! redhat, artifactory, nexus), each against a stand-in that behaves as its registry does,
//! and two behaviours any registry may show: bodies sent chunked, and manifests never asked
//! for in schema1.
//!
//! Each stand-in listens on 127.0.0.1, so a test picks its adapter with `--registry NAME
//! --endpoint URL` and writes the reference as the real registry names it.

use std::path::{Path, PathBuf};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use drag_tests::archive::{assert_entries_hold_image, assert_left_nothing, files_under, read_tar};
use drag_tests::drag_cli::{fresh_dir, pull_command};
use drag_tests::{
    drag, http_client, run, AuthMode, Blob, Compression, DragOutput, FakeRegistry, Gzip,
    HostileServer, Image, ImageBuilder, LayerBuilder, Listener, TokenField,
};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", vec![b'h'; 30_000], 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// `drag pull --registry ADAPTER --endpoint URL REFERENCE -o out.tar [EXTRA...]` in a fresh
/// directory, with `cache` as the cache directory.
fn pull_via(
    adapter: &str,
    endpoint: &str,
    reference: &str,
    cache: &Path,
    extra: &[&str],
) -> (PathBuf, DragOutput) {
    let dir = fresh_dir(&format!("hosted-{adapter}-"));
    let out = run(pull_command(&dir)
        .env("DRAG_CACHE_DIR", cache)
        .args(["--registry", adapter, "--endpoint", endpoint])
        .args([reference, "-o", "out.tar"])
        .args(extra));
    (dir, out)
}

fn pull_ok(adapter: &str, endpoint: &str, reference: &str, image: &Image, extra: &[&str]) {
    let cache = fresh_dir("hosted-cache-");
    let (dir, out) = pull_via(adapter, endpoint, reference, &cache, extra);
    out.assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), image);
}

fn basic(user_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

/// Paths of the requests the registry listener received, without queries.
fn registry_paths(registry: &FakeRegistry) -> Vec<String> {
    registry
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Registry)
        .map(|r| r.path().to_string())
        .collect()
}

/// An image reference's host decides its adapter, as `drag inspect` reports it.
#[test]
fn hosted_registry_hosts_choose_their_adapters() {
    let registry = FakeRegistry::start();
    let image = image();
    for (reference, adapter) in [
        ("ghcr.io/acme/app:1", "ghcr"),
        ("gcr.io/proj/app:1", "gcr"),
        ("eu.gcr.io/proj/app:1", "gcr"),
        ("europe-west1-docker.pkg.dev/proj/repo/app:1", "gcr"),
        ("nvcr.io/nvidia/cuda:1", "nvcr"),
        ("registry.gitlab.com/group/sub/project/app:1", "gitlab"),
        ("quay.io/ns/app:1", "quay"),
        ("registry.k8s.io/pause:1", "k8s"),
        ("registry.redhat.io/ubi9/ubi:1", "redhat"),
        ("registry.access.redhat.com/ubi9/ubi:1", "redhat"),
        ("acme.jfrog.io/docker-local/app:1", "artifactory"),
        ("nexus.example:8443/repository/docker-hosted/app:1", "oci"),
    ] {
        let repository = reference
            .split_once('/')
            .and_then(|(_, rest)| rest.rsplit_once(':'))
            .map(|(repo, _)| repo)
            .unwrap();
        registry.push_image(repository, "1", &image);
        let out = run(drag().args(["inspect", "--endpoint", &registry.url(), reference]));
        out.assert_success();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["adapter"], adapter, "{reference}");
    }
    // Nexus claims no host: it serves the hosts it is chosen for.
    let out = run(drag().args([
        "inspect",
        "--registry",
        "nexus",
        "--endpoint",
        &registry.url(),
        "nexus.example:8443/repository/docker-hosted/app:1",
    ]));
    out.assert_success();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["adapter"], "nexus");
}

/// ghcr.io hands out opaque tokens, anonymously for public images, in `token` alone and
/// without `expires_in`: drag sends each back exactly as it came.
#[test]
fn ghcr_pull_sends_its_opaque_anonymous_tokens_back_unread() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Token,
            expires_in: None,
        })
        .opaque_tokens(true)
        .start();
    let image = image();
    registry.push_image("acme/tools/app", "1", &image);
    pull_ok(
        "ghcr",
        &registry.url(),
        "ghcr.io/acme/tools/app:1",
        &image,
        &[],
    );
    let tokens = registry.token_requests();
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!(t.authorization, None, "anonymous token flow");
        assert_eq!(t.scopes, ["repository:acme/tools/app:pull"]);
        assert!(
            t.token.contains('.') && t.token.ends_with("=="),
            "{}",
            t.token
        );
    }
    let issued: Vec<String> = tokens
        .iter()
        .map(|t| format!("Bearer {}", t.token))
        .collect();
    let authorized: Vec<String> = registry
        .requests()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect();
    assert!(!authorized.is_empty());
    for sent in authorized {
        assert!(issued.contains(&sent), "sent {sent:?}, issued {issued:?}");
    }
}

/// GCR and Artifact Registry answer 401 without a challenge; only `/v2/` names the token
/// service. Through the gcr adapter, drag asks `/v2/` once and pulls.
#[test]
fn gcr_pull_asks_v2_for_the_challenge_its_401s_leave_out() {
    for (reference, repository) in [
        ("gcr.io/my-project/app:1", "my-project/app"),
        (
            "us-docker.pkg.dev/my-project/repo/app:1",
            "my-project/repo/app",
        ),
    ] {
        let registry = FakeRegistry::builder()
            .auth(AuthMode::bearer())
            .challenge_only_at_base(true)
            .start();
        let image = image();
        registry.push_image(repository, "1", &image);
        pull_ok("gcr", &registry.url(), reference, &image, &[]);
        let pings = registry_paths(&registry)
            .iter()
            .filter(|p| *p == "/v2/")
            .count();
        assert_eq!(pings, 1, "{reference}: one ping per session");
        let scopes: Vec<Vec<String>> = registry
            .token_requests()
            .into_iter()
            .map(|t| t.scopes)
            .collect();
        assert!(!scopes.is_empty(), "{reference}");
        for s in scopes {
            assert_eq!(s, [format!("repository:{repository}:pull")], "{reference}");
        }
    }
}

/// nvcr.io challenges without `service` and with an unquoted `scope`, answers tokens as
/// `text/plain`, and logs in as `$oauthtoken` with an API key.
#[test]
fn nvcr_pull_takes_a_text_plain_token_for_a_challenge_without_service_or_quotes() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .challenge_service(false)
        .unquoted_scope(true)
        .token_content_type("text/plain; charset=utf-8")
        .start();
    let image = image();
    registry.push_image("nvidia/k8s/cuda", "12", &image);
    let login = "$oauthtoken:nvapi-Abc$123";
    pull_ok(
        "nvcr",
        &registry.url(),
        "nvcr.io/nvidia/k8s/cuda:12",
        &image,
        &["--user", login],
    );
    let tokens = registry.token_requests();
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!(t.service, None, "no service= in the token URL");
        assert_eq!(t.scopes, ["repository:nvidia/k8s/cuda:pull"]);
        assert_eq!(t.authorization.as_deref(), Some(basic(login).as_str()));
    }
    // The challenge was the nvcr one (so the test above met it).
    let client = http_client();
    let challenge = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = client
            .get(format!(
                "{}/v2/nvidia/k8s/cuda/manifests/12",
                registry.url()
            ))
            .send()
            .await
            .unwrap();
        r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_string()
    });
    assert!(!challenge.contains("service"), "{challenge}");
    assert!(
        challenge.contains(",scope=repository:nvidia/k8s/cuda:pull"),
        "{challenge}"
    );
}

/// GitLab's token is good for exactly the repository in its scope: the stand-in refuses one
/// scoped to a prefix of the nested path, and drag asks for the whole path.
#[test]
fn gitlab_token_scope_carries_the_full_nested_path() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    let image = image();
    let repository = "group/sub/sub2/project/image";
    registry.push_image(repository, "tag", &image);

    // A token for a prefix of the path opens nothing here.
    let client = http_client();
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let prefix = "repository:group/sub/sub2/project:pull";
        let token = client
            .get(format!("{}/token?scope={prefix}", registry.url()))
            .send()
            .await
            .unwrap();
        let token = drag_tests::response_json(token).await["token"]
            .as_str()
            .unwrap()
            .to_string();
        client
            .get(format!("{}/v2/{repository}/manifests/tag", registry.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);

    pull_ok(
        "gitlab",
        &registry.url(),
        "registry.gitlab.com/group/sub/sub2/project/image:tag",
        &image,
        &["--user", "deploy-token-1:gldt-secret"],
    );
    let drag_tokens: Vec<_> = registry
        .token_requests()
        .into_iter()
        .filter(|t| t.authorization.is_some())
        .collect();
    assert!(!drag_tokens.is_empty());
    for t in drag_tokens {
        assert_eq!(t.scopes, [format!("repository:{repository}:pull")]);
    }
}

/// quay.io has no `library/` namespace: `quay.io/alpine` is refused before any request,
/// naming the form that works.
#[test]
fn quay_one_part_name_is_a_usage_error_naming_the_form() {
    let registry = FakeRegistry::start();
    let out = run(drag().args([
        "pull",
        "--registry",
        "quay",
        "--endpoint",
        &registry.url(),
        "quay.io/alpine",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].contains("quay.io/NAMESPACE/alpine"),
        "{}",
        lines[0]
    );
    assert!(registry.requests().is_empty());
    // Without --registry too: quay.io is the quay adapter's.
    let out = run(drag().args(["pull", "--endpoint", &registry.url(), "quay.io/alpine"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("quay.io/NAMESPACE/alpine"),
        "{}",
        out.stderr
    );
}

const SIGN_IN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in - Quay</title></head>\
    <body><form action=\"/signin\"></form></body></html>\n";

/// A server serving Quay's sign-in page at `/signin`, as `content_type`.
fn sign_in_server(content_type: &'static str) -> HostileServer {
    HostileServer::start(move |_| {
        axum::Router::new().fallback(move || async move {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, content_type)],
                SIGN_IN_PAGE,
            )
                .into_response()
        })
    })
}

/// Quay answers a manifest request it will not serve with a 302 to an HTML page, on its own
/// host or another. drag fails saying so, and keeps nothing: no output, no cached manifest.
#[test]
fn quay_manifest_redirected_to_an_html_page_fails_and_keeps_nothing() {
    // The page elsewhere says it is JSON: the body still gives it away.
    let elsewhere = sign_in_server("application/json");
    let elsewhere_url = elsewhere.url();
    for other_host in [false, true] {
        let page_at = if other_host {
            format!("{elsewhere_url}/signin?redirect=%2Fv2%2F")
        } else {
            "/signin?redirect=%2Fv2%2F".to_string()
        };
        let quay = HostileServer::start(move |_| {
            axum::Router::new().fallback(move |req: axum::extract::Request| {
                let page_at = page_at.clone();
                async move {
                    let path = req.uri().path().to_string();
                    if path == "/v2/" {
                        return (StatusCode::OK, "{}").into_response();
                    }
                    if path == "/signin" {
                        let html = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
                        return (StatusCode::OK, html, SIGN_IN_PAGE).into_response();
                    }
                    (
                        StatusCode::FOUND,
                        [
                            (header::LOCATION, page_at.as_str()),
                            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        ],
                        "<html><body>Redirecting...</body></html>",
                    )
                        .into_response()
                }
            })
        });
        let cache = fresh_dir("quay-html-cache-");
        let (dir, out) = pull_via("quay", &quay.url(), "quay.io/ns/app:1", &cache, &[]);
        out.assert_failure();
        assert_left_nothing(&dir);
        let kept: Vec<PathBuf> = if cache.join("manifests").exists() {
            files_under(&cache.join("manifests"))
        } else {
            Vec::new()
        };
        assert!(kept.is_empty(), "other host {other_host}: cached {kept:?}");
        assert!(
            out.stderr.contains("HTML page") && out.stderr.contains("instead of a manifest"),
            "other host {other_host}: {}",
            out.stderr
        );
        let followed = if other_host {
            elsewhere.requests()
        } else {
            quay.requests()
        };
        assert!(
            followed
                .iter()
                .any(|r| r.method == "GET" && r.path() == "/signin"),
            "the redirect was followed to the page"
        );
    }
}

/// registry.k8s.io redirects manifests and blobs to another host and another path; through
/// the k8s adapter drag follows and verifies.
#[test]
fn k8s_manifests_redirected_to_another_host_and_path_are_followed() {
    let registry = FakeRegistry::start();
    let image = image();
    let mirrored = "k8s-artifacts-prod/images/pause";
    registry.push_image(mirrored, "3.9", &image);
    let target = registry.url();
    let front = HostileServer::start(move |_| {
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let target = target.clone();
            async move {
                let path = req.uri().path().to_string();
                if path == "/v2/" {
                    return StatusCode::OK.into_response();
                }
                let Some(rest) = path.strip_prefix("/v2/pause/") else {
                    return StatusCode::NOT_FOUND.into_response();
                };
                let to = format!("{target}/v2/{mirrored}/{rest}");
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
            }
        })
    });
    pull_ok(
        "k8s",
        &front.url(),
        "registry.k8s.io/pause:3.9",
        &image,
        &[],
    );
    assert!(front
        .requests()
        .iter()
        .any(|r| r.path() == "/v2/pause/manifests/3.9"));
    let served = registry_paths(&registry);
    assert!(
        served
            .iter()
            .any(|p| p == "/v2/k8s-artifacts-prod/images/pause/manifests/3.9"),
        "the other host served the manifest at its own path: {served:?}"
    );
}

/// registry.k8s.io has no accounts: a login given anyway never leaves drag, while the same
/// pull through the generic adapter sends it (so the stand-in would show it).
#[test]
fn k8s_never_sends_a_login() {
    let image = image();
    let token_auth = |adapter: &str| {
        let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
        registry.push_image("pause", "3.9", &image);
        pull_ok(
            adapter,
            &registry.url(),
            "registry.k8s.io/pause:3.9",
            &image,
            &["--user", "me:secret"],
        );
        let tokens = registry.token_requests();
        assert!(!tokens.is_empty());
        tokens
            .into_iter()
            .map(|t| t.authorization)
            .collect::<Vec<_>>()
    };
    for sent in token_auth("k8s") {
        assert_eq!(sent, None);
    }
    assert!(token_auth("oci")
        .iter()
        .all(|s| s.as_deref() == Some(basic("me:secret").as_str())));
}

/// Red Hat sends no Docker-Content-Digest (and gzips unless asked for identity): a
/// digest-pinned pull checks the body it read against the digest, and a tampered body fails.
#[test]
fn redhat_digest_pinned_pull_without_docker_content_digest_hashes_the_body() {
    let registry = FakeRegistry::builder()
        .docker_content_digest(false)
        .gzip(Gzip::UnlessIdentity)
        .start();
    let image = image();
    registry.push_image("ubi9/ubi", "9.4", &image);
    let pinned = format!("registry.redhat.io/ubi9/ubi@{}", image.digest());
    pull_ok("redhat", &registry.url(), &pinned, &image, &[]);
    pull_ok(
        "redhat",
        &registry.url(),
        "registry.redhat.io/ubi9/ubi:9.4",
        &image,
        &[],
    );

    // The same digest now serves other bytes: still JSON, still a manifest, not the one asked.
    let mut tampered = image.manifest.bytes.to_vec();
    tampered.extend_from_slice(b"\n ");
    let tampered = Blob {
        bytes: tampered.into(),
        ..image.manifest.clone()
    };
    registry.push_manifest("ubi9/ubi", image.digest(), &tampered);
    let cache = fresh_dir("redhat-tampered-cache-");
    let (dir, out) = pull_via("redhat", &registry.url(), &pinned, &cache, &[]);
    out.assert_failure();
    assert!(out.stderr.contains("digest"), "{}", out.stderr);
    assert!(out.stderr.contains(image.digest()), "{}", out.stderr);
    assert_left_nothing(&dir);
}

/// Red Hat service-account users look like `12345678|name`: the `|` reaches Basic intact,
/// from `--user` and from an auth file.
#[test]
fn redhat_login_names_with_a_pipe_reach_basic_auth_intact() {
    let (user, pass) = ("12345678|svc-name", "eyJhbGciOi.s3cret");
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: user.into(),
            pass: pass.into(),
        })
        .start();
    let image = image();
    registry.push_image("rhel9/postgresql-16", "1", &image);
    let reference = "registry.redhat.io/rhel9/postgresql-16:1";
    let login = format!("{user}:{pass}");

    // The stand-in refuses anyone else.
    let cache = fresh_dir("redhat-pipe-cache-");
    let (_, out) = pull_via("redhat", &registry.url(), reference, &cache, &[]);
    out.assert_failure();

    pull_ok(
        "redhat",
        &registry.url(),
        reference,
        &image,
        &["--user", &login],
    );
    let expected = basic(&login);
    assert!(registry
        .requests()
        .iter()
        .any(|r| r.authorization.as_deref() == Some(expected.as_str())));

    // The same login as `docker login` stores it, for the host contacted.
    let dir = fresh_dir("redhat-pipe-auth-");
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(&login);
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let out = run(pull_command(&dir)
        .env("DOCKER_CONFIG", &docker)
        .args(["--registry", "redhat", "--endpoint", &registry.url()])
        .args([reference, "-o", "out.tar"]));
    out.assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
}

/// Artifactory: the repository key stays the first part of the path (never `library/`),
/// HEAD challenges carry an unquoted scope, and `sha256__` tags are hidden unless `--all`.
#[test]
fn artifactory_keeps_the_repository_key_and_hides_digest_tags() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .unquoted_scope(true)
        .start();
    let image = image();
    let repository = "docker-local/team/app";
    registry.push_image(repository, "1", &image);
    let spelled = image.digest().replace("sha256:", "sha256__");
    registry.push_manifest(repository, &spelled, &image.manifest);

    pull_ok(
        "artifactory",
        &registry.url(),
        "acme.jfrog.io/docker-local/team/app:1",
        &image,
        &[],
    );
    let requests = registry.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "HEAD" && r.authorization.is_none()),
        "a HEAD met the unquoted challenge"
    );
    for p in registry_paths(&registry) {
        assert!(
            p == "/v2/" || p == "/token" || p.starts_with("/v2/docker-local/team/app/"),
            "{p}"
        );
    }
    for t in registry.token_requests() {
        assert_eq!(t.scopes, [format!("repository:{repository}:pull")]);
    }

    let tags = ["tags", "--registry", "artifactory", "--endpoint"];
    let name = "acme.jfrog.io/docker-local/team/app";
    let out = run(drag().args(tags).args([&registry.url(), name]));
    out.assert_success();
    assert_eq!(out.stdout_text(), "1\n");
    assert!(out.stderr.contains("hid 1 digest-like"), "{}", out.stderr);
    let out = run(drag().args(tags).args([&registry.url(), name, "--all"]));
    out.assert_success();
    assert_eq!(out.stdout_text(), format!("1\n{spelled}\n"));
}

/// Nexus: the connector path (`repository/docker-hosted/...`) is the repository, verbatim,
/// and `null` entries in its tag lists are skipped.
#[test]
fn nexus_keeps_the_connector_path_and_skips_null_tags() {
    let registry = FakeRegistry::builder().null_tags(true).start();
    let image = image();
    let repository = "repository/docker-hosted/app";
    for tag in ["1", "2"] {
        registry.push_image(repository, tag, &image);
    }
    let name = "nexus.example:8443/repository/docker-hosted/app";
    pull_ok("nexus", &registry.url(), &format!("{name}:1"), &image, &[]);
    for p in registry_paths(&registry) {
        assert!(
            p == "/v2/" || p.starts_with("/v2/repository/docker-hosted/app/"),
            "{p}"
        );
    }
    let out = run(drag().args([
        "tags",
        "--registry",
        "nexus",
        "--endpoint",
        &registry.url(),
        name,
    ]));
    out.assert_success();
    assert_eq!(out.stdout_text(), "1\n2\n");
}

/// Manifests and blobs sent with `Transfer-Encoding: chunked` and no `Content-Length` pull
/// and verify like any others.
#[test]
fn pull_verifies_manifests_and_blobs_sent_chunked_without_a_length() {
    let registry = FakeRegistry::builder().chunked(true).start();
    let image = image();
    registry.push_image("team/app", "1", &image);

    // The stand-in does send them so.
    let client = http_client();
    let layer = &image.layers[0].blob.digest;
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        for path in ["manifests/1".to_string(), format!("blobs/{layer}")] {
            let r = client
                .get(format!("{}/v2/team/app/{path}", registry.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
            assert!(r.headers().get(header::CONTENT_LENGTH).is_none(), "{path}");
            assert_eq!(
                r.headers()
                    .get(header::TRANSFER_ENCODING)
                    .map(|v| v.to_str().unwrap()),
                Some("chunked"),
                "{path}"
            );
        }
    });

    pull_ok(
        "oci",
        &registry.url(),
        "registry.example/team/app:1",
        &image,
        &[],
    );
    let pinned = format!("registry.example/team/app@{}", image.digest());
    pull_ok("oci", &registry.url(), &pinned, &image, &[]);
}

const SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// drag reads no schema1 manifests, so it never asks for one: no manifest request's Accept
/// lists either schema1 type (a registry would otherwise convert to schema1 for us).
#[test]
fn manifest_requests_never_ask_for_schema1() {
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    pull_ok(
        "oci",
        &registry.url(),
        "registry.example/team/app:1",
        &image,
        &[],
    );
    let out = run(drag().args([
        "inspect",
        "--endpoint",
        &registry.url(),
        "registry.example/team/app:1",
    ]));
    out.assert_success();

    let manifest_requests: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/manifests/"))
        .collect();
    assert!(manifest_requests.len() >= 2);
    for r in manifest_requests {
        let accept = r.accept.unwrap_or_default();
        assert!(
            accept.contains("application/vnd.oci.image.manifest.v1+json")
                && accept.contains("application/vnd.docker.distribution.manifest.v2+json"),
            "{} {}: {accept}",
            r.method,
            r.path_and_query
        );
        for listed in accept.split(',') {
            let media_type = listed.split(';').next().unwrap_or("").trim();
            assert!(
                !SCHEMA1.contains(&media_type),
                "{} {} asks for schema1: {accept}",
                r.method,
                r.path_and_query
            );
        }
    }
}
