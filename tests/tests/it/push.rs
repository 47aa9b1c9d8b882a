//! `drag push` against the real distribution registry: archives and layouts `drag pull`
//! writes go back with the digests they were pulled with; uncompressed layers go up gzipped
//! under a new manifest with the same config; skopeo's archives push; a bundle lands under
//! `--to HOST/PREFIX`; a second push sends nothing; a bundle without `--to` and a tampered
//! blob are refused before any manifest is put.

use drag_tests::real_registry::{served_blob, served_manifest};
use std::io::Read;

use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::tools::tool;
use drag_tests::{
    drag, require_tool, run, sha256_digest, Compression, Dockerd, DragOutput, Image, ImageBuilder,
    IndexBuilder, LayerBuilder, ManifestFormat, Podman, ProxyFaults, RealRegistry, StaticHost,
    UploadProxy,
};

fn image(seed: u64, arch: &str) -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch(arch)
        .layer(
            LayerBuilder::new()
                .file("bin/tool", noise(20_000, seed), 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("data/blob", noise(30_000, seed + 1), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn push(args: &[&str]) -> DragOutput {
    run(drag().arg("push").args(args))
}

/// A registry holding `src/app:1`, and its image.
async fn served() -> Option<(RealRegistry, Image)> {
    let registry = RealRegistry::start().await?;
    let img = image(1, "amd64");
    registry.push_image("src/app", "1", &img).await;
    Some((registry, img))
}

#[tokio::test(flavor = "multi_thread")]
async fn pulled_archives_and_layouts_push_back_with_the_digest_they_were_pulled_with() {
    let Some((reg, img)) = served().await else {
        return;
    };
    let dir = fresh_dir("push-roundtrip-");
    let src = format!("{}/src/app:1", reg.host());
    for (name, format) in [("x.tar", "docker"), ("layout", "oci")] {
        pull(&dir, &["-q", "--format", format, "-o", name, &src]).assert_success();
        let repo = format!("dst/{format}");
        let out = push(&[
            "-q",
            &dir.join(name).to_string_lossy(),
            &format!("{}/{repo}:1", reg.host()),
        ]);
        out.assert_success();
        assert_eq!(out.stdout_text().trim(), img.digest(), "{format}");
        let served = served_manifest(&reg.host(), &repo, "1").await;
        assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]), "{format}");
        let back = format!("back-{format}.tar");
        pull(
            &dir,
            &["-q", "-o", &back, &format!("{}/{repo}:1", reg.host())],
        )
        .assert_success();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_all_platforms_layout_pushes_its_index_and_every_image_under_it() {
    let Some(reg) = RealRegistry::start().await else {
        return;
    };
    let amd = image(10, "amd64");
    let arm = image(20, "arm64");
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .build();
    reg.push_index("src/multi", "1", &index, &[&amd, &arm])
        .await;
    let dir = fresh_dir("push-index-");
    let src = format!("{}/src/multi:1", reg.host());
    pull(
        &dir,
        &[
            "-q",
            "--all-platforms",
            "--format",
            "oci",
            "-o",
            "layout",
            &src,
        ],
    )
    .assert_success();
    let out = push(&[
        "-q",
        &dir.join("layout").to_string_lossy(),
        &format!("{}/dst/multi:1", reg.host()),
    ]);
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), index.digest);
    let served = served_manifest(&reg.host(), "dst/multi", "1").await;
    assert_eq!(served.as_deref(), Some(&index.bytes[..]));
    for child in [&amd, &arm] {
        let served = served_manifest(&reg.host(), "dst/multi", child.digest()).await;
        assert_eq!(served.as_deref(), Some(&child.manifest.bytes[..]));
        for layer in &child.layers {
            let blob = served_blob(&reg.host(), "dst/multi", &layer.blob.digest).await;
            assert!(blob == layer.blob.bytes, "layer {}", layer.blob.digest);
        }
    }
}

