//! Delta bundles (`--since OLD`): two images share a base layer; the second pulled with
//! `--since first.tar` leaves that layer out (never fetching it), keeps its manifest and config,
//! says what it left out in `index.json`, opens as an image source, pushes to a registry that
//! holds the base and fails clearly against one that does not, is written by `drag sync` too,
//! and is refused by `docker load` with a message naming the missing blob.

use std::path::Path;

use drag_core::image_source::ImageSource;
use drag_core::manifest::DELTA_LEFT_OUT_ANNOTATION;
use drag_tests::archive::{blob_path, json_entry, read_tar};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::layout::read_json;
use drag_tests::real_registry::served_manifest;
use drag_tests::{
    drag, run, Compression, Dockerd, DragOutput, FakeRegistry, Image, ImageBuilder, IndexBuilder,
    Layer, LayerBuilder, ManifestFormat, RealRegistry,
};

/// The layer both images share (`tag` keeps tests apart in a shared dockerd).
fn base_layer(tag: &str) -> Layer {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .file(
            "etc/os-release",
            format!("ID=delta-{tag}\n").repeat(300),
            0o644,
        )
        .build(Compression::Gzip)
}

fn app_image(base: &Layer, marker: &str) -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(base.clone())
        .layer(
            LayerBuilder::new()
                .file("app/marker", marker.repeat(200), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// A fake registry holding `first:1` and `second:1`, which share their base layer.
fn two_images(tag: &str) -> (FakeRegistry, Image, Image) {
    let registry = FakeRegistry::start();
    let base = base_layer(tag);
    let first = app_image(&base, &format!("first-{tag}"));
    let second = app_image(&base, &format!("second-{tag}"));
    registry.push_image("first", "1", &first);
    registry.push_image("second", "1", &second);
    (registry, first, second)
}

fn left_out_annotation(index: &serde_json::Value) -> Vec<String> {
    index["annotations"][DELTA_LEFT_OUT_ANNOTATION]
        .as_str()
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Pulls `first:1` to first.tar, then `second:1` with `--since first.tar` (plus `extra`).
fn pull_delta(registry: &FakeRegistry, dir: &Path, extra: &[&str]) -> DragOutput {
    let host = registry.host();
    pull(dir, &["-q", "-o", "first.tar", &format!("{host}/first:1")]).assert_success();
    registry.clear_requests();
    let mut args = vec!["-q", "--since", "first.tar"];
    args.extend_from_slice(extra);
    let second = format!("{host}/second:1");
    args.push(&second);
    pull(dir, &args)
}

#[test]
fn a_delta_archive_leaves_out_the_shared_layer_without_fetching_it() {
    let (registry, _first, second) = two_images("archive");
    let dir = fresh_dir("delta-archive-");
    pull_delta(&registry, &dir, &["-o", "delta.tar"]).assert_success();

    let shared = &second.layers[0].blob.digest;
    let own = &second.layers[1].blob.digest;
    assert_eq!(
        registry.blob_get_count(shared),
        0,
        "the shared layer was fetched"
    );
    assert_eq!(
        registry.blob_get_count(own),
        1,
        "the new layer was not fetched"
    );

    let tar = read_tar(&dir.join("delta.tar"));
    assert!(
        !tar.contains_key(&blob_path(shared)),
        "shared layer written"
    );
    for kept in [own, &second.config.digest, &second.manifest.digest] {
        assert!(tar.contains_key(&blob_path(kept)), "{kept} missing");
    }
    let index = json_entry(&tar, "index.json");
    assert_eq!(left_out_annotation(&index), vec![shared.clone()]);
    assert_eq!(index["manifests"][0]["digest"], second.digest());
    // `Layers` names the left-out blob at a path saying why it is absent, which is what
    // `docker load` of the delta alone shows.
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(
        manifest[0]["Layers"][0],
        format!(
            "left-out-of-this-delta-bundle-load-its-base-first/sha256/{}",
            shared.trim_start_matches("sha256:")
        )
    );

    // The whole archive, for comparison, has it.
    let whole = read_tar(&dir.join("first.tar"));
    assert!(whole.contains_key(&blob_path(shared)));
    assert!(left_out_annotation(&json_entry(&whole, "index.json")).is_empty());
}

#[test]
fn an_oci_delta_layout_leaves_out_the_shared_layer_and_keeps_manifest_and_config() {
    let (registry, _first, second) = two_images("layout");
    let dir = fresh_dir("delta-layout-");
    pull_delta(&registry, &dir, &["--format", "oci", "-o", "delta"]).assert_success();

    let shared = &second.layers[0].blob.digest;
    assert_eq!(
        registry.blob_get_count(shared),
        0,
        "the shared layer was fetched"
    );
    let layout = dir.join("delta");
    assert!(!layout.join(blob_path(shared)).exists());
    for kept in [
        &second.layers[1].blob.digest,
        &second.config.digest,
        &second.manifest.digest,
    ] {
        assert!(layout.join(blob_path(kept)).is_file(), "{kept} missing");
    }
    let index = read_json(&layout.join("index.json"));
    assert_eq!(left_out_annotation(&index), vec![shared.clone()]);

    // A delta into an existing layout would mix whole and partial images: refused.
    let again = pull_delta(&registry, &dir, &["--format", "oci", "-o", "delta"]);
    again.assert_failure();
    assert!(again.stderr.contains("layout already"), "{}", again.stderr);
}

#[test]
fn a_delta_over_a_layout_base_leaves_out_what_the_layout_holds() {
    let (registry, _first, second) = two_images("layout-base");
    let dir = fresh_dir("delta-layout-base-");
    let host = registry.host();
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "old",
            &format!("{host}/first:1"),
        ],
    )
    .assert_success();
    pull(
        &dir,
        &[
            "-q",
            "--since",
            "old",
            "-o",
            "delta.tar",
            &format!("{host}/second:1"),
        ],
    )
    .assert_success();
    let tar = read_tar(&dir.join("delta.tar"));
    let shared = &second.layers[0].blob.digest;
    assert!(!tar.contains_key(&blob_path(shared)));
    assert_eq!(
        left_out_annotation(&json_entry(&tar, "index.json")),
        vec![shared.clone()]
    );
}

#[test]
fn a_base_whose_blob_has_the_wrong_size_does_not_count_as_holding_it() {
    let (registry, _first, second) = two_images("short-base");
    let dir = fresh_dir("delta-short-base-");
    let host = registry.host();
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "old",
            &format!("{host}/first:1"),
        ],
    )
    .assert_success();
    let shared = &second.layers[0].blob.digest;
    std::fs::write(dir.join("old").join(blob_path(shared)), b"truncated").unwrap();
    pull(
        &dir,
        &[
            "-q",
            "--since",
            "old",
            "-o",
            "delta.tar",
            &format!("{host}/second:1"),
        ],
    )
    .assert_success();
    let tar = read_tar(&dir.join("delta.tar"));
    assert!(tar.contains_key(&blob_path(shared)), "trusted a short blob");
    assert!(left_out_annotation(&json_entry(&tar, "index.json")).is_empty());
}

