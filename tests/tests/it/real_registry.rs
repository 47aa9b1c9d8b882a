//! Pulls from the real CNCF distribution registry, checked with real consumers.

use drag_tests::archive::{blob_path, json_entry, read_tar};
use drag_tests::drag_cli::fresh_dir;
use drag_tests::{
    drag, require_tool, run, Compression, Image, ImageBuilder, LayerBuilder, RealRegistry,
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

/// Loads an archive into a throwaway podman store; returns `podman images` output.
fn podman_load(archive: &std::path::Path) -> Option<String> {
    let podman = require_tool("podman")?;
    let root = fresh_dir("podman-");
    let base = |cmd: &mut std::process::Command| {
        cmd.arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("run"))
            .args(["--storage-driver", "vfs"]);
    };
    let mut load = std::process::Command::new(&podman);
    base(&mut load);
    let out = load
        .arg("load")
        .arg("-i")
        .arg(archive)
        .output()
        .expect("podman runs");
    assert!(
        out.status.success(),
        "podman load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut images = std::process::Command::new(&podman);
    base(&mut images);
    let out = images
        .args(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .output()
        .expect("podman runs");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn skopeo_inspect(archive: &std::path::Path) -> Option<serde_json::Value> {
    let skopeo = require_tool("skopeo")?;
    let out = std::process::Command::new(skopeo)
        .arg("inspect")
        .arg(format!("docker-archive:{}", archive.display()))
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("skopeo prints JSON"))
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
    run(drag()
        .current_dir(&dir)
        .args(["pull", "-o", "app.tar", &reference]))
    .assert_success();
    let archive = dir.join("app.tar");
    let tar = read_tar(&archive);
    assert_eq!(
        json_entry(&tar, "manifest.json")[0]["RepoTags"][0],
        reference
    );
    assert_eq!(
        tar[&blob_path(&image.config.digest)].data,
        image.config.bytes.to_vec()
    );

    if let Some(info) = skopeo_inspect(&archive) {
        assert_eq!(info["Architecture"], "amd64");
        assert_eq!(info["Layers"].as_array().map(Vec::len), Some(3));
    }
    if let Some(images) = podman_load(&archive) {
        let id = &image.config.digest["sha256:".len().."sha256:".len() + 12];
        assert!(
            images.contains(&reference) && images.contains(id),
            "podman images: {images}"
        );
    }

    // The same registry through --endpoint, named as Docker Hub would name it.
    run(drag().current_dir(&dir).args([
        "pull",
        "-o",
        "hub.tar",
        "--endpoint",
        &registry.url(),
        "myorg/app:1",
    ]))
    .assert_success();
    let hub = read_tar(&dir.join("hub.tar"));
    assert_eq!(
        json_entry(&hub, "manifest.json")[0]["RepoTags"][0],
        "myorg/app:1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn decompressed_archive_loads_with_podman() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    let image = multi_layer_image();
    registry.push_image("myorg/app", "1", &image).await;
    let dir = fresh_dir("real-decompress-");
    run(drag().current_dir(&dir).args([
        "pull",
        "--decompress",
        "-o",
        "app.tar",
        "--endpoint",
        &registry.url(),
        "myorg/app:1",
    ]))
    .assert_success();
    let archive = dir.join("app.tar");
    if let Some(info) = skopeo_inspect(&archive) {
        let diff_ids: Vec<String> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        assert_eq!(info["Layers"], serde_json::json!(diff_ids));
    }
    if let Some(images) = podman_load(&archive) {
        assert!(images.contains("docker.io/myorg/app:1"), "{images}");
    }
}