/// Checks the image under `repo:1` has `img`'s config and gzip layers that decompress to
/// its diff IDs, and that `drag pull` takes it.
async fn assert_pushed_gzipped(reg: &RealRegistry, repo: &str, img: &Image, dir: &std::path::Path) {
    let served = served_manifest(&reg.host(), repo, "1")
        .await
        .expect("the manifest was put");
    let manifest: serde_json::Value = serde_json::from_slice(&served).unwrap();
    assert_eq!(manifest["config"]["digest"], img.config.digest.as_str());
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), img.layers.len());
    for (layer, expected) in layers.iter().zip(&img.layers) {
        assert!(
            layer["mediaType"].as_str().unwrap().ends_with("gzip"),
            "{layer}"
        );
        let blob = served_blob(&reg.host(), repo, layer["digest"].as_str().unwrap()).await;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut raw)
            .expect("a gzip layer");
        assert_eq!(sha256_digest(&raw), expected.diff_id);
    }
    let back = format!("{}-back.tar", repo.replace('/', "-"));
    pull(
        dir,
        &["-q", "-o", &back, &format!("{}/{repo}:1", reg.host())],
    )
    .assert_success();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decompressed_archive_pushes_gzipped_under_a_new_manifest_with_the_same_config() {
    let Some((reg, img)) = served().await else {
        return;
    };
    let dir = fresh_dir("push-decompressed-");
    let src = format!("{}/src/app:1", reg.host());
    pull(&dir, &["-q", "--decompress", "-o", "d.tar", &src]).assert_success();
    let cache = dir.join("cache");
    std::fs::create_dir(&cache).unwrap();
    let out = run(drag().env("DRAG_CACHE_DIR", &cache).args([
        "push",
        "-q",
        &dir.join("d.tar").to_string_lossy(),
        &format!("{}/dst/plain:1", reg.host()),
    ]));
    out.assert_success();
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "scratch files left: {left:?}");
    let digest = out.stdout_text().trim().to_string();
    assert_ne!(
        digest,
        img.digest(),
        "the layers changed, so the manifest did"
    );
    let served = served_manifest(&reg.host(), "dst/plain", "1")
        .await
        .unwrap();
    assert_eq!(sha256_digest(&served), digest);
    assert_pushed_gzipped(&reg, "dst/plain", &img, &dir).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skopeo_docker_archive_pushes() {
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let Some((reg, img)) = served().await else {
        return;
    };
    let dir = fresh_dir("push-skopeo-");
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "layout",
            &format!("{}/src/app:1", reg.host()),
        ],
    )
    .assert_success();
    let archive = dir.join("skopeo.tar");
    tool(
        &skopeo,
        &[
            "--insecure-policy",
            "copy",
            &format!("oci:{}:1", dir.join("layout").display()),
            &format!("docker-archive:{}:example.com/app:1", archive.display()),
        ],
    );
    push(&[
        "-q",
        &archive.to_string_lossy(),
        &format!("{}/dst/skopeo:1", reg.host()),
    ])
    .assert_success();
    assert_pushed_gzipped(&reg, "dst/skopeo", &img, &dir).await;
}

/// The diff IDs `img`'s layers unpack to, in order.
fn diff_ids(img: &Image) -> Vec<String> {
    img.layers.iter().map(|l| l.diff_id.clone()).collect()
}

/// What a real Docker saves (classic layout, layers uncompressed, named by `RepoTags`) goes up
/// under its name re-rooted by `--to`, and that Docker, having forgotten the image, pulls it
/// back from the registry as the same image.
#[tokio::test(flavor = "multi_thread")]
async fn a_docker_save_archive_pushes_under_its_rerooted_name_and_docker_pulls_it_back() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let Some(reg) = RealRegistry::start().await else {
        return;
    };
    // An image of its own: the daemon is shared, and this test removes what it loads.
    let img = image(70, "amd64");
    reg.push_image("src/saved", "1", &img).await;
    let dir = fresh_dir("push-dockersave-");
    let src = format!("{}/src/saved:1", reg.host());
    pull(&dir, &["-q", "-o", "x.tar", &src]).assert_success();
    docker.load(&dir.join("x.tar"));
    let name = format!(
        "drag-test/push-save-{}:1",
        reg.host().replace([':', '.'], "-")
    );
    docker.docker(&["tag", &src, &name]);
    let saved = dir.join("saved.tar");
    docker.docker(&["save", "-o", &saved.display().to_string(), &name]);
    docker.docker(&["rmi", &src, &name]);

    push(&[
        "-q",
        &saved.to_string_lossy(),
        "--to",
        &format!("{}/far", reg.host()),
    ])
    .assert_success();
    let repo = format!("far/{}", name.trim_end_matches(":1"));
    assert_pushed_gzipped(&reg, &repo, &img, &dir).await;

    let pushed = format!("{}/{repo}:1", reg.host());
    docker.docker(&["pull", "-q", &pushed]);
    assert_eq!(docker.image_id(&pushed), img.config.digest);
    assert_eq!(docker.diff_ids(&pushed), diff_ids(&img));
    docker.docker(&["rmi", &pushed]);
}