#[test]
fn since_refuses_rootfs_and_a_missing_base_before_any_request() {
    let (registry, _first, _second) = two_images("refusals");
    let dir = fresh_dir("delta-refusals-");
    let second = format!("{}/second:1", registry.host());
    let out = pull(
        &dir,
        &[
            "--since", "x.tar", "--format", "rootfs", "-o", "r.tar", &second,
        ],
    );
    out.assert_failure();
    assert!(out.stderr.contains("rootfs"), "{}", out.stderr);
    let out = pull(&dir, &["--since", "nowhere.tar", "-o", "d.tar", &second]);
    out.assert_failure();
    assert!(out.stderr.contains("nowhere.tar"), "{}", out.stderr);
    assert!(registry.requests().is_empty(), "requests were made");
}

#[test]
fn a_delta_opens_as_an_image_source_and_a_left_out_blob_read_says_so() {
    let (registry, _first, second) = two_images("source");
    let dir = fresh_dir("delta-source-");
    pull_delta(&registry, &dir, &["-o", "delta.tar"]).assert_success();
    let source = ImageSource::open(&dir.join("delta.tar")).expect("a delta opens");
    let image = &source.images()[0];
    assert_eq!(image.manifest.digest.to_string(), second.digest());
    let shared = &image.layers[0];
    assert!(!source.holds(shared));
    assert!(source.holds(&image.layers[1]));
    assert_eq!(
        source.left_out().unwrap(),
        vec![shared.digest.clone()],
        "the annotation read back"
    );
    let err = source.open_blob(shared).unwrap_err().to_string();
    assert!(
        err.contains(&shared.digest.to_string()) && err.contains("delta"),
        "{err}"
    );
}

