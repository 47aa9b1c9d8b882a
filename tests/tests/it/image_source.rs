//! Images read back from archives and layouts, as `drag push` will read them: what `drag pull`
//! writes in each form, and what skopeo, podman and `docker save` write, each listed with the
//! right names, verified blobs, the stored manifest kept when its layers are as served, and
//! uncompressed layers recompressed to gzip that decompress to the config's diff IDs.

use std::io::Read;

use drag_core::image_source::{destination, ImageSource, SourceImage};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::tools::tool;
use drag_tests::{
    require_tool, sha256_digest, Compression, Dockerd, FakeRegistry, Image, ImageBuilder,
    IndexBuilder, LayerBuilder, ManifestFormat, Podman,
};

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
        .build()
}

/// A registry holding `app:1`, and its image.
fn served(format: ManifestFormat) -> (FakeRegistry, Image) {
    let registry = FakeRegistry::start();
    let img = image(format, "amd64", "pushed back\n");
    registry.push_image("app", "1", &img);
    (registry, img)
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).expect("the blob reads and verifies");
    v
}

/// Checks `image` of `source` is `expected`: config unchanged, every blob verifies, and its push
/// form's layers are compressed and decompress to the config's diff IDs. Returns whether the
/// push form kept the stored manifest.
fn check_image(source: &ImageSource, image: &SourceImage, expected: &Image) -> bool {
    let config = image.config.as_ref().expect("an image");
    assert_eq!(config.digest.to_string(), expected.config.digest);
    assert_eq!(
        image.manifest.digest.to_string(),
        sha256_digest(&image.manifest.bytes)
    );
    for blob in image.blobs() {
        let bytes = read_all(source.open_blob(blob).expect("the blob opens"));
        assert_eq!(bytes.len() as u64, blob.size);
    }
    let scratch = tempfile::tempdir().unwrap();
    let form = source
        .push_form(image, scratch.path(), 2)
        .expect("push form");
    let manifest: serde_json::Value = serde_json::from_slice(&form.manifest.bytes).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        expected.config.digest.as_str()
    );
    let layers = manifest["layers"].as_array().expect("layers");
    let mut diff_ids = Vec::new();
    for layer in layers {
        let digest = layer["digest"].as_str().unwrap();
        let blob = form
            .blobs
            .iter()
            .find(|b| b.desc.digest.to_string() == digest)
            .expect("every layer is a blob of the push form");
        let media = layer["mediaType"].as_str().unwrap();
        assert!(media.ends_with("gzip"), "{media} is not compressed");
        let gz = read_all(source.open_push_blob(blob).unwrap());
        let plain = read_all(flate2::read::GzDecoder::new(&gz[..]));
        diff_ids.push(sha256_digest(&plain));
    }
    assert_eq!(diff_ids, expected.diff_ids());
    !form.rewritten(image)
}

