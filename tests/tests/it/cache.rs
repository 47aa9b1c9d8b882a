//! `drag cache`: info, prune and clean over a cache that real pulls filled.

use drag_tests::drag_cli::fresh_dir;
use drag_tests::{drag, run, Compression, FakeRegistry, ImageBuilder, LayerBuilder};

fn filled_cache() -> std::path::PathBuf {
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", vec![1u8; 10_000], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("b", vec![2u8; 20_000], 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("library/app", "1", &image);
    let cache = fresh_dir("cache-cmd-");
    let dir = fresh_dir("cache-cmd-out-");
    let mut cmd = drag();
    cmd.env("DRAG_CACHE_DIR", &cache).current_dir(&dir).args([
        "pull",
        "-q",
        "--endpoint",
        &registry.url(),
        "app:1",
    ]);
    run(&mut cmd).assert_success();
    cache
}

fn cache_cmd(cache: &std::path::Path, args: &[&str]) -> drag_tests::DragOutput {
    let mut cmd = drag();
    cmd.env("DRAG_CACHE_DIR", cache).arg("cache").args(args);
    run(&mut cmd)
}

fn blob_count(info: &str) -> u64 {
    count(info, "blobs: ")
}

fn count(info: &str, label: &str) -> u64 {
    let line = info
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("{info}"));
    line[label.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn cache_info_counts_what_a_pull_stored() {
    let cache = filled_cache();
    let out = cache_cmd(&cache, &["info"]);
    out.assert_success();
    let text = out.stdout_text();
    assert!(text.contains(&cache.display().to_string()), "{text}");
    // config and two layers; the manifest is kept apart, per registry and repository
    assert_eq!(blob_count(&text), 3, "{text}");
    assert_eq!(count(&text, "manifests: "), 1, "{text}");
}

#[test]
fn cache_prune_keeps_at_most_the_given_size_and_clean_empties_it() {
    let cache = filled_cache();
    cache_cmd(&cache, &["prune", "--keep", "1K"]).assert_success();
    let info = cache_cmd(&cache, &["info"]).stdout_text();
    let left = blob_count(&info) + count(&info, "manifests: ");
    assert!(left < 4, "pruned: {left} left");
    cache_cmd(&cache, &["prune", "--older-than", "0s"]).assert_success();
    cache_cmd(&cache, &["clean"]).assert_success();
    let emptied = cache_cmd(&cache, &["info"]).stdout_text();
    assert_eq!(blob_count(&emptied), 0);
    assert_eq!(count(&emptied, "manifests: "), 0);
    let bad = cache_cmd(&cache, &["prune", "--keep", "lots"]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    let none = cache_cmd(&cache, &["prune"]);
    assert_eq!(none.status.code(), Some(2), "{}", none.stderr);
}
