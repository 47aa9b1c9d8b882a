//! What is served from which source and under which name: a union of partial sources, a
//! `--decompress` archive, names with and without their host, and a corrupt blob.

use std::path::Path;
use std::time::Duration;

use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::drag_serve::arg;
use drag_tests::{
    http_client, Compression, DragServe, FakeRegistry, ImageBuilder, LayerBuilder, ManifestFormat,
};

use super::{copy_dir, digest_in, error_code, get, header, image, sources};
#[tokio::test(flavor = "multi_thread")]
async fn two_sources_each_holding_part_of_the_blobs_serve_whole_images() {
    let s = sources();
    let first = s.path("first");
    let second = s.path("second");
    copy_dir(&s.path("app"), &first);
    copy_dir(&s.path("app"), &second);
    let blob_path = |dir: &Path, digest: &str| {
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let layers: Vec<String> = s.app.layers.iter().map(|l| l.blob.digest.clone()).collect();
    std::fs::remove_file(blob_path(&first, &layers[0])).unwrap();
    std::fs::remove_file(blob_path(&second, &layers[1])).unwrap();

    // Alone, the first source lists the image; the blob it lacks answers 404.
    let alone = DragServe::start(&[arg(&first)]);
    assert!(
        alone.stderr().contains("org/app:1 -> ") && alone.stderr().contains("1 blob in no source"),
        "{}",
        alone.stderr()
    );
    let r = get(
        &format!("{}/v2/org/app/blobs/{}", alone.url(), layers[0]),
        &[],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    drop(alone);

    let union = DragServe::start(&[arg(&first), arg(&second)]);
    let dir = fresh_dir("serve-union-");
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "app.tar",
            &format!("{}/org/app:1", union.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("app.tar")), s.app.digest());
}

#[test]
fn a_decompressed_archive_serves_its_layers_as_stored() {
    let registry = FakeRegistry::start();
    let img = image(ManifestFormat::Docker, 20, 20_000);
    registry.push_image("org/plain", "1", &img);
    let dir = fresh_dir("serve-plain-");
    pull(
        &dir,
        &[
            "-q",
            "--decompress",
            "-o",
            "plain.tar",
            &format!("{}/org/plain:1", registry.host()),
        ],
    )
    .assert_success();
    let stored = digest_in(&dir.join("plain.tar"));
    let served = DragServe::start(&[arg(&dir.join("plain.tar"))]);
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "back.tar",
            &format!("{}/org/plain:1", served.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("back.tar")), stored);
}