#[test]
fn a_drag_archive_keeps_its_manifest_and_names_the_image_in_full() {
    let (registry, img) = served(ManifestFormat::Docker);
    let dir = fresh_dir("source-docker-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["-o", "x.tar", &reference]).assert_success();
    let source = ImageSource::open(&dir.join("x.tar")).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert_eq!(image.manifest.digest.to_string(), img.digest());
    assert!(
        image.references.contains(&reference),
        "{:?}",
        image.references
    );
    assert!(
        check_image(&source, image, &img),
        "the served manifest is kept"
    );
    assert_eq!(
        destination(&reference, "localhost:5000/mirror").unwrap(),
        "localhost:5000/mirror/app:1"
    );
}

#[test]
fn a_decompressed_drag_archive_is_pushed_gzipped_under_a_docker_manifest() {
    let (registry, img) = served(ManifestFormat::Docker);
    let dir = fresh_dir("source-decompress-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["--decompress", "-o", "x.tar", &reference]).assert_success();
    let source = ImageSource::open(&dir.join("x.tar")).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert!(!check_image(&source, image, &img), "a new manifest");
    let scratch = tempfile::tempdir().unwrap();
    let form = source.push_form(image, scratch.path(), 1).unwrap();
    assert_eq!(
        form.manifest.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[test]
fn drag_layouts_list_an_image_or_an_index_with_its_children() {
    let (registry, img) = served(ManifestFormat::Oci);
    let dir = fresh_dir("source-oci-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["--format", "oci", "-o", "layout", &reference]).assert_success();
    let source = ImageSource::open(&dir.join("layout")).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert_eq!(image.tag.as_deref(), Some("1"));
    assert!(
        image.references.contains(&reference),
        "{:?}",
        image.references
    );
    assert!(check_image(&source, image, &img));

    // The same layout as a tar, as GNU tar writes it (`./` names).
    if let Some(gnu_tar) = require_tool("tar") {
        let tarred = dir.join("layout.tar");
        let layout_dir = dir.join("layout").display().to_string();
        tool(
            &gnu_tar,
            &["-C", &layout_dir, "-cf", &tarred.display().to_string(), "."],
        );
        let source = ImageSource::open(&tarred).unwrap();
        let [image] = source.images() else {
            panic!("one image")
        };
        assert_eq!(image.tag.as_deref(), Some("1"));
        assert!(check_image(&source, image, &img));
    }

    let amd = image_for("amd64");
    let arm = image_for("arm64");
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .build();
    registry.push_index("multi", "2", &index, &[&amd, &arm]);
    let reference = format!("{}/multi:2", registry.host());
    pull(
        &dir,
        &[
            "--format",
            "oci",
            "--all-platforms",
            "-o",
            "all",
            &reference,
        ],
    )
    .assert_success();
    let source = ImageSource::open(&dir.join("all")).unwrap();
    let [top] = source.images() else {
        panic!("one index")
    };
    assert_eq!(top.manifest.digest.to_string(), index.digest);
    assert!(top.config.is_none());
    assert_eq!(top.children.len(), 2);
    for (child, expected) in top.children.iter().zip([&amd, &arm]) {
        assert_eq!(child.manifest.digest.to_string(), expected.digest());
        assert!(check_image(&source, child, expected));
    }
    let scratch = tempfile::tempdir().unwrap();
    let form = source.push_form(top, scratch.path(), 2).unwrap();
    assert_eq!(form.manifest.bytes, index.bytes.to_vec());
    assert_eq!(form.children.len(), 2);
}

fn image_for(arch: &str) -> Image {
    image(ManifestFormat::Oci, arch, arch)
}

#[test]
fn skopeo_docker_archives_and_layouts_are_read() {
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let (registry, img) = served(ManifestFormat::Oci);
    let dir = fresh_dir("source-skopeo-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["--format", "oci", "-o", "layout", &reference]).assert_success();
    let layout = format!("oci:{}:1", dir.join("layout").display());
    let archive = dir.join("skopeo.tar");
    tool(
        &skopeo,
        &[
            "--insecure-policy",
            "copy",
            &layout,
            &format!("docker-archive:{}:example.com/app:1", archive.display()),
        ],
    );
    let source = ImageSource::open(&archive).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert_eq!(image.references, ["example.com/app:1"]);
    assert!(
        !check_image(&source, image, &img),
        "layers were uncompressed"
    );

    let copy = dir.join("copy");
    tool(
        &skopeo,
        &[
            "--insecure-policy",
            "copy",
            &layout,
            &format!("oci:{}:v1", copy.display()),
        ],
    );
    let source = ImageSource::open(&copy).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert_eq!(image.tag.as_deref(), Some("v1"));
    assert!(check_image(&source, image, &img));
}

#[test]
fn podman_save_archives_are_read() {
    let Some(podman) = Podman::new() else { return };
    let (registry, img) = served(ManifestFormat::Docker);
    let dir = fresh_dir("source-podman-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["-o", "x.tar", &reference]).assert_success();
    podman.load(&dir.join("x.tar"));
    let saved = dir.join("saved.tar");
    podman.run(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        &saved.display().to_string(),
        &reference,
    ]);
    let source = ImageSource::open(&saved).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert!(
        image.references.contains(&reference),
        "{:?}",
        image.references
    );
    check_image(&source, image, &img);
}

#[test]
fn docker_save_archives_are_read() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let (registry, img) = served(ManifestFormat::Docker);
    let dir = fresh_dir("source-dockersave-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["-o", "x.tar", &reference]).assert_success();
    let name = "drag-test/source-save:1";
    docker.load(&dir.join("x.tar"));
    docker.docker(&["tag", &reference, name]);
    let saved = dir.join("saved.tar");
    docker.docker(&["save", "-o", &saved.display().to_string(), name]);
    let source = ImageSource::open(&saved).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert_eq!(image.references, [name]);
    assert!(
        !check_image(&source, image, &img),
        "docker save stores layers uncompressed"
    );
    assert_eq!(
        destination(name, "localhost:5000").unwrap(),
        "localhost:5000/drag-test/source-save:1"
    );
}

#[test]
fn familiar_and_full_names_reroot_alike() {
    for name in [
        "alpine:3.9",
        "docker.io/library/alpine:3.9",
        "library/alpine:3.9",
    ] {
        assert_eq!(
            destination(name, "localhost:5000/m").unwrap(),
            "localhost:5000/m/library/alpine:3.9",
            "{name}"
        );
    }
    assert_eq!(
        destination("ghcr.io/org/app:1", "r.example.com").unwrap(),
        "r.example.com/org/app:1"
    );
    assert!(destination("alpine:3.9", "https://r.example.com").is_err());
}

#[test]
fn a_file_that_is_no_image_source_is_refused_clearly() {
    let dir = fresh_dir("source-none-");
    let path = dir.join("plain.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "file", &b"x"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let err = ImageSource::open(&path).unwrap_err().to_string();
    assert!(err.contains("neither an OCI image layout"), "{err}");
}

#[test]
fn umoci_layouts_are_read() {
    let Some(umoci) = require_tool("umoci") else {
        return;
    };
    let dir = fresh_dir("source-umoci-");
    let layout = dir.join("layout").display().to_string();
    tool(&umoci, &["init", "--layout", &layout]);
    tool(&umoci, &["new", "--image", &format!("{layout}:base")]);
    tool(
        &umoci,
        &[
            "config",
            "--image",
            &format!("{layout}:base"),
            "--tag",
            "v1",
            "--config.cmd",
            "/bin/true",
        ],
    );
    let source = ImageSource::open(&dir.join("layout")).unwrap();
    let mut tags: Vec<_> = source
        .images()
        .iter()
        .filter_map(|i| i.tag.clone())
        .collect();
    tags.sort();
    assert_eq!(tags, ["base", "v1"]);
    for image in source.images() {
        for blob in image.blobs() {
            read_all(source.open_blob(blob).unwrap());
        }
        let scratch = tempfile::tempdir().unwrap();
        let form = source.push_form(image, scratch.path(), 1).unwrap();
        assert_eq!(
            form.manifest.bytes, image.manifest.bytes,
            "umoci's manifest is kept"
        );
    }
}
