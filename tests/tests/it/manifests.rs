//! Manifests read as the reference implementations (containerd, containers/image) read them,
//! pulled end to end from the fake registry: ambiguous documents refused, the kind of a
//! document without `mediaType` decided by its bytes alone, OCI 1.1 artifacts never taken for
//! images, index entries without a platform, Go's `null` lists, schema1 under a foreign
//! Content-Type, field type errors, the arm/arm64 variant fallbacks, Docker schema2 with an
//! `application/octet-stream` config, and the type recorded for an undeclared image.
//!
//! The documents rebuild cases of the peers' fixture sets (containers/image
//! `manifest/fixtures`, go-containerregistry `pkg/v1/layout/testdata`, the image-spec
//! `schema` tests) with our own builder; the core unit table in `core/src/manifest/kind.rs`
//! covers the same documents without a registry.

use drag_tests::archive::{
    assert_archive_holds_image, assert_left_nothing, blob_path, json_entry, read_tar,
};
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::image::media_types;
use drag_tests::{
    attestation_for, drag, run, Blob, Compression, DragOutput, FakeRegistry, Image, ImageBuilder,
    IndexBuilder, Layer, LayerBuilder, ManifestFormat,
};
use serde_json::{json, Value};

const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const SPDX: &str = "application/spdx+json";
const COSIGN: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// An OCI image for `arch[/variant]` whose one layer says which image it is.
fn image(arch: &str, variant: Option<&str>, marker: &str) -> Image {
    let mut builder = ImageBuilder::new().format(ManifestFormat::Oci).arch(arch);
    if let Some(v) = variant {
        builder = builder.variant(v);
    }
    builder
        .layer(
            LayerBuilder::new()
                .file("marker", marker, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// An OCI 1.1 artifact (an SBOM or a signature): the image manifest format with an
/// `artifactType` and the empty config, as ORAS and cosign write them.
fn artifact(artifact_type: &str, subject: &Image) -> Image {
    let mut a = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .config_media_type(EMPTY_CONFIG)
        .config_raw("{}")
        .layer(Layer::raw(
            format!(r#"{{"subject":"{}"}}"#, subject.digest()),
            artifact_type,
        ))
        .build();
    let mut doc = a.manifest.json();
    doc["artifactType"] = artifact_type.into();
    doc["subject"] = subject.manifest.descriptor();
    a.manifest = Blob::new(serde_json::to_vec(&doc).unwrap(), media_types::OCI_MANIFEST);
    a
}

/// `blob` rewritten by `edit` and served under `content_type`.
fn edited(blob: &Blob, content_type: &str, edit: impl FnOnce(&mut Value)) -> Blob {
    let mut doc = blob.json();
    edit(&mut doc);
    Blob::new(serde_json::to_vec(&doc).unwrap(), content_type)
}

#[track_caller]
fn assert_refused(out: &DragOutput, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("drag: error: "), "{}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "stderr lacks {needle:?}: {}",
        out.stderr
    );
}

#[test]
fn a_document_that_is_both_image_and_index_is_refused_whatever_it_declares() {
    let registry = FakeRegistry::start();
    let amd = image("amd64", None, "amd");
    let arm = image("arm64", None, "arm");
    let index = IndexBuilder::new(ManifestFormat::Oci).image(&arm).build();
    registry.push_index("app", "parts", &index, &[&amd, &arm]);
    registry.push_image("app", "amd", &amd);
    let both = |declared: Option<&str>| {
        edited(&amd.manifest, media_types::OCI_MANIFEST, |doc| {
            doc["manifests"] = index.json()["manifests"].clone();
            match declared {
                Some(mt) => doc["mediaType"] = mt.into(),
                None => {
                    doc.as_object_mut().unwrap().remove("mediaType");
                }
            }
        })
    };
    let dir = fresh_dir("ambiguous-");
    for (tag, declared, served) in [
        ("as-image", Some(media_types::OCI_MANIFEST), None),
        ("as-index", Some(media_types::OCI_INDEX), None),
        ("undeclared", None, Some(media_types::OCI_INDEX)),
        ("undeclared-image", None, Some(media_types::OCI_MANIFEST)),
    ] {
        let mut doc = both(declared);
        if let Some(s) = served {
            doc.media_type = s.into();
        }
        registry.push_manifest("app", tag, &doc);
        let reference = format!("{}/app:{tag}", registry.host());
        let out = pull(&dir, &["-q", "-o", "out.tar", &reference]);
        assert_refused(&out, "ambiguous manifest");
        assert_left_nothing(&dir);
        // Under --all-platforms too: no reading of it is safe.
        let out = pull(
            &dir,
            &[
                "-q",
                "--format",
                "oci",
                "--all-platforms",
                "-o",
                "layout",
                &reference,
            ],
        );
        assert_refused(&out, "ambiguous manifest");
        assert_left_nothing(&dir);
    }
}

#[test]
fn a_document_without_media_type_is_the_same_kind_from_the_registry_and_from_the_cache() {
    let registry = FakeRegistry::start();
    let amd = image("amd64", None, "amd");
    let arm = image("arm64", None, "arm");
    registry.push_image("app", "amd-typed", &amd);
    registry.push_image("app", "arm-typed", &arm);
    // An image manifest without mediaType, served as if it were an index (go-containerregistry
    // writes such documents; some registries answer with whatever type they stored).
    let bare_image = edited(&amd.manifest, media_types::OCI_INDEX, |doc| {
        doc.as_object_mut().unwrap().remove("mediaType");
    });
    registry.push_manifest("app", "image", &bare_image);
    // And an index without mediaType, served as an image manifest.
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&arm)
        .image(&amd)
        .build();
    let bare_index = edited(&index, media_types::OCI_MANIFEST, |doc| {
        doc.as_object_mut().unwrap().remove("mediaType");
    });
    registry.push_manifest("app", "index", &bare_index);

    let cache = fresh_dir("same-kind-cache-");
    let dir = fresh_dir("same-kind-");
    for round in ["registry", "cache"] {
        for tag in ["image", "index"] {
            let out_name = format!("{tag}-{round}.tar");
            let reference = format!("{}/app:{tag}", registry.host());
            run(pull_command(&dir)
                .env("DRAG_CACHE_DIR", &cache)
                .args(["-q", "-o", &out_name, &reference]))
            .assert_success();
            assert_archive_holds_image(&dir.join(&out_name), &amd);
        }
    }
    // The second round really came from the cache: the manifests were not fetched again.
    let gets = |digest: &str| {
        registry
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path().ends_with(&format!("/manifests/{digest}")))
            .count()
    };
    assert!(gets(&bare_index.digest) + gets(&bare_image.digest) == 0);
    let tag_gets = registry
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path().ends_with("/manifests/image"))
        .count();
    assert_eq!(tag_gets, 1, "the second pull should have used the cache");
}