fn push(args: &[&str]) -> DragOutput {
    run(drag().arg("push").args(args))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_pushes_to_a_registry_holding_the_base_and_fails_clearly_on_an_empty_one() {
    let (Some(src), Some(dest), Some(empty)) = (
        RealRegistry::start().await,
        RealRegistry::start().await,
        RealRegistry::start().await,
    ) else {
        return;
    };
    let base = base_layer("push");
    let first = app_image(&base, "first-push");
    let second = app_image(&base, "second-push");
    src.push_image("app/first", "1", &first).await;
    src.push_image("app/second", "1", &second).await;
    let dir = fresh_dir("delta-push-");
    let host = src.host();
    pull(
        &dir,
        &["-q", "-o", "first.tar", &format!("{host}/app/first:1")],
    )
    .assert_success();
    pull(
        &dir,
        &[
            "-q",
            "--since",
            "first.tar",
            "-o",
            "delta.tar",
            &format!("{host}/app/second:1"),
        ],
    )
    .assert_success();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();

    push(&["-q", &path("first.tar"), "--to", &dest.host()]).assert_success();
    push(&["-q", &path("delta.tar"), "--to", &dest.host()]).assert_success();
    let served = served_manifest(&dest.host(), "app/second", "1").await;
    assert_eq!(served.as_deref(), Some(&second.manifest.bytes[..]));

    let out = push(&["-q", &path("delta.tar"), "--to", &empty.host()]);
    out.assert_failure();
    let shared = &base.blob.digest;
    assert!(
        out.stderr.contains(shared.as_str()) && out.stderr.contains("push its base first"),
        "{}",
        out.stderr
    );
    assert!(served_manifest(&empty.host(), "app/second", "1")
        .await
        .is_none());
}

#[test]
fn sync_since_writes_a_delta_bundle() {
    let (registry, _first, second) = two_images("sync");
    let dir = fresh_dir("delta-sync-");
    let host = registry.host();
    std::fs::write(dir.join("old.list"), format!("{host}/first:1\n")).unwrap();
    std::fs::write(
        dir.join("new.list"),
        format!("{host}/first:1\n{host}/second:1\n"),
    )
    .unwrap();
    let sync = |args: &[&str]| run(drag().current_dir(&dir).arg("sync").args(args));
    sync(&["-q", "old.list", "-o", "old.tar"]).assert_success();
    registry.clear_requests();
    sync(&["-q", "new.list", "-o", "delta.tar", "--since", "old.tar"]).assert_success();

    let shared = &second.layers[0].blob.digest;
    assert_eq!(
        registry.blob_get_count(shared),
        0,
        "the shared layer was fetched"
    );
    let tar = read_tar(&dir.join("delta.tar"));
    assert!(!tar.contains_key(&blob_path(shared)));
    assert!(tar.contains_key(&blob_path(&second.layers[1].blob.digest)));
    let index = json_entry(&tar, "index.json");
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(2));
    // The first image's own layer is in the base too.
    let left = left_out_annotation(&index);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(shared));
}

