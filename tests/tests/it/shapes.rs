//! Every image shape a registry may serve, pulled from the fake registry: Docker and OCI
//! manifests and indexes, nested indexes, each layer compression, attestations, schema1,
//! references by tag and digest, and hostile manifests that must be refused cleanly.

use std::path::Path;

use drag_tests::archive::{
    assert_entries_hold_image, assert_entries_hold_image_stored, assert_entries_keep_manifest,
    assert_left_nothing, blob_path, dir_names, json_entry, read_tar, Stored,
};
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::image::media_types;
use drag_tests::{
    attestation_for, run, Blob, Compression, FakeRegistry, Image, ImageBuilder, IndexBuilder,
    Layer, LayerBuilder, ManifestFormat,
};

/// A two-layer image whose second layer says which image it is.
fn image(format: ManifestFormat, arch: &str, marker: &str) -> Image {
    ImageBuilder::new()
        .format(format)
        .arch(arch)
        .layer(
            LayerBuilder::new()
                .dir("etc", 0o755)
                .file("etc/os-release", "ID=drag-test\n", 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("marker", marker, 0o644)
                .build(Compression::Gzip),
        )
        .cmd(&["/marker"])
        .build()
}

/// The docker archive at `path` holds exactly `image`, as served, named `repo_tag`.
#[track_caller]
fn assert_archive_holds(path: &Path, image: &Image, repo_tag: &str) {
    let tar = read_tar(path);
    assert_entries_hold_image(&tar, image);
    assert_entries_keep_manifest(&tar, image);
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(manifest.as_array().map(Vec::len), Some(1), "{manifest}");
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([repo_tag]));
}

/// A single-platform manifest and an index of `format`, each pulled by tag.
fn single_and_multi_platform_images_are_pulled(format: ManifestFormat) {
    let registry = FakeRegistry::start();
    let single = image(format, "amd64", "single");
    registry.push_image("app", "single", &single);
    let amd = image(format, "amd64", "amd");
    let arm = image(format, "arm64", "arm");
    let index = IndexBuilder::new(format).image(&arm).image(&amd).build();
    registry.push_index("app", "multi", &index, &[&amd, &arm]);

    let dir = fresh_dir("shapes-");
    let single_ref = format!("{}/app:single", registry.host());
    pull(&dir, &["-o", "single.tar", &single_ref]).assert_success();
    assert_archive_holds(&dir.join("single.tar"), &single, &single_ref);

    let multi_ref = format!("{}/app:multi", registry.host());
    pull(&dir, &["-o", "amd.tar", &multi_ref]).assert_success();
    assert_archive_holds(&dir.join("amd.tar"), &amd, &multi_ref);
    let index_json = json_entry(&read_tar(&dir.join("amd.tar")), "index.json");
    assert_eq!(
        index_json["manifests"][0]["platform"]["architecture"],
        "amd64"
    );

    pull(
        &dir,
        &["-o", "arm.tar", "--platform", "linux/arm64", &multi_ref],
    )
    .assert_success();
    assert_archive_holds(&dir.join("arm.tar"), &arm, &multi_ref);
}

#[test]
fn oci_manifest_and_oci_index_are_pulled() {
    single_and_multi_platform_images_are_pulled(ManifestFormat::Oci);
}

#[test]
fn docker_schema2_manifest_and_manifest_list_are_pulled() {
    single_and_multi_platform_images_are_pulled(ManifestFormat::Docker);
}

#[test]
fn index_nested_in_an_index_resolves_to_the_wanted_platform() {
    let registry = FakeRegistry::start();
    let amd = image(ManifestFormat::Oci, "amd64", "amd");
    let arm = image(ManifestFormat::Oci, "arm64", "arm");
    let s390x = image(ManifestFormat::Oci, "s390x", "s390x");
    // The inner index carries no platform of its own, as the image spec allows: only its
    // entries say which platforms it holds.
    let inner = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .build();
    let outer = IndexBuilder::new(ManifestFormat::Oci)
        .image(&s390x)
        .index(&inner)
        .build();
    registry.push_manifest("app", &inner.digest, &inner);
    registry.push_index("app", "nested", &outer, &[&amd, &arm, &s390x]);

    let dir = fresh_dir("nested-");
    let reference = format!("{}/app:nested", registry.host());
    for (platform, expected) in [
        ("linux/arm64", &arm),
        ("linux/amd64", &amd),
        ("linux/s390x", &s390x),
    ] {
        let out = pull(&dir, &["-o", "n.tar", "--platform", platform, &reference]);
        out.assert_success();
        assert_archive_holds(&dir.join("n.tar"), expected, &reference);
    }
}