#[test]
fn an_artifact_entry_carrying_a_platform_is_never_chosen() {
    let registry = FakeRegistry::start();
    let amd = image("amd64", None, "amd");
    let arm = image("arm64", Some("v8"), "arm");
    let sbom = artifact(SPDX, &amd);
    let signature = artifact(COSIGN, &amd);
    // One entry says it is an artifact; the other says nothing and only its config tells.
    let mut sbom_entry = sbom.manifest.descriptor();
    sbom_entry["artifactType"] = SPDX.into();
    sbom_entry["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .descriptor(sbom_entry)
        .manifest(
            &signature.manifest,
            json!({"os": "linux", "architecture": "amd64"}),
        )
        .image(&amd)
        .image(&arm)
        .build();
    registry.push_index("app", "1", &index, &[&sbom, &signature, &amd, &arm]);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("artifact-entry-");

    pull(&dir, &["-q", "-o", "amd.tar", &reference]).assert_success();
    assert_archive_holds_image(&dir.join("amd.tar"), &amd);
    let fetched_sbom = registry
        .requests()
        .into_iter()
        .find(|r| r.path().ends_with(sbom.digest()));
    assert!(
        fetched_sbom.is_none(),
        "an artifactType entry was fetched: {fetched_sbom:?}"
    );

    // inspect lists images only.
    let out = run(drag().args(["inspect", &reference]));
    out.assert_success();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["platforms"], json!(["linux/amd64", "linux/arm64/v8"]));
    assert_eq!(v["image"]["digest"], amd.digest());
}

