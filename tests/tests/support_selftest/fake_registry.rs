use std::io::{Read, Write};

use drag_tests::{
    http_client, media_types, response_json, AuthMode, Compression, FakeRegistry, ImageBuilder,
    IndexBuilder, LayerBuilder, Listener, ManifestFormat, TokenField,
};
use reqwest::StatusCode;

fn small_image() -> drag_tests::Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("hello", "world", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// The `(realm, service, scope)` of a Bearer challenge (test-grade parser).
fn parse_challenge(header: &str) -> (String, String, Option<String>) {
    let params = header.strip_prefix("Bearer ").expect("Bearer challenge");
    let mut realm = String::new();
    let mut service = String::new();
    let mut scope = None;
    for part in params.split(',') {
        let (key, value) = part.split_once('=').unwrap();
        let value = value.trim_matches('"').to_string();
        match key {
            "realm" => realm = value,
            "service" => service = value,
            "scope" => scope = Some(value),
            _ => {}
        }
    }
    (realm, service, scope)
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_manifests_and_blobs_of_repositories_with_slashes() {
    let registry = FakeRegistry::start();
    let image = small_image();
    registry.push_image("library/deep/name", "latest", &image);
    let client = http_client();
    let base = registry.url();
    assert_eq!(base, format!("http://{}", registry.host()));

    let ping = client.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    assert_eq!(
        ping.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    for reference in ["latest", image.digest()] {
        let response = client
            .get(format!("{base}/v2/library/deep/name/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], media_types::DOCKER_MANIFEST);
        assert_eq!(headers["docker-content-digest"], image.digest());
        assert_eq!(
            headers["content-length"],
            image.manifest.bytes.len().to_string().as_str()
        );
        assert_eq!(response.bytes().await.unwrap(), image.manifest.bytes);
    }

    let head = client
        .head(format!("{base}/v2/library/deep/name/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["docker-content-digest"], image.digest());
    assert_eq!(
        head.headers()["content-length"],
        image.manifest.bytes.len().to_string().as_str(),
        "HEAD keeps the manifest's length"
    );

    let layer = &image.layers[0].blob;
    let blob = client
        .get(format!(
            "{base}/v2/library/deep/name/blobs/{}",
            layer.digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), StatusCode::OK);
    assert_eq!(
        blob.headers()["docker-content-digest"],
        layer.digest.as_str()
    );
    assert_eq!(blob.bytes().await.unwrap(), layer.bytes);

    let blob_head = client
        .head(format!(
            "{base}/v2/library/deep/name/blobs/{}",
            layer.digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(blob_head.status(), StatusCode::OK);
    // reqwest's content_length() reports the (empty) HEAD body; the header is what counts.
    assert_eq!(
        blob_head.headers()["content-length"],
        layer.size().to_string().as_str()
    );
    assert_eq!(
        registry.blob_get_count(&layer.digest),
        1,
        "HEAD is not a GET"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_content_gets_distribution_errors() {
    let registry = FakeRegistry::start();
    registry.push_image("a/b", "v1", &small_image());
    let client = http_client();

    let manifest = client
        .get(format!("{}/v2/a/b/manifests/nope", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::NOT_FOUND);
    let body = response_json(manifest).await;
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(body["errors"][0]["message"], "manifest unknown");

    let blob = client
        .get(format!(
            "{}/v2/a/b/blobs/sha256:{}",
            registry.url(),
            "0".repeat(64)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), StatusCode::NOT_FOUND);
    let body = response_json(blob).await;
    assert_eq!(body["errors"][0]["code"], "BLOB_UNKNOWN");

    // Content is per repository, as in a real registry.
    let other_repo = client
        .get(format!("{}/v2/a/c/manifests/v1", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(other_repo.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_digests_are_served_as_pushed() {
    let registry = FakeRegistry::start();
    let image = small_image();
    let mut forged = image.layers[0].blob.clone();
    forged.digest = format!("sha256:{}", "ab".repeat(32));
    registry.push_blob("x", &forged);
    registry.push_manifest("x", &format!("sha256:{}", "cd".repeat(32)), &image.manifest);

    let client = http_client();
    let blob = client
        .get(format!("{}/v2/x/blobs/{}", registry.url(), forged.digest))
        .send()
        .await
        .unwrap();
    assert_eq!(
        blob.headers()["docker-content-digest"],
        forged.digest.as_str()
    );
    assert_eq!(blob.bytes().await.unwrap(), forged.bytes);
    let manifest = client
        .get(format!(
            "{}/v2/x/manifests/sha256:{}",
            registry.url(),
            "cd".repeat(32)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(manifest.headers()["docker-content-digest"], image.digest());
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_flow_issues_scoped_tokens_and_honours_revocation() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Both,
            expires_in: Some(300),
        })
        .start();
    let image = small_image();
    registry.push_image("library/busybox", "latest", &image);
    registry.push_image("library/other", "latest", &image);
    let client = http_client();
    let manifest_url = format!("{}/v2/library/busybox/manifests/latest", registry.url());

    let ping = client
        .get(format!("{}/v2/", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        ping.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"{}/token\",service=\"fake-registry\"",
            registry.url()
        )
        .as_str()
    );

    let denied = client.get(&manifest_url).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let challenge = denied.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{}/token\",service=\"fake-registry\",scope=\"repository:library/busybox:pull\"",
            registry.url()
        )
    );
    let body = response_json(denied).await;
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(body["errors"][0]["message"], "authentication required");

    let (realm, service, scope) = parse_challenge(&challenge);
    let token_response = response_json(
        client
            .get(&realm)
            .query(&[
                ("service", service.as_str()),
                ("scope", scope.as_deref().unwrap()),
            ])
            .basic_auth("alice", Some("secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = token_response["token"].as_str().unwrap().to_string();
    assert_eq!(token_response["access_token"], token.as_str());
    assert_eq!(token_response["expires_in"], 300);
    assert!(token_response["issued_at"].as_str().unwrap().ends_with('Z'));

    let requests = registry.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].scopes,
        vec!["repository:library/busybox:pull".to_string()]
    );
    assert_eq!(requests[0].service.as_deref(), Some("fake-registry"));
    assert!(requests[0]
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("Basic "));

    let ok = client
        .get(&manifest_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ping = client
        .get(format!("{}/v2/", registry.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::OK, "any valid token opens /v2/");

    let wrong_repo = client
        .get(format!(
            "{}/v2/library/other/manifests/latest",
            registry.url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_repo.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_repo.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"insufficient_scope\""));

    registry.revoke_tokens();
    let revoked = client
        .get(&manifest_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert!(revoked.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));

    let fresh = response_json(
        client
            .get(&realm)
            .query(&[
                ("service", "fake-registry"),
                ("scope", "repository:library/busybox:pull"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let fresh = fresh["token"].as_str().unwrap();
    assert_ne!(fresh, token);
    let ok = client
        .get(&manifest_url)
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_responses_follow_the_token_field_option_and_expiry_is_enforced() {
    for (field, has_token, has_access_token) in [
        (TokenField::Token, true, false),
        (TokenField::AccessToken, false, true),
    ] {
        let registry = FakeRegistry::builder()
            .auth(AuthMode::Bearer {
                token_field: field,
                expires_in: None,
            })
            .start();
        let response = response_json(
            http_client()
                .get(format!(
                    "{}/token?service=fake-registry&scope=repository:a:pull",
                    registry.url()
                ))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(response.get("token").is_some(), has_token, "{field:?}");
        assert_eq!(
            response.get("access_token").is_some(),
            has_access_token,
            "{field:?}"
        );
        assert!(response.get("expires_in").is_none());
    }

    let expiring = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Token,
            expires_in: Some(0),
        })
        .start();
    expiring.push_image("a", "latest", &small_image());
    let client = http_client();
    let response = response_json(
        client
            .get(format!("{}/token?scope=repository:a:pull", expiring.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let expired = client
        .get(format!("{}/v2/a/manifests/latest", expiring.url()))
        .bearer_auth(response["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_accepts_only_the_configured_user() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "bob".into(),
            pass: "hunter2".into(),
        })
        .start();
    let client = http_client();
    let url = format!("{}/v2/", registry.url());
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"fake-registry\""
    );
    let wrong = client
        .get(&url)
        .basic_auth("bob", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = client
        .get(&url)
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn cdn_redirect_goes_to_another_origin_that_rejects_credentials() {
    let registry = FakeRegistry::builder().cdn(true).start();
    let image = small_image();
    registry.push_image("library/busybox", "latest", &image);
    let layer = &image.layers[0].blob;
    let client = http_client();

    let redirect = client
        .get(format!(
            "{}/v2/library/busybox/blobs/{}",
            registry.url(),
            layer.digest
        ))
        .bearer_auth("registry-token")
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&registry.cdn_url()), "{location}");
    assert_ne!(registry.cdn_url(), registry.url());

    let with_auth = client
        .get(&location)
        .bearer_auth("registry-token")
        .send()
        .await
        .unwrap();
    assert_eq!(with_auth.status(), StatusCode::FORBIDDEN);

    let without_auth = client.get(&location).send().await.unwrap();
    assert_eq!(without_auth.status(), StatusCode::OK);
    assert_eq!(without_auth.bytes().await.unwrap(), layer.bytes);

    let ranged = client
        .get(&location)
        .header("range", "bytes=3-")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap(), layer.bytes.slice(3..));

    let requests = registry.requests();
    let cdn_hosts: Vec<_> = requests
        .iter()
        .filter(|r| r.listener == Listener::Cdn)
        .map(|r| r.host_port.clone())
        .collect();
    assert_eq!(cdn_hosts.len(), 3);
    assert!(cdn_hosts
        .iter()
        .all(|h| registry.cdn_url().ends_with(h.as_str())));
    assert_eq!(registry.blob_get_count(&layer.digest), 1);
    assert_eq!(registry.cdn_get_count(&layer.digest), 3);
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer registry-token")
    );
    assert_eq!(requests[3].range.as_deref(), Some("bytes=3-"));

    registry.clear_requests();
    assert!(registry.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_lists_paginate_with_link_headers() {
    let registry = FakeRegistry::builder().tags_page_size(2).start();
    let image = small_image();
    for tag in ["e", "a", "d", "b", "c"] {
        registry.push_image("lib/x", tag, &image);
    }
    let client = http_client();
    let mut next = Some("/v2/lib/x/tags/list".to_string());
    let mut tags = Vec::new();
    let mut links = Vec::new();
    while let Some(path) = next.take() {
        let response = client
            .get(format!("{}{path}", registry.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        if let Some(link) = response.headers().get("link") {
            let link = link.to_str().unwrap().to_string();
            let target = link
                .strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .unwrap()
                .0
                .to_string();
            links.push(link);
            next = Some(target);
        }
        let body = response_json(response).await;
        assert_eq!(body["name"], "lib/x");
        for tag in body["tags"].as_array().unwrap() {
            tags.push(tag.as_str().unwrap().to_string());
        }
    }
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);
    assert_eq!(
        links,
        [
            "</v2/lib/x/tags/list?last=b&n=2>; rel=\"next\"",
            "</v2/lib/x/tags/list?last=d&n=2>; rel=\"next\""
        ]
    );

    // A client's smaller `n` wins over the page size.
    let one = response_json(
        client
            .get(format!("{}/v2/lib/x/tags/list?n=1", registry.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(one["tags"], serde_json::json!(["a"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_content_digest_can_be_withheld() {
    let registry = FakeRegistry::builder().docker_content_digest(false).start();
    let image = small_image();
    registry.push_image("r", "t", &image);
    let client = http_client();
    let manifest = client
        .get(format!("{}/v2/r/manifests/t", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);
    assert!(manifest.headers().get("docker-content-digest").is_none());
    let blob = client
        .get(format!(
            "{}/v2/r/blobs/{}",
            registry.url(),
            image.config.digest
        ))
        .send()
        .await
        .unwrap();
    assert!(blob.headers().get("docker-content-digest").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn push_index_makes_every_platform_pullable_by_digest() {
    let registry = FakeRegistry::start();
    let amd64 = small_image();
    let arm64 = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch("arm64")
        .layer(
            LayerBuilder::new()
                .file("a", "b", 0o644)
                .build(Compression::Zstd),
        )
        .build();
    let attestation = drag_tests::attestation_for(&arm64);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd64)
        .image(&arm64)
        .attestation(&attestation, &arm64)
        .build();
    registry.push_index("multi", "latest", &index, &[&amd64, &arm64, &attestation]);
    let client = http_client();
    let top = client
        .get(format!("{}/v2/multi/manifests/latest", registry.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(top.headers()["content-type"], media_types::OCI_INDEX);
    for image in [&amd64, &arm64, &attestation] {
        let manifest = client
            .get(format!(
                "{}/v2/multi/manifests/{}",
                registry.url(),
                image.digest()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(manifest.status(), StatusCode::OK);
        assert_eq!(
            manifest.headers()["content-type"],
            image.manifest.media_type.as_str()
        );
        let layer = client
            .get(format!(
                "{}/v2/multi/blobs/{}",
                registry.url(),
                image.layers[0].blob.digest
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(layer.status(), StatusCode::OK);
    }
}

/// The registry runs on its own thread: a test without any tokio runtime,
/// blocking on plain std I/O, still gets answers.
#[test]
fn serves_while_the_test_thread_blocks_without_a_runtime() {
    let registry = FakeRegistry::start();
    let mut stream = std::net::TcpStream::connect(registry.host()).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}