#[test]
fn docker_load_refuses_a_delta_alone_naming_the_missing_blob_and_loads_it_after_its_base() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let (registry, _first, second) = two_images("docker-load");
    let dir = fresh_dir("delta-docker-load-");
    pull_delta(&registry, &dir, &["-o", "delta.tar"]).assert_success();
    let out = docker
        .command()
        .args(["load", "-i"])
        .arg(dir.join("delta.tar"))
        .output()
        .expect("run docker load");
    assert!(!out.status.success(), "docker loaded a delta");
    let said = String::from_utf8_lossy(&out.stderr);
    let hex = second.layers[0].blob.digest.trim_start_matches("sha256:");
    assert!(
        said.contains(hex) && said.contains("load-its-base-first"),
        "docker's message: {said}"
    );

    // Docker skips reading a layer it already has: with the base loaded, the delta loads.
    docker.load(&dir.join("first.tar"));
    docker.load(&dir.join("delta.tar"));
    let name = format!("{}/second:1", registry.host());
    assert_eq!(docker.image_id(&name), second.config.digest);
}

#[test]
fn a_decompressed_delta_leaves_out_the_layer_its_base_stores_uncompressed() {
    let (registry, _first, second) = two_images("decompressed");
    let dir = fresh_dir("delta-decompressed-");
    let host = registry.host();
    pull(
        &dir,
        &[
            "-q",
            "--decompress",
            "-o",
            "first.tar",
            &format!("{host}/first:1"),
        ],
    )
    .assert_success();
    registry.clear_requests();
    pull(
        &dir,
        &[
            "-q",
            "--decompress",
            "--since",
            "first.tar",
            "-o",
            "delta.tar",
            &format!("{host}/second:1"),
        ],
    )
    .assert_success();
    assert_eq!(registry.blob_get_count(&second.layers[0].blob.digest), 0);
    let tar = read_tar(&dir.join("delta.tar"));
    let diff_id = &second.layers[0].diff_id;
    assert!(!tar.contains_key(&blob_path(diff_id)));
    assert!(tar.contains_key(&blob_path(&second.layers[1].diff_id)));
    assert_eq!(
        left_out_annotation(&json_entry(&tar, "index.json")),
        vec![diff_id.clone()]
    );
    // The delta's manifest names the layer as the base stores it, so the pair is whole.
    run(drag()
        .current_dir(&dir)
        .args(["bundle", "verify", "delta.tar", "first.tar"]))
    .assert_success();
}

#[test]
fn an_all_platforms_delta_leaves_out_layers_and_keeps_the_index_every_manifest_and_config() {
    let registry = FakeRegistry::start();
    let base = base_layer("index");
    let first = app_image(&base, "first-index");
    let amd = app_image(&base, "amd-index");
    let arm = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch("arm64")
        .layer(base.clone())
        .build();
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .build();
    registry.push_image("first", "1", &first);
    registry.push_index("multi", "1", &index, &[&amd, &arm]);
    let dir = fresh_dir("delta-index-");
    let host = registry.host();
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "old",
            &format!("{host}/first:1"),
        ],
    )
    .assert_success();
    registry.clear_requests();
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "--all-platforms",
            "--since",
            "old",
            "-o",
            "delta",
            &format!("{host}/multi:1"),
        ],
    )
    .assert_success();
    assert_eq!(registry.blob_get_count(&base.blob.digest), 0);
    let layout = dir.join("delta");
    assert!(!layout.join(blob_path(&base.blob.digest)).exists());
    for kept in [
        &index.digest,
        &amd.manifest.digest,
        &arm.manifest.digest,
        &amd.config.digest,
        &arm.config.digest,
        &amd.layers[1].blob.digest,
    ] {
        assert!(layout.join(blob_path(kept)).is_file(), "{kept} missing");
    }
    let annotations = read_json(&layout.join("index.json"));
    assert_eq!(
        left_out_annotation(&annotations),
        vec![base.blob.digest.clone()]
    );
    run(drag()
        .current_dir(&dir)
        .args(["bundle", "verify", "delta", "old"]))
    .assert_success();
}