#[test]
fn an_index_of_artifacts_alone_names_no_artifact_as_available() {
    let registry = FakeRegistry::start();
    let arm = image("arm64", None, "arm");
    let signature = artifact(COSIGN, &arm);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .manifest(
            &signature.manifest,
            json!({"os": "linux", "architecture": "amd64"}),
        )
        .image(&arm)
        .build();
    registry.push_index("app", "1", &index, &[&signature, &arm]);
    let dir = fresh_dir("artifacts-only-");
    let out = pull(&dir, &["-q", &format!("{}/app:1", registry.host())]);
    assert_refused(&out, "no image for platform linux/amd64");
    assert!(
        out.stderr.trim_end().ends_with("available: linux/arm64"),
        "{}",
        out.stderr
    );
    assert_left_nothing(&dir);

    // A tag naming an artifact directly is refused as one, not failed on its config.
    registry.push_image("app", "sig", &signature);
    let out = pull(&dir, &["-q", &format!("{}/app:sig", registry.host())]);
    assert_refused(&out, "not a container image but an artifact of type");
    assert!(out.stderr.contains(COSIGN), "{}", out.stderr);
    assert_left_nothing(&dir);
}

#[test]
fn the_only_image_entry_without_a_platform_is_taken_with_its_platform_from_its_config() {
    let registry = FakeRegistry::start();
    let amd = image("amd64", None, "amd");
    let att = attestation_for(&amd);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .descriptor(amd.manifest.descriptor())
        .attestation(&att, &amd)
        .build();
    registry.push_index("app", "1", &index, &[&amd, &att]);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("platformless-");

    pull(&dir, &["-q", "-o", "amd.tar", &reference]).assert_success();
    assert_archive_holds_image(&dir.join("amd.tar"), &amd);

    let out = run(drag().args(["inspect", &reference]));
    out.assert_success();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["platforms"], json!(["linux/amd64"]), "{v}");
    assert_eq!(v["image"]["platform"], "linux/amd64", "{v}");

    // The platform read from the config is still checked against the one asked for.
    let out = pull(
        &dir,
        &[
            "-q",
            "-o",
            "arm.tar",
            "--platform",
            "linux/arm64",
            &reference,
        ],
    );
    assert_refused(&out, "no image for platform linux/arm64");
    assert!(
        out.stderr.trim_end().ends_with("available: linux/amd64"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_entry_with_a_platform_wins_over_one_whose_platform_comes_from_its_config() {
    let registry = FakeRegistry::start();
    let declared = image("amd64", None, "declared");
    let undeclared = image("amd64", None, "undeclared");
    let arm = image("arm", Some("v7"), "arm");
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .descriptor(undeclared.manifest.descriptor())
        .image(&declared)
        .descriptor(arm.manifest.descriptor())
        .build();
    registry.push_index("app", "1", &index, &[&declared, &undeclared, &arm]);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("declared-first-");
    pull(&dir, &["-q", "-o", "amd.tar", &reference]).assert_success();
    assert_archive_holds_image(&dir.join("amd.tar"), &declared);
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "arm.tar",
            "--platform",
            "linux/arm/v7",
            &reference,
        ],
    )
    .assert_success();
    assert_archive_holds_image(&dir.join("arm.tar"), &arm);
}

