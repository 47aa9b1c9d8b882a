use std::io::Read;

use drag_tests::image::DEFAULT_MTIME;
use drag_tests::{
    attestation_for, media_types, sha256_digest, Compression, ImageBuilder, IndexBuilder, Layer,
    LayerBuilder, ManifestFormat,
};

fn sample_layer() -> LayerBuilder {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"drag\n", 0o644)
        .uid(1000)
        .gid(1001)
        .mtime(42)
        .file("home/user/run.sh", "#!/bin/sh\n", 0o4755)
        .symlink("bin/sh", "/bin/busybox")
        .hardlink("etc/hostname2", "etc/hostname")
        .whiteout("var/lib/gone")
        .opaque("opt/")
        .file("../escape", b"x", 0o644)
        .file(format!("deep/{}/file", "d".repeat(120)), b"long", 0o600)
        .symlink("long-link", format!("/{}", "t".repeat(150)))
}

struct SeenEntry {
    path: Vec<u8>,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<Vec<u8>>,
    data: Vec<u8>,
}

fn read_entries(tar_bytes: &[u8]) -> Vec<SeenEntry> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            SeenEntry {
                path: entry.path_bytes().into_owned(),
                kind: header.entry_type(),
                mode: header.mode().unwrap(),
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                mtime: header.mtime().unwrap(),
                link: entry.link_name_bytes().map(|l| l.into_owned()),
                data,
            }
        })
        .collect()
}

#[test]
fn layer_builder_writes_entries_verbatim_and_deterministically() {
    let builder = sample_layer();
    let tar_bytes = builder.tar();
    assert_eq!(tar_bytes, sample_layer().tar(), "same entries, same bytes");

    let entries = read_entries(&tar_bytes);
    let paths: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8(e.path.clone()).unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "etc/".to_string(),
            "etc/hostname".into(),
            "home/user/run.sh".into(),
            "bin/sh".into(),
            "etc/hostname2".into(),
            "var/lib/.wh.gone".into(),
            "opt/.wh..wh..opq".into(),
            "../escape".into(),
            format!("deep/{}/file", "d".repeat(120)),
            "long-link".into(),
        ]
    );

    let hostname = &entries[1];
    assert_eq!(hostname.kind, tar::EntryType::Regular);
    assert_eq!(hostname.data, b"drag\n");
    assert_eq!((hostname.uid, hostname.gid, hostname.mode), (0, 0, 0o644));
    assert_eq!(hostname.mtime, DEFAULT_MTIME);

    let script = &entries[2];
    assert_eq!((script.uid, script.gid, script.mtime), (1000, 1001, 42));
    assert_eq!(script.mode, 0o4755);

    assert_eq!(entries[0].kind, tar::EntryType::Directory);
    assert_eq!(entries[3].kind, tar::EntryType::Symlink);
    assert_eq!(entries[3].link.as_deref(), Some(&b"/bin/busybox"[..]));
    assert_eq!(entries[4].kind, tar::EntryType::Link);
    assert_eq!(entries[4].link.as_deref(), Some(&b"etc/hostname"[..]));
    assert_eq!(entries[8].data, b"long");
    assert_eq!(
        entries[9].link.as_deref(),
        Some(format!("/{}", "t".repeat(150)).as_bytes())
    );
}

#[test]
fn compressions_share_a_diff_id_and_decompress_to_the_tar() {
    let builder = sample_layer();
    let plain = builder.build(Compression::None);
    let gzip = builder.build(Compression::Gzip);
    let zstd = builder.build(Compression::Zstd);

    assert_eq!(plain.diff_id, sha256_digest(&builder.tar()));
    assert_eq!(plain.blob.bytes, builder.tar());
    assert_eq!(gzip.diff_id, plain.diff_id);
    assert_eq!(zstd.diff_id, plain.diff_id);
    assert_ne!(gzip.blob.digest, zstd.blob.digest);
    assert_eq!(
        gzip.blob.digest,
        builder.build(Compression::Gzip).blob.digest
    );

    let mut gunzipped = Vec::new();
    flate2::read::GzDecoder::new(&gzip.blob.bytes[..])
        .read_to_end(&mut gunzipped)
        .unwrap();
    assert_eq!(gunzipped, plain.uncompressed);
    assert_eq!(
        zstd::decode_all(&zstd.blob.bytes[..]).unwrap(),
        plain.uncompressed
    );

    assert_eq!(gzip.blob.media_type, media_types::OCI_LAYER_GZIP);
    assert_eq!(zstd.blob.media_type, media_types::OCI_LAYER_ZSTD);
}

