//! `drag inspect` and `drag tags`: what an image is without pulling it, manifests byte for
//! byte, HEAD requests instead of GETs once manifests are cached, and paginated tag lists.

use drag_tests::drag_cli::fresh_dir;
use drag_tests::image::media_types;
use drag_tests::{
    attestation_for, drag, run, Blob, Compression, DragOutput, FakeRegistry, Image, ImageBuilder,
    IndexBuilder, LayerBuilder, ManifestFormat,
};

fn inspect(args: &[&str]) -> DragOutput {
    run(drag().arg("inspect").args(args))
}

fn json_stdout(out: &DragOutput) -> serde_json::Value {
    out.assert_success();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect printed no JSON ({e}):\n{}", out.stdout_text()))
}

fn amd_image() -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(
            LayerBuilder::new()
                .dir("bin", 0o755)
                .file("bin/app", "app", 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("etc/app.conf", "x=1\n", 0o644)
                .build(Compression::Zstd),
        )
        .env("PATH=/usr/local/bin:/usr/bin:/bin")
        .env("GREETING=hello world")
        .entrypoint(&["/bin/app"])
        .cmd(&["--serve", "0.0.0.0:80"])
        .working_dir("/srv")
        .user("1000:1000")
        .label("org.opencontainers.image.title", "drag test app")
        .label("maintainer", "drag")
        .created("2024-02-29T12:34:56Z")
        .build()
}

fn arm_image() -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch("arm64")
        .variant("v8")
        .layer(
            LayerBuilder::new()
                .file("arm", "arm", 0o644)
                .build(Compression::Gzip),
        )
        .cmd(&["/arm"])
        .created("2024-03-01T00:00:00Z")
        .build()
}

/// `app:1`: an OCI index whose first entry is an attestation, then amd64 and arm64/v8. The
/// index is pretty-printed with a trailing newline, so re-serialized bytes would show.
fn index_registry() -> (FakeRegistry, Blob, Image, Image) {
    let registry = FakeRegistry::start();
    let amd = amd_image();
    let arm = arm_image();
    let att = attestation_for(&amd);
    let compact = IndexBuilder::new(ManifestFormat::Oci)
        .attestation(&att, &amd)
        .image(&amd)
        .image(&arm)
        .build();
    let mut pretty = serde_json::to_vec_pretty(&compact.json()).expect("JSON serializes");
    pretty.push(b'\n');
    let index = Blob::new(pretty, media_types::OCI_INDEX);
    registry.push_index("app", "1", &index, &[&amd, &arm, &att]);
    (registry, index, amd, arm)
}

fn layers_json(image: &Image) -> serde_json::Value {
    image
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "digest": l.blob.digest,
                "size": l.blob.size(),
                "mediaType": l.blob.media_type,
            })
        })
        .collect()
}

fn image_size(image: &Image) -> u64 {
    image.config.size() + image.layers.iter().map(|l| l.blob.size()).sum::<u64>()
}

#[test]
fn inspect_of_an_index_lists_platforms_and_describes_the_chosen_image() {
    let (registry, index, amd, arm) = index_registry();
    let host = registry.host();
    let reference = format!("{host}/app:1");
    let v = json_stdout(&inspect(&[&reference]));

    assert_eq!(v["reference"], reference.as_str());
    assert_eq!(v["registry"], host.as_str());
    assert_eq!(v["repository"], "app");
    assert_eq!(v["tag"], "1");
    assert_eq!(v["digest"], index.digest.as_str());
    assert_eq!(v["mediaType"], media_types::OCI_INDEX);
    assert_eq!(
        v["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"]),
        "attestations are not platforms"
    );
    let image = &v["image"];
    assert_eq!(image["digest"], amd.digest());
    assert_eq!(image["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(image["platform"], "linux/amd64");
    assert_eq!(image["size"], image_size(&amd));
    let config = &image["config"];
    assert_eq!(config["digest"], amd.config.digest.as_str());
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["created"], "2024-02-29T12:34:56Z");
    assert_eq!(
        config["env"],
        serde_json::json!(["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello world"])
    );
    assert_eq!(config["entrypoint"], serde_json::json!(["/bin/app"]));
    assert_eq!(config["cmd"], serde_json::json!(["--serve", "0.0.0.0:80"]));
    assert_eq!(config["workingDir"], "/srv");
    assert_eq!(config["user"], "1000:1000");
    assert_eq!(
        config["labels"],
        serde_json::json!({
            "maintainer": "drag",
            "org.opencontainers.image.title": "drag test app",
        })
    );
    assert_eq!(image["layers"], layers_json(&amd));

    let v = json_stdout(&inspect(&["--platform", "linux/arm64", &reference]));
    assert_eq!(
        v["digest"],
        index.digest.as_str(),
        "still the index's digest"
    );
    let image = &v["image"];
    assert_eq!(image["digest"], arm.digest());
    assert_eq!(image["platform"], "linux/arm64/v8");
    assert_eq!(image["size"], image_size(&arm));
    assert_eq!(image["config"]["architecture"], "arm64");
    assert_eq!(image["config"]["variant"], "v8");
    assert_eq!(image["config"]["created"], "2024-03-01T00:00:00Z");
    assert_eq!(image["config"]["cmd"], serde_json::json!(["/arm"]));
    assert_eq!(image["layers"], layers_json(&arm));
}

