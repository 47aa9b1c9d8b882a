//! One OCI layout shared by several pulls and by other tools: concurrent pulls keep every
//! entry, an index's foreign content survives, a malformed index is refused untouched, and a
//! blob already in the layout is trusted only if it hashes to its name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use drag_tests::archive::blob_path;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::layout::{assert_blobs_intact, assert_layout_holds_image, read_json};
use drag_tests::{
    Compression, DragOutput, FakeRegistry, Image, ImageBuilder, LayerBuilder, ManifestFormat,
};

/// `drag pull -q --format oci -o layout REFERENCE` in `dir`.
fn pull_into_layout(dir: &Path, reference: &str) -> DragOutput {
    pull(dir, &["-q", "--format", "oci", "-o", "layout", reference])
}

fn image(marker: &str) -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(
            LayerBuilder::new()
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

/// The digests the layout's index names.
fn entry_digests(layout: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifests array: {index}"))
        .iter()
        .map(|e| e["digest"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Every file of a directory tree with its bytes, for "left untouched" checks.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn concurrent_pulls_into_one_layout_keep_every_entry() {
    let registry = FakeRegistry::start();
    let images: Vec<(String, Image)> = ["a", "b", "c", "base"]
        .iter()
        .map(|name| (name.to_string(), image(name)))
        .collect();
    for (name, img) in &images {
        registry.push_image(name, "1", img);
    }
    let host = registry.host();
    for round in 0..10 {
        let dir = fresh_dir("layout-race-");
        let layout = dir.join("layout");
        // Odd rounds race on an existing layout, even rounds also race to create it (every
        // fourth over an empty directory the user made, which the layout replaces).
        let existing = round % 2 == 1;
        if round % 4 == 2 {
            std::fs::create_dir(&layout).unwrap();
        }
        if existing {
            pull_into_layout(&dir, &format!("{host}/base:1")).assert_success();
        }
        let outcomes: Vec<DragOutput> = std::thread::scope(|s| {
            let handles: Vec<_> = images[..3]
                .iter()
                .map(|(name, _)| {
                    let reference = format!("{host}/{name}:1");
                    let dir = &dir;
                    s.spawn(move || pull_into_layout(dir, &reference))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for out in &outcomes {
            out.assert_success();
        }
        let digests = entry_digests(&layout);
        let index = read_json(&layout.join("index.json"));
        assert_eq!(
            index["manifests"].as_array().unwrap().len(),
            if existing { 4 } else { 3 },
            "round {round}: {index}"
        );
        let names: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["annotations"]["io.containerd.image.name"].to_string())
            .collect();
        for (name, img) in &images[..3] {
            assert!(
                names.iter().any(|n| n.contains(&format!("/{name}:1"))),
                "round {round}: {name} lost: {index}"
            );
            assert!(
                digests.iter().any(|d| d == img.digest()),
                "round {round}: {name}'s digest missing: {index}"
            );
        }
        assert_blobs_intact(&layout);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "layout")
            .collect();
        assert!(leftovers.is_empty(), "round {round}: left {leftovers:?}");
    }
}

#[test]
fn a_pull_keeps_the_index_fields_annotations_and_entries_it_does_not_own() {
    let registry = FakeRegistry::start();
    let (first, second) = (image("first"), image("second"));
    registry.push_image("first", "1", &first);
    registry.push_image("second", "2", &second);
    let dir = fresh_dir("layout-keep-");
    let host = registry.host();
    pull_into_layout(&dir, &format!("{host}/first:1")).assert_success();
    let layout = dir.join("layout");
    let mut index = read_json(&layout.join("index.json"));
    index["annotations"] = serde_json::json!({"org.example.owner": "another tool"});
    index["x-other-tool"] = serde_json::json!({"state": [1, 2, 3]});
    index["manifests"][0]["annotations"]["org.example.note"] = "kept".into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();

    pull_into_layout(&dir, &format!("{host}/second:2")).assert_success();
    let after = read_json(&layout.join("index.json"));
    assert_eq!(after["annotations"]["org.example.owner"], "another tool");
    assert_eq!(
        after["x-other-tool"],
        serde_json::json!({"state": [1, 2, 3]})
    );
    assert_eq!(after["manifests"][0], index["manifests"][0], "{after}");
    assert_eq!(after["manifests"][1]["digest"], second.digest());
    assert_eq!(after["schemaVersion"], 2);
}

#[test]
fn an_index_whose_manifests_is_not_an_array_is_refused_and_the_layout_left_untouched() {
    let registry = FakeRegistry::start();
    let (first, second) = (image("first"), image("second"));
    registry.push_image("first", "1", &first);
    registry.push_image("second", "2", &second);
    let dir = fresh_dir("layout-bad-index-");
    let host = registry.host();
    pull_into_layout(&dir, &format!("{host}/first:1")).assert_success();
    let layout = dir.join("layout");
    std::fs::write(
        layout.join("index.json"),
        r#"{"schemaVersion":2,"manifests":{}}"#,
    )
    .unwrap();
    let before = snapshot(&layout);

    let out = pull_into_layout(&dir, &format!("{host}/second:2"));
    out.assert_failure();
    assert!(out.stderr.contains("not an array"), "{}", out.stderr);
    assert_eq!(snapshot(&layout), before, "the layout changed");
    assert!(!layout.join(blob_path(second.digest())).exists());
}

#[test]
fn a_same_size_corrupted_blob_in_a_layout_is_replaced() {
    let registry = FakeRegistry::start();
    let img = image("victim");
    registry.push_image("app", "1", &img);
    let dir = fresh_dir("layout-corrupt-");
    let reference = format!("{}/app:1", registry.host());
    pull_into_layout(&dir, &reference).assert_success();
    let layout = dir.join("layout");
    // A layer and the manifest, same size, other bytes.
    let targets = [img.layers[1].blob.digest.as_str(), img.digest()];
    for digest in targets {
        let path = layout.join(blob_path(digest));
        let mut bytes = std::fs::read(&path).unwrap();
        for b in bytes.iter_mut().take(8) {
            *b ^= 0xff;
        }
        std::fs::write(&path, &bytes).unwrap();
    }

    pull_into_layout(&dir, &reference).assert_success();
    assert_blobs_intact(&layout);
    assert_layout_holds_image(&layout, &img);
}

/// With `--no-cache`, a layout takes over (links) the blobs its pull downloaded rather than
/// copying them (`output::oci`'s tests show the link): afterwards each layout blob is the only
/// name of its file, the pull's store is gone, and the layout is whole, both when the pull
/// creates it and when it adds to it.
#[test]
fn a_no_cache_layout_pull_leaves_whole_blobs_of_their_own_and_no_store() {
    use std::os::unix::fs::MetadataExt;
    let registry = FakeRegistry::start();
    let first = image("once-1");
    let second = image("once-2");
    registry.push_image("app", "1", &first);
    registry.push_image("app", "2", &second);
    let dir = fresh_dir("layout-once-");
    for (tag, img) in [("1", &first), ("2", &second)] {
        let reference = format!("{}/app:{tag}", registry.host());
        pull(
            &dir,
            &[
                "-q",
                "--no-cache",
                "--format",
                "oci",
                "-o",
                "layout",
                &reference,
            ],
        )
        .assert_success();
        assert_layout_holds_image(&dir.join("layout"), img);
    }
    assert_blobs_intact(&dir.join("layout"));
    for blob in [&first.config]
        .into_iter()
        .chain(first.layers.iter().map(|l| &l.blob))
    {
        let path = dir.join("layout").join(blob_path(&blob.digest));
        let links = std::fs::metadata(&path).unwrap().nlink();
        assert_eq!(links, 1, "{}", path.display());
    }
    let beside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["layout"], "nothing but the layout is left");
}

/// Where the file system shares extents between files (XFS here), a layout pull clones each
/// blob from the cache instead of copying it, cold (just downloaded) and warm alike: the
/// copy is the kernel's (copy_file_range), which such file systems answer with a reflink.
/// The layout's blobs share the cache's extents, and are whole, correct files of their own.
#[test]
fn layout_pulls_on_a_reflink_file_system_clone_blobs_from_the_cache() {
    let Some(xfs) = drag_tests::xfs::Xfs::mount(300) else {
        return;
    };
    let registry = FakeRegistry::start();
    let img = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(
            LayerBuilder::new()
                .file("data", drag_tests::bytes::noise(300_000, 7), 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("app", "1", &img);
    let reference = format!("{}/app:1", registry.host());
    let cache = xfs.path().join("cache");
    for layout in ["cold", "warm"] {
        drag_tests::run(
            drag_tests::drag()
                .env("DRAG_CACHE_DIR", &cache)
                .current_dir(xfs.path())
                .args(["pull", "-q", "--format", "oci", "-o", layout, &reference]),
        )
        .assert_success();
        let dir = xfs.path().join(layout);
        assert_layout_holds_image(&dir, &img);
        assert_blobs_intact(&dir);
        for digest in [&img.config.digest, &img.layers[0].blob.digest] {
            let blob = dir.join(blob_path(digest));
            let Some(shared) = drag_tests::xfs::shares_extents(&blob) else {
                return;
            };
            assert!(shared, "{layout}: {} is a copy", blob.display());
        }
    }
}
