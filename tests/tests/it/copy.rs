//! `drag copy` and the upload protocol against the real distribution registry: digests kept,
//! whole indexes, mounts within a registry, blobs already there skipped, chunked uploads
//! confirmed chunk by chunk and resumed after a cut, no credentials for an upload Location on
//! another host, and a registry answering the wrong manifest digest.

use drag_core::{CopyOptions, UploadLimits};
use drag_tests::archive::{assert_entries_hold_image, read_tar};
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::real_registry::{served_blob, served_manifest};
use drag_tests::{
    attestation_for, drag, run, AuthMode, Compression, DragOutput, FakeRegistry, Fault, Image,
    ImageBuilder, IndexBuilder, Layer, LayerBuilder, ManifestFormat, ProxyFaults, RealRegistry,
    StaticHost, TokenField, UploadProxy,
};

fn image(seed: u64, arch: &str, big: usize) -> Image {
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
                .file("data/blob", noise(big, seed + 1), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn copy(args: &[&str]) -> DragOutput {
    run(drag().arg("copy").args(args))
}

fn library_copy(source: String, dest: String, limits: UploadLimits) -> CopyOptions {
    let mut opts = CopyOptions::new(source, dest);
    opts.limits = limits;
    opts.registry.retry.base_delay = std::time::Duration::from_millis(20);
    opts.dest_registry.retry.base_delay = std::time::Duration::from_millis(20);
    opts
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_between_registries_keeps_the_digest_and_pulls_back_the_same_image() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let img = image(1, "amd64", 50_000);
    a.push_image("src/app", "1", &img).await;
    let out = copy(&[
        "-q",
        &format!("{}/src/app:1", a.host()),
        &format!("{}/dst/app:2", b.host()),
    ]);
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), img.digest());
    let served = served_manifest(&b.host(), "dst/app", "2").await;
    assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]));
    let dir = fresh_dir("copy-back-");
    pull(
        &dir,
        &["-o", "back.tar", &format!("{}/dst/app:2", b.host())],
    )
    .assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("back.tar")), &img);
}

