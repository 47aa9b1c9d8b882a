//! Pulls from the real CNCF distribution registry, checked with real consumers.

use drag_tests::archive::{assert_entries_hold_image, json_entry, read_tar};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::tools::tool;
use drag_tests::{
    require_tool, Compression, Image, ImageBuilder, LayerBuilder, Podman, RealRegistry,
};

fn multi_layer_image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .dir("bin", 0o755)
                .file("bin/hello", "#!/bin/sh\necho hello\n", 0o755)
                .symlink("bin/hi", "hello")
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .dir("data", 0o755)
                .file("data/big", vec![7u8; 2 << 20], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .dir("etc", 0o755)
                .file("etc/release", "drag-test 1\n", 0o644)
                .build(Compression::Gzip),
        )
        .cmd(&["/bin/hello"])
        .build()
}

fn skopeo_inspect(archive: &std::path::Path) -> Option<serde_json::Value> {
    let skopeo = require_tool("skopeo")?;
    let info = tool(
        &skopeo,
        &["inspect", &format!("docker-archive:{}", archive.display())],
    );
    Some(serde_json::from_str(&info).expect("skopeo prints JSON"))
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_layer_pull_through_endpoint_loads_with_podman_and_skopeo() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    let image = multi_layer_image();
    registry.push_image("myorg/app", "1", &image).await;
    let dir = fresh_dir("real-");
    let reference = format!("{}/myorg/app:1", registry.host());
    pull(&dir, &["-o", "app.tar", &reference]).assert_success();
    let archive = dir.join("app.tar");
    let tar = read_tar(&archive);
    assert_eq!(
        json_entry(&tar, "manifest.json")[0]["RepoTags"][0],
        reference
    );
    assert_entries_hold_image(&tar, &image);

    if let Some(info) = skopeo_inspect(&archive) {
        assert_eq!(info["Architecture"], "amd64");
        assert_eq!(info["Layers"].as_array().map(Vec::len), Some(3));
    }
    if let Some(podman) = Podman::new() {
        let names = podman.load(&archive);
        assert!(names.contains(&reference), "podman images: {names:?}");
        let ids = podman.run(&["images", "--no-trunc", "--format", "{{.ID}}"]);
        let id = image.config.digest.trim_start_matches("sha256:");
        assert!(ids.contains(id), "podman image IDs: {ids}");
    }

    // The same registry through --endpoint, named as Docker Hub would name it.
    pull(
        &dir,
        &[
            "-o",
            "hub.tar",
            "--endpoint",
            &registry.url(),
            "myorg/app:1",
        ],
    )
    .assert_success();
    let hub = read_tar(&dir.join("hub.tar"));
    assert_eq!(
        json_entry(&hub, "manifest.json")[0]["RepoTags"][0],
        "docker.io/myorg/app:1"
    );
    assert_entries_hold_image(&hub, &image);
}

#[tokio::test(flavor = "multi_thread")]
async fn decompressed_archive_loads_with_podman() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    let image = multi_layer_image();
    registry.push_image("myorg/app", "1", &image).await;
    let dir = fresh_dir("real-decompress-");
    pull(
        &dir,
        &[
            "--decompress",
            "-o",
            "app.tar",
            "--endpoint",
            &registry.url(),
            "myorg/app:1",
        ],
    )
    .assert_success();
    let archive = dir.join("app.tar");
    if let Some(info) = skopeo_inspect(&archive) {
        let diff_ids: Vec<String> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        assert_eq!(info["Layers"], serde_json::json!(diff_ids));
    }
    if let Some(podman) = Podman::new() {
        let names = podman.load(&archive);
        assert!(
            names.iter().any(|n| n == "docker.io/myorg/app:1"),
            "{names:?}"
        );
        let diff_ids: Vec<String> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        assert_eq!(
            podman.diff_ids("docker.io/myorg/app:1"),
            serde_json::json!(diff_ids)
        );
    }
}
