//! Docker archives that Docker 20.10 loads: Debian 12's and Ubuntu 22.04's `docker.io` cannot
//! read zstd layers, so drag stores them uncompressed by default (`--keep-zstd` keeps them).
//!
//! The archive checks run everywhere; the `docker load` ones need a private dockerd
//! ([`Dockerd::shared`], one per test binary run) and skip visibly without one. Each loads
//! images no other test builds, so the daemon's tests can run side by side, and checks that
//! the loaded image's ID is its config digest and its tags are exactly the ones asked for.

use std::process::Stdio;

use drag_tests::archive::{
    assert_entries_hold_image_stored, blob_path, entry, is_zstd, json_entry, read_tar,
    read_tar_bytes, Entry, Stored,
};
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::image::media_types;
use drag_tests::{
    sha256_digest, Compression, Dockerd, FakeRegistry, Image, ImageBuilder, Layer, LayerBuilder,
    ManifestFormat,
};

type Entries = std::collections::BTreeMap<String, Entry>;

/// A layer no other test has: `marker` names the test and the layer.
fn layer(marker: &str, compression: Compression) -> Layer {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .file(format!("etc/{marker}"), marker.repeat(500), 0o644)
        .build(compression)
}

/// An image of `format` with one layer of each compression in `compressions`.
fn image(format: ManifestFormat, marker: &str, compressions: &[Compression]) -> Image {
    let mut builder = ImageBuilder::new().format(format);
    for (i, c) in compressions.iter().enumerate() {
        builder = builder.layer(layer(&format!("{marker}-{i}"), *c));
    }
    builder.build()
}

/// A zstd layer of two frames: its first frame header announces only part of its size.
fn two_frame_zstd_layer(marker: &str) -> Layer {
    let tar = LayerBuilder::new()
        .file(format!("{marker}-a"), "first frame ".repeat(300), 0o644)
        .file(format!("{marker}-b"), "second frame ".repeat(300), 0o644)
        .tar();
    // The tar cut in two, each part its own frame.
    let cut = tar.len() / 2;
    let mut bytes = zstd::encode_all(&tar[..cut], 3).expect("zstd");
    bytes.extend(zstd::encode_all(&tar[cut..], 3).expect("zstd"));
    let layer = Layer::raw(bytes, media_types::OCI_LAYER_ZSTD);
    assert_eq!(layer.uncompressed, tar, "both frames decode to the tar");
    layer
}

/// Asserts the archive's OCI view is consistent: `index.json` names a manifest stored in the
/// archive under its digest, whose config is `image`'s (byte for byte) and whose every layer
/// is a blob of the archive of that digest and size, the one `manifest.json` lists.
#[track_caller]
fn assert_oci_view_matches_blobs(tar: &Entries, image: &Image) {
    let index = json_entry(tar, "index.json");
    let desc = &index["manifests"][0];
    let digest = desc["digest"].as_str().expect("index digest");
    let manifest_bytes = &entry(tar, &blob_path(digest)).data;
    assert_eq!(
        sha256_digest(manifest_bytes),
        digest,
        "manifest blob digest"
    );
    assert_eq!(desc["size"], manifest_bytes.len(), "manifest size");
    let manifest: serde_json::Value = serde_json::from_slice(manifest_bytes).expect("JSON");
    assert_eq!(
        manifest["mediaType"], desc["mediaType"],
        "manifest media type"
    );
    assert_eq!(manifest["config"]["digest"], image.config.digest.as_str());
    assert_eq!(
        entry(tar, &blob_path(&image.config.digest)).data,
        image.config.bytes.as_ref(),
        "config byte-identical"
    );
    let listed = json_entry(tar, "manifest.json")[0]["Layers"].clone();
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), image.layers.len());
    for (i, l) in layers.iter().enumerate() {
        let digest = l["digest"].as_str().expect("layer digest");
        let data = &entry(tar, &blob_path(digest)).data;
        assert_eq!(sha256_digest(data), digest, "layer {i} blob digest");
        assert_eq!(l["size"], data.len(), "layer {i} size");
        assert_eq!(listed[i], blob_path(digest), "manifest.json layer {i}");
    }
}