/// What podman saves, as a docker-archive and as an oci-archive, pushes; a podman with a store
/// of its own pulls each back from the registry as the same image.
#[tokio::test(flavor = "multi_thread")]
async fn podman_save_archives_push_and_podman_pulls_them_back() {
    let Some(saver) = Podman::new() else { return };
    let Some((reg, img)) = served().await else {
        return;
    };
    let dir = fresh_dir("push-podmansave-");
    let src = format!("{}/src/app:1", reg.host());
    pull(&dir, &["-q", "-o", "x.tar", &src]).assert_success();
    saver.load(&dir.join("x.tar"));
    for format in ["docker-archive", "oci-archive"] {
        let saved = dir.join(format!("{format}.tar"));
        saver.run(&[
            "save",
            "--format",
            format,
            "-o",
            &saved.display().to_string(),
            &src,
        ]);
        let repo = format!("dst/podman-{format}");
        push(&[
            "-q",
            &saved.to_string_lossy(),
            &format!("{}/{repo}:1", reg.host()),
        ])
        .assert_success();
        assert_pushed_gzipped(&reg, &repo, &img, &dir).await;

        let Some(puller) = Podman::new() else { return };
        let pushed = format!("{}/{repo}:1", reg.host());
        puller.run(&["pull", "-q", "--tls-verify=false", &pushed]);
        let id = puller.run(&["image", "inspect", "--format", "{{.Id}}", &pushed]);
        assert_eq!(
            format!("sha256:{}", id.trim()),
            img.config.digest,
            "{format}"
        );
        assert_eq!(puller.diff_ids(&pushed), serde_json::json!(diff_ids(&img)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_lands_under_the_to_prefix_and_a_second_push_sends_nothing() {
    let Some(reg) = RealRegistry::start().await else {
        return;
    };
    let one = image(30, "amd64");
    let two = image(40, "amd64");
    reg.push_image("src/one", "1", &one).await;
    reg.push_image("src/two", "2", &two).await;
    let dir = fresh_dir("push-bundle-");
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "bundle.tar",
            &format!("{}/src/one:1", reg.host()),
            &format!("{}/src/two:2", reg.host()),
        ],
    )
    .assert_success();
    let bundle = dir.join("bundle.tar").to_string_lossy().into_owned();

    // Without --to, which image DEST means is a guess: refused, naming both.
    let out = push(&["-q", &bundle, &format!("{}/dst/x:1", reg.host())]);
    out.assert_failure();
    assert!(
        out.stderr.contains("src/one") && out.stderr.contains("src/two"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--to"), "{}", out.stderr);

    // --image picks one by the name the bundle gives it.
    let name = format!("{}/src/two:2", reg.host());
    let out = push(&[
        "-q",
        &bundle,
        "--image",
        &name,
        &format!("{}/dst/picked:1", reg.host()),
    ]);
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), two.digest());

    let to = format!("{}/mirror", reg.host());
    let out = push(&["-q", &bundle, "--to", &to]);
    out.assert_success();
    assert_eq!(
        out.stdout_text().lines().collect::<Vec<_>>(),
        [one.digest(), two.digest()]
    );
    for (repo, tag, img) in [("mirror/src/one", "1", &one), ("mirror/src/two", "2", &two)] {
        let served = served_manifest(&reg.host(), repo, tag).await;
        assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]), "{repo}");
    }

    let proxy = UploadProxy::start(&reg.host(), ProxyFaults::default()).await;
    push(&["-q", &bundle, "--to", &format!("{}/mirror", proxy.host())]).assert_success();
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        0,
        "{:#?}",
        proxy.requests()
    );
    assert_eq!(proxy.count("PATCH", ""), 0);
    assert_eq!(proxy.count("HEAD", "/blobs/"), 6, "{:#?}", proxy.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_layer_fails_naming_the_blob_no_manifest_is_put_and_no_scratch_is_left() {
    let Some((reg, img)) = served().await else {
        return;
    };
    let dir = fresh_dir("push-tampered-");
    let src = format!("{}/src/app:1", reg.host());
    pull(&dir, &["-q", "--format", "oci", "-o", "layout", &src]).assert_success();
    let layer = &img.layers[1].blob.digest;
    let path = dir
        .join("layout/blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let cache = dir.join("cache");
    std::fs::create_dir(&cache).unwrap();
    let out = run(drag().env("DRAG_CACHE_DIR", &cache).args([
        "push",
        "-q",
        "-j",
        "1",
        &dir.join("layout").to_string_lossy(),
        &format!("{}/dst/bad:1", reg.host()),
    ]));
    out.assert_failure();
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "scratch left after a failure: {left:?}");
    assert!(
        out.stderr
            .contains(&layer["sha256:".len().."sha256:".len() + 12]),
        "{}",
        out.stderr
    );
    assert_eq!(served_manifest(&reg.host(), "dst/bad", "1").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_over_the_monolithic_limit_go_up_from_a_layout_in_chunks() {
    let Some((reg, img)) = served().await else {
        return;
    };
    let dir = fresh_dir("push-chunks-");
    let src = format!("{}/src/app:1", reg.host());
    pull(&dir, &["-q", "--format", "oci", "-o", "layout", &src]).assert_success();
    let mut opts = drag_core::PushOptions::new(dir.join("layout"));
    opts.dest = Some(format!("{}/dst/chunked:1", reg.host()));
    opts.limits = drag_core::UploadLimits {
        monolithic_max: 1000,
        chunk: 7000,
    };
    let report = drag_core::push(&opts, &drag_core::progress::Silent)
        .await
        .expect("push");
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].digest.to_string(), img.digest());
    assert_eq!(report.images[0].uploaded, 3);
    for layer in &img.layers {
        assert!(layer.blob.bytes.len() > 14_000, "several chunks per layer");
        let blob = served_blob(&reg.host(), "dst/chunked", &layer.blob.digest).await;
        assert!(blob == layer.blob.bytes, "layer {}", layer.blob.digest);
    }
    let served = served_manifest(&reg.host(), "dst/chunked", "1").await;
    assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]));
}

