//! Archives whose big files sit where the kernel copies them fastest (a PAX `comment` record
//! pads the header in front of them): docker archives start big blobs on 64 KiB boundaries, as
//! in the cache's files, and a rootfs places big files as in their layer within 64 KiB. Every
//! consumer still reads them as plain archives: Docker 20.10, podman and containerd load the
//! docker archives, skopeo reads them, and GNU tar, busybox tar and Python's tarfile list and
//! extract the same files from both kinds.

use std::path::Path;

use drag_tests::archive::{assert_entries_hold_image_stored, read_tar, Stored};
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{drag, fresh_dir, pull, run};
use drag_tests::podman::Podman;
use drag_tests::tar_readers::tar_readers;
use drag_tests::tools::{require_tool, tool};
use drag_tests::{
    sha256_digest, Compression, Dockerd, FakeRegistry, Image, ImageBuilder, LayerBuilder,
    ManifestFormat,
};

/// What drag aligns (see core's tarplan): blobs of at least 4 MiB, on 64 KiB.
const ALIGN_FROM: u64 = 4 << 20;
const ALIGN: u64 = 64 << 10;

/// An image with a big incompressible layer (5 MiB compressed or not) over a small one.
fn big_image() -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Docker)
        .layer(
            LayerBuilder::new()
                .file("etc/aligned-small", "small ".repeat(100), 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .dir("data", 0o755)
                .file("data/aligned-big", noise(5 << 20, 14), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// The data offset and size of every entry of the archive at `path`, by name.
fn offsets(path: &Path) -> Vec<(String, u64, u64)> {
    let file = std::fs::File::open(path).expect("open archive");
    let mut archive = tar::Archive::new(file);
    archive
        .entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.path().expect("path").to_string_lossy().into_owned();
            (name, e.raw_file_position(), e.size())
        })
        .collect()
}

#[test]
fn big_blobs_are_aligned_and_docker_podman_containerd_skopeo_and_three_tars_read_the_archives() {
    let registry = FakeRegistry::start();
    let image = big_image();
    registry.push_image("aligned", "1", &image);
    let reference = format!("{}/aligned:1", registry.host());
    let dir = fresh_dir("aligned-");
    let arg = |p: &Path| p.display().to_string();
    let archives = [
        (dir.join("served.tar"), Stored::Default, "served"),
        (
            dir.join("decompressed.tar"),
            Stored::Decompressed,
            "decompressed",
        ),
    ];
    for (archive, stored, _) in &archives {
        let mut args = vec!["-q", "-o"];
        let path = arg(archive);
        args.push(&path);
        if *stored == Stored::Decompressed {
            args.push("--decompress");
        }
        args.push(&reference);
        pull(&dir, &args).assert_success();
        assert_entries_hold_image_stored(&read_tar(archive), &image, *stored);
        let entries = offsets(archive);
        let big: Vec<_> = entries
            .iter()
            .filter(|(_, _, size)| *size >= ALIGN_FROM)
            .collect();
        assert_eq!(big.len(), 1, "one big blob: {entries:?}");
        for (name, at, _) in big {
            assert_eq!(at % ALIGN, 0, "{name} starts at {at}");
        }
        // drag's own reader (push, serve, bundle) finds every blob intact at its offset.
        let verified = run(drag().current_dir(&dir).args(["bundle", "verify", &path]));
        verified.assert_success();
        assert!(
            verified.stderr.contains("all intact"),
            "{}",
            verified.stderr
        );
    }

    // Three tar readers list the same names and extract the same bytes as the tar crate.
    if let Some(readers) = tar_readers() {
        for (archive, _, label) in &archives {
            let want: Vec<String> = offsets(archive)
                .into_iter()
                .map(|(n, _, _)| n.trim_end_matches('/').to_string())
                .collect();
            for reader in &readers {
                assert_eq!(reader.list(archive), want, "{} on {label}", reader.name);
                let into = fresh_dir("aligned-extract-");
                reader.extract(archive, &into);
                for name in want.iter().filter(|n| n.starts_with("blobs/sha256/")) {
                    let bytes = std::fs::read(into.join(name)).expect("extracted blob");
                    assert_eq!(
                        sha256_digest(&bytes),
                        format!("sha256:{}", name.trim_start_matches("blobs/sha256/")),
                        "{} extracting {name} from {label}",
                        reader.name
                    );
                }
            }
        }
    }

    // skopeo reads the layers back with their digests.
    if let Some(skopeo) = require_tool("skopeo") {
        for (archive, _, label) in &archives {
            let inspected = tool(
                &skopeo,
                &[
                    "inspect",
                    "--raw",
                    &format!("docker-archive:{}", arg(archive)),
                ],
            );
            let manifest: serde_json::Value =
                serde_json::from_str(&inspected).expect("skopeo prints a manifest");
            assert_eq!(
                manifest["config"]["digest"], image.config.digest,
                "skopeo on {label}"
            );
            assert_eq!(
                manifest["layers"].as_array().map(Vec::len),
                Some(2),
                "skopeo on {label}"
            );
        }
    }

    if let Some(podman) = Podman::new() {
        for (archive, _, label) in &archives {
            assert!(
                podman.load(archive).contains(&reference),
                "podman loads {label}"
            );
            assert_eq!(
                podman.diff_ids(&reference),
                serde_json::json!(image.diff_ids()),
                "podman on {label}"
            );
            podman.run(&["rmi", &reference]);
        }
    }

    let Some(docker) = Dockerd::shared() else {
        return;
    };
    for (archive, _, label) in &archives {
        let said = docker.load(archive);
        assert!(
            said.contains(&format!("Loaded image: {reference}")),
            "{label}: {said}"
        );
        assert_eq!(docker.image_id(&reference), image.config.digest, "{label}");
        assert_eq!(docker.diff_ids(&reference), image.diff_ids(), "{label}");
        docker.docker(&["rmi", &reference]);
    }
    // containerd (the daemon's own) imports both, in a namespace of its own.
    let Some(ctr) = require_tool("ctr") else {
        return;
    };
    for (archive, _, label) in &archives {
        let run = |args: &[&str]| {
            tool(
                &ctr,
                &[
                    &["--address", &arg(&docker.containerd_socket())][..],
                    &["--namespace", "drag-aligned-tests"],
                    args,
                ]
                .concat(),
            )
        };
        run(&["images", "import", &arg(archive)]);
        let images = run(&["images", "ls"]);
        assert!(
            images.lines().any(|l| l.starts_with(&reference)),
            "containerd imported {label}: {images}"
        );
        run(&["images", "rm", &reference]);
    }
}

#[test]
fn rootfs_big_files_keep_their_layer_placement_and_three_tars_extract_them_whole() {
    let registry = FakeRegistry::start();
    let image = big_image();
    registry.push_image("aligned-rootfs", "1", &image);
    let reference = format!("{}/aligned-rootfs:1", registry.host());
    let dir = fresh_dir("aligned-rootfs-");
    pull(
        &dir,
        &["-q", "--format", "rootfs", "-o", "root.tar", &reference],
    )
    .assert_success();
    let archive = dir.join("root.tar");
    let in_layer: Vec<_> = {
        let mut layer = tar::Archive::new(&image.layers[1].uncompressed[..]);
        layer
            .entries()
            .expect("layer entries")
            .map(|e| {
                let e = e.expect("layer entry");
                let name = e.path().expect("path").to_string_lossy().into_owned();
                (name, e.raw_file_position())
            })
            .collect()
    };
    let big_in_layer = in_layer
        .iter()
        .find(|(n, _)| n == "data/aligned-big")
        .map(|(_, at)| *at)
        .expect("the big file in its layer");
    let big_in_output = offsets(&archive)
        .into_iter()
        .find(|(n, _, _)| n == "data/aligned-big")
        .map(|(_, at, _)| at)
        .expect("the big file in the rootfs");
    assert_eq!(big_in_output % ALIGN, big_in_layer % ALIGN);

    let Some(readers) = tar_readers() else {
        return;
    };
    let want = noise(5 << 20, 14);
    for reader in &readers {
        let into = fresh_dir("aligned-rootfs-extract-");
        reader.extract(&archive, &into);
        let got = std::fs::read(into.join("data/aligned-big")).expect("extracted file");
        assert!(got == want, "{} extracts the big file whole", reader.name);
        assert_eq!(
            std::fs::read_to_string(into.join("etc/aligned-small")).expect("small file"),
            "small ".repeat(100),
            "{}",
            reader.name
        );
    }
}