#[test]
fn raw_layers_keep_their_bytes_and_media_type() {
    let garbage = Layer::raw(&b"not a tarball"[..], "application/x-weird");
    assert_eq!(garbage.blob.bytes, &b"not a tarball"[..]);
    assert_eq!(garbage.blob.media_type, "application/x-weird");
    assert_eq!(garbage.diff_id, sha256_digest(b"not a tarball"));

    let gz = LayerBuilder::new()
        .file("a", "b", 0o644)
        .build(Compression::Gzip);
    let raw = Layer::raw(gz.blob.bytes.clone(), media_types::DOCKER_LAYER_GZIP);
    assert_eq!(
        raw.diff_id, gz.diff_id,
        "gzip media type: diff_id of the tar"
    );

    // Raw layers keep their media type inside an image, whatever the format.
    let image = ImageBuilder::new().layer(garbage).build();
    assert_eq!(image.layers[0].blob.media_type, "application/x-weird");
}

#[test]
fn docker_image_manifest_and_config_agree() {
    let layer = sample_layer().build(Compression::Gzip);
    let image = ImageBuilder::new()
        .arch("arm64")
        .variant("v8")
        .env("PATH=/usr/bin:/bin")
        .cmd(&["/bin/sh", "-c", "echo <hi>"])
        .entrypoint(&["/entry"])
        .label("org.example", "yes")
        .layer(layer.clone())
        .build();

    let manifest = image.manifest.json();
    assert_eq!(image.manifest.media_type, media_types::DOCKER_MANIFEST);
    assert_eq!(manifest["mediaType"], media_types::DOCKER_MANIFEST);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["config"]["mediaType"], media_types::DOCKER_CONFIG);
    assert_eq!(manifest["config"]["digest"], image.config.digest.as_str());
    assert_eq!(manifest["config"]["size"], image.config.bytes.len());
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        media_types::DOCKER_LAYER_GZIP
    );
    assert_eq!(manifest["layers"][0]["digest"], layer.blob.digest.as_str());
    assert_eq!(
        image.layers[0].blob.media_type,
        media_types::DOCKER_LAYER_GZIP
    );

    let config = image.config.json();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["variant"], "v8");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(config["rootfs"]["diff_ids"][0], layer.diff_id.as_str());
    assert_eq!(config["config"]["Cmd"][2], "echo <hi>");
    assert_eq!(config["config"]["Labels"]["org.example"], "yes");
    assert_eq!(config["history"].as_array().unwrap().len(), 1);
    assert_eq!(
        image.platform,
        serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );
}

#[test]
fn oci_image_uses_oci_media_types_per_compression() {
    let builder = LayerBuilder::new().file("f", "x", 0o644);
    let image = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(builder.build(Compression::None))
        .layer(builder.build(Compression::Gzip))
        .layer(builder.build(Compression::Zstd))
        .annotation("org.opencontainers.image.ref.name", "v1")
        .build();
    let manifest = image.manifest.json();
    assert_eq!(manifest["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], media_types::OCI_CONFIG);
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            media_types::OCI_LAYER,
            media_types::OCI_LAYER_GZIP,
            media_types::OCI_LAYER_ZSTD
        ]
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );

    let docker_zstd = ImageBuilder::new()
        .layer(builder.build(Compression::Zstd))
        .build();
    assert_eq!(
        docker_zstd.manifest.json()["layers"][0]["mediaType"],
        media_types::OCI_LAYER_ZSTD,
        "Docker format borrows OCI's zstd type"
    );
}

