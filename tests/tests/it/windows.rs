//! Windows images: the MCR adapter's tag fallback and os.version choice, foreign layers
//! fetched from their URLs, and the `rootfS` config quirk.

use drag_tests::archive::{
    assert_archive_holds_image, assert_entries_hold_image, blob_path, json_entry, read_tar,
};
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::{
    run, Compression, FakeRegistry, Image, ImageBuilder, IndexBuilder, LayerBuilder, Listener,
    ManifestFormat, RealRegistry, StaticHost,
};

fn windows_image(os_version: &str, marker: &str) -> Image {
    ImageBuilder::new()
        .os("windows")
        .os_version(os_version)
        .layer(
            LayerBuilder::new()
                .file("Files/marker.txt", marker, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// MCR: anonymous, CDN redirects, tag list paginated two at a time.
fn mcr() -> FakeRegistry {
    FakeRegistry::builder().cdn(true).tags_page_size(2).start()
}

fn pull_mcr(
    registry: &FakeRegistry,
    dir: &std::path::Path,
    args: &[&str],
) -> drag_tests::DragOutput {
    run(pull_command(dir)
        .args(["--registry", "mcr", "--endpoint", &registry.url()])
        .args(args))
}

#[test]
fn unknown_tag_falls_back_to_its_arch_specific_form() {
    let registry = mcr();
    let image = windows_image("10.0.17134.1", "1803");
    registry.push_image("windows/nanoserver", "1803-amd64", &image);
    registry.push_image(
        "windows/nanoserver",
        "1803-arm64",
        &windows_image("10.0.17134.1", "arm"),
    );
    registry.push_image(
        "windows/nanoserver",
        "1809-amd64",
        &windows_image("10.0.17763.1", "1809"),
    );
    let dir = fresh_dir("mcr-fallback-");
    let out = pull_mcr(
        &registry,
        &dir,
        &["-o", "nano.tar", "windows/nanoserver:1803"],
    );
    out.assert_success();
    assert!(
        out.stderr.contains("using tag 1803-amd64"),
        "{}",
        out.stderr
    );
    let tar = read_tar(&dir.join("nano.tar"));
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(manifest[0]["Config"], blob_path(&image.config.digest));
    assert_eq!(
        manifest[0]["RepoTags"][0],
        "mcr.microsoft.com/windows/nanoserver:1803"
    );
    let pages = registry
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/tags/list"))
        .count();
    assert!(pages >= 2, "tag list pagination followed ({pages} pages)");
    assert!(registry.token_requests().is_empty(), "MCR is anonymous");
}

#[test]
fn fallback_prefers_the_newest_dated_build() {
    let registry = mcr();
    let old = windows_image("10.0.17134.1", "old");
    let new = windows_image("10.0.17134.2", "new");
    registry.push_image("windows/servercore", "1803-amd64-20191008", &old);
    registry.push_image("windows/servercore", "1803-amd64-20200211", &new);
    let dir = fresh_dir("mcr-dated-");
    let out = pull_mcr(
        &registry,
        &dir,
        &["-o", "core.tar", "windows/servercore:1803"],
    );
    out.assert_success();
    assert!(
        out.stderr.contains("using tag 1803-amd64-20200211"),
        "{}",
        out.stderr
    );
    let manifest = json_entry(&read_tar(&dir.join("core.tar")), "manifest.json");
    assert_eq!(manifest[0]["Config"], blob_path(&new.config.digest));
}

#[test]
fn no_candidate_tag_fails_listing_the_closest() {
    let registry = mcr();
    registry.push_image(
        "windows/nanoserver",
        "1809-amd64",
        &windows_image("10.0.17763.1", "x"),
    );
    registry.push_image(
        "windows/nanoserver",
        "1803-arm64",
        &windows_image("10.0.17134.1", "y"),
    );
    let dir = fresh_dir("mcr-none-");
    let out = pull_mcr(&registry, &dir, &["windows/nanoserver:1803"]);
    assert_eq!(out.status.code(), Some(1));
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("MANIFEST_UNKNOWN") && last.contains("1803-arm64"),
        "{last}"
    );
    assert!(drag_tests::archive::dir_names(&dir).is_empty());
}

fn windows_list(registry: &FakeRegistry) -> Vec<Image> {
    let images: Vec<Image> = [
        "10.0.17134.1",
        "10.0.17763.5830",
        "10.0.17763.6000",
        "10.0.20348.1",
    ]
    .iter()
    .map(|v| windows_image(v, v))
    .collect();
    let mut index = IndexBuilder::new(ManifestFormat::Docker);
    for i in &images {
        index = index.image(i);
    }
    let refs: Vec<&Image> = images.iter().collect();
    registry.push_index("windows/nanoserver", "multi", &index.build(), &refs);
    images
}

#[test]
fn os_version_prefix_picks_the_highest_matching_build() {
    let registry = mcr();
    let images = windows_list(&registry);
    let dir = fresh_dir("mcr-osversion-");
    pull_mcr(
        &registry,
        &dir,
        &[
            "-o",
            "ltsc2019.tar",
            "--platform",
            "windows/amd64:10.0.17763",
            "windows/nanoserver:multi",
        ],
    )
    .assert_success();
    let manifest = json_entry(&read_tar(&dir.join("ltsc2019.tar")), "manifest.json");
    assert_eq!(manifest[0]["Config"], blob_path(&images[2].config.digest));

    // Under windows/ with no --platform: windows/amd64, newest build.
    pull_mcr(
        &registry,
        &dir,
        &["-o", "newest.tar", "windows/nanoserver:multi"],
    )
    .assert_success();
    let manifest = json_entry(&read_tar(&dir.join("newest.tar")), "manifest.json");
    assert_eq!(manifest[0]["Config"], blob_path(&images[3].config.digest));
}

/// A Docker-Hub-like image whose Windows variant has a foreign base layer on another host.
fn image_with_foreign_base(host: &StaticHost, format: ManifestFormat) -> Image {
    let base = LayerBuilder::new()
        .file("Windows/System32/kernel.dll", vec![3u8; 50_000], 0o644)
        .build(Compression::Gzip);
    host.add("/base.tar.gz", base.blob.bytes.clone());
    ImageBuilder::new()
        .format(format)
        .os("windows")
        .os_version("10.0.17134.1")
        .rootfs_key("rootfS")
        .foreign_layer(
            base,
            vec![
                host.url_for("/missing.tar.gz"),
                host.url_for("/base.tar.gz"),
            ],
        )
        .layer(
            LayerBuilder::new()
                .file("hello.txt", "hello from nanoserver", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

#[test]
fn foreign_layers_come_from_their_urls_without_credentials() {
    let host = StaticHost::start(Vec::<(String, Vec<u8>)>::new());
    let registry = FakeRegistry::builder()
        .auth(drag_tests::AuthMode::bearer())
        .cdn(true)
        .start();
    let image = image_with_foreign_base(&host, ManifestFormat::Docker);
    let linux = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("x", "linux", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    let index = IndexBuilder::new(ManifestFormat::Docker)
        .image(&linux)
        .image(&image)
        .build();
    registry.push_index(
        "library/hello-world",
        "nanoserver-1803",
        &index,
        &[&linux, &image],
    );

    let dir = fresh_dir("foreign-");
    pull(
        &dir,
        &[
            "--platform",
            "windows/amd64",
            "--endpoint",
            &registry.url(),
            "hello-world:nanoserver-1803",
        ],
    )
    .assert_success();
    let tar = read_tar(&dir.join("library_hello-world_nanoserver-1803.tar"));
    assert_entries_hold_image(&tar, &image);
    let manifest = json_entry(&tar, "manifest.json");
    let sources = &manifest[0]["LayerSources"];
    let foreign = &sources[&image.layers[0].diff_id];
    assert_eq!(foreign["digest"], image.layers[0].blob.digest);
    assert_eq!(foreign["urls"][1], host.url_for("/base.tar.gz"));
    assert_eq!(sources.as_object().map(|o| o.len()), Some(1));

    let fetched: Vec<_> = host.requests();
    assert!(
        fetched.iter().any(|r| r.path() == "/base.tar.gz"),
        "{fetched:?}"
    );
    assert!(
        fetched.iter().all(|r| r.authorization.is_none()),
        "credentials leaked: {fetched:?}"
    );
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.listener == Listener::Registry
                && r.path().contains(&image.layers[0].blob.digest)),
        "the registry is asked first"
    );
}

#[test]
fn skip_foreign_leaves_foreign_blobs_out_of_an_oci_layout() {
    let host = StaticHost::start(Vec::<(String, Vec<u8>)>::new());
    let registry = FakeRegistry::start();
    let image = image_with_foreign_base(&host, ManifestFormat::Oci);
    registry.push_image("app/win", "1", &image);
    let dir = fresh_dir("skipforeign-");
    pull(
        &dir,
        &[
            "--format",
            "oci",
            "--skip-foreign",
            "-o",
            "layout",
            "--platform",
            "windows/amd64",
            &format!("{}/app/win:1", registry.host()),
        ],
    )
    .assert_success();
    let blobs = dir.join("layout/blobs/sha256");
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    assert!(
        !blobs.join(hex(&image.layers[0].blob.digest)).exists(),
        "foreign blob left out"
    );
    assert!(blobs.join(hex(&image.layers[1].blob.digest)).exists());
    assert_eq!(
        std::fs::read(blobs.join(hex(image.digest()))).unwrap(),
        image.manifest.bytes.to_vec()
    );
    assert!(host.requests().is_empty(), "foreign layer not even fetched");
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_layer_image_from_the_real_registry() {
    let Some(registry) = RealRegistry::start_with(
        "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n",
    )
    .await
    else {
        return;
    };
    let host = StaticHost::start(Vec::<(String, Vec<u8>)>::new());
    let image = image_with_foreign_base(&host, ManifestFormat::Docker);
    registry.push_image("windows/app", "1", &image).await;
    let dir = fresh_dir("real-foreign-");
    pull(
        &dir,
        &[
            "--registry",
            "mcr",
            "--endpoint",
            &registry.url(),
            "-o",
            "app.tar",
            "windows/app:1",
        ],
    )
    .assert_success();
    assert_archive_holds_image(&dir.join("app.tar"), &image);
}
