//! Images addressed by SHA-512: their blob names (`blobs/sha512/<128 hex>`, 141 characters)
//! do not fit a tar header's 100-byte name field, and every tar reader must still see them.

use std::path::Path;

use drag_tests::archive::{
    assert_entries_hold_image_stored, blob_path, entry_names, read_tar, Stored,
};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::tar_readers::tar_readers;
use drag_tests::{
    Compression, FakeRegistry, Image, ImageBuilder, LayerBuilder, ManifestFormat, Podman,
};

fn sha512_image() -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .sha512()
        .layer(
            LayerBuilder::new()
                .dir("etc", 0o755)
                .file("etc/os-release", "ID=drag-sha512\n", 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("data", vec![5u8; 50_000], 0o644)
                .build(Compression::Zstd),
        )
        .build()
}

/// GNU tar, busybox tar and Python's tarfile all list `expected` (sorted).
#[track_caller]
fn assert_readers_agree(archive: &Path, expected: &[String]) {
    let Some(readers) = tar_readers() else {
        return;
    };
    for reader in readers {
        let mut names = reader.list(archive);
        names.sort();
        assert_eq!(names, expected, "{}", reader.name);
    }
}

fn sorted_names(bytes: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = entry_names(bytes)
        .into_iter()
        .map(|n| n.trim_end_matches('/').to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn sha512_blobs_keep_their_full_names_in_a_docker_archive() {
    let registry = FakeRegistry::start();
    let image = sha512_image();
    registry.push_image("app", "1", &image);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("sha512-archive-");
    for (file, extra) in [
        ("plain.tar", None),
        ("decompressed.tar", Some("--decompress")),
    ] {
        let args: Vec<&str> = ["-q", "-o", file]
            .into_iter()
            .chain(extra)
            .chain([reference.as_str()])
            .collect();
        pull(&dir, &args).assert_success();
        let archive = dir.join(file);
        assert_eq!(
            blob_path(&image.config.digest).len(),
            "blobs/sha512/".len() + 128
        );
        let stored = match extra {
            None => Stored::Default,
            Some(_) => Stored::Decompressed,
        };
        assert_entries_hold_image_stored(&read_tar(&archive), &image, stored);
        let bytes = std::fs::read(&archive).unwrap();
        let names = sorted_names(&bytes);
        assert!(names.contains(&"blobs/sha512".to_string()), "{names:?}");
        assert!(
            names.iter().all(|n| !n.starts_with("PaxHeaders")),
            "{names:?}"
        );
        assert_readers_agree(&archive, &names);
    }
    // A stream writes the same archive.
    let streamed = pull(&dir, &["-q", "-o", "-", &reference]);
    streamed.assert_success();
    assert_eq!(
        streamed.stdout,
        std::fs::read(dir.join("plain.tar")).unwrap(),
        "stdout and file archives differ"
    );
}

#[test]
fn a_sha512_docker_archive_loads_in_podman() {
    let Some(podman) = Podman::new() else {
        return;
    };
    let registry = FakeRegistry::start();
    let image = sha512_image();
    registry.push_image("app", "1", &image);
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("sha512-podman-");
    pull(&dir, &["-q", "-o", "app.tar", &reference]).assert_success();
    let names = podman.load(&dir.join("app.tar"));
    assert!(names.contains(&reference), "{reference}: {names:?}");
}