#[test]
fn null_layers_manifests_urls_and_annotations_read_as_empty() {
    let registry = FakeRegistry::start();
    // An image with no layers, its list written as Go writes a nil slice.
    let empty = ImageBuilder::new().format(ManifestFormat::Oci).build();
    registry.push_image("app", "typed", &empty);
    let null_layers = edited(&empty.manifest, media_types::OCI_MANIFEST, |doc| {
        doc["layers"] = Value::Null;
        doc["annotations"] = Value::Null;
        doc["config"]["urls"] = Value::Null;
        doc["config"]["annotations"] = Value::Null;
    });
    registry.push_manifest("app", "null-layers", &null_layers);
    let dir = fresh_dir("null-lists-");
    let reference = format!("{}/app:null-layers", registry.host());
    pull(&dir, &["-q", "-o", "empty.tar", &reference]).assert_success();
    let tar = read_tar(&dir.join("empty.tar"));
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(manifest[0]["Layers"], json!([]), "{manifest}");
    assert_eq!(manifest[0]["Config"], blob_path(&empty.config.digest));

    let null_index = Blob::new(
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":null}}"#,
            media_types::OCI_INDEX
        ),
        media_types::OCI_INDEX,
    );
    registry.push_manifest("app", "null-manifests", &null_index);
    let out = pull(
        &dir,
        &[
            "-q",
            "-o",
            "none.tar",
            &format!("{}/app:null-manifests", registry.host()),
        ],
    );
    assert_refused(&out, "no image for platform linux/amd64");
    assert!(!out.stderr.contains("malformed"), "{}", out.stderr);
}