#[test]
fn an_index_naming_too_many_nested_indexes_is_refused() {
    let registry = FakeRegistry::start();
    let mut outer = IndexBuilder::new(ManifestFormat::Oci);
    for i in 0..70 {
        let empty = IndexBuilder::new(ManifestFormat::Oci)
            .annotation("n", &i.to_string())
            .build();
        registry.push_manifest("app", &empty.digest, &empty);
        outer = outer.index(&empty);
    }
    let outer = outer.build();
    registry.push_manifest("app", "deep", &outer);
    let dir = fresh_dir("many-nested-");
    let out = pull(&dir, &[&format!("{}/app:deep", registry.host())]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("nested indexes"), "{}", out.stderr);
    let fetched = registry
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path().contains("/manifests/sha256:"))
        .count();
    assert!(fetched <= 64, "opened {fetched} nested indexes");
}

/// `--all-platforms` pulls and copies walk the whole tree under an index: one nested deeper
/// than drag follows is refused by both before any blob moves.
#[test]
fn whole_tree_pulls_and_copies_refuse_indexes_nested_too_deep() {
    let registry = FakeRegistry::start();
    let leaf = image(ManifestFormat::Oci, "amd64", "deep");
    let mut inner = IndexBuilder::new(ManifestFormat::Oci).image(&leaf).build();
    registry.push_index("app", "leaf", &inner, &[&leaf]);
    for _ in 0..6 {
        let outer = IndexBuilder::new(ManifestFormat::Oci).index(&inner).build();
        registry.push_manifest("app", &inner.digest, &inner);
        inner = outer;
    }
    registry.push_manifest("app", "deep", &inner);
    let reference = format!("{}/app:deep", registry.host());
    let dir = fresh_dir("too-deep-");
    let out = pull(
        &dir,
        &["--format", "oci", "--all-platforms", "-o", "l", &reference],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("nested too deep"), "{}", out.stderr);
    assert!(!dir.join("l").exists());

    let dest = format!("{}/copy:deep", registry.host());
    let out = run(drag_tests::drag().args(["copy", "--all-platforms", "-q", &reference, &dest]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("nested too deep"), "{}", out.stderr);
    let uploads = registry
        .requests()
        .iter()
        .filter(|r| r.path().contains("/uploads/") || r.method == "PUT")
        .count();
    assert_eq!(uploads, 0, "nothing is uploaded for a tree refused");
}

/// An index may name at most 1024 manifests below it: `--all-platforms` pulls and copies of
/// one naming more are refused once the bound is reached, having fetched no more than it.
#[test]
fn whole_tree_pulls_and_copies_refuse_an_index_naming_more_than_1024_manifests() {
    let registry = FakeRegistry::start();
    let leaf = image(ManifestFormat::Oci, "amd64", "wide");
    let mut wide = IndexBuilder::new(ManifestFormat::Oci);
    for _ in 0..1025 {
        wide = wide.image(&leaf);
    }
    let wide = wide.build();
    registry.push_index("app", "wide", &wide, &[&leaf]);
    let reference = format!("{}/app:wide", registry.host());
    let manifest_gets = || {
        registry
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path().contains("/manifests/sha256:"))
            .count()
    };

    let dir = fresh_dir("too-wide-");
    let out = pull(
        &dir,
        &["--format", "oci", "--all-platforms", "-o", "l", &reference],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("more than 1024 manifests"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("l").exists());
    assert!(manifest_gets() <= 1024, "fetched {}", manifest_gets());

    let dest = format!("{}/copy:wide", registry.host());
    let out = run(drag_tests::drag().args(["copy", "--all-platforms", "-q", &reference, &dest]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("more than 1024 manifests"),
        "{}",
        out.stderr
    );
}

/// One layer of each compression, with the media types `format` uses for them.
fn every_compression_image(format: ManifestFormat) -> Image {
    let layer = |name: &str, compression| {
        LayerBuilder::new()
            .dir(name, 0o755)
            .file(format!("{name}/data"), name.repeat(1000), 0o644)
            .build(compression)
    };
    ImageBuilder::new()
        .format(format)
        .layer(layer("plain", Compression::None))
        .layer(layer("gzip", Compression::Gzip))
        .layer(layer("zstd", Compression::Zstd))
        .build()
}

#[test]
fn layers_of_every_compression_are_stored_as_served_with_keep_zstd() {
    for format in [ManifestFormat::Docker, ManifestFormat::Oci] {
        let registry = FakeRegistry::start();
        let image = every_compression_image(format);
        let media_types: Vec<&str> = image
            .layers
            .iter()
            .map(|l| l.blob.media_type.as_str())
            .collect();
        assert_eq!(
            media_types,
            [
                format.layer_media_type(Compression::None),
                format.layer_media_type(Compression::Gzip),
                format.layer_media_type(Compression::Zstd),
            ]
        );
        registry.push_image("app", "1", &image);
        let dir = fresh_dir("compressions-");
        let reference = format!("{}/app:1", registry.host());
        pull(&dir, &["--keep-zstd", &reference]).assert_success();
        let tar = read_tar(&dir.join("app_1.tar"));
        assert_entries_hold_image_stored(&tar, &image, Stored::AsServed);
        assert_entries_keep_manifest(&tar, &image);
    }
}

#[test]
fn decompress_stores_every_compression_as_its_tar_named_by_diff_id() {
    for format in [ManifestFormat::Docker, ManifestFormat::Oci] {
        let registry = FakeRegistry::start();
        let image = every_compression_image(format);
        registry.push_image("app", "1", &image);
        let dir = fresh_dir("decompress-all-");
        let reference = format!("{}/app:1", registry.host());
        pull(&dir, &["--decompress", &reference]).assert_success();
        let tar = read_tar(&dir.join("app_1.tar"));
        assert_entries_hold_image_stored(&tar, &image, Stored::Decompressed);
        for layer in &image.layers[1..] {
            assert!(
                !tar.contains_key(&blob_path(&layer.blob.digest)),
                "{format:?}: compressed blob {} stored too",
                layer.blob.media_type
            );
        }
    }
}

#[test]
fn layer_whose_bytes_contradict_its_media_type_is_refused_naming_both() {
    let zstd_bytes =
        Compression::Zstd.compress(&LayerBuilder::new().file("hello", "hello", 0o644).tar());
    for media_type in [media_types::OCI_LAYER_GZIP, media_types::DOCKER_LAYER_GZIP] {
        let registry = FakeRegistry::start();
        let image = ImageBuilder::new()
            .layer(Layer::raw(zstd_bytes.clone(), media_type))
            .build();
        registry.push_image("app", "1", &image);
        let dir = fresh_dir("mismatch-");
        let out = pull(&dir, &[&format!("{}/app:1", registry.host())]);
        assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("drag: error: "), "{last}");
        assert!(
            last.contains("gzip") && last.contains("zstd"),
            "{media_type}: error names neither the declared nor the found compression: {last}"
        );
        assert_left_nothing(&dir);
    }
}

#[test]
fn attestations_and_unknown_platforms_are_never_chosen() {
    let registry = FakeRegistry::start();
    let amd = image(ManifestFormat::Oci, "amd64", "amd");
    let arm = image(ManifestFormat::Oci, "arm64", "arm");
    let att = attestation_for(&amd);
    // A second unknown/unknown entry with no attestation annotations.
    let unknown = attestation_for(&arm);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .attestation(&att, &amd)
        .manifest(
            &unknown.manifest,
            serde_json::json!({"architecture": "unknown", "os": "unknown"}),
        )
        .image(&amd)
        .image(&arm)
        .build();
    registry.push_index("app", "1", &index, &[&amd, &arm, &att, &unknown]);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("attest-");

    pull(&dir, &["-o", "default.tar", &reference]).assert_success();
    assert_archive_holds(&dir.join("default.tar"), &amd, &reference);
    pull(
        &dir,
        &["-o", "arm.tar", "--platform", "linux/arm64", &reference],
    )
    .assert_success();
    assert_archive_holds(&dir.join("arm.tar"), &arm, &reference);

    let fetched_non_image = registry.requests().into_iter().find(|r| {
        r.path().ends_with(att.digest())
            || r.path().ends_with(unknown.digest())
            || r.path().ends_with(&att.layers[0].blob.digest)
    });
    assert!(
        fetched_non_image.is_none(),
        "an attestation was fetched: {fetched_non_image:?}"
    );

    let out = pull(&dir, &["--platform", "unknown/unknown", &reference]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
}

#[test]
fn schema1_manifest_is_refused_naming_schema1_and_its_media_type() {
    let registry = FakeRegistry::start();
    let schema1 = Blob::new(
        r#"{
   "schemaVersion": 1,
   "name": "app",
   "tag": "old",
   "architecture": "amd64",
   "fsLayers": [
      {"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}
   ],
   "history": [{"v1Compatibility": "{\"id\":\"x\"}"}],
   "signatures": []
}"#,
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    );
    registry.push_manifest("app", "old", &schema1);
    let dir = fresh_dir("schema1-");
    let out = pull(&dir, &["-q", &format!("{}/app:old", registry.host())]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("drag: error: "), "{}", out.stderr);
    assert!(out.stderr.contains("schema1"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        "{}",
        out.stderr
    );
    assert_left_nothing(&dir);
}

#[test]
fn digest_wins_over_tag_and_the_tag_names_the_image() {
    let registry = FakeRegistry::start();
    let a = image(ManifestFormat::Oci, "amd64", "image A");
    let b = image(ManifestFormat::Oci, "amd64", "image B");
    registry.push_image("app", "1", &a);
    // B is known only by its digest.
    registry.push_image("app", b.digest(), &b);
    let host = registry.host();
    let dir = fresh_dir("digest-wins-");

    let by_tag = format!("{host}/app:1");
    pull(&dir, &["-o", "tag.tar", &by_tag]).assert_success();
    assert_archive_holds(&dir.join("tag.tar"), &a, &by_tag);

    let by_digest = format!("{host}/app@{}", b.digest());
    pull(&dir, &["-o", "digest.tar", &by_digest]).assert_success();
    let tar = read_tar(&dir.join("digest.tar"));
    assert_eq!(
        json_entry(&tar, "manifest.json")[0]["Config"],
        blob_path(&b.config.digest)
    );
    assert_eq!(
        json_entry(&tar, "manifest.json")[0]["RepoTags"],
        serde_json::json!([])
    );

    registry.clear_requests();
    let both = format!("{host}/app:1@{}", b.digest());
    pull(&dir, &["-o", "both.tar", &both]).assert_success();
    assert_archive_holds(&dir.join("both.tar"), &b, &by_tag);
    let asked_for_tag = registry
        .requests()
        .into_iter()
        .find(|r| r.path().ends_with("/manifests/1"));
    assert!(
        asked_for_tag.is_none(),
        "the tag was resolved although a digest was given: {asked_for_tag:?}"
    );
}

#[test]
fn layer_digest_with_a_path_in_it_is_refused_and_nothing_is_written() {
    let registry = FakeRegistry::start();
    let evil = "sha256:../../x";
    let config = Blob::new(
        format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{evil}"]}}}}"#
        ),
        media_types::OCI_CONFIG,
    );
    let manifest = Blob::new(
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{{"mediaType":"{}","digest":"{evil}","size":10}}]}}"#,
            media_types::OCI_MANIFEST,
            config.descriptor(),
            media_types::OCI_LAYER_GZIP,
        ),
        media_types::OCI_MANIFEST,
    );
    registry.push_blob("app", &config);
    registry.push_manifest("app", "evil", &manifest);
    let parent = fresh_dir("evil-digest-");
    let dir = parent.join("out");
    std::fs::create_dir(&dir).expect("create output dir");
    let cache = parent.join("cache");
    let out = run(pull_command(&dir)
        .env("DRAG_CACHE_DIR", &cache)
        .args(["-q", &format!("{}/app:evil", registry.host())]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("drag: error: ") && out.stderr.contains("digest"),
        "{}",
        out.stderr
    );
    assert_left_nothing(&dir);
    assert!(
        !parent.join("x").exists() && !dir.join("x").exists() && !cache.join("x").exists(),
        "a file named by the digest's path was written"
    );
    let odd = registry
        .requests()
        .into_iter()
        .find(|r| r.path().ends_with("/x") || r.path().contains(".."));
    assert!(odd.is_none(), "requested a path built from it: {odd:?}");
}

