//! `drag bundle ls` and `drag bundle verify`, and the offline quick start's sample bundle:
//! a delta lists what it leaves out and verifies only with its base; a corrupted blob is
//! found; the committed `examples/sample.tar` is what its script builds, byte for byte, and
//! `drag bundle verify`, `docker load` and `podman load` take it.

use std::path::{Path, PathBuf};

use drag_tests::archive::blob_path;
use drag_tests::drag_cli::{fresh_dir, pull, workspace_root};
use drag_tests::tools::tool;
use drag_tests::{
    drag, require_tool, run, Compression, Dockerd, DragOutput, FakeRegistry, Image, ImageBuilder,
    LayerBuilder, ManifestFormat, Podman,
};
use serde_json::Value;

fn bundle(dir: &Path, args: &[&str]) -> DragOutput {
    run(drag().current_dir(dir).arg("bundle").args(args))
}

fn image(base_marker: &str, marker: &str) -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch("arm64")
        .variant("v8")
        .layer(
            LayerBuilder::new()
                .file("base", base_marker.repeat(300), 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("app", marker.repeat(300), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// `first.tar` (whole) and `delta.tar` (`second:1` since `first.tar`) in a new directory.
fn delta_and_base(tag: &str) -> (PathBuf, String, Image) {
    let registry = FakeRegistry::start();
    let base = format!("base-{tag}");
    let first = image(&base, &format!("first-{tag}"));
    let second = image(&base, &format!("second-{tag}"));
    registry.push_image("first", "1", &first);
    registry.push_image("second", "1", &second);
    let dir = fresh_dir("bundle-");
    let host = registry.host();
    let platform = ["--platform", "linux/arm64/v8"];
    let mut args = vec!["-q", "-o", "first.tar"];
    args.extend(platform);
    let first_ref = format!("{host}/first:1");
    args.push(&first_ref);
    pull(&dir, &args).assert_success();
    let second_ref = format!("{host}/second:1");
    let mut args = vec!["-q", "--since", "first.tar", "-o", "delta.tar"];
    args.extend(platform);
    args.push(&second_ref);
    pull(&dir, &args).assert_success();
    (dir, second_ref, second)
}

#[test]
fn bundle_ls_lists_images_platforms_sizes_and_what_a_delta_leaves_out() {
    let (dir, name, second) = delta_and_base("ls");
    let out = bundle(&dir, &["ls", "--json", "delta.tar"]);
    out.assert_success();
    let listing: Value = serde_json::from_str(&out.stdout_text()).expect("JSON on stdout");
    let img = &listing["images"][0];
    assert_eq!(img["digest"], second.digest());
    assert!(
        img["names"]
            .as_array()
            .unwrap()
            .contains(&Value::from(name.clone())),
        "{img}"
    );
    assert_eq!(img["platforms"], serde_json::json!(["linux/arm64/v8"]));
    assert_eq!(listing["delta"], true);
    // The manifest, the config and the second image's own layer.
    assert_eq!(listing["blobs"], 3);
    let size =
        second.manifest.bytes.len() + second.config.bytes.len() + second.layers[1].blob.bytes.len();
    assert_eq!(listing["size"], size as u64);
    let missing = listing["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["digest"], second.layers[0].blob.digest);
    assert_eq!(missing[0]["size"], second.layers[0].blob.bytes.len() as u64);

    let table = bundle(&dir, &["ls", "delta.tar"]);
    table.assert_success();
    let text = table.stdout_text();
    assert!(
        text.contains(&name) && text.contains(second.digest()),
        "{text}"
    );
    assert!(text.contains("left out: 1 blob,"), "{text}");
    assert!(text.contains(&second.layers[0].blob.digest), "{text}");

    let whole = bundle(&dir, &["ls", "--json", "first.tar"]);
    let listing: Value = serde_json::from_str(&whole.stdout_text()).unwrap();
    assert_eq!(listing["delta"], false);
    assert_eq!(listing["missing"].as_array().map(Vec::len), Some(0));
}

#[test]
fn bundle_verify_passes_a_delta_with_its_base_and_fails_naming_the_blob_alone() {
    let (dir, _name, second) = delta_and_base("verify");
    let out = bundle(&dir, &["verify", "delta.tar", "first.tar"]);
    out.assert_success();
    assert_eq!(out.stdout_text(), "", "no problems");
    assert!(out.stderr.contains("all intact"), "{}", out.stderr);

    let out = bundle(&dir, &["verify", "delta.tar"]);
    out.assert_failure();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = out.stdout_text().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(&second.layers[0].blob.digest) && lines[0].contains("delta"),
        "{lines:?}"
    );
    assert!(out.stderr.contains("1 problem"), "{}", out.stderr);
}

#[test]
fn bundle_verify_finds_a_corrupted_blob() {
    let registry = FakeRegistry::start();
    let img = image("corrupt-base", "corrupt-app");
    registry.push_image("app", "1", &img);
    let dir = fresh_dir("bundle-corrupt-");
    let reference = format!("{}/app:1", registry.host());
    pull(
        &dir,
        &[
            "-q",
            "--platform",
            "linux/arm64/v8",
            "--format",
            "oci",
            "-o",
            "layout",
            &reference,
        ],
    )
    .assert_success();
    bundle(&dir, &["verify", "layout"]).assert_success();
    let digest = &img.layers[1].blob.digest;
    let path = dir.join("layout").join(blob_path(digest));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out = bundle(&dir, &["verify", "layout"]);
    out.assert_failure();
    let text = out.stdout_text();
    assert!(
        text.contains(&digest[..19]) && text.contains("digest mismatch"),
        "{text}"
    );
}

fn sample() -> PathBuf {
    workspace_root().join("examples/sample.tar")
}

#[test]
fn the_sample_script_rebuilds_the_committed_sample_byte_for_byte() {
    let Some(python) = require_tool("python3") else {
        return;
    };
    let dir = fresh_dir("sample-rebuild-");
    let out = dir.join("sample.tar");
    let script = workspace_root().join("examples/make-sample.py");
    tool(
        &python,
        &[&script.to_string_lossy(), &out.to_string_lossy()],
    );
    let built = std::fs::read(&out).unwrap();
    let committed = std::fs::read(sample()).unwrap();
    assert!(
        built == committed,
        "examples/sample.tar is not what make-sample.py builds"
    );
    assert!(
        committed.len() < 16 << 10,
        "the sample is {} bytes",
        committed.len()
    );
}

#[test]
fn the_sample_bundle_verifies_and_lists_its_image() {
    let dir = fresh_dir("sample-verify-");
    let path = sample().to_string_lossy().into_owned();
    bundle(&dir, &["verify", &path]).assert_success();
    let out = bundle(&dir, &["ls", "--json", &path]);
    out.assert_success();
    let listing: Value = serde_json::from_str(&out.stdout_text()).unwrap();
    assert_eq!(
        listing["images"][0]["names"],
        serde_json::json!(["drag.example/drag/sample:1"])
    );
    assert_eq!(
        listing["images"][0]["platforms"],
        serde_json::json!(["linux/amd64"])
    );
    assert_eq!(listing["blobs"], 3);
}

#[test]
fn docker_loads_the_sample_bundle() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let said = docker.load(&sample());
    assert!(said.contains("drag.example/drag/sample:1"), "{said}");
    let source = drag_core::image_source::ImageSource::open(&sample()).unwrap();
    let config = source.images()[0].config.clone().unwrap();
    assert_eq!(
        docker.image_id("drag.example/drag/sample:1"),
        config.digest.to_string(),
        "the image ID is the sample's config digest"
    );
}

#[test]
fn podman_loads_the_sample_bundle() {
    let Some(podman) = Podman::new() else {
        return;
    };
    let names = podman.load(&sample());
    assert!(
        names.iter().any(|n| n == "drag.example/drag/sample:1"),
        "{names:?}"
    );
}

/// The README's offline quick start, end to end: `drag serve` of the sample, `drag pull` from
/// it, and podman and Docker load what was pulled as the sample's own image.
#[test]
fn the_offline_quick_start_serves_the_sample_and_engines_load_what_drag_pulls_from_it() {
    let dir = fresh_dir("sample-roundtrip-");
    let served = drag_tests::DragServe::start(&[&sample().to_string_lossy()]);
    let reference = format!("{}/drag/sample:1", served.host());
    pull(&dir, &["-q", "-o", "pulled.tar", &reference]).assert_success();
    let source = drag_core::image_source::ImageSource::open(&sample()).unwrap();
    let config = source.images()[0]
        .config
        .clone()
        .unwrap()
        .digest
        .to_string();
    if let Some(podman) = Podman::new() {
        let names = podman.load(&dir.join("pulled.tar"));
        assert!(names.contains(&reference), "{names:?}");
        let id = podman.run(&["image", "inspect", "--format", "{{.Id}}", &reference]);
        assert_eq!(format!("sha256:{}", id.trim()), config);
    }
    if let Some(docker) = Dockerd::shared() {
        docker.load(&dir.join("pulled.tar"));
        assert_eq!(docker.image_id(&reference), config);
    }
}