#[test]
fn schema1_served_under_another_content_type_gets_the_schema1_message() {
    let registry = FakeRegistry::start();
    let unsigned = r#"{"schemaVersion":1,"name":"app","tag":"old","architecture":"amd64",
        "fsLayers":[{"blobSum":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
        "history":[{"v1Compatibility":"{\"id\":\"x\"}"}]}"#;
    let signed = r#"{"schemaVersion":1,"name":"app","tag":"old","architecture":"amd64",
        "fsLayers":[],"history":[],"signatures":[{"header":{"alg":"ES256"},"signature":"x","protected":"y"}]}"#;
    let dir = fresh_dir("schema1-elsewhere-");
    for (tag, body, served, named) in [
        (
            "oci",
            unsigned,
            media_types::OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v1+json",
        ),
        (
            "json",
            signed,
            "application/json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
        (
            "list",
            signed,
            media_types::DOCKER_MANIFEST_LIST,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
    ] {
        registry.push_manifest("app", tag, &Blob::new(body, served));
        let out = pull(&dir, &["-q", &format!("{}/app:{tag}", registry.host())]);
        assert_refused(&out, "Docker schema1 manifests");
        assert!(out.stderr.contains(named), "{tag}: {}", out.stderr);
        assert!(!out.stderr.contains(served), "{tag}: {}", out.stderr);
        assert_left_nothing(&dir);
    }
}

#[test]
fn type_errors_in_schema_version_and_media_type_name_the_field() {
    let registry = FakeRegistry::start();
    let amd = image("amd64", None, "amd");
    registry.push_image("app", "ok", &amd);
    let dir = fresh_dir("field-types-");
    for (tag, field, value, says) in [
        (
            "sv-string",
            "schemaVersion",
            json!("2"),
            "schemaVersion must be a number, not a string",
        ),
        (
            "sv-float",
            "schemaVersion",
            json!(2.5),
            "schemaVersion must be a small whole number",
        ),
        (
            "mt-number",
            "mediaType",
            json!(1),
            "mediaType must be a string, not a number",
        ),
        (
            "mt-array",
            "mediaType",
            json!([media_types::OCI_MANIFEST]),
            "mediaType must be a string, not an array",
        ),
    ] {
        let doc = edited(&amd.manifest, media_types::OCI_MANIFEST, |doc| {
            doc[field] = value;
        });
        registry.push_manifest("app", tag, &doc);
        let out = pull(&dir, &["-q", &format!("{}/app:{tag}", registry.host())]);
        assert_refused(&out, says);
        assert_left_nothing(&dir);
    }
}

#[test]
fn arm_v7_falls_back_to_v6_then_v5_only_when_no_entry_matches() {
    let registry = FakeRegistry::start();
    let v5 = image("arm", Some("v5"), "v5");
    let v6 = image("arm", Some("v6"), "v6");
    let v7 = image("arm", Some("v7"), "v7");
    let amd = image("amd64", None, "amd");
    let older = IndexBuilder::new(ManifestFormat::Oci)
        .image(&v5)
        .image(&amd)
        .image(&v6)
        .build();
    let all = IndexBuilder::new(ManifestFormat::Oci)
        .image(&v6)
        .image(&v7)
        .image(&v5)
        .build();
    let oldest = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&v5)
        .build();
    registry.push_index("app", "older", &older, &[&v5, &v6, &amd]);
    registry.push_index("app", "all", &all, &[&v5, &v6, &v7]);
    registry.push_index("app", "oldest", &oldest, &[&v5, &amd]);
    let dir = fresh_dir("arm-fallback-");
    for (tag, platform, expected) in [
        ("older", "linux/arm/v7", &v6),
        ("older", "linux/arm", &v6),
        ("all", "linux/arm/v7", &v7),
        ("all", "linux/arm/v6", &v6),
        ("oldest", "linux/arm/v7", &v5),
    ] {
        let out_name = format!("{tag}-{}.tar", platform.replace('/', "_"));
        let reference = format!("{}/app:{tag}", registry.host());
        pull(
            &dir,
            &["-q", "-o", &out_name, "--platform", platform, &reference],
        )
        .assert_success();
        assert_archive_holds_image(&dir.join(&out_name), expected);
    }
    // Never upwards: a v6 machine does not get a v7 image.
    let index = IndexBuilder::new(ManifestFormat::Oci).image(&v7).build();
    registry.push_index("app", "v7-only", &index, &[&v7]);
    let out = pull(
        &dir,
        &[
            "-q",
            "--platform",
            "linux/arm/v6",
            &format!("{}/app:v7-only", registry.host()),
        ],
    );
    assert_refused(&out, "no image for platform linux/arm/v6");
}

#[test]
fn arm64_takes_a_variant_less_entry() {
    let registry = FakeRegistry::start();
    let arm64 = image("arm64", None, "arm64");
    let amd = image("amd64", None, "amd");
    let arm32 = image("arm", Some("v7"), "arm32");
    let index = IndexBuilder::new(ManifestFormat::Docker)
        .image(&amd)
        .image(&arm32)
        .image(&arm64)
        .build();
    registry.push_index("app", "1", &index, &[&amd, &arm32, &arm64]);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("arm64-variantless-");
    for platform in [
        "linux/arm64",
        "linux/arm64/v8",
        "linux/aarch64",
        "linux/arm64/v9",
    ] {
        let out_name = format!("{}.tar", platform.replace('/', "_"));
        pull(
            &dir,
            &["-q", "-o", &out_name, "--platform", platform, &reference],
        )
        .assert_success();
        assert_archive_holds_image(&dir.join(&out_name), &arm64);
    }
}

#[test]
fn an_index_of_many_artifacts_posing_as_images_is_given_up_on_after_a_bounded_number() {
    let registry = FakeRegistry::start();
    let amd = image("amd64", None, "amd");
    let mut index = IndexBuilder::new(ManifestFormat::Oci);
    let mut artifacts = Vec::new();
    for i in 0..40 {
        let a = artifact(&format!("application/vnd.example.{i}+json"), &amd);
        index = index.manifest(&a.manifest, json!({"os": "linux", "architecture": "amd64"}));
        artifacts.push(a);
    }
    let index = index.image(&amd).build();
    let mut all: Vec<&Image> = artifacts.iter().collect();
    all.push(&amd);
    registry.push_index("app", "1", &index, &all);
    let dir = fresh_dir("many-artifacts-");
    let out = pull(&dir, &["-q", &format!("{}/app:1", registry.host())]);
    assert_refused(&out, "more than 16 artifacts listed as images");
    let fetched = registry
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path().contains("/manifests/sha256:"))
        .count();
    assert!(fetched <= 17, "fetched {fetched} manifests");
    assert_left_nothing(&dir);
}

