//! A pull into the cache writes its blobs without syncing them (they are filed under the boot
//! that wrote them; see core's `store::unsynced`), and later pulls of the same boot use them.

use drag_tests::archive::files_under;
use drag_tests::drag_cli::{fresh_dir, pull_command, with_drag_env};
use drag_tests::layout::assert_layout_holds_image;
use drag_tests::tools::require_tool;
use drag_tests::{drag_bin, run, Compression, FakeRegistry, Image, ImageBuilder, LayerBuilder};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", vec![1u8; 300_000], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("b", vec![2u8; 200_000], 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// strace, with `-y`, names each synced descriptor's file: `fdatasync(7</cache/tmp/dl-x>) = 0`.
#[test]
fn a_cold_pull_into_the_cache_syncs_no_blob() {
    let Some(strace) = require_tool("strace") else {
        return;
    };
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("library/app", "1", &image);
    let cache = fresh_dir("cache-sync-");
    let dir = fresh_dir("cache-sync-out-");
    let log = fresh_dir("cache-sync-log-").join("strace.log");
    let out = run(with_drag_env(&strace)
        .current_dir(&dir)
        .env("DRAG_CACHE_DIR", &cache)
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&log)
        .args(["-e", "trace=fsync,fdatasync,sync_file_range"])
        .arg(drag_bin())
        .args(["pull", "-q", "--endpoint", &registry.url()])
        .args(["--format", "oci", "-o", "layout", "app:1"]));
    out.assert_success();
    assert_layout_holds_image(&dir.join("layout"), &image);
    let trace = std::fs::read_to_string(&log).unwrap();
    let in_cache = format!("<{}/", cache.display());
    let synced: Vec<&str> = trace.lines().filter(|l| l.contains(&in_cache)).collect();
    // The manifest cache still syncs its one small file (written in tmp/, then renamed): that
    // it shows proves strace saw the pull's syncs and named their files. The old store synced
    // the config and both layers too.
    assert_eq!(
        synced.len(),
        1,
        "cache files synced, where only the manifest should be:\n{trace}"
    );
    assert!(
        synced[0].contains(&format!("<{}/tmp/dl-", cache.display())),
        "{trace}"
    );
    let stored = files_under(&cache.join("unsynced"));
    assert_eq!(stored.len(), 3, "config and two layers: {stored:?}");
    assert!(files_under(&cache.join("blobs")).is_empty());
}

#[test]
fn a_warm_pull_uses_the_blobs_a_pull_of_this_boot_stored_unsynced() {
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("library/app", "1", &image);
    let cache = fresh_dir("cache-warm-");
    let dir = fresh_dir("cache-warm-out-");
    for layout in ["one", "two"] {
        run(pull_command(&dir).env("DRAG_CACHE_DIR", &cache).args([
            "-q",
            "--endpoint",
            &registry.url(),
            "--format",
            "oci",
            "-o",
            layout,
            "app:1",
        ]))
        .assert_success();
        assert_layout_holds_image(&dir.join(layout), &image);
    }
    assert_eq!(files_under(&cache.join("unsynced")).len(), 3);
    for layer in &image.layers {
        assert_eq!(
            registry.blob_get_count(&layer.blob.digest),
            1,
            "the second pull found the layer in the cache"
        );
    }
}
