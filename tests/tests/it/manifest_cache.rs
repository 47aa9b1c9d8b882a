//! The manifest cache across runs: kept per registry and repository, and with the media type
//! the registry served each manifest under.

use std::path::Path;

use drag_tests::drag_cli::{fresh_dir, pull_command};
use drag_tests::image::media_types;
use drag_tests::{
    run, Blob, Compression, DragOutput, FakeRegistry, Image, ImageBuilder, IndexBuilder,
    LayerBuilder, ManifestFormat,
};

fn image(marker: &str) -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("marker", marker, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn pull_with_cache(cache: &Path, dir: &Path, args: &[&str]) -> DragOutput {
    run(pull_command(dir)
        .env("DRAG_CACHE_DIR", cache)
        .arg("-q")
        .args(args))
}

fn manifest_gets(registry: &FakeRegistry) -> usize {
    registry
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path().contains("/manifests/"))
        .count()
}

#[test]
fn a_registry_naming_another_registrys_cached_digest_does_not_get_it_from_the_cache() {
    let a = FakeRegistry::start();
    let b = FakeRegistry::start();
    let cached = image("cached from registry A");
    a.push_image("app", "1", &cached);
    // B answers HEAD with A's digest, but its own manifest is something else.
    let own = image("registry B's own");
    b.push_image("app", "1", &own);
    b.push_manifest(
        "app",
        "1",
        &Blob {
            digest: cached.digest().to_string(),
            ..own.manifest.clone()
        },
    );
    let cache = fresh_dir("mcache-cross-");
    let dir = fresh_dir("mcache-cross-out-");
    pull_with_cache(
        &cache,
        &dir,
        &["-o", "a.tar", &format!("{}/app:1", a.host())],
    )
    .assert_success();

    let out = pull_with_cache(
        &cache,
        &dir,
        &["-o", "b.tar", &format!("{}/app:1", b.host())],
    );
    assert_eq!(
        manifest_gets(&b),
        1,
        "B's manifest was not fetched: {:?}",
        b.requests()
    );
    // B's own bytes do not hash to the digest it claimed: the pull fails rather than
    // producing A's image.
    out.assert_failure();
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    assert!(!dir.join("b.tar").exists());

    // The same registry and repository again: its HEAD is enough.
    a.clear_requests();
    pull_with_cache(
        &cache,
        &dir,
        &["-o", "a2.tar", &format!("{}/app:1", a.host())],
    )
    .assert_success();
    assert_eq!(manifest_gets(&a), 0, "{:?}", a.requests());
}

#[test]
fn a_cached_manifest_keeps_the_media_type_it_was_served_with() {
    let registry = FakeRegistry::start();
    let amd = image("amd64");
    let list = IndexBuilder::new(ManifestFormat::Docker)
        .image(&amd)
        .build();
    // The same list without its mediaType field: only the Content-Type says what it is.
    let mut doc = list.json();
    doc.as_object_mut().unwrap().remove("mediaType");
    let bare = Blob::new(
        serde_json::to_vec(&doc).unwrap(),
        media_types::DOCKER_MANIFEST_LIST,
    );
    registry.push_index("app", "1", &bare, &[&amd]);
    let cache = fresh_dir("mcache-type-");
    let reference = format!("{}/app:1", registry.host());
    let mut seen = Vec::new();
    for run_number in 0..2 {
        registry.clear_requests();
        let dir = fresh_dir("mcache-type-out-");
        pull_with_cache(
            &cache,
            &dir,
            &[
                "--all-platforms",
                "--format",
                "oci",
                "-o",
                "layout",
                &reference,
            ],
        )
        .assert_success();
        if run_number == 1 {
            assert_eq!(manifest_gets(&registry), 0, "second run not from the cache");
        }
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("layout/index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], bare.digest);
        seen.push(index["manifests"][0]["mediaType"].clone());
    }
    assert_eq!(seen[0], media_types::DOCKER_MANIFEST_LIST);
    assert_eq!(seen[1], seen[0], "read differently from the cache");
}