/// A one-layer image in `format` whose config is typed `config_type`.
fn image_with_config_type(format: ManifestFormat, config_type: &str) -> Image {
    ImageBuilder::new()
        .format(format)
        .config_media_type(config_type)
        .layer(
            LayerBuilder::new()
                .file("marker", config_type, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// Mirrors the Docker Hub manifest (`library/docker`) quoted by image-spec's
/// `schema/backwards_compatibility_test.go`: early Docker schema2 pushes typed the config
/// `application/octet-stream`, and Docker, containerd and containers/image run such images.
#[test]
fn a_docker_image_whose_config_is_typed_octet_stream_is_pulled_as_an_image() {
    let registry = FakeRegistry::start();
    let legacy = image_with_config_type(ManifestFormat::Docker, "application/octet-stream");
    registry.push_image("app", "legacy", &legacy);
    let index = IndexBuilder::new(ManifestFormat::Docker)
        .image(&legacy)
        .build();
    registry.push_index("app", "legacy-list", &index, &[&legacy]);
    // OCI never wrote such configs: there it is an artifact's.
    let oci = image_with_config_type(ManifestFormat::Oci, "application/octet-stream");
    registry.push_image("app", "oci", &oci);

    let dir = fresh_dir("octet-config-");
    for tag in ["legacy", "legacy-list"] {
        let out_name = format!("{tag}.tar");
        let reference = format!("{}/app:{tag}", registry.host());
        pull(&dir, &["-q", "-o", &out_name, &reference]).assert_success();
        assert_archive_holds_image(&dir.join(&out_name), &legacy);
    }
    let out = pull(
        &dir,
        &[
            "-q",
            "-o",
            "oci.tar",
            &format!("{}/app:oci", registry.host()),
        ],
    );
    assert_refused(
        &out,
        "not a container image but an artifact of type application/octet-stream",
    );
    assert_left_nothing(&dir.join("oci.tar"));
}

/// Mirrors containers/image's `v2s2nomime.manifest.json`: without `mediaType` and served as
/// plain JSON, an image with a Docker config is Docker schema2 (as `GuessMIMEType` says), one
/// with an OCI config is OCI, from the registry and from the cache alike.
#[test]
fn an_undeclared_image_is_recorded_as_docker_or_oci_by_its_config() {
    let registry = FakeRegistry::start();
    let cases = [
        (
            "docker",
            ManifestFormat::Docker,
            media_types::DOCKER_MANIFEST,
        ),
        ("oci", ManifestFormat::Oci, media_types::OCI_MANIFEST),
    ];
    for (tag, format, _) in &cases {
        let img = image_with_config_type(*format, format.config_media_type());
        registry.push_image("app", &format!("{tag}-typed"), &img);
        let bare = edited(&img.manifest, "application/json", |doc| {
            doc.as_object_mut().unwrap().remove("mediaType");
        });
        registry.push_manifest("app", tag, &bare);
    }
    let cache = fresh_dir("undeclared-type-cache-");
    for round in ["registry", "cache"] {
        for (tag, _, want) in &cases {
            let reference = format!("{}/app:{tag}", registry.host());
            let out = run(drag()
                .env("DRAG_CACHE_DIR", &cache)
                .args(["inspect", &reference]));
            out.assert_success();
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["image"]["mediaType"], *want, "{round}: {doc}");
        }
    }
}