#[test]
fn default_archive_stores_zstd_layers_uncompressed_and_its_oci_view_names_them() {
    for format in [ManifestFormat::Oci, ManifestFormat::Docker] {
        let registry = FakeRegistry::start();
        let image = ImageBuilder::new()
            .format(format)
            .layer(layer("view-gzip", Compression::Gzip))
            .layer(layer("view-zstd", Compression::Zstd))
            .layer(two_frame_zstd_layer("view-frames"))
            .layer(layer("view-plain", Compression::None))
            .build();
        registry.push_image("app", "1", &image);
        let reference = format!("{}/app:1", registry.host());
        let dir = fresh_dir("zstd-view-");
        pull(&dir, &["-q", "-o", "app.tar", &reference]).assert_success();
        let file = std::fs::read(dir.join("app.tar")).expect("archive");
        let streamed = pull(&dir, &["-q", "-o", "-", &reference]);
        streamed.assert_success();
        assert!(
            streamed.stdout == file,
            "{format:?}: stdout and file differ"
        );

        let tar = read_tar_bytes(&file);
        assert_entries_hold_image_stored(&tar, &image, Stored::Default);
        for l in image.layers.iter().filter(|l| is_zstd(l)) {
            assert!(
                !tar.contains_key(&blob_path(&l.blob.digest)),
                "{format:?}: zstd blob {} stored too",
                l.blob.digest
            );
        }
        assert_oci_view_matches_blobs(&tar, &image);
        let index = json_entry(&tar, "index.json");
        assert_ne!(
            index["manifests"][0]["digest"],
            image.digest(),
            "{format:?}: the served manifest names blobs the archive does not hold"
        );
        let manifest = &entry(
            &tar,
            &blob_path(index["manifests"][0]["digest"].as_str().unwrap()),
        );
        let manifest: serde_json::Value = serde_json::from_slice(&manifest.data).unwrap();
        assert_eq!(
            manifest["layers"][1]["mediaType"],
            media_types::OCI_LAYER,
            "{format:?}"
        );
        assert_eq!(
            manifest["layers"][0]["digest"],
            image.layers[0].blob.digest.as_str(),
            "{format:?}: a gzip layer keeps its descriptor"
        );
    }
}

#[test]
fn keep_zstd_keeps_zstd_blobs_and_the_served_manifest() {
    let registry = FakeRegistry::start();
    let image = image(
        ManifestFormat::Oci,
        "keep",
        &[Compression::Gzip, Compression::Zstd],
    );
    registry.push_image("app", "1", &image);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("keep-zstd-");
    pull(&dir, &["-q", "--keep-zstd", "-o", "app.tar", &reference]).assert_success();
    let tar = read_tar(&dir.join("app.tar"));
    assert_entries_hold_image_stored(&tar, &image, Stored::AsServed);
    assert_eq!(
        json_entry(&tar, "index.json")["manifests"][0]["digest"],
        image.digest()
    );
    assert_oci_view_matches_blobs(&tar, &image);
}

#[test]
fn keep_zstd_with_decompress_or_another_format_is_a_usage_error() {
    let dir = fresh_dir("keep-zstd-usage-");
    for (args, hint) in [
        (
            &["--keep-zstd", "--decompress"][..],
            "--keep-zstd contradicts --decompress, which stores every layer uncompressed",
        ),
        (
            &["--keep-zstd", "--format", "rootfs"][..],
            "--keep-zstd applies to --format docker only",
        ),
    ] {
        let out = pull(&dir, &[args, &["-o", "x", "127.0.0.1:1/app:1"]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(hint), "{args:?}: {}", out.stderr);
    }
}

/// Asserts `name` is loaded as `image`: its ID is the config digest, its tags are exactly
/// `[name]`, `docker images` lists it, and its layers are the config's diff IDs.
#[track_caller]
fn assert_loaded(docker: &Dockerd, name: &str, image: &Image) {
    let id = docker.image_id(name);
    assert_eq!(id, image.config.digest, "{name}: image ID");
    assert_eq!(docker.repo_tags(&id), [name], "{name}: tags");
    assert!(
        docker
            .images()
            .contains(&(name.to_string(), image.config.digest.clone())),
        "{name} missing from docker images: {:?}",
        docker.images()
    );
    assert_eq!(docker.diff_ids(name), image.diff_ids(), "{name}: layers");
}

#[test]
fn docker_20_10_loads_gzip_zstd_and_plain_layer_archives() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let registry = FakeRegistry::start();
    let dir = fresh_dir("docker-load-");
    let shapes = [
        (
            "gzip-docker",
            ManifestFormat::Docker,
            &[Compression::Gzip][..],
        ),
        ("gzip-oci", ManifestFormat::Oci, &[Compression::Gzip][..]),
        (
            "zstd",
            ManifestFormat::Oci,
            &[Compression::Zstd, Compression::Zstd][..],
        ),
        ("plain", ManifestFormat::Oci, &[Compression::None][..]),
        (
            "mixed",
            ManifestFormat::Docker,
            &[Compression::Gzip, Compression::Zstd, Compression::None][..],
        ),
    ];
    for (repo, format, compressions) in shapes {
        let image = image(format, &format!("load-{repo}"), compressions);
        registry.push_image(repo, "1", &image);
        let reference = format!("{}/{repo}:1", registry.host());
        let archive = dir.join(format!("{repo}.tar"));
        pull(
            &dir,
            &["-q", "-o", &archive.display().to_string(), &reference],
        )
        .assert_success();
        let said = docker.load(&archive);
        assert!(
            said.contains(&format!("Loaded image: {reference}")),
            "{said}"
        );
        assert_loaded(docker, &reference, &image);
    }
    // A zstd layer whose size its first frame does not announce.
    let image = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(two_frame_zstd_layer("load-frames"))
        .build();
    registry.push_image("frames", "1", &image);
    let reference = format!("{}/frames:1", registry.host());
    pull(&dir, &["-q", "-o", "frames.tar", &reference]).assert_success();
    docker.load(&dir.join("frames.tar"));
    assert_loaded(docker, &reference, &image);
}