#[test]
fn inspect_of_a_single_image_has_no_platform_list() {
    let registry = FakeRegistry::start();
    let amd = amd_image();
    registry.push_image("app", "single", &amd);
    let v = json_stdout(&inspect(&[&format!("{}/app:single", registry.host())]));
    assert_eq!(v["digest"], amd.digest());
    assert_eq!(v["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(v["image"]["digest"], amd.digest());
    assert!(v.get("platforms").is_none_or(|p| p.is_null()), "{v}");
    assert_eq!(v["image"]["layers"], layers_json(&amd));
}

#[test]
fn inspect_raw_prints_the_manifest_bytes_as_served() {
    let (registry, index, _, arm) = index_registry();
    let reference = format!("{}/app:1", registry.host());
    let out = inspect(&["--raw", &reference]);
    out.assert_success();
    assert!(
        out.stdout == index.bytes,
        "--raw printed other bytes than the index:\n{}",
        out.stdout_text()
    );

    let out = inspect(&["--raw", "--platform", "linux/arm64", &reference]);
    out.assert_success();
    assert!(
        out.stdout == arm.manifest.bytes,
        "--raw --platform printed other bytes than the chosen manifest:\n{}",
        out.stdout_text()
    );
}

#[test]
fn second_inspect_of_a_tag_costs_a_head_and_no_get_of_the_manifest() {
    let (registry, _, _, _) = index_registry();
    let reference = format!("{}/app:1", registry.host());
    let cache = fresh_dir("inspect-cache-");
    let inspect_cached = || {
        run(drag()
            .env("DRAG_CACHE_DIR", &cache)
            .args(["inspect", &reference]))
    };

    let first = json_stdout(&inspect_cached());
    registry.clear_requests();
    let second = json_stdout(&inspect_cached());
    assert_eq!(first, second);

    let manifest_requests: Vec<(String, String)> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/manifests/"))
        .map(|r| (r.method.clone(), r.path().to_string()))
        .collect();
    assert!(
        manifest_requests.contains(&("HEAD".to_string(), "/v2/app/manifests/1".to_string())),
        "no HEAD for the tag: {manifest_requests:?}"
    );
    let gets: Vec<_> = manifest_requests
        .iter()
        .filter(|(method, _)| method == "GET")
        .collect();
    assert!(
        gets.is_empty(),
        "manifests fetched again although cached: {gets:?}"
    );
}

#[test]
fn tags_lists_every_tag_across_pages_in_order() {
    let registry = FakeRegistry::builder().tags_page_size(2).start();
    let image = amd_image();
    let tags = ["1.0", "1.1", "2.0", "edge", "latest"];
    for tag in tags {
        registry.push_image("team/app", tag, &image);
    }
    let out = run(drag().args(["tags", &format!("{}/team/app", registry.host())]));
    out.assert_success();
    let listed: Vec<String> = out.stdout_text().lines().map(str::to_string).collect();
    assert_eq!(listed, tags);
    let pages = registry
        .requests()
        .iter()
        .filter(|r| r.path() == "/v2/team/app/tags/list")
        .count();
    assert_eq!(pages, 3, "five tags, two per page");
}
