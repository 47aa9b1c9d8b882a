use drag_tests::{
    attestation_for, http_client, media_types, Compression, ImageBuilder, IndexBuilder,
    LayerBuilder, ManifestFormat, RealRegistry, StaticHost,
};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn pushed_images_come_back_byte_for_byte() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", "hi\n", 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .whiteout("etc/motd")
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("library/demo", "v1", &image).await;

    let client = http_client();
    let manifest = client
        .get(format!("{}/v2/library/demo/manifests/v1", registry.url()))
        .header("accept", media_types::DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(manifest.headers()["docker-content-digest"], image.digest());
    assert_eq!(
        manifest.headers()["content-type"],
        media_types::DOCKER_MANIFEST
    );
    assert_eq!(manifest.bytes().await.unwrap(), image.manifest.bytes);

    for blob in [&image.config, &image.layers[0].blob, &image.layers[1].blob] {
        let fetched = client
            .get(format!(
                "{}/v2/library/demo/blobs/{}",
                registry.url(),
                blob.digest
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(fetched.status(), StatusCode::OK);
        assert_eq!(fetched.bytes().await.unwrap(), blob.bytes);
    }
    assert_eq!(
        registry.host(),
        registry.url().trim_start_matches("http://")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn indexes_with_attestations_push_after_their_manifests() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    let amd64 = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(
            LayerBuilder::new()
                .file("a", "amd64", 0o644)
                .build(Compression::Zstd),
        )
        .build();
    let arm64 = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch("arm64")
        .variant("v8")
        .layer(
            LayerBuilder::new()
                .file("a", "arm64", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    let attestation = attestation_for(&amd64);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd64)
        .image(&arm64)
        .attestation(&attestation, &amd64)
        .build();
    registry
        .push_index("multi", "latest", &index, &[&amd64, &arm64, &attestation])
        .await;

    let client = http_client();
    let fetched = client
        .get(format!("{}/v2/multi/manifests/latest", registry.url()))
        .header("accept", media_types::OCI_INDEX)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], media_types::OCI_INDEX);
    assert_eq!(fetched.bytes().await.unwrap(), index.bytes);

    registry.delete_manifest("multi", arm64.digest()).await;
    let gone = client
        .get(format!(
            "{}/v2/multi/manifests/{}",
            registry.url(),
            arm64.digest()
        ))
        .header("accept", media_types::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_layers_are_accepted_when_the_config_allows_their_urls() {
    let Some(registry) = RealRegistry::start_with(
        "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n",
    )
    .await
    else {
        return;
    };
    let base = LayerBuilder::new()
        .file("Files/base", "windows", 0o644)
        .build(Compression::Gzip);
    let host = StaticHost::start([("/base.tar.gz", base.blob.bytes.clone())]);
    let image = ImageBuilder::new()
        .os("windows")
        .os_version("10.0.17763.5329")
        .foreign_layer(base.clone(), vec![host.url_for("/base.tar.gz")])
        .layer(
            LayerBuilder::new()
                .file("Files/app", "app", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("windows/app", "ltsc2019", &image).await;

    let client = http_client();
    let manifest = client
        .get(format!(
            "{}/v2/windows/app/manifests/ltsc2019",
            registry.url()
        ))
        .header("accept", media_types::DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(manifest.bytes().await.unwrap(), image.manifest.bytes);
    let foreign_blob = client
        .get(format!(
            "{}/v2/windows/app/blobs/{}",
            registry.url(),
            base.blob.digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        foreign_blob.status(),
        StatusCode::NOT_FOUND,
        "the registry never got it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_manifests_report_the_registry_answer() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    // The config blob was never uploaded, so the registry refuses the manifest.
    let image = ImageBuilder::new().build();
    let error = registry
        .try_push_manifest("r", "t", &image.manifest)
        .await
        .unwrap_err();
    assert!(
        error.contains("MANIFEST_BLOB_UNKNOWN") || error.contains("BLOB_UNKNOWN"),
        "{error}"
    );
}