#[test]
fn foreign_layers_get_urls_and_foreign_media_types() {
    let base = LayerBuilder::new()
        .file("Windows/System32/x.dll", "mz", 0o644)
        .build(Compression::Gzip);
    let top = LayerBuilder::new()
        .file("app.exe", "mz", 0o644)
        .build(Compression::Gzip);
    let urls = vec!["http://127.0.0.1:1/base.tar.gz".to_string()];
    for (format, expected) in [
        (
            ManifestFormat::Docker,
            media_types::DOCKER_FOREIGN_LAYER_GZIP,
        ),
        (
            ManifestFormat::Oci,
            media_types::OCI_NONDISTRIBUTABLE_LAYER_GZIP,
        ),
    ] {
        let image = ImageBuilder::new()
            .format(format)
            .os("windows")
            .os_version("10.0.17763.5329")
            .foreign_layer(base.clone(), urls.clone())
            .layer(top.clone())
            .build();
        let manifest = image.manifest.json();
        assert_eq!(manifest["layers"][0]["mediaType"], expected);
        assert_eq!(manifest["layers"][0]["urls"][0], urls[0].as_str());
        assert!(manifest["layers"][1].get("urls").is_none());
        assert!(image.is_foreign(0) && !image.is_foreign(1));
        let distributable: Vec<_> = image.distributable_layers().collect();
        assert_eq!(distributable.len(), 1);
        assert_eq!(distributable[0].blob.digest, top.blob.digest);
        assert_eq!(image.platform["os.version"], "10.0.17763.5329");
        assert_eq!(
            image.config.json()["rootfs"]["diff_ids"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}

#[test]
fn config_text_can_be_exact_bytes_or_use_another_rootfs_key() {
    let raw = r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["\u003cscript\u003e"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let image = ImageBuilder::new().config_raw(raw).build();
    assert_eq!(image.config.bytes, raw.as_bytes());
    assert_eq!(image.config.digest, sha256_digest(raw.as_bytes()));
    assert_eq!(
        image.manifest.json()["config"]["digest"],
        image.config.digest.as_str()
    );

    let windows = ImageBuilder::new()
        .os("windows")
        .rootfs_key("rootfS")
        .build();
    let config = windows.config.json();
    assert!(config.get("rootfs").is_none());
    assert_eq!(config["rootfS"]["type"], "layers");

    let extra = ImageBuilder::new()
        .config_field("moby.buildkit.buildinfo.v1", r#""e30=""#)
        .build();
    assert!(extra
        .config
        .text()
        .ends_with(r#","moby.buildkit.buildinfo.v1":"e30="}"#));
}

#[test]
fn indexes_list_images_attestations_and_nested_indexes() {
    let amd64 = ImageBuilder::new().arch("amd64").build();
    let arm = ImageBuilder::new().arch("arm").variant("v7").build();
    let attestation = attestation_for(&amd64);
    assert_eq!(attestation.manifest.media_type, media_types::OCI_MANIFEST);
    assert_eq!(attestation.layers[0].blob.media_type, media_types::IN_TOTO);

    let list = IndexBuilder::new(ManifestFormat::Docker)
        .image(&amd64)
        .image(&arm)
        .attestation(&attestation, &amd64)
        .build();
    assert_eq!(list.media_type, media_types::DOCKER_MANIFEST_LIST);
    let json = list.json();
    assert_eq!(json["mediaType"], media_types::DOCKER_MANIFEST_LIST);
    let entries = json["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["digest"], amd64.digest());
    assert_eq!(entries[0]["mediaType"], media_types::DOCKER_MANIFEST);
    assert_eq!(entries[0]["size"], amd64.manifest.bytes.len());
    assert_eq!(entries[1]["platform"]["variant"], "v7");
    assert_eq!(entries[2]["platform"]["os"], "unknown");
    assert_eq!(
        entries[2]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_eq!(
        entries[2]["annotations"]["vnd.docker.reference.digest"],
        amd64.digest()
    );

    let outer = IndexBuilder::new(ManifestFormat::Oci)
        .index(&list)
        .descriptor(
            serde_json::json!({"mediaType": "application/x-odd", "digest": "sha256:00", "size": 1}),
        )
        .annotation("org.example", "outer")
        .build();
    assert_eq!(outer.media_type, media_types::OCI_INDEX);
    let json = outer.json();
    assert_eq!(
        json["manifests"][0]["mediaType"],
        media_types::DOCKER_MANIFEST_LIST
    );
    assert_eq!(json["manifests"][0]["digest"], list.digest.as_str());
    assert_eq!(json["manifests"][1]["mediaType"], "application/x-odd");
    assert_eq!(json["annotations"]["org.example"], "outer");
}