#[test]
fn manifest_larger_than_4_mib_is_refused() {
    let registry = FakeRegistry::start();
    let base = image(ManifestFormat::Oci, "amd64", "big");
    let padding = "a".repeat(4 << 20);
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[],"annotations":{{"pad":"{padding}"}}}}"#,
        media_types::OCI_MANIFEST,
        base.config.descriptor(),
    );
    let manifest = Blob::new(body, media_types::OCI_MANIFEST);
    assert!(manifest.size() > 4 << 20);
    registry.push_blob("app", &base.config);
    registry.push_manifest("app", "big", &manifest);
    let dir = fresh_dir("big-manifest-");
    let reference = format!("{}/app:big", registry.host());
    let out = pull(&dir, &["-q", &reference]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("drag: error: ")
            && out.stderr.contains("manifest")
            && out.stderr.contains("limit"),
        "{}",
        out.stderr
    );
    // Like every other refusal, it says which image's manifest was refused.
    assert!(
        out.stderr.contains("app:big"),
        "the error does not name the image: {}",
        out.stderr
    );
    assert_left_nothing(&dir);
}

/// A gzip layer made of two members: its trailer announces only the last member's size.
fn two_member_gzip_layer() -> Layer {
    use std::io::Write;
    let tar = LayerBuilder::new()
        .file("first", vec![b'a'; 70_000], 0o644)
        .file("second", vec![b'b'; 90_000], 0o644)
        .tar();
    let (front, back) = tar.split_at(tar.len() / 3);
    let mut bytes = Vec::new();
    for part in [front, back] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part).unwrap();
        bytes.extend(gz.finish().unwrap());
    }
    Layer {
        blob: drag_tests::Blob::new(bytes, media_types::DOCKER_LAYER_GZIP),
        diff_id: drag_tests::sha256_digest(&tar),
        uncompressed: tar,
        compression: None,
    }
}

#[test]
fn decompress_handles_layers_whose_size_cannot_be_predicted() {
    let registry = FakeRegistry::start();
    let layer = two_member_gzip_layer();
    let image = ImageBuilder::new()
        .layer(layer.clone())
        .layer(
            LayerBuilder::new()
                .file("z", "zstd", 0o644)
                .build(Compression::Zstd),
        )
        .build();
    registry.push_image("app", "1", &image);
    let dir = fresh_dir("multi-member-");
    let reference = format!("{}/app:1", registry.host());
    for (out, extra) in [("file.tar", None), ("-", Some("stdout"))] {
        let output = pull(&dir, &["--decompress", "-o", out, &reference]);
        output.assert_success();
        let tar = match extra {
            None => read_tar(&dir.join(out)),
            Some(_) => drag_tests::archive::read_tar_bytes(&output.stdout),
        };
        for l in &image.layers {
            assert_eq!(tar[&blob_path(&l.diff_id)].data, l.uncompressed, "{out}");
        }
    }
    let mut left = dir_names(&dir);
    left.retain(|n| n != "file.tar");
    assert!(left.is_empty(), "scratch files left: {left:?}");
}