#[tokio::test(flavor = "multi_thread")]
async fn all_platforms_copy_keeps_the_index_every_image_and_the_attestation() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let amd = image(10, "amd64", 10_000);
    let arm = image(20, "arm64", 10_000);
    let att = attestation_for(&amd);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .attestation(&att, &amd)
        .build();
    a.push_index("src/multi", "1", &index, &[&amd, &arm, &att])
        .await;
    let out = copy(&[
        "-q",
        "--all-platforms",
        &format!("{}/src/multi:1", a.host()),
        &format!("{}/dst/multi:1", b.host()),
    ]);
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), index.digest);
    let served = served_manifest(&b.host(), "dst/multi", "1").await;
    assert_eq!(served.as_deref(), Some(&index.bytes[..]));
    for child in [&amd, &arm, &att] {
        let served = served_manifest(&b.host(), "dst/multi", child.digest()).await;
        assert_eq!(served.as_deref(), Some(&child.manifest.bytes[..]));
        for layer in child.distributable_layers() {
            let blob = served_blob(&b.host(), "dst/multi", &layer.blob.digest).await;
            assert!(blob == layer.blob.bytes, "layer {}", layer.blob.digest);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_within_one_registry_mounts_every_blob_instead_of_sending_it() {
    let Some(a) = RealRegistry::start().await else {
        return;
    };
    let proxy = UploadProxy::start(&a.host(), ProxyFaults::default()).await;
    let img = image(30, "amd64", 10_000);
    a.push_image("src/app", "1", &img).await;
    copy(&[
        "-q",
        &format!("{}/src/app:1", proxy.host()),
        &format!("{}/dst/app:1", proxy.host()),
    ])
    .assert_success();
    // Config and two layers.
    assert_eq!(
        proxy.count("POST", "mount=sha256"),
        3,
        "{:#?}",
        proxy.requests()
    );
    assert_eq!(proxy.count("PATCH", ""), 0);
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 0);
    let served = served_manifest(&a.host(), "dst/app", "1").await;
    assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_copy_finds_every_blob_there_and_uploads_nothing() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let proxy = UploadProxy::start(&b.host(), ProxyFaults::default()).await;
    let img = image(40, "amd64", 10_000);
    a.push_image("src/app", "1", &img).await;
    let args = [
        "-q".to_string(),
        format!("{}/src/app:1", a.host()),
        format!("{}/dst/app:1", proxy.host()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    copy(&args).assert_success();
    let started = proxy.count("POST", "/blobs/uploads/");
    assert_eq!(started, 3, "{:#?}", proxy.requests());
    let heads = proxy.count("HEAD", "/blobs/");
    copy(&args).assert_success();
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), started);
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), started);
    assert_eq!(proxy.count("HEAD", "/blobs/"), heads + 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_over_the_monolithic_limit_goes_up_in_chunks_each_confirmed() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let proxy = UploadProxy::start(&b.host(), ProxyFaults::default()).await;
    let img = image(50, "amd64", 300_000);
    a.push_image("src/app", "1", &img).await;
    let big = &img.layers[1].blob;
    let limits = UploadLimits {
        monolithic_max: 64 << 10,
        chunk: 64 << 10,
    };
    let opts = library_copy(
        format!("{}/src/app:1", a.host()),
        format!("{}/dst/app:1", proxy.host()),
        limits,
    );
    let report = drag_core::copy(&opts, &drag_core::progress::Silent)
        .await
        .expect("copy");
    assert_eq!(report.digest.to_string(), img.digest());
    let chunks = big.bytes.len().div_ceil(64 << 10);
    assert!(chunks >= 4, "{chunks}");
    assert_eq!(proxy.count("PATCH", ""), chunks, "{:#?}", proxy.requests());
    assert!(served_blob(&b.host(), "dst/app", &big.digest).await == big.bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_cut_mid_body_resumes_from_the_offset_the_registry_reports() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let faults = ProxyFaults {
        cut_patch: Some(2),
        ..ProxyFaults::default()
    };
    let proxy = UploadProxy::start(&b.host(), faults).await;
    let img = image(60, "amd64", 300_000);
    a.push_image("src/app", "1", &img).await;
    let big = &img.layers[1].blob;
    let limits = UploadLimits {
        monolithic_max: 64 << 10,
        chunk: 64 << 10,
    };
    let opts = library_copy(
        format!("{}/src/app:1", a.host()),
        format!("{}/dst/app:1", proxy.host()),
        limits,
    );
    let report = drag_core::copy(&opts, &drag_core::progress::Silent)
        .await
        .expect("copy resumes");
    assert_eq!(report.digest.to_string(), img.digest());
    let chunks = big.bytes.len().div_ceil(64 << 10);
    // The cut chunk once more, after asking where the upload stood; the upload not restarted.
    assert_eq!(
        proxy.count("PATCH", ""),
        chunks + 1,
        "{:#?}",
        proxy.requests()
    );
    assert!(proxy.count("GET", "/blobs/uploads/") >= 1);
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), 3);
    assert!(served_blob(&b.host(), "dst/app", &big.digest).await == big.bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_location_on_another_host_gets_no_credentials() {
    let Some(a) = RealRegistry::start().await else {
        return;
    };
    let Some(b) = RealRegistry::start_htpasswd("pusher", "s3cret").await else {
        return;
    };
    let faults = ProxyFaults {
        locations_via_localhost: true,
        ..ProxyFaults::default()
    };
    let proxy = UploadProxy::start(&b.host(), faults).await;
    let img = image(70, "amd64", 10_000);
    a.push_image("src/app", "1", &img).await;
    // The registry refuses the credential-less upload, as it would refuse containerd's.
    copy(&[
        "-q",
        "--dest-user",
        "pusher:s3cret",
        &format!("{}/src/app:1", a.host()),
        &format!("{}/dst/app:1", proxy.host()),
    ])
    .assert_failure();
    let requests = proxy.requests();
    let elsewhere: Vec<_> = requests
        .iter()
        .filter(|r| r.host.starts_with("localhost"))
        .collect();
    assert!(!elsewhere.is_empty(), "{requests:#?}");
    assert!(elsewhere.iter().all(|r| !r.authorization), "{requests:#?}");
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.host.starts_with("127.0.0.1") && r.authorization),
        "the registry itself got the login: {requests:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_answering_another_manifest_digest_fails_the_copy_naming_it() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let wrong = format!("sha256:{}", "0".repeat(64));
    let faults = ProxyFaults {
        manifest_digest: Some(wrong.clone()),
        ..ProxyFaults::default()
    };
    let proxy = UploadProxy::start(&b.host(), faults).await;
    let img = image(80, "amd64", 10_000);
    a.push_image("src/app", "1", &img).await;
    let out = copy(&[
        "-q",
        &format!("{}/src/app:1", a.host()),
        &format!("{}/dst/app:1", proxy.host()),
    ]);
    out.assert_failure();
    let stderr = &out.stderr;
    assert!(stderr.contains("Docker-Content-Digest"), "{stderr}");
    assert!(stderr.contains(&wrong), "{stderr}");
    assert!(stderr.contains("dst/app"), "{stderr}");
    assert!(stderr.contains(img.digest()), "{stderr}");
}