/// Rewrites the names of the one image of the layout at `dir`: `io.containerd.image.name` set
/// to `full` (or removed), the tag kept.
fn rename_layout(dir: &Path, full: Option<&str>) {
    let path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let annotations = index["manifests"][0]["annotations"]
        .as_object_mut()
        .unwrap();
    match full {
        Some(name) => annotations.insert("io.containerd.image.name".into(), name.into()),
        None => annotations.remove("io.containerd.image.name"),
    };
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn names_drop_or_keep_the_host_and_unnamed_images_take_their_sources_name() {
    let s = sources();
    // skopeo's `oci:DIR:TAG` names an image by its tag only.
    let tagged = s.path("My Layout");
    copy_dir(&s.path("app"), &tagged);
    rename_layout(&tagged, None);
    // `docker save` writes familiar names; a later source giving a tag another image wins it.
    let familiar = s.path("familiar");
    copy_dir(&s.path("app"), &familiar);
    rename_layout(&familiar, Some("alpine:3.9"));
    let served = DragServe::start(&[arg(&s.path("alpine.tar")), arg(&tagged), arg(&familiar)]);
    let listed = served.stderr();
    assert!(
        listed.contains(&format!("my-layout:1 -> {}", s.app.digest())),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("library/alpine:3.9 -> {}", s.app.digest()))
            && listed.contains("note: library/alpine:3.9 is"),
        "{listed}"
    );
    let base = format!("{}/v2", served.url());
    let digest_of = |r: &reqwest::Response| header(r, "docker-content-digest").to_string();
    let r = get(&format!("{base}/my-layout/manifests/1"), &[]).await;
    assert_eq!(digest_of(&r), s.app.digest());
    let r = get(&format!("{base}/library/alpine/manifests/3.9"), &[]).await;
    assert_eq!(digest_of(&r), s.app.digest());
    let r = get(&format!("{base}/library/alpine/manifests/3.10"), &[]).await;
    assert_eq!(digest_of(&r), s.alpine.digest());
    let r = get(
        &format!("{base}/library/alpine/manifests/{}", s.alpine.digest()),
        &[],
    )
    .await;
    assert_eq!(
        r.status(),
        200,
        "the image the tag left is still there by digest"
    );
    drop(served);

    let kept = DragServe::start(&[arg(&s.path("alpine.tar")), "--keep-host"]);
    let base = format!("{}/v2", kept.url());
    let r = get(
        &format!("{base}/docker.io/library/alpine/manifests/3.9"),
        &[],
    )
    .await;
    assert_eq!(digest_of(&r), s.alpine.digest());
    let r = get(
        &format!("{base}/library/alpine/manifests/3.9?ns=docker.io"),
        &[],
    )
    .await;
    assert_eq!(digest_of(&r), s.alpine.digest());
    let r = get(&format!("{base}/library/alpine/manifests/3.9"), &[]).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_blob_is_refused_and_logged_never_sent() {
    let s = sources();
    let layout = s.path("corrupt");
    copy_dir(&s.path("app"), &layout);
    let layer = &s.app.layers[0].blob;
    let path = layout
        .join("blobs/sha256")
        .join(layer.digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let served = DragServe::start(&[arg(&layout)]);
    let url = format!("{}/v2/org/app/blobs/{}", served.url(), layer.digest);
    // Asked for twice: the one check's verdict stands. Not even a range of it goes out.
    for range in [None, None, Some("bytes=0-9")] {
        let mut request = http_client().get(&url);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = served.stderr();
    assert!(log.contains("digest mismatch"), "{log}");
    assert_eq!(
        log.matches("digest mismatch").count(),
        1,
        "checked once: {log}"
    );
}

/// A delta bundle is served whole with its base: the layer it leaves out comes from the base,
/// and `drag pull` gets the image with its original digest. Alone, the delta still lists the
/// image and says what it lacks.
#[tokio::test(flavor = "multi_thread")]
async fn a_delta_served_with_its_base_serves_whole_images() {
    let shared = LayerBuilder::new()
        .file("base/data", noise(40_000, 61), 0o644)
        .build(Compression::Gzip);
    let own = |seed| {
        LayerBuilder::new()
            .file("app/data", noise(20_000, seed), 0o644)
            .build(Compression::Gzip)
    };
    let first = ImageBuilder::new()
        .layer(shared.clone())
        .layer(own(62))
        .build();
    let second = ImageBuilder::new()
        .layer(shared.clone())
        .layer(own(63))
        .build();
    let registry = FakeRegistry::start();
    registry.push_image("org/one", "1", &first);
    registry.push_image("org/two", "1", &second);
    let dir = fresh_dir("serve-delta-");
    let from = |repo: &str| format!("{}/{repo}:1", registry.host());
    pull(&dir, &["-q", "-o", "base.tar", &from("org/one")]).assert_success();
    pull(
        &dir,
        &[
            "-q",
            "--since",
            "base.tar",
            "-o",
            "delta.tar",
            &from("org/two"),
        ],
    )
    .assert_success();

    let alone = DragServe::start(&[arg(&dir.join("delta.tar"))]);
    assert!(
        alone.stderr().contains("org/two:1 -> ") && alone.stderr().contains("1 blob in no source"),
        "{}",
        alone.stderr()
    );
    let r = get(
        &format!("{}/v2/org/two/blobs/{}", alone.url(), shared.blob.digest),
        &[],
    )
    .await;
    assert_eq!(r.status(), 404);
    drop(alone);

    let union = DragServe::start(&[arg(&dir.join("base.tar")), arg(&dir.join("delta.tar"))]);
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "two.tar",
            &format!("{}/org/two:1", union.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("two.tar")), second.digest());
}