async fn blob_status(registry: &str, repo: &str, digest: &str) -> u16 {
    reqwest::Client::new()
        .head(format!("http://{registry}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .expect("HEAD blob")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_layers_are_sent_only_with_include_foreign_from_the_source_or_their_urls() {
    let allow_urls =
        "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n";
    let Some(reg) = RealRegistry::start_with(allow_urls).await else {
        return;
    };
    let host = StaticHost::start(Vec::<(String, Vec<u8>)>::new());
    let base = LayerBuilder::new()
        .file("Files/base.txt", noise(5_000, 110), 0o644)
        .build(Compression::Gzip);
    host.add("/base.tar.gz", base.blob.bytes.clone());
    let foreign = base.blob.digest.clone();
    let img = ImageBuilder::new()
        .os("windows")
        .foreign_layer(base, vec![host.url_for("/base.tar.gz")])
        .layer(
            LayerBuilder::new()
                .file("Files/app.txt", noise(5_000, 111), 0o644)
                .build(Compression::Gzip),
        )
        .build();
    reg.push_image("src/win", "1", &img).await;
    let dir = fresh_dir("push-foreign-");
    let src = format!("{}/src/win:1", reg.host());
    pull(
        &dir,
        &[
            "-q",
            "--platform",
            "windows/amd64",
            "--format",
            "oci",
            "-o",
            "layout",
            &src,
        ],
    )
    .assert_success();
    let layout = dir.join("layout").to_string_lossy().into_owned();

    let out = push(&[&layout, &format!("{}/dst/win:1", reg.host())]);
    out.assert_success();
    assert!(
        out.stderr.contains("1 foreign layers left"),
        "{}",
        out.stderr
    );
    let served = served_manifest(&reg.host(), "dst/win", "1").await;
    assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]));
    assert_eq!(blob_status(&reg.host(), "dst/win", &foreign).await, 404);

    for repo in ["dst/from-file", "dst/from-url"] {
        if repo == "dst/from-url" {
            // Not in the source: fetched from the URL its descriptor lists.
            let blob = dir
                .join("layout/blobs/sha256")
                .join(foreign.trim_start_matches("sha256:"));
            std::fs::remove_file(&blob).expect("the pull kept the foreign layer");
        }
        let out = push(&[
            "-q",
            "--include-foreign",
            &layout,
            &format!("{}/{repo}:1", reg.host()),
        ]);
        out.assert_success();
        let served = served_manifest(&reg.host(), repo, "1").await;
        assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]), "{repo}");
        assert_eq!(
            blob_status(&reg.host(), repo, &foreign).await,
            200,
            "{repo}"
        );
    }
}