#[test]
fn a_push_session_asks_pull_push_on_the_destination_and_pull_on_the_mount_source() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Token,
            expires_in: None,
        })
        .start();
    let img = image(90, "amd64", 1_000);
    registry.push_image("src/app", "1", &img);
    // The stand-in takes no uploads: only the token requests matter here.
    let _ = copy(&[
        "-q",
        &format!("{}/src/app:1", registry.host()),
        &format!("{}/dst/app:1", registry.host()),
    ]);
    let scopes: Vec<Vec<String>> = registry
        .token_requests()
        .into_iter()
        .map(|t| t.scopes)
        .collect();
    assert!(
        scopes
            .iter()
            .any(|s| s.iter().any(|x| x == "repository:dst/app:pull,push")
                && s.iter().any(|x| x == "repository:src/app:pull")),
        "{scopes:?}"
    );
}

#[test]
fn a_source_blob_that_does_not_verify_is_never_completed_at_the_destination() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(b) = rt.block_on(RealRegistry::start()) else {
        return;
    };
    let source = FakeRegistry::start();
    let img = image(100, "amd64", 50_000);
    source.push_image("src/app", "1", &img);
    let layer = img.layers[1].blob.clone();
    source.fault(Fault::FlipByte {
        digest: layer.digest.clone(),
        offset: 1_000,
    });
    let out = copy(&[
        "-q",
        &format!("{}/src/app:1", source.host()),
        &format!("{}/dst/app:1", b.host()),
    ]);
    out.assert_failure();
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    assert!(
        out.stderr.contains("upload not completed"),
        "{}",
        out.stderr
    );
    let status = rt.block_on(async {
        reqwest::Client::new()
            .head(format!(
                "http://{}/v2/dst/app/blobs/{}",
                b.host(),
                layer.digest
            ))
            .send()
            .await
            .expect("HEAD blob")
            .status()
    });
    assert_eq!(status.as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_layers_stay_at_their_urls_and_the_manifest_keeps_them() {
    let allow_urls = "validation:\n  manifests:\n    urls:\n      allow:\n        - '^https://'\n";
    let (Some(a), Some(b)) = (
        RealRegistry::start_with(allow_urls).await,
        RealRegistry::start_with(allow_urls).await,
    ) else {
        return;
    };
    let base = Layer::from_tar(
        LayerBuilder::new()
            .file("Files/base.txt", noise(5_000, 110), 0o644)
            .tar(),
        Compression::Gzip,
    );
    let foreign_digest = base.blob.digest.clone();
    let img = ImageBuilder::new()
        .os("windows")
        .foreign_layer(base, vec!["https://foreign.example/base.tar.gz".into()])
        .layer(
            LayerBuilder::new()
                .file("Files/app.txt", noise(5_000, 111), 0o644)
                .build(Compression::Gzip),
        )
        .build();
    a.push_image("src/win", "1", &img).await;
    let out = copy(&[
        "--platform",
        "windows/amd64",
        &format!("{}/src/win:1", a.host()),
        &format!("{}/dst/win:1", b.host()),
    ]);
    out.assert_success();
    assert!(
        out.stderr.contains("1 foreign layers left"),
        "{}",
        out.stderr
    );
    let served = served_manifest(&b.host(), "dst/win", "1").await;
    assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]));
    let status = reqwest::Client::new()
        .head(format!(
            "http://{}/v2/dst/win/blobs/{foreign_digest}",
            b.host()
        ))
        .send()
        .await
        .expect("HEAD blob")
        .status();
    assert_eq!(status.as_u16(), 404);
}