#[test]
fn docker_20_10_loads_decompressed_archives() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let registry = FakeRegistry::start();
    let dir = fresh_dir("docker-load-decompress-");
    let every = [Compression::Gzip, Compression::Zstd, Compression::None];
    for format in [ManifestFormat::Docker, ManifestFormat::Oci] {
        let repo = format!("decompressed-{format:?}").to_lowercase();
        let image = image(format, &format!("load-{repo}"), &every);
        registry.push_image(&repo, "1", &image);
        let reference = format!("{}/{repo}:1", registry.host());
        pull(&dir, &["-q", "--decompress", "-o", "d.tar", &reference]).assert_success();
        docker.load(&dir.join("d.tar"));
        assert_loaded(docker, &reference, &image);
    }
}

#[test]
fn docker_20_10_loads_a_multi_image_bundle_with_every_tag() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let registry = FakeRegistry::start();
    let dir = fresh_dir("docker-load-bundle-");
    // Two images sharing a zstd base layer, stored once.
    let base = layer("bundle-base", Compression::Zstd);
    let images: Vec<(String, Image)> = [("one", Compression::Gzip), ("two", Compression::Zstd)]
        .into_iter()
        .map(|(repo, c)| {
            let image = ImageBuilder::new()
                .format(ManifestFormat::Oci)
                .layer(base.clone())
                .layer(layer(&format!("bundle-{repo}"), c))
                .build();
            registry.push_image(repo, "1", &image);
            (format!("{}/{repo}:1", registry.host()), image)
        })
        .collect();
    pull(
        &dir,
        &["-q", "-o", "bundle.tar", &images[0].0, &images[1].0],
    )
    .assert_success();
    let said = docker.load(&dir.join("bundle.tar"));
    for (reference, image) in &images {
        assert!(
            said.contains(&format!("Loaded image: {reference}")),
            "{said}"
        );
        assert_loaded(docker, reference, image);
    }
}

#[test]
fn docker_20_10_loads_an_archive_piped_from_standard_output() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(layer("piped-gzip", Compression::Gzip))
        .layer(layer("piped-zstd", Compression::Zstd))
        .layer(two_frame_zstd_layer("piped-frames"))
        .build();
    registry.push_image("piped", "1", &image);
    let reference = format!("{}/piped:1", registry.host());
    let dir = fresh_dir("docker-load-piped-");
    let mut drag = pull_command(&dir)
        .args(["-q", "-o", "-", &reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drag");
    let loaded = docker.load_from(drag.stdout.take().expect("piped stdout"));
    let done = drag.wait_with_output().expect("drag finishes");
    assert!(
        done.status.success(),
        "drag failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        loaded.status.success(),
        "docker load failed: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let said = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        said.contains(&format!("Loaded image: {reference}")),
        "{said}"
    );
    assert_loaded(docker, &reference, &image);
}

#[test]
fn keep_zstd_archives_load_only_where_docker_reads_zstd() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let registry = FakeRegistry::start();
    let image = image(ManifestFormat::Oci, "load-kept", &[Compression::Zstd]);
    registry.push_image("kept", "1", &image);
    let reference = format!("{}/kept:1", registry.host());
    let dir = fresh_dir("docker-load-kept-");
    pull(&dir, &["-q", "--keep-zstd", "-o", "kept.tar", &reference]).assert_success();
    let version = docker.docker(&["version", "--format", "{{.Server.Version}}"]);
    let out = docker
        .command()
        .args(["load", "-i", &dir.join("kept.tar").display().to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run docker load");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Docker reads zstd layers since 23.0: the reason drag's default uncompresses them.
    if version.trim().starts_with("20.") {
        assert!(
            !out.status.success(),
            "Docker {version} loaded a zstd layer"
        );
        assert!(stderr.contains("unexpected EOF"), "{stderr}");
    } else {
        assert!(out.status.success(), "Docker {version}: {stderr}");
        assert_loaded(docker, &reference, &image);
    }
}