/// A registry whose policy refuses the foreign layer's URL rejects the manifest: drag says so
/// in one line, with the registry's own words and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_refusing_foreign_layer_urls_is_reported_with_what_to_do() {
    let allow_any = "validation:\n  manifests:\n    urls:\n      allow:\n        - '^https://'\n";
    let allow_other = "validation:\n  manifests:\n    urls:\n      allow:\n        - '^https://only\\.example/'\n";
    let (Some(a), Some(b)) = (
        RealRegistry::start_with(allow_any).await,
        RealRegistry::start_with(allow_other).await,
    ) else {
        return;
    };
    let img = ImageBuilder::new()
        .os("windows")
        .foreign_layer(
            Layer::from_tar(
                LayerBuilder::new()
                    .file("Files/base.txt", noise(5_000, 120), 0o644)
                    .tar(),
                Compression::Gzip,
            ),
            vec!["https://foreign.example/base.tar.gz".into()],
        )
        .build();
    a.push_image("src/win", "1", &img).await;
    let out = copy(&[
        "--platform",
        "windows/amd64",
        &format!("{}/src/win:1", a.host()),
        &format!("{}/dst/win:1", b.host()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let line = out.stderr.lines().last().unwrap_or_default();
    assert!(line.contains("manifest"), "{line}");
    // distribution's own words (it answers 500 with UNKNOWN errors), then the hint.
    assert!(line.contains("UNKNOWN"), "{line}");
    assert!(line.contains("validation.manifests.urls.allow"), "{line}");
    assert_eq!(served_manifest(&b.host(), "dst/win", "1").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn include_foreign_uploads_a_foreign_layer_fetched_from_its_url() {
    let allow_urls =
        "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n";
    let (Some(a), Some(b)) = (
        RealRegistry::start_with(allow_urls).await,
        RealRegistry::start_with(allow_urls).await,
    ) else {
        return;
    };
    let host = StaticHost::start(Vec::<(String, Vec<u8>)>::new());
    let base = LayerBuilder::new()
        .file("Files/base.txt", noise(5_000, 120), 0o644)
        .build(Compression::Gzip);
    host.add("/base.tar.gz", base.blob.bytes.clone());
    let foreign = base.blob.clone();
    let img = ImageBuilder::new()
        .os("windows")
        .foreign_layer(
            base,
            vec![
                host.url_for("/missing.tar.gz"),
                host.url_for("/base.tar.gz"),
            ],
        )
        .layer(
            LayerBuilder::new()
                .file("Files/app.txt", noise(5_000, 121), 0o644)
                .build(Compression::Gzip),
        )
        .build();
    a.push_image("src/win", "1", &img).await;
    copy(&[
        "-q",
        "--include-foreign",
        "--platform",
        "windows/amd64",
        &format!("{}/src/win:1", a.host()),
        &format!("{}/dst/win:1", b.host()),
    ])
    .assert_success();
    let served = served_manifest(&b.host(), "dst/win", "1").await;
    assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]));
    assert!(served_blob(&b.host(), "dst/win", &foreign.digest).await == foreign.bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_upload_whose_bytes_do_not_verify_is_not_completed() {
    let Some(b) = RealRegistry::start().await else {
        return;
    };
    let source = FakeRegistry::start();
    let img = image(130, "amd64", 300_000);
    source.push_image("src/app", "1", &img);
    let big = img.layers[1].blob.clone();
    source.fault(Fault::FlipByte {
        digest: big.digest.clone(),
        offset: 1_000,
    });
    let proxy = UploadProxy::start(&b.host(), ProxyFaults::default()).await;
    let opts = library_copy(
        format!("{}/src/app:1", source.host()),
        format!("{}/dst/app:1", proxy.host()),
        UploadLimits {
            monolithic_max: 64 << 10,
            chunk: 64 << 10,
        },
    );
    let e = drag_core::copy(&opts, &drag_core::progress::Silent)
        .await
        .expect_err("a blob that does not verify");
    assert!(e.to_string().contains("upload not completed"), "{e}");
    assert!(proxy.count("PATCH", "") >= 4, "{:#?}", proxy.requests());
    // The upload was abandoned, never completed with ?digest=.
    assert_eq!(proxy.count("DELETE", "/blobs/uploads/"), 1);
    assert!(proxy
        .requests()
        .iter()
        .all(|r| !(r.method == "PUT" && r.target.contains(&big.digest.replace(':', "%3A")))));
}
